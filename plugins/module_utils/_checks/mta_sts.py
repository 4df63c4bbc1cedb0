# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""STS-1 to STS-3 and RPT-1: MTA-STS (RFC 8461) and SMTP TLS reporting (RFC 8460) of a domain.

A DOMAIN check with network work (the registry's ``fetch``): the engine
calls ``check_domain(mxset, settings)`` once per domain after the MX sets
are known.

- STS-1: ``_mta-sts.<domain>`` TXT through the run's resolver. Records that
  do not begin with ``v=STSv1`` are ignored (RFC 8461 3.1); exactly one must
  be left, with an ``id`` of 1 to 32 alphanumerics. No such record: the
  domain publishes no MTA-STS and STS-1..3 are skipped (not applicable).
- STS-2: ``https://mta-sts.<domain>/.well-known/mta-sts.txt``: the name
  resolved through the run's resolver (never the system one), a TLS
  connection to that address with SNI and Host set to the name, verified
  against the trust store (``tls_ca_file`` or the system's), one
  hand-written HTTP/1.1 GET on asyncio streams. No redirect is followed
  (RFC 8461 3.3): a 3xx fails and says where it pointed. Bounded: the
  whole fetch by ``timeout`` (and the run's deadline), the head by
  MAX_HEAD_BYTES and MAX_HEADERS, the body by MAX_POLICY_BYTES + 1;
  chunked transfer coding is decoded under the same cap, any other one is
  refused. The body is parsed as an STSv1 policy.
- STS-3: every MX host matches an ``mx`` pattern (``*.`` stands for exactly
  one left-most label) and, in ``enforce`` or ``testing`` mode, presents at
  every address after STARTTLS (``starttls.presented_once``, SNI = the MX
  host name) a certificate valid for its name under the trust store
  (``_tls.valid_for_name``). A failure in ``enforce`` mode is ``fail``
  (senders that apply the policy defer all mail to that host), in
  ``testing`` mode ``warn``.
- RPT-1: ``_smtp._tls.<domain>`` TXT: one ``v=TLSRPTv1`` record with ``rua``
  of mailto: or https: URIs; absent, ``warn``: the failures of the domain's
  policies would go unreported. Looked up only when the domain publishes
  MTA-STS or DANE (a TLSA record at ``_25._tcp.<mx host>``, cached per
  host); otherwise skipped (not applicable) - so a domain with neither costs
  one TXT query, not two.

Why asyncio streams and not http.client: the fetch runs on the run's event
loop with no thread, its every read is bounded by the same clock as the
SMTP sessions (a slowloris server gets the fetch timeout, not a timeout per
byte), and each cap is enforced where the bytes are read. The standard
library only: nothing to install on the managed hosts.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import ssl
import typing as t
from dataclasses import dataclass, field

from .. import _tls as tls
from .._dns import MXSet
from .._engine.targets import is_globally_routable
from .._findings import ERROR, FAIL, INCONCLUSIVE, PASS, SKIPPED, WARN, Finding, Rule, define_rules
from . import starttls
from .probe import CheckOutcome, ProbeSettings, Target

CHECK = 'mta_sts'
RULES = define_rules(CHECK, (
    Rule('STS-1', 'MUST', 'medium', 'RFC 8461 3.1',
         'The _mta-sts TXT record: exactly one record beginning v=STSv1, with a valid id (1-32 alphanumerics)'),
    Rule('STS-2', 'MUST', 'medium', 'RFC 8461 3.2, 3.3',
         'The policy at https://mta-sts.<domain>/.well-known/mta-sts.txt: a valid certificate, 200 without redirect, '
         'at most 64 KiB of text/plain, valid STSv1 syntax'),
    Rule('STS-3', 'MUST', 'high', 'RFC 8461 4.1, 4.2, 5',
         'Every MX host matches an mx pattern of the policy and presents, at every address, a certificate valid for its name'),
    Rule('RPT-1', 'SHOULD', 'low', 'RFC 8460 3',
         'The _smtp._tls TLS-RPT record: v=TLSRPTv1 with rua mailto: or https: URIs (noted when MTA-STS or DANE is published)'),
))
STS_RULES = ('STS-1', 'STS-2', 'STS-3')

# RFC 8461 3.3: "the policy body ... MUST NOT exceed 64 KiB"; a reader reads one byte more to know.
MAX_POLICY_BYTES = 64 * 1024
MAX_HEAD_BYTES = 16 * 1024      # status line and headers together (trailers of a chunked body too)
MAX_HEADERS = 64
MAX_LINE_BYTES = 8 * 1024       # one header line, one chunk-size line
MAX_MAX_AGE = 31557600          # RFC 8461 3.2: max_age at most 31557600 seconds (about one year)
MAX_POLICY_ADDRESSES = 2        # addresses of mta-sts.<domain> tried, in DNS order
MAX_DANE_HOSTS = 10             # MX hosts whose TLSA record is looked up to know whether DANE is published
# The record for the reports (StsRecord): at most RECORD_LIST items per list, each at most RECORD_TEXT_CHARS.
RECORD_LIST = 20
RECORD_TEXT_CHARS = 256
# The HTTPS port of the policy host (RFC 8461 3.3). Private: the lab sets it to an unprivileged port.
POLICY_PORT = 443
WELL_KNOWN = '/.well-known/mta-sts.txt'
MODES = ('enforce', 'testing', 'none')
USER_AGENT = 'mxaudit.smtp (MTA-STS policy check)'

_STS_START = re.compile(r'v=STSv1[ \t]*(;|$)')
_ID = re.compile(r'[A-Za-z0-9]{1,32}')
_EXT_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,31}')
_EXT_VALUE = re.compile(r'[\x21-\x3a\x3c\x3e-\x7e]+')
_RPT_START = re.compile(r'v=TLSRPTv1[ \t]*(;|$)')
_POLICY_KEY = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,31}')
_LABEL = re.compile(r'(?!-)[a-z0-9-]{1,63}(?<!-)')
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS_LINE = re.compile(rb'HTTP/1\.[01] ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?')


# ------------------------------------------------------------------ the record

def _bounded(text: str) -> str:
    return text if len(text) <= RECORD_TEXT_CHARS else text[:RECORD_TEXT_CHARS - 3] + '...'


@dataclass
class StsRecord:
    """What the mta_sts check learnt of a domain, for the reports: facts, never parsed back from a summary.

    ``published``: some ``_mta-sts`` TXT record begins with v=STSv1 (None: the lookup failed). ``id``: the id of
    the one valid record (None otherwise). ``fetched``: a policy file was read and parsed (its fields may still
    be invalid: STS-2 says). ``rua``: the TLS-RPT URIs of the one valid v=TLSRPTv1 record (None: not looked
    up, or the lookup failed; an empty list: looked up, no valid record).
    """

    published: bool | None = False
    id: str | None = None
    fetched: bool = False
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    mx_total: int = 0
    rua: list[str] | None = None
    rua_total: int = 0

    def learn_policy(self, policy: Policy) -> None:
        self.fetched = True
        self.mode = _bounded(policy.mode) if policy.mode is not None else None
        self.max_age = policy.max_age
        self.mx = [_bounded(pattern) for pattern in policy.mx[:RECORD_LIST]]
        self.mx_total = len(policy.mx)

    def learn_rua(self, uris: t.Sequence[str]) -> None:
        self.rua = [_bounded(uri) for uri in uris[:RECORD_LIST]]
        self.rua_total = len(uris)

    def to_dict(self) -> dict[str, t.Any]:
        """A domain's ``mta_sts`` field: ``{'published': False}`` alone when nothing was published or looked up."""
        data: dict[str, t.Any] = {'published': self.published}
        if self.published is not False:
            data.update(id=self.id, fetched=self.fetched, mode=self.mode, max_age=self.max_age, mx=list(self.mx),
                        mx_total=self.mx_total)
        if self.rua is not None:
            data.update(rua=list(self.rua), rua_total=self.rua_total)
        return data


# ------------------------------------------------------------------ DNS records

def txt_text(rdata: str) -> str:
    """The text of one TXT record from its presentation form: its strings concatenated (RFC 7208 3.3, RFC 8461 3.1).

    dnspython writes ``"v=STSv1; " "id=1"`` with ``\\"``, ``\\\\`` and ``\\DDD`` escapes.
    """
    out: list[str] = []
    index, quoted = 0, False
    while index < len(rdata):
        char = rdata[index]
        if char == '"':
            quoted = not quoted
        elif char == '\\' and index + 1 < len(rdata):
            digits = rdata[index + 1:index + 4]
            if len(digits) == 3 and digits.isdigit():
                out.append(chr(int(digits) & 0xFF))
                index += 3
            else:
                out.append(rdata[index + 1])
                index += 1
        elif quoted or not char.isspace():
            out.append(char)
        index += 1
    return ''.join(out)


def _fields(rest: str) -> tuple[list[tuple[str, str]], str | None]:
    """``; name=value`` fields after the version tag, or why they are malformed."""
    parts = rest.split(';')
    if parts[0].strip(' \t'):
        return [], 'text after the version tag before the first ";"'
    parts = parts[1:]
    if parts and not parts[-1].strip(' \t'):
        parts = parts[:-1]  # one trailing ";" is allowed
    fields = []
    for part in parts:
        part = part.strip(' \t')
        name, equals, value = part.partition('=')
        if not equals or not name:
            return [], 'field %r is not name=value' % part
        fields.append((name, value))
    return fields, None


def parse_sts_record(text: str) -> tuple[str | None, str | None]:
    """(id, None) for a valid STSv1 TXT record (RFC 8461 3.1 ABNF), else (None, why not)."""
    if not _STS_START.match(text):
        return None, 'it does not begin with v=STSv1'
    fields, problem = _fields(text[len('v=STSv1'):])
    if problem:
        return None, problem
    record_id = None
    for name, value in fields:
        if name == 'id':
            if record_id is None:
                if not _ID.fullmatch(value):
                    return None, 'id=%s is not 1 to 32 letters and digits' % value[:40]
                record_id = value
        elif not _EXT_NAME.fullmatch(name) or not _EXT_VALUE.fullmatch(value):
            return None, 'field %s=%s is not a valid extension' % (name[:40], value[:40])
    if record_id is None:
        return None, 'it has no id field'
    return record_id, None


def sts_candidates(texts: t.Iterable[str]) -> list[str]:
    """The TXT texts that begin with v=STSv1: the others are discarded (RFC 8461 3.1), however many there are."""
    return [text for text in texts if _STS_START.match(text)]


def judge_sts_record(texts: t.Sequence[str]) -> tuple[str, str, str | None]:
    """STS-1 from the TXT texts at _mta-sts.<domain> (at least one begins with v=STSv1): (status, summary, id)."""
    candidates = sts_candidates(texts)
    ignored = len(texts) - len(candidates)
    note = ' (%d other TXT record%s ignored)' % (ignored, '' if ignored == 1 else 's') if ignored else ''
    if len(candidates) > 1:
        return FAIL, ('%d TXT records begin with v=STSv1: senders must then assume no MTA-STS policy (RFC 8461 3.1)%s'
                      % (len(candidates), note)), None
    record_id, problem = parse_sts_record(candidates[0])
    if problem:
        return FAIL, 'the v=STSv1 record "%s" is invalid: %s; senders assume no policy%s' % (
            candidates[0][:120], problem, note), None
    return PASS, 'one v=STSv1 record, id=%s%s' % (record_id, note), record_id


_RUA_URI = re.compile(r'(mailto:[^\s,;!]+@[^\s,;!]+|https://[^\s,;/]+[^\s,;]*)', re.IGNORECASE)


def parse_tlsrpt_record(text: str) -> tuple[list[str], str | None]:
    """(rua URIs, None) for a valid TLSRPTv1 record (RFC 8460 3 ABNF), else ([], why not)."""
    if not _RPT_START.match(text):
        return [], 'it does not begin with v=TLSRPTv1'
    fields, problem = _fields(text[len('v=TLSRPTv1'):])
    if problem:
        return [], problem
    uris: list[str] | None = None
    for name, value in fields:
        if name != 'rua':
            if not _EXT_NAME.fullmatch(name) or not _EXT_VALUE.fullmatch(value):
                return [], 'field %s=%s is not a valid extension' % (name[:40], value[:40])
            continue
        if uris is not None:
            return [], 'more than one rua field'
        uris = [uri.strip(' \t') for uri in value.split(',')]
        bad = [uri for uri in uris if not _RUA_URI.fullmatch(uri)]
        if bad:
            return [], 'rua %s is not a mailto: or https: URI' % bad[0][:80]
    if not uris:
        return [], 'it has no rua field'
    return uris, None


def judge_tlsrpt(texts: t.Sequence[str], published: t.Sequence[str]) -> tuple[str, str, bool]:
    """RPT-1 from the TXT texts at _smtp._tls.<domain>; ``published``: what the domain publishes (MTA-STS, DANE).

    (status, summary, applies).
    """
    candidates = [text for text in texts if _RPT_START.match(text)]
    if not candidates:
        if published:
            return WARN, ('no TLS-RPT record at _smtp._tls although the domain publishes %s: senders cannot report '
                          'the TLS failures those policies cause (RFC 8460 3)' % ' and '.join(published)), True
        return SKIPPED, 'no TLS-RPT record, and neither MTA-STS nor DANE published: not applicable', False
    if len(candidates) > 1:
        return FAIL, '%d TXT records begin with v=TLSRPTv1: senders then assume no TLS-RPT (RFC 8460 3)' % len(candidates), True
    uris, problem = parse_tlsrpt_record(candidates[0])
    if problem:
        return FAIL, 'the TLS-RPT record "%s" is invalid: %s' % (candidates[0][:120], problem), True
    return PASS, 'TLS-RPT reports go to %s' % ', '.join(uris), True


# ------------------------------------------------------------------ the policy

@dataclass
class Policy:
    """An STSv1 policy file, parsed (RFC 8461 3.2)."""

    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def valid_mx_pattern(pattern: str) -> bool:
    """``["*."] Domain`` (RFC 8461 3.2): a name of LDH labels, optionally a wildcard as its whole left-most label."""
    name = pattern.lower().rstrip('.')
    if name.startswith('*.'):
        name = name[2:]
    labels = name.split('.')
    return 0 < len(name) <= 253 and len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)


def parse_policy(body: bytes) -> Policy:
    """The policy's fields; every syntax problem in ``errors`` (then senders treat the policy as absent)."""
    policy = Policy()
    try:
        text = body.decode('ascii')
    except UnicodeDecodeError:
        policy.errors.append('the policy is not ASCII text')
        return policy
    seen: set[str] = set()
    for number, line in enumerate(text.split('\n'), start=1):
        line = line[:-1] if line.endswith('\r') else line
        if not line.strip(' \t'):
            continue
        key, colon, value = line.partition(':')
        value = value.strip(' \t')
        if not colon or not _POLICY_KEY.fullmatch(key):
            policy.errors.append('line %d is not "key: value": %r' % (number, line[:80]))
            continue
        if key in seen and key != 'mx':
            policy.notes.append('%s given more than once (the first is used)' % key)
            continue
        seen.add(key)
        if key == 'version':
            policy.version = value
        elif key == 'mode':
            policy.mode = value
        elif key == 'max_age':
            if not re.fullmatch(r'[0-9]{1,10}', value):
                policy.errors.append('max_age %r is not a number of seconds' % value[:40])
            else:
                policy.max_age = int(value)
        elif key == 'mx':
            if valid_mx_pattern(value):
                policy.mx.append(value.lower().rstrip('.'))
            else:
                policy.errors.append('mx %r is not a host name or *.name pattern' % value[:80])
    if policy.version != 'STSv1':
        policy.errors.append('version is %s, not STSv1' % ('missing' if policy.version is None else repr(policy.version[:40])))
    if policy.mode not in MODES:
        policy.errors.append('mode is %s, not enforce, testing or none' % (
            'missing' if policy.mode is None else repr(policy.mode[:40])))
    if policy.max_age is None and 'max_age' not in seen:
        policy.errors.append('max_age is missing')
    elif policy.max_age is not None and policy.max_age > MAX_MAX_AGE:
        policy.errors.append('max_age %d is over %d (RFC 8461 3.2)' % (policy.max_age, MAX_MAX_AGE))
    if not policy.mx and policy.mode != 'none':
        policy.errors.append('no mx pattern')
    return policy


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: an mx pattern matches the MX host; ``*.`` stands for exactly one left-most label."""
    pattern = pattern.lower().rstrip('.')
    host = host.lower().rstrip('.')
    if not pattern or not host:
        return False
    if pattern.startswith('*.'):
        first, dot, rest = host.partition('.')
        return bool(first) and bool(dot) and rest == pattern[2:]
    return pattern == host


def matching_pattern(patterns: t.Sequence[str], host: str) -> str | None:
    return next((pattern for pattern in patterns if mx_matches(pattern, host)), None)


# ------------------------------------------------------------------ HTTP

class HTTPError(Exception):
    """The response broke HTTP/1.1 or one of the caps: the message says how."""


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]      # names in lower case, in order
    body: bytes = b''
    too_large: bool = False             # the body was over the cap (only MAX_POLICY_BYTES + 1 bytes were read)

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


def request(host: str) -> bytes:
    """The one GET (RFC 9112): Host the policy host, no keep-alive, identity only."""
    return ('GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: text/plain\r\nAccept-Encoding: identity\r\n'
            'Connection: close\r\n\r\n' % (WELL_KNOWN, host, USER_AGENT)).encode('ascii')


async def _line(reader: asyncio.StreamReader, what: str) -> bytes:
    try:
        line = await reader.readuntil(b'\n')
    except asyncio.LimitOverrunError:
        raise HTTPError('%s longer than %d bytes' % (what, MAX_LINE_BYTES))
    except asyncio.IncompleteReadError as exc:
        raise HTTPError('the connection closed in the %s (%d bytes of it)' % (what, len(exc.partial)))
    if len(line) > MAX_LINE_BYTES:
        raise HTTPError('%s longer than %d bytes' % (what, MAX_LINE_BYTES))
    return line[:-2] if line.endswith(b'\r\n') else line[:-1]


async def _fields_block(reader: asyncio.StreamReader, what: str) -> list[tuple[str, str]]:
    """Header (or trailer) fields up to the empty line, under MAX_HEADERS and MAX_HEAD_BYTES."""
    fields: list[tuple[str, str]] = []
    size = 0
    while True:
        line = await _line(reader, what)
        size += len(line) + 2
        if size > MAX_HEAD_BYTES:
            raise HTTPError('the %ss are over %d bytes' % (what, MAX_HEAD_BYTES))
        if not line:
            return fields
        if line[:1] in (b' ', b'\t'):
            raise HTTPError('obsolete line folding in the %ss (refused, RFC 9112 5.2)' % what)
        name, colon, value = line.partition(b':')
        if not colon or not _TOKEN.fullmatch(name):
            raise HTTPError('malformed %s line %r' % (what, line[:60]))
        fields.append((name.decode('ascii').lower(), value.strip(b' \t').decode('latin-1')))
        if len(fields) > MAX_HEADERS:
            raise HTTPError('more than %d %ss' % (MAX_HEADERS, what))


async def _chunked(reader: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """A chunked body (RFC 9112 7.1), at most ``cap`` bytes of data kept: (body, over the cap)."""
    body = bytearray()
    while True:
        line = await _line(reader, 'chunk size line')
        size_text = line.split(b';', 1)[0].strip(b' \t')
        if not size_text or len(size_text) > 8 or not re.fullmatch(rb'[0-9A-Fa-f]+', size_text):
            raise HTTPError('malformed chunk size %r' % line[:40])
        size = int(size_text, 16)
        if size == 0:
            await _fields_block(reader, 'trailer')
            return bytes(body), False
        if len(body) + size > cap:
            return bytes(body), True   # no need to read what will not be kept
        try:
            data = await reader.readexactly(size + 2)
        except asyncio.IncompleteReadError as exc:
            raise HTTPError('the connection closed inside a chunk (%d of %d bytes)' % (len(exc.partial), size + 2))
        if data[-2:] != b'\r\n':
            raise HTTPError('a chunk does not end with CRLF')
        body += data[:-2]


async def read_response(reader: asyncio.StreamReader, cap: int = MAX_POLICY_BYTES) -> Response:
    """One HTTP/1.1 response to a GET, bounded everywhere; HTTPError when it breaks the protocol or a cap."""
    status_line = await _line(reader, 'status line')
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise HTTPError('not an HTTP/1.x status line: %r' % status_line[:60])
    status = int(match.group(1))
    reason = (match.group(2) or b'').decode('latin-1')
    headers = await _fields_block(reader, 'header')
    response = Response(status, reason, headers)
    if status < 200:
        raise HTTPError('an interim %d response to a request that asked for none' % status)
    if status != 200:
        return response  # the status decides; the body is not read
    codings = [value.strip().lower() for item in response.values('transfer-encoding') for value in item.split(',')]
    lengths = response.values('content-length')
    if codings:
        if lengths:
            raise HTTPError('both Transfer-Encoding and Content-Length (refused, RFC 9112 6.3)')
        if codings != ['chunked']:
            raise HTTPError('transfer coding %s is not supported (only chunked)' % ', '.join(codings))
        response.body, response.too_large = await _chunked(reader, cap)
        return response
    if lengths:
        if len(set(lengths)) > 1 or not all(re.fullmatch(r'[0-9]{1,15}', value) for value in lengths):
            raise HTTPError('invalid Content-Length %s' % ', '.join(lengths)[:60])
        length = int(lengths[0])
        if length > cap:
            response.too_large = True
            response.body = b''
            return response
        try:
            response.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise HTTPError('the connection closed after %d of %d body bytes' % (len(exc.partial), length))
        return response
    data = bytearray()
    while len(data) <= cap:
        chunk = await reader.read(cap + 1 - len(data))
        if not chunk:
            break
        data += chunk
    response.body, response.too_large = bytes(data[:cap]), len(data) > cap
    return response


def policy_context(ca_file: str | None) -> ssl.SSLContext:
    """The policy host's TLS: verified against the trust store (tls_ca_file, else the system's), names checked."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# ------------------------------------------------------------------ STS-2: the fetch

@dataclass
class PolicyFetch:
    """STS-2's verdict, the policy when one was read, and the evidence."""

    status: str
    summary: str
    policy: Policy | None = None
    transcript: list[str] = field(default_factory=list)


def judge_response(response: Response, host: str) -> PolicyFetch:
    """STS-2 from a complete response (the TLS was valid for ``host``)."""
    url = 'https://%s%s' % (host, WELL_KNOWN)
    if 300 <= response.status < 400:
        location = response.header('location')
        return PolicyFetch(FAIL, '%s answered %d %s, a redirect%s: RFC 8461 3.3 forbids following redirects, so '
                           'senders find no policy' % (url, response.status, response.reason,
                                                       ' to %s' % location[:200] if location else ' without Location'))
    if response.status != 200:
        return PolicyFetch(FAIL, '%s answered %d %s, not 200: senders find no policy' % (url, response.status, response.reason))
    if response.too_large:
        return PolicyFetch(FAIL, 'the policy at %s is over %d bytes (RFC 8461 3.3: at most 64 KiB)' % (url, MAX_POLICY_BYTES))
    policy = parse_policy(response.body)
    if not policy.valid:
        return PolicyFetch(FAIL, 'the policy at %s is invalid: %s' % (url, '; '.join(policy.errors)[:600]), policy)
    shown = 'mode %s, max_age %d, mx %s' % (policy.mode, policy.max_age or 0, ', '.join(policy.mx) or 'none')
    notes = ''.join('; ' + note for note in policy.notes)
    media = (response.header('content-type') or '').split(';', 1)[0].strip().lower()
    if media != 'text/plain':
        return PolicyFetch(WARN, 'the policy at %s is valid (%s) but served as %s, not text/plain (RFC 8461 3.2)%s' % (
            url, shown, media or 'no Content-Type', notes), policy)
    return PolicyFetch(PASS, 'policy at %s: %s%s' % (url, shown, notes), policy)


async def _get(address: str, host: str, settings: ProbeSettings, transcript: list[str]) -> Response:
    context = policy_context(settings.tls_ca_file)
    transcript.append('** connect %s port %d (TLS, SNI %s)' % (address, POLICY_PORT, host))
    reader, writer = await asyncio.open_connection(address, POLICY_PORT, ssl=context, server_hostname=host,
                                                   limit=MAX_LINE_BYTES, ssl_handshake_timeout=settings.timeout)
    try:
        writer.write(request(host))
        transcript.append('C: GET %s HTTP/1.1' % WELL_KNOWN)
        transcript.append('C: Host: %s' % host)
        await writer.drain()
        response = await read_response(reader)
        transcript.append('S: HTTP/1.1 %d %s' % (response.status, response.reason[:80]))
        for name, value in response.headers[:12]:
            transcript.append('S: %s: %s' % (name, value[:120]))
        if response.status == 200:
            over = ' (over the cap, not read on)' if response.too_large else ''
            transcript.append('** %d body bytes%s' % (len(response.body), over))
        return response
    finally:
        writer.transport.abort()


def _budget(settings: ProbeSettings) -> float:
    """Seconds the whole fetch may take: three timeouts (connect, handshake, response), within the deadline."""
    budget = 3 * settings.timeout
    if settings.deadline is not None:
        budget = min(budget, settings.deadline - asyncio.get_running_loop().time())
    return max(budget, 0.0)


async def fetch_policy(domain: str, settings: ProbeSettings) -> PolicyFetch:
    """STS-2: resolve, connect, verify, GET, judge. Never raises for what the network or the server does."""
    host = 'mta-sts.' + domain.rstrip('.').lower()
    found = await settings.resolver.addresses(host)
    addresses = list(found.addresses)
    if not addresses:
        if found.errors:
            return PolicyFetch(ERROR, 'the address of %s could not be looked up: %s' % (host, '; '.join(found.errors)))
        return PolicyFetch(FAIL, '%s has no address (A/AAAA): senders cannot fetch the policy' % host)
    if not settings.allow_private_addresses:
        public = [address for address in addresses if is_globally_routable(address)]
        if not public:
            return PolicyFetch(SKIPPED, '%s resolves only to non-global addresses (%s), not fetched without '
                               'allow_private_addresses' % (host, ', '.join(addresses[:4])))
        addresses = public
    transcript: list[str] = []
    outcome = PolicyFetch(ERROR, 'no address of %s was tried' % host)
    for address in addresses[:MAX_POLICY_ADDRESSES]:
        budget = _budget(settings)
        if budget <= 0:
            return PolicyFetch(INCONCLUSIVE, 'not fetched: the run\'s deadline was reached', transcript=transcript)
        try:
            response = await asyncio.wait_for(_get(address, host, settings, transcript), timeout=budget)
        except ssl.SSLCertVerificationError as exc:
            return PolicyFetch(FAIL, 'the certificate of %s at %s is not valid for that name under the trust store: %s'
                               % (host, address, exc.verify_message or exc.reason or exc), transcript=transcript)
        except ssl.SSLError as exc:
            return PolicyFetch(FAIL, 'the TLS handshake with %s at %s failed: %s' % (host, address, exc.reason or exc),
                               transcript=transcript)
        except HTTPError as exc:
            transcript.append('** %s' % exc)
            return PolicyFetch(FAIL, 'the answer of %s at %s is not usable HTTP/1.1: %s' % (host, address, exc),
                               transcript=transcript)
        except asyncio.TimeoutError:
            outcome = PolicyFetch(INCONCLUSIVE, 'no complete answer from %s at %s within %.1f s' % (host, address, budget),
                                  transcript=transcript)
            continue
        except ConnectionRefusedError:
            outcome = PolicyFetch(FAIL, 'nothing accepts HTTPS connections on %s port %d (%s): senders cannot fetch '
                                  'the policy' % (address, POLICY_PORT, host), transcript=transcript)
            continue
        except OSError as exc:
            outcome = PolicyFetch(ERROR, 'cannot connect to %s at %s port %d: %s' % (host, address, POLICY_PORT, exc),
                                  transcript=transcript)
            continue
        verdict = judge_response(response, host)
        verdict.transcript = transcript
        return verdict
    return outcome


# ------------------------------------------------------------------ STS-3

def judge_presented(found: starttls.Presented, host: str, mode: str, anchors: t.Sequence[t.Any] | None,
                    anchors_problem: str | None, now: datetime.datetime) -> tuple[str, str]:
    """STS-3 at one address of a matching MX host: the STARTTLS outcome and its certificate under the trust store."""
    bad = FAIL if mode == 'enforce' else WARN
    consequence = ('senders that enforce the policy defer all mail to it' if mode == 'enforce'
                   else 'in enforce mode senders would defer all mail to it (testing mode: reports only)')
    if found.outcome == starttls.NO_SESSION:
        problem = found.problem
        return (problem.status, problem.summary) if problem is not None else (INCONCLUSIVE, found.why_not())
    if found.outcome == starttls.REFUSED and found.reply is not None and 400 <= found.reply.code < 500:
        return INCONCLUSIVE, '%s: a temporary refusal decides nothing' % found.why_not()
    if not found.upgraded:
        return bad, '%s: %s' % (found.why_not(), consequence)
    if tls.CRYPTOGRAPHY_IMPORT_ERROR is not None:
        return SKIPPED, 'certificate not judged: ' + tls.MISSING_CRYPTOGRAPHY
    if anchors is None:
        return ERROR, anchors_problem or 'no trust anchors'
    reason = tls.valid_for_name(found.chain, host, anchors, now)
    if reason is not None:
        return bad, 'the certificate is not valid for %s: %s; %s' % (host, reason, consequence)
    return PASS, 'STARTTLS with a certificate valid for %s under the trust store' % host


def _anchors(settings: ProbeSettings) -> tuple[t.Any, str | None]:
    if tls.CRYPTOGRAPHY_IMPORT_ERROR is not None:
        return None, None
    source = 'tls_ca_file %s' % settings.tls_ca_file if settings.tls_ca_file else 'the system trust store'
    try:
        return tls.trust_store(settings.tls_ca_file), None
    except (OSError, ValueError) as exc:
        return None, 'cannot read the trust anchors of %s: %s' % (source, exc)


async def judge_hosts(mxset: MXSet, policy: Policy, settings: ProbeSettings) -> list[Finding]:
    """STS-3 for every MX host: its pattern, then (enforce, testing) its certificate at each address."""
    domain = mxset.domain
    mode = policy.mode or 'none'
    bad = FAIL if mode == 'enforce' else WARN
    found: list[Finding] = []
    checks: list[tuple[str, str, str]] = []
    for host in mxset.hosts:
        name = host.host.rstrip('.').lower()
        pattern = matching_pattern(policy.mx, name)
        if mode == 'none':
            found.append(Finding('STS-3', SKIPPED, 'policy mode none: senders apply no MTA-STS to %s' % name, domain=domain,
                                 mx=host.host, applies=False))
            continue
        if pattern is None:
            found.append(Finding('STS-3', bad, 'MX host %s matches none of the policy\'s mx patterns (%s): %s' % (
                name, ', '.join(policy.mx), 'senders that enforce the policy defer all mail to it' if mode == 'enforce'
                else 'in enforce mode senders would defer all mail to it'), domain=domain, mx=host.host))
            continue
        addresses = host.probed_addresses
        if not addresses:
            found.append(Finding('STS-3', SKIPPED, 'MX host %s matches %s, but has no address to probe' % (name, pattern),
                                 domain=domain, mx=host.host))
        checks.extend((host.host, name, address) for address in addresses)
    if not checks:
        return found
    # The engine runs this alongside its SMTP jobs: the sessions here wait until those have ended.
    from .._engine.domains import jobs_done  # pylint: disable=import-outside-toplevel,cyclic-import
    await jobs_done(settings)
    anchors, anchors_problem = _anchors(settings)
    now = datetime.datetime.now(datetime.timezone.utc)
    presented = await asyncio.gather(*(starttls.presented_once(Target(domain, mx, address), settings)
                                       for mx, _name, address in checks))
    for (mx, name, address), outcome in zip(checks, presented):
        status, summary = judge_presented(outcome, name, mode, anchors, anchors_problem, now)
        found.append(Finding('STS-3', status, summary, domain=domain, mx=mx, address=address,
                             transcript=list(outcome.transcript)))
    return found


# ------------------------------------------------------------------ the domain

def _all(rules: t.Iterable[str], status: str, summary: str, domain: str, applies: bool = True,
         transcript: t.Sequence[str] = ()) -> list[Finding]:
    return [Finding(rule, status, summary, domain=domain, applies=applies, transcript=list(transcript)) for rule in rules]


def evidence(name: str, rdtype: str, lookup: t.Any) -> list[str]:
    """What a lookup answered, as transcript lines (``**`` notes: DNS is not the SMTP dialogue)."""
    head = '** DNS %s %s' % (name, rdtype)
    if lookup.error:
        return ['%s: %s' % (head, lookup.error)]
    if lookup.nxdomain:
        return ['%s: NXDOMAIN' % head]
    if not lookup.records:
        return ['%s: no record' % head]
    return ['%s: %s' % (head, record[:300]) for record in lookup.records[:8]]


async def _dane_published(mxset: MXSet, settings: ProbeSettings) -> bool:
    """Whether some MX host has a TLSA record for SMTP (_25._tcp.<host>), as the DANE check would find it."""
    hosts = [host.host for host in mxset.hosts if not host.is_ip][:MAX_DANE_HOSTS]
    lookups = await asyncio.gather(*(settings.resolver.lookup('_25._tcp.' + host, 'TLSA') for host in hosts))
    return any(lookup.records for lookup in lookups)


def _texts(records: t.Sequence[str]) -> list[str]:
    return [txt_text(record) for record in records]


async def check_domain(mxset: MXSet, settings: ProbeSettings) -> list[Finding]:
    """STS-1..3 and RPT-1 of one domain (check_domain_outcome without the record)."""
    return (await check_domain_outcome(mxset, settings)).findings


async def check_domain_outcome(mxset: MXSet, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point: STS-1..3 and RPT-1 of one domain, and its StsRecord (None when nothing was looked up)."""
    domain = mxset.domain
    if mxset.error or mxset.nxdomain:
        return CheckOutcome([])  # MX-1 says why; nothing here is worth asking a DNS that failed
    if settings.resolver is None:
        return CheckOutcome(_all(RULES, SKIPPED, 'not judged: the run handed this check no resolver', domain,
                                 transcript=['** no resolver: nothing looked up']))
    if mxset.null_mx and not mxset.null_mx_mixed:
        return CheckOutcome(_all(RULES, SKIPPED, 'null MX (RFC 7505): the domain accepts no mail, no transport policy applies',
                                 domain, applies=False, transcript=['** DNS %s MX: 0 .' % domain]))
    record = StsRecord()
    found = await _check(mxset, settings, record)
    return CheckOutcome(found, record)


async def _check(mxset: MXSet, settings: ProbeSettings, record: StsRecord) -> list[Finding]:
    domain = mxset.domain
    sts_name, rpt_name = '_mta-sts.' + domain, '_smtp._tls.' + domain
    sts = await settings.resolver.lookup(sts_name, 'TXT')
    found: list[Finding] = []
    published: list[str] = []
    rpt_task: asyncio.Future[t.Any] | None = None
    sts_texts = _texts(sts.records)
    sts_evidence = evidence(sts_name, 'TXT', sts)
    if sts.error:
        record.published = None
        found += _all(STS_RULES, ERROR, 'the %s TXT lookup failed: %s' % (sts_name, sts.error), domain, transcript=sts_evidence)
    elif not sts_candidates(sts_texts):
        others = ' (%d TXT record%s without v=STSv1)' % (len(sts_texts), '' if len(sts_texts) == 1 else 's') if sts_texts else ''
        found += _all(STS_RULES, SKIPPED, 'no v=STSv1 record at %s%s: MTA-STS not published' % (sts_name, others),
                      domain, applies=False, transcript=sts_evidence)
    else:
        published.append('MTA-STS')
        record.published = True
        rpt_task = asyncio.ensure_future(settings.resolver.lookup(rpt_name, 'TXT'))  # meanwhile
        status, summary, record_id = judge_sts_record(sts_texts)
        record.id = _bounded(record_id) if record_id is not None else None
        found.append(Finding('STS-1', status, summary, domain=domain, transcript=sts_evidence))
        try:
            found += await _policy_findings(mxset, settings, record)
        except BaseException:
            rpt_task.cancel()
            raise
    if rpt_task is None:
        # The TLS-RPT record matters only to a domain with a policy to report on: without MTA-STS, DANE decides
        # whether it is looked up at all (a bulk run of domains without either costs one TXT query per domain).
        if await _dane_published(mxset, settings):
            published.append('DANE')
        elif not sts.error:
            found.append(Finding('RPT-1', SKIPPED, 'neither MTA-STS nor DANE published: TLS-RPT not looked up', domain=domain,
                                 applies=False, transcript=sts_evidence))
            return found
        rpt_task = asyncio.ensure_future(settings.resolver.lookup(rpt_name, 'TXT'))
    rpt = await rpt_task
    rpt_evidence = evidence(rpt_name, 'TXT', rpt)
    if rpt.error:
        found.append(Finding('RPT-1', ERROR, 'the %s TXT lookup failed: %s' % (rpt_name, rpt.error), domain=domain,
                             transcript=rpt_evidence))
        return found
    rpt_texts = _texts(rpt.records)
    rpt_candidates = [text for text in rpt_texts if _RPT_START.match(text)]
    record.learn_rua(parse_tlsrpt_record(rpt_candidates[0])[0] if len(rpt_candidates) == 1 else [])
    status, summary, applies = judge_tlsrpt(rpt_texts, published)
    found.append(Finding('RPT-1', status, summary, domain=domain, applies=applies, transcript=rpt_evidence))
    return found


async def _policy_findings(mxset: MXSet, settings: ProbeSettings, record: StsRecord | None = None) -> list[Finding]:
    """STS-2 and STS-3 of a domain that publishes a v=STSv1 record."""
    domain = mxset.domain
    fetched = await fetch_policy(domain, settings)
    if record is not None and fetched.policy is not None:
        record.learn_policy(fetched.policy)
    policy_evidence = fetched.transcript or ['** the policy was not fetched']
    found = [Finding('STS-2', fetched.status, fetched.summary, domain=domain, transcript=policy_evidence)]
    if fetched.policy is None or not fetched.policy.valid:
        found.append(Finding('STS-3', SKIPPED, 'not judged: no valid policy was fetched (STS-2)', domain=domain,
                             transcript=list(policy_evidence)))
        return found
    for item in await judge_hosts(mxset, fetched.policy, settings):
        item.transcript = item.transcript or list(policy_evidence)
        found.append(item)
    return found
