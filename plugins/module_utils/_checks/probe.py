# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""A session for envelope probes (MAIL FROM / RCPT TO), shared by the conformance checks.

It opens the connection, reads the greeting, says EHLO, runs one
transaction at a time with RSET between them, and never sends DATA. It
keeps one transcript across its connections.

Servers count errors and hang up: Postfix sleeps after 10 refused commands
(smtpd_soft_error_limit) and says ``421 4.7.0 Error: too many errors``
after 20 (smtpd_hard_error_limit, 3 to 5 on strict servers); Exim drops
the session after the fourth syntax error (smtp_max_synprot_errors = 3).
So the probe session reconnects before 8 refusals, carries at most 2 forms
that a server may take for syntax errors on one connection, and when the
server still ends a connection right after a refusal - a 421, or a close -
that is its error limit: not a verdict and not a reason to back the
address off. The probe that was cut off is asked again in a new connection
(once), the limit learnt for the next connections, and at most
MAX_CONNECTIONS connections are opened for one job.

Anything else that stops the probes - no connection, a 554 or 4xx
greeting, a 421 that follows no refusal, a timeout, a broken reply -
becomes a ``Problem`` that the checks turn into `error`, `inconclusive` or
`skipped` findings, never into `fail`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from .. import _protocol as protocol
from .. import _session as smtp
from .._findings import ERROR, INCONCLUSIVE, Finding
from .._run_state import Problem, RunState
from .._transcript import Transcript

# Refused commands per connection before the probe session reconnects (Postfix slows down after 10).
MAX_REFUSALS_PER_CONNECTION = 8
# Probes per connection whose address a server may count as a syntax error (a second "@", an address literal):
# Exim ends the session at the fourth (smtp_max_synprot_errors = 3), so two ride on one connection at most.
MAX_SYNTAX_RISKS_PER_CONNECTION = 2
# Connections one probe session - one job - opens at most, reconnects included. The relay forms need about nine
# on a server that hangs up after every third refusal, thirteen after every second; past the bound the probes
# not yet made are inconclusive.
MAX_CONNECTIONS = 16
# A probe that the server's error limit cut off is asked once more, in a new connection.
ATTEMPTS_PER_PROBE = 2


@dataclass
class Target:
    """One address to probe, and the domain and MX host it stands for."""

    domain: str | None
    mx: str | None
    address: str

    @property
    def literal(self) -> str:
        """The address as an RFC 5321 address literal: [192.0.2.1] or [IPv6:2001:db8::1]."""
        return '[IPv6:%s]' % self.address if ':' in self.address else '[%s]' % self.address


@dataclass
class ProbeSettings:
    """What every probe of a run needs: where to connect, how to introduce itself, its clocks and the run."""

    port: int
    helo_name: str
    mail_from: str
    timeout: float
    deadline: float | None = None   # absolute, on the event loop's clock
    relay_recipient: str = 'mxaudit-relay-probe@example.com'
    relay_variants: bool = True
    run: RunState = field(default_factory=RunState)
    tls_ca_file: str | None = None      # PEM trust anchors for the TLS checks instead of the system store
    # The run's resolver (its cache), for checks that look names up (identity); None when the run has none.
    resolver: t.Any = None
    # Probe addresses that are not globally routable when DNS (not the user) named them (allow_private_addresses).
    allow_private_addresses: bool = False

    def session(self, address: str, transcript: Transcript | None = None) -> smtp.SMTPSession:
        return smtp.SMTPSession(address, self.port, timeout=self.timeout, deadline=self.deadline, transcript=transcript)


@dataclass
class CheckOutcome:
    """What a check that opens its own sessions returns: its findings, and a record for modules that show more."""

    findings: list[Finding]
    record: t.Any = None


def session_problem(exc: smtp.SessionError) -> Problem:
    """Why probes cannot go on after a session error: no connection is `error`, the rest `inconclusive`."""
    if isinstance(exc, smtp.ConnectError):
        return Problem(ERROR, exc.message)
    if isinstance(exc, smtp.MalformedReply):
        return Problem(INCONCLUSIVE, 'the session ended on a reply this auditor could not read (%s); '
                       'see smtp_info (GR-2)' % exc.message)
    return Problem(INCONCLUSIVE, 'the session ended early: %s' % exc.message)


async def open_session(session: smtp.SMTPSession, run: RunState) -> tuple[protocol.Reply | None, Problem | None]:
    """Connect and read the greeting, telling the run what happened: the one place the greeting back-off lives."""
    run.session_started()
    try:
        greeting = await session.connect()
    except smtp.SessionError as exc:
        problem = session_problem(exc)
        if isinstance(exc, smtp.ConnectError):
            run.not_connected(session.address, exc.reason, problem)
        else:
            run.no_greeting(session.address, problem)
        return None, problem
    return greeting, run.greeted(session.address, greeting)


class ProbeSession:
    """Envelope probes at one address, over as many connections as the server's limits need (MAX_CONNECTIONS at most)."""

    def __init__(self, target: Target, settings: ProbeSettings,
                 max_refusals: int = MAX_REFUSALS_PER_CONNECTION,
                 max_syntax_risks: int = MAX_SYNTAX_RISKS_PER_CONNECTION,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.target = target
        self.settings = settings
        self.max_refusals = max_refusals
        self.max_syntax_risks = max_syntax_risks
        self.max_connections = max_connections
        self.transcript = Transcript()
        self.greeting: protocol.Reply | None = None
        self.hello: smtp.Hello | None = None
        self.problem: Problem | None = None
        self.connections = 0
        self.limit_closes = 0        # connections the server ended right after a refusal: its error limit
        self.transient_seen = False  # a 4xx came back: worth one retry after retry_4xx seconds
        self.header: list[str] = []  # greeting and EHLO of the first connection: context for every excerpt
        self._session: smtp.SMTPSession | None = None
        self._refusals = 0           # on this connection
        self._syntax_risks = 0       # probes on this connection that a server may count as syntax errors
        self._since_refusal: int | None = None  # replies on this connection since its last 4xx/5xx (None: none yet)
        self._last_risky = False     # the last refusal answered a probe that may count as a syntax error
        self._in_transaction = False
        self._open_sender: str | None = None  # the sender of the transaction open now (its MAIL accepted)
        self._open_mail: protocol.Reply | None = None
        # Set when a connection ended on replies no command asked for: no reply of that session is evidence.
        self.unsolicited: smtp.UnsolicitedReply | None = None

    # -------------------------------------------------------------- connection

    @property
    def banner_name(self) -> str | None:
        """The host name the server gives itself (greeting, else EHLO), if it is a domain name."""
        if self.greeting is not None:
            name = protocol.greeting_domain(self.greeting)
            if name and not name.startswith('['):
                return name
        if self.hello is not None and self.hello.capabilities is not None:
            name = self.hello.capabilities.domain
            if protocol.is_domain(name):
                return name
        return None

    @property
    def ended(self) -> str:
        """Why a probe got no reply: the problem that stopped the probes, or the server's error limit."""
        if self.problem is not None:
            return self.problem.summary
        return 'the server ended the connection at this probe again, in a new connection too (its error limit)'

    def _stop(self, problem: Problem) -> None:
        if self.problem is None:
            self.problem = problem

    async def open(self) -> bool:
        """Connect, greeting, EHLO. False (with ``problem`` set) when probes cannot run here."""
        run = self.settings.run
        known = run.problem(self.target.address)
        if known is not None:
            self.problem = known
            return False
        if self.connections >= self.max_connections:
            self._stop(Problem(INCONCLUSIVE, 'not probed: the server ended %d of the %d sessions of this probe at its '
                               'error limits, and a probe opens at most %d sessions' % (
                                   self.limit_closes, self.connections, self.max_connections)))
            return False
        if self.connections:
            self.transcript.note('new connection (staying under the server\'s error limits)')
        self.connections += 1
        session = self.settings.session(self.target.address, self.transcript)
        self._session = session
        self._refusals = 0
        self._syntax_risks = 0
        self._since_refusal = None
        self._last_risky = False
        self._in_transaction = False
        self._open_sender = None
        greeting, problem = await open_session(session, run)
        if greeting is not None:
            self.greeting = self.greeting or greeting
        if problem is not None:
            self._stop(problem)
        else:
            try:
                hello = await smtp.hello(session, self.settings.helo_name)
                self.hello = self.hello or hello
                if not hello.accepted:
                    self._stop(Problem(INCONCLUSIVE, 'EHLO/HELO refused: "%s"' % hello.reply.short()))
                    run.ehlo_refused()
            except smtp.SessionError as exc:
                self._stop(session_problem(exc))
        if not self.header:
            self.header = list(self.transcript)
        if self.problem is not None:
            await self.close()
            return False
        return True

    def mark(self) -> int:
        """Where the transcript stands now, to cut out what one probe adds."""
        return self.transcript.mark()

    def excerpt(self, mark: int) -> list[str]:
        """The greeting and EHLO, then what was said since ``mark``: one probe's part of a shared session."""
        if mark <= len(self.header):
            return list(self.transcript)
        return self.header + ['** ...'] + self.transcript.since(mark)

    async def close(self) -> None:
        session = self._session
        if session is None:
            return
        self._session = None
        if session.open:
            await session.quit()
        session.abort()

    def _closed_at_limit(self, reply: protocol.Reply | None) -> None:
        """The server ended the connection right after a refusal: its error limit, so reconnect; learn the limit.

        A 421 is Postfix's way (it counts every error), a silent close after a syntax error Exim's (it
        counts those only); the next connections carry no more refusals (or, for Exim's kind, one syntax
        risk fewer) than this one did, so the limit is met at most at their end, when they close anyway.
        """
        self.limit_closes += 1
        if reply is not None:
            self.settings.run.count('reply_421')
        if reply is None and self._last_risky and self._syntax_risks > 1:
            self.max_syntax_risks = min(self.max_syntax_risks, self._syntax_risks - 1)
        else:
            self.max_refusals = max(1, min(self.max_refusals, self._refusals))
        self.transcript.note('the server ended the connection after %d refused commands in it: its error limit, not '
                             'a verdict; the probes go on in a new connection' % self._refusals)
        session, self._session = self._session, None
        if session is not None:
            session.abort()

    # -------------------------------------------------------------- commands

    async def _ready(self) -> smtp.SMTPSession | None:
        """The open connection, opened again if the last one ended; None once the probes cannot go on."""
        if self.problem is not None:
            return None
        if self._session is not None and not self._session.open:
            # Closed while idle: a 421 it left (Postfix's error limit says so at once, unasked) is the reason.
            pending = await self._session.take_pending_421()
            if pending is not None and self._right_after_refusal:
                self._closed_at_limit(pending)
        if (self._session is None or not self._session.open) and not await self.open():
            return None
        return self._session

    async def send(self, command: protocol.Command) -> protocol.Reply | None:
        """One command; None when the connection ended (``problem`` set, unless it was the server's error limit)."""
        session = await self._ready()
        if session is None:
            return None
        try:
            reply = await session.send(command)
        except smtp.SessionError as exc:
            if isinstance(exc, smtp.UnsolicitedReply):
                self.unsolicited = exc
            if isinstance(exc, smtp.ServerClosed) and self._right_after_refusal:
                self._closed_at_limit(None)
                return None
            self._stop(session_problem(exc))
            await self.close()
            return None
        if reply.code == 421:
            if self._right_after_refusal:
                self._closed_at_limit(reply)
                return None
            self._stop(self.settings.run.closed_with_421(self.target.address, reply))
            await self.close()
            return None
        if reply.code_class in (4, 5):
            self._refusals += 1
            self._since_refusal = 0
            self._last_risky = False
            self.transient_seen = self.transient_seen or reply.is_transient()
        elif self._since_refusal is not None:
            self._since_refusal += 1
        return reply

    async def in_step(self) -> bool:
        """A NOOP round trip (RFC 5321 4.1.1.9: 250 and nothing else): True when the reply before it answered its own
        command. A server that sent a reply nobody asked for is caught here, before that reply is taken as evidence."""
        reply = await self.send(protocol.noop())
        return reply is not None and reply.code == 250

    @property
    def _right_after_refusal(self) -> bool:
        """A refusal came last on this connection, or just before the RSET that followed it."""
        return self._since_refusal is not None and self._since_refusal <= 1

    async def pipeline(self, commands: t.Sequence[protocol.Command]) -> smtp.PipelineResult | None:
        """One write of a group (RFC 2920); the result says what came back and how it ended."""
        session = await self._ready()
        if session is None:
            return None
        result = await session.pipeline(commands)
        self._in_transaction = False
        return result

    async def closed_by_server(self) -> bool:
        """After a QUIT: does the server close its side within the timeout?"""
        session = self._session
        if session is None:
            return True
        return await session.wait_closed()

    def _has_room(self, syntax_risk: bool) -> bool:
        """Can the open connection take one more probe without reaching the server's error limits?"""
        return (self._session is not None and self._session.open and self._refusals < self.max_refusals
                and (not syntax_risk or self._syntax_risks < self.max_syntax_risks))

    async def _make_room(self, syntax_risk: bool = False) -> None:
        """Reconnect when the next refusals could reach the server's error limits."""
        if self._session is not None and not self._has_room(syntax_risk):
            await self.close()

    async def mail(self, sender: str, *, syntax_risk: bool = False) -> protocol.Reply | None:
        """RSET if a transaction is open, then MAIL FROM:<sender> (in a new connection when this one is full)."""
        await self._make_room(syntax_risk)
        self._open_sender = None
        if await self._ready() is None:  # a new connection, if one is needed, before the RSET is considered
            return None
        if self._in_transaction:
            if await self.send(protocol.rset()) is None:
                return None
        self._in_transaction = True
        reply = await self.send(protocol.mail_from(sender))
        if reply is not None and reply.is_positive():
            self._open_sender, self._open_mail = sender, reply
        return reply

    @property
    def open_sender(self) -> str | None:
        """The sender of the transaction open now, if its MAIL was accepted and the connection is still up."""
        if self._session is None or not self._session.open:
            return None
        return self._open_sender

    async def transaction(self, sender: str, *, syntax_risk: bool = False) -> protocol.Reply | None:
        """A transaction from ``sender`` for more recipients: the open one while the server's limits allow, else MAIL.

        RFC 5321 servers take at least 100 recipients a transaction; each RCPT is judged on its own reply.
        None when no MAIL could be sent, also after a second try in a new connection.
        """
        for _attempt in range(ATTEMPTS_PER_PROBE):
            if self._open_sender == sender and self._has_room(syntax_risk):
                return self._open_mail
            reply = await self.mail(sender, syntax_risk=syntax_risk)
            if reply is not None or self.problem is not None:
                return reply
        return None

    async def rcpt(self, address: str, *, allow_malformed: bool = False) -> protocol.Reply | None:
        return await self.send(protocol.rcpt_to(address, allow_malformed=allow_malformed))

    async def ask(self, sender: str, recipient: str, *, allow_malformed: bool = False,
                  syntax_risk: bool = False) -> tuple[protocol.Reply | None, protocol.Reply | None]:
        """One probe: RCPT TO:<recipient> in a transaction from ``sender`` - (MAIL reply, RCPT reply).

        The RCPT reply is None when MAIL was refused (then the MAIL reply says why) or when no reply came:
        ``problem`` says why, or else the server's error limit cut the probe off twice (``ended``).
        ``syntax_risk``: a server may count this probe as a syntax error (its sender or recipient).
        """
        for _attempt in range(ATTEMPTS_PER_PROBE):
            mail = await self.transaction(sender, syntax_risk=syntax_risk)
            if mail is None:
                if self.problem is not None:
                    break
                continue
            if not mail.is_positive():
                self._counted(syntax_risk, mail)
                return mail, None
            reply = await self.rcpt(recipient, allow_malformed=allow_malformed)
            if reply is not None:
                self._counted(syntax_risk, reply)
                return mail, reply
            if self.problem is not None:
                break
        return None, None

    def _counted(self, syntax_risk: bool, reply: protocol.Reply) -> None:
        """A probe that may count as a syntax error got its answer on this connection."""
        if syntax_risk:
            self._syntax_risks += 1
            self._last_risky = reply.code_class in (4, 5)


@dataclass
class Transaction:
    """A MAIL FROM that got through, and what the null sender got on the way."""

    sender: str | None
    mail_reply: protocol.Reply | None
    null_reply: protocol.Reply | None = None
    refused_replies: list[protocol.Reply] = field(default_factory=list)
    # mail_from refused at MAIL while MAIL FROM:<> was accepted: by its position, a refusal of the sender
    # (sender verification), whatever the reply's words.
    sender_refusal: protocol.Reply | None = None

    @property
    def open(self) -> bool:
        return self.sender is not None


async def begin(probe: ProbeSession, null_first: bool = True) -> Transaction:
    """MAIL FROM:<> (RFC 5321 4.5.5: it must be accepted), falling back to ``mail_from`` (or the other way round).

    The fallback is what keeps one cause to one failing finding: a server
    that refuses the null sender is reported once, by null_sender_check, and
    the other probes go on with a real sender.
    """
    senders = ['', probe.settings.mail_from] if null_first else [probe.settings.mail_from, '']
    transaction = Transaction(None, None)
    run = probe.settings.run
    run.count('transactions')
    for sender in senders:
        reply = await probe.transaction(sender)
        if reply is None:
            return transaction
        if sender == '':
            transaction.null_reply = reply
        if reply.is_positive():
            transaction.sender = sender
            transaction.mail_reply = reply
            if sender == '' and transaction.refused_replies:
                transaction.sender_refusal = transaction.refused_replies[0]
            return transaction
        transaction.refused_replies.append(reply)
    if transaction.refused_replies and all(r.is_permanent() for r in transaction.refused_replies):
        run.count('refused_mail')
    return transaction


def problem_findings(rules: t.Sequence[str], target: Target, problem: Problem, transcript: list[str]) -> list[Finding]:
    return [Finding(rule=rule, status=problem.status, summary=problem.summary, domain=target.domain, mx=target.mx,
                    address=target.address, transcript=list(transcript), applies=problem.applies) for rule in rules]


def finding(rule: str, status: str, summary: str, target: Target, transcript: list[str]) -> Finding:
    return Finding(rule=rule, status=status, summary=summary, domain=target.domain, mx=target.mx,
                   address=target.address, transcript=list(transcript))


def quote(reply: protocol.Reply | None) -> str:
    return '"%s"' % reply.short() if reply is not None else 'no reply'
