# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Ansible renders templates with autoescape off, so the HTML and XML templates escape each value
themselves: every {{ }} ends in `| e`, is a number (`| int`, `| float`), or prints only string
literals of the template's own. A value added later without `e` fails here, before any server does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / 'roles' / 'report' / 'templates'
EXPRESSION = re.compile(r'{{-?\s*(.*?)\s*-?}}', re.S)
SAFE_END = re.compile(r'\|\s*(e|escape|int|float)$')
# 'a' if x else 'b' (if ... else 'c')*: only the template's own literals reach the output.
LITERAL_CHOICE = re.compile(r"'[^'{}<>&\"]*'(\s+if\s+(?:(?!\belse\b).)+?\s+else\s+'[^'{}<>&\"]*')*")
COMMENT = re.compile(r'{#.*?#}', re.S)


def unescaped(text: str) -> list[str]:
    return [expression for expression in EXPRESSION.findall(COMMENT.sub('', text))
            if not SAFE_END.search(expression) and not LITERAL_CHOICE.fullmatch(expression)]


@pytest.mark.parametrize('name', ['report.html.j2', 'report.junit.xml.j2'])
def test_every_value_is_escaped(name):
    assert unescaped((TEMPLATES / name).read_text()) == []


def test_the_checker_catches_a_raw_value():
    assert unescaped("<p>{{ finding.summary }}</p>{{ x | e }}{{ n | int }}{{ 'a' if ok else 'b' }}") == ['finding.summary']
    assert unescaped("{{ 'a' if ok else finding.summary }}") == ["'a' if ok else finding.summary"]
    assert unescaped("{{ 'a' if x else y if z else 'b' }}") == ["'a' if x else y if z else 'b'"]
    assert unescaped("{# {{ raw }} in a comment #}{{ 'c' if line.startswith('C:') else 'n' }}") == []
