# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Hostile peers through the modules (issue 9): a fault is blamed on its cause, never on the rule that met it.

- closes_at_mail: offers PIPELINING, closes at MAIL FROM whether pipelined or not - not a pipelining failure.
- unsolicited_after_greeting: ten "250 injected N" right after its 220; refuses relaying.
- doubled_replies: every command answered twice; refuses relaying.

Replies no command asked for are a GR-2 violation (smtp_info). They must never be read as the replies to
the commands that follow: that turned a server refusing relaying into "an open relay". Each test runs all
its modules in one test function (ansible-test forks each test and starts the lab afresh).
"""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.modules import (
    null_sender_check,
    pipelining_check,
    postmaster_check,
    recipient_check,
    relay_check,
    smtp_info,
)
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

RELAY_RECIPIENT = 'relay-probe@foreign.lab.test'
ENVELOPE_MODULES = {
    'postmaster_check': postmaster_check,
    'null_sender_check': null_sender_check,
    'relay_check': relay_check,
    'recipient_check': recipient_check,
}
UNSOLICITED = ('unsolicited_after_greeting', 'doubled_replies')


def findings(result):
    return {finding['rule']: finding for finding in result['findings']}


def module_result(lab, capsys, module, behaviour, **extra):
    code, result = run_module(module, lab.module_args(domain=lab.domain(behaviour), **extra), capsys)
    assert code == 0, result.get('msg')
    return result


# ---------------------------------------------------------------- item 2: pipelining blamed only on pipelining

def test_a_server_closing_at_mail_is_not_a_pipelining_failure(lab, capsys):
    result = module_result(lab, capsys, pipelining_check, 'closes_at_mail', timeout=1.0)
    by_rule = findings(result)
    assert {rule: finding['status'] for rule, finding in by_rule.items()} == {'PL-1': 'inconclusive',
                                                                              'PL-2': 'inconclusive'}
    for finding in by_rule.values():
        assert 'one at a time' in finding['summary'] and 'not pipelining' in finding['summary'], finding['summary']
        # The evidence: MAIL FROM sent on its own, in a session of its own, and the close.
        assert 'C: MAIL FROM:<postmaster@audit.lab.test>' in finding['transcript']
    # Nothing decided about pipelining: unverified, never a pipelining failure.
    assert result['verdict'] == 'unverified' and result['compliant'] is False


def test_pipelining_loses_still_fails_and_says_the_commands_work_one_at_a_time(lab, capsys):
    result = module_result(lab, capsys, pipelining_check, 'pipelining_loses', timeout=1.0)
    by_rule = findings(result)
    assert {rule: finding['status'] for rule, finding in by_rule.items()} == {'PL-1': 'fail', 'PL-2': 'fail'}
    for finding in by_rule.values():
        assert 'one at a time' in finding['summary'] and 'answered' in finding['summary'], finding['summary']
    assert result['compliant'] is False


# ---------------------------------------------------------------- item 3: unsolicited and doubled replies

def test_unsolicited_replies_never_make_an_open_relay(lab, capsys):
    for behaviour in UNSOLICITED:
        result = module_result(lab, capsys, relay_check, behaviour, relay_recipient=RELAY_RECIPIENT)
        by_rule = findings(result)
        assert set(by_rule) == {'RL-1', 'RL-2'}
        for rule, finding in by_rule.items():
            assert finding['status'] == 'inconclusive', (behaviour, rule, finding['summary'])
            assert 'no command asked for' in finding['summary'], (behaviour, finding['summary'])


def test_unsolicited_replies_fail_no_envelope_rule(lab, capsys):
    for behaviour in UNSOLICITED:
        for name, module in ENVELOPE_MODULES.items():
            extra = {'relay_recipient': RELAY_RECIPIENT} if name == 'relay_check' else {}
            result = module_result(lab, capsys, module, behaviour, **extra)
            statuses = {finding['rule']: finding['status'] for finding in result['findings']}
            assert set(statuses.values()) == {'inconclusive'}, (behaviour, name, result['findings'])


def test_smtp_info_reports_unsolicited_replies_as_gr2_and_judges_nothing_else_on_them(lab, capsys):
    for behaviour in UNSOLICITED:
        result = module_result(lab, capsys, smtp_info, behaviour)
        by_rule = findings(result)
        assert by_rule['GR-1']['status'] == 'pass', by_rule['GR-1']
        assert by_rule['GR-2']['status'] == 'fail', by_rule['GR-2']
        assert 'no command asked for' in by_rule['GR-2']['summary']
        for rule in ('GR-3', 'CMD-1', 'CMD-2', 'CMD-3'):
            assert by_rule[rule]['status'] == 'inconclusive', (behaviour, rule, by_rule[rule]['summary'])
        assert result['compliant'] is False
    transcript = findings(module_result(lab, capsys, smtp_info, 'unsolicited_after_greeting'))['GR-2']['transcript']
    # The evidence: the greeting and the ten injected replies, and no command sent on top of them.
    assert transcript[:11] == ['S: 220 mx.unsolicited-after-greeting.lab.test ESMTP mxaudit-lab'] + [
        'S: 250 injected %d' % n for n in range(1, 11)]
    assert not [line for line in transcript if line.startswith('C: ')], transcript


def test_pipelining_check_blames_doubled_replies_on_the_replies_not_on_pipelining(lab, capsys):
    result = module_result(lab, capsys, pipelining_check, 'doubled_replies')
    statuses = {finding['rule']: finding['status'] for finding in result['findings']}
    assert statuses == {'PL-1': 'inconclusive', 'PL-2': 'inconclusive'}, result['findings']
    result = module_result(lab, capsys, pipelining_check, 'unsolicited_after_greeting')
    statuses = {finding['rule']: finding['status'] for finding in result['findings']}
    assert statuses == {'PL-1': 'inconclusive', 'PL-2': 'inconclusive'}, result['findings']
