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
