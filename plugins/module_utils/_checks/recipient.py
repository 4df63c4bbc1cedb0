# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""RV-1: an unknown recipient is refused at RCPT time.

RFC 5321 3.6 and 6.1: a 250 to RCPT is a promise to deliver or to bounce.
A server that accepts a random local part that cannot exist must bounce
later, to the envelope sender - which for spam is forged, so its bounces
are backscatter. Refusing at RCPT time keeps the error with the sending
server. A catch-all domain does this on purpose, hence a warn, never a fail.

A server that verifies senders refuses the auditor's ``mail_from`` at RCPT
time (X.1.7, X.1.8): that says nothing of the recipient, so the probe is
repeated with the null sender, which is never verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _protocol as protocol
from .._findings import INCONCLUSIVE, PASS, WARN, Finding, Rule, define_rules
from . import refusal
from .addresses import random_local_part
from .probe import ProbeSession, Target, begin, finding, problem_findings, quote

CHECK = 'recipient'
RULES = define_rules(CHECK, (
    Rule('RV-1', 'BCP', 'medium', 'RFC 5321 3.6, 6.1', 'A random unknown local part is refused at RCPT time; 2xx means bounces later (backscatter risk)'),
))
RULE = RULES[0]


@dataclass
class RecipientEvidence:
    unknown_address: str
    unknown: protocol.Reply | None = None       # RCPT TO:<random@D>
    postmaster: protocol.Reply | None = None    # RCPT TO:<postmaster@D>, the mailbox that must exist
    ended: str = 'the session ended'
    sender: str = ''                            # the sender of the RCPTs above
    mail_from: str = ''                         # the auditor's own sender
    sender_refusal: protocol.Reply | None = None  # mail_from refused (at MAIL or RCPT): the probe went on with <>

    def sender_note(self) -> str:
        if self.sender_refusal is None or self.sender:
            return ''
        return (' (with the null sender: MAIL FROM:<%s> was refused, %s, a refusal of the auditor\'s sender - %s)'
                % (self.mail_from, quote(self.sender_refusal), refusal.sender_hint(self.mail_from)))


def judge_recipient(evidence: RecipientEvidence) -> tuple[str, str]:
    reply = evidence.unknown
    if reply is None:
        return INCONCLUSIVE, 'not probed (%s)' % evidence.ended
    sent = 'RCPT TO:<%s> (a local part that cannot exist) got %s' % (evidence.unknown_address, quote(reply))
    note = evidence.sender_note()
    if reply.is_positive():
        return WARN, (sent + ': the server accepts unknown recipients at RCPT time, so it must bounce them later - '
                      'to senders that spam forges (backscatter risk); refuse unknown recipients at RCPT time, '
                      'unless the domain is a deliberate catch-all' + note)
    cause = refusal.cause(reply)
    if cause == refusal.SENDER:
        if evidence.sender:
            return INCONCLUSIVE, ('%s: a refusal of the auditor\'s sender, not of the recipient, and the null sender could '
                                  'not be tried instead; %s' % (sent, refusal.sender_hint(evidence.sender)))
        return INCONCLUSIVE, sent + ': a refusal of the null sender, not of the recipient (null_sender_check reports it)'
    if reply.is_transient():
        return INCONCLUSIVE, sent + ': a temporary refusal decides nothing' + note
    if cause == refusal.MAILBOX:
        return PASS, 'a random unknown recipient got %d%s at RCPT time%s' % (
            reply.code, ' ' + reply.enhanced if reply.enhanced else '', note)
    if cause == refusal.CLIENT:
        return INCONCLUSIVE, sent + ': a refusal of this client, not of the recipient'
    if cause in (refusal.RELAY, refusal.DOMAIN):
        return INCONCLUSIVE, sent + ': the whole domain is refused, not the recipient (see postmaster_check, RL-3)'
    postmaster = evidence.postmaster
    if postmaster is not None and postmaster.is_positive():
        return PASS, sent + ', while postmaster is accepted: unknown recipients are refused at RCPT time' + note
    return INCONCLUSIVE, sent + ', and postmaster got %s: every recipient is refused alike' % quote(postmaster)


async def probe_recipient(probe: ProbeSession, target: Target) -> list[Finding]:
    """RV-1 on an open probe session."""
    domain = target.domain or ''
    settings = probe.settings
    mark = probe.mark()
    if probe.problem is not None:
        return problem_findings([RULE], target, probe.problem, probe.excerpt(mark))
    evidence = RecipientEvidence('%s@%s' % (random_local_part(), domain), mail_from=settings.mail_from)
    # In a shared session the transaction the postmaster probe left open serves (it got past MAIL FROM already).
    sender = probe.open_sender
    if sender is None:
        transaction = await begin(probe, null_first=False)
        if not transaction.open:
            if probe.problem is not None:
                return problem_findings([RULE], target, probe.problem, probe.excerpt(mark))
            return [finding(RULE, INCONCLUSIVE, 'MAIL FROM refused for %s and for the null sender: no recipient could '
                            'be tried' % settings.mail_from, target, probe.excerpt(mark))]
        sender = transaction.sender or ''
        evidence.sender_refusal = transaction.sender_refusal
    evidence.sender = sender
    evidence.unknown = (await probe.ask(sender, evidence.unknown_address))[1]
    if sender and refusal.is_sender_refusal(evidence.unknown):
        refused = evidence.unknown
        null_reply = (await probe.ask('', evidence.unknown_address))[1]
        if null_reply is not None:
            evidence.sender, evidence.sender_refusal, evidence.unknown = '', refused, null_reply
    if evidence.unknown is not None and evidence.unknown.is_permanent() and not refusal.is_sender_refusal(evidence.unknown):
        evidence.postmaster = (await probe.ask(evidence.sender, 'postmaster@%s' % domain))[1]
    if evidence.unknown is None or probe.problem is not None:
        evidence.ended = probe.ended
    status, summary = judge_recipient(evidence)
    return [finding(RULE, status, summary, target, probe.excerpt(mark))]
