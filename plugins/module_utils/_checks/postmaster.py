# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""PM-1, PM-2 and RL-3: postmaster, abuse, and whether an MX accepts its own domain.

RFC 5321 4.5.1: every server that delivers or relays MUST accept the
case-insensitive local part "postmaster" at every domain it serves, and
RCPT TO:<Postmaster> with no domain. RFC 2142: abuse@ SHOULD work. An MX
that answers "550 Relaying is prohibited" for its own domain's postmaster
(the failure of the source documents) fails PM-1, and RL-3 too: it does not
accept mail for the domain whose MX it is.

A refusal fails a rule only when its cause is the rule's subject: a refusal
of this client (block list, authentication) is inconclusive, and a refusal
whose cause the reply does not tell fails only when the same session shows
the server accepting another recipient - otherwise "everything refused
alike" cannot be told apart from a refusal of the auditor. A refusal of
the envelope sender (sender verification: X.1.7, X.1.8) is never one of
the mailbox either.

A server whose error limit ends the session (a strict Postfix after three
refusals) gets the forms not yet answered asked again in a new session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _protocol as protocol
from .._findings import FAIL, INCONCLUSIVE, PASS, Finding, Rule, define_rules
from . import refusal
from .probe import ProbeSession, Target, begin, finding, problem_findings, quote

CHECK = 'postmaster'
RULES = define_rules(CHECK, (
    Rule('PM-1', 'MUST', 'high', 'RFC 5321 4.5.1', 'RCPT TO:<postmaster@D> and <Postmaster> (any case) are accepted at every MX of D'),
    Rule('PM-2', 'SHOULD', 'low', 'RFC 2142 4, 5', 'RCPT TO:<abuse@D> is accepted'),
    Rule('RL-3', 'MUST', 'high', 'RFC 5321 4.5.1, 3.6', 'An MX accepts mail for the domains whose MX it is'),
))


@dataclass
class PostmasterEvidence:
    """The replies of one postmaster probe session, as the judge sees them."""

    domain: str
    postmaster: protocol.Reply | None = None        # RCPT TO:<postmaster@D>
    bare: protocol.Reply | None = None              # RCPT TO:<Postmaster>
    mixed: protocol.Reply | None = None             # RCPT TO:<PostMaster@D>
    abuse: protocol.Reply | None = None             # RCPT TO:<abuse@D>
    foreign: protocol.Reply | None = None           # RCPT TO:<relay_recipient>, the "not my domain" reference
    null_sender_only: dict[str, protocol.Reply] = field(default_factory=dict)  # refused with <>, accepted with mail_from
    ended: str = 'the session ended'                                           # why a probe has no reply
    sender: str = ''                                                           # the transaction's sender

    def accepted_any(self) -> bool:
        return any(reply is not None and reply.is_positive()
                   for reply in (self.postmaster, self.bare, self.mixed, self.abuse))


def _refused_as_foreign(reply: protocol.Reply, evidence: PostmasterEvidence) -> bool:
    """The server answers for its own domain what it answers for a foreign one: it does not serve D."""
    cause = refusal.cause(reply)
    if cause in (refusal.RELAY, refusal.DOMAIN):
        return True
    foreign = evidence.foreign
    return (cause == refusal.UNKNOWN and foreign is not None and foreign.is_permanent()
            and refusal.cause(foreign) != refusal.CLIENT and refusal.same_refusal(reply, foreign)
            and evidence.accepted_any())


def judge_mailbox(what: str, reply: protocol.Reply | None, evidence: PostmasterEvidence) -> tuple[str, str]:
    """Verdict for one "must accept" recipient (postmaster or abuse)."""
    if reply is None:
        return INCONCLUSIVE, '%s: not probed (%s)' % (what, evidence.ended)
    sent = 'RCPT TO:<%s> got %s' % (what, quote(reply))
    if reply.is_positive():
        if what in evidence.null_sender_only:
            return PASS, '%s with a real sender (refused only with the null sender, which null_sender_check reports)' % sent
        return PASS, '<%s> %d' % (what, reply.code)
    cause = refusal.cause(reply)
    if cause == refusal.SENDER:
        if evidence.sender:
            return INCONCLUSIVE, '%s: a refusal of the auditor\'s sender, not of the mailbox; %s' % (
                sent, refusal.sender_hint(evidence.sender))
        return INCONCLUSIVE, sent + ': a refusal of the null sender, not of the mailbox (null_sender_check reports it)'
    if reply.is_transient():
        return INCONCLUSIVE, sent + ': a temporary refusal decides nothing'
    if cause == refusal.CLIENT:
        return INCONCLUSIVE, sent + ': a refusal of this client (block list, policy or authentication), not of the mailbox'
    if cause in (refusal.RELAY, refusal.DOMAIN) or _refused_as_foreign(reply, evidence):
        if evidence.accepted_any():
            return FAIL, sent + ', a relay refusal, although the server accepts other recipients at %s' % evidence.domain
        if '@' not in what:
            return FAIL, sent + ': refused as if it were relaying'
        return FAIL, sent + ': the server refuses %s as if it were not its domain' % evidence.domain
    if cause == refusal.MAILBOX:
        return FAIL, sent + ': refused as an unknown mailbox'
    if evidence.accepted_any():
        return FAIL, sent + ', while the server accepts other recipients in the same session'
    return INCONCLUSIVE, sent + ': every recipient was refused alike, so a refusal of this client cannot be ruled out'


def judge_domain_acceptance(evidence: PostmasterEvidence) -> tuple[str, str]:
    """RL-3: does this MX take mail for the domain whose MX it is?"""
    domain = evidence.domain
    postmaster = evidence.postmaster
    if evidence.accepted_any():
        accepted = [reply for reply in (evidence.postmaster, evidence.mixed, evidence.abuse)
                    if reply is not None and reply.is_positive()]
        if accepted:
            return PASS, 'the domain is accepted'
    if postmaster is None:
        return INCONCLUSIVE, 'not probed (%s)' % evidence.ended
    if postmaster.is_transient() or refusal.is_sender_refusal(postmaster):
        return INCONCLUSIVE, 'RCPT TO:<postmaster@%s> got %s, which does not say whether %s is accepted' % (
            domain, quote(postmaster), domain)
    for reply in (postmaster, evidence.abuse):
        if reply is not None and reply.is_permanent() and _refused_as_foreign(reply, evidence):
            return FAIL, ('RCPT TO:<postmaster@%s> got %s: this MX of %s refuses mail for it as if it were a foreign '
                          'domain (a domain-acceptance misconfiguration)' % (domain, quote(postmaster), domain))
    if refusal.cause(postmaster) == refusal.MAILBOX:
        return PASS, 'knows %s (it refuses mailboxes of it one by one)' % domain
    return INCONCLUSIVE, 'RCPT TO:<postmaster@%s> got %s: the reply does not say whether %s is accepted' % (
        domain, quote(postmaster), domain)


def judge_postmaster(evidence: PostmasterEvidence) -> dict[str, tuple[str, str]]:
    """Verdicts of PM-1 (three forms), PM-2 and RL-3 from one session's replies."""
    domain = evidence.domain
    forms = [('postmaster@%s' % domain, evidence.postmaster), ('Postmaster', evidence.bare),
             ('PostMaster@%s' % domain, evidence.mixed)]
    parts = [judge_mailbox(name, reply, evidence) for name, reply in forms]
    order = (FAIL, INCONCLUSIVE, PASS)
    pm1_status = min((part[0] for part in parts), key=order.index)
    codes = {reply.code for _name, reply in forms if reply is not None}
    if pm1_status == PASS and len(codes) == 1 and not evidence.null_sender_only:
        pm1 = (PASS, 'postmaster@, <Postmaster>, PostMaster@: %d' % codes.pop())
    else:
        pm1 = (pm1_status, '; '.join(part[1] for part in parts))
    pm2 = judge_mailbox('abuse@%s' % domain, evidence.abuse, evidence)
    rl3 = judge_domain_acceptance(evidence)
    if rl3[0] == FAIL and pm2[0] == FAIL:
        # One cause, one failing finding: abuse@ falls with the whole domain, which RL-3 reports.
        pm2 = (INCONCLUSIVE, 'RCPT TO:<abuse@%s> got %s: the domain as a whole is refused, which RL-3 reports'
               % (domain, quote(evidence.abuse)))
    return {'PM-1': pm1, 'PM-2': pm2, 'RL-3': rl3}


async def probe_postmaster(probe: ProbeSession, target: Target) -> list[Finding]:
    """PM-1, PM-2, RL-3 for one domain, on an open probe session (shared with other probes or not)."""
    domain = target.domain or ''
    settings = probe.settings
    mark = probe.mark()
    if probe.problem is not None:
        return problem_findings(RULES, target, probe.problem, probe.excerpt(mark))
    evidence = PostmasterEvidence(domain)
    transaction = await begin(probe)
    evidence.sender = transaction.sender or ''
    if not transaction.open:
        if probe.problem is not None:
            return problem_findings(RULES, target, probe.problem, probe.excerpt(mark))
        replies = ', '.join(quote(reply) for reply in transaction.refused_replies)
        return [finding(rule, INCONCLUSIVE, 'MAIL FROM refused for the null sender and for %s (%s): no recipient '
                        'could be tried' % (settings.mail_from, replies), target, probe.excerpt(mark)) for rule in RULES]
    probes = [('postmaster', 'postmaster@%s' % domain), ('bare', 'Postmaster'),
              ('mixed', 'PostMaster@%s' % domain), ('abuse', 'abuse@%s' % domain)]
    for attribute, address in probes:
        setattr(evidence, attribute, (await probe.ask(evidence.sender, address))[1])
    if transaction.sender == '':
        await _retry_refused_with_sender(probe, evidence, probes)
    if settings.run is not None and evidence.postmaster is not None:
        settings.run.count('postmaster_probes')
        if evidence.postmaster.is_permanent():
            settings.run.count('refused_rcpt')
    if evidence.postmaster is not None and evidence.postmaster.is_permanent():
        # The reference for "refused as if foreign": what the server says to a domain it does not serve -
        # with the null sender when the server refuses mail_from itself (it verifies senders).
        reference = foreign_reference(settings.relay_recipient, domain)
        evidence.foreign = (await probe.ask(settings.mail_from, reference))[1]
        if refusal.is_sender_refusal(evidence.foreign):
            evidence.foreign = (await probe.ask('', reference))[1]
    if probe.problem is not None or None in (evidence.postmaster, evidence.bare, evidence.mixed, evidence.abuse):
        evidence.ended = probe.ended
    verdicts = judge_postmaster(evidence)
    transcript = probe.excerpt(mark)
    return [finding(rule, verdicts[rule][0], verdicts[rule][1], target, transcript) for rule in RULES]


def foreign_reference(relay_recipient: str, domain: str) -> str:
    """A mailbox at a domain that is surely not the audited one (the relay recipient, unless it is at that domain)."""
    foreign = relay_recipient.rsplit('@', 1)[1].lower()
    if foreign == domain or foreign.endswith('.' + domain) or domain.endswith('.' + foreign):
        other = 'example.net' if foreign != 'example.net' else 'example.com'
        return 'mxaudit-relay-probe@' + other
    return relay_recipient


async def _retry_refused_with_sender(probe: ProbeSession, evidence: PostmasterEvidence,
                                     probes: list[tuple[str, str]]) -> None:
    """Refused with MAIL FROM:<>? Ask again with mail_from, so a null-sender refusal is not a postmaster failure."""
    refused = [(attribute, address) for attribute, address in probes
               if getattr(evidence, attribute) is not None and getattr(evidence, attribute).is_permanent()]
    if not refused:
        return
    for attribute, address in refused:
        mail, reply = await probe.ask(probe.settings.mail_from, address)
        if mail is not None and not mail.is_positive():
            return
        if reply is not None and reply.is_positive():
            setattr(evidence, attribute, reply)
            evidence.null_sender_only[address] = reply
