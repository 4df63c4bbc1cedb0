# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Verdicts: compliant only when everything the policy counts was decided and nothing it counts failed."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import Finding
from ansible_collections.mxaudit.smtp.plugins.module_utils._verdict import Policy, PolicyError, judge_domain, parse_policy, worst


def finding(rule, status, address='192.0.2.1', applies=True):
    return Finding(rule=rule, status=status, summary='x', domain='example.org', address=address, applies=applies)


def verdict(findings, expected=(), policy=Policy()):
    return judge_domain(findings, expected, policy).verdict


def test_an_open_relay_is_noncompliant_by_severity_although_it_is_only_bcp():
    assert verdict([finding('RL-1', 'fail'), finding('PM-1', 'pass')]) == 'noncompliant'
    assert verdict([finding('RL-1', 'fail')], policy=parse_policy({'severity': 'none'})) == 'compliant'


def test_a_should_failure_does_not_count_by_default():
    assert verdict([finding('PM-2', 'fail'), finding('PM-1', 'pass')]) == 'compliant'
    assert verdict([finding('PM-2', 'fail')], policy=parse_policy({'levels': ['MUST', 'SHOULD']})) == 'noncompliant'


@pytest.mark.parametrize('status', ['error', 'inconclusive', 'skipped'])
def test_nothing_decided_is_unverified(status):
    assert verdict([finding('PM-1', status)]) == 'unverified'


def test_a_rule_expected_but_never_probed_is_unverified():
    assert verdict([finding('MX-1', 'error', address=None)], expected=['PM-1', 'NS-1']) == 'unverified'
    result = judge_domain([], ['PM-1'], Policy())
    assert result.verdict == 'unverified' and result.undecided_rules == ('PM-1',)


def test_one_address_deciding_is_enough_and_coverage_says_the_rest():
    result = judge_domain([finding('PM-1', 'pass'), finding('PM-1', 'inconclusive', address='192.0.2.2')], ['PM-1'],
                          Policy())
    assert result.verdict == 'compliant'
    assert result.coverage == {'decided': 1, 'probed': 2, 'percent': 50.0}


def test_does_not_apply_is_decided():
    assert verdict([finding('PL-1', 'skipped', applies=False), finding('PL-2', 'skipped', applies=False)]) == 'compliant'


def test_uncounted_rules_need_not_be_decided():
    assert verdict([finding('PM-1', 'pass'), finding('RV-1', 'inconclusive')]) == 'compliant'  # medium, BCP


def test_nothing_decided_at_all_is_unverified_even_when_the_policy_counts_nothing_of_it():
    assert verdict([finding('RV-1', 'inconclusive')], expected=['RV-1']) == 'unverified'
    assert verdict([finding('RV-1', 'warn')], expected=['RV-1']) == 'compliant'
    assert verdict([]) == 'unverified'


def test_worst_and_nothing():
    assert worst(['compliant', 'unverified']) == 'unverified'
    assert worst(['unverified', 'noncompliant', 'compliant']) == 'noncompliant'
    assert worst([]) == 'unverified'


@pytest.mark.parametrize('value, words', [
    ({'levels': ['MUSTN']}, 'policy.levels'), ({'severity': 'huge'}, 'policy.severity'), ({'x': 1}, 'unknown key'),
    ('strict', 'dictionary'), ({'levels': [], 'severity': 'none'}, 'nothing would ever count'),
])
def test_bad_policies_are_named(value, words):
    with pytest.raises(PolicyError, match=words):
        parse_policy(value)
