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
come without further input. A stall counts only when the same server
answered its non-pipelined EHLO promptly; a 5xx inside a group is an
answer like any other, and 4xx/421 never fail.
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

    ending: str      # complete, lost, out_of_order, early_close, stall, temporary, unreadable, unfinished
    summary: str

    @property
    def failed(self) -> bool:
        return self.ending in ('lost', 'out_of_order', 'early_close', 'stall')


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
    if isinstance(result.error, smtp.DeadlineExceeded):
        # The run's clock, not the server: a group cut short by the deadline shows nothing about pipelining.
        return GroupOutcome('unfinished', got + ': the run\'s deadline was reached before the group was answered')
    if isinstance(result.error, smtp.MalformedReply):
        return GroupOutcome('unreadable', got + ', then a reply this auditor could not read: %s' % result.error.message)
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


def _verdict(outcome: GroupOutcome) -> str:
    if outcome.failed:
        return FAIL
    if outcome.ending == 'complete':
        return PASS
    return INCONCLUSIVE


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


async def check_pipelining(target: Target, settings: ProbeSettings) -> list[Finding]:
    """pipelining_check at one address: PL-1 (with the split retry), then PL-2, each in its own session."""
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
    findings = [finding('PL-1', _verdict(outcome), summary, target, transcript)]

    sync_transcript: list[str] = []
    sync, sync_probe = await _pipelined(target, settings, recipient, protocol.noop(), sync_transcript)
    if sync is None:
        findings.extend(problem_findings(['PL-2'], target, sync_probe.problem or _SESSION_ENDED, sync_transcript))
    else:
        text = sync.summary
        if sync.ending == 'complete':
            text += ', NOOP ending the group'
        findings.append(finding('PL-2', _verdict(sync), text, target, sync_transcript))
    return findings


async def run_pipelining(target: Target, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point."""
    return CheckOutcome(await check_pipelining(target, settings))
