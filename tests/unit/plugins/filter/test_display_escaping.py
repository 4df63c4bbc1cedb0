# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Server text must read in a report as the server sent it (issue 9).

1. Characters that change how the text around them displays - bidi controls, zero-width
   characters, separators, tag characters, other format and control characters - are shown
   as escapes (\\u202e) in every format, so that "user <RLO>known<PDF> ok" cannot pass for
   "user nwonk ok".
2. In Markdown, server text never becomes a link (GitHub-flavoured autolinks).
"""

from __future__ import annotations

import csv
import io
import json
import re
import typing as t
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.filter.core import to_nice_json
from ansible.template import Templar, trust_as_template

from ansible_collections.mxaudit.smtp.plugins.filter.formats import FilterModule as Formats
from ansible_collections.mxaudit.smtp.plugins.filter.markdown import FilterModule as Markdown
from ansible_collections.mxaudit.smtp.plugins.filter.rollups import FilterModule as Rollups
from ansible_collections.mxaudit.smtp.plugins.module_utils._report import CSV_COLUMNS

from ansible_collections.mxaudit.smtp.tests.unit.plugins.filter.report_data import audit_result, finding

FILTERS = {**Rollups().filters(), **Formats().filters(), **Markdown().filters()}
ROLE = Path(__file__).resolve().parents[4] / 'roles' / 'report'

# The reply of the issue: displayed raw, U+202E reverses "known" and U+202C ends the override.
REPLY = '550 5.1.1 user \u202eknown\u202c ok'
SHOWN = r'550 5.1.1 user \u202eknown\u202c ok'

# Each character that must not reach a report raw, and how it is to be shown instead: Python's
# escapes, as the transcripts already show control bytes (\x1b).
HIDDEN = {
    **{chr(code): '\\u%04x' % code for code in range(0x202A, 0x202F)},   # LRE, RLE, PDF, LRO, RLO
    **{chr(code): '\\u%04x' % code for code in range(0x2066, 0x206A)},   # LRI, RLI, FSI, PDI
    '\u200e': '\\u200e', '\u200f': '\\u200f', '\u061c': '\\u061c',      # LRM, RLM, ALM
    '\u200b': '\\u200b', '\u200c': '\\u200c', '\u200d': '\\u200d',      # zero-width space, non-joiner, joiner
    '\u2060': '\\u2060', '\ufeff': '\\ufeff',                            # word joiner, BOM
    '\u2028': '\\u2028', '\u2029': '\\u2029',                            # line and paragraph separators
    '\U000e0000': '\\U000e0000', '\U000e0001': '\\U000e0001',            # tag block: unassigned, LANGUAGE TAG
    '\U000e0041': '\\U000e0041', '\U000e007f': '\\U000e007f',            # TAG LATIN CAPITAL A, CANCEL TAG
    '\u00ad': '\\xad', '\u180e': '\\u180e', '\U0001d173': '\\U0001d173',  # other Cf: soft hyphen, MVS, a musical one
    '\x00': '\\x00', '\x07': '\\x07', '\x1b': '\\x1b', '\x7f': '\\x7f',  # C0 controls and DEL
    '\x85': '\\x85', '\x9b': '\\x9b',                                    # C1: NEL, CSI
    '\ud800': '\\ud800',                                                 # a lone surrogate (JSON can carry one)
}
# Text that displays as itself stays itself: accents, other scripts, emoji, a no-break space.
KEPT = 'caf\u00e9 \u65e5\u672c \u05e9\u05dc\u05d5\u05dd \U0001f600 a\u00a0b'


def test_the_issue_reply_is_shown_with_its_override_escaped():
    visible_text = FILTERS['visible_text']
    assert visible_text(REPLY) == SHOWN


@pytest.mark.parametrize('char', sorted(HIDDEN), ids=lambda char: 'U+%04X' % ord(char))
def test_each_hidden_character_becomes_its_escape(char):
    assert FILTERS['visible_text']('a%sb' % char) == 'a%sb' % HIDDEN[char]


def test_every_format_and_control_character_is_escaped():
    # Whatever the Unicode database of this Python calls Cf or Cc (tab, LF and CR aside) is shown escaped.
    visible_text = FILTERS['visible_text']
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) in ('Cf', 'Cc') and char not in '\t\n\r':
            assert char not in visible_text(char), 'U+%04X' % code


def test_what_displays_as_itself_is_kept():
    visible_text = FILTERS['visible_text']
    assert visible_text(KEPT) == KEPT
    assert visible_text('a\tb\nc\r\n') == 'a\tb\nc\r\n'    # layout: each format handles it
    assert visible_text(r'a literal \u202e') == r'a literal \u202e'
    assert visible_text(None) == '' and visible_text(25) == '25'


# ---------------------------------------------------------------- the formats


def hidden_domain() -> dict[str, t.Any]:
    """A domain whose server put every hidden character into a reply."""
    domain, mx, address = 'bidi.example', 'mx.bidi.example', '192.0.2.77'
    every = ''.join(sorted(HIDDEN))
    return {'domain': domain, 'mx': [], 'compliant': False, 'findings': [
        finding('MX-1', 'pass', domain),
        finding('PM-1', 'fail', domain, mx, address, 'RCPT TO:<postmaster@bidi.example> refused: ' + REPLY,
                ['S: 220 mx.bidi.example ESMTP', 'C: RCPT TO:<postmaster@bidi.example>', 'S: ' + REPLY,
                 'S: 250 all of them: ' + every]),
        finding('RV-1', 'inconclusive', domain, mx, address, '451 4.7.1 ' + every),
    ]}


def result() -> dict[str, t.Any]:
    return FILTERS['merge_results']([{'host': 'vp1', 'result': audit_result([hidden_domain()])}], '2025-01-31T02:00:00Z')


def assert_nothing_hidden(text: str) -> None:
    found = sorted({'U+%04X' % ord(char) for char in text if char in HIDDEN})
    assert not found, 'hidden characters reached the output: %s' % ', '.join(found)


def test_csv_shows_the_escapes():
    text = FILTERS['findings_csv'](result())
    assert_nothing_hidden(text)
    rows = list(csv.reader(io.StringIO(text, newline='')))
    summaries = [row[CSV_COLUMNS.index('summary')] for row in rows[1:]]
    assert 'RCPT TO:<postmaster@bidi.example> refused: ' + SHOWN in summaries


def test_junit_shows_the_escapes():
    cases = {case['status']: case for case in FILTERS['junit_cases'](result())['suites'][0]['cases']}
    for case in cases.values():
        for key in ('message', 'body', 'out', 'name', 'classname'):
            assert_nothing_hidden(case[key])
    assert cases['fail']['message'].endswith(SHOWN)
    assert '    S: ' + SHOWN in cases['fail']['body'].splitlines()
    assert '451 4.7.1 ' + ''.join(HIDDEN[char] for char in sorted(HIDDEN)) in cases['inconclusive']['out']


def test_markdown_escape_shows_the_escapes():
    text = FILTERS['markdown_escape'](REPLY)
    assert_nothing_hidden(text)
    # Markdown then escapes the backslash itself (\\ renders as \), so the reader sees \u202e.
    assert text == SHOWN.replace('\\', '\\\\')


def test_markdown_escape_does_not_turn_separators_into_spaces():
    # str.split() would take U+2028 for white space and drop it unseen.
    assert FILTERS['markdown_escape']('a\u2028b') == r'a\\u2028b'


def test_markdown_code_shows_the_escapes():
    block = FILTERS['markdown_code'](['S: ' + REPLY, 'S: 250 \u200b\ufeff'])
    assert_nothing_hidden(block)
    assert block.splitlines()[1:3] == ['S: ' + SHOWN, r'S: 250 \u200b\ufeff']


def test_json_keeps_the_data_and_writes_escapes():
    # The JSON report is data (role task json.yml: to_nice_json(indent=2)): the text stays exact,
    # and the encoding writes every non-ASCII character as a JSON \u escape, so none reaches the file raw.
    data = result()
    text = to_nice_json(data, indent=2)
    assert_nothing_hidden(text)
    assert json.loads(text)['domains'][0]['findings'][1]['summary'].endswith(REPLY)


# ---------------------------------------------------------------- the templates


def render(template: str, data: dict[str, t.Any]) -> str:
    """The role's template rendered by Ansible's own templating, with the role's variables."""
    variables = yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text())
    variables.update(_mxaudit_report_data=data, mxaudit_report_title='SMTP conformance audit')
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.template(trust_as_template((ROLE / 'templates' / template).read_text()))


@pytest.mark.parametrize('template', ['report.html.j2', 'report.md.j2', 'report.junit.xml.j2'])
def test_no_template_lets_a_hidden_character_through(template):
    text = render(template, result())
    assert_nothing_hidden(text)


def test_the_html_report_shows_the_escapes():
    html = render('report.html.j2', result())
    # The summary cell and the transcript line, each as text the browser shows.
    assert 'refused: %s' % SHOWN in html
    assert '>S: %s</span>' % SHOWN in html


def test_the_junit_report_is_well_formed_and_shows_the_escapes():
    document = ET.fromstring(render('report.junit.xml.j2', result()))
    failure = next((item for item in document.iter('failure') if SHOWN in (item.get('message') or '')), None)
    assert failure is not None and SHOWN in failure.get('message') and 'S: ' + SHOWN in failure.text


# ---------------------------------------------------------------- Markdown autolinks

# GitHub renders Markdown with cmark-gfm and its autolink extension, which makes links of
# http://..., https://..., ftp://..., www.... and bare addresses (a@b.c, also after mailto: or
# xmpp:). Tried against cmark-gfm (the cmarkgfm bindings): a backslash escape of the ':' of
# '://' or of the '.' of 'www.' stops the first kinds, but not an address - the address
# autolink looks at the text with the escapes already resolved (a\@b.c and a&#64;b.c are
# still links) - so an address has to be in a code span, where nothing is ever a link.
CODE_SPAN = re.compile(r'(`+)(?!`).*?(?<!`)\1(?!`)')
ESCAPE = re.compile(r'\\([!-/:-@\[-`{-~])')
URL = re.compile(r'(?i)(?:https?|ftp)://')
WWW = re.compile(r'(?i)(?:^|[\s*_~(])www\.')
ADDRESS = re.compile(r'[A-Za-z0-9.+_-]+@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+')


def autolinks(markdown: str) -> list[str]:
    """What the GFM autolink extension would make a link of in this inline Markdown."""
    outside_code = CODE_SPAN.sub(' ', markdown)
    found = URL.findall(outside_code) + WWW.findall(outside_code)
    return found + ADDRESS.findall(ESCAPE.sub(r'\1', outside_code))


def test_the_autolink_model_finds_what_github_links():
    # The checker above must see the links, or the tests below would pass on anything.
    assert autolinks('see http://a.example, HTTPS://b.example ftp://c.example') == ['http://', 'HTTPS://', 'ftp://']
    assert autolinks('www.a.example (www.b.example) *www.c.example*') == ['www.', '(www.', '*www.']
    assert autolinks(r'a\@b.example') == ['a@b.example'] and autolinks('mailto:a@b.example') == ['a@b.example']
    assert autolinks(r'http\://a.example www\.a.example `a@b.example` ``x`y@b.example``') == []


SERVER_LINKS = [
    '550 see http://evil.example/unblock?id=1 or https://evil.example/',
    '550 5.7.1 visit www.evil.example to delist',
    '550 5.7.1 (www.evil.example) *www.evil.example* WWW.EVIL.EXAMPLE',
    '550 write to abuse@evil.example or postmaster@[192.0.2.1]',
    '550 mailto:a.b+c@evil.example xmpp:bot@evil.example/resource',
    '550 ftp://evil.example/file and http://user@evil.example/',
    '550 a_b@c.example `x@y.example` a\\@b.example',
]


@pytest.mark.parametrize('text', SERVER_LINKS)
def test_markdown_escape_makes_no_link_of_server_text(text):
    assert autolinks(FILTERS['markdown_escape'](text)) == []


@pytest.mark.parametrize('text, escaped', [
    ('see http://evil.example/x', r'see http\://evil.example/x'),
    ('see www.evil.example', r'see www\.evil.example'),
    ('mail abuse@evil.example.', 'mail `abuse@evil.example`.'),
    ('RCPT TO:<postmaster@example.org> refused', r'RCPT TO:\<`postmaster@example.org`\> refused'),
    ('ask @postmaster', 'ask `@postmaster`'),
    ('a|b@c.example', r'a\|`b@c.example`'),
])
def test_markdown_escape_breaks_links_and_keeps_the_text(text, escaped):
    # The rendered text is the server's, character for character: an escaped ':' or '.' renders as
    # itself and a code span shows its content as it is.
    assert FILTERS['markdown_escape'](text) == escaped


def test_the_markdown_report_makes_no_link_of_server_text():
    data = result()
    data['domains'][0]['findings'][1]['summary'] = ' '.join(SERVER_LINKS)
    text = render('report.md.j2', data)
    rows = [line for line in text.splitlines() if line.startswith('| **fail** |')]
    assert len(rows) == 1 and 'evil.example' in rows[0]
    assert autolinks(rows[0]) == []
