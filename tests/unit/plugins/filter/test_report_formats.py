# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filters behind the report formats: grouping, CSV, JUnit, Markdown. Server text is hostile input."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.filter.formats import FilterModule as Formats
from ansible_collections.mxaudit.smtp.plugins.filter.markdown import FilterModule as Markdown
from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule as Rollups
from ansible_collections.mxaudit.smtp.plugins.module_utils._report import CSV_COLUMNS, xml_text
from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import (
    audit_result, compliant_domain, finding, no_postmaster_domain)

group_findings = Rollups().filters()['group_findings']
findings_csv = Formats().filters()['findings_csv']
junit_cases = Formats().filters()['junit_cases']
markdown_escape = Markdown().filters()['markdown_escape']
markdown_code = Markdown().filters()['markdown_code']
merge = Rollups().filters()['merge_results']

HOSTILE = 'S: 220 mx.evil.example ESMTP <script>alert(1)</script> & "quotes" | `tick` =cmd'


def hostile_domain():
    domain = 'evil.example'
    return {'domain': domain, 'mx': [], 'compliant': False, 'findings': [
        finding('MX-1', 'pass', domain),
        finding('GR-1', 'fail', domain, 'mx.evil.example', '192.0.2.66', 'greeting "%s"' % HOSTILE[3:],
                [HOSTILE, 'C: QUIT', 'S: 221 bye\x07\x1b[31m']),
        finding('PM-1', 'inconclusive', domain, 'mx.evil.example', '192.0.2.66', '451 4.7.1 greylisted, "try" <later>'),
        finding('PM-2', 'error', domain, 'mx.evil.example', '192.0.2.67', 'connection refused'),
        finding('RV-1', 'skipped', domain, 'mx.evil.example', '192.0.2.68', 'not probed'),
    ]}


def merged():
    return merge([{'host': 'vp1', 'result': audit_result([no_postmaster_domain(), compliant_domain()])},
                  {'host': 'vp2', 'result': audit_result([hostile_domain()])}], '2025-01-31T02:00:00Z')


# ---------------------------------------------------------------- group_findings

def test_groups_by_mx_and_address_domain_level_first():
    findings = hostile_domain()['findings']
    groups = group_findings(findings[1:] + findings[:1])
    assert [(g['mx'], g['address'], g['status']) for g in groups] == [
        (None, None, 'pass'), ('mx.evil.example', '192.0.2.66', 'fail'), ('mx.evil.example', '192.0.2.67', 'error'),
        ('mx.evil.example', '192.0.2.68', 'skipped')]
    assert groups[1]['counts']['fail'] == 1 and groups[1]['counts']['inconclusive'] == 1
    assert [f['rule'] for f in groups[1]['findings']] == ['GR-1', 'PM-1']


def test_group_findings_rejects_what_is_not_findings():
    with pytest.raises(AnsibleFilterError, match='group_findings'):
        group_findings({'status': 'pass'})


# ---------------------------------------------------------------- CSV

def test_csv_has_one_row_per_finding_with_the_header_first():
    result = merged()
    rows = list(csv.reader(io.StringIO(findings_csv(result), newline='')))
    assert tuple(rows[0]) == CSV_COLUMNS
    findings = [(d['vantage_point'], f) for d in result['domains'] for f in d['findings']]
    assert len(rows) - 1 == len(findings)
    for row, (vantage, item) in zip(rows[1:], findings):
        record = dict(zip(CSV_COLUMNS, row))
        assert record['vantage_point'] == vantage
        assert record['rule'] == item['rule'] and record['status'] == item['status']
        assert record['mx'] == (item['mx'] or '') and record['address'] == (item['address'] or '')
        assert record['summary'] == item['summary']


def test_csv_quotes_commas_quotes_and_line_breaks():
    domain = compliant_domain()
    domain['findings'][1]['summary'] = 'a, "b"\r\nc'
    text = findings_csv({'domains': [domain]})
    assert '"a, ""b""\r\nc"' in text
    rows = list(csv.reader(io.StringIO(text, newline='')))
    assert rows[2][CSV_COLUMNS.index('summary')] == 'a, "b"\r\nc'
    assert text.endswith('\r\n') and text.count('\r\n') == len(domain['findings']) + 2


@pytest.mark.parametrize('start', ['=', '+', '-', '@'])
def test_csv_cells_cannot_be_spreadsheet_formulas(start):
    domain = compliant_domain()
    domain['findings'][0]['summary'] = start + 'HYPERLINK("http://evil.example")'
    rows = list(csv.reader(io.StringIO(findings_csv({'domains': [domain]}), newline='')))
    assert rows[1][CSV_COLUMNS.index('summary')] == "'" + start + 'HYPERLINK("http://evil.example")'


def test_csv_of_not_a_result():
    with pytest.raises(AnsibleFilterError, match='findings_csv'):
        findings_csv([])


# ---------------------------------------------------------------- JUnit

def test_a_case_per_check_and_address_with_the_worst_status():
    junit = junit_cases({'domains': [hostile_domain()]})
    suite = junit['suites'][0]
    assert suite['name'] == 'evil.example'
    assert suite['cases'][0]['name'] == 'verdict'  # every suite opens with the domain's verdict
    cases = {case['name']: case for case in suite['cases'][1:]}
    assert list(cases) == ['mx', 'session 192.0.2.66 (mx.evil.example)', 'postmaster 192.0.2.66 (mx.evil.example)',
                           'postmaster 192.0.2.67 (mx.evil.example)', 'recipient 192.0.2.68 (mx.evil.example)']
    assert [case['outcome'] for case in suite['cases'][1:]] == ['pass', 'failure', 'pass', 'error', 'skipped']
    assert all(case['classname'] == 'evil.example' for case in suite['cases'])
    # five check cases and the verdict (a failure: the domain is not compliant)
    assert suite['cases'][0]['outcome'] == 'failure'
    assert (junit['tests'], junit['failures'], junit['errors'], junit['skipped']) == (6, 2, 1, 1)
    # inconclusive is not a failure: a note for system-out
    inconclusive = cases['postmaster 192.0.2.66 (mx.evil.example)']
    assert inconclusive['status'] == 'inconclusive' and 'greylisted' in inconclusive['out']


def test_the_failure_body_has_the_transcript():
    case = junit_cases({'domains': [hostile_domain()]})['suites'][0]['cases'][2]
    assert case['body'].splitlines()[0].startswith('[FAIL] GR-1 MUST (RFC 5321 4.2, 4.3.1): greeting')
    assert '    ' + HOSTILE in case['body'].splitlines()
    assert case['message'].startswith('greeting "220 mx.evil.example')


def test_junit_text_is_xml_safe_and_escapes_into_well_formed_xml():
    case = junit_cases({'domains': [hostile_domain()]})['suites'][0]['cases'][2]
    # The bell and the escape byte are shown as escapes, as the transcript shows control bytes (issue 9).
    assert '\x07' not in case['body'] and '\x1b' not in case['body']
    assert 'S: 221 bye\\x07\\x1b[31m' in case['body'].splitlines()[-1]
    # The template escapes with `e`; the standard library's escaping stands in for it here.
    document = '<testcase name=%s><failure message=%s>%s</failure></testcase>' % (
        quoteattr(case['name']), quoteattr(case['message']), escape(case['body']))
    parsed = ET.fromstring(document)
    assert HOSTILE in parsed.find('failure').text
    assert parsed.find('failure').find('script') is None


def test_sharded_names_are_plain():
    junit = junit_cases(merged())
    assert [suite['name'] for suite in junit['suites']] == ['no-postmaster.example', 'good.example', 'evil.example']
    assert [suite['vantage_point'] for suite in junit['suites']] == ['vp1', 'vp1', 'vp2']
    assert junit['suites'][0]['cases'][1]['name'] == 'mx'
    assert junit['tests'] == sum(len(suite['cases']) for suite in junit['suites'])


def test_a_domain_audited_from_several_vantage_points_names_them():
    junit = junit_cases(merge([{'host': host, 'result': audit_result([compliant_domain()])} for host in ('vp1', 'vp2')]))
    assert [suite['name'] for suite in junit['suites']] == ['good.example from vp1', 'good.example from vp2']
    assert junit['suites'][1]['cases'][0]['name'] == 'verdict from vp2'
    assert junit['suites'][1]['cases'][2]['name'] == 'session 192.0.2.10 (mx.good.example) from vp2'
    assert junit['suites'][1]['cases'][2]['classname'] == 'good.example'


def test_xml_text_drops_what_xml_cannot_carry():
    assert xml_text('a\x00b\x0bc\tD\ud800\ufffe') == 'a\ufffdb\ufffdc\tD\ufffd\ufffd'
    assert xml_text(None) == ''


# ---------------------------------------------------------------- Markdown

def test_markdown_escape_keeps_a_table_row_intact():
    text = markdown_escape('220 ***|*** `x` <script>alert(1)</script> & [link](http://x) _y_\nnext line')
    # The ':' of 'http://' is escaped too, or GitHub would make a link of the URL (issue 9).
    assert text == (r'220 \*\*\*\|\*\*\* \`x\` \<script\>alert(1)\</script\> \& \[link\](http\://x) \_y\_ next line')
    assert '|' not in text.replace('\\|', '')
    assert markdown_escape(None) == ''


def test_markdown_code_cannot_be_closed_by_the_text():
    block = markdown_code(['S: 220 ```', 'S: 250 ````x'])
    fence = block.splitlines()[0]
    assert fence == '`' * 5 and block.splitlines()[-1] == fence
    assert block.splitlines()[1:-1] == ['S: 220 ```', 'S: 250 ````x']
    assert markdown_code('one\ntwo') == '```\none\ntwo\n```'
    assert markdown_code([]) == '```\n\n```'
