# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mx_info and smtp_info as Ansible runs them: arguments in, JSON out."""

from __future__ import annotations

import re

import pytest

from ansible_collections.mxaudit.smtp.plugins.modules import mx_info, smtp_info
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module


def test_mx_info(lab, capsys):
    code, result = run_module(mx_info, {'domain': 'backup-mx.lab.test', 'resolver': lab.resolver_options(),
                                        'allow_private_addresses': True}, capsys)
    assert code == 0 and result['changed'] is False and result['compliant'] is True
    assert [(mx['preference'], mx['host']) for mx in result['mx']] == [
        (10, 'mx.compliant.lab.test'), (20, 'mx.relay-denied-all.lab.test')]
    assert [finding['rule'] for finding in result['findings']] == ['MX-1']


def test_mx_info_several_domains(lab, capsys):
    code, result = run_module(mx_info, {'domains': ['null-mx.lab.test', 'mx-no-address.lab.test'],
                                        'resolver': lab.resolver_options(), 'allow_private_addresses': True}, capsys)
    assert code == 0 and 'mx' not in result
    assert [(d['domain'], d['null_mx'], d['compliant']) for d in result['domains']] == [
        ('null-mx.lab.test', True, True), ('mx-no-address.lab.test', False, False)]
    assert result['compliant'] is False


def test_smtp_info_compliant_server(lab, capsys):
    code, result = run_module(smtp_info, lab.module_args(domain='compliant.lab.test'), capsys)
    assert code == 0 and result['changed'] is False and result['compliant'] is True
    (session,) = result['sessions']
    assert session['greeting'] == '220 mx.compliant.lab.test ESMTP mxaudit-lab'
    assert session['capabilities']['keywords'] == ['8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'PIPELINING', 'SIZE',
                                                   'SMTPUTF8']
    assert session['capabilities']['size'] == 10240000
    rules = [(f['rule'], f['status']) for f in result['findings']]
    assert rules == [('MX-1', 'pass'), ('GR-1', 'pass'), ('GR-2', 'pass'), ('GR-3', 'pass'), ('CMD-1', 'pass'),
                     ('CMD-2', 'pass'), ('CMD-3', 'pass')]
    finding = result['findings'][1]
    assert set(finding) == {'check', 'rule', 'status', 'level', 'severity', 'rfc', 'domain', 'mx', 'address', 'summary', 'transcript'}
    assert (finding['check'], finding['level'], finding['rfc']) == ('session', 'MUST', 'RFC 5321 4.2, 4.3.1')


def test_smtp_info_with_addresses_skips_dns(lab, capsys):
    args = lab.module_args(domain='vrfy-550.lab.test', addresses=[lab.address('vrfy_550')])
    args['resolver'] = {'nameservers': ['127.0.0.1'], 'port': 9, 'timeout': 0.5}  # a resolver that would fail
    code, result = run_module(smtp_info, args, capsys)
    assert code == 0 and result['compliant'] is False
    assert result['mx'] == []
    failed = [f['rule'] for f in result['findings'] if f['status'] == 'fail']
    assert failed == ['CMD-3']


@pytest.mark.parametrize('args, words', [
    ({'domain': 'bad domain'}, 'domain'),
    ({'domain': 'example.org', 'helo_name': 'x\r\nDATA'}, 'helo_name'),
    ({'domain': 'example.org', 'port': 99999}, 'port'),
])
def test_bad_input_fails_before_anything_is_sent(args, words, capsys):
    args = dict({'helo_name': 'audit.lab.test', 'resolver': {'nameservers': ['127.0.0.1'], 'port': 9}}, **args)
    code, result = run_module(smtp_info, args, capsys)
    assert code == 1 and result['failed'] is True
    assert result['msg'].startswith('Invalid option: ' + words)


def test_domain_and_domains_are_mutually_exclusive(capsys):
    code, result = run_module(mx_info, {'domain': 'a.example', 'domains': ['b.example']}, capsys)
    assert code == 1 and 'mutually exclusive' in result['msg']


def test_smtp_info_probes_ipv4_and_ipv6_addresses(lab, capsys):
    code, result = run_module(smtp_info, lab.module_args(domain='ipv6.lab.test'), capsys)
    assert code == 0 and result['compliant'] is True
    assert sorted(session['address'] for session in result['sessions']) == ['127.0.1.1', '::1']
    assert all(session['error'] is None for session in result['sessions'])
    assert {f['status'] for f in result['findings']} == {'pass'}


def test_without_a_fully_qualified_host_name_ehlo_names_the_local_address(lab, capsys, monkeypatch):
    from ansible_collections.mxaudit.smtp.plugins.module_utils import _options
    monkeypatch.setattr(_options, 'default_helo_name', lambda: 'mxaudit-ee-pod-5f7c9')
    server = lab.servers['compliant']
    before = len(server.commands)
    args = lab.module_args(domain='compliant.lab.test')
    del args['helo_name']
    code, result = run_module(smtp_info, args, capsys)
    assert code == 0, result.get('msg')
    sent = server.commands[before:]
    literal = [line for line in sent if re.fullmatch(r'EHLO \[127\.\d+\.\d+\.\d+\]', line)]
    assert literal and literal[0].replace('EHLO', 'HELO') in sent, sent
    assert result['verdict'] == 'compliant'
