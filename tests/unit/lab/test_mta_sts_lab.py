# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The mta_sts check through the audit module, against the MTA-STS lab (tests/lab/mta_sts.py): one domain per case."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import mta_sts
from ansible_collections.mxaudit.smtp.plugins.modules import audit
from ansible_collections.mxaudit.smtp.tests.lab import mta_sts as sts_lab
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

pytest.importorskip('cryptography')


@pytest.fixture(scope='module')
def lab() -> t.Iterator[sts_lab.RunningSTSLab]:
    running = sts_lab.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def policy_port(lab, monkeypatch):
    monkeypatch.setattr(mta_sts, 'POLICY_PORT', lab.policy.port)


def audit_cases(lab, capsys, names, **extra) -> dict[str, dict[str, t.Any]]:
    args = lab.module_args(domains=[sts_lab.domain(name) for name in names], checks=['mx', 'mta_sts'], **extra)
    _code, result = run_module(audit, args, capsys)
    return {item['domain']: item for item in result['domains']}


def statuses(item: dict[str, t.Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in item['findings']:
        found.setdefault(finding['rule'], []).append(finding['status'])
    return found


def summary(item: dict[str, t.Any], rule: str) -> str:
    return ' | '.join(finding['summary'] for finding in item['findings'] if finding['rule'] == rule)


# What each case must give: statuses per rule, the verdict, and words a summary must contain.
EXPECTED: dict[str, tuple[dict[str, list[str]], str, dict[str, str]]] = {
    'valid': ({'STS-1': ['pass'], 'STS-2': ['pass'], 'STS-3': ['pass'], 'RPT-1': ['pass']}, 'compliant', {}),
    'unrelated-txt': ({'STS-1': ['pass'], 'STS-2': ['pass'], 'STS-3': ['pass'], 'RPT-1': ['pass']}, 'compliant',
                      {'STS-1': '2 other TXT records ignored'}),
    'chunked': ({'STS-1': ['pass'], 'STS-2': ['pass'], 'STS-3': ['pass']}, 'compliant', {}),
    'not-covered': ({'STS-1': ['pass'], 'STS-2': ['pass'], 'STS-3': ['fail']}, 'noncompliant', {'STS-3': 'matches none of'}),
    'redirect': ({'STS-1': ['pass'], 'STS-2': ['fail'], 'STS-3': ['skipped']}, 'noncompliant',
                 {'STS-2': 'https://www.sts.lab.test/mta-sts.txt'}),
    'wildcard': ({'STS-2': ['pass'], 'STS-3': ['fail']}, 'noncompliant', {'STS-3': 'matches none of'}),
    'wildcard-one-label': ({'STS-2': ['pass'], 'STS-3': ['pass']}, 'compliant', {}),
    'two-records': ({'STS-1': ['fail'], 'STS-2': ['pass'], 'STS-3': ['pass']}, 'noncompliant',
                    {'STS-1': '2 TXT records begin with v=STSv1'}),
    'too-big': ({'STS-2': ['fail'], 'STS-3': ['skipped']}, 'noncompliant', {'STS-2': 'over 65536 bytes'}),
    'html': ({'STS-2': ['warn'], 'STS-3': ['pass']}, 'compliant', {'STS-2': 'text/html'}),
    'bad-rpt': ({'STS-1': ['pass'], 'STS-3': ['pass'], 'RPT-1': ['fail']}, 'compliant', {'RPT-1': 'not a mailto: or https: URI'}),
    'no-rpt': ({'STS-1': ['pass'], 'RPT-1': ['warn']}, 'compliant', {'RPT-1': 'publishes MTA-STS'}),
    'testing-bad-cert': ({'STS-2': ['pass'], 'STS-3': ['warn']}, 'compliant', {'STS-3': 'do not cover'}),
    'enforce-bad-cert': ({'STS-2': ['pass'], 'STS-3': ['fail']}, 'noncompliant', {'STS-3': 'expired'}),
    'https-wrong-name': ({'STS-2': ['fail'], 'STS-3': ['skipped']}, 'noncompliant', {'STS-2': 'not valid for that name'}),
    'no-starttls': ({'STS-3': ['fail']}, 'noncompliant', {'STS-3': 'STARTTLS is not offered'}),
    'none': ({'STS-1': ['skipped'], 'STS-2': ['skipped'], 'STS-3': ['skipped'], 'RPT-1': ['skipped']}, 'compliant',
             {'STS-1': 'MTA-STS not published', 'RPT-1': 'TLS-RPT not looked up'}),
    'dane-no-rpt': ({'STS-1': ['skipped'], 'RPT-1': ['warn']}, 'compliant', {'RPT-1': 'publishes DANE'}),
}


def test_every_case_in_one_audit(lab, policy_port, capsys):
    """One audit of every case (each test runs in a fork of its own: one run, every assertion)."""
    found = audit_cases(lab, capsys, list(EXPECTED))
    wrong = []
    for name, (rules, verdict, words) in EXPECTED.items():
        item = found[sts_lab.domain(name)]
        got = statuses(item)
        for rule, wanted in rules.items():
            if got.get(rule) != wanted:
                wrong.append('%s %s: %s, not %s (%s)' % (name, rule, got.get(rule), wanted, summary(item, rule)))
        if item['verdict'] != verdict:
            wrong.append('%s: verdict %s, not %s' % (name, item['verdict'], verdict))
        for rule, text in words.items():
            if text not in summary(item, rule):
                wrong.append('%s %s: %r not in %r' % (name, rule, text, summary(item, rule)))
        skipped = [f for f in item['findings'] if f['check'] == 'mta_sts' and f['status'] == 'skipped']
        if name == 'none' and any(f['summary'].startswith('not judged') for f in skipped):
            wrong.append('none: skipped for another reason than not published')
    assert not wrong, '\n'.join(wrong)
    # The record of each domain (the reports' DANE and MTA-STS section): facts, not summaries.
    valid = found[sts_lab.domain('valid')]['mta_sts']
    assert valid['published'] is True and valid['fetched'] is True and valid['id'] and valid['mode'] == 'enforce'
    assert valid['max_age'] and valid['mx'] and valid['rua'] and valid['rua_total'] == len(valid['rua'])
    assert found[sts_lab.domain('none')]['mta_sts'] == {'published': False}
    assert found[sts_lab.domain('dane-no-rpt')]['mta_sts'] == {'published': False, 'rua': [], 'rua_total': 0}
    assert found[sts_lab.domain('two-records')]['mta_sts']['id'] is None
    redirect = found[sts_lab.domain('redirect')]['mta_sts']
    assert redirect['published'] is True and redirect['fetched'] is False and redirect['mode'] is None
    assert 'dane' not in found[sts_lab.domain('valid')]  # the dane check did not run
    # The redirect was not followed: one request to the policy host, none to where it pointed.
    hosts = [host for host, _line in lab.policy.requests]
    assert 'www.sts.lab.test' not in hosts and hosts.count('mta-sts.' + sts_lab.domain('redirect')) == 1
    assert ('mta-sts.' + sts_lab.domain('valid'), 'GET /.well-known/mta-sts.txt HTTP/1.1') in lab.policy.requests


def test_a_slowloris_policy_server_is_cut_off_by_the_timeout(lab, policy_port, capsys):
    item = audit_cases(lab, capsys, ['slow'], timeout=1.0)[sts_lab.domain('slow')]
    assert statuses(item)['STS-2'] == ['inconclusive'], summary(item, 'STS-2')
    assert item['verdict'] == 'unverified'


def test_the_run_deadline_bounds_the_policy_fetch(lab, policy_port, capsys):
    """timeout 5 s would allow 15 s for the fetch; the run's deadline of 3 s cuts it off: inconclusive, not pass."""
    item = audit_cases(lab, capsys, ['slow'], timeout=5.0, deadline=3)[sts_lab.domain('slow')]
    assert statuses(item)['STS-2'] == ['inconclusive'], summary(item, 'STS-2')
    assert item['verdict'] == 'unverified'


def test_the_starttls_certificate_is_fetched_once_per_host_and_address(lab, policy_port, capsys):
    server = lab.servers['valid']
    before = server.connections
    names = [sts_lab.domain('valid')]
    _code, result = run_module(audit, lab.module_args(domains=names, checks=['mta_sts']), capsys)
    assert statuses(result['domains'][0])['STS-3'] == ['pass']
    assert server.connections - before == 1
