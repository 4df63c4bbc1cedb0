# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""RL-1 and RL-2: relaying to a foreign domain is refused, in every address form.

RFC 5321 3.6 and 7.9: a server that accepts mail for a domain it does not
serve, from a client it does not know, is an open relay. RL-1 is the plain
case; RL-2 the classic tricks (the sixteen forms of nmap's smtp-open-relay
and their siblings): a forged local sender, the percent hack, bang paths,
quoted local parts, a second "@", source routes, address literals - each
against the MX's own domain, its banner name and its address literal.

A false "open relay" is the worst verdict this collection can give. So an
accepted variant whose final domain is the server's own (``x%foreign@D``)
counts as relaying only when the same server refuses a random unknown
mailbox at that same domain: an accept-all server takes any local part,
and that is not relaying. Source-routed and sender-forged forms need no
such control - their final destination is the foreign domain itself.

Servers count some of these forms as syntax errors (Exim: a second "@",
an address literal) and hang up after a few errors (Exim after the fourth
syntax error, a strict Postfix after its third refusal of any kind): the
probe session spreads those forms over its connections, and a form that
an error limit cut off is tried again in a new one (``_checks/probe.py``).

A server that verifies senders refuses the auditor's ``mail_from`` (X.1.7,
X.1.8, or MAIL refused while ``MAIL FROM:<>`` is accepted); that is no
relay refusal, so RL-1 and the forms under the session's sender are
repeated with the null sender. Forms whose subject is a forged sender
cannot be repeated with another one: a permanent refusal of that sender is
a refusal, a temporary one leaves the form undecided.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import _protocol as protocol
from .._findings import FAIL, INCONCLUSIVE, PASS, Finding, Rule, define_rules
from . import refusal
from .addresses import random_local_part
from .probe import ProbeSession, ProbeSettings, Target, begin, finding, problem_findings, quote, session_problem

CHECK = 'relay'
RULES = define_rules(CHECK, (
    Rule('RL-1', 'BCP', 'critical', 'RFC 5321 3.6, 7.9', 'RCPT to a foreign domain from an outside client gets 5xx; 2xx is an open relay'),
    Rule('RL-2', 'BCP', 'critical', 'RFC 5321 3.6, 7.9',
         'No relay variant (percent hack, bang path, quoted local part, source route, IP literal, double @) works'),
))
PROBE_SENDER = 'mxaudit-relay-probe'


@dataclass(frozen=True)
class Variant:
    """One relay attempt: an envelope, and where a random mailbox shows what "accepted" means."""

    form: str
    recipient: str
    sender: str | None = None          # None: the session's sender
    control_suffix: str | None = None  # "@example.org", "@[192.0.2.1]", "" (unqualified), or None (no control needed)
    malformed: bool = False            # not an RFC 5321 path: the command builder must be told

    def envelope(self, default_sender: str) -> str:
        sender = default_sender if self.sender is None else self.sender
        return 'MAIL FROM:<%s> RCPT TO:<%s>' % (sender, self.recipient)

    @property
    def syntax_risk(self) -> bool:
        """Servers may count this form as a syntax error: malformed, or an address literal (Exim allows none)."""
        return self.malformed or '@[' in self.recipient or '@[' in (self.sender or '')


def build_variants(domain: str, banner: str | None, literal: str, relay_recipient: str) -> list[Variant]:
    local, foreign = relay_recipient.rsplit('@', 1)
    suffixes = [('the domain', domain)]
    if banner and banner.lower() != domain.lower():
        suffixes.append(('the banner name', banner))
    suffixes.append(('the address literal', literal))
    variants = [
        Variant('null sender', relay_recipient, sender=''),
        Variant('sender at the foreign domain', relay_recipient, sender='%s@%s' % (PROBE_SENDER, foreign)),
    ]
    variants += [Variant('sender at %s' % where, relay_recipient, sender='%s@%s' % (PROBE_SENDER, suffix))
                 for where, suffix in suffixes]
    variants += [
        Variant('quoted local part, unqualified', '"%s@%s"' % (local, foreign), control_suffix='', malformed=True),
        Variant('quoted percent hack, unqualified', '"%s%%%s"' % (local, foreign), control_suffix='', malformed=True),
        Variant('bang path, unqualified', '%s!%s' % (foreign, local), control_suffix='', malformed=True),
    ]
    for where, suffix in suffixes:
        at = '@' + suffix
        variants += [
            Variant('percent hack at %s' % where, '%s%%%s%s' % (local, foreign, at), control_suffix=at),
            Variant('quoted local part at %s' % where, '"%s@%s"%s' % (local, foreign, at), control_suffix=at),
            Variant('double @ at %s' % where, '%s@%s%s' % (local, foreign, at), control_suffix=at, malformed=True),
            Variant('bang path at %s' % where, '%s!%s%s' % (foreign, local, at), control_suffix=at),
            Variant('source route through %s' % where, '%s:%s' % (at, relay_recipient),
                    malformed=suffix.startswith('[')),
        ]
    return variants


@dataclass
class RelayEvidence:
    relay_recipient: str
    sender: str = ''                                # the session's sender of RL-1 (and of the forms after it)
    basic: protocol.Reply | None = None
    # (variant, RCPT reply, MAIL reply, the sender it went with)
    variants: list[tuple[Variant, protocol.Reply | None, protocol.Reply | None, str]] = field(default_factory=list)
    controls: dict[str, tuple[str, protocol.Reply | None]] = field(default_factory=dict)
    ended: str = 'the session ended'
    mail_from: str = ''                             # the auditor's own sender
    # The refusal of mail_from (at MAIL or at RCPT) that made the probes go on with the null sender.
    sender_refusal: protocol.Reply | None = None
    null_mail: protocol.Reply | None = None         # MAIL FROM:<> when it was needed and refused

    def sender_note(self) -> str:
        """Why RL-1 ran with the null sender, when it did."""
        if self.sender_refusal is None or self.sender != '':
            return ''
        return (' (with the null sender: MAIL FROM:<%s> was refused, %s, a refusal of the auditor\'s sender - %s)'
                % (self.mail_from, quote(self.sender_refusal), refusal.sender_hint(self.mail_from)))


def judge_basic(evidence: RelayEvidence) -> tuple[str, str]:
    reply = evidence.basic
    if reply is None:
        return INCONCLUSIVE, 'not probed (%s)' % evidence.ended
    sent = 'MAIL FROM:<%s> RCPT TO:<%s> got %s' % (evidence.sender, evidence.relay_recipient, quote(reply))
    note = evidence.sender_note()
    if reply.is_positive():
        return FAIL, (sent + ': an open relay - the server accepted mail for a foreign domain from this client '
                      '(judged from this vantage point; no message was sent)' + note)
    cause = refusal.cause(reply)
    if cause == refusal.SENDER:
        if not evidence.sender:
            return INCONCLUSIVE, sent + ': a refusal of the null sender, not of the relay (null_sender_check reports it)'
        null = ('MAIL FROM:<> got %s, so the probe cannot be repeated with the null sender' % quote(evidence.null_mail)
                if evidence.null_mail is not None else 'the probe could not be repeated with the null sender')
        return INCONCLUSIVE, '%s: a refusal of the auditor\'s sender, not of the relay, and %s; %s' % (
            sent, null, refusal.sender_hint(evidence.sender))
    if reply.is_transient():
        return INCONCLUSIVE, sent + ': a temporary refusal decides nothing' + note
    if cause == refusal.DOMAIN:
        return INCONCLUSIVE, (sent + ': refused because the test domain accepts no mail, not as relaying; set '
                              'relay_recipient to a mailbox at a domain that accepts mail')
    if cause == refusal.CLIENT:
        return INCONCLUSIVE, sent + ': this client is refused outright, so relaying for others is not shown'
    code = '%d %s' % (reply.code, reply.enhanced) if reply.enhanced else str(reply.code)
    refused = 'foreign RCPT got %s: relaying refused' % code
    if reply.code == 550 and (reply.enhanced or '').startswith('5.7.'):
        return PASS, refused + note
    return PASS, refused + ' (550 5.7.x preferred)' + note


def judge_variant(variant: Variant, reply: protocol.Reply | None, mail: protocol.Reply | None,
                  control: tuple[str, protocol.Reply | None] | None, sender: str,
                  ended: str = 'the session ended') -> tuple[str, str]:
    envelope = variant.envelope(sender)
    if mail is not None and mail.is_permanent():
        return PASS, '%s: the sender was refused (%s)' % (variant.form, quote(mail))
    if reply is None and mail is not None and mail.is_transient():
        mail_sender = sender if variant.sender is None else variant.sender
        return INCONCLUSIVE, '%s: MAIL FROM:<%s> got %s' % (variant.form, mail_sender, quote(mail))
    if reply is None:
        return INCONCLUSIVE, '%s: not probed (%s)' % (variant.form, ended)
    if refusal.is_sender_refusal(reply):
        if variant.sender is None:
            if not sender:
                return INCONCLUSIVE, '%s: %s got %s: a refusal of the null sender, not of the form' % (
                    variant.form, envelope, quote(reply))
            return INCONCLUSIVE, '%s: %s got %s: a refusal of the auditor\'s sender, not of the form; %s' % (
                variant.form, envelope, quote(reply), refusal.sender_hint(sender))
        if reply.is_transient():
            return INCONCLUSIVE, ('%s: %s got %s: the server verifies senders and put this one off, which does not '
                                  'show whether it relays for it' % (variant.form, envelope, quote(reply)))
        return PASS, '%s: the sender was refused (%s)' % (variant.form, quote(reply))
    if reply.is_transient():
        return INCONCLUSIVE, '%s: %s got %s' % (variant.form, envelope, quote(reply))
    if not reply.is_positive():
        return PASS, '%s refused' % variant.form
    if variant.control_suffix is None:
        return FAIL, '%s: %s was accepted (%s)' % (variant.form, envelope, quote(reply))
    control_address, control_reply = control if control is not None else ('?', None)
    if control_reply is not None and control_reply.is_permanent():
        return FAIL, ('%s: %s was accepted (%s) while RCPT TO:<%s> got %s' % (
            variant.form, envelope, quote(reply), control_address, quote(control_reply)))
    return INCONCLUSIVE, ('%s: %s was accepted, but so is RCPT TO:<%s> (%s): the server takes any local part there, '
                          'which does not show relaying' % (variant.form, envelope, control_address, quote(control_reply)))


def judge_variants(evidence: RelayEvidence) -> tuple[str, str]:
    verdicts = [judge_variant(variant, reply, mail,
                              None if variant.control_suffix is None else evidence.controls.get(variant.control_suffix),
                              sender, evidence.ended)
                for variant, reply, mail, sender in evidence.variants]
    if not verdicts:
        return INCONCLUSIVE, 'no variant was probed (%s)' % evidence.ended
    failed = [text for status, text in verdicts if status == FAIL]
    if failed:
        return FAIL, 'relayed in %d of %d forms: %s' % (len(failed), len(verdicts), '; '.join(failed))
    unsure = [index for index, verdict in enumerate(verdicts) if verdict[0] == INCONCLUSIVE]
    if unsure:
        # The first undecided form in full, the others by name: a greylisting server makes them all alike.
        return INCONCLUSIVE, '%d of %d forms refused; not decided: %s%s' % (
            len(verdicts) - len(unsure), len(verdicts), verdicts[unsure[0]][1],
            ''.join('; %s' % evidence.variants[index][0].form for index in unsure[1:]))
    return PASS, 'all %d relay forms refused' % len(verdicts)


def active_rules(settings: ProbeSettings) -> tuple[str, ...]:
    """RL-2 is judged only when the variants are tried."""
    return RULES if settings.relay_variants else RULES[:1]


async def probe_relay(probe: ProbeSession, target: Target) -> list[Finding]:
    """RL-1 (and RL-2 with relay_variants) on an open probe session."""
    domain = target.domain or ''
    settings = probe.settings
    rules = active_rules(settings)
    mark = probe.mark()
    if probe.problem is not None:
        return problem_findings(rules, target, probe.problem, probe.excerpt(mark))
    evidence = RelayEvidence(settings.relay_recipient, mail_from=settings.mail_from)
    transaction = await begin(probe, null_first=False)
    if not transaction.open:
        if probe.problem is not None:
            return problem_findings(rules, target, probe.problem, probe.excerpt(mark))
        return [finding(rule, INCONCLUSIVE, 'MAIL FROM refused for %s and for the null sender: no recipient '
                        'could be tried' % settings.mail_from, target, probe.excerpt(mark)) for rule in rules]
    evidence.sender = transaction.sender or ''
    evidence.sender_refusal = transaction.sender_refusal
    _mail, evidence.basic = await probe.ask(evidence.sender, settings.relay_recipient)
    evidence.basic = await _own_reply(probe, evidence.basic)
    if evidence.sender and refusal.is_sender_refusal(evidence.basic):
        await _with_null_sender(probe, evidence)
    if settings.relay_variants and evidence.basic is not None:
        await _probe_variants(probe, evidence, build_variants(domain, probe.banner_name, target.literal,
                                                              settings.relay_recipient))
    if probe.unsolicited is not None:
        # Replies came that no command asked for: none of this session's replies can be trusted as evidence.
        return problem_findings(rules, target, probe.problem or session_problem(probe.unsolicited), probe.excerpt(mark))
    if probe.problem is not None or evidence.basic is None or any(
            reply is None and mail is None for _v, reply, mail, _s in evidence.variants):
        evidence.ended = probe.ended
    verdicts = {'RL-1': judge_basic(evidence)}
    if settings.relay_variants:
        verdicts['RL-2'] = judge_variants(evidence)
    transcript = probe.excerpt(mark)
    return [finding(rule, verdicts[rule][0], verdicts[rule][1], target, transcript) for rule in rules]


async def _with_null_sender(probe: ProbeSession, evidence: RelayEvidence) -> None:
    """The auditor's sender was refused at RCPT: RL-1 again with MAIL FROM:<>, and the forms after it with <> too."""
    refused = evidence.basic
    mail, reply = await probe.ask('', evidence.relay_recipient)
    if reply is None:
        evidence.null_mail = mail  # the refusal of MAIL FROM:<>, or None when the session ended
        return
    evidence.sender_refusal, evidence.sender, evidence.basic = refused, '', reply


async def _probe_variants(probe: ProbeSession, evidence: RelayEvidence, variants: list[Variant]) -> None:
    for variant in variants:
        sender = evidence.sender if variant.sender is None else variant.sender
        mail, reply = await probe.ask(sender, variant.recipient, allow_malformed=variant.malformed,
                                      syntax_risk=variant.syntax_risk)
        if variant.sender is None and sender and refusal.is_sender_refusal(reply) and evidence.null_mail is None:
            # The auditor's sender refused from here on (some servers verify only some recipients' senders):
            # this form and the rest go with the null sender, as RL-1 would have.
            null_mail, null_reply = await probe.ask('', variant.recipient, allow_malformed=variant.malformed,
                                                    syntax_risk=variant.syntax_risk)
            if null_reply is not None:
                evidence.sender_refusal = evidence.sender_refusal or reply
                evidence.sender, sender, mail, reply = '', '', null_mail, null_reply
            else:
                evidence.null_mail = null_mail
        reply = await _own_reply(probe, reply)
        if reply is not None and reply.is_positive() and variant.control_suffix is not None:
            await _control(probe, evidence, variant.control_suffix)
        evidence.variants.append((variant, reply, mail, sender))
        if probe.problem is not None:
            # The forms not tried are named among the undecided, with the reason.
            evidence.variants += [(rest, None, None, evidence.sender) for rest in variants[len(evidence.variants):]]
            break


async def _own_reply(probe: ProbeSession, reply: protocol.Reply | None) -> protocol.Reply | None:
    """An acceptance counts as relaying only when it was this RCPT's own reply: a NOOP after it must get its 250.

    A server that sent an unasked 250 while the RCPT waited, and its real answer late, would otherwise be an
    open relay on a reply that was never about relaying. Acceptances of foreign recipients are rare, so this
    costs a round trip only where a verdict of fail is at stake.
    """
    if reply is not None and reply.is_positive() and not await probe.in_step():
        return None
    return reply


async def _control(probe: ProbeSession, evidence: RelayEvidence, suffix: str) -> None:
    """RCPT of a random mailbox at the suffix an accepted variant ended in, once per suffix."""
    if suffix in evidence.controls:
        return
    address = random_local_part() + suffix
    _mail, reply = await probe.ask(evidence.sender, address, allow_malformed=not suffix, syntax_risk='@[' in suffix)
    evidence.controls[suffix] = (address, reply)
