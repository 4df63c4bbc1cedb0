# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_checks.starttls.presented against the lab's STARTTLS servers: the certificate an address shows, or why not."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import starttls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings, Target


def fetch(lab, behaviour):
    target = Target(lab.domain(behaviour), 'mx.' + lab.domain(behaviour), lab.address(behaviour))
    settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test', timeout=2.0)
    return asyncio.run(starttls.presented(target, settings))


def test_a_tls_server_presents_its_lab_certificate(lab):
    found = fetch(lab, 'tls_valid')
    assert found.outcome == starttls.UPGRADED, found.why_not()
    assert found.chain and found.version in ('TLSv1.2', 'TLSv1.3') and found.cipher
    if _tls.CRYPTOGRAPHY_IMPORT_ERROR is None:
        facts = _tls.certificate_facts(found.chain[0])
        assert _tls.names_cover(facts, 'mx.' + lab.domain('tls_valid'))
    assert lab.servers['tls_valid'].data_commands == 0


@pytest.mark.parametrize('behaviour, outcome', [
    ('compliant', starttls.NOT_OFFERED),
    ('tls_unavailable', starttls.REFUSED),
    ('tls_handshake_fails', starttls.HANDSHAKE_FAILED),
])
def test_no_certificate_says_why(lab, behaviour, outcome):
    found = fetch(lab, behaviour)
    assert found.outcome == outcome and not found.chain
    assert found.why_not() and found.transcript


def test_the_sni_is_the_mx_host_name(lab):
    server = lab.servers['tls_valid']
    server.options.pop('sni_seen', None)
    fetch(lab, 'tls_valid')
    assert server.options.get('sni_seen') == ['mx.' + lab.domain('tls_valid')]


def test_an_unreachable_address_is_no_session(lab):
    target = Target('closed.lab.test', 'mx.closed.lab.test', '127.0.9.254')
    settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test', timeout=1.0)
    found = asyncio.run(starttls.presented(target, settings))
    assert found.outcome == starttls.NO_SESSION and found.problem is not None


def test_presented_once_opens_one_session_per_host_and_address(lab):
    target = Target(lab.domain('tls_valid'), 'mx.' + lab.domain('tls_valid'), lab.address('tls_valid'))
    settings = ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test', timeout=2.0)

    async def many():
        return await asyncio.gather(*(starttls.presented_once(target, settings) for _index in range(5)))

    before = settings.run.counters['sessions']
    found = asyncio.run(many())
    assert settings.run.counters['sessions'] - before == 1
    assert all(item is found[0] for item in found) and found[0].outcome == starttls.UPGRADED
