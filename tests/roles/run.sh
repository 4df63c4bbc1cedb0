#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make roles-test: the tests of the roles and playbooks, on a copy of the work tree in a
# temporary directory (the tools' caches never land in the work tree):
#
#   build    ansible-galaxy collection build, the tarball's contents, install into a temp path
#   doc      ansible-doc -t role for every role; every public default documented, and the reverse
#   lint     ansible-lint, production profile (.ansible-lint)
#   molecule molecule test for every scenario of extensions/molecule (the roles against the lab)
#   audit    ansible-playbook mxaudit.smtp.audit: two vantage points against the lab, every report;
#            then as two job slices, combined with ansible-playbook mxaudit.smtp.combine
#   gate     ansible-playbook mxaudit.smtp.gate: a compliant lab server passes, a broken one fails
#   demo     tests/demo.sh (make demo) on its own ports
#   ee       ansible-builder create: execution-environment.yml makes a build context (no image)
#
#   tests/roles/run.sh [step ...]     default: every step, in that order
#
# Every step runs even when one before it failed (build aside: nothing runs without it); the
# script exits non-zero when any failed. Lab ports: 2591-2594 / 5391-5394. Environment: VENV
# (default ./.venv), KEEP=1 keeps the temporary directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
for tool in ansible-playbook ansible-galaxy ansible-doc ansible-lint molecule ansible-builder; do
    if [ ! -x "$VENV/bin/$tool" ]; then
        echo "roles-test: $VENV/bin/$tool missing; run 'make venv' first" >&2
        exit 1
    fi
done

STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(build doc lint ee molecule audit gate demo)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mxaudit-roles.XXXXXX")"
SRC="$WORK/src/ansible_collections/mxaudit/smtp"
COLLECTIONS="$WORK/collections"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1
export ANSIBLE_PYTHON_INTERPRETER="$VENV/bin/python"

LAB_SMTP_PORT=2593
LAB_DNS_PORT=5393
LAB_STATE="$WORK/lab.json"

passed=0
failed_steps=()
started=$(date +%s)

stop_lab() {
    if [ -s "$LAB_STATE" ]; then
        kill "$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$LAB_STATE")" 2>/dev/null || true
        for _ in $(seq 1 50); do [ -e "$LAB_STATE" ] || break; sleep 0.1; done
    fi
}

finish() {
    stop_lab
    if [ ${#failed_steps[@]} -eq 0 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        echo "roles-test: logs and files kept in $WORK"
    fi
}
trap finish EXIT

# run_step NAME: runs step_NAME with its output in $LOGS/NAME.log, shown when it fails.
run_step() {
    local name="$1" start rc
    start=$(date +%s)
    echo "=== roles-test: $name"
    rc=0
    "step_$name" >"$LOGS/$name.log" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        echo "=== roles-test: $name ok ($(( $(date +%s) - start ))s)"
    else
        failed_steps+=("$name")
        tail -n 80 "$LOGS/$name.log"
        echo "=== roles-test: $name FAILED (exit $rc, $(( $(date +%s) - start ))s; log: $LOGS/$name.log)"
    fi
    return "$rc"
}

check() {  # check DESCRIPTION COMMAND...: run a check, say what failed
    local what="$1"
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what"
        return 1
    fi
}

step_build() {
    mkdir -p "$SRC"
    local excludes=(--exclude /.git --exclude /.venv --exclude /build --exclude /tests/output --exclude /.ansible
                    --exclude __pycache__ --exclude '*.pyc' --exclude .pytest_cache --exclude .hypothesis --exclude .mypy_cache)
    if command -v rsync >/dev/null 2>&1; then
        rsync -a "${excludes[@]}" "$ROOT/" "$SRC/"
    else
        (cd "$ROOT" && tar -cf - --exclude ./.git --exclude ./.venv --exclude ./build --exclude ./tests/output \
            --exclude ./.ansible --exclude __pycache__ --exclude '*.pyc' --exclude .pytest_cache --exclude .hypothesis .) \
            | (cd "$SRC" && tar -xf -)
    fi
    ansible-galaxy collection build --output-path "$WORK/dist" "$SRC" || return 1
    local tarball
    tarball="$(ls "$WORK"/dist/mxaudit-smtp-*.tar.gz)"
    tar -tzf "$tarball" >"$WORK/tarball.txt"
    local needed=(tests/lab/__main__.py tests/lab/scenario.py playbooks/audit.yml playbooks/gate.yml playbooks/demo.yml playbooks/combine.yml
                  playbooks/templates/summary.txt.j2 roles/audit/meta/argument_specs.yml roles/gate/meta/argument_specs.yml
                  roles/report/meta/argument_specs.yml meta/runtime.yml)
    local file rc=0
    for file in "${needed[@]}"; do
        check "the tarball has $file" grep -qx "$file" "$WORK/tarball.txt" || rc=1
    done
    check "the tarball has no .venv, build or caches" \
        bash -c "! grep -E '^(\\.venv|build|\\.ansible|\\.hypothesis|tests/output)/' '$WORK/tarball.txt'" || rc=1
    ansible-galaxy collection install --force -p "$COLLECTIONS" "$tarball" || return 1
    return "$rc"
}

step_doc() {
    local rc=0 role listed
    listed="$(ansible-doc -t role -l mxaudit.smtp)" || return 1
    echo "$listed"
    for role in audit gate report; do
        check "ansible-doc -t role -l lists mxaudit.smtp.$role" grep -q "^mxaudit\.smtp\.$role:" <<<"$listed" || rc=1
        ansible-doc -t role "mxaudit.smtp.$role" >"$WORK/doc-$role.txt" || { echo "FAILED: ansible-doc -t role mxaudit.smtp.$role"; rc=1; continue; }
        ansible-doc -t role --json "mxaudit.smtp.$role" >"$WORK/doc-$role.json" || { rc=1; continue; }
        # Every public default is documented and every documented option has a default or is required.
        check "mxaudit.smtp.$role: defaults/main.yml and meta/argument_specs.yml agree" \
            "$VENV/bin/python" - "$WORK/doc-$role.json" "$COLLECTIONS/ansible_collections/mxaudit/smtp/roles/$role/defaults/main.yml" "$role" <<'EOF' || rc=1
import json, sys, yaml
doc = json.load(open(sys.argv[1]))['mxaudit.smtp.' + sys.argv[3]]
options = doc['entry_points']['main']['options']
defaults = {k: v for k, v in (yaml.safe_load(open(sys.argv[2])) or {}).items() if not k.startswith('_')}
undocumented = sorted(set(defaults) - set(options))
missing = sorted(name for name, spec in options.items() if name not in defaults and not spec.get('required'))
for name, spec in options.items():
    if not spec.get('description'):
        print('option %s has no description' % name)
        sys.exit(1)
if undocumented or missing:
    print('defaults not in argument_specs: %s; options without a default that are not required: %s' % (undocumented, missing))
    sys.exit(1)
print('%d options documented' % len(options))
EOF
        check "ansible-doc mxaudit.smtp.$role shows its short description" grep -q "ENTRY POINT: .*main" "$WORK/doc-$role.txt" || rc=1
    done
    return "$rc"
}

step_lint() {
    # --offline: the collection has no dependencies to fetch, and nothing is fetched.
    (cd "$SRC" && ansible-lint --offline --nocolor)
}

step_ee() {
    # execution-environment.yml takes the tarball from build/dist; its name carries the version.
    local version rc=0
    version="$("$VENV/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' "$SRC/galaxy.yml")"
    check "execution-environment.yml installs the tarball of galaxy.yml's version $version" \
        bash -c "[ \$(grep -c 'mxaudit-smtp-$version\.tar\.gz' '$SRC/execution-environment.yml') = 2 ]" || rc=1
    mkdir -p "$SRC/build/dist"
    cp "$WORK"/dist/mxaudit-smtp-*.tar.gz "$SRC/build/dist/"
    ansible-builder create -f "$SRC/execution-environment.yml" -c "$WORK/ee" --output-filename Containerfile || return 1
    check "the build context has the collection tarball" test -s "$WORK/ee/_build/collections/mxaudit-smtp-$version.tar.gz" || rc=1
    check "the build context has requirements.txt with dnspython" grep -q '^dnspython' "$WORK/ee/_build/requirements.txt" || rc=1
    check "the build context has bindep.txt" grep -q '^openssh-clients' "$WORK/ee/_build/bindep.txt" || rc=1
    check "the Containerfile installs the collection" grep -q 'ansible-galaxy collection install' "$WORK/ee/Containerfile" || rc=1
    return "$rc"
}

step_molecule() {
    local rc=0 scenario
    for scenario in "$SRC"/extensions/molecule/*/molecule.yml; do
        scenario="$(basename "$(dirname "$scenario")")"
        echo "--- molecule test -s $scenario ($(date +%T))"
        # A fresh ephemeral directory: molecule's state (prepared or not) from an earlier run never counts.
        mkdir -p "$WORK/molecule/$scenario"
        (cd "$SRC" && NO_COLOR=1 ANSIBLE_FORCE_COLOR=0 MOLECULE_EPHEMERAL_DIRECTORY="$WORK/molecule/$scenario" \
            molecule test -s "$scenario") || { echo "FAILED: molecule scenario $scenario"; rc=1; }
        echo "--- molecule test -s $scenario done ($(date +%T))"
    done
    return "$rc"
}

start_lab() {
    [ -s "$LAB_STATE" ] && return 0
    (PYTHONPATH="$COLLECTIONS" exec timeout 600 "$VENV/bin/python" -m ansible_collections.mxaudit.smtp.tests.lab serve \
        --state "$LAB_STATE" --port "$LAB_SMTP_PORT" --dns-port "$LAB_DNS_PORT" --slow-delay 1 >"$LOGS/lab.log" 2>&1 &)
    for _ in $(seq 1 100); do
        [ -s "$LAB_STATE" ] && return 0
        sleep 0.1
    done
    cat "$LOGS/lab.log"
    echo "FAILED: the lab did not start"
    return 1
}

lab_vars() {  # the engine options for the lab, as extra variables
    cat <<EOF
{"mxaudit_port": $LAB_SMTP_PORT, "mxaudit_helo_name": "audit.lab.test", "mxaudit_timeout": 2,
 "mxaudit_resolver": {"nameservers": ["127.0.0.1"], "port": $LAB_DNS_PORT, "timeout": 1},
 "mxaudit_allow_private_addresses": true,
 "mxaudit_relay_recipient": "relay-probe@foreign.lab.test"}
EOF
}

step_audit() {
    start_lab || return 1
    local rc=0 out="$WORK/audit"
    mkdir -p "$out"
    lab_vars >"$out/lab.json"
    cat >"$out/inventory.yml" <<EOF
vantage_points:
  hosts:
    vp-one: {ansible_connection: local}
    vp-two: {ansible_connection: local}
EOF
    printf '%s\n' '# portfolio' compliant.lab.test no-postmaster.lab.test open-relay.lab.test null-sender-501.lab.test \
        pipelining-loses.lab.test null-mx.lab.test accept-all.lab.test >"$out/domains.txt"
    echo "--- ansible-playbook mxaudit.smtp.audit (two vantage points, a domains file, every format; must fail on the verdict)"
    local arc=0
    ansible-playbook -i "$out/inventory.yml" mxaudit.smtp.audit -e @"$out/lab.json" \
        -e "mxaudit_hosts=vantage_points mxaudit_domains_file=$out/domains.txt mxaudit_report_dir=$out/reports" \
        >"$out/run.log" 2>&1 || arc=$?
    cat "$out/run.log"
    check "audit.yml exits non-zero on noncompliant domains, after writing the reports, naming them" \
        bash -c "[ $arc = 2 ] && grep -q 'Not compliant: ' '$out/run.log' && grep -q 'open-relay.lab.test' '$out/run.log'" || rc=1
    local ext
    for ext in html md junit.xml json csv; do
        check "audit.yml wrote mxaudit-report.$ext" test -s "$out/reports/mxaudit-report.$ext" || rc=1
    done
    check "the JSON report has the 7 domains, shared out over the 2 vantage points" "$VENV/bin/python" - "$out/reports/mxaudit-report.json" <<'EOF' || rc=1
import json, sys
result = json.load(open(sys.argv[1]))
domains = sorted(d['domain'] for d in result['domains'])
assert len(domains) == 7 and len(set(domains)) == 7, domains
assert sorted(v['host'] for v in result['vantage_points']) == ['vp-one', 'vp-two'], result['vantage_points']
assert result['compliant'] is False and result['verdict'] == 'noncompliant'
bad = {d['domain'] for d in result['domains'] if d['verdict'] == 'noncompliant'}
assert bad == {'no-postmaster.lab.test', 'null-sender-501.lab.test', 'pipelining-loses.lab.test', 'open-relay.lab.test'}, bad
assert {d['domain'] for d in result['domains'] if d['verdict'] == 'unverified'} == set()
EOF
    echo "--- two job slices (--limit, mxaudit_shard_hosts), then ansible-playbook mxaudit.smtp.combine"
    local host
    for host in vp-one vp-two; do
        ansible-playbook -i "$out/inventory.yml" mxaudit.smtp.audit --limit "$host" -e @"$out/lab.json" \
            -e '{"mxaudit_shard_hosts": ["vp-two", "vp-one"], "mxaudit_report_formats": ["json"], "mxaudit_accept_noncompliant": true}' \
            -e "mxaudit_hosts=vantage_points mxaudit_domains_file=$out/domains.txt mxaudit_report_dir=$out/slices/$host" \
            >"$out/slice-$host.log" 2>&1 || { cat "$out/slice-$host.log"; echo "FAILED: the slice of $host"; return 1; }
    done
    ansible-playbook mxaudit.smtp.combine \
        -e "mxaudit_combine_dir=$out/slices mxaudit_report_dir=$out/slices/combined" >"$out/combine.log" 2>&1 || { cat "$out/combine.log"; echo "FAILED: combine.yml"; return 1; }
    cat "$out/combine.log"
    check "the slices audited disjoint shares; combined, they equal the run with both vantage points" \
        "$VENV/bin/python" - "$out" <<'EOF' || rc=1
import json, sys
out = sys.argv[1]
def load(path):
    return json.load(open(out + path))
whole = load('/reports/mxaudit-report.json')
parts = [load('/slices/%s/mxaudit-report.json' % host) for host in ('vp-one', 'vp-two')]
combined = load('/slices/combined/mxaudit-report.json')
owner = {d['domain']: d['vantage_point'] for d in whole['domains']}
for host, part in zip(('vp-one', 'vp-two'), parts):
    assert {d['vantage_point'] for d in part['domains']} <= {host}, part['domains']
    assert [v['host'] for v in part['vantage_points']] == [host], part['vantage_points']
assert {d['domain']: d['vantage_point'] for d in combined['domains']} == owner, combined['domains']
assert len(combined['domains']) == len(whole['domains'])
assert sorted(v['host'] for v in combined['vantage_points']) == ['vp-one', 'vp-two']
assert combined['stats']['domains'] == whole['stats']['domains'] == 7
assert combined['compliant'] is False
EOF
    echo "--- ansible-playbook mxaudit.smtp.audit with only compliant domains (must pass)"
    local frc=0
    ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" \
        -e '{"mxaudit_domains": ["compliant.lab.test"], "mxaudit_report_formats": ["json"]}' -e "mxaudit_report_dir=$out/reports-2" \
        >"$out/run-pass.log" 2>&1 || frc=$?
    cat "$out/run-pass.log"
    check "audit.yml exits 0 when every domain is compliant" \
        bash -c "[ $frc = 0 ] && grep -q 'verdict: COMPLIANT' '$out/run-pass.log'" || rc=1
    echo "--- ansible-playbook mxaudit.smtp.audit where nothing listens on the port (port 25 blocked: must fail, unverified)"
    frc=0
    ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" -e mxaudit_port=9 \
        -e '{"mxaudit_domains": ["compliant.lab.test"], "mxaudit_report_formats": ["json"]}' -e "mxaudit_report_dir=$out/reports-3" \
        >"$out/run-blocked.log" 2>&1 || frc=$?
    cat "$out/run-blocked.log"
    check "audit.yml fails when the vantage point cannot reach the port, every domain unverified" \
        bash -c "[ $frc = 2 ] && grep -q 'Unverified (nothing the policy counts could be decided): compliant.lab.test' '$out/run-blocked.log'" || rc=1
    check "the blocked run's report says unverified" "$VENV/bin/python" - "$out/reports-3/mxaudit-report.json" <<'EOF' || rc=1
import json, sys
result = json.load(open(sys.argv[1]))
assert result['verdict'] == 'unverified' and result['compliant'] is False, result['verdict']
assert {d['verdict'] for d in result['domains']} == {'unverified'}
EOF
    return "$rc"
}

step_gate() {
    start_lab || return 1
    local rc=0 grc out="$WORK/gate"
    mkdir -p "$out"
    cat >"$out/lab.json" <<EOF
{"mxaudit_gate_port": $LAB_SMTP_PORT, "mxaudit_gate_helo_name": "audit.lab.test", "mxaudit_gate_timeout": 2,
 "mxaudit_gate_relay_recipient": "relay-probe@foreign.lab.test"}
EOF
    echo "--- ansible-playbook mxaudit.smtp.gate against the compliant lab server (must pass)"
    grc=0
    ansible-playbook mxaudit.smtp.gate -e @"$out/lab.json" \
        -e '{"mxaudit_hosts": "localhost", "mxaudit_gate_domain": "compliant.lab.test", "mxaudit_gate_addresses": ["127.0.1.1"]}' \
        >"$out/pass.log" 2>&1 || grc=$?
    cat "$out/pass.log"
    check "gate.yml passes a compliant server" bash -c "[ $grc = 0 ] && grep -q 'passed, verdict compliant (fail_on: MUST' '$out/pass.log'" || rc=1
    echo "--- ansible-playbook mxaudit.smtp.gate against the server without postmaster (must fail)"
    grc=0
    ansible-playbook mxaudit.smtp.gate -e @"$out/lab.json" \
        -e '{"mxaudit_hosts": "localhost", "mxaudit_gate_domain": "no-postmaster.lab.test", "mxaudit_gate_addresses": ["127.0.1.15"]}' \
        >"$out/fail.log" 2>&1 || grc=$?
    cat "$out/fail.log"
    check "gate.yml fails a server without postmaster, listing PM-1" \
        bash -c "[ $grc = 2 ] && grep -q -- '- PM-1 MUST fail at 127.0.1.15' '$out/fail.log'" || rc=1
    echo "--- ansible-playbook mxaudit.smtp.gate against an address where nothing listens (must fail: not audited)"
    grc=0
    ansible-playbook mxaudit.smtp.gate -e @"$out/lab.json" \
        -e '{"mxaudit_hosts": "localhost", "mxaudit_gate_domain": "compliant.lab.test", "mxaudit_gate_addresses": ["127.0.9.9"]}' \
        >"$out/unverified.log" 2>&1 || grc=$?
    cat "$out/unverified.log"
    check "gate.yml fails a server it could not audit" \
        bash -c "[ $grc = 2 ] && grep -q 'NOT AUDITED, verdict unverified' '$out/unverified.log'" || rc=1
    return "$rc"
}

step_demo() {
    local out="$WORK/demo"
    DEMO_SMTP_PORT=2594 DEMO_DNS_PORT=5394 DEMO_OUT="$out" bash "$ROOT/tests/demo.sh" || return 1
    local rc=0
    check "the demo printed the HTML report's path" test -s "$out/mxaudit-report.html" || rc=1
    check "the demo's summary names the lost pipelined commands" grep -q '^PL-1  pipelining-loses.lab.test' "$out/summary.txt" || rc=1
    check "the demo's lab is stopped" bash -c "! [ -e '$out/lab.json' ]" || rc=1
    return "$rc"
}

for step in "${STEPS[@]}"; do
    if ! declare -F "step_$step" >/dev/null; then
        echo "roles-test: unknown step $step (build doc lint ee molecule audit gate demo)" >&2
        exit 2
    fi
    if [ "$step" != build ] && [ ! -d "$COLLECTIONS/ansible_collections/mxaudit/smtp" ]; then
        run_step build || break
    fi
    run_step "$step" || { [ "$step" = build ] && break; }
done
stop_lab

echo "roles-test: ${#STEPS[@]} step(s) in $(( $(date +%s) - started ))s"
echo "roles-test: $passed passed, ${#failed_steps[@]} failed"
[ ${#failed_steps[@]} -eq 0 ]
