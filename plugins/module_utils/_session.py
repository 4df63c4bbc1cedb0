# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The asyncio driver of one SMTP session over the sans-I/O protocol core.

It owns the socket, the clocks and the transcript. Whatever the server
does - never greet, trickle bytes, close early, send garbage or an endless
reply - the session ends with a typed SessionError within its per-reply
timeout and its deadline, and memory stays bounded by the ReplyParser.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing as t

from . import _protocol as protocol
from ._transcript import Transcript

READ_CHUNK = 4096
# A transcript shows this many lines of a reply that broke a bound.
PARTIAL_LINES_SHOWN = 3


class SessionError(Exception):
    """A session ended abnormally; the subclass says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectError(SessionError):
    """No SMTP connection: refused, unreachable or timed out (``reason``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReplyTimeout(SessionError):
    """No complete reply within the per-reply timeout."""


class DeadlineExceeded(ReplyTimeout):
    """The session's overall deadline passed."""


class ServerClosed(SessionError):
    """The server closed the connection while a reply was awaited."""


class MalformedReply(SessionError):
    """The server sent something that is not a reply, or broke a safety bound."""

    def __init__(self, message: str, bounded: bool) -> None:
        super().__init__(message)
        self.bounded = bounded


class TLSHandshakeError(SessionError):
    """STARTTLS got 220 but the TLS handshake failed; ``reason`` is what the TLS library said."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PipelineResult:
    """What came back for a pipelined group: replies in order, and how it ended."""

    def __init__(self, commands: list[protocol.Command], replies: list[protocol.Reply],
                 error: SessionError | None) -> None:
        self.commands = commands
        self.replies = replies
        self.error = error

    @property
    def complete(self) -> bool:
        return self.error is None and len(self.replies) == len(self.commands)


class SMTPSession:
    """One TCP connection to one SMTP server address."""

    def __init__(self, address: str, port: int = 25, *, timeout: float = 10.0,
                 deadline: float | None = None, connect_timeout: float | None = None,
                 transcript: Transcript | None = None) -> None:
        self.address = address
        self.port = port
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.deadline = deadline  # absolute, on the event loop's clock
        # Shared when a probe runs over several connections: each session appends to the same transcript.
        self.transcript = transcript if transcript is not None else Transcript()
        self.greeting: protocol.Reply | None = None
        self._parser = protocol.ReplyParser()
        self._queued: list[protocol.Reply] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._eof = False
        self.closed = False
        # What the server sent after its 220 to STARTTLS, before the handshake: replies, and bytes of no reply.
        self.replies_after_starttls: list[protocol.Reply] = []
        self.replies_after_handshake: list[protocol.Reply] = []
        self.plaintext_after_starttls = 0

    # -------------------------------------------------------------- clocks

    def _budget(self, timeout: float) -> tuple[float, bool]:
        """Seconds to wait, and whether the deadline (not the timeout) is the limit."""
        if self.deadline is None:
            return timeout, False
        left = self.deadline - asyncio.get_running_loop().time()
        if left <= timeout:
            return max(left, 0.0), True
        return timeout, False

    def note(self, text: str) -> None:
        """An event in the transcript that is neither client nor server text."""
        self.transcript.note(text)

    def _record(self, line: str) -> None:
        self.transcript.record(line)

    # -------------------------------------------------------------- connect

    async def connect(self) -> protocol.Reply:
        """Open the connection and read the greeting (any code; the caller judges it)."""
        budget, by_deadline = self._budget(self.connect_timeout)
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.address, self.port), budget)
        except asyncio.TimeoutError:
            what = 'deadline' if by_deadline else '%g s' % self.connect_timeout
            self.note('no TCP connection to %s port %d within %s' % (self.address, self.port, what))
            raise ConnectError('connection to %s port %d timed out' % (self.address, self.port), 'timeout')
        except ConnectionRefusedError:
            self.note('connection to %s port %d refused' % (self.address, self.port))
            raise ConnectError('connection to %s port %d refused' % (self.address, self.port), 'refused')
        except (OSError, socket.gaierror) as exc:
            self.note('cannot connect to %s port %d: %s' % (self.address, self.port, exc))
            raise ConnectError('cannot connect to %s port %d: %s' % (self.address, self.port, exc), 'unreachable')
        self.greeting = await self.read_reply(what='the greeting')
        return self.greeting

    # -------------------------------------------------------------- reading

    async def read_reply(self, timeout: float | None = None, what: str = 'a reply') -> protocol.Reply:
        """The next complete reply; the timeout runs from the call, so trickled bytes cannot stretch it."""
        if self._queued:
            return self._take()
        timeout = self.timeout if timeout is None else timeout
        budget, by_deadline = self._budget(timeout)
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        while not self._queued:
            if self._eof or self._reader is None:
                self.note('connection closed by the server while waiting for %s' % what)
                raise ServerClosed('the server closed the connection while waiting for %s' % what)
            left = end - loop.time()
            if left <= 0:
                raise self._timed_out(what, timeout, by_deadline)
            try:
                data = await asyncio.wait_for(self._reader.read(READ_CHUNK), left)
            except asyncio.TimeoutError:
                raise self._timed_out(what, timeout, by_deadline)
            except (ConnectionError, OSError) as exc:
                self._eof = True
                self.note('connection lost while waiting for %s: %s' % (what, exc))
                raise ServerClosed('connection lost while waiting for %s: %s' % (what, exc))
            if not data:
                self._eof = True
                continue
            try:
                self._queued.extend(self._parser.feed(data))
            except protocol.ReplyError as exc:
                self._malformed(exc)
        return self._take()

    def _take(self) -> protocol.Reply:
        reply = self._queued.pop(0)
        for line in reply.transcript():
            self._record(line)
        return reply

    def _timed_out(self, what: str, timeout: float, by_deadline: bool) -> ReplyTimeout:
        partial = ' (%d bytes of an unfinished reply)' % self._parser.buffered if self._parser.in_reply else ''
        self.abort()
        if by_deadline:
            self.note('session deadline reached while waiting for %s%s' % (what, partial))
            return DeadlineExceeded('session deadline reached while waiting for %s' % what)
        self.note('no complete reply within %g s while waiting for %s%s' % (timeout, what, partial))
        return ReplyTimeout('no complete reply within %g s while waiting for %s' % (timeout, what))

    def _malformed(self, exc: protocol.ReplyError) -> t.NoReturn:
        for line in exc.partial[:PARTIAL_LINES_SHOWN]:
            self._record('S: ' + line)
        if len(exc.partial) > PARTIAL_LINES_SHOWN:
            self.note('... %d more lines' % (len(exc.partial) - PARTIAL_LINES_SHOWN))
        self.note('%s; session ended' % exc.reason)
        self.abort()
        raise MalformedReply(exc.reason, exc.bounded)

    # -------------------------------------------------------------- writing

    async def _write(self, data: bytes) -> None:
        if self._writer is None or self.closed:
            raise ServerClosed('the connection is closed')
        budget, by_deadline = self._budget(self.timeout)
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), budget)
        except asyncio.TimeoutError:
            raise self._timed_out('the server to read our command', self.timeout, by_deadline)
        except (ConnectionError, OSError) as exc:
            self._eof = True
            self.note('connection lost while sending: %s' % exc)
            raise ServerClosed('connection lost while sending: %s' % exc)

    async def send(self, command: protocol.Command, timeout: float | None = None) -> protocol.Reply:
        """Send one command and read its reply."""
        self._record(command.transcript())
        await self._write(command.to_bytes())
        return await self.read_reply(timeout, what='the reply to %s' % command.verb)

    async def pipeline(self, commands: t.Sequence[protocol.Command], timeout: float | None = None) -> PipelineResult:
        """Send a group in one write (RFC 2920) and collect the replies in order.

        Never raises for what the server does: a short or broken answer is
        returned in the result so the pipelining check can say what was lost.
        """
        group = list(commands)
        for command in group:
            self._record(command.transcript())
        replies: list[protocol.Reply] = []
        try:
            await self._write(b''.join(command.to_bytes() for command in group))
            for command in group:
                replies.append(await self.read_reply(timeout, what='the reply to pipelined %s' % command.verb))
        except SessionError as exc:
            return PipelineResult(group, replies, exc)
        return PipelineResult(group, replies, None)

    # -------------------------------------------------------------- TLS

    async def starttls(self, context: ssl.SSLContext, server_hostname: str | None,
                       extra: t.Sequence[protocol.Command] = (), settle: float = 0.0) -> protocol.Reply:
        """STARTTLS (RFC 3207); on 220 the TLS handshake, under the reply timeout and the deadline.

        ``extra`` commands go in the same write as STARTTLS (the injection
        probe of CVE-2011-0411). The 220 is read exactly; whatever the server
        sends after it in plaintext - within ``settle`` seconds when there are
        ``extra`` commands, else what has already arrived - is kept in
        ``replies_after_starttls`` (and ``plaintext_after_starttls``, the
        bytes of no complete reply) and never read as TLS data (RFC 3207
        4.2). Any reply but 220 is returned as it is and the session stays in
        plaintext; the caller judges it. A failed handshake raises
        TLSHandshakeError and ends the session. After the upgrade the reply
        parser starts afresh, with all its bounds, and with ``settle`` the
        replies that come within that many seconds, before any command inside
        TLS, are kept in ``replies_after_handshake``.
        """
        command = protocol.verb('STARTTLS')
        group = [command] + list(extra)
        for line in group:
            self._record(line.transcript())
        await self._write(b''.join(line.to_bytes() for line in group))
        reply = await self.read_reply(what='the reply to STARTTLS')
        if reply.code != 220:
            return reply
        self.replies_after_starttls = await self._unasked(settle if extra else 0.0)
        self.plaintext_after_starttls = self._parser.buffered
        if self.replies_after_starttls or self.plaintext_after_starttls:
            self.note('%d repl%s and %d more bytes in plaintext after the 220 to STARTTLS; not read as TLS' % (
                len(self.replies_after_starttls), 'y' if len(self.replies_after_starttls) == 1 else 'ies',
                self.plaintext_after_starttls))
        self._parser = protocol.ReplyParser()
        budget, by_deadline = self._budget(self.timeout)
        if self._writer is None or self._eof or budget <= 0:
            if self._eof:
                raise TLSHandshakeError('the server closed the connection after its 220 to STARTTLS', 'connection closed')
            raise self._timed_out('the TLS handshake', self.timeout, by_deadline)
        try:
            await asyncio.wait_for(self._writer.start_tls(context, server_hostname=server_hostname,
                                                          ssl_handshake_timeout=budget), budget + 1.0)
        except asyncio.TimeoutError:
            raise self._timed_out('the TLS handshake', self.timeout, by_deadline)
        except ssl.SSLError as exc:
            reason = getattr(exc, 'reason', None) or str(exc)
            self.note('TLS handshake failed: %s' % exc)
            self.abort()
            raise TLSHandshakeError('the TLS handshake failed: %s' % reason, str(reason))
        except (ConnectionError, OSError, EOFError) as exc:
            self._eof = True
            self.note('connection lost during the TLS handshake: %s' % (exc or type(exc).__name__))
            self.abort()
            raise TLSHandshakeError('the server closed the connection during the TLS handshake', 'connection closed')
        tls = self.tls
        if tls is not None:
            self.note('TLS handshake completed: %s, %s' % (tls.version(), (tls.cipher() or ('?',))[0]))
        if settle > 0:
            self.replies_after_handshake = await self._unasked(settle)
            if self.replies_after_handshake:
                self.note('%d repl%s inside TLS that no command inside TLS asked for' % (
                    len(self.replies_after_handshake), 'y' if len(self.replies_after_handshake) == 1 else 'ies'))
        return reply

    async def _unasked(self, seconds: float) -> list[protocol.Reply]:
        """Replies nobody asked for: queued, already buffered, or arriving within ``seconds`` (and the deadline).

        Never raises for a quiet server: the session stays open. A reply
        that breaks the parser's bounds ends the session as anywhere else.
        """
        # Bytes asyncio has read from the socket but we have not: before an upgrade they are plaintext, and they
        # would otherwise be handed to us as if they had come through TLS.
        pending = getattr(self._reader, '_buffer', None)
        if isinstance(pending, bytearray) and pending:
            data = bytes(pending)
            del pending[:]
            self._feed(data)
        budget = min(seconds, self._budget(seconds)[0])
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        while self._reader is not None and not self._eof:
            left = end - loop.time()
            if left <= 0:
                break
            try:
                data = await asyncio.wait_for(self._reader.read(READ_CHUNK), left)
            except asyncio.TimeoutError:
                break
            except (ConnectionError, OSError):
                self._eof = True
                break
            if not data:
                self._eof = True
                break
            self._feed(data)
        replies, self._queued = self._queued, []
        for late in replies:
            for line in late.transcript():
                self._record(line)
        return replies

    def _feed(self, data: bytes) -> None:
        try:
            self._queued.extend(self._parser.feed(data))
        except protocol.ReplyError as exc:
            self._malformed(exc)

    @property
    def tls(self) -> ssl.SSLObject | None:
        """The TLS state after a successful STARTTLS, else None."""
        if self._writer is None:
            return None
        return self._writer.get_extra_info('ssl_object')

    # -------------------------------------------------------------- ending

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """After QUIT: True when the server closes its side within the timeout."""
        if self._eof:
            return True
        if self._reader is None:
            return True
        budget = self._budget(self.timeout if timeout is None else timeout)[0]
        loop = asyncio.get_running_loop()
        end = loop.time() + budget
        while True:
            left = end - loop.time()
            if left <= 0:
                return False
            try:
                data = await asyncio.wait_for(self._reader.read(READ_CHUNK), left)
            except asyncio.TimeoutError:
                return False
            except (ConnectionError, OSError):
                data = b''
            if not data:
                self._eof = True
                return True
            self.note('%d unexpected bytes after the reply to QUIT' % len(data))

    async def quit(self) -> protocol.Reply | None:
        """Polite end: QUIT and its reply, best effort (never raises)."""
        if self.closed or self._eof or self._writer is None:
            return None
        try:
            reply = await self.send(protocol.quit_())
        except SessionError:
            return None
        finally:
            self.abort()
        return reply

    def abort(self) -> None:
        """Drop the connection now (no QUIT); safe to call twice or after the loop ended."""
        if self._writer is not None and not self.closed:
            self.closed = True
            try:
                self._writer.transport.abort()
            except RuntimeError:  # the event loop is already closed: the socket went with it
                pass

    @property
    def open(self) -> bool:
        return self._writer is not None and not self.closed and not self._eof

    async def __aenter__(self) -> SMTPSession:
        return self

    async def __aexit__(self, *exc_info: t.Any) -> None:
        self.abort()


class Hello:
    """The outcome of EHLO, with HELO as the fallback (RFC 5321 3.2)."""

    def __init__(self, ehlo_reply: protocol.Reply, helo_reply: protocol.Reply | None) -> None:
        self.ehlo_reply = ehlo_reply
        self.helo_reply = helo_reply
        self.capabilities = protocol.parse_ehlo(ehlo_reply) if ehlo_reply.is_positive() else None

    @property
    def reply(self) -> protocol.Reply:
        return self.helo_reply if self.helo_reply is not None else self.ehlo_reply

    @property
    def accepted(self) -> bool:
        return self.reply.is_positive()

    @property
    def esmtp(self) -> bool:
        return self.capabilities is not None


async def hello(session: SMTPSession, name: str) -> Hello:
    """EHLO; on a permanent refusal other than 554 (service refused), HELO."""
    reply = await session.send(protocol.ehlo(name))
    if reply.is_permanent() and reply.code != 554:
        return Hello(reply, await session.send(protocol.helo(name)))
    return Hello(reply, None)
