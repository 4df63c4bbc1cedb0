# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ID-1 and ID-2: reverse DNS and the server's own name, judged from lookups."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import Lookup
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import identity
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS, SERVER

ADDRESS = '192.0.2.25'


def test_registered_on_the_shared_server_session():
    check = CHECKS['identity']
    assert check.scope == SERVER and check.shares == 'server' and check.rules == ('ID-1', 'ID-2')


def test_forward_confirmed_reverse_dns_passes():
    ptr = Lookup(records=['mx.example.org.'])
    assert identity.judge_fcrdns(ADDRESS, ptr, {'mx.example.org': [ADDRESS]}, [])[0] == 'pass'


def test_a_ptr_that_does_not_resolve_back_warns():
    ptr = Lookup(records=['host.elsewhere.example.'])
    status, summary = identity.judge_fcrdns(ADDRESS, ptr, {'host.elsewhere.example': ['198.51.100.1']}, [])
    assert status == 'warn' and 'not forward-confirmed' in summary and '198.51.100.1' in summary


@pytest.mark.parametrize('ptr', [Lookup(nxdomain=True), Lookup(records=[])])
def test_no_ptr_warns(ptr):
    assert identity.judge_fcrdns(ADDRESS, ptr, {}, [])[0] == 'warn'


def test_a_dns_failure_is_an_error_not_a_warning():
    assert identity.judge_fcrdns(ADDRESS, Lookup(error='timeout'), {}, [])[0] == 'error'
    ptr = Lookup(records=['mx.example.org.'])
    assert identity.judge_fcrdns(ADDRESS, ptr, {'mx.example.org': []}, ['SERVFAIL'])[0] == 'error'


def test_ipv6_addresses_compare_by_value():
    ptr = Lookup(records=['mx.example.org.'])
    assert identity.judge_fcrdns('2001:db8::25', ptr, {'mx.example.org': ['2001:DB8:0:0::25']}, [])[0] == 'pass'


@pytest.mark.parametrize('name, addresses, error, status', [
    ('mx.example.org', [ADDRESS], None, 'pass'),
    ('mx.example.org', ['198.51.100.1'], None, 'warn'),
    ('mx.example.org', [], None, 'warn'),
    ('localhost', None, None, 'warn'),
    (None, None, None, 'warn'),
    ('mx.example.org', [], 'SERVFAIL', 'error'),
])
def test_the_greeting_name(name, addresses, error, status):
    assert identity.judge_banner_name(name, ADDRESS, addresses, error)[0] == status
