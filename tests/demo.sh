#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make demo: build and install the collection into build/, start the bundled lab on loopback
# (high ports, no root needed), audit every lab domain with ansible-playbook, print the findings.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
OUT=$ROOT/build/demo
SMTP_PORT=${DEMO_SMTP_PORT:-2525}
DNS_PORT=${DEMO_DNS_PORT:-5300}
mkdir -p "$OUT"

echo "== building and installing the collection into build/collections"
rm -rf build/collections build/dist
"$VENV/bin/ansible-galaxy" collection build --force --output-path build/dist >/dev/null
ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections "$VENV/bin/ansible-galaxy" collection install --force -p build/collections build/dist/mxaudit-smtp-*.tar.gz >/dev/null

echo "== starting the lab (DNS 127.0.0.1:$DNS_PORT, SMTP servers on 127.0.1.x:$SMTP_PORT)"
STATE=$OUT/lab.json
rm -f "$STATE"
(cd tests && exec timeout 900 "$VENV/bin/python" -m lab serve --state "$STATE" --port "$SMTP_PORT" --dns-port "$DNS_PORT") \
  >"$OUT/lab.log" 2>&1 &
LAB_PID=$!
trap 'kill $LAB_PID 2>/dev/null || true; wait $LAB_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$STATE" ] && break
  kill -0 $LAB_PID 2>/dev/null || { cat "$OUT/lab.log"; echo "demo: the lab did not start" >&2; exit 1; }
  sleep 0.1
done
[ -s "$STATE" ] || { echo "demo: the lab did not start within 10 s" >&2; exit 1; }
DOMAINS=$(cd tests && "$VENV/bin/python" -c "
import json
from lab.scenario import default_lab
print(json.dumps(default_lab().domains(include_postfix=False)))")

echo "== auditing $(echo "$DOMAINS" | tr ',' '\n' | wc -l) lab domains with ansible-playbook playbooks/demo.yml"
ANSIBLE_COLLECTIONS_PATH=$ROOT/build/collections ANSIBLE_PYTHON_INTERPRETER=$VENV/bin/python \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
  "$VENV/bin/ansible-playbook" playbooks/demo.yml \
  -e "{\"demo_domains\": $DOMAINS, \"demo_smtp_port\": $SMTP_PORT, \"demo_dns_port\": $DNS_PORT, \"demo_output_dir\": \"$OUT\"}" \
  >"$OUT/ansible.log" 2>&1 || { cat "$OUT/ansible.log"; exit 1; }

echo
cat "$OUT/findings.txt"
echo
echo "Full result: $OUT/result.json   Ansible log: $OUT/ansible.log"
