# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""From names to targets: which addresses found in DNS are probed, and DNS for many domains at once (no network)."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import MXHost, MXSet, Resolver
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import targets
from ansible_collections.mxaudit.smtp.plugins.module_utils._options import parse


def options(**extra):
    params = {'helo_name': 'audit.example.net', 'resolver': {'nameservers': ['127.0.0.1'], 'port': 9}}
    params.update(extra)
    return parse(params, require_domain=False)


@pytest.mark.parametrize('address, routable', [
    ('192.0.2.1', False), ('198.51.100.7', False), ('10.1.2.3', False), ('172.16.0.1', False), ('192.168.1.1', False),
    ('127.0.0.1', False), ('169.254.10.1', False), ('100.64.0.1', False), ('0.0.0.0', False), ('224.0.0.25', False),
    ('240.0.0.1', False), ('255.255.255.255', False), ('::1', False), ('::', False), ('fe80::1', False),
    ('fc00::25', False), ('2001:db8::25', False), ('ff02::1', False),
    ('::ffff:10.0.0.1', False), ('::ffff:127.0.0.1', False), ('2002:a00:1::1', False), ('2002:7f00:1::1', False),
    ('64:ff9b::a00:1', False), ('64:ff9b::7f00:1', False),
    ('8.8.8.8', True), ('1.1.1.1', True), ('2606:4700::1111', True), ('::ffff:8.8.8.8', True),
    ('2002:808:808::1', True), ('64:ff9b::808:808', True), ('not an address', False),
])
def test_globally_routable(address, routable):
    assert targets.is_globally_routable(address) is routable


def mx_set(*addresses):
    return MXSet('example.org', hosts=[MXHost(10, 'mx.example.org', list(addresses))])


def test_private_addresses_are_not_probed_unless_allowed():
    mx = mx_set('8.8.8.8', '10.0.0.1', '::ffff:192.168.0.1')
    targets.select_addresses(mx, options())
    assert mx.hosts[0].private == ['10.0.0.1', '::ffff:192.168.0.1']
    assert [target.address for target in targets.mx_targets(mx)] == ['8.8.8.8']
    targets.select_addresses(mx, options(allow_private_addresses=True))
    assert mx.hosts[0].private == [] and len(targets.mx_targets(mx)) == 3


def test_addresses_beyond_the_cap_are_not_probed_and_both_families_are_kept():
    v4 = ['8.8.8.%d' % index for index in range(1, 99)]
    mx = mx_set(*(v4 + ['2606:4700::1', '2606:4700::2']))
    targets.select_addresses(mx, options(max_addresses_per_host=4))
    probed = [target.address for target in targets.mx_targets(mx)]
    assert probed == ['8.8.8.1', '8.8.8.2', '2606:4700::1', '2606:4700::2']
    assert len(mx.hosts[0].beyond_cap) == 96 and '8.8.8.3' in mx.hosts[0].beyond_cap


def test_explicit_addresses_are_always_probed():
    opts = options(addresses=['127.0.0.1', '10.0.0.1'])
    result = targets.DomainResult('example.org')
    assert list(targets.targets_by_address([result], opts)) == ['127.0.0.1', '10.0.0.1']


def test_many_domains_are_resolved_by_a_bounded_pool_of_tasks(monkeypatch):
    """Not one task per domain: 40,000 waiting tasks make asyncio's wake-ups scan ever longer queues."""
    alive = []

    async def mx(self, domain):
        alive.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return MXSet(domain, hosts=[MXHost(10, 'mx.example.net', ['8.8.8.8'])])

    monkeypatch.setattr(Resolver, 'mx', mx)
    opts = options(concurrency=20)
    results = [targets.DomainResult('d%d.example' % index) for index in range(5000)]

    async def run():
        await targets.resolve(results, opts, asyncio.get_running_loop().time() + 60)

    asyncio.run(run())
    assert all(result.mx is not None and result.mx.hosts for result in results)
    assert max(alive) <= 20 + 1


def test_the_deadline_leaves_what_is_not_resolved_as_an_error(monkeypatch):
    async def mx(self, domain):
        await asyncio.sleep(0 if domain == 'fast.example' else 30)
        return MXSet(domain)

    monkeypatch.setattr(Resolver, 'mx', mx)
    results = [targets.DomainResult('fast.example'), targets.DomainResult('slow.example')]

    async def run():
        await targets.resolve(results, options(), asyncio.get_running_loop().time() + 0.2)

    asyncio.run(run())
    assert results[0].mx.error is None and 'deadline' in results[1].mx.error


def test_validated_results_are_taken_as_they_are():
    first = targets.domain_results(['Example.ORG', 'bad name', 'example.org'])
    assert list(first) == ['example.org', 'bad name']
    again = targets.domain_results(list(first.values()))
    assert [id(result) for result in again.values()] == [id(result) for result in first.values()]


def test_the_capped_choice_does_not_depend_on_the_order_dns_gave():
    """DNS servers shuffle their answers; a run probes the same addresses as the last one."""
    addresses = ['8.8.8.%d' % index for index in range(1, 50)]
    chosen = set()
    for turn in range(5):
        shuffled = addresses[turn:] + addresses[:turn]
        mx = mx_set(*reversed(shuffled) if turn % 2 else shuffled)
        targets.select_addresses(mx, options(max_addresses_per_host=3))
        chosen.add(tuple(sorted(target.address for target in targets.mx_targets(mx))))
    assert chosen == {('8.8.8.1', '8.8.8.2', '8.8.8.3')}
