# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DANE-1 to DANE-3: the judges, from DNS answers and what an address presented; the HOST scope in the plan."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _dane
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import dane, starttls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings, Target
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS, HOST
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import SecureLookup
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import plan as planning
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import schedule
from ansible_collections.mxaudit.smtp.plugins.module_utils._run_state import Problem
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply

NAME = '_25._tcp.mx.example.org'
EE = '3 1 1 ' + 'ab' * 32
EE2 = '3 1 1 ' + 'cd' * 32
TA = '2 0 1 ' + 'ef' * 32
SECURE_MX = SecureLookup(records=['10 mx.example.org.'], secure=True)


def tlsa(*records, secure=True, **kwargs):
    return SecureLookup(records=list(records), secure=secure, **kwargs)


def test_registered_per_host_with_its_own_run():
    check = CHECKS['dane']
    assert check.scope == HOST and check.run is not None and check.rules == ('DANE-1', 'DANE-2', 'DANE-3')


def test_no_tlsa_is_not_published():
    for found in (SecureLookup(nxdomain=True, rcode='NXDOMAIN'), SecureLookup(secure=True)):
        status, summary, usable = dane.judge_tlsa(NAME, found, None, None, 'example.org')
        assert status == 'skipped' and 'not published' in summary and usable == []


def test_secure_tlsa_and_secure_mx_pass():
    status, summary, usable = dane.judge_tlsa(NAME, tlsa(EE, EE2), None, SECURE_MX, 'example.org')
    assert status == 'pass' and len(usable) == 2 and 'AD' in summary


def test_bogus_fails_with_the_ede():
    found = SecureLookup(records=[EE], rcode='SERVFAIL', bogus=True, error='SERVFAIL', ede=[(6, 'DNSSEC Bogus')])
    status, summary, usable = dane.judge_tlsa(NAME, found, None, None, 'example.org')
    assert status == 'fail' and 'bogus' in summary and 'EDE 6' in summary and not usable


def test_lookup_failure_is_error():
    status, _summary, _usable = dane.judge_tlsa(NAME, SecureLookup(error='timeout', timed_out=True), None, None, 'e.org')
    assert status == 'error'


def test_insecure_with_a_validating_resolver_warns_and_is_not_used():
    status, summary, usable = dane.judge_tlsa(NAME, tlsa(EE, secure=False), True, None, 'example.org')
    assert status == 'warn' and 'insecure' in summary and not usable


def test_no_ad_anywhere_is_dnssec_status_unknown_never_insecure():
    status, summary, usable = dane.judge_tlsa(NAME, tlsa(EE, secure=False), False, None, 'example.org')
    assert status == 'inconclusive' and 'DNSSEC status unknown' in summary and 'insecure' not in summary and not usable


def test_insecure_mx_rrset_means_dane_does_not_apply():
    mx = SecureLookup(records=['10 mx.example.org.'], secure=False)
    status, summary, usable = dane.judge_tlsa(NAME, tlsa(EE), None, mx, 'example.org')
    assert status == 'warn' and 'MX RRset' in summary and not usable


def test_insecure_host_addresses_mean_dane_does_not_apply():
    status, summary, usable = dane.judge_tlsa(NAME, tlsa(EE), None, SECURE_MX, 'example.org',
                                              SecureLookup(records=['192.0.2.1'], secure=False))
    assert status == 'warn' and 'address records' in summary and '2.2.2' in summary and not usable
    status, _summary, usable = dane.judge_tlsa(NAME, tlsa(EE), None, SECURE_MX, 'example.org',
                                               SecureLookup(records=['192.0.2.1'], secure=True))
    assert status == 'pass' and usable
    assert dane.judge_tlsa(NAME, tlsa(EE), None, SECURE_MX, 'e.org', SecureLookup(error='timeout'))[0] == 'error'


def test_usages_0_and_1_are_ignored_and_warned_about():
    status, summary, usable = dane.judge_tlsa(NAME, tlsa('0 0 1 ' + 'aa' * 32, '1 1 1 ' + 'bb' * 32), None, SECURE_MX, 'e.org')
    assert status == 'warn' and '3.1.3' in summary and not usable
    status, summary, usable = dane.judge_tlsa(NAME, tlsa('1 1 1 ' + 'bb' * 32, EE), None, SECURE_MX, 'e.org')
    assert status == 'warn' and 'ignored' in summary and [record.usage for record in usable] == [3]


def test_rollover():
    records = [_dane.parse_tlsa(text) for text in (EE, EE2, TA)]
    assert dane.judge_rollover(records[:2])[0] == 'pass'
    assert dane.judge_rollover([records[0], records[2]])[0] == 'pass'
    assert dane.judge_rollover(records[:1])[0] == 'warn'


@pytest.mark.parametrize('presented, status', [
    (starttls.Presented(starttls.NOT_OFFERED), 'fail'),
    (starttls.Presented(starttls.HANDSHAKE_FAILED, reason='alert'), 'fail'),
    (starttls.Presented(starttls.REFUSED, reply=reply('454 4.7.0 TLS not available')), 'inconclusive'),
    (starttls.Presented(starttls.REFUSED, reply=reply('502 5.5.1 no')), 'fail'),
    (starttls.Presented(starttls.NO_SESSION, problem=Problem('inconclusive', '421 busy')), 'inconclusive'),
    (starttls.Presented(starttls.NO_SESSION, problem=Problem('error', 'connection refused')), 'error'),
    (starttls.Presented(starttls.UPGRADED, chain=[]), 'fail'),
])
def test_what_the_address_presented(presented, status):
    assert dane.judge_presented(presented, [_dane.parse_tlsa(EE)], ['mx.example.org'])[0] == status


def test_a_matching_leaf_passes():
    der = b'not really a certificate'
    record = _dane.TLSA(3, 0, 1, _dane.association(der, 0, 1))
    status, summary = dane.judge_presented(starttls.Presented(starttls.UPGRADED, chain=[der]), [record], ['mx.example.org'])
    assert status == 'pass' and 'DANE-EE' in summary


def test_unsupported_is_skipped_not_fail(monkeypatch):
    monkeypatch.setattr(_dane, 'CRYPTOGRAPHY_IMPORT_ERROR', 'the Python library cryptography is not installed')
    status, summary = dane.judge_presented(starttls.Presented(starttls.UPGRADED, chain=[b'x']),
                                           [_dane.parse_tlsa(EE)], ['mx.example.org'])
    assert status == 'skipped' and 'cryptography' in summary


def test_without_mx_host_name_or_resolver_nothing_applies():
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='a@a.example', timeout=1.0)
    outcome = asyncio.run(dane.run_dane(Target('example.org', None, '192.0.2.1'), settings))
    assert [(f.rule, f.status, f.applies) for f in outcome.findings] == [
        ('DANE-1', 'skipped', False), ('DANE-2', 'skipped', False), ('DANE-3', 'skipped', False)]


class FakeResolver:
    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    async def secure_lookup(self, name, rdtype):
        self.asked.append((name, rdtype))
        return self.answers.get((name, rdtype), SecureLookup(nxdomain=True, rcode='NXDOMAIN'))

    async def validates(self, name):
        return False


def test_host_scope_jobs_never_mix_mx_host_names():
    targets = [Target('a.example', 'mx.a.example', '192.0.2.1'), Target('b.example', 'MX.b.example.', '192.0.2.1'),
               Target('c.example', 'mx.a.example', '192.0.2.1')]
    jobs = planning.plan({'192.0.2.1': targets}, ['dane'])
    assert sorted([t.domain for t in job.targets] for job in jobs) == [['a.example', 'c.example'], ['b.example']]
    resolver = FakeResolver({('_25._tcp.mx.b.example', 'TLSA'): tlsa(EE, secure=False)})
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='a@a.example', timeout=1.0, resolver=resolver)
    for job in jobs:
        asyncio.run(schedule.run_job(job, settings))
    found = {(f.domain, f.rule): f for job in jobs for f in job.findings}
    assert found[('a.example', 'DANE-1')].status == 'skipped' and found[('c.example', 'DANE-1')].status == 'skipped'
    assert found[('b.example', 'DANE-1')].status == 'inconclusive'
    assert found[('b.example', 'DANE-1')].mx == 'MX.b.example.'
    assert ('_25._tcp.mx.b.example', 'TLSA') in resolver.asked
