# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PL-1 and PL-2: how a pipelined group was answered."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import pipelining


GROUP = [protocol.mail_from('a@audit.example.net'), protocol.rcpt_to('postmaster@example.org'), protocol.rset(),
         protocol.quit_()]
SYNC = GROUP[:3] + [protocol.noop()]


def group(codes, error=None, commands=None):
    replies = [reply('%d x' % code) for code in codes]
    return smtp.PipelineResult(commands or GROUP, replies, error)


def test_the_source_document_pipelining_failure():
    outcome = pipelining.judge_group(group([250, 221], smtp.ServerClosed('closed')))
    assert outcome.ending == 'lost' and outcome.failed
    assert 'lost the 2 commands before it' in outcome.summary


@pytest.mark.parametrize('codes, error, closed, kind', [
    ([250, 250, 250, 221], None, True, 'complete'),
    ([250, 550, 250, 221], None, True, 'complete'),       # a 5xx inside the group is an answer like any other
    ([250, 450, 250, 221], None, True, 'complete'),
    ([250, 221, 250, 250], None, True, 'out_of_order'),
    ([250, 250], smtp.ServerClosed('closed'), None, 'early_close'),
    ([250], smtp.ReplyTimeout('timeout'), None, 'stall'),
    ([250, 421], smtp.ServerClosed('closed'), None, 'temporary'),
    ([250], smtp.MalformedReply('mixed codes', False), None, 'unreadable'),
])
def test_group_outcomes(codes, error, closed, kind):
    assert pipelining.judge_group(group(codes, error), closed).ending == kind


def test_sync_point_stall():
    outcome = pipelining.judge_group(group([250], smtp.ReplyTimeout('timeout'), SYNC))
    assert outcome.ending == 'stall' and 'waited for more input' in outcome.summary


# ---------------------------------------------------------------- replies no command asked for (issue 9)

def test_more_replies_than_commands_is_a_group_failure():
    extra = smtp.UnsolicitedReply('the server sent 4 replies that no command asked for, after the replies to the 4 '
                                  'pipelined commands: "250 x" ...', [reply('250 x')] * 4)
    outcome = pipelining.judge_group(group([250, 250, 250, 250], extra))
    assert outcome.ending == 'extra' and outcome.failed
    assert 'no command asked for' in outcome.summary and 'RFC 2920 3.2' in outcome.summary


@pytest.mark.parametrize('error', [
    smtp.UnsolicitedReply('the server sent 10 replies that no command asked for, before the pipelined group was sent',
                          [reply('250 injected 1')]),
    smtp.ServerClosed('the server closed the connection before the pipelined group was sent', sent=False),
])
def test_a_group_that_was_never_sent_shows_nothing_about_pipelining(error):
    result = smtp.PipelineResult(GROUP, [], error, written=False)
    outcome = pipelining.judge_group(result)
    assert outcome.ending == 'unsent' and not outcome.failed
    assert 'not sent' in outcome.summary


# ---------------------------------------------------------------- item 2: the one-at-a-time control

LOST = pipelining.GroupOutcome('lost', '2 replies (250, 221) to 4 pipelined commands: lost')


def test_a_group_failure_stands_when_the_same_commands_are_answered_one_at_a_time():
    control = pipelining.LockStepControl(True, 'MAIL 250, RCPT 250, RSET 250, NOOP 250, QUIT 221')
    status, summary = pipelining.judge_confirmed(LOST, control)
    assert status == 'fail'
    assert 'one at a time' in summary and 'MAIL 250, RCPT 250, RSET 250, NOOP 250, QUIT 221' in summary


@pytest.mark.parametrize('control', [
    pipelining.LockStepControl(False, 'MAIL: the session ended early: the server closed the connection'),
    None,  # the control could not run: a failure is never reported unconfirmed
])
def test_a_group_failure_is_not_blamed_on_pipelining_when_lock_step_fails_too(control):
    status, summary = pipelining.judge_confirmed(LOST, control)
    assert status == 'inconclusive'
    assert 'not pipelining' in summary or 'not confirmed' in summary
    assert summary.startswith(LOST.summary)


@pytest.mark.parametrize('ending, status', [('complete', 'pass'), ('temporary', 'inconclusive'),
                                            ('unsent', 'inconclusive')])
def test_outcomes_that_are_not_failures_need_no_control(ending, status):
    assert pipelining.judge_confirmed(pipelining.GroupOutcome(ending, 'x'), None) == (status, 'x')
