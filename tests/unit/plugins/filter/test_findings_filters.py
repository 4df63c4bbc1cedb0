# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""status_counts and worst_status: the modules' own code, reached from a template."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule
from ansible_collections.mxaudit.smtp.plugins.module_utils import _findings

from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import finding, no_postmaster_domain

status_counts = FilterModule().filters()['status_counts']
worst_status = FilterModule().filters()['worst_status']


def test_counts_have_all_six_statuses():
    assert status_counts(no_postmaster_domain()['findings']) == {
        'pass': 2, 'fail': 1, 'warn': 1, 'inconclusive': 0, 'error': 0, 'skipped': 0}
    assert status_counts([]) == dict.fromkeys(('pass', 'fail', 'warn', 'inconclusive', 'error', 'skipped'), 0)


@pytest.mark.parametrize('statuses, worst', [
    (['pass', 'fail', 'error'], 'fail'),
    (['pass', 'error', 'inconclusive'], 'error'),
    (['warn', 'inconclusive', 'pass'], 'inconclusive'),
    (['pass', 'warn', 'skipped'], 'warn'),
    (['skipped', 'pass'], 'pass'),
    (['skipped'], 'skipped'),
    ([], None),
])
def test_worst_status_by_severity(statuses, worst):
    findings = [finding('PM-1', status, 'example.org') for status in statuses]
    assert worst_status(findings) == worst


def test_the_filters_are_the_modules_code():
    findings = no_postmaster_domain()['findings']
    assert worst_status(findings) == _findings.worst_status(findings) == 'fail'
    assert status_counts(findings) == _findings.status_counts(findings)


@pytest.mark.parametrize('bad', ['fail', [{'status': 'broken'}], [{'rule': 'PM-1'}], [None]])
def test_not_findings_is_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError):
        status_counts(bad)
    with pytest.raises(AnsibleFilterError):
        worst_status(bad)
