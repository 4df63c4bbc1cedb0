# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The TLS section of the reports: tls_rows, tls_csv, the JUnit properties, and a hostile certificate subject in every format."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.filter.formats import FilterModule as Formats
from ansible_collections.mxaudit.smtp.plugins.filter.markdown import FilterModule as Markdown
from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule as Rollups
from ansible_collections.mxaudit.smtp.plugins.module_utils._report import TLS_CSV_COLUMNS, days_left
from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import (
    audit_result, compliant_domain, tls_domain)

FILTERS = dict(Formats().filters(), **Markdown().filters(), **Rollups().filters())
tls_rows = FILTERS['tls_rows']
tls_csv = FILTERS['tls_csv']
junit_cases = FILTERS['junit_cases']
merge = FILTERS['merge_results']
TEMPLATES = Path(__file__).resolve().parents[4] / 'roles' / 'report' / 'templates'
GENERATED = '2025-02-28T12:00:00Z'
# A certificate subject is the server's text: markup, a table pipe, backticks, a formula start, a bidi override, a NUL,
# a link and U+FFFE (which XML cannot carry).
HOSTILE = '=CN=<script>alert(1)</script> | `x` & "q" \u202eevil\u202c\x00 https://evil.example \ufffe'


def merged(subject=None, generated=GENERATED):
    return merge([{'host': 'vp1', 'result': audit_result([tls_domain(subject=subject), compliant_domain()])}], generated)


def test_rows_per_domain_and_address_with_days_left_and_status():
    rows = tls_rows(merged())
    assert [(row['domain'], row['address'], row['status']) for row in rows] == [
        ('tls.example', '192.0.2.30', 'warn'), ('tls.example', '192.0.2.31', 'fail')]
    first, second = rows
    assert first['vantage_point'] == 'vp1' and first['protocol'] == 'TLSv1.3' and first['trusted'] is False
    assert first['days_left'] == 2
    assert second['starttls'] is False and second['days_left'] is None and second['subject'] is None
    assert second['dns_names'] is None  # not learnt stays None


@pytest.mark.parametrize('not_after, now, left', [
    ('2025-03-02T12:00:00Z', '2025-02-28T12:00:00Z', 2), ('2025-03-02T11:59:59Z', '2025-02-28T12:00:00Z', 1),
    ('2025-02-28T11:00:00Z', '2025-02-28T12:00:00Z', -1), (None, '2025-02-28T12:00:00Z', None),
    ('2025-03-02T12:00:00Z', None, None), ('not a date', '2025-02-28T12:00:00Z', None),
    ('2025-03-02T12:00:00+00:00', '2025-02-28T12:00:00Z', 2),
])
def test_days_left(not_after, now, left):
    assert days_left(not_after, now) == left


def test_a_result_without_tls_lists_has_no_rows():
    assert tls_rows(merged()) and tls_rows(merge([{'host': 'vp', 'result': audit_result([compliant_domain()])}])) == []


def test_merge_carries_the_tls_lists_of_every_vantage_point():
    result = merge([{'host': 'vp1', 'result': audit_result([tls_domain()])},
                    {'host': 'vp2', 'result': audit_result([tls_domain()])}], GENERATED)
    assert [domain['tls'] for domain in result['domains']] == [tls_domain()['tls']] * 2
    assert [(row['vantage_point'], row['address']) for row in tls_rows(result)] == [
        ('vp1', '192.0.2.30'), ('vp1', '192.0.2.31'), ('vp2', '192.0.2.30'), ('vp2', '192.0.2.31')]
    result['domains'][0]['tls'][0]['subject'] = 'changed'
    assert tls_domain()['tls'][0]['subject'] != 'changed'  # a copy, not the input


@pytest.mark.parametrize('bad', [{'domains': [dict(tls_domain(), tls='x')], 'stats': {}},
                                 {'domains': [dict(tls_domain(), tls=['x'])], 'stats': {}}, []])
def test_a_malformed_tls_list_is_a_filter_error(bad):
    for name in ('tls_rows', 'tls_csv'):
        with pytest.raises(AnsibleFilterError, match='^mxaudit\\.smtp\\.%s: ' % name):
            FILTERS[name](bad)


def test_tls_csv_one_row_per_address():
    rows = list(csv.DictReader(io.StringIO(tls_csv(merged()), newline='')))
    assert tuple(rows[0]) == TLS_CSV_COLUMNS
    assert [(row['address'], row['starttls'], row['trusted'], row['days_left'], row['dns_names']) for row in rows] == [
        ('192.0.2.30', 'yes', 'no', '2', 'mx.tls.example'), ('192.0.2.31', 'no', '', '', '')]
    assert tls_csv(merged()).endswith('\r\n')


def test_a_hostile_subject_in_the_csv_is_one_visible_cell_and_no_formula():
    rows = list(csv.DictReader(io.StringIO(tls_csv(merged(HOSTILE)), newline='')))
    assert rows[0]['subject'] == "'" + HOSTILE.replace('\u202e', '\\u202e').replace('\u202c', '\\u202c').replace('\x00', '\\x00')
    assert rows[0]['issuer'] == rows[0]['subject'] and len(rows) == 2


def test_junit_tls_cases_carry_the_facts_as_properties_and_system_out():
    suite = junit_cases(merged())['suites'][0]
    case = next(case for case in suite['cases'] if case['name'].startswith('tls 192.0.2.30'))
    properties = {item['name']: item['value'] for item in case['properties']}
    assert properties['tls.protocol'] == 'TLSv1.3' and properties['tls.trusted'] == 'no'
    assert properties['tls.days_left'] == '2' and properties['tls.subject'] == 'CN=mx.tls.example'
    assert case['out'].startswith('TLS: TLSv1.3 with TLS_AES_256_GCM_SHA384; certificate subject CN=mx.tls.example')
    assert 'expires 2025-03-02T12:00:00Z (2 days left), trusted: no' in case['out'].splitlines()[0]
    plain = next(case for case in suite['cases'] if case['name'].startswith('tls 192.0.2.31'))
    assert plain['out'].startswith('TLS: STARTTLS not offered')
    assert {item['name'] for item in plain['properties']} == {'tls.starttls'}
    assert all(case['properties'] == [] for case in suite['cases'] if not case['name'].startswith('tls'))


def _render(name, result):
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, autoescape=False,
                                     undefined=jinja2.StrictUndefined)
    environment.filters.update({'mxaudit.smtp.' + key: value for key, value in FILTERS.items()})
    template = environment.get_template(name)
    statuses = ['fail', 'error', 'inconclusive', 'warn', 'pass', 'skipped']
    return template.render(_mxaudit_report_data=result, _mxaudit_report_statuses=statuses, mxaudit_report_title='t')


def test_a_hostile_subject_in_the_junit_file_is_escaped_and_xml_safe():
    text = _render('report.junit.xml.j2', merged(HOSTILE))
    tree = ET.fromstring(text.encode('utf-8'))  # well-formed: U+FFFE and the NUL cannot break it
    values = [item.get('value') for item in tree.iter('property') if item.get('name') == 'tls.subject']
    assert values == [HOSTILE.replace('\u202e', '\\u202e').replace('\u202c', '\\u202c').replace('\x00', '\\x00')
                      .replace('\ufffe', '\ufffd')]
    assert '<script' not in text
    assert any(HOSTILE[:30] in (item.text or '') for item in tree.iter('system-out'))


def test_a_hostile_subject_in_the_markdown_table_stays_in_its_cell():
    text = _render('report.md.j2', merged(HOSTILE))
    assert '## TLS' in text
    row = next(line for line in text.splitlines() if line.startswith('| tls.example | mx.tls.example | 192.0.2.30 |'))
    assert row.count('|') - row.count(r'\|') == 12          # eleven cells, nothing broke out
    assert r'\<script\>' in row and r'\`x\`' in row and '\\u202eevil' in row and 'https\\://evil' in row
    assert '\u202e' not in text and '\x00' not in text
    no_tls = next(line for line in text.splitlines() if line.startswith('| tls.example | mx.tls.example | 192.0.2.31 |'))
    assert '| **no** |' in no_tls


def test_a_hostile_subject_in_the_html_is_text():
    text = _render('report.html.j2', merged(HOSTILE))
    assert '<script>' not in text and '&lt;script&gt;alert(1)&lt;/script&gt;' in text
    assert '\u202e' not in text and '\\u202eevil' in text
    assert 'id="tls"' in text and 'data-days-left="2"' in text and '2 days left' in text


def test_no_tls_section_when_the_check_did_not_run():
    result = merge([{'host': 'vp', 'result': audit_result([compliant_domain()])}], GENERATED)
    assert 'id="tls"' not in _render('report.html.j2', result)
    assert '## TLS' not in _render('report.md.j2', result)
    assert json.dumps(tls_rows(result)) == '[]'
