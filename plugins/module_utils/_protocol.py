# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""SMTP without I/O: a reply parser fed bytes, a command builder, EHLO parsing.

Nothing here touches a socket (the h11 style), so every rule about what a
server may send and what we may send is tested and fuzzed on its own.
Grammar: RFC 5321 4.1.2 (paths), 4.2 (replies), 4.5.3.1 (size limits);
RFC 3463 (enhanced status codes); RFC 1870 (SIZE).
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass, field

# Our own safety bounds on what a server may send (DESIGN: "Replies are bounded").
MAX_REPLY_LINE = 4096
MAX_REPLY_LINES = 100
MAX_REPLY_BYTES = 64 * 1024
# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the CRLF.
RFC_REPLY_LINE = 512
# RFC 5321 4.5.3.1.4: a command line is at most 512 octets including the CRLF.
MAX_COMMAND_LINE = 512
# RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_PATH = 256

_REPLY_LINE = re.compile(rb'^([2-5][0-5][0-9])([ -]?)(.*)$', re.DOTALL)
_ENHANCED = re.compile(r'^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)')
_LABEL = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_STRING = re.compile(r'^[%s]+(\.[%s]+)*$' % (_ATEXT, _ATEXT))
# qtextSMTP / quoted-pairSMTP of RFC 5321 4.1.2 (printable ASCII, no bare " or \)
_QUOTED_STRING = re.compile(r'^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$')
_VERB = re.compile(r'^[A-Za-z][A-Za-z0-9-]{0,31}$')
_EHLO_KEYWORD = re.compile(r'^[A-Za-z0-9][A-Za-z0-9-]*$')


class SMTPProtocolError(Exception):
    """Base of the errors of the protocol core."""


class ReplyError(SMTPProtocolError):
    """The server sent something that is not an RFC 5321 reply.

    ``bounded`` is True when the reason is one of our safety bounds rather
    than a syntax violation, so a check can say "inconclusive" instead of
    "the server violates the grammar".
    """

    def __init__(self, reason: str, bounded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bounded = bounded
        # The lines of the unfinished reply, for the transcript (bounded like the reply).
        self.partial: list[str] = []


class CommandError(SMTPProtocolError, ValueError):
    """A command argument is unsafe or malformed; nothing was sent."""


_NOT_PRINTABLE_ASCII = re.compile(r'[^\x20-\x7e]')


def printable(data: bytes | str) -> str:
    """Text of a line for transcripts: control and non-UTF-8 bytes shown as \\xNN."""
    if isinstance(data, bytes):
        data = data.decode('utf-8', errors='backslashreplace')
    if not _NOT_PRINTABLE_ASCII.search(data):
        return data
    return ''.join(ch if ch.isprintable() or ch == ' ' else '\\x%02x' % ord(ch) if ord(ch) < 256 else ch for ch in data)


@dataclass
class Reply:
    """A complete SMTP reply: one code, one or more lines of text."""

    code: int
    lines: list[str]
    raw_lines: list[str] = field(default_factory=list)
    bare_lf: bool = False
    overlong: bool = False

    @property
    def text(self) -> str:
        return ' '.join(line for line in self.lines if line)

    @property
    def enhanced(self) -> str | None:
        """RFC 3463 status code from the first line, when the server sent one."""
        if not self.lines:
            return None
        match = _ENHANCED.match(self.lines[0])
        return '.'.join(match.groups()) if match else None

    @property
    def kind(self) -> int:
        return self.code // 100

    def is_positive(self) -> bool:
        return self.kind == 2

    def is_transient(self) -> bool:
        return self.kind == 4

    def is_permanent(self) -> bool:
        return self.kind == 5

    def short(self) -> str:
        """One line for summaries: "550 5.7.1 Relaying is prohibited"."""
        first = self.lines[0] if self.lines else ''
        text = ('%d %s' % (self.code, first)).rstrip()
        return text if len(self.lines) < 2 else text + ' ...'

    def transcript(self) -> list[str]:
        return ['S: ' + line for line in self.raw_lines]


class ReplyParser:
    """Incremental reply parser: feed bytes, get complete replies.

    Memory stays bounded whatever the server sends: at most one line of
    MAX_REPLY_LINE bytes is buffered and a reply is cut off at
    MAX_REPLY_LINES lines or MAX_REPLY_BYTES bytes. After an error the
    parser stays failed; feeding it again raises the same error.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: list[tuple[int, str, str, bool, bool]] = []
        self._pending_bytes = 0
        self._error: ReplyError | None = None
        self._line_seen: str | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def in_reply(self) -> bool:
        """True when part of a reply has arrived (a partial line or continuation lines)."""
        return bool(self._buffer or self._pending)

    def feed(self, data: bytes) -> list[Reply]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        replies: list[Reply] = []
        start = 0
        try:
            while True:
                newline = self._buffer.find(b'\n', start)
                if newline < 0:
                    if len(self._buffer) - start > MAX_REPLY_LINE:
                        raise ReplyError('reply line longer than %d bytes' % MAX_REPLY_LINE, bounded=True)
                    del self._buffer[:start]  # one move per feed, not one per line
                    return replies
                if newline + 1 - start > MAX_REPLY_LINE + 2:
                    raise ReplyError('reply line longer than %d bytes' % MAX_REPLY_LINE, bounded=True)
                line = bytes(self._buffer[start:newline + 1])
                start = newline + 1
                reply = self._line(line)
                if reply is not None:
                    replies.append(reply)
        except ReplyError as exc:
            exc.partial = [item[2] for item in self._pending]
            if self._line_seen is not None:
                exc.partial.append(self._line_seen)
            self._error = exc
            self._buffer.clear()
            self._pending.clear()
            raise

    def _line(self, line: bytes) -> Reply | None:
        bare_lf = not line.endswith(b'\r\n')
        body = line[:-1] if bare_lf else line[:-2]
        self._line_seen = printable(body[:RFC_REPLY_LINE])
        overlong = len(line) > RFC_REPLY_LINE
        match = _REPLY_LINE.match(body)
        if not match:
            raise ReplyError('not a reply line (a reply starts with a code 200-559): %s' % printable(body[:80]))
        code_text, separator, text = match.groups()
        if not separator and text:
            raise ReplyError('no space or hyphen after the reply code: %s' % printable(body[:80]))
        code = int(code_text)
        if self._pending and self._pending[0][0] != code:
            raise ReplyError('multiline reply mixes codes %d and %d' % (self._pending[0][0], code))
        self._line_seen = None
        self._pending_bytes += len(line)
        if len(self._pending) + 1 > MAX_REPLY_LINES:
            raise ReplyError('reply longer than %d lines' % MAX_REPLY_LINES, bounded=True)
        if self._pending_bytes > MAX_REPLY_BYTES:
            raise ReplyError('reply longer than %d bytes' % MAX_REPLY_BYTES, bounded=True)
        self._pending.append((code, printable(text), printable(body), bare_lf, overlong))
        if separator == b'-':
            return None
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        return Reply(
            code=code,
            lines=[item[1] for item in pending],
            raw_lines=[item[2] for item in pending],
            bare_lf=any(item[3] for item in pending),
            overlong=any(item[4] for item in pending),
        )


# ---------------------------------------------------------------- syntax

def is_domain(name: str) -> bool:
    """An LDH domain name (A-labels), optionally with a trailing dot."""
    if not name or len(name.rstrip('.')) > 253 or name.startswith('.'):
        return False
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    return all(_LABEL.match(label) for label in labels)


def is_address_literal(text: str) -> bool:
    """RFC 5321 4.1.3: [IPv4] or [IPv6:...]."""
    if not (text.startswith('[') and text.endswith(']')):
        return False
    inner = text[1:-1]
    try:
        if inner[:5].upper() == 'IPV6:':
            ipaddress.IPv6Address(inner[5:])
        else:
            ipaddress.IPv4Address(inner)
    except ValueError:
        return False
    return True


def is_mailbox(address: str) -> bool:
    """RFC 5321 4.1.2 Mailbox: Local-part "@" ( Domain / address-literal )."""
    local, sep, domain = address.rpartition('@')
    if not sep or not local or len(local.encode('utf-8')) > 64:
        return False
    if not (_DOT_STRING.match(local) or _QUOTED_STRING.match(local)):
        return False
    return is_address_literal(domain) or (is_domain(domain) and not domain.endswith('.'))


_CONTROL = re.compile(r'[\x00-\x1f\x7f]')


def _check_safe(what: str, text: str) -> None:
    if not isinstance(text, str):
        raise CommandError('%s must be a string, got %r' % (what, text))
    if _CONTROL.search(text):
        for bad, name in (('\r', 'CR'), ('\n', 'LF'), ('\x00', 'NUL')):
            if bad in text:
                raise CommandError('%s contains %s: %r' % (what, name, text))
        raise CommandError('%s contains a control character: %r' % (what, text))


def _is_source_route(route: str) -> bool:
    """RFC 5321 4.1.2 A-d-l: "@one,@two" (kept for relay probes)."""
    return all(part.startswith('@') and is_domain(part[1:]) for part in route.split(','))


def check_path(address: str, *, allow_null: bool = False, allow_postmaster: bool = False,
               allow_malformed: bool = False) -> None:
    """Validate the inside of a reverse-path or forward-path before it is sent.

    ``allow_malformed`` keeps only the safety checks (no CR/LF/NUL, no
    angle brackets, no spaces, length) for the deliberately malformed
    relay probes, such as a double "@".
    """
    _check_safe('address', address)
    if len(address) + 2 > MAX_PATH:
        raise CommandError('address longer than %d octets: %r' % (MAX_PATH - 2, address))
    if address == '':
        if allow_null:
            return
        raise CommandError('the null path <> is allowed only in MAIL FROM')
    if '<' in address or '>' in address:
        raise CommandError('address contains an angle bracket: %r' % address)
    if allow_malformed:
        if ' ' in address:
            raise CommandError('address contains a space: %r' % address)
        return
    if allow_postmaster and address.lower() == 'postmaster':
        return
    mailbox = address
    if address.startswith('@'):
        route, sep, mailbox = address.partition(':')
        if not sep or not _is_source_route(route):
            raise CommandError('malformed source route: %r' % address)
    if not is_mailbox(mailbox):
        raise CommandError('not a valid mailbox (local-part@domain): %r' % address)


def check_helo_name(name: str) -> None:
    _check_safe('EHLO name', name)
    if not (is_domain(name) and not name.endswith('.')) and not is_address_literal(name):
        raise CommandError('EHLO name is neither a domain name nor an address literal: %r' % name)


# ---------------------------------------------------------------- commands

@dataclass(frozen=True)
class Command:
    """One command line, validated; ``line`` has no CRLF."""

    line: str

    @property
    def verb(self) -> str:
        return self.line.split(' ', 1)[0].upper()

    def to_bytes(self) -> bytes:
        return self.line.encode('utf-8') + b'\r\n'

    def transcript(self) -> str:
        return 'C: ' + self.line


def _command(line: str) -> Command:
    _check_safe('command', line)
    if len(line.encode('utf-8')) + 2 > MAX_COMMAND_LINE:
        raise CommandError('command line longer than %d octets' % MAX_COMMAND_LINE)
    return Command(line)


def ehlo(name: str) -> Command:
    check_helo_name(name)
    return _command('EHLO ' + name)


def helo(name: str) -> Command:
    check_helo_name(name)
    return _command('HELO ' + name)


def _parameters(params: t.Sequence[str]) -> str:
    for param in params:
        _check_safe('ESMTP parameter', param)
        if not re.match(r'^[A-Za-z0-9][A-Za-z0-9-]*(=[\x21-\x3c\x3e-\x7e]+)?$', param):
            raise CommandError('malformed ESMTP parameter: %r' % param)
    return ''.join(' ' + param for param in params)


def mail_from(address: str, params: t.Sequence[str] = ()) -> Command:
    check_path(address, allow_null=True)
    return _command('MAIL FROM:<%s>%s' % (address, _parameters(params)))


def rcpt_to(address: str, params: t.Sequence[str] = (), *, allow_malformed: bool = False) -> Command:
    check_path(address, allow_postmaster=True, allow_malformed=allow_malformed)
    return _command('RCPT TO:<%s>%s' % (address, _parameters(params)))


def vrfy(argument: str) -> Command:
    _check_safe('VRFY argument', argument)
    if not argument or ' ' in argument.strip() or '<' in argument.strip('<>'):
        raise CommandError('VRFY argument must be one word or one mailbox: %r' % argument)
    return _command('VRFY ' + argument)


def rset() -> Command:
    return Command('RSET')


def noop() -> Command:
    return Command('NOOP')


def quit_() -> Command:
    return Command('QUIT')


def verb(name: str) -> Command:
    """A bare verb, e.g. an unknown one to see how the server answers it."""
    _check_safe('verb', name)
    if not _VERB.match(name):
        raise CommandError('not a verb: %r' % name)
    return Command(name)


# ---------------------------------------------------------------- EHLO

# Keywords whose presence alone is the information.
FLAG_KEYWORDS = ('PIPELINING', 'STARTTLS', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'CHUNKING',
                 'BINARYMIME')


@dataclass
class Capabilities:
    """An EHLO reply, parsed (RFC 5321 4.1.1.1; extensions by their RFCs)."""

    domain: str
    keywords: dict[str, list[str]]
    malformed: list[str] = field(default_factory=list)

    @property
    def size(self) -> int | None:
        """RFC 1870: the declared maximum size; 0 means no fixed limit; None when SIZE is not offered."""
        if 'SIZE' not in self.keywords:
            return None
        params = self.keywords['SIZE']
        if params and params[0].isdigit():
            return int(params[0])
        return 0

    @property
    def auth(self) -> list[str]:
        mechanisms = list(self.keywords.get('AUTH', []))
        for mechanism in self.keywords.get('AUTH=', []):
            if mechanism not in mechanisms:
                mechanisms.append(mechanism)
        return [m.upper() for m in mechanisms]

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    def to_dict(self) -> dict[str, t.Any]:
        known = set(FLAG_KEYWORDS) | {'SIZE', 'AUTH', 'AUTH='}
        result: dict[str, t.Any] = {name.lower(): name in self.keywords for name in FLAG_KEYWORDS}
        result['size'] = self.size
        result['auth'] = self.auth
        result['keywords'] = sorted({'AUTH' if name == 'AUTH=' else name for name in self.keywords})
        result['other'] = {name: params for name, params in sorted(self.keywords.items()) if name not in known}
        return result


def parse_ehlo(reply: Reply) -> Capabilities:
    """Split an EHLO reply into the server's domain and its extension keywords.

    The old "AUTH=LOGIN PLAIN" form is folded into AUTH; a line that is not
    "keyword *(SP param)" is kept in ``malformed`` rather than guessed at.
    """
    domain = reply.lines[0].split(' ', 1)[0] if reply.lines else ''
    keywords: dict[str, list[str]] = {}
    malformed: list[str] = []
    for line in reply.lines[1:]:
        words = line.split()
        if not words:
            malformed.append(line)
            continue
        keyword = words[0].upper()
        if keyword.startswith('AUTH='):
            keywords.setdefault('AUTH=', []).extend([keyword[5:]] + words[1:])
            continue
        if not _EHLO_KEYWORD.match(keyword):
            malformed.append(line)
            continue
        keywords[keyword] = words[1:]
    return Capabilities(domain=domain, keywords=keywords, malformed=malformed)


def greeting_domain(reply: Reply) -> str | None:
    """The domain or address literal that starts a 220 greeting, or None."""
    first = reply.lines[0].split(' ', 1)[0] if reply.lines else ''
    if is_domain(first) or is_address_literal(first):
        return first
    return None
