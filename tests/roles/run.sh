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
#   lint     ansible-lint, production profile (.ansible-lint), no failure and no warning
#   galaxy   galaxy-importer on the tarball, as Galaxy imports it (no container steps), no warning
#   antsibull  antsibull-docs lint-collection-docs --plugin-docs on the installed collection
#   ee       ansible-builder create: execution-environment.yml makes a build context (no image)
#   molecule molecule test for every scenario of extensions/molecule (the roles against the lab)
#   audit    ansible-playbook mxaudit.smtp.audit: two vantage points against the lab, every report,
#            then the verdict; as two job slices, combined with ansible-playbook mxaudit.smtp.combine
#   awx      the AWX project of docs/awx.md (tests/awx/project) run by ansible-runner as AWX runs a
#            job, against the lab: the set_stats summary in the job events, the reports in the
#            job's artifact directory, the job failed on the verdict
#   readme   the Example of README.md, its tasks as written, against the lab
#   gate     ansible-playbook mxaudit.smtp.gate: a compliant lab server passes, a broken one fails
#   demo     tests/demo.sh (make demo) on its own ports
#
#   tests/roles/run.sh [step ...]     default: every step, in that order
#
# Every step runs even when one before it failed (build aside: nothing runs without it); the
# script exits non-zero when any failed. Lab ports: 2591-2594 / 5391-5394 (the lab of the audit,
# awx, readme and gate steps: ROLES_TEST_SMTP_PORT / ROLES_TEST_DNS_PORT; the demo's:
# ROLES_TEST_DEMO_SMTP_PORT / ROLES_TEST_DEMO_DNS_PORT). Environment: VENV (default ./.venv),
# KEEP=1 keeps the temporary directory.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
for tool in ansible-playbook ansible-galaxy ansible-doc ansible-lint molecule ansible-builder ansible-runner antsibull-docs; do
    if [ ! -x "$VENV/bin/$tool" ]; then
        echo "roles-test: $VENV/bin/$tool missing; run 'make venv' first" >&2
        exit 1
    fi
done
if ! "$VENV/bin/python" -c 'import galaxy_importer' 2>/dev/null; then
    echo "roles-test: galaxy-importer missing in $VENV; run 'make venv' first" >&2
    exit 1
fi

ALL_STEPS=(build doc lint galaxy antsibull ee molecule audit awx readme gate demo)
STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=("${ALL_STEPS[@]}")

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mxaudit-roles.XXXXXX")"
SRC="$WORK/src/ansible_collections/mxaudit/smtp"
COLLECTIONS="$WORK/collections"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false ANSIBLE_NOCOLOR=1
export ANSIBLE_PYTHON_INTERPRETER="$VENV/bin/python"

LAB_SMTP_PORT="${ROLES_TEST_SMTP_PORT:-2593}"
LAB_DNS_PORT="${ROLES_TEST_DNS_PORT:-5393}"
DEMO_SMTP_PORT="${ROLES_TEST_DEMO_SMTP_PORT:-2594}"
DEMO_DNS_PORT="${ROLES_TEST_DEMO_DNS_PORT:-5394}"
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
    # --offline: the collection has no dependencies to fetch, and nothing is fetched. --strict: a
    # warning fails the step too; the summary must say the production profile passed.
    local rc=0
    (cd "$SRC" && ansible-lint --offline --nocolor --strict) >"$WORK/lint.txt" 2>&1 || rc=$?
    cat "$WORK/lint.txt"
    [ "$rc" = 0 ] || { echo "FAILED: ansible-lint exited $rc"; return 1; }
    check "ansible-lint: no failure, no warning, the production profile passed" \
        grep -q "Passed: 0 failure(s), 0 warning(s) .* Profile 'production' was required, and it passed" "$WORK/lint.txt"
}

step_galaxy() {
    # galaxy-importer as Galaxy runs it on an upload, minus the steps that need a container
    # (ansible-test sanity in an image: make sanity runs it here). Galaxy requires `repository`;
    # galaxy.yml has none while the collection has no public home (see galaxy.yml), so this import
    # names the tree it comes from.
    local out="$WORK/galaxy" rc=0 tarball
    mkdir -p "$out/ansible-tmp"
    cat >"$out/galaxy-importer.cfg" <<CFG
[galaxy-importer]
run_ansible_test = false
ansible_test_local_image = false
local_image_docker = false
run_ansible_doc = true
run_ansible_lint = true
offline_ansible_lint = true
check_changelog = true
check_required_tags = true
ansible_local_tmp = $out/ansible-tmp
CFG
    tarball="$(ls "$WORK"/dist/mxaudit-smtp-*.tar.gz)"
    if ! "$VENV/bin/python" -c 'import sys, yaml; sys.exit(0 if yaml.safe_load(open(sys.argv[1])).get("repository") else 1)' "$SRC/galaxy.yml"; then
        mkdir -p "$out/src/ansible_collections/mxaudit"
        cp -a "$SRC" "$out/src/ansible_collections/mxaudit/smtp"
        printf 'repository: file://%s\n' "$SRC" >>"$out/src/ansible_collections/mxaudit/smtp/galaxy.yml"
        ansible-galaxy collection build --output-path "$out/dist" "$out/src/ansible_collections/mxaudit/smtp" || return 1
        tarball="$(ls "$out"/dist/mxaudit-smtp-*.tar.gz)"
    fi
    (cd "$out" && GALAXY_IMPORTER_CONFIG="$out/galaxy-importer.cfg" "$VENV/bin/python" -m galaxy_importer.main "$tarball") \
        >"$out/import.log" 2>&1 || rc=$?
    cat "$out/import.log"
    check "galaxy-importer exited 0" test "$rc" = 0 || return 1
    check "galaxy-importer wrote its result" test -s "$out/importer_result.json" || return 1
    check "galaxy-importer found the three roles, each with its README" "$VENV/bin/python" - "$out/importer_result.json" <<'EOF' || rc=1
import json, sys
result = json.load(open(sys.argv[1]))
roles = sorted(item['name'] for item in result['contents'] if item['content_type'] == 'role')
assert roles == ['audit', 'gate', 'report'], roles
docs = {item['content_name']: item for item in result['docs_blob']['contents'] if item['content_type'] == 'role'}
for name in roles:
    assert docs[name]['readme_html'], name
EOF
    check "galaxy-importer gave no warning and no error" bash -c "! grep -E '^(WARNING|ERROR)' '$out/import.log'" || rc=1
    return "$rc"
}

step_antsibull() {
    # The installed tree is what ansible-doc and the docsite see; a reference to a collection other
    # than ansible.builtin and this one is an error.
    (cd "$WORK" && antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
        --disallow-unknown-collection-refs "$COLLECTIONS/ansible_collections/mxaudit/smtp")
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
    # The lab's servers are on 127.0.1.x: the audit role audits private and loopback addresses only
    # when told to (an unknown extra variable is harmless where the role does not know it yet).
    cat <<EOF
{"mxaudit_port": $LAB_SMTP_PORT, "mxaudit_helo_name": "audit.lab.test", "mxaudit_timeout": 2,
 "mxaudit_resolver": {"nameservers": ["127.0.0.1"], "port": $LAB_DNS_PORT, "timeout": 1},
 "mxaudit_relay_recipient": "relay-probe@foreign.lab.test", "mxaudit_allow_private_addresses": true}
EOF
}

# The domains of the 7-domain portfolio that break a rule the default policy counts: PM-1, NS-1,
# PL-1 (MUST) and RL-1 (an open relay: BCP, severity critical).
NONCOMPLIANT_7='["no-postmaster.lab.test", "null-sender-501.lab.test", "open-relay.lab.test", "pipelining-loses.lab.test"]'

step_audit() {
    start_lab || return 1
    local rc=0 out="$WORK/audit" arc
    # The playbooks run from an empty directory that must stay empty: reports never land in the
    # directory a command happens to be started from.
    mkdir -p "$out/cwd"
    lab_vars >"$out/lab.json"
    cat >"$out/inventory.yml" <<EOF
vantage_points:
  hosts:
    vp-one: {ansible_connection: local}
    vp-two: {ansible_connection: local}
EOF
    printf '%s\n' '# portfolio' compliant.lab.test no-postmaster.lab.test open-relay.lab.test null-sender-501.lab.test \
        pipelining-loses.lab.test null-mx.lab.test accept-all.lab.test >"$out/domains.txt"
    echo "--- ansible-playbook mxaudit.smtp.audit (two vantage points, a domains file, every format): fails on the verdict"
    arc=0
    (cd "$out/cwd" && ansible-playbook -i "$out/inventory.yml" mxaudit.smtp.audit -e @"$out/lab.json" \
        -e "mxaudit_hosts=vantage_points mxaudit_domains_file=$out/domains.txt mxaudit_report_dir=$out/reports") \
        >"$out/run.log" 2>&1 || arc=$?
    cat "$out/run.log"
    check "audit.yml fails (exit 2) on the verdict, naming the domains that are not compliant" \
        "$VENV/bin/python" - "$arc" "$out/run.log" "$NONCOMPLIANT_7" <<'EOF' || rc=1
import json, sys
rc, log, expected = int(sys.argv[1]), open(sys.argv[2]).read(), json.loads(sys.argv[3])
assert rc == 2, rc
failures = [line for line in log.splitlines() if '"msg": "' in line and 'Not compliant: ' in line]
assert len(failures) == 1, failures
assert all(name in failures[0] for name in expected), failures[0]
EOF
    local ext
    for ext in html md junit.xml json csv; do
        check "audit.yml wrote mxaudit-report.$ext before the verdict failed the run" test -s "$out/reports/mxaudit-report.$ext" || rc=1
    done
    check "the JSON report has the 7 domains, shared out over the 2 vantage points, and their verdicts" \
        "$VENV/bin/python" - "$out/reports/mxaudit-report.json" "$NONCOMPLIANT_7" <<'EOF' || rc=1
import json, sys
result = json.load(open(sys.argv[1]))
domains = sorted(d['domain'] for d in result['domains'])
assert len(domains) == 7 and len(set(domains)) == 7, domains
assert sorted(v['host'] for v in result['vantage_points']) == ['vp-one', 'vp-two'], result['vantage_points']
assert result['compliant'] is False and result['verdict'] == 'noncompliant', (result['compliant'], result['verdict'])
verdicts = {d['domain']: d['verdict'] for d in result['domains']}
expected = {domain: 'compliant' for domain in domains}
expected.update({domain: 'noncompliant' for domain in json.loads(sys.argv[2])})
assert verdicts == expected, verdicts
assert all(d['compliant'] == (d['verdict'] == 'compliant') for d in result['domains'])
EOF
    echo "--- ansible-playbook mxaudit.smtp.audit without mxaudit_report_dir, outside ansible-runner (must stop before auditing)"
    arc=0
    (cd "$out/cwd" && ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" -e '{"mxaudit_domains": ["compliant.lab.test"]}') \
        >"$out/run-nodir.log" 2>&1 || arc=$?
    cat "$out/run-nodir.log"
    check "audit.yml asks for mxaudit_report_dir and audits nothing" \
        bash -c "[ $arc = 2 ] && grep -q 'Say where the reports go' '$out/run-nodir.log' && ! grep -q 'Audit this vantage point' '$out/run-nodir.log'" || rc=1

    echo "--- two job slices (--limit, mxaudit_shard_hosts; noncompliant accepted), then ansible-playbook mxaudit.smtp.combine"
    local host
    for host in vp-one vp-two; do
        (cd "$out/cwd" && ansible-playbook -i "$out/inventory.yml" mxaudit.smtp.audit --limit "$host" -e @"$out/lab.json" \
            -e '{"mxaudit_shard_hosts": ["vp-two", "vp-one"], "mxaudit_report_formats": ["json"], "mxaudit_accept_noncompliant": true}' \
            -e "mxaudit_hosts=vantage_points mxaudit_domains_file=$out/domains.txt mxaudit_report_dir=$out/slices/$host") \
            >"$out/slice-$host.log" 2>&1 || { cat "$out/slice-$host.log"; echo "FAILED: the slice of $host"; return 1; }
    done
    arc=0
    (cd "$out/cwd" && ansible-playbook mxaudit.smtp.combine -e "mxaudit_combine_dir=$out/slices mxaudit_report_dir=$out/slices/combined") \
        >"$out/combine.log" 2>&1 || arc=$?
    cat "$out/combine.log"
    check "combine.yml writes the reports, then fails (exit 2) on the verdict" \
        bash -c "[ $arc = 2 ] && test -s '$out/slices/combined/mxaudit-report.html' && grep -q '\"msg\": \".*Not compliant: ' '$out/combine.log'" || rc=1
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
assert {d['domain']: d['verdict'] for d in combined['domains']} == {d['domain']: d['verdict'] for d in whole['domains']}
assert len(combined['domains']) == len(whole['domains'])
assert sorted(v['host'] for v in combined['vantage_points']) == ['vp-one', 'vp-two']
assert combined['stats']['domains'] == whole['stats']['domains'] == 7
assert combined['compliant'] is False and combined['verdict'] == 'noncompliant'
EOF

    echo "--- the opt-outs: mxaudit_accept_noncompliant, mxaudit_accept_unverified"
    local accept
    for accept in none noncompliant unverified; do
        arc=0
        (cd "$out/cwd" && ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" \
            -e '{"mxaudit_domains": ["no-postmaster.lab.test", "compliant.lab.test", "servfail.lab.test"], "mxaudit_report_formats": ["json"]}' \
            -e "mxaudit_report_dir=$out/accept-$accept" \
            -e "{\"mxaudit_accept_noncompliant\": $([ $accept = none ] && echo false || echo true), \"mxaudit_accept_unverified\": $([ $accept = unverified ] && echo true || echo false)}") \
            >"$out/accept-$accept.log" 2>&1 || arc=$?
        cat "$out/accept-$accept.log"
        case $accept in
            none) check "a noncompliant and an unverified domain fail the run, each named" \
                      bash -c "[ $arc = 2 ] && grep -q '\"msg\": \".*Not compliant: no-postmaster.lab.test.*Unverified.*servfail.lab.test' '$out/accept-$accept.log'" || rc=1 ;;
            noncompliant) check "mxaudit_accept_noncompliant=true alone: the unverified domain still fails the run" \
                      bash -c "[ $arc = 2 ] && grep -q '\"msg\": \".*Unverified.*servfail.lab.test' '$out/accept-$accept.log'" || rc=1 ;;
            unverified) check "both opt-outs: the run passes, and the report still has both verdicts" \
                      "$VENV/bin/python" -c 'import json, sys
assert int(sys.argv[1]) == 0, sys.argv[1]
result = json.load(open(sys.argv[2]))
verdicts = {d["domain"]: d["verdict"] for d in result["domains"]}
assert verdicts == {"no-postmaster.lab.test": "noncompliant", "compliant.lab.test": "compliant", "servfail.lab.test": "unverified"}, verdicts' \
                      "$arc" "$out/accept-$accept/mxaudit-report.json" || rc=1 ;;
        esac
    done
    echo "--- ansible-playbook mxaudit.smtp.audit with only compliant domains (must pass)"
    arc=0
    (cd "$out/cwd" && ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" \
        -e "mxaudit_domains=compliant.lab.test mxaudit_report_dir=$out/reports-pass" -e '{"mxaudit_report_formats": ["json"]}') \
        >"$out/run-pass.log" 2>&1 || arc=$?
    cat "$out/run-pass.log"
    check "audit.yml exits 0 when every domain is compliant" \
        bash -c "[ $arc = 0 ] && grep -q 'verdict: COMPLIANT' '$out/run-pass.log'" || rc=1
    echo "--- ansible-playbook mxaudit.smtp.audit with the tls check and the lab CA (mxaudit_checks, mxaudit_tls_ca_file)"
    local ca
    ca=$("$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["tls_ca_file"] or "")' "$LAB_STATE")
    arc=0
    (cd "$out/cwd" && ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" \
        -e "mxaudit_domains=tls-valid.lab.test mxaudit_report_dir=$out/reports-tls mxaudit_tls_ca_file=$ca" \
        -e '{"mxaudit_checks": ["mx", "tls"], "mxaudit_report_formats": ["json"]}') >"$out/run-tls.log" 2>&1 || arc=$?
    cat "$out/run-tls.log"
    check "the audit role runs the tls check with mxaudit_tls_ca_file: TLS-1..8 pass, the certificate trusted" \
        "$VENV/bin/python" - "$arc" "$out/reports-tls/mxaudit-report.json" "$ca" <<'EOF' || rc=1
import json, sys
assert int(sys.argv[1]) == 0 and sys.argv[3], sys.argv
domain = json.load(open(sys.argv[2]))['domains'][0]
tls = {f['rule']: f['status'] for f in domain['findings'] if f['check'] == 'tls'}
assert all(tls.get('TLS-%d' % n) == 'pass' for n in range(1, 9)), tls
assert domain['verdict'] == 'compliant' and domain['tls'][0]['trusted'] is True, domain['tls']
EOF
    echo "--- ansible-playbook mxaudit.smtp.audit where nothing listens on the port (port 25 blocked: must fail, unverified)"
    arc=0
    (cd "$out/cwd" && ansible-playbook mxaudit.smtp.audit -e @"$out/lab.json" -e mxaudit_port=9 \
        -e "mxaudit_domains=compliant.lab.test mxaudit_report_dir=$out/reports-blocked" -e '{"mxaudit_report_formats": ["json"]}') \
        >"$out/run-blocked.log" 2>&1 || arc=$?
    cat "$out/run-blocked.log"
    check "audit.yml fails when the vantage point cannot reach the port, every domain unverified" \
        bash -c "[ $arc = 2 ] && grep -q '\"msg\": \".*Unverified.*compliant.lab.test' '$out/run-blocked.log'" || rc=1
    check "the blocked run's report says unverified" "$VENV/bin/python" - "$out/reports-blocked/mxaudit-report.json" <<'EOF' || rc=1
import json, sys
result = json.load(open(sys.argv[1]))
assert result['verdict'] == 'unverified' and result['compliant'] is False, result['verdict']
assert {d['verdict'] for d in result['domains']} == {'unverified'}
EOF
    check "no playbook wrote into the directory it was started from" bash -c "[ -z \"\$(ls -A '$out/cwd')\" ]" || rc=1
    return "$rc"
}

step_awx() {
    # AWX runs a job with ansible-runner: a private data directory with the project (the synced
    # repository), the inventory and env/extravars (the job template's variables and the survey's
    # answers), `ansible-runner run DIR -p PLAYBOOK`, then it reads the job events; set_stats data
    # is the artifact_data of the playbook_on_stats event, which AWX keeps as the job's artifacts.
    start_lab || return 1
    local rc=0 out="$WORK/awx" ident private arc
    mkdir -p "$out/cwd"
    check "docs/awx.md shows the project's playbook as tests/awx/project/mxaudit.yml has it" \
        "$VENV/bin/python" - "$SRC/docs/awx.md" "$SRC/tests/awx/project/mxaudit.yml" <<'EOF' || rc=1
import re, sys
doc, playbook = open(sys.argv[1]).read(), open(sys.argv[2]).read()
blocks = [block for block in re.findall(r'```yaml\n(.*?)```', doc, re.S) if block.startswith('# mxaudit.yml:')]
assert len(blocks) == 1, 'docs/awx.md needs exactly one yaml block starting with "# mxaudit.yml:"; found %d' % len(blocks)
body = playbook[playbook.index('# mxaudit.yml:'):]
assert blocks[0] == body, 'docs/awx.md and tests/awx/project/mxaudit.yml differ'
EOF
    # Two launches: the portfolio of the project (domains.txt), and a survey's domains, which replace it.
    for ident in portfolio survey; do
        private="$out/$ident"
        mkdir -p "$private/inventory" "$private/env"
        cp -a "$SRC/tests/awx/project" "$private/project"
        cat >"$private/inventory/hosts.yml" <<EOF
vantage_points:
  hosts:
    vp-one: {ansible_connection: local}
    vp-two: {ansible_connection: local}
EOF
        lab_vars >"$out/lab.json"
        "$VENV/bin/python" - "$out/lab.json" "$ident" >"$private/env/extravars" <<'EOF'
import json, sys
extravars = json.load(open(sys.argv[1]))
extravars.update({'mxaudit_hosts': 'vantage_points', 'mxaudit_publish': 'failures'})
if sys.argv[2] == 'survey':
    extravars['mxaudit_domains'] = 'compliant.lab.test\naccept-all.lab.test\n'   # a survey text area
print(json.dumps(extravars))
EOF
        echo "--- ansible-runner run $private -p mxaudit.yml --ident $ident"
        arc=0
        (cd "$out/cwd" && ansible-runner run "$private" -p mxaudit.yml --ident "$ident") >"$out/$ident.log" 2>&1 || arc=$?
        cat "$out/$ident.log"
        check "ansible-runner: the $ident job's artifacts, summary and reports" \
            "$VENV/bin/python" - "$private" "$ident" "$arc" <<'EOF' || rc=1
import glob, json, os, sys
private, ident, runner_rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
artifacts = os.path.join(private, 'artifacts', ident)
status = open(os.path.join(artifacts, 'status')).read().strip()
job_rc = int(open(os.path.join(artifacts, 'rc')).read())
events = [json.load(open(path)) for path in glob.glob(os.path.join(artifacts, 'job_events', '*.json'))]
stats = [event for event in events if event.get('event') == 'playbook_on_stats']
assert len(stats) == 1, 'one playbook_on_stats event, found %d' % len(stats)
published = stats[0]['event_data']['artifact_data']
summary = published['mxaudit_summary']
failed = [event for event in events if event.get('event') == 'runner_on_failed' and not event['event_data'].get('ignore_errors')]
reports = os.path.join(artifacts, 'mxaudit-report')
report = json.load(open(os.path.join(reports, 'mxaudit-report.json')))
for name in ('mxaudit-report.html', 'mxaudit-report.md', 'mxaudit-report.junit.xml', 'mxaudit-report.csv'):
    assert os.path.getsize(os.path.join(reports, name)) > 0, name
assert not os.path.exists(os.path.join(private, 'project', 'mxaudit-report')), 'reports in the project directory'
assert 'mxaudit_result' not in published, 'mxaudit_publish=failures publishes no result'
noncompliant = {'no-postmaster.lab.test', 'open-relay.lab.test', 'null-sender-501.lab.test'}
if ident == 'portfolio':
    # The domains.txt of the project: 2 compliant, 3 noncompliant, 1 unverified (SERVFAIL).
    assert (runner_rc, job_rc, status) == (2, 2, 'failed'), (runner_rc, job_rc, status)
    assert failed and all('/roles/audit/tasks/verdict.yml:' in event['event_data'].get('task_path', '') for event in failed), \
        [(event['event_data'].get('task'), event['event_data'].get('task_path')) for event in failed]
    assert summary['compliant'] is False
    assert summary['stats']['domains'] == 6, summary['stats']['domains']
    assert set(summary['noncompliant']) == noncompliant, summary['noncompliant']
    assert summary['verdict'] == 'noncompliant', summary['verdict']
    assert summary['verdicts'] == {'compliant': 2, 'noncompliant': 3, 'unverified': 1}, summary['verdicts']
    assert summary['unverified'] == ['servfail.lab.test'], summary['unverified']
    assert {failure['domain'] for failure in summary['failures']} == noncompliant, summary['failures']
    assert all('transcript' not in failure for failure in summary['failures'])
    assert sorted(vantage['host'] for vantage in summary['vantage_points']) == ['vp-one', 'vp-two']
else:
    # The survey's two domains, without the project's portfolio.
    assert (runner_rc, job_rc, status) == (0, 0, 'successful'), (runner_rc, job_rc, status)
    assert not failed, failed
    assert summary['compliant'] is True and summary['verdict'] == 'compliant', summary
    assert summary['stats']['domains'] == 2 and summary['noncompliant'] == [] and summary['failures'] == [], summary
assert sorted(d['domain'] for d in report['domains']) == sorted({d['domain'] for d in report['domains']})
assert len(report['domains']) == summary['stats']['domains']
print('%s: %s, verdict %s, %s' % (ident, status, summary['verdict'], summary['verdicts']))
EOF
    done
    check "ansible-runner wrote nothing into the directory it was started from" bash -c "[ -z \"\$(ls -A '$out/cwd')\" ]" || rc=1
    return "$rc"
}

step_readme() {
    # The Example of README.md, its tasks word for word, in a play on localhost with the lab's DNS
    # server and port as module_defaults (the tests never ask the system resolver). As written it
    # audits a domain that cannot exist: unverified, so the assert fails the play. On the
    # compliant lab domain the same tasks pass.
    start_lab || return 1
    local rc=0 out="$WORK/readme" arc domain
    mkdir -p "$out"
    ansible-doc --json mxaudit.smtp.smtp_info >"$out/smtp_info.json" || return 1
    "$VENV/bin/python" - "$SRC/README.md" "$out/example.yml" "$LAB_SMTP_PORT" "$LAB_DNS_PORT" "$out/smtp_info.json" <<'EOF' || return 1
import json, re, sys, yaml
readme = open(sys.argv[1]).read()
section = readme[readme.index('\n## Example\n'):]
section = section[:section.index('\n## ', 1)]
plays = yaml.safe_load(re.search(r'```yaml\n(.*?)```', section, re.S).group(1))
assert len(plays) == 1 and plays[0]['hosts'] == 'localhost', plays
play = plays[0]
defaults = {'port': int(sys.argv[3]), 'timeout': 2,
            'resolver': {'nameservers': ['127.0.0.1'], 'port': int(sys.argv[4]), 'timeout': 1}}
# The lab's servers are on 127.0.1.x: allowed explicitly where the modules have the option.
if 'allow_private_addresses' in json.load(open(sys.argv[5]))['mxaudit.smtp.smtp_info']['doc']['options']:
    defaults['allow_private_addresses'] = True
play['module_defaults'] = {'group/mxaudit.smtp.all': defaults}
yaml.safe_dump([play], open(sys.argv[2], 'w'), sort_keys=False)
EOF
    cat "$out/example.yml"
    for domain in as-written compliant.lab.test; do
        arc=0
        if [ "$domain" = as-written ]; then
            ansible-playbook "$out/example.yml" >"$out/$domain.log" 2>&1 || arc=$?
        else
            ansible-playbook "$out/example.yml" -e "mail_domain=$domain" >"$out/$domain.log" 2>&1 || arc=$?
        fi
        cat "$out/$domain.log"
        if [ "$domain" = as-written ]; then
            check "the README example, as written, fails its assert: the domain cannot be audited (unverified)" \
                bash -c "[ $arc = 2 ] && grep -q '\"msg\": \"no-such-domain.invalid: unverified: ' '$out/$domain.log'" || rc=1
        else
            check "the README example passes on $domain" test "$arc" = 0 || rc=1
        fi
    done
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
    DEMO_SMTP_PORT="$DEMO_SMTP_PORT" DEMO_DNS_PORT="$DEMO_DNS_PORT" DEMO_OUT="$out" bash "$ROOT/tests/demo.sh" || return 1
    local rc=0
    check "the demo printed the HTML report's path" test -s "$out/mxaudit-report.html" || rc=1
    check "the demo's summary names the lost pipelined commands" grep -q '^PL-1  pipelining-loses.lab.test' "$out/summary.txt" || rc=1
    check "the demo's lab is stopped" bash -c "! [ -e '$out/lab.json' ]" || rc=1
    return "$rc"
}

for step in "${STEPS[@]}"; do
    if ! declare -F "step_$step" >/dev/null; then
        echo "roles-test: unknown step $step (${ALL_STEPS[*]})" >&2
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
