# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""STS-1..3 and RPT-1: the TXT records, the policy, the mx patterns and the HTTP reader, without a network."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import mta_sts, starttls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS, DOMAIN
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import Lookup, MXHost, MXSet
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings

VALID_POLICY = b'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmx: *.example.net\r\nmax_age: 86400\r\n'


def test_registered_as_a_domain_check_with_a_fetch():
    check = CHECKS['mta_sts']
    assert check.scope == DOMAIN and check.fetch is mta_sts.check_domain_outcome and check.judge is None
    assert check.rules == ('STS-1', 'STS-2', 'STS-3', 'RPT-1')


# ---------------------------------------------------------------- TXT

@pytest.mark.parametrize('rdata, text', [
    ('"v=STSv1; id=20240101"', 'v=STSv1; id=20240101'),
    ('"v=STSv1; " "id=1"', 'v=STSv1; id=1'),
    ('"a\\"b\\\\c"', 'a"b\\c'),
    ('"x\\059y"', 'x;y'),
])
def test_txt_presentation_form_is_unquoted_and_joined(rdata, text):
    assert mta_sts.txt_text(rdata) == text


@pytest.mark.parametrize('text, record_id', [
    ('v=STSv1; id=20160831085700Z', '20160831085700Z'),
    ('v=STSv1;id=a', 'a'),
    ('v=STSv1 ; id=abc;', 'abc'),
    ('v=STSv1; id=abc; ext_1=value', 'abc'),
    ('v=STSv1; id=' + 'a' * 32, 'a' * 32),
])
def test_valid_sts_records(text, record_id):
    assert mta_sts.parse_sts_record(text) == (record_id, None)


@pytest.mark.parametrize('text', [
    'v=STSv1', 'v=STSv1;', 'v=STSv1; id=', 'v=STSv1; id=' + 'a' * 33, 'v=STSv1; id=abc-def', 'v=STSv1; id=abc;;',
    'v=STSv1 id=abc', 'v=STSv1; id=a; bad', 'v=STSv1; id=a; =x', 'v=stsv1; id=a',
])
def test_invalid_sts_records(text):
    record_id, problem = mta_sts.parse_sts_record(text)
    assert record_id is None and problem


def test_an_unrelated_txt_record_beside_the_sts_record_is_ignored():
    status, summary, record_id = mta_sts.judge_sts_record(['v=spf1 -all', 'v=STSv1; id=abc', 'google-site-verification=x'])
    assert status == 'pass' and record_id == 'abc' and '2 other TXT records ignored' in summary


def test_two_sts_records_fail():
    status, summary, _id = mta_sts.judge_sts_record(['v=STSv1; id=a', 'v=STSv1; id=b'])
    assert status == 'fail' and '2 TXT records begin with v=STSv1' in summary


def test_v_stsv10_is_not_an_sts_record():
    assert mta_sts.sts_candidates(['v=STSv10; id=a', 'v=STSv1x', 'x v=STSv1; id=a']) == []


@pytest.mark.parametrize('text, uris', [
    ('v=TLSRPTv1; rua=mailto:tlsrpt@example.org', ['mailto:tlsrpt@example.org']),
    ('v=TLSRPTv1;rua=mailto:a@example.org,https://reports.example.org/tlsrpt',
     ['mailto:a@example.org', 'https://reports.example.org/tlsrpt']),
    ('v=TLSRPTv1; rua=https://r.example.org/x;', ['https://r.example.org/x']),
])
def test_valid_tlsrpt_records(text, uris):
    assert mta_sts.parse_tlsrpt_record(text) == (uris, None)


@pytest.mark.parametrize('text', [
    'v=TLSRPTv1', 'v=TLSRPTv1;', 'v=TLSRPTv1; rua=', 'v=TLSRPTv1; rua=http://r.example.org/', 'v=TLSRPTv1; rua=tlsrpt@example.org',
    'v=TLSRPTv1; rua=mailto:a@b.org; rua=mailto:c@d.org', 'v=TLSRPTv1 rua=mailto:a@b.org',
])
def test_invalid_tlsrpt_records(text):
    uris, problem = mta_sts.parse_tlsrpt_record(text)
    assert uris == [] and problem


def test_tlsrpt_absent_is_not_applicable_unless_a_policy_is_published():
    assert mta_sts.judge_tlsrpt(['v=spf1 -all'], [])[0::2] == ('skipped', False)
    status, summary, applies = mta_sts.judge_tlsrpt([], ['MTA-STS'])
    assert status == 'warn' and applies and 'MTA-STS' in summary
    assert mta_sts.judge_tlsrpt([], ['DANE'])[0] == 'warn'
    assert mta_sts.judge_tlsrpt(['v=TLSRPTv1; rua=mailto:x'], [])[0] == 'fail'
    assert mta_sts.judge_tlsrpt(['v=TLSRPTv1; rua=mailto:a@b.org', 'v=spf1 -all'], [])[0] == 'pass'


# ---------------------------------------------------------------- the policy

def test_a_valid_policy():
    policy = mta_sts.parse_policy(VALID_POLICY)
    assert policy.valid, policy.errors
    assert (policy.version, policy.mode, policy.max_age, policy.mx) == ('STSv1', 'enforce', 86400, ['mx1.example.org', '*.example.net'])


def test_lf_line_ends_and_unknown_fields_are_accepted():
    policy = mta_sts.parse_policy(b'version: STSv1\nmode: testing\nmx: a.example\nmax_age: 0\nfuture_ext: anything\n')
    assert policy.valid, policy.errors


@pytest.mark.parametrize('body, problem', [
    (b'mode: enforce\nmx: a.example\nmax_age: 1\n', 'version is missing'),
    (b'version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n', 'not STSv1'),
    (b'version: STSv1\nmode: on\nmx: a.example\nmax_age: 1\n', 'not enforce'),
    (b'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n', 'over 31557600'),
    (b'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n', 'not a number'),
    (b'version: STSv1\nmode: enforce\nmx: a.example\n', 'max_age is missing'),
    (b'version: STSv1\nmode: enforce\nmax_age: 1\n', 'no mx pattern'),
    (b'version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n', 'not a host name'),
    (b'version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\ngarbage\n', 'not "key: value"'),
    (b'<html><body>Not found</body></html>', 'not "key: value"'),
    ('version: STSv1\nmode: enforce\nmx: \u00e9.example\nmax_age: 1\n'.encode('utf-8'), 'not ASCII'),
])
def test_invalid_policies(body, problem):
    policy = mta_sts.parse_policy(body)
    assert not policy.valid and any(problem in error for error in policy.errors), policy.errors


def test_mode_none_needs_no_mx():
    assert mta_sts.parse_policy(b'version: STSv1\nmode: none\nmax_age: 86400\n').valid


# ---------------------------------------------------------------- mx patterns

@pytest.mark.parametrize('pattern, host, matches', [
    ('mx1.example.org', 'mx1.example.org', True),
    ('mx1.example.org', 'MX1.Example.Org.', True),
    ('mx1.example.org', 'mx2.example.org', False),
    ('*.example.test', 'mail.example.test', True),
    ('*.example.test', 'a.b.example.test', False),     # one label only: the peers' mistake
    ('*.example.test', 'example.test', False),
    ('*.example.test', '.example.test', False),
    ('*.example.test', 'mail.example.test.', True),
    ('*.example.test', 'mail.otherexample.test', False),
    ('example.test', 'mail.example.test', False),
])
def test_mx_pattern_matching(pattern, host, matches):
    assert mta_sts.mx_matches(pattern, host) is matches


# ---------------------------------------------------------------- HTTP, hostile inputs

def read(data: bytes, eof: bool = True, cap: int = mta_sts.MAX_POLICY_BYTES) -> mta_sts.Response:
    async def go():
        reader = asyncio.StreamReader(limit=mta_sts.MAX_LINE_BYTES)
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        return await mta_sts.read_response(reader, cap)
    return asyncio.run(go())


def test_a_plain_response_with_content_length():
    response = read(b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloEXTRA')
    assert (response.status, response.body, response.header('content-type'), response.too_large) == (
        200, b'hello', 'text/plain', False)


def test_a_response_read_to_eof():
    assert read(b'HTTP/1.0 200 OK\r\n\r\nversion: STSv1\n').body == b'version: STSv1\n'


def test_a_chunked_response_is_decoded():
    response = read(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n')
    assert response.body == b'hello world' and not response.too_large


def test_a_body_over_the_cap_is_flagged_not_read_on():
    assert read(b'HTTP/1.1 200 OK\r\n\r\n' + b'a' * 200, cap=100).too_large
    assert read(b'HTTP/1.1 200 OK\r\nContent-Length: 65537\r\n\r\n', eof=False).too_large
    assert read(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n', eof=False).too_large
    assert read(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n' + b'a' * 64 + b'\r\n40\r\n', cap=100).too_large


def test_a_redirect_is_returned_with_its_location_and_not_followed():
    response = read(b'HTTP/1.1 301 Moved\r\nLocation: https://elsewhere.example/policy\r\n\r\n', eof=False)
    verdict = mta_sts.judge_response(response, 'mta-sts.example.org')
    assert verdict.status == 'fail' and 'https://elsewhere.example/policy' in verdict.summary and '3.3' in verdict.summary


@pytest.mark.parametrize('data, problem', [
    (b'SSH-2.0-OpenSSH\r\n\r\n', 'not an HTTP/1.x status line'),
    (b'HTTP/1.1 200 OK\r\n' + b'X-A: b\r\n' * 70 + b'\r\n', 'more than 64 headers'),
    (b'HTTP/1.1 200 OK\r\nX: ' + b'a' * 9000 + b'\r\n\r\n', 'longer than'),
    (b'HTTP/1.1 200 OK\r\n' + (b'X-A: ' + b'a' * 4000 + b'\r\n') * 5 + b'\r\n', 'over 16384 bytes'),
    (b'HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n', 'folding'),
    (b'HTTP/1.1 200 OK\r\nbad header\r\n\r\n', 'malformed header'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 'not supported'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n', 'both'),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 'invalid Content-Length'),
    (b'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', 'invalid Content-Length'),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', 'closed after 5 of 10'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'malformed chunk size'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX', 'does not end with CRLF'),
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe', 'closed inside a chunk'),
    (b'HTTP/1.1 100 Continue\r\n\r\n', 'interim'),
    (b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n', 'closed in the header'),
])
def test_hostile_responses_are_refused_with_a_reason(data, problem):
    with pytest.raises(mta_sts.HTTPError, match=problem):
        read(data)


def test_response_judgements():
    ok = mta_sts.Response(200, 'OK', [('content-type', 'text/plain; charset=utf-8')], VALID_POLICY)
    assert mta_sts.judge_response(ok, 'mta-sts.example.org').status == 'pass'
    html = mta_sts.Response(200, 'OK', [('content-type', 'text/html')], VALID_POLICY)
    verdict = mta_sts.judge_response(html, 'mta-sts.example.org')
    assert verdict.status == 'warn' and 'text/html' in verdict.summary and verdict.policy.valid
    assert mta_sts.judge_response(mta_sts.Response(404, 'Not Found', []), 'h').status == 'fail'
    big = mta_sts.Response(200, 'OK', [('content-type', 'text/plain')], b'', too_large=True)
    assert 'over 65536 bytes' in mta_sts.judge_response(big, 'h').summary


def test_the_request_names_the_host_and_asks_for_no_keep_alive():
    assert mta_sts.request('mta-sts.example.org').startswith(
        b'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.org\r\n')
    assert b'Connection: close\r\n\r\n' in mta_sts.request('x')


# ---------------------------------------------------------------- STS-3 judgements

def presented(outcome, **fields):
    return starttls.Presented(outcome, **fields)


def test_starttls_outcomes_in_enforce_and_testing_mode():
    now = None
    missing = presented(starttls.NOT_OFFERED)
    assert mta_sts.judge_presented(missing, 'mx.example.org', 'enforce', [], None, now)[0] == 'fail'
    assert mta_sts.judge_presented(missing, 'mx.example.org', 'testing', [], None, now)[0] == 'warn'
    failed = presented(starttls.HANDSHAKE_FAILED, reason='bad')
    assert mta_sts.judge_presented(failed, 'mx.example.org', 'enforce', [], None, now)[0] == 'fail'


# ---------------------------------------------------------------- the domain, with a fake resolver

class FakeResolver:
    def __init__(self, records):
        self.records = records
        self.asked = []

    async def lookup(self, name, rdtype):
        self.asked.append((name, rdtype))
        found = self.records.get((name.rstrip('.'), rdtype))
        if isinstance(found, str):
            return Lookup(error=found)
        return Lookup(records=found or [], nxdomain=found is None)

    async def addresses(self, host):
        return MXHost(0, host, addresses=list(self.records.get((host, 'A'), [])))


def run_domain(records, hosts=('mx.example.org',)):
    mxset = MXSet('example.org', hosts=[MXHost(10, host, addresses=['192.0.2.1']) for host in hosts])
    resolver = FakeResolver(records)
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='', timeout=1.0, resolver=resolver)
    return asyncio.run(mta_sts.check_domain(mxset, settings)), resolver


def test_a_domain_without_records_is_not_applicable_and_asks_little():
    found, resolver = run_domain({})
    assert [(f.rule, f.status, f.applies) for f in found] == [
        ('STS-1', 'skipped', False), ('STS-2', 'skipped', False), ('STS-3', 'skipped', False), ('RPT-1', 'skipped', False)]
    # One TXT query per domain; the TLSA of its MX hosts is cached per run (shared by every domain they serve).
    assert sorted(resolver.asked) == [('_25._tcp.mx.example.org', 'TLSA'), ('_mta-sts.example.org', 'TXT')]


def test_a_tlsrpt_record_with_mta_sts_is_judged():
    found, resolver = run_domain({('_mta-sts.example.org', 'TXT'): ['"v=STSv1; id=1"'],
                                  ('_smtp._tls.example.org', 'TXT'): ['"v=TLSRPTv1; rua=mailto:r@example.org"']})
    assert {f.rule: f.status for f in found}['RPT-1'] == 'pass'
    assert ('_25._tcp.mx.example.org', 'TLSA') not in resolver.asked


def test_dane_published_without_tlsrpt_warns():
    found, _resolver = run_domain({('_25._tcp.mx.example.org', 'TLSA'): ['3 1 1 ' + 'ab' * 32]})
    rpt = [f for f in found if f.rule == 'RPT-1'][0]
    assert rpt.status == 'warn' and 'DANE' in rpt.summary


def test_dane_published_with_a_bad_tlsrpt_fails():
    found, _resolver = run_domain({('_25._tcp.mx.example.org', 'TLSA'): ['3 1 1 ' + 'ab' * 32],
                                   ('_smtp._tls.example.org', 'TXT'): ['"v=TLSRPTv1; rua=ftp://x"']})
    assert {f.rule: f.status for f in found}['RPT-1'] == 'fail'


def test_an_sts_lookup_failure_is_an_error_not_a_skip():
    found, _resolver = run_domain({('_mta-sts.example.org', 'TXT'): 'SERVFAIL'})
    assert {f.rule: f.status for f in found}['STS-1'] == 'error'


def test_a_policy_host_without_address_fails_sts2():
    found, _resolver = run_domain({('_mta-sts.example.org', 'TXT'): ['"v=STSv1; id=1"']})
    statuses = {f.rule: f.status for f in found}
    assert statuses['STS-1'] == 'pass' and statuses['STS-2'] == 'fail' and statuses['STS-3'] == 'skipped'
    assert statuses['RPT-1'] == 'warn'


def test_null_mx_is_not_applicable():
    mxset = MXSet('example.org', null_mx=True)
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='', timeout=1.0, resolver=FakeResolver({}))
    found = asyncio.run(mta_sts.check_domain(mxset, settings))
    assert {(f.status, f.applies) for f in found} == {('skipped', False)}
