# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The records of the dane and mta_sts checks (the reports' DANE and MTA-STS section): facts, capped, carried to the result."""

from __future__ import annotations

import asyncio
import dataclasses

from ansible_collections.mxaudit.smtp.plugins.module_utils import _dane
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import dane, mta_sts, starttls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import CheckOutcome, ProbeSettings, Target
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import MXHost, MXSet, SecureLookup
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import domains, results, schedule
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import plan as planning
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.schedule import Caps
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.targets import DomainResult
from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import Finding

from .test_dane import EE, SECURE_MX, FakeResolver as DaneResolver, tlsa
from .test_mta_sts import run_domain

TARGET = Target('example.org', 'mx.example.org', '192.0.2.1')


def dane_settings(answers):
    return ProbeSettings(port=25, helo_name='a.example', mail_from='a@a.example', timeout=1.0, resolver=DaneResolver(answers))


# ---------------------------------------------------------------- dane


def test_no_tlsa_gives_a_minimal_entry():
    outcome = asyncio.run(dane.run_dane(TARGET, dane_settings({})))
    assert outcome.record.to_dict(TARGET) == {'mx': 'mx.example.org', 'address': '192.0.2.1', 'published': False,
                                              'dnssec': 'unknown'}


def test_the_dnssec_status_of_a_tlsa_answer():
    assert dane.dnssec_status(tlsa(EE), None) == 'secure'
    assert dane.dnssec_status(tlsa(EE, secure=False), True) == 'insecure'
    assert dane.dnssec_status(tlsa(EE, secure=False), False) == 'unknown'
    assert dane.dnssec_status(tlsa(EE, secure=False), None) == 'unknown'
    assert dane.dnssec_status(SecureLookup(records=[EE], bogus=True), None) == 'bogus'
    assert dane.dnssec_status(SecureLookup(error='timeout'), None) == 'unknown'


def test_insecure_tlsa_records_are_listed_as_text_and_nothing_matched():
    outcome = asyncio.run(dane.run_dane(TARGET, dane_settings({('_25._tcp.mx.example.org', 'TLSA'): tlsa(EE, secure=False)})))
    entry = outcome.record.to_dict(TARGET)
    assert entry['published'] is True and entry['dnssec'] == 'unknown' and entry['matched'] is None
    assert entry['tlsa'] == ['3 1 1 abababababab...'] and entry['tlsa_total'] == 1


def test_tlsa_records_are_capped_in_number_and_length():
    records = ['3 1 1 %064x' % index for index in range(30)] + ['x' * 1000]
    record = dane.make_record(tlsa(*records), None)
    assert len(record.tlsa) == dane.RECORD_TLSA and record.tlsa_total == 31
    long = dane.make_record(tlsa('x' * 1000), None)
    assert len(long.tlsa[0]) == dane.RECORD_TEXT_CHARS and long.tlsa[0].endswith('...')


def test_the_matching_record_is_named(monkeypatch):
    der = b'not really a certificate'
    record = _dane.TLSA(3, 0, 1, _dane.association(der, 0, 1))
    other = '3 0 1 ' + 'cd' * 32  # selector 0 too: this chain is no certificate to take a key from
    answers = {('_25._tcp.mx.example.org', 'TLSA'): tlsa(other, '3 0 1 ' + record.data.hex()),
               ('example.org', 'MX'): SECURE_MX, ('mx.example.org', 'A'): tlsa('192.0.2.1')}

    async def presented(_target, _settings):
        return starttls.Presented(starttls.UPGRADED, chain=[der])
    monkeypatch.setattr(starttls, 'presented_once', presented)
    outcome = asyncio.run(dane.run_dane(TARGET, dane_settings(answers)))
    entry = outcome.record.to_dict(TARGET)
    assert {f.rule: f.status for f in outcome.findings}['DANE-2'] == 'pass'
    assert entry['dnssec'] == 'secure' and entry['matched'] == record.text() and len(entry['tlsa']) == 2


def test_host_scope_jobs_keep_a_record_per_target_and_a_retry_replaces_them():
    targets = [Target('a.example', 'mx.a.example', '192.0.2.1'), Target('c.example', 'mx.a.example', '192.0.2.1')]
    job = planning.plan({'192.0.2.1': targets}, ['dane'])[0]
    settings = dane_settings({})
    asyncio.run(schedule.run_job(job, settings))
    asyncio.run(schedule.run_job(job, settings))
    assert [target.domain for target, _record in job.target_records] == ['a.example', 'c.example']


def test_domain_dict_has_dane_only_when_the_check_ran():
    result = DomainResult('example.org', mx=MXSet('example.org', hosts=[MXHost(10, 'mx.example.org', addresses=['192.0.2.1'])]))
    result.records['dane'] = [(TARGET, dane.DaneRecord())]
    assert results.domain_dict(result, 'none', ['dane'])['dane'] == [
        {'mx': 'mx.example.org', 'address': '192.0.2.1', 'published': False, 'dnssec': 'unknown'}]
    assert 'dane' not in results.domain_dict(result, 'none', ['mx'])
    assert 'mta_sts' not in results.domain_dict(result, 'none', ['mta_sts'])  # looked nothing up: absent


# ---------------------------------------------------------------- mta_sts


def run_outcome(records):
    mxset = MXSet('example.org', hosts=[MXHost(10, 'mx.example.org', addresses=['192.0.2.1'])])
    _found, resolver = run_domain(records)
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='', timeout=1.0, resolver=resolver)
    return asyncio.run(mta_sts.check_domain_outcome(mxset, settings))


def test_nothing_published_is_one_field():
    outcome = run_outcome({})
    assert isinstance(outcome, CheckOutcome) and outcome.record.to_dict() == {'published': False}


def test_dane_published_looks_up_tlsrpt_and_records_the_rua():
    outcome = run_outcome({('_25._tcp.mx.example.org', 'TLSA'): [EE],
                           ('_smtp._tls.example.org', 'TXT'): ['"v=TLSRPTv1; rua=mailto:r@example.org,https://r.example.org/x"']})
    assert outcome.record.to_dict() == {'published': False, 'rua': ['mailto:r@example.org', 'https://r.example.org/x'],
                                        'rua_total': 2}


def test_a_published_record_without_a_policy_host():
    outcome = run_outcome({('_mta-sts.example.org', 'TXT'): ['"v=STSv1; id=20250101"']})
    assert outcome.record.to_dict() == {'published': True, 'id': '20250101', 'fetched': False, 'mode': None, 'max_age': None,
                                        'mx': [], 'mx_total': 0, 'rua': [], 'rua_total': 0}


def test_an_invalid_record_has_no_id_and_a_failed_lookup_is_unknown():
    assert run_outcome({('_mta-sts.example.org', 'TXT'): ['"v=STSv1; id=no-dashes"']}).record.id is None
    assert run_outcome({('_mta-sts.example.org', 'TXT'): 'SERVFAIL'}).record.published is None


def test_the_policy_fields_are_capped():
    record = mta_sts.StsRecord(published=True)
    policy = mta_sts.parse_policy(('version: STSv1\nmode: enforce\nmax_age: 86400\n'
                                   + ''.join('mx: mx%d.example.org\n' % index for index in range(50))).encode())
    record.learn_policy(policy)
    record.learn_rua(['mailto:%s@example.org' % ('r' * 400)] * 30)
    data = record.to_dict()
    assert data['fetched'] is True and data['mode'] == 'enforce' and data['max_age'] == 86400
    assert len(data['mx']) == mta_sts.RECORD_LIST and data['mx_total'] == 50 and data['mx'][0] == 'mx0.example.org'
    assert len(data['rua']) == mta_sts.RECORD_LIST and data['rua_total'] == 30
    assert len(data['rua'][0]) == mta_sts.RECORD_TEXT_CHARS and data['rua'][0].endswith('...')


def test_the_fetch_path_keeps_a_record_and_plain_findings_still_work():
    record = mta_sts.StsRecord(published=True, id='1')

    async def with_record(mxset, _settings):
        return CheckOutcome([Finding('STS-1', 'pass', 'ok', domain=mxset.domain)], record)

    async def plain(mxset, _settings):
        return [Finding('STS-1', 'pass', 'ok', domain=mxset.domain)]

    for fetch, expected in ((with_record, [(None, record)]), (plain, None)):
        check = dataclasses.replace(domains.CHECKS['mta_sts'], fetch=fetch)
        result = DomainResult('example.org', mx=MXSet('example.org'))

        async def go():
            loop = asyncio.get_running_loop()
            settings = ProbeSettings(port=25, helo_name='a.example', mail_from='', timeout=1.0)
            original = domains.fetching_checks
            domains.fetching_checks = lambda _ids: [check]
            try:
                await domains.run_fetches([result], ['mta_sts'], settings, Caps(1, 1, loop.time() + 5, 5.0))
            finally:
                domains.fetching_checks = original
        asyncio.run(go())
        assert [f.rule for f in result.findings] == ['STS-1']
        assert result.records.get('mta_sts') == expected
    assert results.domain_dict(result, 'none', ['mta_sts']).get('mta_sts') is None
    result.records['mta_sts'] = [(None, record)]
    assert results.domain_dict(result, 'none', ['mta_sts'])['mta_sts']['id'] == '1'
