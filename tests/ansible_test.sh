#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run ansible-test on a fresh copy of this collection.
#
#   tests/ansible_test.sh sanity|units|integration [extra ansible-test args]
#
# ansible-test needs the collection at .../ansible_collections/mxaudit/smtp/, so the
# work tree is copied (without .git, .venv, build, tests/output and caches) to
# build/ansible_collections/mxaudit/smtp -- build is a link to a directory outside the
# work tree, see below -- and ansible-test runs there, with --local and the .venv's
# Python.  Results land in build/ansible_collections/mxaudit/smtp/tests/output/
# (junit XML under tests/output/junit).
#
# Environment: VENV (default ./.venv), PYTHON_VERSION (default 3.11), UNITS_WORKERS
# (default 1), ANSIBLE_TEST_BUILD (a directory outside any git work tree to use instead).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PYTHON_VERSION="${PYTHON_VERSION:-3.11}"

# ansible-test lists a collection's files with git when any parent directory holds a .git,
# so a copy inside this work tree (git-ignored) would look empty ("All targets skipped").
# The copy therefore lives outside it (one per checkout), and ./build links to it.
if [ -n "${ANSIBLE_TEST_BUILD:-}" ]; then
    BUILD="$ANSIBLE_TEST_BUILD"
else
    BUILD="${TMPDIR:-/tmp}/mxaudit-smtp-build-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    if [ -d "$ROOT/build" ] && [ ! -L "$ROOT/build" ]; then
        rm -rf "$ROOT/build"
    fi
    ln -sfn "$BUILD" "$ROOT/build"
fi
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd -P)"
dir="$BUILD"
while [ "$dir" != / ]; do
    if [ -e "$dir/.git" ]; then
        echo "ansible_test.sh: $BUILD is inside the git work tree $dir; ansible-test would see no files" >&2
        exit 1
    fi
    dir="$(dirname "$dir")"
done
COLLECTION="$BUILD/ansible_collections/mxaudit/smtp"

usage() {
    echo "usage: $0 sanity|units|integration [extra ansible-test args]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
cmd="$1"
shift
case "$cmd" in
    sanity|units|integration) ;;
    *) usage ;;
esac

if [ ! -x "$VENV/bin/ansible-test" ]; then
    echo "ansible_test.sh: $VENV/bin/ansible-test missing; run 'make venv' first" >&2
    exit 1
fi
export PATH="$VENV/bin:$PATH"

# ansible-test bootstraps pip in each virtual environment it creates (sanity tests get
# their own, with pinned requirements from PyPI) by running get-pip.py, which it would
# download from a host outside the package registries.  A stand-in in its cache does
# the same with the interpreter's own ensurepip, then pip-installs the requested
# packages (pip==24.2 ...) from PyPI.  The name follows ansible-test's pinned pip.
GET_PIP_CACHE="$HOME/.ansible/test/cache"
pip_version="$("$VENV/bin/python" - <<'EOF'
import re
from pathlib import Path
import ansible_test
text = Path(ansible_test.__file__).parent.joinpath('_internal', 'python_requirements.py').read_text()
match = re.search(r"pip='([0-9.]+)'", text)
print(match.group(1) if match else '24.2')
EOF
)"
GET_PIP="$GET_PIP_CACHE/get_pip_${pip_version//./_}.py"
if [ ! -f "$GET_PIP" ] || ! grep -q 'mxaudit stand-in' "$GET_PIP"; then
    mkdir -p "$GET_PIP_CACHE"
    cat > "$GET_PIP" <<'EOF'
"""get-pip.py stand-in (mxaudit stand-in): ensurepip, then pip install of the arguments."""
import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
packages = [arg for arg in args if not arg.startswith('-')]
if packages:
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
EOF
    echo "ansible_test.sh: wrote get-pip stand-in $GET_PIP"
fi

# A fresh copy of the collection (rsync when present, tar otherwise).
echo "ansible_test.sh: copying $ROOT -> $COLLECTION"
rm -rf "$COLLECTION"
mkdir -p "$COLLECTION"
excludes=(.git .venv build tests/output .pytest_cache .hypothesis __pycache__ '*.pyc' .mypy_cache)
if command -v rsync >/dev/null 2>&1; then
    rsync_args=()
    for pattern in "${excludes[@]}"; do
        rsync_args+=(--exclude "/$pattern")
    done
    # Caches may sit at any depth; the top-level ones are anchored above.
    rsync -a "${rsync_args[@]}" --exclude '__pycache__' --exclude '*.pyc' --exclude '.pytest_cache' --exclude '.hypothesis' "$ROOT/" "$COLLECTION/"
else
    tar_args=()
    for pattern in "${excludes[@]}"; do
        tar_args+=(--exclude "./$pattern")
    done
    (cd "$ROOT" && tar -cf - "${tar_args[@]}" --exclude '__pycache__' --exclude '*.pyc' .) | (cd "$COLLECTION" && tar -xf -)
fi

cd "$COLLECTION"

# ansible-test runs pytest with a cleaned environment (a short allow-list), so CI=true - which makes
# a missing Postfix or Exim fail instead of skip - and the lab's port overrides would never reach the
# tests. They are handed over in a file that tests/unit/conftest.py reads first.
"$VENV/bin/python" - "$COLLECTION/tests/unit/.environment.json" <<'EOF'
import json, os, sys
keep = {key: value for key, value in os.environ.items() if key == 'CI' or key.startswith('MXAUDIT_')}
with open(sys.argv[1], 'w', encoding='utf-8') as handle:
    json.dump(keep, handle)
EOF

args=(--local --python "$PYTHON_VERSION" --color no)
case "$cmd" in
    units)
        # --requirements: ansible-test's unit-test runner needs pytest-xdist, pytest-mock and
        # mock besides pytest; it pip-installs them into the .venv when missing (no-op after).
        # Every test runs in its own fork (ansible-test's ansible_forked plugin), so session
        # fixtures are set up again in each test's process; with two xdist workers, fixtures
        # that bind fixed lab ports collide ("Address already in use").  One worker unless
        # UNITS_WORKERS says otherwise.
        args+=(--requirements --num-workers "${UNITS_WORKERS:-1}")
        ;;
    integration)
        if ! find tests/integration/targets -mindepth 1 -maxdepth 1 -type d 2>/dev/null | grep -q .; then
            # ansible-test refuses to run without targets ("Cannot run integration tests
            # without ... tests/integration/targets/"); that is not a test failure.
            echo "ansible_test.sh: integration: no targets under tests/integration/targets yet; nothing to run"
            exit 0
        fi
        ;;
esac

# The Postfix lab (tests/lab/postfix.py) is shared by every process that needs it and may
# be left running by unit-test workers; stop it afterwards unless it was running before.
# Integration targets get it started beforehand.
postfix_lab() {
    "$VENV/bin/python" "$COLLECTION/tests/lab/postfix.py" "$@"
}
# The lab runs its own Postfix instance from a private configuration directory; its state, not the
# system Postfix's, says whether to stop it (grep without -q: with pipefail an early exit of grep
# could fail the pipe while the lab runs).
lab_postfix_running() {
    postfix_lab status 2>/dev/null | grep '^postfix lab: running' >/dev/null
}
postfix_was_running=no
postfix_usable=no
if [ "$(id -u)" = 0 ] && [ -f "$COLLECTION/tests/lab/postfix.py" ] && PATH="/usr/sbin:/sbin:$PATH" command -v postfix >/dev/null 2>&1; then
    postfix_usable=yes
    if lab_postfix_running; then
        postfix_was_running=yes
    fi
fi
if [ "$cmd" = integration ] && [ "$postfix_usable" = yes ]; then
    echo "ansible_test.sh: starting the Postfix lab for the integration targets"
    postfix_lab up
fi

echo "+ ansible-test $cmd ${args[*]} $*"
rc=0
"$VENV/bin/ansible-test" "$cmd" "${args[@]}" "$@" || rc=$?

if [ "$postfix_usable" = yes ] && [ "$postfix_was_running" = no ] && lab_postfix_running; then
    echo "ansible_test.sh: stopping the Postfix lab (it was not running before)"
    postfix_lab down >/dev/null || true
fi
echo "ansible_test.sh: ansible-test $cmd exited $rc"
exit "$rc"
