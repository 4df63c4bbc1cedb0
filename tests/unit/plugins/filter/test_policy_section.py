# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The DANE and MTA-STS section: policy_rows, policy_csv, the JUnit properties, and hostile TXT and policy text in every format."""

from __future__ import annotations

import csv
import io
import json
import typing as t
import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import POLICY_CSV_COLUMNS
from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import audit_result, compliant_domain, finding
from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.test_tls_section import FILTERS, GENERATED, _render

policy_rows = FILTERS['policy_rows']
policy_csv = FILTERS['policy_csv']
junit_cases = FILTERS['junit_cases']
merge = FILTERS['merge_results']
# An id, a policy's mx pattern and a rua URI are the domain's text: markup, a table pipe, backticks, a formula start,
# a bidi override, a NUL, a link and U+FFFE (which XML cannot carry).
HOSTILE = '=<script>alert(1)</script> | `x` & "q" \u202eevil\u202c\x00 https://evil.example \ufffe'
VISIBLE = HOSTILE.replace('\u202e', '\\u202e').replace('\u202c', '\\u202c').replace('\x00', '\\x00')
EE = '3 1 1 0123456789ab...'


def policy_domain(domain: str = 'sts.example', hostile: str | None = None) -> dict[str, t.Any]:
    """MTA-STS in enforce mode with TLS-RPT, DANE at one address (matched) and not at the other."""
    mx = 'mx.' + domain
    findings = [
        finding('MX-1', 'pass', domain),
        finding('STS-1', 'pass', domain), finding('STS-2', 'pass', domain),
        finding('STS-3', 'pass', domain, mx, '192.0.2.40'), finding('RPT-1', 'warn', domain),
        finding('DANE-1', 'pass', domain, mx, '192.0.2.40'), finding('DANE-2', 'pass', domain, mx, '192.0.2.40'),
        finding('DANE-3', 'warn', domain, mx, '192.0.2.40'),
        finding('DANE-1', 'skipped', domain, 'mx2.' + domain, '192.0.2.41'),
    ]
    return {'domain': domain, 'findings': findings, 'compliant': True, 'verdict': 'compliant',
            'mx': [{'preference': 10, 'host': mx, 'addresses': ['192.0.2.40']},
                   {'preference': 20, 'host': 'mx2.' + domain, 'addresses': ['192.0.2.41']}],
            'mta_sts': {'published': True, 'id': hostile or '20250601', 'fetched': True, 'mode': 'enforce', 'max_age': 604800,
                        'mx': [hostile or mx], 'mx_total': 1, 'rua': [hostile or 'mailto:tlsrpt@' + domain], 'rua_total': 1},
            'dane': [{'mx': mx, 'address': '192.0.2.40', 'published': True, 'dnssec': 'secure', 'tlsa': [hostile or EE],
                      'tlsa_total': 1, 'matched': hostile or EE},
                     {'mx': 'mx2.' + domain, 'address': '192.0.2.41', 'published': False, 'dnssec': 'unknown'}]}


def unpublished_domain(domain: str = 'plain.example') -> dict[str, t.Any]:
    return dict(compliant_domain(domain), mta_sts={'published': False},
                dane=[{'mx': 'mx.' + domain, 'address': '192.0.2.10', 'published': False, 'dnssec': 'unknown'}])


def merged(hostile=None, vantage_points=('vp1',)):
    return merge([{'host': host, 'result': audit_result([policy_domain(hostile=hostile), unpublished_domain()])}
                  for host in vantage_points], GENERATED)


def test_rows_per_domain_then_per_address():
    rows = policy_rows(merged())
    assert [(row['domain'], row['kind'], row['address'], row['status'], row['published']) for row in rows] == [
        ('sts.example', 'mta_sts', None, 'warn', True), ('sts.example', 'dane', '192.0.2.40', 'warn', True),
        ('sts.example', 'dane', '192.0.2.41', 'skipped', False),
        ('plain.example', 'mta_sts', None, None, False), ('plain.example', 'dane', '192.0.2.10', None, False)]
    sts, dane = rows[0], rows[1]
    assert sts['mode'] == 'enforce' and sts['max_age'] == 604800 and sts['mx_patterns'] == ['mx.sts.example']
    assert sts['rua'] == ['mailto:tlsrpt@sts.example'] and sts['dnssec'] is None and sts['tlsa'] is None
    assert dane['dnssec'] == 'secure' and dane['tlsa'] == [EE] and dane['matched'] == EE and dane['mode'] is None
    assert rows[3]['rua'] is None and rows[3]['id'] is None  # not looked up stays None


def test_a_result_without_the_policy_checks_has_no_rows():
    assert policy_rows(merge([{'host': 'vp', 'result': audit_result([compliant_domain()])}])) == []


def test_merge_carries_the_policy_fields_of_every_vantage_point():
    result = merged(vantage_points=('vp1', 'vp2'))
    assert [domain['mta_sts'] for domain in result['domains'] if domain['domain'] == 'sts.example'] == [
        policy_domain()['mta_sts']] * 2
    assert [domain['dane'] for domain in result['domains'] if domain['domain'] == 'sts.example'] == [policy_domain()['dane']] * 2
    assert [(row['vantage_point'], row['kind']) for row in policy_rows(result)][:4] == [
        ('vp1', 'mta_sts'), ('vp1', 'dane'), ('vp1', 'dane'), ('vp1', 'mta_sts')]
    result['domains'][0]['dane'][0]['tlsa'][0] = 'changed'
    assert policy_domain()['dane'][0]['tlsa'][0] != 'changed'  # a copy, not the input


@pytest.mark.parametrize('bad', [{'domains': [dict(compliant_domain(), mta_sts='x')], 'stats': {}},
                                 {'domains': [dict(compliant_domain(), dane='x')], 'stats': {}},
                                 {'domains': [dict(compliant_domain(), dane=['x'])], 'stats': {}},
                                 {'domains': [dict(compliant_domain(), mta_sts={'mx': 'x'})], 'stats': {}}, []])
def test_malformed_policy_fields_are_a_filter_error(bad):
    for name in ('policy_rows', 'policy_csv'):
        with pytest.raises(AnsibleFilterError, match='^mxaudit\\.smtp\\.%s: ' % name):
            FILTERS[name](bad)


def test_policy_csv_one_row_per_policy_row():
    text = policy_csv(merged())
    rows = list(csv.DictReader(io.StringIO(text, newline='')))
    assert tuple(rows[0]) == POLICY_CSV_COLUMNS and text.endswith('\r\n') and len(rows) == 5
    assert [(row['kind'], row['published'], row['fetched'], row['mode'], row['rua']) for row in rows[:1]] == [
        ('mta_sts', 'yes', 'yes', 'enforce', 'mailto:tlsrpt@sts.example')]
    assert (rows[1]['dnssec'], rows[1]['tlsa'], rows[1]['matched']) == ('secure', EE, EE)
    assert (rows[3]['published'], rows[3]['fetched'], rows[3]['rua']) == ('no', '', '')


def test_a_hostile_value_in_the_csv_is_one_visible_cell_and_no_formula():
    rows = list(csv.DictReader(io.StringIO(policy_csv(merged(HOSTILE)), newline='')))
    assert rows[0]['id'] == "'" + VISIBLE and rows[0]['mx_patterns'] == "'" + VISIBLE and rows[0]['rua'] == "'" + VISIBLE
    assert rows[1]['tlsa'] == "'" + VISIBLE and rows[1]['matched'] == "'" + VISIBLE and len(rows) == 5


def test_junit_cases_carry_the_policy_facts():
    suite = junit_cases(merged())['suites'][0]
    sts = next(case for case in suite['cases'] if case['name'] == 'mta_sts')
    properties = {item['name']: item['value'] for item in sts['properties']}
    assert properties == {'mta_sts.published': 'yes', 'mta_sts.id': '20250601', 'mta_sts.fetched': 'yes',
                          'mta_sts.mode': 'enforce', 'mta_sts.max_age': '604800', 'mta_sts.mx_patterns': 'mx.sts.example',
                          'mta_sts.rua': 'mailto:tlsrpt@sts.example'}
    assert sts['out'].startswith('MTA-STS: id 20250601; mode enforce, max_age 604800, mx mx.sts.example; TLS-RPT rua: mailto:')
    dane = next(case for case in suite['cases'] if case['name'] == 'dane 192.0.2.40 (mx.sts.example)')
    assert {item['name']: item['value'] for item in dane['properties']} == {
        'dane.published': 'yes', 'dane.dnssec': 'secure', 'dane.tlsa': EE, 'dane.matched': EE}
    assert dane['out'].startswith('DANE: TLSA %s (DNSSEC secure); matched: %s' % (EE, EE))
    other = next(case for case in suite['cases'] if case['name'] == 'dane 192.0.2.41 (mx2.sts.example)')
    assert other['out'].startswith('DANE: no TLSA record published (DNSSEC unknown)')
    # The STS-3 case at an address is not the domain's: no properties there.
    sts3 = next(case for case in suite['cases'] if case['name'] == 'mta_sts 192.0.2.40 (mx.sts.example)')
    assert sts3['properties'] == []


def test_a_hostile_value_in_the_junit_file_is_escaped_and_xml_safe():
    text = _render('report.junit.xml.j2', merged(HOSTILE))
    tree = ET.fromstring(text.encode('utf-8'))
    values = {item.get('name'): item.get('value') for item in tree.iter('property')}
    for name in ('mta_sts.id', 'mta_sts.mx_patterns', 'mta_sts.rua', 'dane.tlsa', 'dane.matched'):
        assert values[name] == VISIBLE.replace('\ufffe', '\ufffd'), name
    assert '<script' not in text


def test_a_hostile_value_in_the_markdown_table_stays_in_its_cell():
    text = _render('report.md.j2', merged(HOSTILE))
    assert '## DANE and MTA-STS' in text
    lines = text.splitlines()
    sts = next(line for line in lines if line.startswith('| sts.example | MTA-STS |'))
    assert sts.count('|') - sts.count(r'\|') == 8            # seven cells, nothing broke out
    assert r'\<script\>' in sts and r'\`x\`' in sts and '\\u202eevil' in sts and 'https\\://evil' in sts
    dane = next(line for line in lines if line.startswith('| sts.example | DANE | mx.sts.example | 192.0.2.40 |'))
    assert dane.count('|') - dane.count(r'\|') == 8 and r'\<script\>' in dane
    assert '\u202e' not in text and '\x00' not in text
    plain = next(line for line in lines if line.startswith('| plain.example | MTA-STS |'))
    assert '| not published |' in plain


def test_a_published_policy_in_the_markdown_and_html():
    text = _render('report.md.j2', merged())
    sts = next(line for line in text.splitlines() if line.startswith('| sts.example | MTA-STS |'))
    assert sts.endswith('| warn | yes | id 20250601; mode enforce; max\\_age 604800; mx mx.sts.example; '
                        'TLS-RPT mailto:`tlsrpt@sts.example` |')
    html = _render('report.html.j2', merged())
    assert 'id="policy"' in html and 'data-policy-kind="mta_sts" data-policy-domain="sts.example"' in html
    assert '<b>mode</b>enforce' in html and '<b>max_age</b>604800' in html and '<b>DNSSEC</b>secure' in html
    assert 'data-policy-mx="mx2.sts.example" data-policy-address="192.0.2.41"' in html and 'not published' in html


def test_a_hostile_value_in_the_html_is_text():
    text = _render('report.html.j2', merged(HOSTILE))
    assert '<script>' not in text and '&lt;script&gt;alert(1)&lt;/script&gt;' in text
    assert '\u202e' not in text and '\\u202eevil' in text


def test_no_policy_section_when_the_checks_did_not_run():
    result = merge([{'host': 'vp', 'result': audit_result([compliant_domain()])}], GENERATED)
    assert 'id="policy"' not in _render('report.html.j2', result)
    assert '## DANE and MTA-STS' not in _render('report.md.j2', result)
    assert json.dumps(policy_rows(result)) == '[]'
