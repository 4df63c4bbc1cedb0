#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make bench: build and install the collection into a temporary collections path, raise the
# open-files limit for M lab servers + the auditor's connections, then run bench/bench.py:
# the bulk lab (tests/lab/bulk.py) at N = 1,000 and 10,000, the audit task through ansible-playbook
# and the engine directly, the baselines on samples, the ratios, and bench/RESULTS.md.
#
#   bash bench/run.sh              the full benchmark (about 10 minutes on 2 cores)
#   bash bench/run.sh --quick      N = 200 over 50 addresses, small samples (well under 2 minutes);
#                                  the report goes to build/bench-quick/RESULTS-quick.md
#   bash bench/run.sh --help       every option of bench.py run
#
# Exit status: 0 when the benchmark ran (targets met or not), non-zero when it broke.
# Environment: VENV (default ./.venv), BENCH_OUT (default build/bench; with --quick build/bench-quick).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
OUT_DEFAULT=$ROOT/build/bench

for arg in "$@"; do
    if [ "$arg" = "--help" ] || [ "$arg" = "-h" ]; then
        exec "$PY" bench/bench.py run --collections /nonexistent --help
    fi
    # a quick run keeps its own work directory, so the full run's raw numbers stay
    if [ "$arg" = "--quick" ]; then
        OUT_DEFAULT=$ROOT/build/bench-quick
    fi
done
OUT=${BENCH_OUT:-$OUT_DEFAULT}

[ -x "$PY" ] || { echo "bench: $PY missing; run 'make venv' first" >&2; exit 1; }
mkdir -p "$OUT"

# 250 listeners and their connections in the lab, 100 connections in the auditor, DNS sockets:
# a few hundred descriptors per process; raise the soft limit when it is low.
want=4096
soft=$(ulimit -Sn)
hard=$(ulimit -Hn)
if [ "$soft" != unlimited ] && [ "$soft" -lt "$want" ]; then
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$want" ]; then
        ulimit -Sn "$want"
    else
        ulimit -Sn "$hard"
    fi
    echo "bench: open-files soft limit raised from $soft to $(ulimit -Sn)" >&2
fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt 1024 ]; then
    echo "bench: open-files limit $(ulimit -Sn) is too low for the lab (needs about 1024)" >&2
    exit 1
fi

echo "bench: building and installing the collection into $OUT/collections" >&2
rm -rf "$OUT/collections" "$OUT/dist"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$OUT/dist" >/dev/null
ANSIBLE_COLLECTIONS_PATH=$OUT/collections "$VENV/bin/ansible-galaxy" collection install --force \
    -p "$OUT/collections" "$OUT"/dist/mxaudit-smtp-*.tar.gz >/dev/null

# bench.py stops the lab and any measured command itself, also when it is sent SIGTERM.
"$PY" bench/bench.py run --python "$PY" --collections "$OUT/collections" --out "$OUT" "$@" &
bench_pid=$!
trap 'kill -TERM "$bench_pid" 2>/dev/null || true' INT TERM
rc=0
wait "$bench_pid" || rc=$?
if kill -0 "$bench_pid" 2>/dev/null; then
    wait "$bench_pid" || rc=$?
fi
exit "$rc"
