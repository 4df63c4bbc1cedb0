# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""MX resolution and the MX rules against the lab DNS server (never the system resolver)."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.mx import judge_mx
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import Resolver


@pytest.fixture
def resolve(lab):
    def mx(domain):
        async def lookup():
            return await Resolver(['127.0.0.1'], lab.dns.port, 1.0).mx(domain)
        result = asyncio.run(lookup())
        return result, judge_mx(result)
    return mx


def verdicts(findings):
    return [(finding.rule, finding.status) for finding in findings]


def test_plain_mx(resolve, lab):
    mx, findings = resolve('compliant.lab.test')
    assert [(host.preference, host.host, host.addresses) for host in mx.hosts] == [
        (10, 'mx.compliant.lab.test', [lab.address('compliant')])]
    assert verdicts(findings) == [('MX-1', 'pass')]


def test_backup_mx_in_preference_order(resolve):
    mx, findings = resolve('backup-mx.lab.test')
    assert [(host.preference, host.host) for host in mx.hosts] == [
        (10, 'mx.compliant.lab.test'), (20, 'mx.relay-denied-all.lab.test')]
    assert verdicts(findings) == [('MX-1', 'pass')]


def test_implicit_mx(resolve):
    mx, findings = resolve('implicit-mx.lab.test')
    assert mx.implicit and [host.addresses for host in mx.hosts] == [['127.0.1.1']]
    assert mx.hosts[0].preference == 0
    assert verdicts(findings) == [('MX-1', 'pass')]
    assert 'implicit MX' in findings[0].summary


def test_null_mx_alone_is_not_probed(resolve):
    mx, findings = resolve('null-mx.lab.test')
    assert mx.null_mx and not mx.hosts
    assert verdicts(findings) == [('MX-2', 'pass')]


def test_null_mx_mixed_with_other_mx_fails(resolve):
    mx, findings = resolve('null-mx-mixed.lab.test')
    assert mx.null_mx_mixed and [host.host for host in mx.hosts] == ['mx.compliant.lab.test']
    assert verdicts(findings) == [('MX-2', 'fail'), ('MX-1', 'pass')]


def test_mx_target_that_is_an_ip_address(resolve):
    findings = resolve('mx-is-ip.lab.test')[1]
    assert verdicts(findings) == [('MX-1', 'fail')]
    assert 'IP address' in findings[0].summary


def test_mx_target_without_address(resolve):
    findings = resolve('mx-no-address.lab.test')[1]
    assert verdicts(findings) == [('MX-1', 'fail')]
    assert 'no A or AAAA' in findings[0].summary


def test_mx_target_that_is_a_cname(resolve):
    mx, findings = resolve('mx-cname.lab.test')
    assert mx.hosts[0].cname == 'mx.compliant.lab.test'
    assert mx.hosts[0].addresses == ['127.0.1.1']
    assert verdicts(findings) == [('MX-1', 'warn')]
    assert findings[0].to_dict()['rfc'] == 'RFC 2181 10.3'


def test_ipv4_and_ipv6_addresses(resolve):
    mx = resolve('ipv6.lab.test')[0]
    assert sorted(mx.hosts[0].addresses) == ['127.0.1.1', '::1']


def test_no_mx_no_address_cannot_receive_mail(resolve):
    mx, findings = resolve('no-mail.lab.test')
    assert mx.implicit and not mx.hosts
    assert verdicts(findings) == [('MX-1', 'warn')]


@pytest.mark.parametrize('domain, words', [
    ('nonexistent.lab.test', 'NXDOMAIN'),
    ('servfail.lab.test', 'SERVFAIL'),
    ('dns-timeout.lab.test', 'timeout'),
])
def test_dns_failures_are_errors_never_fails(resolve, domain, words):
    findings = resolve(domain)[1]
    assert verdicts(findings) == [('MX-1', 'error')]
    assert words in findings[0].summary


def test_shared_hosts_are_resolved_once(lab):
    async def scenario():
        resolver = Resolver(['127.0.0.1'], lab.dns.port, 1.0)
        before = len(lab.dns.queries)
        await asyncio.gather(resolver.mx('compliant.lab.test'), resolver.mx('backup-mx.lab.test'),
                             resolver.mx('null-mx-mixed.lab.test'))
        return lab.dns.queries[before:]

    queries = asyncio.run(scenario())
    host_queries = [query for query in queries if query[0].lower().startswith('mx.compliant.lab.test')]
    assert len(host_queries) == 2  # one A and one AAAA, whatever the number of domains sharing it


# ---------------------------------------------------------------- caps and pacing (issue 9)

from ansible_collections.mxaudit.smtp.plugins.modules import mx_info, postmaster_check  # noqa: E402
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module  # noqa: E402


def many_mx_queries(lab, before):
    return [query for query in lab.dns.queries[before:] if query[0].endswith('.many-mx.lab.test.')]


def test_a_thousand_mx_hosts_are_capped(lab, capsys):
    before = len(lab.dns.queries)
    code, result = run_module(mx_info, {'domain': 'many-mx.lab.test', 'resolver': lab.resolver_options(),
                                        'allow_private_addresses': True}, capsys)
    assert code == 0 and len(result['mx']) == 10
    assert [(f['rule'], f['status']) for f in result['findings']] == [('MX-1', 'pass'), ('MX-1', 'skipped')]
    assert result['findings'][1]['summary'].startswith('990 more MX hosts beyond the first 10 (max_mx_hosts')
    assert 'MX 10 mx0011.many-mx.lab.test' in result['findings'][1]['summary']
    assert len(many_mx_queries(lab, before)) == 20  # A and AAAA of ten hosts, not of a thousand


def test_a_thousand_mx_hosts_resolve_without_timeouts_when_paced(lab):
    """Uncapped, 2,000 queries: paced by the Resolver, none is lost (at once, most time out)."""
    async def lookup():
        return await Resolver(['127.0.0.1'], lab.dns.port, 1.0).mx('many-mx.lab.test')

    mx = asyncio.run(lookup())
    assert len(mx.hosts) == 1000
    assert [host.host for host in mx.hosts if host.errors or host.addresses != ['127.0.1.1']] == []


def test_a_host_with_a_hundred_addresses_gets_the_capped_number_of_probes(lab, capsys):
    server = lab.servers['compliant']
    before = server.connections
    args = lab.module_args(domain='many-addresses.lab.test', max_addresses_per_host=1)
    code, result = run_module(postmaster_check, args, capsys)
    assert code == 0
    assert sorted({f['address'] for f in result['findings'] if f['address']}) == ['127.0.1.1']
    skipped = [f for f in result['findings'] if f['rule'] == 'MX-1' and f['status'] == 'skipped']
    assert len(skipped) == 1 and '99 of its 100 addresses were not probed' in skipped[0]['summary']
    assert server.connections > before


# ---------------------------------------------------------------- addresses inside this network (issue 9)

def test_an_mx_at_loopback_is_a_warning_and_not_probed(lab, capsys):
    server = lab.servers['compliant']
    before = server.connections
    args = lab.module_args(domain='compliant.lab.test', allow_private_addresses=False)
    code, result = run_module(postmaster_check, args, capsys)
    assert code == 0
    assert [(f['rule'], f['status']) for f in result['findings']] == [('MX-1', 'warn')]
    summary = result['findings'][0]['summary']
    assert 'its address 127.0.1.1 is not globally routable' in summary and 'allow_private_addresses' in summary
    assert server.connections == before


def test_mx_info_warns_of_a_private_mx_by_default(lab, capsys):
    code, result = run_module(mx_info, {'domain': 'compliant.lab.test', 'resolver': lab.resolver_options()}, capsys)
    assert code == 0 and [(f['rule'], f['status']) for f in result['findings']] == [('MX-1', 'warn')]
    assert result['compliant'] is True  # a warning, not a failed MUST


def test_explicit_addresses_are_probed_even_when_private(lab, capsys):
    server = lab.servers['compliant']
    before = server.connections
    args = lab.module_args(domain='compliant.lab.test', addresses=[lab.address('compliant')],
                           allow_private_addresses=False)
    code, result = run_module(postmaster_check, args, capsys)
    assert code == 0 and {f['status'] for f in result['findings']} == {'pass'}
    assert server.connections > before
