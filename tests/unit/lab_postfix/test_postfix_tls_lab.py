# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A compliant real Postfix with STARTTLS (postfix_tls, tests/lab/postfix.py) passes the tls and identity checks.

The instance's certificate is issued by the Postfix lab's own CA (``PostfixLab.tls_ca_file``) for its MX host
name, which the lab DNS resolves to its address (and back: a PTR). Run through the audit module's main(), as
Ansible runs it. Needs root and the postfix package: skipped without them, except under CI=true.
"""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.modules import audit
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

NAME = 'postfix_tls'
DOMAIN = 'postfix-tls.lab.test'
MX = 'mx.postfix-tls.lab.test'
TLS_RULES = ('TLS-1', 'TLS-2', 'TLS-3', 'TLS-4', 'TLS-5', 'TLS-6', 'TLS-7', 'TLS-8', 'LF-1')


def audit_tls(lab, postfix, capsys, **extra):
    """The audit module with the tls and identity checks against postfix_tls: (result, {rule: finding})."""
    address, port = postfix.address(NAME)
    args = lab.module_args(domains=[DOMAIN], port=port, checks=['tls', 'identity'], transcripts='all', **extra)
    code, result = run_module(audit, args, capsys)
    assert code == 0, result.get('msg')
    (domain,) = result['domains']
    findings = {finding['rule']: finding for finding in domain['findings']}
    for finding in findings.values():
        assert (finding['domain'], finding['mx'], finding['address']) == (DOMAIN, MX, address), finding
    return result, findings


def statuses(findings):
    return {rule: finding['status'] for rule, finding in findings.items()}


def summaries(findings):
    return {rule: finding['summary'] for rule, finding in findings.items()}


def test_compliant_postfix_with_the_lab_ca_passes_every_tls_rule(lab, postfix, capsys):
    result, findings = audit_tls(lab, postfix, capsys, tls_ca_file=postfix.tls_ca_file)
    assert statuses(findings) == dict.fromkeys(TLS_RULES + ('ID-1', 'ID-2'), 'pass'), summaries(findings)
    assert result['compliant'] is True
    # What Postfix 3.7 does, as the findings say it: TLS 1.2+ (1.3 here), the 1.0/1.1-only handshake refused,
    # the certificate checked against tls_ca_file, and the bare LF refused (smtpd_forbid_bare_newline=reject).
    assert 'TLSv1.3' in findings['TLS-3']['summary'] and 'refused' in findings['TLS-3']['summary']
    assert 'tls_ca_file' in findings['TLS-4']['summary']
    assert MX in findings['TLS-5']['summary']
    assert 'Error: bare <LF> received' in findings['LF-1']['summary']
    assert 'PTR %s resolves back' % MX in findings['ID-1']['summary']
    transcript = findings['TLS-2']['transcript']
    assert not any(line.startswith(('C: MAIL', 'C: RCPT', 'C: DATA', 'C: BDAT')) for line in transcript), transcript


def test_without_tls_ca_file_only_the_chain_warns(lab, postfix, capsys):
    """The lab CA is in no system store: TLS-4 warns; the names and dates still pass, so does everything else."""
    _result, findings = audit_tls(lab, postfix, capsys)
    expected = dict.fromkeys(TLS_RULES + ('ID-1', 'ID-2'), 'pass')
    expected['TLS-4'] = 'warn'
    assert statuses(findings) == expected, summaries(findings)
    assert 'system trust store' in findings['TLS-4']['summary']


@pytest.mark.parametrize('instance', ['postfix_compliant'])
def test_postfix_without_tls_fails_tls_1_and_warns_lf_1(lab, postfix, capsys, instance):
    """The negative case, for free: the other instances offer no STARTTLS and take a bare LF (Postfix 3.7's default)."""
    address, port = postfix.address(instance)
    domain = instance.replace('_', '-') + '.lab.test'
    code, result = run_module(audit, lab.module_args(domains=[domain], port=port, checks=['tls', 'identity']), capsys)
    assert code == 0, result.get('msg')
    found = {finding['rule']: finding['status'] for finding in result['domains'][0]['findings']}
    assert found == {'TLS-1': 'fail', 'TLS-2': 'skipped', 'TLS-3': 'skipped', 'TLS-4': 'skipped', 'TLS-5': 'skipped',
                     'TLS-6': 'skipped', 'TLS-7': 'skipped', 'TLS-8': 'pass', 'LF-1': 'warn', 'ID-1': 'pass', 'ID-2': 'pass'}, result
    assert result['domains'][0]['findings'][0]['address'] == address
