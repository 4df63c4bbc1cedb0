# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""TLS-1, TLS-2, TLS-4, TLS-5, TLS-6, TLS-8: the judges, from replies and certificate facts."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls as tls_facts
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import tls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS, SERVER
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.timezone.utc)


def capabilities(*extensions):
    lines = ['mx.example.org'] + list(extensions)
    text = '\n'.join('250%s%s' % ('-' if i < len(lines) - 1 else ' ', line) for i, line in enumerate(lines))
    return protocol.parse_ehlo(reply(text))


def facts(names=('mx.example.org',), start=NOW - datetime.timedelta(days=30), end=NOW + datetime.timedelta(days=60)):
    return tls_facts.CertificateFacts(dns_names=list(names), not_before=start, not_after=end,
                                      subject='CN=x', issuer='CN=ca')


def test_the_check_is_registered_per_server_in_its_own_session():
    check = CHECKS['tls']
    assert check.scope == SERVER and check.run is not None and check.rules == tls.RULES
    assert tls.RULES == ('TLS-1', 'TLS-2', 'TLS-3', 'TLS-4', 'TLS-5', 'TLS-6', 'TLS-7', 'TLS-8', 'LF-1')


def test_starttls_offered_passes_and_missing_fails():
    assert tls.judge_offered(capabilities('PIPELINING', 'STARTTLS'))[0] == 'pass'
    status, summary = tls.judge_offered(capabilities('PIPELINING'))
    assert status == 'fail' and 'plaintext' in summary
    assert tls.judge_offered(None)[0] == 'fail'


@pytest.mark.parametrize('auth, status', [
    ('AUTH PLAIN LOGIN', 'warn'), ('AUTH=LOGIN', 'warn'), ('AUTH CRAM-MD5', 'pass'), (None, 'pass')])
def test_plaintext_password_mechanisms_before_starttls_warn(auth, status):
    found = tls.judge_plaintext_auth(capabilities('STARTTLS', *([auth] if auth else [])), 25)
    assert found[0] == status


@pytest.mark.parametrize('text, status', [
    ('454 4.7.0 TLS not available due to local problem', 'inconclusive'),
    ('421 4.3.2 Service shutting down', 'inconclusive'),
    ('502 5.5.1 Command not implemented', 'fail'),
    ('220 2.0.0 Ready to start TLS', None),
])
def test_the_reply_to_starttls(text, status):
    verdict = tls.judge_starttls_reply(reply(text))
    assert (verdict[0] if verdict else None) == status


def test_ehlo_after_tls():
    good = smtp.Hello(reply('250-mx.example.org\n250 PIPELINING'), None)
    assert tls.judge_after_tls(good)[0] == 'pass'
    again = smtp.Hello(reply('250-mx.example.org\n250 STARTTLS'), None)
    status, summary = tls.judge_after_tls(again)
    assert status == 'fail' and 'MUST NOT return the STARTTLS' in summary
    assert tls.judge_after_tls(smtp.Hello(reply('421 4.3.2 bye'), None))[0] == 'inconclusive'


def test_dates():
    assert tls.judge_dates(facts(), NOW)[0] == 'pass'
    assert tls.judge_dates(facts(end=NOW - datetime.timedelta(seconds=1)), NOW)[0] == 'fail'
    assert tls.judge_dates(facts(start=NOW + datetime.timedelta(days=1)), NOW)[0] == 'fail'
    status, summary = tls.judge_dates(facts(end=NOW + datetime.timedelta(days=13)), NOW)
    assert status == 'warn' and 'expires in 13 days' in summary
    assert tls.judge_dates(facts(end=NOW + datetime.timedelta(days=15)), NOW)[0] == 'pass'


@pytest.mark.parametrize('pattern, host, matches', [
    ('mx.example.org', 'MX.Example.org', True),
    ('*.example.org', 'mx.example.org', True),
    ('*.example.org', 'a.mx.example.org', False),   # one label only
    ('*.example.org', 'example.org', False),
    ('*.org', 'example.org', False),                # no wildcard over a TLD
    ('m*.example.org', 'mx.example.org', False),    # partial wildcards are not honoured
    ('mx.example.org.', 'mx.example.org', True),
    ('other.example.org', 'mx.example.org', False),
])
def test_wildcards_stand_for_one_left_most_label(pattern, host, matches):
    assert tls_facts.name_matches(pattern, host) is matches


def test_names():
    assert tls.judge_names(facts(), 'mx.example.org')[0] == 'pass'
    assert tls.judge_names(facts(['*.example.org']), 'mx.example.org')[0] == 'pass'
    status, summary = tls.judge_names(facts(['mail.other.net']), 'mx.example.org')
    assert status == 'warn' and 'mail.other.net' in summary
    assert tls.judge_names(facts(), None)[0] == 'skipped'
    # With a SAN the CN is not consulted (RFC 6125 6.4.4).
    with_cn = facts(['mail.other.net'])
    with_cn.common_name = 'mx.example.org'
    assert tls.judge_names(with_cn, 'mx.example.org')[0] == 'warn'


def test_trust():
    assert tls.judge_trust(None, facts(), 'the system trust store')[0] == 'pass'
    self_signed = facts()
    self_signed.issuer = self_signed.subject
    status, summary = tls.judge_trust('no path', self_signed, 'the system trust store')
    assert status == 'warn' and 'self-signed' in summary


def test_without_cryptography_the_certificate_rules_are_skipped_naming_it(monkeypatch):
    monkeypatch.setattr(tls_facts, 'CRYPTOGRAPHY_IMPORT_ERROR', 'ImportError')
    verdicts = tls._Verdicts()
    tls.judge_certificates([b'der'], 'mx.example.org', None, NOW, verdicts)
    assert {rule: verdict[0] for rule, verdict in verdicts.found.items()} == dict.fromkeys(tls.CERTIFICATE_RULES, 'skipped')
    assert all('cryptography' in verdict[1] for verdict in verdicts.found.values())


def test_no_certificate_is_never_a_pass():
    verdicts = tls._Verdicts()
    tls.judge_certificates([], 'mx.example.org', None, NOW, verdicts)
    assert {verdict[0] for verdict in verdicts.found.values()} == {'warn'}


def test_a_reply_to_the_injected_noop_fails_before_or_after_the_handshake():
    answered = [reply('250 2.0.0 Ok')]
    status, summary = tls.judge_injection([], answered, 1.0)
    assert status == 'fail' and 'CVE-2011-0411' in summary and 'inside TLS' in summary
    status, summary = tls.judge_injection(answered, [], 1.0)
    assert status == 'fail' and 'in plaintext after the 220' in summary
    status, summary = tls.judge_injection([], [], 1.0)
    assert status == 'pass' and 'within 1 s' in summary


@pytest.mark.parametrize('answer, error, status', [
    ('250 2.0.0 Ok', None, 'warn'),
    ('500 5.5.2 Error: bare <LF> received', None, 'pass'),
    ('421 4.7.0 closing', None, 'inconclusive'),
    (None, smtp.ReplyTimeout('no reply'), 'pass'),
    (None, smtp.ServerClosed('closed'), 'pass'),
    (None, smtp.DeadlineExceeded('deadline'), 'inconclusive'),
])
def test_a_bare_lf_answered_as_a_command_warns(answer, error, status):
    assert tls.judge_bare_lf(reply(answer) if answer else None, error, 2.0)[0] == status


@pytest.mark.parametrize('version, suite, status', [
    ('TLSv1.3', 'TLS_AES_256_GCM_SHA384', None),
    ('TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256', None),
    ('TLSv1.2', 'ADH-AES256-GCM-SHA384', 'fail'),
    ('TLSv1.2', 'NULL-SHA256', 'fail'),
    ('TLSv1.2', 'RC4-SHA', 'fail'),
    ('TLSv1.1', 'ECDHE-RSA-AES128-SHA', 'fail'),
])
def test_the_negotiated_version_and_suite(version, suite, status):
    verdict = tls.judge_negotiated(version, suite)
    assert (verdict[0] if verdict else None) == status


def test_legacy_acceptance():
    assert tls.judge_legacy('TLSv1.3 negotiated', 'TLSv1', None, None)[0] == 'fail'
    assert tls.judge_legacy('TLSv1.3 negotiated', None, 'unsupported protocol', None)[0] == 'pass'
    assert tls.judge_legacy('TLSv1.3 negotiated', None, None, 'no TLS 1.0 here')[0] == 'skipped'
    assert tls.judge_legacy('TLSv1.3 negotiated', None, None, None)[0] == 'inconclusive'


def test_an_unreadable_certificate_is_a_warning_not_a_crash():
    verdicts = tls._Verdicts()
    tls.judge_certificates([b'\x30\x03garbage'], 'mx.example.org', None, NOW, verdicts)
    assert {verdict[0] for verdict in verdicts.found.values()} == {'warn'}
    assert 'cannot be parsed' in verdicts.found['TLS-4'][1]


def test_the_record_keeps_the_certificate_facts_bounded():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import Target
    facts = tls_facts.CertificateFacts(
        dns_names=['mx%d.example.org' % index for index in range(50)], common_name='mx0.example.org',
        not_before=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        not_after=datetime.datetime(2026, 7, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
        subject='CN=' + 'x' * 1000, issuer='CN=<script>alert(1)</script>')
    record = tls.TLSRecord(starttls=True, protocol='TLSv1.3', cipher='TLS_AES_256_GCM_SHA384', trusted=False)
    record.learn_certificate(facts)
    data = record.to_dict(Target('example.org', 'mx0.example.org', '192.0.2.1'))
    assert data['mx'] == 'mx0.example.org' and data['address'] == '192.0.2.1'
    assert data['not_before'] == '2026-01-01T00:00:00Z' and data['not_after'] == '2026-07-01T10:30:00Z'  # UTC
    assert len(data['subject']) == tls.RECORD_NAME_CHARS and data['subject'].endswith('...')
    assert data['issuer'] == 'CN=<script>alert(1)</script>'  # data: kept as it came, the reports escape it
    assert data['dns_names'] == facts.dns_names[:tls.RECORD_DNS_NAMES] and data['trusted'] is False
    assert 'PEM' not in repr(data) and len(repr(data)) < 2000


def test_an_empty_record_invents_nothing():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import Target
    data = tls.TLSRecord().to_dict(Target('example.org', None, '192.0.2.1'))
    assert data == {'mx': None, 'address': '192.0.2.1', 'starttls': None, 'protocol': None, 'cipher': None, 'subject': None,
                    'issuer': None, 'not_before': None, 'not_after': None, 'dns_names': None, 'trusted': None}


def test_judging_the_certificates_fills_the_record(monkeypatch):
    facts = tls_facts.CertificateFacts(dns_names=['mx.example.org'], subject='CN=mx.example.org', issuer='CN=ca',
                                       not_before=NOW - datetime.timedelta(days=1), not_after=NOW + datetime.timedelta(days=90))
    monkeypatch.setattr(tls_facts, 'certificate_facts', lambda der: facts)
    monkeypatch.setattr(tls_facts, 'trust_store', lambda ca_file: [])
    for problem, trusted in ((None, True), ('unable to get local issuer', False)):
        monkeypatch.setattr(tls_facts, 'verify_chain', lambda chain, anchors, when, problem=problem: problem)
        verdicts = tls._Verdicts()
        tls.judge_certificates([b'der'], 'mx.example.org', None, NOW, verdicts)
        assert verdicts.record.certificate is facts and verdicts.record.trusted is trusted


def test_without_cryptography_the_record_has_no_certificate(monkeypatch):
    monkeypatch.setattr(tls_facts, 'CRYPTOGRAPHY_IMPORT_ERROR', 'ImportError')
    verdicts = tls._Verdicts()
    tls.judge_certificates([b'der'], 'mx.example.org', None, NOW, verdicts)
    assert verdicts.record.certificate is None and verdicts.record.trusted is None
