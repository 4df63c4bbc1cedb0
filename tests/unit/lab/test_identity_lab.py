# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The identity check against the lab: PTR records in the lab DNS, greeting names of the lab servers."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import Resolver
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import identity
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSession, ProbeSettings, Target


def probe(lab, behaviour, with_resolver=True):
    async def run():
        target = Target(lab.domain(behaviour), 'mx.' + lab.domain(behaviour), lab.address(behaviour))
        settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test',
                                 timeout=2.0)
        if with_resolver:
            settings.resolver = Resolver(['127.0.0.1'], lab.dns.port, 1.0)
        session = ProbeSession(target, settings)
        try:
            assert await session.open()
            return await identity.probe_identity(session, target)
        finally:
            await session.close()
    return {finding.rule: finding for finding in asyncio.run(run())}


@pytest.mark.parametrize('behaviour, expected', [
    ('compliant', {'ID-1': 'pass', 'ID-2': 'pass'}),
    ('identity_ptr_mismatch', {'ID-1': 'warn', 'ID-2': 'pass'}),
    ('identity_no_ptr', {'ID-1': 'warn', 'ID-2': 'pass'}),
    ('identity_bare_name', {'ID-1': 'pass', 'ID-2': 'warn'}),
])
def test_each_server_gets_its_verdicts(lab, behaviour, expected):
    found = probe(lab, behaviour)
    assert {rule: f.status for rule, f in found.items()} == expected, {rule: f.summary for rule, f in found.items()}


def test_the_lab_dns_serves_ptr(lab):
    lookup = asyncio.run(Resolver(['127.0.0.1'], lab.dns.port, 1.0).ptr(lab.address('compliant')))
    assert lookup.records == ['mx.compliant.lab.test.']


def test_without_a_resolver_nothing_is_judged(lab):
    found = probe(lab, 'compliant', with_resolver=False)
    assert {f.status for f in found.values()} == {'skipped'}
