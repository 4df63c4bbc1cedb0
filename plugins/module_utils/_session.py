# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The asyncio driver of one SMTP session over the sans-I/O protocol core.

It owns the socket, the clocks and the transcript. Whatever the server
does - never greet, trickle bytes, close early, send garbage or an endless
reply - the session ends with a typed SessionError within its per-reply
timeout and its deadline, and memory stays bounded by the ReplyParser.

Replies are matched to commands by counting: in lock-step (send) one
command has one reply, and a pipelined group (pipeline) as many replies as
commands. Whatever the server sends while no command is outstanding - the
greeting answered, the last reply read, the next command not yet written -
would be read as the reply to the next command, so it is looked for (what
is readable without waiting) before and right after every command and after
every group, and ends the session with UnsolicitedReply instead. A reply
sent unasked that arrives while a command is outstanding, with the real
reply later still, cannot be told from that reply here; the shift shows at
the next command, so a verdict resting on one reply can be confirmed by one
more round trip (NOOP gets 250, and nothing else comes).
"""

from __future__ import annotations

import asyncio
import errno
import select
import socket
import ssl
import typing as t

from . import _protocol as protocol
from ._transcript import Transcript

READ_CHUNK = 4096
# A transcript shows this many lines of a reply that broke a bound.
PARTIAL_LINES_SHOWN = 3
# A transcript shows this many lines of replies no command asked for (ten injected replies fit).
UNSOLICITED_LINES_SHOWN = 12
# What is read, without waiting, of what a server sent with no command outstanding: enough for the
# evidence; a server streaming replies unasked is stopped there.
UNSOLICITED_READ_MAX = 4 * READ_CHUNK


class SessionError(Exception):
    """A session ended abnormally; the subclass says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# errno values of a connection that failed for want of something on this host (descriptors, buffers, memory).
LOCAL_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


class ConnectError(SessionError):
    """No SMTP connection: refused, unreachable or timed out (``reason``), or ``local``: this host's own limits.

    A ``local`` error says nothing about the server, so the run does not count the address as unreachable.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReplyTimeout(SessionError):
    """No complete reply within the per-reply timeout."""


class DeadlineExceeded(ReplyTimeout):
    """The session's overall deadline passed."""


class ServerClosed(SessionError):
    """The server closed the connection while a reply was awaited, or (``sent`` False) before a command went out."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class MalformedReply(SessionError):
    """The server sent something that is not a reply, or broke a safety bound."""

    def __init__(self, message: str, bounded: bool) -> None:
        super().__init__(message)
        self.bounded = bounded


class UnsolicitedReply(SessionError):
    """The server sent replies (or bytes) that no command asked for (RFC 5321 4.2: a reply answers a command).

    In lock-step they came before a command was sent; after a pipelined group,
    beyond the group's replies. Nothing the session reads afterwards can be
    matched to a command, so the session ends here. ``replies`` are the complete
    replies, ``lines`` their transcript lines, ``partial`` the bytes of an
    unfinished line that came with them.
    """

    def __init__(self, message: str, replies: list[protocol.Reply], partial: int = 0) -> None:
        super().__init__(message)
        self.replies = replies
        self.lines = [line for reply in replies for line in reply.transcript()]
        self.partial = partial


class TLSHandshakeError(SessionError):
    """STARTTLS got 220 but the TLS handshake failed; ``reason`` is what the TLS library said."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PipelineResult:
    """What came back for a pipelined group: replies in order, and how it ended."""

    def __init__(self, commands: list[protocol.Command], replies: list[protocol.Reply],
                 error: SessionError | None, written: bool = True) -> None:
        self.commands = commands
        self.replies = replies
        self.error = error
        # False when the group was never sent: what the server did before it decided the session.
        self.written = written

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
        # A broken line the parser met after complete replies: raised once those are handed out.
        self._failure: protocol.ReplyError | None = None
        self._failure_recorded = False
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
            if exc.errno in LOCAL_ERRNOS and not isinstance(exc, socket.gaierror):
                # Too many open files (or no buffers, no memory) here: not the server's doing.
                self.note('no connection to %s port %d attempted: this host ran out of a resource (%s)'
                          % (self.address, self.port, exc))
                raise ConnectError('no connection to %s port %d: this host\'s resource limit was reached (%s), not a '
                                   'fault of the server' % (self.address, self.port, exc), 'local')
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
            if self._failure is not None:
                self._malformed(self._failure)
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
            self._feed(data)
        return self._take()

    def _feed(self, data: bytes) -> None:
        try:
            self._queued.extend(self._parser.feed(data))
        except protocol.ReplyError as exc:
            # The replies before the broken line are replies like any other: handed out first, so
            # that the outcome does not depend on whether they came in the same read as that line.
            self._queued.extend(exc.replies)
            self._failure = exc

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
        if not self._failure_recorded:
            self._failure_recorded = True
            for line in exc.partial[:PARTIAL_LINES_SHOWN]:
                self._record('S: ' + line)
            if len(exc.partial) > PARTIAL_LINES_SHOWN:
                self.note('... %d more lines' % (len(exc.partial) - PARTIAL_LINES_SHOWN))
            self.note('%s; session ended' % exc.reason)
        self.abort()
        raise MalformedReply(exc.reason, exc.bounded)

    # -------------------------------------------------------------- what no command asked for

    def _socket_readable(self) -> bool:
        """Whether the kernel holds bytes (or the close) from the server that the event loop has not read yet."""
        sock = self._writer.get_extra_info('socket') if self._writer is not None else None
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return False
        try:
            if hasattr(select, 'poll'):  # select() cannot take descriptors above FD_SETSIZE (1024)
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    async def _read_now(self) -> bytes | None:
        """Bytes the server has sent already (b'' for its close), without waiting for more; None when there are none."""
        if self._reader is None:
            return None
        read = asyncio.ensure_future(self._reader.read(READ_CHUNK))
        try:
            # Callbacks run in the order they were scheduled, so the read task has taken its first
            # step when this sleep returns: it is done already if the reader held bytes.
            await asyncio.sleep(0)
            if not read.done() and self._socket_readable():
                # In the kernel, not yet in the reader: the loop's next poll delivers them.
                await asyncio.wait({read}, timeout=self._budget(self.timeout)[0])
        finally:
            if not read.done():
                read.cancel()
                # A cancelled read consumes nothing; waiting for it frees the reader for the next one.
                await asyncio.wait({read})
        if read.cancelled():
            return None
        error = read.exception()
        if isinstance(error, (ConnectionError, OSError)):
            return b''
        if error is not None:
            raise error
        return read.result()

    async def _drain_ready(self) -> None:
        """Parse whatever the server has sent so far, without waiting, up to UNSOLICITED_READ_MAX bytes."""
        taken = 0
        while not self._eof and self._failure is None and taken < UNSOLICITED_READ_MAX:
            data = await self._read_now()
            if data is None:
                return
            if not data:
                self._eof = True
                return
            taken += len(data)
            self._feed(data)

    def _record_unsolicited(self, replies: list[protocol.Reply]) -> None:
        lines = [line for reply in replies for line in reply.transcript()]
        for line in lines[:UNSOLICITED_LINES_SHOWN]:
            self._record(line)
        if len(lines) > UNSOLICITED_LINES_SHOWN:
            self.note('... %d more lines' % (len(lines) - UNSOLICITED_LINES_SHOWN))

    async def _unsolicited(self, where: str, take_421: bool = True) -> tuple[protocol.Reply | None, UnsolicitedReply | None]:
        """What the server sent with no command outstanding: (an asynchronous 421, or the error to end the session on).

        ``where`` says when, for the messages: "before EHLO was sent". A lone
        421 is left queued for the next command unless ``take_421``. Raises
        MalformedReply when all the server sent is a broken line.
        """
        await self._drain_ready()
        partial = self._parser.buffered if self._parser.in_reply else 0
        if not self._queued and not partial:
            if self._failure is not None:
                self._malformed(self._failure)
            return None, None
        replies = self._queued
        if len(replies) == 1 and replies[0].code == 421 and not partial and self._failure is None:
            # RFC 5321 3.8: a server that must shut down may send 421 "asynchronously from command
            # receipt (on the assumption that the client will receive it after the next command is
            # issued)" - so it is the reply to that command, and the command need not go out.
            if not take_421:
                return None, None
            self._queued = []
            self._record_unsolicited(replies)
            self.note('the server sent this 421 %s, as RFC 5321 3.8 allows a server that shuts down; '
                      'taken as the reply, the command was not sent' % where)
            return replies[0], None
        self._queued = []
        self._record_unsolicited(replies)
        if replies:
            count = '%d repl%s' % (len(replies), 'y' if len(replies) == 1 else 'ies')
            message = 'the server sent %s that no command asked for, %s: "%s"%s' % (
                count, where, replies[0].short(), ' ...' if len(replies) > 1 else '')
        else:
            message = 'the server sent %d bytes of a line that no command asked for, %s' % (partial, where)
        if partial and replies:
            message += ', and %d bytes of an unfinished line' % partial
        if self._failure is not None:
            self._failure_recorded = True
            for line in self._failure.partial[:PARTIAL_LINES_SHOWN]:
                self._record('S: ' + line)
            message += ', then %s' % self._failure.reason
        self.note('%s (RFC 5321 4.2: a reply answers a command); no reply after it can be matched to its command: '
                  'session ended' % message)
        self.abort()
        return None, UnsolicitedReply(message, replies, partial)

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

    async def take_pending_421(self) -> protocol.Reply | None:
        """A lone 421 the server sent before it closed, with no command outstanding (RFC 5321 3.8), recorded; else None."""
        if not self._queued or len(self._queued) != 1 or self._queued[0].code != 421:
            return None
        reply = self._queued.pop(0)
        self._record_unsolicited([reply])
        self.note('the server sent this 421 and closed the connection before the next command (RFC 5321 3.8)')
        return reply

    async def _may_send(self, what: str) -> protocol.Reply | None:
        """Before a command: nothing may have come since the last reply. Returns an asynchronous 421, if that came."""
        if self._writer is None or self.closed:
            return None  # _write says so
        early, error = await self._unsolicited('before %s was sent' % what)
        if error is not None:
            raise error
        if early is None and self._eof and not self._queued:
            # The server has gone: a command written now would only meet the close.
            self.note('connection closed by the server before %s was sent' % what)
            raise ServerClosed('the server closed the connection before %s was sent' % what, sent=False)
        return early

    async def send(self, command: protocol.Command, timeout: float | None = None) -> protocol.Reply:
        """Send one command and read its reply (lock-step: nothing else may be outstanding, before or after)."""
        early = await self._may_send(command.verb)
        if early is not None:
            return early
        self._record(command.transcript())
        await self._write(command.to_bytes())
        reply = await self.read_reply(timeout, what='the reply to %s' % command.verb)
        # A reply the server sent unasked may have arrived while this command was outstanding, and been
        # read as its reply: then the real one comes right behind it. Whatever is there already beyond
        # the one reply makes that reply as doubtful as the extra one, so neither is handed out.
        extra = (await self._unsolicited('right after the reply to %s' % command.verb, take_421=False))[1]
        if extra is not None:
            raise extra
        return reply

    async def pipeline(self, commands: t.Sequence[protocol.Command], timeout: float | None = None) -> PipelineResult:
        """Send a group in one write (RFC 2920) and collect the replies in order.

        Never raises for what the server does: a short or broken answer is
        returned in the result so the pipelining check can say what was lost.
        """
        group = list(commands)
        try:
            early = await self._may_send('the pipelined group')
        except SessionError as exc:
            return PipelineResult(group, [], exc, written=False)
        if early is not None:
            return PipelineResult(group, [early], ServerClosed('the server sent 421 before the group was sent'),
                                  written=False)
        for command in group:
            self._record(command.transcript())
        replies: list[protocol.Reply] = []
        try:
            await self._write(b''.join(command.to_bytes() for command in group))
            for command in group:
                replies.append(await self.read_reply(timeout, what='the reply to pipelined %s' % command.verb))
            # Counted against the group: a reply beyond its own would be read as the next command's.
            # An asynchronous 421 (RFC 5321 3.8) is left for the next command to take.
            extra = (await self._unsolicited('after the replies to the %d pipelined commands' % len(group),
                                             take_421=False))[1]
        except SessionError as exc:
            return PipelineResult(group, replies, exc)
        return PipelineResult(group, replies, extra)

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

    @property
    def tls(self) -> ssl.SSLObject | None:
        """The TLS state after a successful STARTTLS, else None."""
        if self._writer is None:
            return None
        return self._writer.get_extra_info('ssl_object')

    # -------------------------------------------------------------- ending

    async def wait_closed(self, timeout: float | None = None) -> bool:
        """After QUIT: True when the server closes its side within the timeout."""
        if self._queued:
            # Nothing is outstanding after QUIT's reply: noted, they decide nothing about the close.
            extra, self._queued = self._queued, []
            self._record_unsolicited(extra)
            self.note('%d more repl%s after the reply to QUIT, which no command asked for'
                      % (len(extra), 'y' if len(extra) == 1 else 'ies'))
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

    def client_name(self, name: str) -> str:
        """The EHLO/HELO name to send: ``name``, or for LOCAL_ADDRESS_LITERAL the literal of this side's address."""
        if name != protocol.LOCAL_ADDRESS_LITERAL:
            return name
        local = self._writer.get_extra_info('sockname') if self._writer is not None else None
        if not local:
            return '[127.0.0.1]'  # not connected: the command is never sent anyway
        address = str(local[0]).split('%', 1)[0]
        return '[IPv6:%s]' % address if ':' in address else '[%s]' % address

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
    name = session.client_name(name)
    reply = await session.send(protocol.ehlo(name))
    if reply.is_permanent() and reply.code != 554:
        return Hello(reply, await session.send(protocol.helo(name)))
    return Hello(reply, None)
