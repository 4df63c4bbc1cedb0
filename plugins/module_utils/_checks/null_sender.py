# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""NS-1: the null reverse-path MAIL FROM:<> must be accepted.

RFC 1123 5.2.9 and RFC 5321 4.5.5 / 6.1: bounces and other notifications are
sent with the null sender, so a server that refuses it refuses the error
reports about mail it sent. Many MTAs check the sender only at RCPT time
(Postfix's smtpd_delay_reject), so the probe also sends a RCPT to
postmaster and compares with the same RCPT under a real sender: the verdict
rests on the difference the sender makes, not on any reply text. When the
server refuses that real sender itself (sender verification: at MAIL, or
X.1.7/X.1.8 at RCPT), there is nothing to compare with: inconclusive, with
what to change in ``mail_from``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _protocol as protocol
from .._findings import FAIL, INCONCLUSIVE, PASS, Finding, Rule, define_rules
from . import refusal
from .probe import ProbeSession, Target, finding, problem_findings, quote

CHECK = 'null_sender'
RULES = define_rules(CHECK, (
    Rule('NS-1', 'MUST', 'high', 'RFC 5321 4.5.5, 6.1', 'MAIL FROM:<> is accepted'),
))
RULE = RULES[0]


@dataclass
class NullSenderEvidence:
    null_mail: protocol.Reply | None = None       # MAIL FROM:<>
    null_rcpt: protocol.Reply | None = None       # RCPT TO:<postmaster@D> after it
    real_mail: protocol.Reply | None = None       # MAIL FROM:<mail_from>, when needed
    real_rcpt: protocol.Reply | None = None       # the same RCPT after it
    recipient: str = 'Postmaster'
    sender: str = ''
    ended: str = 'the session ended'


def judge_null_sender(evidence: NullSenderEvidence) -> tuple[str, str]:
    null_mail = evidence.null_mail
    if null_mail is None:
        return INCONCLUSIVE, 'not probed (%s)' % evidence.ended
    sent = 'MAIL FROM:<> got %s' % quote(null_mail)
    if null_mail.is_transient():
        return INCONCLUSIVE, sent + ': a temporary refusal decides nothing'
    real_mail = evidence.real_mail
    if null_mail.is_permanent():
        if refusal.cause(null_mail) == refusal.CLIENT:
            return INCONCLUSIVE, sent + ': a refusal of this client, not of the null sender'
        if real_mail is not None and real_mail.is_positive():
            return FAIL, (sent + ', while MAIL FROM:<%s> got %s: the server refuses bounces (RFC 5321 4.5.5)'
                          % (evidence.sender, quote(real_mail)))
        return INCONCLUSIVE, sent + ', and MAIL FROM:<%s> got %s: every sender is refused from this client' % (
            evidence.sender, quote(real_mail))
    rcpt = evidence.null_rcpt
    if rcpt is None:
        # Many MTAs refuse senders only at RCPT time (Postfix's smtpd_delay_reject): MAIL alone does not decide.
        return INCONCLUSIVE, sent + ', but the RCPT that would show a refusal at RCPT time got no answer (%s)' % (
            evidence.ended)
    if rcpt.is_transient():
        return INCONCLUSIVE, sent + ', but RCPT TO:<%s> after it got %s: a temporary refusal hides whether the null ' \
            'sender is refused at RCPT time' % (evidence.recipient, quote(rcpt))
    if rcpt.is_positive():
        return PASS, 'MAIL FROM:<> %d, then RCPT %d' % (null_mail.code, rcpt.code)
    # Accepted at MAIL, refused at RCPT: a delayed refusal of the null sender, or a refusal of the recipient?
    real_rcpt = evidence.real_rcpt
    refused = sent + ', but RCPT TO:<%s> after it got %s' % (evidence.recipient, quote(rcpt))
    if real_rcpt is not None and real_rcpt.is_positive():
        return FAIL, (refused + ', while the same RCPT with MAIL FROM:<%s> got %s: the null sender is refused at RCPT '
                      'time' % (evidence.sender, quote(real_rcpt)))
    if real_mail is not None and not real_mail.is_positive():
        # By its position a refusal of the real sender: the comparison that would decide cannot be made.
        return INCONCLUSIVE, (refused + ', and MAIL FROM:<%s> got %s, so the same RCPT with a real sender could not be '
                              'tried; %s' % (evidence.sender, quote(real_mail), refusal.sender_hint(evidence.sender)))
    if real_rcpt is None:
        return INCONCLUSIVE, refused + ', and the same RCPT with MAIL FROM:<%s> got no answer (%s)' % (
            evidence.sender, evidence.ended)
    if refusal.is_sender_refusal(real_rcpt):
        return INCONCLUSIVE, (refused + ', and the same RCPT with MAIL FROM:<%s> got %s, a refusal of that sender: '
                              'nothing to compare with; %s' % (evidence.sender, quote(real_rcpt),
                                                               refusal.sender_hint(evidence.sender)))
    if real_rcpt.is_transient():
        return INCONCLUSIVE, (refused + ', and the same RCPT with MAIL FROM:<%s> got %s: a temporary refusal decides '
                              'nothing' % (evidence.sender, quote(real_rcpt)))
    return PASS, sent + '; RCPT TO:<%s> is refused with any sender (%s), which is not about the null sender' % (
        evidence.recipient, quote(rcpt))


async def probe_null_sender(probe: ProbeSession, target: Target) -> list[Finding]:
    """NS-1 on an open probe session."""
    settings = probe.settings
    mark = probe.mark()
    if probe.problem is not None:
        return problem_findings([RULE], target, probe.problem, probe.excerpt(mark))
    evidence = NullSenderEvidence(recipient='postmaster@%s' % target.domain if target.domain else 'Postmaster',
                                  sender=settings.mail_from)
    null_mail = await probe.transaction('')
    evidence.null_mail = null_mail
    if null_mail is not None and null_mail.is_positive():
        evidence.null_rcpt = (await probe.ask('', evidence.recipient))[1]
        if evidence.null_rcpt is not None and evidence.null_rcpt.is_permanent():
            evidence.real_mail, evidence.real_rcpt = await probe.ask(settings.mail_from, evidence.recipient)
    elif null_mail is not None and null_mail.is_permanent():
        evidence.real_mail = await probe.transaction(settings.mail_from)
    if probe.problem is not None and evidence.null_mail is None:
        return problem_findings([RULE], target, probe.problem, probe.excerpt(mark))
    evidence.ended = probe.ended
    status, summary = judge_null_sender(evidence)
    return [finding(RULE, status, summary, target, probe.excerpt(mark))]
