# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The tls check against the lab's STARTTLS servers (certificates from the lab CA, made at test time)."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import tls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings, Target
from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca


def outcome(lab, behaviour, ca_file='lab'):
    target = Target(lab.domain(behaviour), 'mx.' + lab.domain(behaviour), lab.address(behaviour))
    settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test', timeout=2.0)
    return asyncio.run(tls.check_tls(target, settings, lab_ca().ca_file if ca_file == 'lab' else ca_file)), target


def probe(lab, behaviour, ca_file='lab'):
    return outcome(lab, behaviour, ca_file)[0].findings


PASSING = {'TLS-1': 'pass', 'TLS-2': 'pass', 'TLS-3': 'pass', 'TLS-4': 'pass', 'TLS-5': 'pass', 'TLS-6': 'pass', 'TLS-7': 'pass',
           'TLS-8': 'pass', 'LF-1': 'pass'}
NO_CERTIFICATE = {'TLS-3': 'inconclusive', 'TLS-4': 'inconclusive', 'TLS-5': 'inconclusive', 'TLS-6': 'inconclusive'}
EXPECTED = {
    'tls_valid': PASSING,
    'tls_injection': dict(PASSING, **{'TLS-7': 'fail'}),
    'tls_injection_plaintext': dict(PASSING, **{'TLS-7': 'fail'}),
    # The base lab server ends lines at a bare LF: LF-1 warns, in plaintext.
    'compliant': {'TLS-1': 'fail', 'TLS-2': 'skipped', 'TLS-3': 'skipped', 'TLS-4': 'skipped', 'TLS-5': 'skipped', 'TLS-6': 'skipped',
                  'TLS-7': 'skipped', 'TLS-8': 'pass', 'LF-1': 'warn'},
    'tls_unavailable': dict(PASSING, **{'TLS-2': 'inconclusive', 'TLS-7': 'inconclusive'}, **NO_CERTIFICATE),
    # The handshake fails with the injected NOOP and again without it: TLS-7 cannot be shown, nor LF-1.
    'tls_handshake_fails': dict(PASSING, **{'TLS-2': 'fail', 'TLS-7': 'inconclusive', 'LF-1': 'inconclusive'},
                                **NO_CERTIFICATE),
    'bare_lf': dict(PASSING, **{'LF-1': 'warn'}),
    # The local OpenSSL (3.0) can still offer TLS 1.0/1.1 at security level 0; where it cannot, TLS-3 is skipped.
    'tls_legacy': dict(PASSING, **{'TLS-3': 'fail' if _tls.legacy_context()[0] is not None else 'skipped'}),
    'tls_expired': dict(PASSING, **{'TLS-6': 'fail'}),
    'tls_expiring': dict(PASSING, **{'TLS-6': 'warn'}),
    'tls_wrong_name': dict(PASSING, **{'TLS-5': 'warn'}),
    'tls_self_signed': dict(PASSING, **{'TLS-4': 'warn'}),
    'tls_plaintext_auth': dict(PASSING, **{'TLS-8': 'warn'}),
    'tls_drops_injected': PASSING,
}


@pytest.mark.parametrize('behaviour', sorted(EXPECTED))
def test_each_server_gets_its_verdicts(lab, behaviour):
    findings = probe(lab, behaviour)
    assert {finding.rule: finding.status for finding in findings} == EXPECTED[behaviour], [
        (finding.rule, finding.summary) for finding in findings]
    assert lab.servers[behaviour].data_commands == 0


def test_starttls_not_offered_means_the_other_rules_do_not_apply(lab):
    found = {finding.rule: finding for finding in probe(lab, 'compliant')}
    assert all(not found[rule].applies for rule in tls.AFTER_STARTTLS)


def test_the_handshake_failure_says_why(lab):
    found = {finding.rule: finding for finding in probe(lab, 'tls_handshake_fails')}
    assert 'handshake' in found['TLS-2'].summary


def test_the_lab_ca_is_not_trusted_by_the_system_store(lab):
    found = {finding.rule: finding for finding in probe(lab, 'tls_valid', ca_file=None)}
    assert found['TLS-4'].status == 'warn' and 'system trust store' in found['TLS-4'].summary
    assert found['TLS-5'].status == 'pass' and found['TLS-6'].status == 'pass'


def test_sni_is_the_mx_host_name(lab):
    server = lab.servers['tls_valid']
    server.options.pop('sni_seen', None)
    probe(lab, 'tls_valid')
    assert server.options.get('sni_seen') == ['mx.' + lab.domain('tls_valid')]


def test_the_upgraded_session_keeps_the_reply_timeout(lab):
    """A server that says 220 to STARTTLS and then never handshakes costs one timeout, and no crash."""
    async def run():
        session = smtp.SMTPSession(lab.address('slow_greeting'), lab.port, timeout=0.5)
        session._reader = asyncio.StreamReader()  # never fed: stands for a server that never answers

        class Writer:
            transport = type('T', (), {'abort': lambda self: None})()

            def write(self, data):
                pass

            async def drain(self):
                pass

            def get_extra_info(self, name):
                return None
        session._writer = Writer()
        with pytest.raises(smtp.ReplyTimeout):
            await session.starttls(_tls.probe_context(), 'mx.example.org')
    asyncio.run(run())


def test_the_injection_probe_rides_on_the_main_session_and_the_noop_is_answered_inside_tls(lab):
    server = lab.servers['tls_injection']
    before = server.connections
    found = {finding.rule: finding for finding in probe(lab, 'tls_injection')}
    assert server.connections - before == 2  # the main session, and TLS-3's TLS 1.0/1.1 one
    assert 'inside TLS' in found['TLS-7'].summary
    assert any(line.startswith('S: 250') for line in found['TLS-7'].transcript)


def test_a_server_that_hangs_up_on_injected_input_is_not_a_broken_tls(lab):
    """The handshake fails after the injected NOOP only: a second session without it decides TLS-2 and TLS-7."""
    server = lab.servers['tls_drops_injected']
    before = server.connections
    found = {finding.rule: finding for finding in probe(lab, 'tls_drops_injected')}
    assert server.connections - before == 3  # with the injected NOOP, without it, and TLS-3's TLS 1.0/1.1 one
    assert found['TLS-2'].status == 'pass' and 'broke off the handshake' in found['TLS-7'].summary


def test_the_bare_lf_probe_is_answered_inside_tls_by_a_lenient_server(lab):
    found = {finding.rule: finding for finding in probe(lab, 'bare_lf')}
    assert 'bare LF' in found['LF-1'].summary and 'C: NOOP<LF> (no CR)' in found['LF-1'].transcript


def test_tls_1_0_and_1_1_acceptance_is_probed_in_one_more_short_session(lab):
    server = lab.servers['tls_legacy']
    before = server.connections
    found = {finding.rule: finding for finding in probe(lab, 'tls_legacy')}
    assert server.connections - before == 2
    assert 'also accepts TLSv1' in found['TLS-3'].summary
    refused = {finding.rule: finding for finding in probe(lab, 'tls_valid')}['TLS-3']
    assert 'only TLS 1.0 and 1.1 was refused' in refused.summary and 'weak suites were not offered' in refused.summary


def test_without_tls_1_0_in_the_local_openssl_tls_3_is_skipped_never_passed(lab, monkeypatch):
    monkeypatch.setattr(_tls, 'legacy_context', lambda: (None, 'the local OpenSSL was built without TLS 1.0 and 1.1'))
    found = {finding.rule: finding for finding in probe(lab, 'tls_legacy')}
    assert found['TLS-3'].status == 'skipped' and 'built without TLS 1.0' in found['TLS-3'].summary


def test_a_reply_in_plaintext_after_the_220_is_the_injection_too_and_is_dropped(lab):
    found = {finding.rule: finding for finding in probe(lab, 'tls_injection_plaintext')}
    assert 'in plaintext after the 220' in found['TLS-7'].summary
    # The plaintext reply was not taken for the reply to EHLO after TLS.
    assert found['TLS-2'].status == 'pass' and 'EHLO after TLS got "250 mx.' in found['TLS-2'].summary


def test_no_second_session_after_the_deadline(lab):
    """The TLS 1.0/1.1 session is not opened once the deadline has passed (it would only time out)."""
    async def run():
        target = Target(lab.domain('tls_valid'), 'mx.' + lab.domain('tls_valid'), lab.address('tls_valid'))
        settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test',
                                 timeout=2.0)
        verdicts = tls._Verdicts()
        verdicts.negotiated = 'TLSv1.3 with TLS_AES_256_GCM_SHA384 negotiated'
        settings.deadline = asyncio.get_running_loop().time() - 1.0
        await tls._legacy_probe(target, settings, verdicts, [])
        return verdicts.found['TLS-3']
    server = lab.servers['tls_valid']
    before = server.connections
    status, summary = asyncio.run(run())
    assert status == 'inconclusive' and 'deadline' in summary and server.connections == before


def test_the_record_holds_what_the_session_learnt(lab):
    result, target = outcome(lab, 'tls_valid')
    record = result.record.to_dict(target)
    assert record['mx'] == 'mx.' + lab.domain('tls_valid') and record['address'] == lab.address('tls_valid')
    assert record['starttls'] is True and record['protocol'] in ('TLSv1.2', 'TLSv1.3') and record['cipher']
    assert record['subject'] == 'CN=mx.' + lab.domain('tls_valid') and record['issuer'] == 'CN=mxaudit lab CA'
    assert record['dns_names'] == ['mx.' + lab.domain('tls_valid')] and record['trusted'] is True
    assert record['not_before'] < record['not_after'] and record['not_after'].endswith('Z')


def test_the_record_of_a_server_without_starttls_learns_nothing_more(lab):
    result, target = outcome(lab, 'compliant')
    record = result.record.to_dict(target)
    assert record['starttls'] is False
    assert [record[key] for key in ('protocol', 'cipher', 'subject', 'issuer', 'not_after', 'dns_names', 'trusted')] == [None] * 7


def test_the_record_of_an_untrusted_certificate(lab):
    result, target = outcome(lab, 'tls_self_signed')
    record = result.record.to_dict(target)
    assert record['trusted'] is False and record['subject'] == record['issuer']
    result, target = outcome(lab, 'tls_handshake_fails')
    record = result.record.to_dict(target)
    assert record['starttls'] is True and record['protocol'] is None and record['subject'] is None
