# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The smtp_info session judges: replies in, verdicts out (whole sessions: tests/unit/lab/test_session_check_lab.py)."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import session as check
from ansible_collections.mxaudit.smtp.plugins.module_utils._session import Hello


def verdict(judge, *args) -> tuple[str, str]:
    verdicts = check._Verdicts()
    judge(*args, verdicts)
    assert len(verdicts.parts) == 1
    parts = list(verdicts.parts.values())[0]
    assert len(parts) == 1
    return parts[0]


# ------------------------------------------------------------------ judges

@pytest.mark.parametrize('greeting, status', [
    ('220 mx1.example.org ESMTP Postfix', 'pass'),
    ('220 [192.0.2.1] ready', 'pass'),
    ('220 ****************************', 'fail'),       # a banner-rewriting firewall
    ('554 5.3.2 mx1.example.org no service', 'pass'),   # a legal refusal
    ('421 4.3.2 try later', 'inconclusive'),
    ('450 busy', 'inconclusive'),
    ('250 mx1.example.org', 'fail'),
    ('550 go away', 'fail'),
])
def test_greeting(greeting, status):
    verdicts = check._Verdicts()
    check.judge_greeting(reply(greeting), verdicts)
    assert verdicts.parts['GR-1'][0][0] == status


def test_ehlo_not_supported_but_helo_works_is_a_fail():
    hello = Hello(reply('500 5.5.1 Command unrecognized'), reply('250 mx1.example.org'))
    verdicts = check._Verdicts()
    assert check.judge_ehlo(hello, verdicts)
    assert verdicts.parts['GR-3'][0][0] == 'fail'


@pytest.mark.parametrize('ehlo, status', [
    ('421 4.7.0 too many connections', 'inconclusive'),
    ('550 5.7.1 Client host rejected: blocked', 'inconclusive'),  # a refusal of the auditor, not a missing EHLO
])
def test_ehlo_refused_for_policy_or_temporarily_is_never_a_fail(ehlo, status):
    verdicts = check._Verdicts()
    check.judge_ehlo(Hello(reply(ehlo), None), verdicts)
    assert verdicts.parts['GR-3'][0][0] == status


@pytest.mark.parametrize('text, status', [
    ('250 mx1.example.org', 'pass'),
    ('250-mx1.example.org\r\n250 PIPELINING', 'warn'),
    ('502 5.5.2 HELO not implemented', 'fail'),
    ('421 4.3.2 later', 'inconclusive'),
])
def test_helo_in_a_fresh_session(text, status):
    parsed = protocol.ReplyParser().feed(text.encode() + b'\r\n')[-1]
    assert verdict(check.judge_helo_session, parsed)[0] == status


@pytest.mark.parametrize('text, status', [('250 2.0.0 Ok', 'pass'), ('252 odd', 'warn'), ('502 not implemented', 'fail'),
                                          ('421 bye', 'inconclusive')])
def test_noop(text, status):
    assert verdict(check.judge_noop, reply(text))[0] == status


def test_rset_that_does_not_clear_the_transaction():
    status, summary = verdict(check.judge_rset_cleared, reply('503 5.5.1 Error: nested MAIL command'))
    assert status == 'fail' and 'did not clear' in summary


@pytest.mark.parametrize('postmaster, unknown, status, words', [
    ('252 2.0.0 Cannot VRFY user', None, 'pass', ''),
    ('250 2.0.0 <postmaster@example.org>', None, 'pass', ''),
    ('502 5.5.1 VRFY command is disabled', '502 5.5.1 VRFY command is disabled', 'warn', 'answers 252'),
    ('550 5.1.1 User unknown', '550 5.1.1 User unknown', 'fail', 'answers 550 to everything'),
    ('550 5.7.1 VRFY refused by policy', '550 5.7.1 VRFY refused by policy', 'inconclusive', 'policy'),
    ('530 5.7.0 Authentication required', '530 5.7.0 Authentication required', 'inconclusive', 'policy'),
    ('450 4.7.1 later', None, 'inconclusive', ''),
])
def test_vrfy(postmaster, unknown, status, words):
    got, summary = verdict(check.judge_vrfy, reply(postmaster), reply(unknown) if unknown else None)
    assert got == status and words in summary


@pytest.mark.parametrize('text, still_open, status', [
    ('500 5.5.2 Error: command not recognized', True, 'pass'),
    ('502 5.5.1 Unrecognized command', True, 'warn'),
    ('500 5.5.2 Error: command not recognized', False, 'fail'),
    ('421 4.7.0 closing', False, 'inconclusive'),
    ('250 ok', True, 'fail'),
    (None, False, 'fail'),
])
def test_unknown_verb(text, still_open, status):
    assert verdict(check.judge_unknown_verb, reply(text) if text else None, still_open)[0] == status


@pytest.mark.parametrize('text, closed, status', [
    ('221 2.0.0 Bye', True, 'pass'), ('221 2.0.0 Bye', False, 'fail'), ('500 no', True, 'fail'),
    ('421 later', True, 'inconclusive')])
def test_quit(text, closed, status):
    assert verdict(check.judge_quit, reply(text), closed)[0] == status


def test_syntax_warnings_for_bare_lf_and_long_lines():
    replies = protocol.ReplyParser().feed(b'220 mx\n250 ' + b'w' * 600 + b'\r\n')
    verdicts = check._Verdicts()
    check.judge_syntax(replies, verdicts)
    assert [part[0] for part in verdicts.parts['GR-2']] == ['warn', 'warn']


# ------------------------------------------------------------------ GR-2 over the reply flags (issue 9)

def parsed(data: bytes) -> list[protocol.Reply]:
    return protocol.ReplyParser().feed(data)


def syntax(replies, capabilities=None) -> list[tuple[str, str]]:
    verdicts = check._Verdicts()
    check.judge_syntax(replies, verdicts, capabilities)
    return verdicts.parts['GR-2']


@pytest.mark.parametrize('data, words', [
    (b'250 ok\x1b[31m red\r\n', 'control characters'),      # ESC: a terminal escape in a reply
    (b'250 ok\x00\r\n', 'control characters'),              # NUL
    (b'250 ok\rhidden\r\n', 'control characters'),          # a CR that does not end the line
    (b'250 ok \xc2\x9b31m\r\n', 'control characters'),      # C1 CSI in UTF-8
    (b'250 caf\xe9\r\n', 'not UTF-8'),                      # Latin-1, not UTF-8
])
def test_control_characters_and_invalid_utf8_break_the_reply_grammar(data, words):
    parts = syntax(parsed(b'220 mx.example.org\r\n' + data))
    assert [status for status, _text in parts] == ['fail']
    assert words in parts[0][1] and 'RFC 5321 4.2' in parts[0][1]
    assert '\\x' in parts[0][1]  # the reply is quoted with its hidden characters escaped


@pytest.mark.parametrize('data', [b'250 tab\there\r\n', '250 Grüße, SMTPUTF8\r\n'.encode()])
def test_a_tab_and_utf8_text_are_allowed(data):
    assert syntax(parsed(data)) == [('pass', '1 replies, all well-formed')]


def test_bare_lf_and_long_lines_stay_warnings_next_to_a_fail():
    parts = syntax(parsed(b'250 a\n250 ' + b'w' * 600 + b'\r\n250 \x07bell\r\n'))
    assert sorted(status for status, _text in parts) == ['fail', 'warn', 'warn']


@pytest.mark.parametrize('ehlo, line', [
    ('250-mx.example.org\n250 SIZE \u00b2', 'SIZE \u00b2'),
    ('250-mx.example.org\n250-PIPELINING\n250 AUTH PLAIN L\u00d6GIN', 'AUTH PLAIN L\u00d6GIN'),
    ('250-mx.example.org\n250 \u017fTARTTLS', '\u017fTARTTLS'),
])
def test_an_ehlo_line_the_parser_cannot_understand_is_a_warning_naming_it(ehlo, line):
    ehlo_reply = reply(ehlo)
    capabilities = protocol.parse_ehlo(ehlo_reply)
    assert capabilities.invalid == [line]
    parts = syntax([reply('220 mx.example.org'), ehlo_reply], capabilities)
    assert [status for status, _text in parts] == ['warn']
    assert '"%s"' % line in parts[0][1] and 'EHLO' in parts[0][1]


def test_a_malformed_reply_is_still_a_fail_with_the_flags_added():
    verdicts = check._Verdicts()
    check._session_error(verdicts, 'GR-3', check.smtp.MalformedReply('reply longer than 100 lines', True))
    check.judge_syntax(parsed(b'250 \x1bx\r\n'), verdicts)
    assert sorted(status for status, _text in verdicts.parts['GR-2']) == ['fail', 'inconclusive']


# ------------------------------------------------------------------ replies no command asked for (issue 9)

def test_unsolicited_replies_fail_gr2_and_void_what_the_session_judged():
    verdicts = check._Verdicts()
    check.judge_greeting(reply('220 mx.example.org ESMTP'), verdicts)
    verdicts.add('GR-3', 'pass', 'EHLO 250')
    verdicts.add('CMD-1', 'fail', 'QUIT "250 injected 10"')
    error = check.smtp.UnsolicitedReply('the server sent 1 reply that no command asked for, before NOOP was sent: '
                                        '"250 injected 1"', [reply('250 injected 1')])
    check._session_error(verdicts, 'CMD-1', error)
    findings = {finding.rule: finding for finding in verdicts.findings(check.Target('example.org', 'mx', '192.0.2.1'), [])}
    assert {rule: finding.status for rule, finding in findings.items()} == {
        'GR-1': 'pass', 'GR-2': 'fail', 'GR-3': 'inconclusive', 'CMD-1': 'inconclusive', 'CMD-2': 'inconclusive',
        'CMD-3': 'inconclusive'}
    assert '"250 injected 1"' in findings['GR-2'].summary
    assert 'cannot be matched' in findings['CMD-1'].summary and 'injected 10' not in findings['CMD-1'].summary
