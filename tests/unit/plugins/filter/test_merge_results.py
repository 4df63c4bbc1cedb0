# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""merge_results: several vantage points in, one result of the audit module's shape out."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule
from ansible_collections.mxaudit.smtp.plugins.module_utils._report import merge_results

from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import audit_result, compliant_domain, no_postmaster_domain

merge = FilterModule().filters()['merge_results']


def test_sharded_domains_appear_once_with_their_vantage_point():
    eu = audit_result([compliant_domain('a.example')], sessions=10, seconds=3.0)
    us = audit_result([no_postmaster_domain('b.example'), compliant_domain('c.example')], sessions=30, seconds=7.25)
    merged = merge([{'host': 'vp-eu', 'result': eu}, {'host': 'vp-us', 'result': us}], '2025-01-31T02:00:00Z')
    assert [(d['domain'], d['vantage_point']) for d in merged['domains']] == [
        ('a.example', 'vp-eu'), ('b.example', 'vp-us'), ('c.example', 'vp-us')]
    assert merged['compliant'] is False
    assert merged['generated'] == '2025-01-31T02:00:00Z'
    stats = merged['stats']
    assert stats['domains'] == 3 and stats['sessions'] == 40 and stats['compliant'] == 2
    assert stats['compliant_percent'] == 66.7
    assert stats['seconds'] == 7.25
    assert stats['checks']['postmaster'] == {
        'pass': 2, 'fail': 1, 'warn': 1, 'inconclusive': 0, 'error': 0, 'skipped': 0, 'total': 4,
        'percent': {'pass': 50.0, 'fail': 25.0, 'warn': 25.0, 'inconclusive': 0.0, 'error': 0.0, 'skipped': 0.0}}
    assert merged['vantage_points'] == [
        {'host': 'vp-eu', 'blocked': False, 'failed': False, 'message': None, 'addresses_reached': 1,
         'addresses_unreachable': 0, 'domains': 1},
        {'host': 'vp-us', 'blocked': False, 'failed': False, 'message': None, 'addresses_reached': 2,
         'addresses_unreachable': 0, 'domains': 2}]


def test_every_domain_from_every_host_appears_once_per_vantage_point():
    results = [{'host': host, 'result': audit_result([compliant_domain('a.example'), no_postmaster_domain('b.example')])}
               for host in ('vp1', 'vp2')]
    merged = merge(results)
    assert [(d['domain'], d['vantage_point']) for d in merged['domains']] == [
        ('a.example', 'vp1'), ('b.example', 'vp1'), ('a.example', 'vp2'), ('b.example', 'vp2')]
    assert merged['stats']['domains'] == 4 and merged['stats']['compliant_percent'] == 50.0
    assert merged['generated'] is None


def test_refusal_percentages_are_recomputed_over_all_vantage_points():
    # 2 of 10 sessions and 1 of 30 sessions refused at greeting: 3 of 40.
    one = audit_result([compliant_domain('a.example')], sessions=10, transactions=8, postmaster_probes=4,
                       refused={'greeting': 2, 'mail': 2, 'rcpt': 1})
    two = audit_result([compliant_domain('b.example')], sessions=30, transactions=24, postmaster_probes=16,
                       refused={'greeting': 1, 'mail': 1, 'rcpt': 3})
    stats = merge([{'host': 'one', 'result': one}, {'host': 'two', 'result': two}])['stats']
    assert stats['refused_at'] == {'greeting': 3, 'ehlo': 0, 'mail': 3, 'rcpt': 4}
    assert stats['refused_at_percent'] == {'greeting': 7.5, 'ehlo': 0.0, 'mail': 9.4, 'rcpt': 20.0}


def test_refusal_bases_are_used_when_the_results_carry_them():
    # Nothing refused at MAIL on the second host: its transactions are known only from the counter.
    one = audit_result([compliant_domain('a.example')], sessions=10, transactions=10, refused={'mail': 5}, with_bases=True)
    two = audit_result([compliant_domain('b.example')], sessions=10, transactions=40, with_bases=True)
    stats = merge([{'host': 'one', 'result': one}, {'host': 'two', 'result': two}])['stats']
    assert stats['refused_at_percent']['mail'] == 10.0
    assert stats['transactions'] == 50


def test_a_host_that_refused_nothing_counts_by_its_sessions():
    # Without the counters, 5 of 10 transactions (10 sessions) and nothing refused over 30 sessions:
    # the second host's transactions are estimated at the first one's rate, 30.
    one = audit_result([compliant_domain('a.example')], sessions=10, transactions=10, refused={'mail': 5})
    two = audit_result([compliant_domain('b.example')], sessions=30, transactions=30)
    stats = merge([{'host': 'one', 'result': one}, {'host': 'two', 'result': two}])['stats']
    assert stats['refused_at_percent']['mail'] == 12.5


def test_one_vantage_point_keeps_its_own_figures():
    result = audit_result([no_postmaster_domain()], sessions=7, refused={'rcpt': 1})
    merged = merge([{'host': 'localhost', 'result': result}])
    assert merged['stats'] == dict(result['stats'], verdicts={'compliant': 0, 'unverified': 0, 'noncompliant': 1})
    assert merged['verdict'] == 'noncompliant' and merged['compliant'] is False
    assert merged['domains'][0] == dict(result['domains'][0], vantage_point='localhost')


def test_inputs_are_not_modified_and_the_output_is_plain_json():
    results = [{'host': 'vp1', 'result': audit_result([no_postmaster_domain()])},
               {'host': 'vp2', 'result': audit_result([compliant_domain()])}]
    before = copy.deepcopy(results)
    merged = merge(results)
    merged['domains'][0]['findings'][0]['status'] = 'changed'
    assert results == before
    assert json.loads(json.dumps(merged)) == merged


def test_a_blocked_vantage_point_says_so():
    blocked = audit_result([compliant_domain('a.example')], blocked=True)
    merged = merge([{'host': 'behind-firewall', 'result': blocked}])
    assert merged['vantage_points'][0]['blocked'] is True
    assert 'cannot reach TCP port 25' in merged['vantage_points'][0]['message']


def test_a_failed_host_is_a_failed_vantage_point_and_not_compliant():
    good = audit_result([compliant_domain('a.example')])
    merged = merge([{'host': 'ok', 'result': good},
                    {'host': 'broken', 'result': {'failed': True, 'msg': 'dnspython is missing'}},
                    {'host': 'not-run', 'result': {'skipped': True, 'changed': False}}])
    assert [vp['host'] for vp in merged['vantage_points']] == ['ok', 'broken']
    assert merged['vantage_points'][1]['failed'] is True
    assert merged['vantage_points'][1]['message'] == 'dnspython is missing'
    assert merged['compliant'] is False
    assert merged['stats']['domains'] == 1


def test_nothing_to_merge():
    # Nothing merged is nothing audited: never compliant.
    assert merge([]) == {'domains': [], 'stats': {'checks': {}, 'verdicts': {'compliant': 0, 'unverified': 0, 'noncompliant': 0}},
                         'vantage_points': [], 'verdict': 'unverified', 'compliant': False, 'generated': None}


def test_the_filter_and_the_function_are_one_code_path():
    items = [{'host': 'vp', 'result': audit_result([compliant_domain()])}]
    assert merge(items, 'T') == merge_results(items, 'T')


@pytest.mark.parametrize('items, words', [
    ({'host': 'vp'}, 'expected a list'),
    ([{'result': {}}], 'item 0'),
    ([{'host': 'vp', 'result': {'changed': False}}], 'no domains and stats'),
    ([{'host': 'vp', 'result': dict(audit_result([]), domains=['a.example'])}], 'not a dict'),
])
def test_bad_input_is_a_filter_error(items, words):
    with pytest.raises(AnsibleFilterError, match=words):
        merge(items)


def test_generated_must_be_a_string():
    with pytest.raises(AnsibleFilterError, match='generated'):
        merge([], 1700000000)
