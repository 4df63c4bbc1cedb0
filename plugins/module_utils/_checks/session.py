# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The session probe behind smtp_info: GR-1..GR-3 and CMD-1..CMD-3.

RFC 5321: 4.2 and 4.3.1 (greeting), 4.2.1 (reply syntax), 2.2.1 and 3.2
(EHLO, HELO fallback), 4.1.1.5/9/10 (RSET, NOOP, QUIT), 4.3.2 (unknown
commands), 3.5.3 and 7.3 (VRFY). One session runs the probes in order;
a second short one tries HELO. A 4xx, 421, timeout or close is never a
fail (except where closing is itself the fault), and a 554 greeting
exempts the server from everything after it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from .. import _protocol as protocol
from .. import _session as smtp
from .._findings import ERROR, FAIL, INCONCLUSIVE, PASS, SKIPPED, WARN, Finding, worst_status, Rule, define_rules
from .addresses import random_local_part
from .._run_state import Problem, RunState
from .._transcript import Transcript
from .probe import CheckOutcome, ProbeSettings, Target, session_problem

CHECK = 'session'
RULES = define_rules(CHECK, (
    Rule('GR-1', 'MUST', 'medium', 'RFC 5321 4.2, 4.3.1', 'The greeting is "220 <domain or address literal>"; a 554 greeting is a legal refusal'),
    Rule('GR-2', 'MUST', 'medium', 'RFC 5321 4.2.1', 'Reply syntax: three-digit code with first digit 2-5, the same code on every line of a multiline reply'),
    Rule('GR-3', 'MUST', 'medium', 'RFC 5321 2.2.1, 3.2', 'EHLO is supported; HELO works as a fallback and gets no extension list'),
    Rule('CMD-1', 'MUST', 'medium', 'RFC 5321 4.1.1.9, 4.1.1.10, 4.1.1.5',
         'NOOP gets 250; RSET gets 250 and clears the transaction; QUIT gets 221 and a close'),
    Rule('CMD-2', 'MUST', 'medium', 'RFC 5321 4.3.2', 'An unknown verb gets 500 and the connection stays open'),
    Rule('CMD-3', 'MUST', 'medium', 'RFC 5321 3.5.3, 7.3', 'VRFY gets 250 only for a verified mailbox, 252 when verification is disabled'),
))
UNKNOWN_VERB = 'XMXAUDITUNKNOWN'
# 500 "command unrecognized", 502 "not implemented", 504 "parameter not implemented"
NOT_IMPLEMENTED = (500, 502, 504)


@dataclass
class SessionReport:
    """What smtp_info returns for one address."""

    target: Target
    port: int
    greeting: protocol.Reply | None = None
    hello: smtp.Hello | None = None
    helo_reply: protocol.Reply | None = None
    transcript: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    failure: smtp.SessionError | None = None  # what ended the main session early, if anything

    def to_dict(self, target: Target | None = None) -> dict[str, t.Any]:
        """The session as smtp_info returns it, for ``target`` (another domain the same address serves) if given."""
        target = target or self.target
        capabilities = self.hello.capabilities if self.hello is not None else None
        return {
            'domain': target.domain,
            'mx': target.mx,
            'address': target.address,
            'port': self.port,
            'greeting': self.greeting.short() if self.greeting is not None else None,
            'greeting_code': self.greeting.code if self.greeting is not None else None,
            'esmtp': capabilities is not None,
            'ehlo_domain': capabilities.domain if capabilities is not None else None,
            'capabilities': capabilities.to_dict() if capabilities is not None else None,
            'helo_reply': self.helo_reply.short() if self.helo_reply is not None else None,
            'transcript': list(self.transcript),
            'findings': [finding.to_dict() for finding in self.findings],
            'error': self.error,
        }


class _Verdicts:
    """Parts of each rule's verdict; a rule's status is the worst of its parts."""

    def __init__(self) -> None:
        self.parts: dict[str, list[tuple[str, str]]] = {}
        self.skipped: dict[str, str] = {}

    def add(self, rule: str, status: str, text: str) -> None:
        self.parts.setdefault(rule, []).append((status, text))

    def skip_rest(self, reason: str) -> None:
        for rule in RULES:
            if rule not in self.parts:
                self.skipped.setdefault(rule, reason)

    def void(self, reason: str, keep: t.Sequence[str]) -> None:
        """Every rule but ``keep`` inconclusive for ``reason``, whatever its replies seemed to show."""
        for rule in RULES:
            if rule not in keep:
                self.parts[rule] = [(INCONCLUSIVE, reason)]
                self.skipped.pop(rule, None)

    def findings(self, target: Target, transcript: list[str]) -> list[Finding]:
        result = []
        for rule in RULES:
            if rule in self.parts:
                parts = self.parts[rule]
                status = worst_status([{'status': part[0]} for part in parts]) or SKIPPED
                summary = '; '.join(part[1] for part in parts)
            elif rule in self.skipped:
                status, summary = SKIPPED, self.skipped[rule]
            else:
                continue
            result.append(Finding(rule=rule, status=status, summary=summary, domain=target.domain, mx=target.mx,
                                  address=target.address, transcript=list(transcript)))
        return result


def _code_class_status(reply: protocol.Reply) -> str | None:
    """The verdict every probe shares: a 4xx never decides anything."""
    if reply.is_transient():
        return INCONCLUSIVE
    return None


def judge_greeting(reply: protocol.Reply, verdicts: _Verdicts) -> bool:
    """GR-1. Returns True when the session may go on to EHLO."""
    if reply.code == 220:
        domain = protocol.greeting_domain(reply)
        if domain is None:
            verdicts.add('GR-1', FAIL, 'greeting "%s" does not start with a domain name or address literal'
                         % reply.short())
        else:
            verdicts.add('GR-1', PASS, 'greeting "%s"' % reply.short())
        return True
    if reply.code == 554:
        verdicts.add('GR-1', PASS, 'greeting "%s": the server refuses service, which RFC 5321 3.1 allows; '
                     'the rules that follow do not apply' % reply.short())
        return False
    if reply.is_transient():
        verdicts.add('GR-1', INCONCLUSIVE, 'greeting "%s": temporarily unavailable' % reply.short())
        return False
    verdicts.add('GR-1', FAIL, 'greeting "%s": a greeting is 220 (or 554 to refuse service)' % reply.short())
    return False


def judge_ehlo(hello: smtp.Hello, verdicts: _Verdicts) -> bool:
    """GR-3 for the EHLO (and in-session HELO fallback). True when the session can go on."""
    ehlo_reply = hello.ehlo_reply
    if hello.esmtp:
        verdicts.add('GR-3', PASS, 'EHLO %d' % ehlo_reply.code)
        return True
    if ehlo_reply.is_transient():
        verdicts.add('GR-3', INCONCLUSIVE, 'EHLO got a temporary refusal "%s"' % ehlo_reply.short())
        return False
    policy = ehlo_reply.code not in NOT_IMPLEMENTED
    helo_reply = hello.helo_reply
    if policy:
        verdicts.add('GR-3', INCONCLUSIVE, 'EHLO refused "%s" - a refusal of this client, not a missing EHLO' %
                     ehlo_reply.short())
        return bool(helo_reply is not None and helo_reply.is_positive())
    if helo_reply is not None and helo_reply.is_positive():
        verdicts.add('GR-3', FAIL, 'EHLO is not supported ("%s"); HELO works ("%s")'
                     % (ehlo_reply.short(), helo_reply.short()))
        return True
    helo_text = helo_reply.short() if helo_reply is not None else 'not tried'
    verdicts.add('GR-3', FAIL, 'neither EHLO ("%s") nor HELO ("%s") is accepted' % (ehlo_reply.short(), helo_text))
    return False


def judge_helo_session(reply: protocol.Reply, verdicts: _Verdicts) -> None:
    """GR-3, second part: HELO in a fresh session gets 250 and no extension list."""
    if reply.is_positive():
        if len(reply.lines) > 1:
            verdicts.add('GR-3', WARN, 'HELO accepted but answered with a %d-line reply like an extension list'
                         % len(reply.lines))
        else:
            verdicts.add('GR-3', PASS, 'HELO %d on one line' % reply.code)
    elif reply.is_transient():
        verdicts.add('GR-3', INCONCLUSIVE, 'HELO got a temporary refusal "%s"' % reply.short())
    elif reply.code in NOT_IMPLEMENTED:
        verdicts.add('GR-3', FAIL, 'HELO is not supported ("%s"); servers must keep HELO for old clients'
                     % reply.short())
    else:
        verdicts.add('GR-3', INCONCLUSIVE, 'HELO refused "%s" - a refusal of this client' % reply.short())


def judge_noop(reply: protocol.Reply, verdicts: _Verdicts) -> None:
    status = _code_class_status(reply)
    if status:
        verdicts.add('CMD-1', status, 'NOOP "%s"' % reply.short())
    elif reply.code == 250:
        verdicts.add('CMD-1', PASS, 'NOOP 250')
    elif reply.is_positive():
        verdicts.add('CMD-1', WARN, 'NOOP "%s" (RFC 5321 4.1.1.9: 250)' % reply.short())
    else:
        verdicts.add('CMD-1', FAIL, 'NOOP refused "%s" (RFC 5321 4.1.1.9: 250)' % reply.short())


def judge_rset(reply: protocol.Reply, verdicts: _Verdicts) -> bool:
    """True when RSET was accepted (so clearing can be tested)."""
    status = _code_class_status(reply)
    if status:
        verdicts.add('CMD-1', status, 'RSET "%s"' % reply.short())
        return False
    if reply.code == 250:
        return True
    if reply.is_positive():
        verdicts.add('CMD-1', WARN, 'RSET "%s" (RFC 5321 4.1.1.5: 250)' % reply.short())
        return True
    verdicts.add('CMD-1', FAIL, 'RSET refused "%s" (RFC 5321 4.1.1.5: 250)' % reply.short())
    return False


def judge_rset_cleared(second_mail: protocol.Reply, verdicts: _Verdicts) -> None:
    if second_mail.is_positive():
        verdicts.add('CMD-1', PASS, 'RSET 250 (cleared)')
    elif second_mail.code == 503:
        verdicts.add('CMD-1', FAIL, 'RSET did not clear the transaction: the next MAIL FROM got "%s"'
                     % second_mail.short())
    else:
        verdicts.add('CMD-1', INCONCLUSIVE, 'RSET 250; after it MAIL FROM got "%s", so clearing is not shown'
                     % second_mail.short())


def judge_vrfy(postmaster: protocol.Reply, unknown: protocol.Reply | None, verdicts: _Verdicts) -> None:
    """CMD-3: 250 only for a verified mailbox; 252 when verification is disabled (RFC 5321 3.5.3, 7.3)."""
    replies = 'VRFY postmaster "%s"' % postmaster.short()
    if unknown is not None:
        replies += ', VRFY of an unknown user "%s"' % unknown.short()
    if postmaster.is_transient():
        verdicts.add('CMD-3', INCONCLUSIVE, replies)
    elif postmaster.code in (250, 251, 252):
        verdicts.add('CMD-3', PASS, 'VRFY postmaster %d' % postmaster.code)
    elif postmaster.code in NOT_IMPLEMENTED:
        verdicts.add('CMD-3', WARN, replies + ': VRFY is part of the minimum implementation (RFC 5321 4.5.1); '
                     'a server that will not verify answers 252')
    elif postmaster.code in (550, 551, 553) and postmaster.enhanced not in ('5.7.0', '5.7.1'):
        everything = unknown is not None and unknown.code == postmaster.code
        verdicts.add('CMD-3', FAIL, replies + ': postmaster must exist, so %s is not a verification result; '
                     'a server that will not verify answers 252%s'
                     % (postmaster.code, ' (it answers %d to everything)' % postmaster.code if everything else ''))
    else:
        verdicts.add('CMD-3', INCONCLUSIVE, replies + ': refused by policy, not judged')


def judge_unknown_verb(reply: protocol.Reply | None, still_open: bool, verdicts: _Verdicts) -> None:
    """CMD-2: an unknown verb gets 500 and the session goes on (RFC 5321 4.3.2)."""
    sent = 'unknown command %s' % UNKNOWN_VERB
    if reply is None:
        verdicts.add('CMD-2', FAIL, '%s: the server closed the connection without a reply' % sent)
        return
    if reply.code == 421 or reply.is_transient():
        verdicts.add('CMD-2', INCONCLUSIVE, '%s: "%s"' % (sent, reply.short()))
        return
    if not still_open:
        verdicts.add('CMD-2', FAIL, '%s: "%s", then the server closed the connection' % (sent, reply.short()))
    elif reply.code == 500:
        verdicts.add('CMD-2', PASS, 'unknown command 500, session goes on')
    elif reply.is_permanent():
        verdicts.add('CMD-2', WARN, '%s: "%s" (RFC 5321 4.2.4: 500 for an unrecognized command)'
                     % (sent, reply.short()))
    else:
        verdicts.add('CMD-2', FAIL, '%s: accepted with "%s"' % (sent, reply.short()))


def judge_quit(reply: protocol.Reply, closed: bool, verdicts: _Verdicts) -> None:
    if reply.code == 221 and closed:
        verdicts.add('CMD-1', PASS, 'QUIT 221 and close')
    elif reply.code == 221:
        verdicts.add('CMD-1', FAIL, 'QUIT 221 but the server kept the connection open (RFC 5321 4.1.1.10)')
    elif reply.is_transient():
        verdicts.add('CMD-1', INCONCLUSIVE, 'QUIT "%s"' % reply.short())
    else:
        verdicts.add('CMD-1', FAIL, 'QUIT "%s" (RFC 5321 4.1.1.10: 221 and close)' % reply.short())


def _session_error(verdicts: _Verdicts, rule: str, exc: smtp.SessionError) -> None:
    """A session that ended in the middle: the rule under test cannot be decided (or syntax failed)."""
    if isinstance(exc, smtp.UnsolicitedReply):
        # Replies that no command asked for shift every reply after them onto the wrong command, and
        # one may have come before it was seen: nothing this session read after the greeting (the
        # one reply that answers no command) is evidence. GR-2 is the rule they break.
        verdicts.add('GR-2', FAIL, '%s (RFC 5321 4.2: a reply answers a command)' % exc.message)
        verdicts.void('not judged: the server sent replies that no command asked for (GR-2), so the replies of '
                      'this session cannot be matched to its commands', keep=('GR-1', 'GR-2'))
        return
    if isinstance(exc, smtp.MalformedReply):
        if exc.bounded:
            verdicts.add('GR-2', INCONCLUSIVE, 'session ended: %s (a safety bound of this auditor)' % exc.message)
        else:
            verdicts.add('GR-2', FAIL, 'malformed reply: %s' % exc.message)
    elif isinstance(exc, smtp.ConnectError):
        verdicts.add(rule, ERROR, exc.message)
    else:
        verdicts.add(rule, INCONCLUSIVE, exc.message)
    verdicts.skip_rest('not probed: the session ended early (%s)' % exc.message)


def _first(replies: list[protocol.Reply], flag: str) -> protocol.Reply | None:
    return next((reply for reply in replies if getattr(reply, flag)), None)


def judge_syntax(replies: list[protocol.Reply], verdicts: _Verdicts,
                 capabilities: protocol.Capabilities | None = None) -> None:
    """GR-2 over every reply of the session (and the EHLO lines), next to what a malformed reply decided."""
    if not replies:
        return
    decided = 'GR-2' in verdicts.parts
    # RFC 5321 4.2: textstring = 1*(%d09 / %d32-126), UTF-8 with SMTPUTF8 (RFC 6531 3.7.4): a control
    # character but HT, or a byte that is not UTF-8, is outside the grammar whatever the session.
    control = _first(replies, 'control_chars')
    if control is not None:
        verdicts.add('GR-2', FAIL, 'a reply holds control characters (RFC 5321 4.2: reply text is printable ASCII or '
                     'HT): "%s"' % control.short())
    invalid = _first(replies, 'invalid_utf8')
    if invalid is not None:
        verdicts.add('GR-2', FAIL, 'a reply holds bytes that are not UTF-8 (RFC 5321 4.2; RFC 6531 3.7.4): "%s"'
                     % invalid.short())
    if _first(replies, 'bare_lf') is not None:
        verdicts.add('GR-2', WARN, 'reply lines end in a bare LF instead of CRLF')
    if _first(replies, 'overlong') is not None:
        verdicts.add('GR-2', WARN, 'a reply line is longer than 512 octets (RFC 5321 4.5.3.1.5)')
    if capabilities is not None and capabilities.invalid:
        # A keyword or value outside its grammar is recorded, not guessed at (the capability is then unknown).
        verdicts.add('GR-2', WARN, 'EHLO lines outside the grammar of RFC 5321 4.1.1.1 or of their extension, not '
                     'understood: %s' % ', '.join('"%s"' % protocol.printable(line) for line in capabilities.invalid))
    if not decided and 'GR-2' not in verdicts.parts:
        verdicts.add('GR-2', PASS, '%d replies, all well-formed' % len(replies))


async def _main_session(session: smtp.SMTPSession, settings: ProbeSettings, report: SessionReport,
                        verdicts: _Verdicts, replies: list[protocol.Reply]) -> None:
    async def send(command: protocol.Command) -> protocol.Reply:
        reply = await session.send(command)
        replies.append(reply)
        return reply

    rule = 'GR-1'
    try:
        report.greeting = await session.connect()
        replies.append(report.greeting)
        if not judge_greeting(report.greeting, verdicts):
            if report.greeting.code == 554:
                # RFC 5321 3.1: after a 554 greeting the server answers 503 until QUIT.
                reply = await send(protocol.ehlo(session.client_name(settings.helo_name)))
                if reply.is_positive():
                    verdicts.add('GR-1', WARN, 'after the 554 greeting EHLO was accepted ("%s"); expected 503'
                                 % reply.short())
                verdicts.skip_rest('not probed: the server refused service with a 554 greeting')
            else:
                verdicts.skip_rest('not probed: no usable greeting')
            await session.quit()
            return
        rule = 'GR-3'
        report.hello = await smtp.hello(session, settings.helo_name)
        replies.append(report.hello.ehlo_reply)
        if report.hello.helo_reply is not None:
            replies.append(report.hello.helo_reply)
        if not judge_ehlo(report.hello, verdicts):
            verdicts.skip_rest('not probed: the server did not accept EHLO or HELO')
            await session.quit()
            return

        rule = 'CMD-1'
        judge_noop(await send(protocol.noop()), verdicts)
        first_mail = await send(protocol.mail_from(settings.mail_from))
        if judge_rset(await send(protocol.rset()), verdicts):
            if first_mail.is_positive():
                judge_rset_cleared(await send(protocol.mail_from(settings.mail_from)), verdicts)
                await send(protocol.rset())
            else:
                verdicts.add('CMD-1', PASS, 'RSET 250 (clearing not shown: MAIL FROM got "%s")' % first_mail.short())

        rule = 'CMD-3'
        postmaster = await send(protocol.vrfy('postmaster'))
        unknown = None
        if postmaster.is_permanent():
            unknown = await send(protocol.vrfy(random_local_part()))
        judge_vrfy(postmaster, unknown, verdicts)

        rule = 'CMD-2'
        try:
            unknown_reply: protocol.Reply | None = await send(protocol.verb(UNKNOWN_VERB))
        except smtp.ServerClosed as exc:
            if not exc.sent:
                raise  # it closed before the unknown verb went out: that verb decides nothing
            unknown_reply = None
        still_open = False
        if unknown_reply is not None and session.open:
            try:
                await send(protocol.noop())
                still_open = True
            except smtp.ServerClosed:
                still_open = False
        judge_unknown_verb(unknown_reply, still_open, verdicts)
        if not session.open:
            verdicts.skip_rest('not probed: the server closed the connection')
            return

        rule = 'CMD-1'
        quit_reply = await send(protocol.quit_())
        judge_quit(quit_reply, await session.wait_closed(), verdicts)
    except smtp.SessionError as exc:
        _session_error(verdicts, rule, exc)
        report.error = exc.message
        report.failure = exc
    finally:
        session.abort()


async def _helo_session(settings: ProbeSettings, target: Target, verdicts: _Verdicts,
                        replies: list[protocol.Reply], transcript: Transcript) -> None:
    session = settings.session(target.address, transcript)
    try:
        greeting = await session.connect()
        replies.append(greeting)
        if greeting.code != 220:
            session.note('HELO not tried: greeting "%s" in the second session' % greeting.short())
            return
        reply = await session.send(protocol.helo(session.client_name(settings.helo_name)))
        replies.append(reply)
        judge_helo_session(reply, verdicts)
        await session.quit()
    except smtp.SessionError as exc:
        if isinstance(exc, smtp.MalformedReply) and not exc.bounded:
            verdicts.add('GR-2', FAIL, 'malformed reply to HELO: %s' % exc.message)
        elif isinstance(exc, smtp.UnsolicitedReply):
            verdicts.add('GR-2', FAIL, 'in the HELO session, %s (RFC 5321 4.2: a reply answers a command)' % exc.message)
        else:
            session.note('HELO not tested: %s' % exc.message)
    finally:
        session.abort()


def _record_run(run: RunState, address: str, report: SessionReport) -> None:
    """Tell the run what this session learnt about the address (sessions, refusals, back-off)."""
    run.session_started()
    if report.greeting is None:
        failure = report.failure
        problem = session_problem(failure) if failure is not None else Problem(INCONCLUSIVE, 'no greeting')
        if isinstance(failure, smtp.ConnectError):
            run.not_connected(address, failure.reason, problem)
        else:
            run.no_greeting(address, problem)
        return
    if run.greeted(address, report.greeting) is None and report.hello is not None and not report.hello.accepted:
        run.ehlo_refused()


async def probe_session(target: Target, settings: ProbeSettings) -> SessionReport:
    """smtp_info for one address: two sessions, one report, six findings."""
    report = SessionReport(target=target, port=settings.port)
    verdicts = _Verdicts()
    replies: list[protocol.Reply] = []
    run = settings.run
    known = run.problem(target.address)
    if known is not None:
        verdicts.add('GR-1', known.status, known.summary)
        verdicts.skip_rest('not probed: %s' % known.summary)
        report.error = known.summary
        report.findings = verdicts.findings(target, [])
        return report
    transcript = Transcript()
    session = settings.session(target.address, transcript)
    await _main_session(session, settings, report, verdicts, replies)
    _record_run(run, target.address, report)
    if report.hello is not None and report.hello.esmtp and report.error is None:
        transcript.note('second session: HELO')
        await _helo_session(settings, target, verdicts, replies, transcript)
    report.transcript = list(transcript)
    judge_syntax(replies, verdicts, report.hello.capabilities if report.hello is not None else None)
    report.findings = verdicts.findings(target, report.transcript)
    return report


async def run_session(target: Target, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point: the findings, and the report smtp_info returns as ``sessions``."""
    report = await probe_session(target, settings)
    return CheckOutcome(report.findings, report)
