# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""PL-1 and PL-2: RFC 2920 command pipelining, when the server offers it.

RFC 2920 3.1: RSET, MAIL FROM and RCPT TO may appear anywhere in a group;
EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP only last. 3.2: the server MUST
answer in the order the commands were received and MUST NOT flush or lose
its input buffer. The source document: a group MAIL FROM / RCPT TO / RSET /
QUIT got only "250 Sender OK" and "221" before the close - RCPT and RSET
were lost - while the same group split before QUIT worked.

PL-1 sends that group in one write and wants four replies in order with no
early close; on failure it retries split before QUIT and reports whether
that recovers. PL-2 ends a group with NOOP, a sync point: every reply must
come without further input. A 5xx inside a group is an answer like any
other, and 4xx/421 never fail.

A group failure is pipelining's only when the same commands, sent one at a
time in a fresh session, are all answered: a server that closes at MAIL
FROM however it is sent, or that answers every command twice, fails
pipelined too, and that is not a pipelining failure (inconclusive, saying
so). Replies beyond the group's own are counted as a failure of the group,
under the same control.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _protocol as protocol
from .. import _session as smtp
from .._findings import FAIL, INCONCLUSIVE, PASS, SKIPPED, Finding, Rule, define_rules
from .._run_state import Problem
from .probe import CheckOutcome, ProbeSession, ProbeSettings, Target, finding, problem_findings

CHECK = 'pipelining'
RULES = define_rules(CHECK, (
    Rule('PL-1', 'MUST', 'high', 'RFC 2920 3.2', 'A pipelined MAIL/RCPT/RSET/QUIT group gets exactly four replies in order, with no early close'),
    Rule('PL-2', 'MUST', 'high', 'RFC 2920 3.2', 'A group ending in NOOP is answered completely without further input'),
))
_SESSION_ENDED = Problem(INCONCLUSIVE, 'the session ended before the pipelined group could be sent')


@dataclass
class GroupOutcome:
    """How a pipelined group was answered: how it ended, and one plain sentence."""

    # complete, lost, out_of_order, early_close, stall, extra (more replies than commands),
    # temporary, unreadable, unfinished, unsent (the session ended before the group went out)
    ending: str
    summary: str

    @property
    def failed(self) -> bool:
        return self.ending in ('lost', 'out_of_order', 'early_close', 'stall', 'extra')


@dataclass
class LockStepControl:
    """The group's commands one at a time in a fresh session: whether each got its reply, and what came back."""

    answered: bool
    summary: str


def _codes(replies: list[protocol.Reply]) -> str:
    return ', '.join(str(reply.code) for reply in replies) or 'none'


def judge_group(result: smtp.PipelineResult, closed_after_quit: bool | None = None) -> GroupOutcome:
    """What the replies to one pipelined group show (the last command is QUIT or NOOP)."""
    sent = len(result.commands)
    replies = result.replies
    got = '%d repl%s (%s) to %d pipelined commands (%s)' % (
        len(replies), 'y' if len(replies) == 1 else 'ies', _codes(replies), sent,
        ', '.join(command.verb for command in result.commands))
    ended_temporarily = bool(replies) and replies[-1].is_transient() and isinstance(result.error, smtp.ServerClosed)
    if any(reply.code == 421 for reply in replies) or ended_temporarily:
        return GroupOutcome('temporary', got + ': the server ended the session with a temporary reply')
    if not result.written:
        # What the server did before the group went out says nothing about pipelining (see smtp_info, GR-2).
        return GroupOutcome('unsent', 'the pipelined group was not sent: %s'
                            % (result.error.message if result.error else 'the session ended'))
    if isinstance(result.error, smtp.DeadlineExceeded):
        # The run's clock, not the server: a group cut short by the deadline shows nothing about pipelining.
        return GroupOutcome('unfinished', got + ': the run\'s deadline was reached before the group was answered')
    if isinstance(result.error, smtp.MalformedReply):
        return GroupOutcome('unreadable', got + ', then a reply this auditor could not read: %s' % result.error.message)
    if isinstance(result.error, smtp.UnsolicitedReply):
        return GroupOutcome('extra', got + ', then %s (RFC 2920 3.2: one reply per command, in the order of the '
                            'commands)' % result.error.message)
    ends_with_quit = result.commands[-1].verb == 'QUIT'
    quit_positions = [index for index, reply in enumerate(replies) if reply.code == 221]
    if ends_with_quit and quit_positions and quit_positions[0] < sent - 1:
        if len(replies) < sent:
            lost = sent - len(replies)
            return GroupOutcome('lost', got + ': the server answered QUIT but lost the %d command%s before it, then '
                                'closed (it flushed its input buffer; RFC 2920 3.2)' % (lost, 's' if lost > 1 else ''))
        return GroupOutcome('out_of_order', got + ': the reply to QUIT came before the replies to earlier commands '
                            '(RFC 2920 3.2: replies in the order of the commands)')
    if result.complete:
        if ends_with_quit and replies[-1].code != 221:
            return GroupOutcome('out_of_order', got + ': the last reply is not the 221 of QUIT')
        if ends_with_quit and closed_after_quit is False:
            return GroupOutcome('complete', got + ' in order; the server did not close after QUIT')
        return GroupOutcome('complete', '%d replies in order (%s)' % (len(replies), _codes(replies)))
    if isinstance(result.error, smtp.ServerClosed):
        return GroupOutcome('early_close', got + ': the server closed the connection before answering the whole group')
    if isinstance(result.error, smtp.ReplyTimeout):
        return GroupOutcome('stall', got + ': the server stopped answering and waited for more input while the '
                            'connection stayed open (RFC 2920 3.2: every command of the group gets its reply)')
    return GroupOutcome('unreadable', got + ': %s' % (result.error.message if result.error else 'no reply'))


def _group(settings: ProbeSettings, recipient: str, last: protocol.Command | None) -> list[protocol.Command]:
    commands = [protocol.mail_from(settings.mail_from), protocol.rcpt_to(recipient), protocol.rset()]
    return commands + ([last] if last is not None else [])


def judge_confirmed(outcome: GroupOutcome, control: LockStepControl | None) -> tuple[str, str]:
    """The verdict on a group: a failure is a fail only when the one-at-a-time control was answered."""
    if not outcome.failed:
        return (PASS if outcome.ending == 'complete' else INCONCLUSIVE), outcome.summary
    if control is None:
        return INCONCLUSIVE, outcome.summary + '; the failure is not confirmed: the same commands could not be sent one at a time'
    if control.answered:
        return FAIL, (outcome.summary + '. Sent one at a time in a fresh session, the same commands are all answered '
                      '(%s): the failure is pipelining\'s' % control.summary)
    return INCONCLUSIVE, (outcome.summary + '. Sent one at a time in a fresh session, they are not answered either '
                          '(%s): the cause is not pipelining' % control.summary)


async def _pipelined(target: Target, settings: ProbeSettings, recipient: str, last: protocol.Command | None,
                     transcript: list[str]) -> tuple[GroupOutcome | None, ProbeSession]:
    """One session: EHLO, then the group in one write; None when the session never got that far."""
    probe = ProbeSession(target, settings)
    try:
        if not await probe.open():
            return None, probe
        capabilities = probe.hello.capabilities if probe.hello is not None else None
        if capabilities is None or not capabilities.has('PIPELINING'):
            probe.problem = Problem(SKIPPED, 'PIPELINING is not offered in the EHLO reply; nothing to check', applies=False)
            return None, probe
        result = await probe.pipeline(_group(settings, recipient, last))
        if result is None:
            return None, probe
        closed = None
        if result.complete and result.commands[-1].verb == 'QUIT':
            closed = await probe.closed_by_server()
        outcome = judge_group(result, closed)
        if last is None and result.complete:
            quit_reply = await probe.send(protocol.quit_())
            closed = await probe.closed_by_server() if quit_reply is not None else False
            if quit_reply is None or quit_reply.code != 221:
                outcome = GroupOutcome('early_close', outcome.summary + '; QUIT sent alone afterwards got no 221')
            else:
                outcome = GroupOutcome('complete', outcome.summary + ', then QUIT sent alone got 221')
        return outcome, probe
    finally:
        await probe.close()
        transcript.extend(probe.transcript)


async def _one_at_a_time(target: Target, settings: ProbeSettings, recipient: str,
                         transcript: list[str]) -> LockStepControl:
    """The commands of both groups, each sent alone, in a fresh session: does every one get its reply?"""
    probe = ProbeSession(target, settings)
    try:
        if not await probe.open():
            return LockStepControl(False, 'no session: %s' % (probe.problem.summary if probe.problem else 'none'))
        answered = []
        for command in _group(settings, recipient, protocol.noop()) + [protocol.quit_()]:
            reply = await probe.send(command)
            if reply is None:
                # ProbeSession.send gives None for a session error and for 421 (problem set either way).
                return LockStepControl(False, '%s: %s' % (command.verb, probe.problem.summary if probe.problem
                                                          else 'no reply'))
            answered.append('%s %d' % (command.verb, reply.code))
        await probe.closed_by_server()
        return LockStepControl(True, ', '.join(answered))
    finally:
        await probe.close()
        transcript.extend(probe.transcript)


async def check_pipelining(target: Target, settings: ProbeSettings) -> list[Finding]:
    """pipelining_check at one address: PL-1 (with the split retry), then PL-2, each in its own session.

    When either group failed, one more session sends the same commands one at a time: the control
    that tells a pipelining failure from a server that fails them however they are sent.
    """
    recipient = 'postmaster@%s' % target.domain if target.domain else 'Postmaster'
    transcript: list[str] = []
    outcome, probe = await _pipelined(target, settings, recipient, protocol.quit_(), transcript)
    if outcome is None:
        return problem_findings(RULES, target, probe.problem or _SESSION_ENDED, transcript)
    summary = outcome.summary
    if outcome.failed:
        transcript.append('** retry: the same group split before QUIT')
        retry, retry_probe = await _pipelined(target, settings, recipient, None, transcript)
        if retry is None:
            summary += '; the retry split before QUIT could not run (%s)' % (
                retry_probe.problem.summary if retry_probe.problem else 'session ended')
        elif retry.ending == 'complete':
            summary += '. Split before QUIT, the group is answered completely: %s' % retry.summary
        else:
            summary += '. Split before QUIT it fails too: %s' % retry.summary
        if outcome.ending == 'stall' and retry is not None and retry.ending == 'stall':
            summary += ' (the server answered its non-pipelined EHLO promptly, so this is not a slow server)'
    outcome = GroupOutcome(outcome.ending, summary)

    sync_transcript: list[str] = []
    sync, sync_probe = await _pipelined(target, settings, recipient, protocol.noop(), sync_transcript)
    if sync is not None and sync.ending == 'complete':
        sync = GroupOutcome(sync.ending, sync.summary + ', NOOP ending the group')

    control: LockStepControl | None = None
    control_transcript: list[str] = []
    if outcome.failed or (sync is not None and sync.failed):
        control_transcript.append('** control: the same commands one at a time, in a fresh session')
        control = await _one_at_a_time(target, settings, recipient, control_transcript)

    status, text = judge_confirmed(outcome, control)
    findings = [finding('PL-1', status, text, target, transcript + (control_transcript if outcome.failed else []))]
    if sync is None:
        findings.extend(problem_findings(['PL-2'], target, sync_probe.problem or _SESSION_ENDED, sync_transcript))
    else:
        status, text = judge_confirmed(sync, control)
        findings.append(finding('PL-2', status, text, target,
                                sync_transcript + (control_transcript if sync.failed else [])))
    return findings


async def run_pipelining(target: Target, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point."""
    return CheckOutcome(await check_pipelining(target, settings))
