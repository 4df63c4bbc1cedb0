#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make demo: build the collection and install it into build/collections, then run its demo
# playbook (mxaudit.smtp.demo) from there: it starts the bundled lab on loopback (high ports, no
# root needed), audits every lab domain with the audit role, writes the HTML, Markdown, JUnit,
# JSON and CSV reports with the report role, and stops the lab. This script prints the summary
# table and the path of the HTML report.
#
# Environment: VENV (default ./.venv, made by `make venv`), DEMO_SMTP_PORT (default 2525),
# DEMO_DNS_PORT (default 5300), DEMO_OUT (default build/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
SMTP_PORT=${DEMO_SMTP_PORT:-2525}
DNS_PORT=${DEMO_DNS_PORT:-5300}
OUT=${DEMO_OUT:-$ROOT/build/demo}

if [ ! -x "$VENV/bin/ansible-playbook" ]; then
    echo "demo: $VENV/bin/ansible-playbook missing; run 'make demo' (it builds the venv first)" >&2
    exit 1
fi
start=$(date +%s)
mkdir -p "$OUT"
COLLECTIONS=$ROOT/build/collections

echo "== building the collection and installing it into build/collections"
rm -rf "$ROOT/build/dist" "$COLLECTIONS"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$ROOT/build/dist" >/dev/null
"$VENV/bin/ansible-galaxy" collection install --force -p "$COLLECTIONS" "$ROOT"/build/dist/mxaudit-smtp-*.tar.gz >/dev/null

echo "== ansible-playbook mxaudit.smtp.demo (lab: DNS 127.0.0.1:$DNS_PORT, SMTP 127.0.1.x:$SMTP_PORT)"
rc=0
ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS ANSIBLE_PYTHON_INTERPRETER=$VENV/bin/python \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1 \
  "$VENV/bin/ansible-playbook" mxaudit.smtp.demo \
  -e "{\"demo_output_dir\": \"$OUT\", \"demo_smtp_port\": $SMTP_PORT, \"demo_dns_port\": $DNS_PORT}" \
  >"$OUT/ansible.log" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
    tail -n 60 "$OUT/ansible.log"
    echo "demo: ansible-playbook failed (exit $rc); full log: $OUT/ansible.log" >&2
    exit "$rc"
fi

echo
cat "$OUT/summary.txt"
echo
echo "Reports:     $OUT/mxaudit-report.{html,md,junit.xml,json,csv}"
echo "Ansible log: $OUT/ansible.log   ($(( $(date +%s) - start )) s)"
echo
echo "HTML report: $OUT/mxaudit-report.html"
