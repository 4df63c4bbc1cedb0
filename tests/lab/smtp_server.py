# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Asyncio SMTP servers with named (mis)behaviours for the lab.

Each behaviour reproduces one server the auditor must diagnose; the base
session is a small RFC 5321 server, and every behaviour is a subclass that
overrides one hook, so what a behaviour does differently is obvious.
Nothing here ever delivers mail: an accepted DATA body is counted and dropped.
"""
from __future__ import annotations

import asyncio
import re
import threading
from typing import Any, Optional

from .dns_server import LabDNSServer

MAX_COMMAND_LINE = 512          # RFC 5321 4.5.3.1.4, including CRLF
MAX_KEPT_LINE = 4096            # longer input is truncated while it is discarded
READ_CHUNK = 65536
LAB_TLD = "lab.test"

_IO_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError)

_MAIL_RE = re.compile(r"^MAIL FROM: ?<([^<>]*)>(?: (.*))?$", re.IGNORECASE | re.DOTALL)
_RCPT_RE = re.compile(r"^RCPT TO: ?<([^<>]*)>(?: (.*))?$", re.IGNORECASE | re.DOTALL)
_LOOPBACK_LITERAL_RE = re.compile(r"^\[127\.\d{1,3}\.\d{1,3}\.\d{1,3}\]$")


def lab_domain(behaviour: str) -> str:
    """Return the lab mail domain of a behaviour (``open_relay`` -> ``open-relay.lab.test``)."""
    return "%s.%s" % (behaviour.replace("_", "-"), LAB_TLD)


class SMTPSession:
    """One client connection of a compliant RFC 5321 server.

    Behaviours subclass this and override the smallest hook that shows their
    defect: ``greet``, ``handle_batch``, ``ehlo_reply``, ``rcpt_reply``, ``mail_reply``,
    ``cmd_<verb>`` or ``unknown``.
    """

    greeting_text = "ESMTP mxaudit-lab"
    mail_ok = "250 2.1.0 Ok"
    extensions = ("PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8")

    def __init__(self, server: LabSMTPServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.name = server.name
        self.options = server.options
        self.greeted = False
        self.mail_from: Optional[str] = None
        self.rcpts: list[str] = []
        self.in_data = False
        self.closed = False
        self._buf = bytearray()
        self._discarding = False
        self._pending_long = b""

    # ---- plumbing -------------------------------------------------------
    @property
    def domains(self) -> list[str]:
        """Domains this server is authoritative for (lowercase, no trailing dot)."""
        return [d.lower().rstrip(".") for d in self.options.get("domains") or [lab_domain(self.server.behaviour)]]

    @property
    def users(self) -> list[str]:
        """Local parts that exist at the served domains (lowercase)."""
        return [u.lower() for u in self.options.get("users") or ("postmaster", "abuse", "info")]

    async def send_raw(self, data: bytes) -> None:
        """Write bytes and wait for the transport; raise when the peer is gone."""
        if self.writer.is_closing():
            raise ConnectionResetError("connection closed")
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, text: str) -> None:
        """Send one (possibly multiline, LF-separated) reply, after ``reply_delay``."""
        if self.server.reply_delay > 0:
            await asyncio.sleep(self.server.reply_delay)
        lines = text.split("\n")
        await self.send_raw("".join(line + "\r\n" for line in lines).encode("utf-8", "replace"))

    def close(self) -> None:
        """Stop the session; the connection is closed gracefully by the server."""
        self.closed = True

    def reset(self) -> None:
        """Clear the mail transaction (RSET, EHLO, HELO, end of DATA)."""
        self.mail_from = None
        self.rcpts = []

    async def read_batch(self) -> Optional[list[str]]:
        """Read what is available and return the complete lines (None at EOF).

        All lines from one read form a batch, which is what a pipelined
        group looks like to a server. Input is bounded: an over-long line is
        truncated to ``MAX_KEPT_LINE`` octets while the rest is discarded.
        """
        while True:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                return None
            lines: list[str] = []
            self._buf += data
            while True:
                idx = self._buf.find(b"\n")
                if idx < 0:
                    if len(self._buf) > MAX_KEPT_LINE:
                        if not self._discarding:
                            self._discarding = True
                            self._pending_long = bytes(self._buf[:MAX_KEPT_LINE])
                        del self._buf[:]
                    break
                raw = bytes(self._buf[:idx])
                del self._buf[:idx + 1]
                if self._discarding:
                    raw = self._pending_long
                    self._discarding = False
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                lines.append(raw[:MAX_KEPT_LINE].decode("latin-1"))
            if lines:
                return lines

    async def run(self) -> None:
        """Greet, then answer batches until the client or a behaviour ends it."""
        await self.greet()
        while not self.closed:
            lines = await self.read_batch()
            if lines is None:
                return
            await self.handle_batch(lines)

    # ---- hooks ----------------------------------------------------------
    async def greet(self) -> None:
        """Send the opening reply."""
        await self.reply("220 %s %s" % (self.name, self.greeting_text))

    async def handle_batch(self, lines: list[str]) -> None:
        """Answer every line in order (RFC 2920 3.2: never lose input)."""
        for line in lines:
            if self.closed:
                return
            await self.handle_line(line)

    async def handle_line(self, line: str) -> None:
        """Dispatch one line: DATA body, or a command to ``cmd_<verb>``."""
        if self.in_data:
            await self.data_line(line)
            return
        self.server.record(line)
        if len(line) + 2 > MAX_COMMAND_LINE:
            await self.reply("500 5.5.0 Error: line too long")
            return
        verb, _sep, arg = line.partition(" ")
        verb = verb.upper()
        handler = getattr(self, "cmd_" + verb.lower(), None) if verb.isalpha() else None
        if handler is None:
            await self.unknown(line)
        else:
            await handler(arg.strip(" "))

    async def unknown(self, line: str) -> None:
        """An unrecognised verb: 500, connection stays open (RFC 5321 4.2.4)."""
        await self.reply("500 5.5.2 Error: command not recognized")

    def ehlo_reply(self) -> str:
        """The EHLO reply text (multiline)."""
        lines = [self.name] + list(self.extensions)
        return "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", text) for i, text in enumerate(lines))

    def mail_reply(self, sender: str, params: str) -> str:
        """Verdict on a syntactically valid MAIL FROM."""
        return self.mail_ok

    def rcpt_reply(self, addr: str) -> str:
        """Verdict on a syntactically valid RCPT TO, by address class."""
        kind = self.classify(addr)
        if kind in ("postmaster", "user"):
            return "250 2.1.5 Ok"
        if kind == "unknown_user":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr
        if kind == "syntax":
            return "501 5.1.3 Bad recipient address syntax"
        return "554 5.7.1 <%s>: Relay access denied" % addr

    # ---- address classification -----------------------------------------
    @staticmethod
    def is_routing_hack(addr: str) -> bool:
        """True for %-hack, bang path, source route, double @ or quoted @."""
        return "%" in addr or "!" in addr or addr.startswith("@") or addr.count("@") > 1

    def classify(self, addr: str) -> str:
        """Return postmaster | user | unknown_user | foreign | hack | ip_literal | syntax."""
        if not addr or any(c in addr for c in " \t\r\n\0"):
            return "syntax"
        if self.is_routing_hack(addr):
            return "hack"
        if "@" not in addr:
            return "postmaster" if addr.lower() == "postmaster" else "syntax"
        local, _sep, domain = addr.rpartition("@")
        if not local or not domain:
            return "syntax"
        if domain.startswith("["):
            return "ip_literal"
        if domain.lower().rstrip(".") in self.domains:
            local = local.lower()
            if local == "postmaster":
                return "postmaster"
            return "user" if local in self.users else "unknown_user"
        return "foreign"

    # ---- commands -------------------------------------------------------
    async def cmd_ehlo(self, arg: str) -> None:
        """EHLO: extension list, resets state."""
        if not arg:
            await self.reply("501 5.5.4 Syntax: EHLO hostname")
            return
        self.reset()
        self.greeted = True
        await self.reply(self.ehlo_reply())

    async def cmd_helo(self, arg: str) -> None:
        """HELO: single line, no extensions."""
        if not arg:
            await self.reply("501 5.5.4 Syntax: EHLO hostname")
            return
        self.reset()
        self.greeted = True
        await self.reply("250 %s" % self.name)

    async def cmd_mail(self, arg: str) -> None:
        """MAIL FROM: sequencing, syntax, then the ``mail_reply`` hook."""
        if not self.greeted:
            await self.reply("503 5.5.1 Error: send HELO/EHLO first")
            return
        if self.mail_from is not None:
            await self.reply("503 5.5.1 Error: nested MAIL command")
            return
        match = _MAIL_RE.match("MAIL " + arg)
        if not match or any(c in match.group(1) for c in " \t"):
            await self.reply("501 5.1.7 Bad sender address syntax")
            return
        text = self.mail_reply(match.group(1), match.group(2) or "")
        if text.startswith("2"):
            self.mail_from = match.group(1)
        await self.reply(text)

    async def cmd_rcpt(self, arg: str) -> None:
        """RCPT TO: sequencing, syntax, then the ``rcpt_reply`` hook."""
        if self.mail_from is None:
            await self.reply("503 5.5.1 Error: need MAIL command")
            return
        match = _RCPT_RE.match("RCPT " + arg)
        if not match or self.classify(match.group(1)) == "syntax":
            await self.reply("501 5.1.3 Bad recipient address syntax")
            return
        text = self.rcpt_reply(match.group(1))
        if text.startswith("2"):
            self.rcpts.append(match.group(1))
        await self.reply(text)

    async def cmd_rset(self, arg: str) -> None:
        """RSET: clear the transaction."""
        self.reset()
        await self.reply("250 2.0.0 Ok")

    async def cmd_noop(self, arg: str) -> None:
        """NOOP."""
        await self.reply("250 2.0.0 Ok")

    async def cmd_vrfy(self, arg: str) -> None:
        """VRFY disabled the conformant way (252)."""
        if not arg:
            await self.reply("501 5.5.4 Syntax: VRFY address")
            return
        await self.reply("252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery")

    async def cmd_quit(self, arg: str) -> None:
        """QUIT: 221 then close."""
        await self.reply("221 2.0.0 Bye")
        self.close()

    async def cmd_data(self, arg: str) -> None:
        """DATA: 354 only after an accepted recipient (``record`` counts it)."""
        if not self.rcpts:
            await self.reply("554 5.5.1 Error: no valid recipients")
            return
        self.in_data = True
        await self.reply("354 End data with <CR><LF>.<CR><LF>")

    async def data_line(self, line: str) -> None:
        """One line of a message body; the lone dot ends it. The body is dropped."""
        if line != ".":
            self.server.body_lines += 1
            return
        self.in_data = False
        self.server.messages += 1
        self.reset()
        await self.reply("250 2.0.0 Ok: queued as LAB0000001 (discarded)")


# ---- behaviours ---------------------------------------------------------------

class Compliant(SMTPSession):
    """The reference: RFC 5321 / RFC 2920 conformant."""


class Greeting554(SMTPSession):
    """Refuses service at the greeting, then 503 to everything but QUIT (RFC 5321 3.1)."""

    async def greet(self) -> None:
        await self.reply("554 5.3.2 %s No SMTP service here" % self.name)

    async def handle_line(self, line: str) -> None:
        self.server.record(line)
        if line.partition(" ")[0].upper() == "QUIT":
            await self.cmd_quit("")
        else:
            await self.reply("503 5.5.1 Error: no service")


class NeverGreets(SMTPSession):
    """Accepts TCP and never sends a byte."""

    async def greet(self) -> None:
        return

    async def handle_line(self, line: str) -> None:
        self.server.record(line)


class SlowGreeting(SMTPSession):
    """Greets after ``options['delay']`` seconds (default 3.0)."""

    async def greet(self) -> None:
        await asyncio.sleep(float(self.options.get("delay", 3.0)))
        await super().greet()


class MalformedMultiline(SMTPSession):
    """Mixes reply codes inside the EHLO reply (RFC 5321 4.2.1 violation)."""

    def ehlo_reply(self) -> str:
        return "250-%s\n250-PIPELINING\n251 SIZE 1000" % self.name


class EndlessReply(SMTPSession):
    """Answers EHLO with an endless multiline reply, paced by the client's reading."""

    async def cmd_ehlo(self, arg: str) -> None:
        self.greeted = True
        chunk = ("250-" + "x" * 1000 + "\r\n").encode("ascii") * 16
        while not self.closed:
            await self.send_raw(chunk)   # raises once the client is gone


class ClosesOnUnknown(SMTPSession):
    """Drops the connection, without a reply, on an unknown verb."""

    async def unknown(self, line: str) -> None:
        self.close()


class Vrfy550(SMTPSession):
    """Answers every VRFY with 550, which says nothing about the user (RFC 5321 3.5.3)."""

    async def cmd_vrfy(self, arg: str) -> None:
        await self.reply("550 5.1.1 User unknown")


class RelayDeniedAll(SMTPSession):
    """The Exchange 5.5 failure: refuses even postmaster at its own domain."""

    def rcpt_reply(self, addr: str) -> str:
        return "550 5.7.1 Relaying is prohibited"


class PipeliningLoses(SMTPSession):
    """Loses all but the first command of a pipelined group (RFC 2920 3.2 violation).

    The service of the source document: ``MAIL/RCPT/RSET/QUIT`` in one write
    got ``250 Sender OK`` and ``221`` only; split before QUIT it behaved, and
    ``<message>.<CRLF>QUIT`` worked. So a batch of several commands that holds
    a command RFC 2920 3.1 allows only last (QUIT, NOOP; ``options['lose_on']``)
    gets one reply, the rest of the input up to and including QUIT is
    discarded, a QUIT in it still gets 221 and a close, and a group without
    QUIT stalls. ``options['lose_all_groups']`` loses every multi-command batch.
    """

    mail_ok = "250 Sender OK"

    def loses(self, lines: list[str]) -> bool:
        """Whether this batch triggers the defect."""
        if len(lines) < 2 or self.in_data:
            return False
        if self.options.get("lose_all_groups"):
            return True
        triggers = {v.upper() for v in self.options.get("lose_on", ("QUIT", "NOOP"))}
        return any(line.partition(" ")[0].upper() in triggers for line in lines)

    async def handle_batch(self, lines: list[str]) -> None:
        if not self.loses(lines):
            await super().handle_batch(lines)
            return
        await self.handle_line(lines[0])
        for line in lines[1:]:
            self.server.record(line)
            if line.upper().strip() == "QUIT":
                if not self.closed:
                    await self.cmd_quit("")
                return


class NullSender501(SMTPSession):
    """Refuses the null reverse path (RFC 1123 5.2.9 violation)."""

    def mail_reply(self, sender: str, params: str) -> str:
        if sender == "":
            return "501 5.1.7 Bad sender address syntax"
        return super().mail_reply(sender, params)


class PercentRelay(SMTPSession):
    """Relays the %-hack form ``user%foreign@<served domain or loopback literal>``."""

    def rcpt_reply(self, addr: str) -> str:
        local, _sep, domain = addr.rpartition("@")
        if ("%" in local and addr.count("@") == 1 and "!" not in addr and not addr.startswith("@")
                and (domain.lower().rstrip(".") in self.domains or _LOOPBACK_LITERAL_RE.match(domain))):
            return "250 2.1.5 Ok"
        return super().rcpt_reply(addr)


class OpenRelay(SMTPSession):
    """Accepts every recipient, anywhere."""

    def rcpt_reply(self, addr: str) -> str:
        return "250 2.1.5 Ok"


class AcceptAll(SMTPSession):
    """Accepts any local part at its domains (backscatter risk), still refuses relaying."""

    def rcpt_reply(self, addr: str) -> str:
        if self.classify(addr) == "unknown_user":
            return "250 2.1.5 Ok"
        return super().rcpt_reply(addr)


class CatchAll(SMTPSession):
    """A catch-all: any local part at its domains, however odd (user%other@, other!user@), goes to one mailbox.

    It relays nothing - foreign domains are refused - which is exactly what an auditor must not call an open relay.
    """

    def rcpt_reply(self, addr: str) -> str:
        local, _sep, domain = addr.rpartition("@")
        if local and domain.lower().rstrip(".") in self.domains and "@" not in local.strip('"'):
            return "250 2.1.5 Ok"
        return super().rcpt_reply(addr)


class NoPostmaster(SMTPSession):
    """Refuses postmaster (RFC 5321 4.5.1 violation)."""

    def rcpt_reply(self, addr: str) -> str:
        if self.classify(addr) == "postmaster":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % addr
        return super().rcpt_reply(addr)


class Greylist(SMTPSession):
    """Greylists every recipient (4xx: never a fail, only inconclusive)."""

    def rcpt_reply(self, addr: str) -> str:
        return "450 4.7.1 <%s>: Recipient address rejected: Greylisted, try again later" % addr


class Drops421(SMTPSession):
    """Answers the first RCPT with 421 and closes."""

    async def cmd_rcpt(self, arg: str) -> None:
        if self.mail_from is None:
            await super().cmd_rcpt(arg)
            return
        await self.reply("421 4.7.0 %s Service not available, closing transmission channel" % self.name)
        self.close()


class HostileBanner(SMTPSession):
    """Greets with markup and quotes, to test report escaping."""

    greeting_text = 'ESMTP <script>alert(1)</script> & "quotes"'


# ---- resilience (issue 9): error limits, sender verification, first-contact deferral -----
# Each keeps what it must remember across sessions in its server's ``options`` (one dict per server).

class HardErrorLimit(SMTPSession):
    """Postfix's smtpd_hard_error_limit (often 3 to 5 on strict servers): 421 and close after that many errors.

    Every 4xx or 5xx reply counts; after ``options['limit']`` of them (default 3) the server sends
    ``421 4.7.0 ... Error: too many errors`` at once, as smtpd does, without waiting for the next command.
    """

    errors = 0

    async def reply(self, text: str) -> None:
        await super().reply(text)
        if text[:1] in "45" and not text.startswith("421"):
            self.errors += 1
            if self.errors >= int(self.options.get("limit", 3)):
                await super().reply("421 4.7.0 %s Error: too many errors" % self.name)
                self.close()


class SynprotLimit(SMTPSession):
    """Exim's smtp_max_synprot_errors (default 3): the reply to the fourth syntax error says so, then the line drops.

    Syntax errors are what Exim counts among the relay forms: an address with a second unquoted "@" (malformed
    address) and an address literal (domain literals are off by default), in MAIL FROM as in RCPT TO. Other
    refusals, relay denial included, do not count. ``options['limit']`` is the number of errors allowed (3).
    """

    synprot_errors = 0

    @staticmethod
    def syntax_error(addr: str) -> Optional[str]:
        """Why Exim would not parse ``addr`` (None when it would)."""
        unquoted = re.sub(r'"[^"]*"', '""', addr)
        if unquoted.count("@") > 1 and not unquoted.startswith("@"):
            return "malformed address"
        if "@[" in unquoted:
            return "domain literals not allowed"
        return None

    async def synprot(self, addr: str, why: str) -> None:
        self.synprot_errors += 1
        if self.synprot_errors > int(self.options.get("limit", 3)):
            await self.reply("501-<%s>: %s\n501 Too many syntax or protocol errors" % (addr, why))
            self.close()
        else:
            await self.reply("501 <%s>: %s" % (addr, why))

    async def cmd_mail(self, arg: str) -> None:
        match = _MAIL_RE.match("MAIL " + arg)
        why = self.syntax_error(match.group(1)) if match and self.greeted and self.mail_from is None else None
        if why is None:
            await super().cmd_mail(arg)
        else:
            await self.synprot(match.group(1), why)

    async def cmd_rcpt(self, arg: str) -> None:
        match = _RCPT_RE.match("RCPT " + arg)
        why = self.syntax_error(match.group(1)) if match and self.mail_from is not None else None
        if why is None:
            await super().cmd_rcpt(arg)
        else:
            await self.synprot(match.group(1), why)


class SenderVerify(SMTPSession):
    """Call-back verification of the sender at RCPT time (Postfix reject_unverified_sender, its default code 450).

    A real sender cannot be verified here, so every RCPT under it gets ``options['code']`` (default
    ``450 4.1.7``) "Sender address rejected: unverified address". The null sender is not verified (there is
    nothing to call back), so RCPTs under ``MAIL FROM:<>`` are answered as usual - unless
    ``options['refuse_null']``, when ``MAIL FROM:<>`` itself is refused.
    """

    def mail_reply(self, sender: str, params: str) -> str:
        if sender == "" and self.options.get("refuse_null"):
            return "550 5.7.1 <>: Sender address rejected: Access denied"
        return super().mail_reply(sender, params)

    def rcpt_reply(self, addr: str) -> str:
        if self.mail_from:
            domain = self.mail_from.rpartition("@")[2]
            return ("%s <%s>: Sender address rejected: unverified address: Host or domain name not found. "
                    "Name service error for name=%s type=MX: Host not found, try again"
                    % (self.options.get("code", "450 4.1.7"), self.mail_from, domain))
        return super().rcpt_reply(addr)


class SenderVerifyMail(SMTPSession):
    """Sender checks at MAIL time (smtpd_delay_reject = no): a real sender gets 550 5.1.8, the null sender is accepted."""

    def mail_reply(self, sender: str, params: str) -> str:
        if sender:
            return "550 5.1.8 <%s>: Sender address rejected: Domain not found" % sender
        return super().mail_reply(sender, params)


class Postscreen(SMTPSession):
    """Postfix postscreen with its deep protocol tests, as a first-time client meets it.

    The greeting is ``220-`` then, after ``options['pause']`` seconds (default 0.5), the final ``220`` line;
    a client that speaks before that line is a pregreet violator (counted in ``options['pregreet']``,
    answered ``550 5.5.1 Protocol error`` and dropped). Every RCPT of the first session from a client
    address gets ``450 4.3.2 Service currently unavailable``: the client passed the tests but must
    reconnect, and its later sessions (``options['clients']`` remembers it) are served normally.
    """

    deferring = False

    async def greet(self) -> None:
        peer = self.writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        clients = self.options.setdefault("clients", set())
        self.deferring = client not in clients
        clients.add(client)
        await self.send_raw(("220-%s ESMTP mxaudit-lab\r\n" % self.name).encode("ascii"))
        try:
            early = await asyncio.wait_for(self.reader.read(READ_CHUNK), float(self.options.get("pause", 0.5)))
        except asyncio.TimeoutError:
            early = None
        if early is not None:
            self.options["pregreet"] = self.options.get("pregreet", 0) + 1
            await self.reply("550 5.5.1 Protocol error")
            self.close()
            return
        await self.reply("220 %s ESMTP mxaudit-lab" % self.name)

    def rcpt_reply(self, addr: str) -> str:
        if self.deferring:
            return "450 4.3.2 Service currently unavailable"
        return super().rcpt_reply(addr)


# ---- hostile peers (issue 9): replies no command asked for, and a close that is not about pipelining ----

class ClosesAtMail(SMTPSession):
    """Offers PIPELINING, then drops the connection without a reply at MAIL FROM, pipelined or not.

    Its pipelined groups are never answered, but neither is MAIL FROM sent on its own:
    the cause is not pipelining, and PL-1/PL-2 must not blame it.
    """

    async def cmd_mail(self, arg: str) -> None:
        self.close()


class UnsolicitedAfterGreeting(SMTPSession):
    """Sends ten ``250 injected N`` replies right after its 220, in the same write; compliant otherwise.

    No command asked for them (RFC 5321 4.2: a reply answers a command). A client that reads
    them as the replies to its next commands sees "250" for a relay attempt this server refuses.
    """

    async def greet(self) -> None:
        lines = ["220 %s %s" % (self.name, self.greeting_text)] + ["250 injected %d" % n for n in range(1, 11)]
        await self.reply("\n".join(lines))  # one write: the client has them all before its first command


class DoubledReplies(SMTPSession):
    """Answers every command twice (both copies in one write); refuses relaying, compliant otherwise."""

    _in_command = False

    async def handle_line(self, line: str) -> None:
        self._in_command = not self.in_data
        try:
            await super().handle_line(line)
        finally:
            self._in_command = False

    async def reply(self, text: str) -> None:
        # A reply's last line ends it ("250 ..."), so the text twice is two complete replies.
        await super().reply(text + "\n" + text if self._in_command else text)


BEHAVIOURS: dict[str, type[SMTPSession]] = {
    "compliant": Compliant,
    "greeting_554": Greeting554,
    "never_greets": NeverGreets,
    "slow_greeting": SlowGreeting,
    "malformed_multiline": MalformedMultiline,
    "endless_reply": EndlessReply,
    "closes_on_unknown": ClosesOnUnknown,
    "vrfy_550": Vrfy550,
    "relay_denied_all": RelayDeniedAll,
    "pipelining_loses": PipeliningLoses,
    "null_sender_501": NullSender501,
    "percent_relay": PercentRelay,
    "open_relay": OpenRelay,
    "accept_all": AcceptAll,
    "no_postmaster": NoPostmaster,
    "greylist": Greylist,
    "drops_421": Drops421,
    "hostile_banner": HostileBanner,
    "catch_all": CatchAll,
    "hard_error_limit": HardErrorLimit,
    "synprot_limit": SynprotLimit,
    "sender_verify": SenderVerify,
    "sender_verify_mail": SenderVerifyMail,
    "postscreen": Postscreen,
    # hostile peers (issue 9)
    "closes_at_mail": ClosesAtMail,
    "unsolicited_after_greeting": UnsolicitedAfterGreeting,
    "doubled_replies": DoubledReplies,
}


class LabSMTPServer:
    """A listener whose connections all follow one named behaviour.

    Counters are plain attributes so synchronous tests can read them while
    the server runs in a ``LabRunner`` thread.
    """

    def __init__(self, behaviour: str, host: str, port: int, *, name: Optional[str] = None,
                 reply_delay: float = 0.0, options: Optional[dict] = None) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError("unknown behaviour %r (known: %s)" % (behaviour, ", ".join(BEHAVIOURS)))
        self.behaviour = behaviour
        self.session_class = BEHAVIOURS[behaviour]
        self.host = host
        self.port = port
        self.name = name or "mx." + lab_domain(behaviour)
        self.reply_delay = reply_delay
        self.options: dict[str, Any] = dict(options or {})
        self.commands: list[str] = []
        self.connections = 0
        self.current = 0
        self.max_concurrent = 0
        self.data_commands = 0
        self.messages = 0
        self.body_lines = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: dict[asyncio.Task, asyncio.StreamWriter] = {}

    @property
    def domain(self) -> str:
        """The default lab domain of this behaviour."""
        return lab_domain(self.behaviour)

    def record(self, line: str) -> None:
        """Log a command line; DATA is counted even when a behaviour ignores it."""
        self.commands.append(line)
        if line.strip(" ").upper() == "DATA":
            self.data_commands += 1

    async def start(self) -> None:
        """Listen; with port 0, ``self.port`` becomes the chosen port."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and abort every open connection."""
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._tasks.items()):
            writer.transport.abort()
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            except asyncio.TimeoutError:
                pass
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks[task] = writer
        self.connections += 1
        self.current += 1
        self.max_concurrent = max(self.max_concurrent, self.current)
        session = self.session_class(self, reader, writer)
        try:
            await session.run()
        except _IO_ERRORS:
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self.current -= 1
            if task is not None:
                self._tasks.pop(task, None)
            if not writer.transport.is_closing():
                writer.close()


class LabRunner:
    """Runs lab servers on an event loop in a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._servers: list[Any] = []
        self._thread = threading.Thread(target=self._run, name="mxaudit-lab", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the lab loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start_smtp(self, behaviour: str, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> LabSMTPServer:
        """Start a behaviour server (keywords as for ``LabSMTPServer``)."""
        server = LabSMTPServer(behaviour, host, port, **kw)
        self.call(server.start())
        self._servers.append(server)
        return server

    def start_dns(self, zones: dict, host: str = "127.0.0.1", port: int = 0, **kw: Any) -> LabDNSServer:
        """Start a DNS server (keywords ``servfail``, ``drop`` as for ``LabDNSServer``)."""
        server = LabDNSServer(zones, host, port, **kw)
        self.call(server.start())
        self._servers.append(server)
        return server

    def stop(self) -> None:
        """Stop every server and the loop, within about two seconds."""
        if self.loop.is_closed():
            return

        async def _stop_all() -> None:
            if self._servers:
                await asyncio.wait([asyncio.ensure_future(s.stop()) for s in self._servers], timeout=1.8)

        try:
            self.call(_stop_all(), timeout=2.0)
        except (TimeoutError, asyncio.TimeoutError):
            pass
        self._servers = []
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(2.0)
        if not self._thread.is_alive():
            self.loop.close()

    def __enter__(self) -> LabRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- STARTTLS behaviours (the tls check, RFC 3207) ------------------------------
# One block of its own: servers that offer STARTTLS, each with one defect. The certificates come from the lab CA
# (tests/lab/tls.py), made at test time; TLS is imported lazily so the other behaviours need no cryptography.

class StartTLS(SMTPSession):
    """Compliant STARTTLS: 220, the handshake, and every plaintext byte sent after STARTTLS discarded (RFC 3207 4.2)."""

    certificate_kind = "valid"
    keeps_plaintext = False       # True: the CVE-2011-0411 defect, input buffered before TLS is answered after it
    plaintext_auth = False        # True: AUTH PLAIN LOGIN offered before STARTTLS
    strict_crlf = True            # False: a bare LF ends a command line (the base server's leniency; LF-1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tls_active = False
        self._upgraded = False

    def ehlo_reply(self) -> str:
        extensions = list(self.extensions)
        if not self.tls_active:
            extensions.append("STARTTLS")
            if self.plaintext_auth:
                extensions.append("AUTH PLAIN LOGIN")
        else:
            extensions.append("AUTH PLAIN LOGIN")
        lines = [self.name] + extensions
        return "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", text) for i, text in enumerate(lines))

    async def handle_batch(self, lines: list[str]) -> None:
        for line in lines:
            if self.closed:
                return
            await self.handle_line(line)
            if self._upgraded:
                self._upgraded = False
                if not self.keeps_plaintext:
                    del self._buf[:]
                    return

    async def read_batch(self) -> Optional[list[str]]:
        """Lines end at CRLF only (RFC 5321 2.3.8): a bare LF stays part of the line, which waits for its CRLF."""
        if not self.strict_crlf:
            return await super().read_batch()
        while True:
            data = await self.reader.read(READ_CHUNK)
            if not data:
                return None
            self._buf += data
            lines: list[str] = []
            while True:
                idx = self._buf.find(b"\r\n")
                if idx < 0:
                    if len(self._buf) > MAX_KEPT_LINE:
                        del self._buf[:]  # bounded: an over-long line is dropped
                    break
                raw = bytes(self._buf[:idx])
                del self._buf[:idx + 2]
                lines.append(raw[:MAX_KEPT_LINE].decode("latin-1"))
            if lines:
                return lines

    def server_context(self) -> Any:
        from .tls import lab_ca  # pylint: disable=import-outside-toplevel
        context = lab_ca().server_context(self.name, self.certificate_kind)
        seen = self.options.setdefault("sni_seen", [])
        # The name the client asked for (RFC 6066 SNI), for the tests: the auditor must send the MX host name.
        context.sni_callback = lambda _obj, name, _ctx: seen.append(name) and None
        return context

    async def cmd_starttls(self, arg: str) -> None:
        if self.tls_active:
            await self.reply("503 5.5.1 Error: TLS already active")
            return
        if arg:
            await self.reply("501 5.5.4 Syntax: STARTTLS")
            return
        context = self.server_context()
        await self.reply("220 2.0.0 Ready to start TLS")
        await self.start_tls(context)

    async def start_tls(self, context: Any) -> None:
        await self.writer.start_tls(context)
        self.tls_active = True
        self._upgraded = True
        self.greeted = False
        self.reset()


class TLSExpired(StartTLS):
    certificate_kind = "expired"


class TLSExpiring(StartTLS):
    certificate_kind = "expiring"


class TLSWrongName(StartTLS):
    certificate_kind = "wrong_name"


class TLSSelfSigned(StartTLS):
    certificate_kind = "self_signed"


class TLSUnavailable(StartTLS):
    """STARTTLS offered, then 454: TLS temporarily unavailable (RFC 3207 4)."""

    async def cmd_starttls(self, arg: str) -> None:
        await self.reply("454 4.7.0 TLS not available due to local problem")


class TLSHandshakeFails(StartTLS):
    """220 to STARTTLS, then a handshake that cannot succeed: the server has no certificate (a handshake alert)."""

    async def start_tls(self, context: Any) -> None:
        import ssl  # pylint: disable=import-outside-toplevel
        try:
            await self.writer.start_tls(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        except (ssl.SSLError, ConnectionError, OSError):
            pass
        self.close()
        self.writer.transport.abort()


class TLSInjection(StartTLS):
    """CVE-2011-0411: commands sent in plaintext with STARTTLS are answered inside TLS."""

    keeps_plaintext = True


class TLSInjectionPlaintext(StartTLS):
    """Answers the commands that came with STARTTLS in plaintext, after its 220 and before the handshake."""

    async def handle_batch(self, lines: list[str]) -> None:
        if len(lines) > 1 and lines[0].strip().upper() == "STARTTLS" and not self.tls_active:
            self.server.record(lines[0])
            context = self.server_context()
            await self.reply("220 2.0.0 Ready to start TLS")
            for line in lines[1:]:
                await self.handle_line(line)
            await self.start_tls(context)
            return
        await super().handle_batch(lines)


class TLSDropsInjected(StartTLS):
    """Hangs up instead of starting TLS when a command follows STARTTLS in the same read (a protective close)."""

    async def handle_batch(self, lines: list[str]) -> None:
        if len(lines) > 1 and lines[0].strip().upper() == "STARTTLS" and not self.tls_active:
            self.server.record(lines[0])
            await self.reply("220 2.0.0 Ready to start TLS")
            self.close()
            self.writer.transport.abort()
            return
        await super().handle_batch(lines)


class BareLF(StartTLS):
    """Takes a bare LF as the end of a command line (the SMTP smuggling precondition, LF-1)."""

    strict_crlf = False


class TLSLegacy(StartTLS):
    """Also accepts TLS 1.0 and 1.1 (security level 0), which RFC 8996 forbids."""

    def server_context(self) -> Any:
        import ssl  # pylint: disable=import-outside-toplevel
        import warnings  # pylint: disable=import-outside-toplevel
        from .tls import lab_ca  # pylint: disable=import-outside-toplevel
        certfile, keyfile = lab_ca().issue(self.name, "valid")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        return context


class TLSPlaintextAuth(StartTLS):
    """AUTH PLAIN LOGIN offered before STARTTLS."""

    plaintext_auth = True


BEHAVIOURS.update({
    "tls_valid": StartTLS,
    "tls_expired": TLSExpired,
    "tls_expiring": TLSExpiring,
    "tls_wrong_name": TLSWrongName,
    "tls_self_signed": TLSSelfSigned,
    "tls_unavailable": TLSUnavailable,
    "tls_handshake_fails": TLSHandshakeFails,
    "tls_injection": TLSInjection,
    "tls_plaintext_auth": TLSPlaintextAuth,
    "tls_drops_injected": TLSDropsInjected,
    "tls_injection_plaintext": TLSInjectionPlaintext,
    "bare_lf": BareLF,
    "tls_legacy": TLSLegacy,
})


# ---- identity behaviours (the identity check: reverse DNS, the greeting name) -----------------------------------
# The SMTP side is the compliant server; what differs is in DNS (tests/lab/scenario.py) or the name it greets with.

class IdentityPtrMismatch(SMTPSession):
    """Its PTR names a host that resolves elsewhere (tests/lab/scenario.py)."""


class IdentityNoPtr(SMTPSession):
    """Its address has no PTR record."""


class IdentityBareName(SMTPSession):
    """Greets and answers EHLO as "localhost": not a fully qualified name."""

    async def greet(self) -> None:
        await self.reply("220 localhost %s" % self.greeting_text)

    def ehlo_reply(self) -> str:
        return super().ehlo_reply().replace(self.name, "localhost", 1)


BEHAVIOURS.update({
    "identity_ptr_mismatch": IdentityPtrMismatch,
    "identity_no_ptr": IdentityNoPtr,
    "identity_bare_name": IdentityBareName,
})
