# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The check registry: one table, consistent with the catalogue, the options and the modules."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import registry
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings
from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import CATALOGUE, Finding
from ansible_collections.mxaudit.smtp.plugins.modules import audit


def test_every_rule_belongs_to_exactly_the_check_that_lists_it():
    listed = [rule for check in registry.REGISTRY for rule in check.rules]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(CATALOGUE)
    for check in registry.REGISTRY:
        for rule in check.rules:
            assert CATALOGUE[rule].check == check.id


def test_a_finding_names_a_check_the_checks_option_accepts():
    spec = audit.DOCUMENTATION
    for rule in CATALOGUE:
        check = Finding(rule=rule, status='pass', summary='x').check
        assert check in registry.CHECK_IDS
        assert check in spec


@pytest.mark.parametrize('check', registry.REGISTRY, ids=lambda check: check.id)
def test_each_check_declares_one_way_to_be_probed(check):
    ways = [way for way in (check.judge, check.fetch, check.run, check.probe) if way is not None]
    assert len(ways) == 1
    if check.scope == registry.DOMAIN:
        assert check.judge is not None or check.fetch is not None
    elif check.scope == registry.HOST:
        assert check.run is not None and check.shares is None  # called per domain; shares what it fetches itself
    else:
        assert check.scope in (registry.SERVER, registry.MAILBOX)
        assert (check.probe is not None) == (check.shares is not None)


def test_checks_that_share_a_session_share_a_scope():
    scopes = {}
    for check in registry.REGISTRY:
        if check.shares:
            assert scopes.setdefault(check.shares, check.scope) == check.scope


def test_aliases_resolve_and_order_is_the_registry_s():
    assert registry.resolve(['pipelining', 'greeting', 'ehlo', 'domain_acceptance', 'mx']) == (
        'mx', 'session', 'postmaster', 'pipelining')
    with pytest.raises(ValueError, match='nope'):
        registry.resolve(['relay', 'nope'])


def test_rules_that_depend_on_an_option():
    relay = registry.CHECKS['relay']
    settings = ProbeSettings(port=25, helo_name='a.example', mail_from='a@a.example', timeout=1)
    assert relay.active_rules(settings) == ('RL-1', 'RL-2')
    settings.relay_variants = False
    assert relay.active_rules(settings) == ('RL-1',)
