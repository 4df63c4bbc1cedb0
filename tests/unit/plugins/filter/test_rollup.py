# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""rollup: the summary table, checks first, then sessions and refusals by stage."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule

from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import audit_result, compliant_domain, no_postmaster_domain

rollup = FilterModule().filters()['rollup']
merge = FilterModule().filters()['merge_results']


def result():
    return audit_result([compliant_domain(), no_postmaster_domain()], sessions=40, transactions=20,
                        postmaster_probes=8, refused={'greeting': 2, 'mail': 1, 'rcpt': 2})


def test_check_rows_in_catalogue_order_then_the_total():
    rows = rollup(result())
    checks = [row for row in rows if row['kind'] in ('check', 'total')]
    assert [row['name'] for row in checks] == ['mx', 'session', 'postmaster', 'recipient', 'all']
    postmaster = checks[2]
    assert postmaster['counts'] == {'pass': 1, 'fail': 1, 'warn': 1, 'inconclusive': 0, 'error': 0, 'skipped': 0}
    assert postmaster['total'] == 3 and postmaster['status'] == 'fail'
    assert postmaster['percent']['fail'] == 33.3
    total = checks[-1]
    assert total['label'] == 'All checks' and total['total'] == 8
    assert total['counts'] == {'pass': 5, 'fail': 1, 'warn': 1, 'inconclusive': 1, 'error': 0, 'skipped': 0}
    assert total['percent']['pass'] == 62.5 and total['status'] == 'fail'


def test_stage_rows_with_their_percentages():
    stages = {row['name']: row for row in rollup(result()) if row['kind'] == 'stage'}
    assert list(stages) == ['domains', 'invalid', 'dns_errors', 'no_mx', 'implicit_mx', 'null_mx', 'addresses',
                            'connect_errors', 'sessions', 'refused_greeting', 'refused_ehlo', 'refused_mail',
                            'refused_rcpt', 'reply_421', 'compliant']
    assert stages['sessions'] == {'kind': 'stage', 'name': 'sessions', 'label': 'SMTP sessions', 'count': 40,
                                  'percent': None, 'base': None}
    assert stages['refused_greeting']['count'] == 2 and stages['refused_greeting']['percent'] == 5.0
    assert stages['refused_mail']['percent'] == 5.0 and stages['refused_mail']['base'] == 'transactions'
    assert stages['refused_rcpt']['percent'] == 25.0
    assert stages['compliant']['count'] == 1 and stages['compliant']['percent'] == 50.0


def test_rollup_of_a_merged_result():
    merged = merge([{'host': 'a', 'result': result()}, {'host': 'b', 'result': result()}])
    stages = {row['name']: row for row in rollup(merged) if row['kind'] == 'stage'}
    assert stages['sessions']['count'] == 80 and stages['refused_greeting']['percent'] == 5.0
    total = [row for row in rollup(merged) if row['kind'] == 'total'][0]
    assert total['total'] == 16


def test_missing_statistics_leave_their_rows_out():
    rows = rollup({'stats': {'checks': {}, 'sessions': 0}})
    assert [(row['kind'], row['name']) for row in rows] == [('total', 'all'), ('stage', 'sessions')]
    assert rows[0]['status'] is None and rows[0]['percent']['pass'] == 0.0


def test_unknown_checks_come_last():
    rows = rollup({'stats': {'checks': {'zzz_future': {'pass': 1}, 'mx': {'fail': 1}}}})
    assert [row['name'] for row in rows] == ['mx', 'zzz_future', 'all']


@pytest.mark.parametrize('bad', [[], {'domains': []}, 'result'])
def test_not_a_result_is_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError, match='stats'):
        rollup(bad)
