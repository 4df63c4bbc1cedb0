# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The report role end to end: a real audit of the lab from two vantage points, every format checked
against the JSON it was rendered from, the HTML opened in headless Chromium.

Set MXAUDIT_REPORT_SCREENSHOTS=DIR to keep the screenshots (desktop and phone width).
"""

from __future__ import annotations

import copy
import csv
import datetime
import json
import os
import re
import struct
import typing as t
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml

STATUSES = ('pass', 'fail', 'warn', 'inconclusive', 'error', 'skipped')
SEVERITY = ('skipped', 'pass', 'warn', 'inconclusive', 'error', 'fail')  # worst last
HOSTILE = '<script>alert(1)</script> & "quotes"'
# A certificate subject as hostile as a banner: markup, a table pipe, backticks, a formula start, a bidi override, U+FFFE.
HOSTILE_SUBJECT = '=CN=<script>alert(2)</script>,O=| `x` \u202eevil\u202c \ufffe'
HOSTILE_SUBJECT_SHOWN = HOSTILE_SUBJECT.replace('\u202e', '\\u202e').replace('\u202c', '\\u202c')  # visible_text
TLS_CSV_COLUMNS = ('domain', 'vantage_point', 'mx', 'address', 'status', 'starttls', 'protocol', 'cipher', 'subject', 'issuer',
                   'not_before', 'not_after', 'days_left', 'trusted', 'dns_names')
GENERATED_AT = datetime.datetime(2025, 6, 1, 2, 0, tzinfo=datetime.timezone.utc)  # conftest.GENERATED
CSV_COLUMNS = ('domain', 'vantage_point', 'verdict', 'mx', 'address', 'check', 'rule', 'status', 'level', 'severity', 'rfc',
               'summary')


def all_findings(result: dict[str, t.Any]) -> list[tuple[dict[str, t.Any], dict[str, t.Any]]]:
    return [(domain, finding) for domain in result['domains'] for finding in domain['findings']]


def expected_cases(result: dict[str, t.Any]) -> dict[tuple[str, str, str, str, str], str]:
    """(domain, vantage point, check, mx, address) -> worst status: the JUnit cases, worked out afresh."""
    cases: dict[tuple[str, str, str, str, str], str] = {}
    for domain, finding in all_findings(result):
        key = (domain['domain'], domain['vantage_point'], finding['check'], finding['mx'] or '', finding['address'] or '')
        cases[key] = max(cases.get(key, 'skipped'), finding['status'], key=SEVERITY.index)
    # Each suite opens with the domain's verdict: noncompliant a failure, unverified an error.
    for domain in result['domains']:
        key = (domain['domain'], domain['vantage_point'], 'verdict', '', '')
        cases[key] = {'noncompliant': 'fail', 'unverified': 'error', 'compliant': 'pass'}[domain['verdict']]
    return cases


# ---------------------------------------------------------------- the audit and the JSON

def test_the_json_report_is_the_merged_result_of_both_vantage_points(rendered, lab_domains):
    result = rendered.result
    assert sorted(domain['domain'] for domain in result['domains']) == sorted(lab_domains)
    assert {domain['vantage_point'] for domain in result['domains']} == {'vantage-a', 'vantage-b'}
    assert [vp['host'] for vp in result['vantage_points']] == ['vantage-a', 'vantage-b']
    assert sum(vp['domains'] for vp in result['vantage_points']) == len(lab_domains)
    assert result['generated'] == '2025-06-01T02:00:00Z'
    assert result['stats']['domains'] == len(lab_domains)
    counted = Counter(finding['status'] for _domain, finding in all_findings(result))
    by_check = Counter((finding['check'], finding['status']) for _domain, finding in all_findings(result))
    for check, counts in result['stats']['checks'].items():
        assert counts['total'] == sum(by_check[check, status] for status in STATUSES)
        assert all(counts[status] == by_check[check, status] for status in STATUSES)
    # the lab has failures, and a compliant domain
    assert counted['fail'] and counted['pass'] and result['compliant'] is False
    compliance = {domain['domain']: domain['compliant'] for domain in result['domains']}
    # A server without STARTTLS fails TLS-1 (high): the compliant domain is the one whose server offers TLS too.
    assert compliance['tls-valid.lab.test'] is True and compliance['no-postmaster.lab.test'] is False
    assert compliance['compliant.lab.test'] is False
    files = json.loads((rendered.merged / 'files.json').read_text())
    assert sorted(files) == ['csv', 'html', 'json', 'junit', 'markdown', 'policy_csv', 'tls_csv']
    assert all(Path(path).is_file() for path in files.values())


def test_a_single_audit_result_is_reported_as_its_vantage_point(rendered):
    single = json.loads((rendered.single / 'vantage-a.json').read_text())
    assert [vp['host'] for vp in single['vantage_points']] == ['vantage-a']
    assert {domain['vantage_point'] for domain in single['domains']} == {'vantage-a'}
    assert single['generated'] and re.match(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', single['generated'])
    assert sorted(path.name for path in rendered.single.iterdir()) == ['vantage-a.html', 'vantage-a.json']


def test_rendering_is_deterministic(rendered):
    again = rendered.render_file(rendered.result, 'again')
    for name in ('mxaudit-report.html', 'mxaudit-report.md', 'mxaudit-report.junit.xml', 'mxaudit-report.csv',
                 'mxaudit-report.tls.csv', 'mxaudit-report.policy.csv', 'mxaudit-report.json'):
        assert (again / name).read_bytes() == (rendered.merged / name).read_bytes(), name


# ---------------------------------------------------------------- JUnit

def test_junit_validates_and_its_counts_match_the_json(rendered):
    result = rendered.result
    xml = JUnitXml.fromfile(str(rendered.merged / 'mxaudit-report.junit.xml'))
    expected = expected_cases(result)
    outcomes: Counter[str] = Counter()
    seen = 0
    for suite in xml:
        for case in suite:
            seen += 1
            kinds = {type(item).__name__ for item in case.result}
            outcomes[next(iter(kinds)) if kinds else 'pass'] += 1
            assert len(kinds) <= 1
            domain = case.classname
            assert any(key[0] == domain for key in expected)
    worst = Counter(expected.values())
    assert seen == len(expected) == xml.tests
    assert outcomes['Failure'] == worst['fail'] == xml.failures
    assert outcomes['Error'] == worst['error'] == xml.errors
    assert outcomes['Skipped'] == worst['skipped'] == xml.skipped
    assert outcomes['pass'] == worst['pass'] + worst['warn'] + worst['inconclusive']
    assert len(list(xml)) == len(result['domains'])


def test_a_junit_failure_carries_the_transcript(rendered):
    xml = JUnitXml.fromfile(str(rendered.merged / 'mxaudit-report.junit.xml'))
    suite = next(suite for suite in xml if suite.name.startswith('no-postmaster.lab.test'))
    failed = [case for case in suite if any(isinstance(item, Failure) for item in case.result)]
    assert [case.name.split()[0] for case in failed] == ['verdict', 'postmaster', 'tls']  # tls: TLS-1, no STARTTLS
    assert next(item for item in failed[0].result if isinstance(item, Failure)).message.startswith('noncompliant: PM-1')
    failure = next(item for item in failed[1].result if isinstance(item, Failure))
    assert failure.text.startswith('[FAIL] PM-1 MUST (RFC 5321 4.5.1)')
    assert '    C: RCPT TO:<postmaster@no-postmaster.lab.test>' in failure.text
    assert failure.message and 'postmaster@no-postmaster.lab.test' in failure.message
    # inconclusive is a passing case with a note
    inconclusive = [case for s in xml for case in s if not case.result and case.system_out]
    assert inconclusive


# ---------------------------------------------------------------- CSV

def test_csv_has_one_row_per_finding(rendered):
    result = rendered.result
    with (rendered.merged / 'mxaudit-report.csv').open(newline='', encoding='utf-8') as handle:
        rows = list(csv.DictReader(handle))
    findings = all_findings(result)
    assert len(rows) == len(findings)
    assert tuple(rows[0]) == CSV_COLUMNS
    for row, (domain, finding) in zip(rows, findings):
        assert row['domain'] == domain['domain'] and row['vantage_point'] == domain['vantage_point']
        assert (row['rule'], row['status'], row['level'], row['severity'], row['rfc']) == (
            finding['rule'], finding['status'], finding['level'], finding['severity'], finding['rfc'])
        assert row['verdict'] == domain['verdict']
        assert row['mx'] == (finding['mx'] or '') and row['address'] == (finding['address'] or '')
        assert row['summary'] == finding['summary']
    banner = [row for row in rows if row['domain'] == 'hostile-banner.lab.test' and row['rule'] == 'GR-1']
    assert banner and HOSTILE in banner[0]['summary']


# ---------------------------------------------------------------- Markdown

def test_markdown_has_the_summary_and_the_failures(rendered):
    result = rendered.result
    text = (rendered.merged / 'mxaudit-report.md').read_text()
    counts = Counter(finding['status'] for _domain, finding in all_findings(result))
    assert text.startswith('# mxaudit lab audit\n')
    assert '**❌ Not compliant**' in text
    assert '## Summary' in text and '## Checks' in text and '## Sessions and refusals' in text
    for status in STATUSES:
        assert re.search(r'^\| %s \| %d \|' % (status, counts[status]), text, re.M), status
    assert re.search(r'^\| SMTP sessions \| %d \|' % result['stats']['sessions'], text, re.M)
    sections = dict(re.findall(r'^### (\S+) — .*?\n(.*?)(?=^### |\Z)', text, re.M | re.S))
    for domain, finding in all_findings(result):
        if finding['status'] in ('fail', 'error', 'inconclusive', 'warn'):
            assert '| **%s** | %s |' % (finding['status'], finding['rule']) in sections[domain['domain']]
    for domain in result['domains']:
        if not domain['compliant']:
            assert '- **%s**' % domain['domain'] in text
    # a failure's transcript in a code block
    assert '```\nS: 220 mx.no-postmaster.lab.test' in sections['no-postmaster.lab.test']


# ---------------------------------------------------------------- hostile server text in every format

@pytest.fixture(scope='module')
def hostile(rendered) -> Path:
    """The lab's result with the hostile banner's greeting judged a failure: its text then reaches
    the failure paths of every format (a summary in tables, a transcript in failure bodies)."""
    result = copy.deepcopy(rendered.result)
    domain = next(d for d in result['domains'] if d['domain'] == 'hostile-banner.lab.test')
    finding = next(f for f in domain['findings'] if f['rule'] == 'GR-1')
    finding['status'] = 'fail'
    finding['summary'] += ' | `tick` ```'
    finding['transcript'] = finding['transcript'] + ['S: 250 ``` a fence in a reply']
    domain['compliant'] = False
    # A certificate subject is the server's text too: the TLS section of every format must show it as text.
    tls_domain = next(d for d in result['domains'] if d['domain'] == 'tls-valid.lab.test')
    tls_domain['tls'][0]['subject'] = HOSTILE_SUBJECT
    tls_domain['tls'][0]['issuer'] = HOSTILE_SUBJECT
    # So is a domain's TXT record and policy file: the DANE and MTA-STS section of every format too.
    tls_domain['mta_sts'] = {'published': True, 'id': HOSTILE_SUBJECT, 'fetched': True, 'mode': 'enforce', 'max_age': 86400,
                             'mx': [HOSTILE_SUBJECT], 'mx_total': 1, 'rua': [HOSTILE_SUBJECT], 'rua_total': 1}
    return rendered.render_file(result, 'hostile')


def test_hostile_text_is_escaped_in_junit(hostile):
    raw = (hostile / 'mxaudit-report.junit.xml').read_text()
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;' in raw or \
        '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;' in raw
    assert '<script' not in raw
    xml = JUnitXml.fromfile(str(hostile / 'mxaudit-report.junit.xml'))
    suite = next(suite for suite in xml if suite.name.startswith('hostile-banner.lab.test'))
    case = next(case for case in suite if case.name.startswith('session'))
    failure = next(item for item in case.result if isinstance(item, Failure))
    assert HOSTILE in failure.message and 'S: 220 mx.hostile-banner.lab.test ESMTP ' + HOSTILE in failure.text


def test_hostile_text_is_escaped_in_markdown(hostile):
    text = (hostile / 'mxaudit-report.md').read_text()
    row = next(line for line in text.splitlines() if line.startswith('| **fail** | GR-1 |'))
    assert r'\<script\>alert(1)\</script\> \& "quotes"' in row and r'\| \`tick\` \`\`\`' in row
    assert row.count('|') - row.count(r'\|') == 9          # eight cells, nothing broke out of them
    outside_code = re.sub(r'^(`{3,})\n.*?^\1$', '', text, flags=re.M | re.S)
    assert not re.search(r'(?<!\\)<script', outside_code)   # only as \<script, escaped
    assert '````\nS: 220 mx.hostile-banner.lab.test ESMTP ' + HOSTILE in text  # a fence ``` cannot close


# ---------------------------------------------------------------- HTML in a browser

class DomReader(HTMLParser):
    """What the browser built: the elements the tests look at, every <script>, and the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts = 0
        self.external: list[str] = []
        self.text: list[str] = []
        self.stack: list[dict[str, t.Any]] = []
        self.elements: list[dict[str, t.Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == 'script':
            self.scripts += 1
        for name in ('src', 'href'):
            value = attributes.get(name) or ''
            if value and not value.startswith('#'):
                self.external.append(value)
        if tag == 'link':
            self.external.append(str(attributes))
        element = {'tag': tag, 'attrs': attributes, 'text': [], 'children': []}
        if self.stack:
            self.stack[-1]['children'].append(element)
        if tag not in ('meta', 'col', 'br', 'link', 'img', 'input', 'hr'):
            self.stack.append(element)
        self.elements.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            element = self.stack.pop()
            if element['tag'] == tag:
                break

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for element in self.stack:
            element['text'].append(data)

    def find(self, **attrs: str) -> list[dict[str, t.Any]]:
        return [e for e in self.elements if all(e['attrs'].get(name.replace('_', '-')) == value
                                                for name, value in attrs.items())]

    def with_attr(self, name: str) -> list[dict[str, t.Any]]:
        return [e for e in self.elements if name in e['attrs']]


def text_of(element: dict[str, t.Any]) -> str:
    """The element's text, white space collapsed; text of separate elements stays apart."""
    return ' '.join(' '.join(element['text']).split())


@pytest.fixture(scope='module')
def dom(rendered, chromium) -> tuple[str, DomReader]:
    serialized = chromium.dump_dom(rendered.merged / 'mxaudit-report.html')
    reader = DomReader()
    reader.feed(serialized)
    return serialized, reader


def test_the_html_verdicts_match_the_json(rendered, dom):
    result = rendered.result
    _serialized, reader = dom
    verdict = reader.find(id='verdict')[0]
    assert verdict['attrs']['data-compliant'] == str(result['compliant']).lower()
    assert 'Not compliant' in text_of(verdict)
    assert verdict['attrs']['data-verdict'] == result['verdict']
    noncompliant = [d for d in result['domains'] if not d['compliant']]
    for name in ('compliant', 'noncompliant', 'unverified'):
        assert text_of(reader.find(data_count=name + '-domains')[0]) == str(
            sum(1 for d in result['domains'] if d['verdict'] == name)), name
    assert text_of(reader.find(data_count='compliant-domains')[0]) == str(result['stats']['compliant'])
    counts = Counter(finding['status'] for _domain, finding in all_findings(result))
    for status in STATUSES:
        tile = reader.find(data_count=status)[0]
        assert text_of(tile) == str(counts[status]), status
    # every domain, with its verdict, and every finding row with its status
    sections = [e for e in reader.with_attr('data-domain') if e['tag'] == 'section']
    assert [(s['attrs']['data-domain'], s['attrs']['data-compliant']) for s in sections] == [
        (d['domain'], str(d['compliant']).lower()) for d in result['domains']]
    rows = [e for e in reader.with_attr('data-rule') if e['tag'] == 'tr']
    assert Counter(row['attrs']['data-status'] for row in rows) == counts
    # the non-compliant list links to each failing domain
    links = {text_of(e) for e in reader.elements if e['tag'] == 'a' and e['attrs'].get('class') == 'grow'}
    assert links == {d['domain'] for d in noncompliant}


def test_the_html_check_table_and_rollup_match_the_stats(rendered, dom):
    stats = rendered.result['stats']
    _serialized, reader = dom
    for check, counts in stats['checks'].items():
        row = reader.find(data_check=check)[0]
        cells = {e['attrs']['data-status']: e for e in _descendants(reader, row)
                 if e['tag'] == 'td' and 'data-status' in e['attrs']}
        for status in STATUSES:
            assert text_of(cells[status]).split()[0] == str(counts[status]), (check, status)
    sessions = reader.find(data_stage='sessions')[0]
    assert str(stats['sessions']) in text_of(sessions).split()
    rcpt = reader.find(data_stage='refused_rcpt')[0]
    assert '%s %%' % stats['refused_at_percent']['rcpt'] in text_of(rcpt)


def _descendants(reader: DomReader, parent: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    out = []
    for child in parent['children']:
        out.append(child)
        out.extend(_descendants(reader, child))
    return out


def test_a_hostile_banner_renders_as_text(rendered, dom):
    serialized, reader = dom
    assert reader.scripts == 0                       # no <script> element was injected
    assert '&lt;script&gt;alert(1)&lt;/script&gt; &amp; "quotes"' in serialized
    section = next(s for s in reader.with_attr('data-domain') if s['attrs']['data-domain'] == 'hostile-banner.lab.test')
    assert 'greeting "220 mx.hostile-banner.lab.test ESMTP %s"' % HOSTILE in text_of(section)
    assert 'S: 220 mx.hostile-banner.lab.test ESMTP ' + HOSTILE in ''.join(section['text'])


def test_the_html_needs_nothing_from_outside(rendered, dom):
    _serialized, reader = dom
    assert reader.external == []
    source = (rendered.merged / 'mxaudit-report.html').read_text()
    assert '<script' not in source and '@import' not in source and 'url(' not in source
    assert '@media print' in source and 'name="viewport"' in source


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    return struct.unpack('>II', data[16:24])


def test_screenshots_at_desktop_and_phone_width_and_a_printout(rendered, chromium, tmp_path):
    target = Path(os.environ.get('MXAUDIT_REPORT_SCREENSHOTS') or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page = rendered.merged / 'mxaudit-report.html'
    desktop = chromium.screenshot(page, target / 'report-desktop.png', 1280, 2000)
    phone = chromium.screenshot(page, target / 'report-phone.png', 390, 1700)
    assert _png_size(desktop) == (1280, 2000) and _png_size(phone) == (390, 1700)
    assert desktop.stat().st_size > 50_000 and phone.stat().st_size > 20_000
    pdf = chromium.print_to_pdf(page, tmp_path / 'report.pdf')
    assert pdf.read_bytes()[:5] == b'%PDF-' and pdf.stat().st_size > 50_000


def test_a_printout_opens_the_transcripts_of_failures_only(rendered):
    source = (rendered.merged / 'mxaudit-report.html').read_text()
    opened = Counter()
    for match in re.finditer(r'<tr class="f-(\w+)"(.*?)</tr>', source, re.DOTALL):
        if 'print-open' in match.group(2):
            opened[match.group(1)] += 1
    assert opened['fail'] > 0 and set(opened) == {'fail'}, opened
    assert 'details.transcript.print-open::details-content' in source


def test_the_hostile_failure_renders_as_text_in_the_browser(hostile, chromium):
    reader = DomReader()
    reader.feed(chromium.dump_dom(hostile / 'mxaudit-report.html'))
    assert reader.scripts == 0
    section = next(s for s in reader.with_attr('data-domain') if s['attrs']['data-domain'] == 'hostile-banner.lab.test')
    assert section['attrs']['data-compliant'] == 'false'
    row = next(e for e in _descendants(reader, section) if e['tag'] == 'tr' and e['attrs'].get('data-rule') == 'GR-1')
    assert row['attrs']['data-status'] == 'fail' and HOSTILE in text_of(row)


# ---------------------------------------------------------------- the TLS section


def tls_entries(result: dict[str, t.Any]) -> list[tuple[dict[str, t.Any], dict[str, t.Any]]]:
    return [(domain, entry) for domain in result['domains'] for entry in domain['tls']]


def tls_entry(result: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    domain = next(domain for domain in result['domains'] if domain['domain'] == name)
    assert len(domain['tls']) == 1, domain['tls']
    return domain['tls'][0]


def expected_days_left(entry: dict[str, t.Any]) -> int:
    end = datetime.datetime.fromisoformat(entry['not_after'].replace('Z', '+00:00'))
    return int((end - GENERATED_AT).total_seconds() // 86400)


def test_the_json_has_what_tls_showed_at_every_address(rendered):
    result = rendered.result
    assert all('tls' in domain for domain in result['domains'])
    valid = tls_entry(result, 'tls-valid.lab.test')
    assert valid['mx'] == 'mx.tls-valid.lab.test' and valid['starttls'] is True and valid['trusted'] is True
    assert valid['protocol'] in ('TLSv1.2', 'TLSv1.3') and valid['cipher']
    assert valid['subject'] == 'CN=mx.tls-valid.lab.test' and valid['issuer'] == 'CN=mxaudit lab CA'
    assert valid['dns_names'] == ['mx.tls-valid.lab.test']
    assert re.match(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', valid['not_after']) and valid['not_before'] < valid['not_after']
    self_signed = tls_entry(result, 'tls-self-signed.lab.test')
    assert self_signed['trusted'] is False and self_signed['subject'] == self_signed['issuer']
    expired = tls_entry(result, 'tls-expired.lab.test')
    assert expired['not_after'] < datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    plain = tls_entry(result, 'compliant.lab.test')
    assert plain['starttls'] is False and plain['protocol'] is None and plain['subject'] is None and plain['trusted'] is None
    failed = tls_entry(result, 'tls-handshake-fails.lab.test')
    assert failed['starttls'] is True and failed['protocol'] is None and failed['subject'] is None


def test_the_tls_csv_has_a_row_per_address(rendered):
    result = rendered.result
    with (rendered.merged / 'mxaudit-report.tls.csv').open(newline='', encoding='utf-8') as handle:
        rows = list(csv.DictReader(handle))
    entries = tls_entries(result)
    assert rows and len(rows) == len(entries) and tuple(rows[0]) == TLS_CSV_COLUMNS
    for row, (domain, entry) in zip(rows, entries):
        assert (row['domain'], row['vantage_point'], row['mx'], row['address']) == (
            domain['domain'], domain['vantage_point'], entry['mx'] or '', entry['address'])
        assert row['starttls'] == {True: 'yes', False: 'no', None: ''}[entry['starttls']]
        assert row['trusted'] == {True: 'yes', False: 'no', None: ''}[entry['trusted']]
        assert (row['protocol'], row['subject'], row['not_after']) == (
            entry['protocol'] or '', entry['subject'] or '', entry['not_after'] or '')
        assert row['days_left'] == (str(expected_days_left(entry)) if entry['not_after'] else '')


def test_junit_tls_cases_carry_the_facts(rendered):
    xml = JUnitXml.fromfile(str(rendered.merged / 'mxaudit-report.junit.xml'))
    valid = tls_entry(rendered.result, 'tls-valid.lab.test')
    suite = next(suite for suite in xml if suite.name.startswith('tls-valid.lab.test'))
    case = next(case for case in suite if case.name.startswith('tls '))
    properties = {item.get('name'): item.get('value') for item in case._elem.iter('property')}  # pylint: disable=protected-access
    assert properties['tls.protocol'] == valid['protocol'] and properties['tls.cipher'] == valid['cipher']
    assert properties['tls.subject'] == 'CN=mx.tls-valid.lab.test' and properties['tls.issuer'] == 'CN=mxaudit lab CA'
    assert properties['tls.trusted'] == 'yes' and properties['tls.days_left'] == str(expected_days_left(valid))
    assert case.system_out.startswith('TLS: %s with %s; certificate subject CN=mx.tls-valid.lab.test' % (
        valid['protocol'], valid['cipher']))
    plain = next(case for suite in xml if suite.name.startswith('compliant.lab.test') for case in suite if case.name.startswith('tls '))
    assert 'TLS: STARTTLS not offered' in (plain.system_out or '')


# The domain's row of the Markdown TLS table (the domain cell names the vantage point: there are two).
MD_TLS_VALID_ROW = re.compile(r'\| tls-valid\.lab\.test from vantage-[ab] \| mx\.tls-valid\.lab\.test \|')


def test_markdown_has_the_tls_table(rendered):
    text = (rendered.merged / 'mxaudit-report.md').read_text()
    section = text.split('\n## TLS\n', 1)[1].split('\n## ', 1)[0]
    valid = tls_entry(rendered.result, 'tls-valid.lab.test')
    row = next(line for line in section.splitlines() if MD_TLS_VALID_ROW.match(line))
    assert '| yes | %s | %s | CN=mx.tls-valid.lab.test | CN=mxaudit lab CA | %s | %d | yes |' % (
        valid['protocol'], valid['cipher'].replace('_', '\\_'), valid['not_after'], expected_days_left(valid)) in row
    assert len([line for line in section.splitlines() if line.startswith('| ') and '|---' not in line]) == \
        len(tls_entries(rendered.result)) + 1  # the header


def _tls_cells(reader: DomReader, domain: str) -> dict[str, str]:
    row = next(e for e in reader.elements if e['tag'] == 'tr' and e['attrs'].get('data-tls-domain') == domain)
    return {e['attrs']['data-tls-field']: text_of(e) for e in _descendants(reader, row) if 'data-tls-field' in e['attrs']}


def test_the_html_tls_table_matches_the_json(rendered, dom):
    _serialized, reader = dom
    rows = [e for e in reader.elements if e['tag'] == 'tr' and 'data-tls-domain' in e['attrs']]
    assert [(row['attrs']['data-tls-domain'], row['attrs']['data-tls-address']) for row in rows] == [
        (domain['domain'], entry['address']) for domain, entry in tls_entries(rendered.result)]
    valid = tls_entry(rendered.result, 'tls-valid.lab.test')
    cells = _tls_cells(reader, 'tls-valid.lab.test')
    assert cells['starttls'] == 'yes' and cells['protocol'] == valid['protocol'] and cells['cipher'] == valid['cipher']
    assert cells['subject'] == 'CN=mx.tls-valid.lab.test' and cells['issuer'] == 'CN=mxaudit lab CA'
    assert cells['expires'] == '%s %d days left' % (valid['not_after'], expected_days_left(valid))
    assert cells['trusted'] == 'yes' and cells['status'] == 'pass'
    assert _tls_cells(reader, 'tls-self-signed.lab.test')['trusted'] == 'no'
    plain = _tls_cells(reader, 'compliant.lab.test')
    assert plain['starttls'] == 'no' and plain['trusted'] == 'unknown' and plain['subject'] == ''


def test_the_tls_table_at_phone_width(rendered, chromium, tmp_path):
    """The TLS section alone (the lab's STARTTLS domains), at phone and desktop width: rows stack into labelled lines."""
    result = copy.deepcopy(rendered.result)
    result['domains'] = [d for d in result['domains'] if d['domain'].startswith('tls-') and d['vantage_point'] == 'vantage-a']
    out = rendered.render_file(result, 'tls-only')
    page = out / 'mxaudit-report.html'
    target = Path(os.environ.get('MXAUDIT_REPORT_SCREENSHOTS') or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    phone = chromium.screenshot(page, target / 'report-tls-phone.png', 390, 4000)
    desktop = chromium.screenshot(page, target / 'report-tls-desktop.png', 1280, 2400)
    assert _png_size(phone) == (390, 4000) and _png_size(desktop) == (1280, 2400)
    source = page.read_text()
    assert 'table.tls td::before { content: attr(data-label)' in source and '@media (max-width: 600px)' in source
    reader = DomReader()
    reader.feed(chromium.dump_dom(page))
    labels = [e['attrs'].get('data-label') for e in reader.elements if e['tag'] == 'td' and 'data-tls-field' in e['attrs']]
    assert labels and None not in labels


def test_a_hostile_certificate_subject_is_text_in_every_format(hostile, chromium):
    raw = (hostile / 'mxaudit-report.junit.xml').read_text()
    assert '<script' not in raw and '\ufffe' not in raw
    xml = JUnitXml.fromfile(str(hostile / 'mxaudit-report.junit.xml'))
    suite = next(suite for suite in xml if suite.name.startswith('tls-valid.lab.test'))
    case = next(case for case in suite if case.name.startswith('tls '))
    properties = {item.get('name'): item.get('value') for item in case._elem.iter('property')}  # pylint: disable=protected-access
    assert properties['tls.subject'] == HOSTILE_SUBJECT_SHOWN.replace('\ufffe', '\ufffd')
    text = (hostile / 'mxaudit-report.md').read_text()
    row = next(line for line in text.splitlines() if MD_TLS_VALID_ROW.match(line))
    assert row.count('|') - row.count(r'\|') == 12   # eleven cells: the subject's pipe broke nothing
    assert r'\<script\>alert(2)\</script\>' in row and r'\`x\`' in row and '\\u202eevil' in row and '\u202e' not in text
    with (hostile / 'mxaudit-report.tls.csv').open(newline='', encoding='utf-8') as handle:
        rows = [row for row in csv.DictReader(handle) if row['domain'] == 'tls-valid.lab.test']
    assert rows[0]['subject'] == "'" + HOSTILE_SUBJECT_SHOWN and rows[0]['issuer'] == rows[0]['subject']
    reader = DomReader()
    reader.feed(chromium.dump_dom(hostile / 'mxaudit-report.html'))
    assert reader.scripts == 0
    cells = _tls_cells(reader, 'tls-valid.lab.test')
    assert cells['subject'] == ' '.join(HOSTILE_SUBJECT_SHOWN.split()) and cells['issuer'] == cells['subject']


# ---------------------------------------------------------------- DANE and MTA-STS (the lab publishes neither)

def test_the_json_has_the_policy_fields_of_every_domain(rendered):
    probed = [domain for domain in rendered.result['domains'] if domain['mx']]
    assert probed and all('dane' in domain for domain in rendered.result['domains'])
    for domain in probed:
        if 'mta_sts' in domain:
            assert domain['mta_sts'] == {'published': False}, domain['domain']
        assert all(entry['published'] is False and set(entry) == {'mx', 'address', 'published', 'dnssec'}
                   for entry in domain['dane']), domain['domain']
    valid = next(d for d in rendered.result['domains'] if d['domain'] == 'tls-valid.lab.test')
    assert valid['mta_sts'] == {'published': False} and [e['address'] for e in valid['dane']] == [e['address'] for e in valid['tls']]


def policy_entries(result: dict[str, t.Any]) -> list[tuple[str, str, str]]:
    rows = []
    for domain in result['domains']:
        if 'mta_sts' in domain:
            rows.append((domain['domain'], 'mta_sts', ''))
        rows.extend((domain['domain'], 'dane', entry['address']) for entry in domain.get('dane', []))
    return rows


def test_the_policy_section_renders_not_published_rows_in_every_format(rendered, dom):
    result = rendered.result
    expected = policy_entries(result)
    assert expected
    with (rendered.merged / 'mxaudit-report.policy.csv').open(newline='', encoding='utf-8') as handle:
        rows = list(csv.DictReader(handle))
    assert [(row['domain'], row['kind'], row['address']) for row in rows] == expected
    assert {row['published'] for row in rows} == {'no'}
    text = (rendered.merged / 'mxaudit-report.md').read_text()
    section = text.split('\n## DANE and MTA-STS\n', 1)[1].split('\n## ', 1)[0]
    lines = [line for line in section.splitlines() if line.startswith('| ') and '|---' not in line]
    assert len(lines) == len(expected) + 1 and all('| not published |' in line for line in lines[1:])
    _serialized, reader = dom
    html_rows = [e for e in reader.elements if e['tag'] == 'tr' and 'data-policy-kind' in e['attrs']]
    assert [(row['attrs']['data-policy-domain'], row['attrs']['data-policy-kind'], row['attrs'].get('data-policy-address', ''))
            for row in html_rows] == expected
    cells = [e for row in html_rows for e in _descendants(reader, row) if e['attrs'].get('data-policy-field') == 'published']
    assert {text_of(cell) for cell in cells} == {'not published'}
    labels = [e['attrs'].get('data-label') for row in html_rows for e in _descendants(reader, row) if e['tag'] == 'td']
    assert labels and None not in labels  # each cell is labelled for the phone layout, as in the TLS card
    assert 'table.policy td::before { content: attr(data-label)' in (rendered.merged / 'mxaudit-report.html').read_text()
    xml = JUnitXml.fromfile(str(rendered.merged / 'mxaudit-report.junit.xml'))
    suite = next(suite for suite in xml if suite.name.startswith('tls-valid.lab.test'))
    sts = next(case for case in suite if case.name.split()[0] == 'mta_sts')
    assert {item.get('name'): item.get('value') for item in sts._elem.iter('property')} == {  # pylint: disable=protected-access
        'mta_sts.published': 'no'}
    assert (sts.system_out or '').startswith('MTA-STS: not published')
    dane = next(case for case in suite if case.name.split()[0] == 'dane')
    properties = {item.get('name'): item.get('value') for item in dane._elem.iter('property')}  # pylint: disable=protected-access
    assert properties['dane.published'] == 'no' and properties['dane.dnssec'] in ('unknown', 'insecure')


def test_a_hostile_policy_is_text_in_every_format(hostile, chromium):
    shown = HOSTILE_SUBJECT_SHOWN
    xml = JUnitXml.fromfile(str(hostile / 'mxaudit-report.junit.xml'))
    suite = next(suite for suite in xml if suite.name.startswith('tls-valid.lab.test'))
    case = next(case for case in suite if case.name.split()[0] == 'mta_sts')
    properties = {item.get('name'): item.get('value') for item in case._elem.iter('property')}  # pylint: disable=protected-access
    assert properties['mta_sts.id'] == properties['mta_sts.rua'] == shown.replace('\ufffe', '\ufffd')
    text = (hostile / 'mxaudit-report.md').read_text()
    row = next(line for line in text.splitlines() if re.match(r'\| tls-valid\.lab\.test from vantage-[ab] \| MTA-STS \|', line))
    assert row.count('|') - row.count(r'\|') == 8   # seven cells
    assert r'\<script\>alert(2)\</script\>' in row and '\u202e' not in text
    with (hostile / 'mxaudit-report.policy.csv').open(newline='', encoding='utf-8') as handle:
        rows = [row for row in csv.DictReader(handle) if row['domain'] == 'tls-valid.lab.test' and row['kind'] == 'mta_sts']
    assert rows[0]['id'] == rows[0]['rua'] == rows[0]['mx_patterns'] == "'" + shown
    reader = DomReader()
    reader.feed(chromium.dump_dom(hostile / 'mxaudit-report.html'))
    assert reader.scripts == 0
