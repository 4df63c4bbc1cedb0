# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""SMTP without I/O: a reply parser fed bytes, a command builder, EHLO parsing.

Nothing here touches a socket (the h11 style), so every rule about what a
server may send and what we may send is tested and fuzzed on its own.
Grammar: RFC 5321 4.1.2 (paths), 4.2 (replies), 4.5.3.1 (size limits);
RFC 3463 (enhanced status codes); RFC 1870 (SIZE); RFC 4954 and RFC 4422 (AUTH).

Whatever a server sends, the parser raises nothing but ReplyError and EHLO
parsing raises nothing at all. Every syntax check is ASCII-only: the grammar
is ASCII, while str.isdigit(), str.upper(), and \\d or re.IGNORECASE without
re.ASCII accept or fold other characters ("²".isdigit(), "ſ".upper() == "S").
"""

from __future__ import annotations

import ipaddress
import re
import typing as t
from dataclasses import dataclass, field

# The EHLO/HELO name meaning "the address literal of this connection's local address" (RFC 5321 4.1.4),
# for a client host without a fully qualified name; the session driver puts the literal in at connect time.
LOCAL_ADDRESS_LITERAL = '[local-address]'

# Our own safety bounds on what a server may send: a hostile server must not cost unbounded memory.
# MAX_REPLY_LINE counts the text of a line, its CRLF (or bare LF) not included.
MAX_REPLY_LINE = 4096
MAX_REPLY_LINES = 100
MAX_REPLY_BYTES = 64 * 1024
# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the CRLF.
RFC_REPLY_LINE = 512
# RFC 5321 4.5.3.1.4: a command line is at most 512 octets including the CRLF.
MAX_COMMAND_LINE = 512
# RFC 5321 4.5.3.1.3: a path is at most 256 octets including the angle brackets.
MAX_PATH = 256

# Every pattern is used with fullmatch (a "$" would also match before a trailing newline)
# and compiled with re.ASCII (without it, \d, \s and re.IGNORECASE take in Unicode).
_REPLY_LINE = re.compile(rb'([2-5][0-5][0-9])([ -]?)(.*)', re.DOTALL)
_ENHANCED = re.compile(r'([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=[ \t]|$)', re.ASCII)
_LABEL = re.compile(r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)', re.ASCII)
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_STRING = re.compile(r'[%s]+(\.[%s]+)*' % (_ATEXT, _ATEXT), re.ASCII)
# qtextSMTP / quoted-pairSMTP of RFC 5321 4.1.2 (printable ASCII, no bare " or \)
_QUOTED_STRING = re.compile(r'"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"', re.ASCII)
_VERB = re.compile(r'[A-Za-z][A-Za-z0-9-]{0,31}', re.ASCII)
_ESMTP_PARAMETER = re.compile(r'[A-Za-z0-9][A-Za-z0-9-]*(=[\x21-\x3c\x3e-\x7e]+)?', re.ASCII)
# RFC 5321 4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); ehlo-param = 1*(%d33-126)
_EHLO_KEYWORD = re.compile(r'[A-Za-z0-9][A-Za-z0-9-]*', re.ASCII)
_EHLO_PARAM = re.compile(r'[\x21-\x7e]+', re.ASCII)
_AUTH_EQUALS = re.compile(r'AUTH=', re.ASCII | re.IGNORECASE)
# RFC 1870: size-value = 1*20DIGIT
_SIZE_VALUE = re.compile(r'[0-9]{1,20}', re.ASCII)
# RFC 4422 3.1: sasl-mech = 1*20mech-char (upper-case letters, digits, "-", "_"); lower case is taken too
_SASL_MECH = re.compile(r'[A-Za-z0-9_-]{1,20}', re.ASCII)


class SMTPProtocolError(Exception):
    """Base of the errors of the protocol core."""


class ReplyError(SMTPProtocolError):
    """The server sent something that is not an RFC 5321 reply.

    ``bounded`` is True when the reason is one of our safety bounds rather
    than a syntax violation, so a check can say "inconclusive" instead of
    "the server violates the grammar".

    ``partial`` holds the lines of the unfinished reply, escaped, for the
    transcript. ``replies`` holds the complete replies that the failing
    feed() call parsed before the error, in order, so that a stream yields
    the same replies whether the bad line came in the same read as they did
    or in a later one. A failed parser fed again raises the same error with
    ``replies`` emptied (they were handed out already).
    """

    def __init__(self, reason: str, bounded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.bounded = bounded
        # The lines of the unfinished reply, for the transcript (bounded like the reply).
        self.partial: list[str] = []
        self.replies: list[Reply] = []


class CommandError(SMTPProtocolError, ValueError):
    """A command argument is unsafe or malformed; nothing was sent."""


_NOT_PRINTABLE_ASCII = re.compile(r'[^\x20-\x7e]')
# C0 controls but HT (RFC 5321 4.2: textstring = 1*(%d09 / %d32-126)), DEL, and the C1
# controls U+0080-U+009F (a terminal may take U+009B as CSI, as it takes ESC "[").
_CONTROL_TEXT = re.compile(r'[\x00-\x08\x0a-\x1f\x7f-\x9f]')


def _escape(ch: str) -> str:
    if ch == ' ' or ch.isprintable():
        return ch
    code = ord(ch)
    if code < 0x100:
        return '\\x%02x' % code
    # Line and paragraph separators, bidi overrides, zero-width and other format characters:
    # shown raw they break transcript lines or make them read other than what was sent.
    return '\\u%04x' % code if code < 0x10000 else '\\U%08x' % code


def printable(data: bytes | str) -> str:
    """Text of a line for transcripts: printable characters only, everything else escaped.

    Control characters and bytes that are not UTF-8 are shown as \\xNN, other
    non-printable code points (U+2028, U+202E, U+FEFF ...) as \\uNNNN or
    \\UNNNNNNNN; printable non-ASCII text (SMTPUTF8) stays as it is.
    printable(printable(x)) == printable(x), so escaping twice is harmless.
    """
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode('utf-8', errors='backslashreplace')
    if not _NOT_PRINTABLE_ASCII.search(data):
        return data
    return ''.join(_escape(ch) for ch in data)


@dataclass
class Reply:
    """A complete SMTP reply: one code, one or more lines of text.

    ``lines`` (the text after the code) and ``raw_lines`` (whole lines) are
    escaped by printable(). The flags say what at least one line did, for GR-2:

    - ``bare_lf``: it ended in LF without CR (RFC 5321 2.3.8);
    - ``overlong``: its text was over 510 octets, i.e. over 512 with the CRLF
      (RFC 5321 4.5.3.1.5), also when it ended in a bare LF;
    - ``control_chars``: it held a control character other than HT - NUL, ESC,
      a CR that does not end the line, any other C0 control, DEL, or a C1
      control (U+0080-U+009F) in UTF-8 - which the reply grammar never allows
      (RFC 5321 4.2);
    - ``invalid_utf8``: it held bytes that are not UTF-8 (stray bytes, overlong
      forms, surrogates); the transcript shows them as \\xNN.
    """

    code: int
    lines: list[str]
    raw_lines: list[str] = field(default_factory=list)
    bare_lf: bool = False
    overlong: bool = False
    control_chars: bool = False
    invalid_utf8: bool = False

    @property
    def text(self) -> str:
        return ' '.join(line for line in self.lines if line)

    @property
    def enhanced(self) -> str | None:
        """RFC 3463 status code from the first line, when the server sent one."""
        if not self.lines:
            return None
        match = _ENHANCED.match(self.lines[0])  # a prefix: the text goes on after the code
        return '.'.join(match.groups()) if match else None

    @property
    def code_class(self) -> int:
        return self.code // 100

    def is_positive(self) -> bool:
        return self.code_class == 2

    def is_transient(self) -> bool:
        return self.code_class == 4

    def is_permanent(self) -> bool:
        return self.code_class == 5

    def short(self) -> str:
        """One line for summaries: "550 5.7.1 Relaying is prohibited"."""
        # printable() again because a Reply built elsewhere may hold raw text; for the
        # parser's own replies it changes nothing.
        first = printable(self.lines[0]) if self.lines else ''
        text = ('%d %s' % (self.code, first)).rstrip()
        return text if len(self.lines) < 2 else text + ' ...'

    def transcript(self) -> list[str]:
        return ['S: ' + printable(line) for line in self.raw_lines]


class _Line(t.NamedTuple):
    """One reply line as the parser keeps it until its reply is complete."""

    code: int
    text: str
    raw: str
    bare_lf: bool
    overlong: bool
    control_chars: bool
    invalid_utf8: bool


class ReplyParser:
    """Incremental reply parser: feed bytes, get complete replies.

    Memory stays bounded whatever the server sends: the text of a line (its
    CRLF or bare LF not counted) may be MAX_REPLY_LINE bytes, so at most
    MAX_REPLY_LINE + 1 bytes are buffered (that text and a CR whose LF has
    not come yet), and a reply is cut off at MAX_REPLY_LINES lines or
    MAX_REPLY_BYTES bytes. The outcome depends on the byte stream alone,
    never on how it is split into feed() calls: the same replies in the same
    order (counting ReplyError.replies), then the same ReplyError or none.
    feed() raises nothing but ReplyError. After an error the parser stays
    failed; feeding it again raises the same error.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending: list[_Line] = []
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
            self._error.replies = []  # handed out by the call that failed
            raise self._error
        self._buffer += data
        replies: list[Reply] = []
        start = 0
        try:
            while True:
                newline = self._buffer.find(b'\n', start)
                if newline < 0:
                    # An unfinished line: its text is at least this long, less a last CR that
                    # may be the start of its CRLF. Counting that CR (or not allowing for it)
                    # would make the verdict depend on where a TCP segment ends.
                    text_so_far = len(self._buffer) - start
                    if text_so_far and self._buffer[-1] == 0x0d:
                        text_so_far -= 1
                    if text_so_far > MAX_REPLY_LINE:
                        raise ReplyError('reply line longer than %d bytes' % MAX_REPLY_LINE, bounded=True)
                    del self._buffer[:start]  # one move per feed, not one per line
                    return replies
                text_end = newline - 1 if newline > start and self._buffer[newline - 1] == 0x0d else newline
                if text_end - start > MAX_REPLY_LINE:
                    raise ReplyError('reply line longer than %d bytes' % MAX_REPLY_LINE, bounded=True)
                line = bytes(self._buffer[start:newline + 1])
                start = newline + 1
                reply = self._line(line)
                if reply is not None:
                    replies.append(reply)
        except ReplyError as exc:
            exc.partial = [item.raw for item in self._pending]
            if self._line_seen is not None:
                exc.partial.append(self._line_seen)
            exc.replies = replies
            self._error = exc
            self._buffer.clear()
            self._pending.clear()
            raise

    def _line(self, line: bytes) -> Reply | None:
        bare_lf = not line.endswith(b'\r\n')
        body = line[:-1] if bare_lf else line[:-2]
        self._line_seen = printable(body[:RFC_REPLY_LINE])
        # RFC 5321 4.5.3.1.5 counts the CRLF (512 octets with it), so a line ending in a
        # bare LF is measured as if it had its CR.
        overlong = len(body) + 2 > RFC_REPLY_LINE
        match = _REPLY_LINE.fullmatch(body)
        if not match:
            raise ReplyError('not a reply line (a reply starts with a code 200-559): %s' % printable(body[:80]))
        code_text, separator, text_bytes = match.groups()
        if not separator and text_bytes:
            raise ReplyError('no space or hyphen after the reply code: %s' % printable(body[:80]))
        code = int(code_text)  # three ASCII digits, by _REPLY_LINE
        if self._pending and self._pending[0].code != code:
            raise ReplyError('multiline reply mixes codes %d and %d' % (self._pending[0].code, code))
        self._line_seen = None
        self._pending_bytes += len(line)
        if len(self._pending) + 1 > MAX_REPLY_LINES:
            raise ReplyError('reply longer than %d lines' % MAX_REPLY_LINES, bounded=True)
        if self._pending_bytes > MAX_REPLY_BYTES:
            raise ReplyError('reply longer than %d bytes' % MAX_REPLY_BYTES, bounded=True)
        try:
            decoded = body.decode('utf-8')
            invalid_utf8 = False
        except UnicodeDecodeError:
            # Bytes that are not UTF-8 turn into the ASCII text "\xNN" here, so the control
            # search below finds only control characters that were really sent as such.
            decoded = body.decode('utf-8', errors='backslashreplace')
            invalid_utf8 = True
        control_chars = bool(_CONTROL_TEXT.search(decoded))
        text = decoded[len(code_text) + len(separator):]  # code and separator are ASCII: a char per byte
        self._pending.append(_Line(code, printable(text), printable(decoded), bare_lf, overlong,
                                   control_chars, invalid_utf8))
        if separator == b'-':
            return None
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        return Reply(
            code=code,
            lines=[item.text for item in pending],
            raw_lines=[item.raw for item in pending],
            bare_lf=any(item.bare_lf for item in pending),
            overlong=any(item.overlong for item in pending),
            control_chars=any(item.control_chars for item in pending),
            invalid_utf8=any(item.invalid_utf8 for item in pending),
        )


# ---------------------------------------------------------------- syntax

def is_domain(name: str) -> bool:
    """An LDH domain name (A-labels), optionally with a trailing dot."""
    if not name or len(name.rstrip('.')) > 253 or name.startswith('.'):
        return False
    labels = name[:-1].split('.') if name.endswith('.') else name.split('.')
    return all(_LABEL.fullmatch(label) for label in labels)


def is_address_literal(text: str) -> bool:
    """RFC 5321 4.1.3: [IPv4] or [IPv6:...]."""
    if not (text.startswith('[') and text.endswith(']')):
        return False
    inner = text[1:-1]
    # RFC 5321 4.1.3 has no zone index ("%eth0", which ipaddress takes with any text after
    # it, spaces included), and the tag is ASCII ("ıPv6:".upper() == "IPV6:").
    if '%' in inner or not inner.isascii():
        return False
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
    if not (_DOT_STRING.fullmatch(local) or _QUOTED_STRING.fullmatch(local)):
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
    if allow_postmaster and address.isascii() and address.lower() == 'postmaster':
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
        if not _ESMTP_PARAMETER.fullmatch(param):
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
    if not _VERB.fullmatch(name):
        raise CommandError('not a verb: %r' % name)
    return Command(name)


# ---------------------------------------------------------------- EHLO

# Keywords whose presence alone is the information.
FLAG_KEYWORDS = ('PIPELINING', 'STARTTLS', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'CHUNKING',
                 'BINARYMIME')


@dataclass
class Capabilities:
    """An EHLO reply, parsed (RFC 5321 4.1.1.1; extensions by their RFCs).

    ``keywords`` maps each upper-case keyword to its parameters as sent.
    ``malformed`` lists the lines that are not "keyword *(SP param)" at all
    (a keyword with non-ASCII letters, say); they are not in ``keywords``.
    ``invalid`` lists, in order, every line the parser could not fully
    understand: the malformed ones, and lines with a parameter outside the
    ehlo-param grammar (printable ASCII), a SIZE value that is not one
    number of 1 to 20 ASCII digits, or an AUTH mechanism outside the SASL
    grammar. Such values are recorded, never guessed at and never an
    exception; to_dict() reports them as ``invalid`` for the checks.
    """

    domain: str
    keywords: dict[str, list[str]]
    malformed: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    @property
    def size(self) -> int | None:
        """RFC 1870: the declared maximum size; 0 means no fixed limit.

        None when SIZE is not offered, or when its value is not a number
        (the line is in ``invalid`` then).
        """
        if 'SIZE' not in self.keywords:
            return None
        params = self.keywords['SIZE']
        if not params:
            return 0
        if len(params) == 1 and _SIZE_VALUE.fullmatch(params[0]):
            return int(params[0])
        return None

    @property
    def auth(self) -> list[str]:
        """The SASL mechanisms of AUTH and of the old AUTH=, upper case; malformed ones left out."""
        mechanisms: list[str] = []
        for mechanism in self.keywords.get('AUTH', []) + self.keywords.get('AUTH=', []):
            # upper() only once the mechanism is known to be ASCII ("ﬁ".upper() == "FI").
            if _SASL_MECH.fullmatch(mechanism) and mechanism.upper() not in mechanisms:
                mechanisms.append(mechanism.upper())
        return mechanisms

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.keywords

    def to_dict(self) -> dict[str, t.Any]:
        known = set(FLAG_KEYWORDS) | {'SIZE', 'AUTH', 'AUTH='}
        result: dict[str, t.Any] = {name.lower(): name in self.keywords for name in FLAG_KEYWORDS}
        result['size'] = self.size
        result['auth'] = self.auth
        result['keywords'] = sorted({'AUTH' if name == 'AUTH=' else name for name in self.keywords})
        result['other'] = {name: params for name, params in sorted(self.keywords.items()) if name not in known}
        result['invalid'] = list(self.invalid)
        return result


def _params_invalid(keyword: str, params: list[str]) -> bool:
    """Whether the parameters of one EHLO line break the line's grammar or the keyword's."""
    if not all(_EHLO_PARAM.fullmatch(param) for param in params):
        return True
    if keyword == 'SIZE':
        return len(params) > 1 or (len(params) == 1 and not _SIZE_VALUE.fullmatch(params[0]))
    if keyword in ('AUTH', 'AUTH='):
        return not all(_SASL_MECH.fullmatch(param) for param in params)
    return False


def parse_ehlo(reply: Reply) -> Capabilities:
    """Split an EHLO reply into the server's domain and its extension keywords.

    The old "AUTH=LOGIN PLAIN" form is folded into AUTH; a line that is not
    "keyword *(SP param)" is kept in ``malformed`` rather than guessed at,
    and every line holding something the parser does not understand is in
    ``invalid`` too (see Capabilities). Never raises, whatever the reply holds.
    """
    domain = reply.lines[0].split(' ', 1)[0] if reply.lines else ''
    keywords: dict[str, list[str]] = {}
    malformed: list[str] = []
    invalid: list[str] = []
    for line in reply.lines[1:]:
        # SP only (RFC 5321 4.1.1.1); str.split() would split on Unicode spaces as well.
        words = [word for word in line.split(' ') if word]
        if words and _AUTH_EQUALS.match(words[0]):
            keyword, params = 'AUTH=', [words[0][5:]] + words[1:]
            keywords.setdefault(keyword, []).extend(params)
        elif words and _EHLO_KEYWORD.fullmatch(words[0]):
            # Checked before upper(): "ſtarttls".upper() == "STARTTLS".
            keyword, params = words[0].upper(), words[1:]
            keywords[keyword] = params
        else:
            malformed.append(line)
            invalid.append(line)
            continue
        if _params_invalid(keyword, params):
            invalid.append(line)
    return Capabilities(domain=domain, keywords=keywords, malformed=malformed, invalid=invalid)


def greeting_domain(reply: Reply) -> str | None:
    """The domain or address literal that starts a 220 greeting, or None."""
    first = reply.lines[0].split(' ', 1)[0] if reply.lines else ''
    if is_domain(first) or is_address_literal(first):
        return first
    return None
