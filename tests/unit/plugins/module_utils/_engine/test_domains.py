# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The DOMAIN checks that fetch: once per resolved domain, capped, and inconclusive - never pass - at the deadline."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import MXSet
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import domains
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.schedule import Caps
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.targets import DomainResult
from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import Finding


def run(check, results, deadline_in, concurrency=2):
    async def go():
        loop = asyncio.get_running_loop()
        caps = Caps(concurrency, 1, loop.time() + deadline_in, 5.0)
        settings = ProbeSettings(port=25, helo_name='a.example', mail_from='', timeout=1.0)
        await domains.run_fetches(results, ['mx', 'mta_sts'], settings, caps)
    original = domains.fetching_checks
    domains.fetching_checks = lambda _ids: [check]
    try:
        asyncio.run(go())
    finally:
        domains.fetching_checks = original


def results(count=3):
    return [DomainResult('d%d.example' % index, mx=MXSet('d%d.example' % index)) for index in range(count)]


def test_the_fetching_checks_are_the_domain_checks_with_a_fetch():
    assert [check.id for check in domains.fetching_checks(['mx', 'tls', 'mta_sts'])] == ['mta_sts']


def test_each_resolved_domain_is_fetched_once_at_most_concurrency_at_once():
    running, most, seen = [0], [0], []

    async def fetch(mxset, _settings):
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.01)
        running[0] -= 1
        seen.append(mxset.domain)
        return [Finding('STS-1', 'pass', 'ok', domain=mxset.domain)]

    check = dataclasses.replace(CHECKS['mta_sts'], fetch=fetch)
    items = results(5) + [DomainResult('bad', invalid='not a name'), DomainResult('unresolved.example')]
    run(check, items, 5.0)
    assert sorted(seen) == ['d%d.example' % index for index in range(5)] and most[0] == 2
    assert [len(item.findings) for item in items] == [1, 1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize('deadline_in', [-1.0, 0.05])
def test_a_domain_the_deadline_cuts_off_is_inconclusive_for_every_rule(deadline_in):
    async def fetch(mxset, _settings):
        await asyncio.sleep(10)
        return [Finding('STS-1', 'pass', 'too late', domain=mxset.domain)]

    check = dataclasses.replace(CHECKS['mta_sts'], fetch=fetch)
    items = results(2)
    run(check, items, deadline_in)
    for item in items:
        assert [(f.rule, f.status) for f in item.findings] == [(rule, 'inconclusive') for rule in check.rules]
        assert 'deadline of 5 s' in item.findings[0].summary
