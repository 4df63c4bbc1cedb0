# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The common options of every module: argument spec and validation.

Everything a user typed is checked here, before a packet is sent: domain
names (IDN converted to A-labels), ports, the EHLO name, the envelope
sender, addresses, timeouts. A bad value gives an OptionError naming it.
"""

from __future__ import annotations

import ipaddress
import socket
import typing as t
from dataclasses import dataclass, field

from . import _protocol as protocol

try:
    import idna as _idna  # IDNA 2008 (UTS 46), when the managed host has it
except ImportError:  # pragma: no cover - depends on the host
    _idna = None


class OptionError(ValueError):
    """An option has a bad value; the message names the option and the value."""


COMMON_ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    'domain': {'type': 'str'},
    'domains': {'type': 'list', 'elements': 'str'},
    'port': {'type': 'int', 'default': 25},
    'helo_name': {'type': 'str'},
    'mail_from': {'type': 'str'},
    'timeout': {'type': 'float', 'default': 10.0},
    'addresses': {'type': 'list', 'elements': 'str'},
    'deadline': {'type': 'float', 'default': 3600.0},
    'concurrency': {'type': 'int', 'default': 100},
    'per_address': {'type': 'int', 'default': 2},
    'policy': {
        'type': 'dict',
        'options': {
            'levels': {'type': 'list', 'elements': 'str', 'default': ['MUST', 'MUST NOT'],
                       'choices': ['MUST', 'MUST NOT', 'SHOULD', 'SHOULD NOT', 'MAY', 'BCP']},
            'severity': {'type': 'str', 'default': 'high', 'choices': ['info', 'low', 'medium', 'high', 'critical', 'none']},
        },
    },
    'resolver': {
        'type': 'dict',
        'options': {
            'nameservers': {'type': 'list', 'elements': 'str'},
            'port': {'type': 'int', 'default': 53},
            'timeout': {'type': 'float', 'default': 5.0},
        },
    },
    'tls_ca_file': {'type': 'path'},
}

COMMON_MUTUALLY_EXCLUSIVE = [('domain', 'domains')]


@dataclass
class ResolverOptions:
    nameservers: list[str] = field(default_factory=list)
    port: int = 53
    timeout: float = 5.0


@dataclass
class Options:
    domains: list[str]
    port: int = 25
    helo_name: str = 'localhost.localdomain'
    mail_from: str = 'postmaster@localhost.localdomain'
    timeout: float = 10.0
    addresses: list[str] = field(default_factory=list)
    resolver: ResolverOptions = field(default_factory=ResolverOptions)
    deadline: float = 3600.0      # seconds for the whole call
    concurrency: int = 100        # SMTP sessions open at once, over all addresses
    per_address: int = 2          # SMTP sessions open at once to one address
    tls_ca_file: str | None = None  # PEM trust anchors for TLS-4 instead of the system store


def to_a_label(domain: t.Any, option: str = 'domain') -> str:
    """An IDN or ASCII domain as lower-case A-labels without a trailing dot."""
    if not isinstance(domain, str) or not domain.strip():
        raise OptionError('%s: a domain name is required, got %r' % (option, domain))
    text = domain.strip().rstrip('.')
    try:
        if text.isascii():
            ascii_text = text.lower()
        elif _idna is not None:
            ascii_text = _idna.encode(text, uts46=True).decode('ascii')
        else:
            ascii_text = text.encode('idna').decode('ascii').lower()
    except (UnicodeError, ValueError) as exc:
        raise OptionError('%s: %r is not a valid internationalized domain name (%s)' % (option, domain, exc))
    if not protocol.is_domain(ascii_text) or '.' not in ascii_text:
        raise OptionError('%s: %r is not a valid domain name (letters, digits and hyphens in dot-separated labels)'
                          % (option, domain))
    return ascii_text


def _port(value: t.Any, option: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise OptionError('%s: %r is not a TCP port (1-65535)' % (option, value))
    return value


def _positive(value: t.Any, option: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 3600:
        raise OptionError('%s: %r must be a number of seconds greater than 0 (at most 3600)' % (option, value))
    return float(value)


def _count(value: t.Any, option: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10000:
        raise OptionError('%s: %r must be a whole number of at least 1 (at most 10000)' % (option, value))
    return value


def _deadline(value: t.Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 86400:
        raise OptionError('deadline: %r must be a number of seconds greater than 0 (at most 86400)' % (value,))
    return float(value)


def _address(value: t.Any, option: str) -> str:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise OptionError('%s: %r is not an IPv4 or IPv6 address' % (option, value))


def default_helo_name() -> str:
    """This host's FQDN, as the EHLO name (RFC 5321 4.1.4 wants the client's primary host name)."""
    return socket.getfqdn()


def parse(params: dict[str, t.Any], *, require_domain: bool = True, smtp: bool = True) -> Options:
    """Validate the common options of a module call; raises OptionError.

    With ``smtp`` false (DNS-only modules) no default EHLO name is looked up.
    """
    domains: list[str] = []
    if params.get('domain') is not None:
        domains.append(to_a_label(params['domain']))
    for index, domain in enumerate(params.get('domains') or []):
        domains.append(to_a_label(domain, 'domains[%d]' % index))
    domains = list(dict.fromkeys(domains))  # duplicates dropped, order kept (a list scan would be quadratic)
    if require_domain and not domains:
        raise OptionError('one of domain or domains is required')

    helo_name = params.get('helo_name')
    if helo_name is None and not smtp:
        helo_name = 'localhost.localdomain'
    elif helo_name is None:
        helo_name = default_helo_name()
        if not protocol.is_domain(helo_name) or '.' not in helo_name:
            raise OptionError('helo_name: this host\'s name %r is not a fully qualified domain name; '
                              'set helo_name' % helo_name)
    else:
        if not protocol.is_address_literal(helo_name):
            helo_name = to_a_label(helo_name, 'helo_name')
    try:
        protocol.check_helo_name(helo_name)
    except protocol.CommandError as exc:
        raise OptionError('helo_name: %s' % exc)

    mail_from = params.get('mail_from')
    if mail_from is None:
        mail_from = 'postmaster@' + (helo_name if not helo_name.startswith('[') else 'localhost.localdomain')
    try:
        protocol.check_path(mail_from)
    except protocol.CommandError as exc:
        raise OptionError('mail_from: %s (use a real mailbox; the null sender is probed separately)' % exc)

    resolver_params = params.get('resolver') or {}
    resolver = ResolverOptions(
        nameservers=[_address(ns, 'resolver.nameservers') for ns in resolver_params.get('nameservers') or []],
        port=_port(resolver_params.get('port', 53), 'resolver.port'),
        timeout=_positive(resolver_params.get('timeout', 5.0), 'resolver.timeout'),
    )
    addresses = []
    for value in params.get('addresses') or []:
        address = _address(value, 'addresses')
        if address not in addresses:
            addresses.append(address)
    if addresses and len(domains) > 1:
        raise OptionError('addresses: can be given with one domain only (they stand for its MX hosts)')

    return Options(
        domains=domains,
        port=_port(params.get('port', 25), 'port'),
        helo_name=helo_name,
        mail_from=mail_from,
        timeout=_positive(params.get('timeout', 10.0), 'timeout'),
        addresses=addresses,
        resolver=resolver,
        deadline=_deadline(params.get('deadline', 3600.0)),
        concurrency=_count(params.get('concurrency', 100), 'concurrency'),
        per_address=_count(params.get('per_address', 2), 'per_address'),
        tls_ca_file=tls_ca_file(params.get('tls_ca_file')),
    )


def tls_ca_file(value: t.Any) -> str | None:
    """A readable PEM file of trust anchors, checked before a packet is sent (None: the system store)."""
    if value is None or value == '':
        return None
    path = str(value)
    try:
        with open(path, 'rb') as handle:
            head = handle.read(1 << 20)
    except OSError as exc:
        raise OptionError('tls_ca_file: cannot read %s: %s' % (path, exc.strerror or exc))
    if b'-----BEGIN CERTIFICATE-----' not in head:
        raise OptionError('tls_ca_file: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)' % path)
    return path


def relay_recipient(value: t.Any, domains: t.Sequence[str]) -> str:
    """The foreign mailbox of the relay probes: a valid mailbox at a domain none of the audited ones."""
    if not isinstance(value, str) or '@' not in value:
        raise OptionError('relay_recipient: %r is not a mailbox (local-part@domain)' % (value,))
    local, domain = value.rsplit('@', 1)
    address = '%s@%s' % (local, to_a_label(domain, 'relay_recipient'))
    try:
        protocol.check_path(address)
    except protocol.CommandError as exc:
        raise OptionError('relay_recipient: %s' % exc)
    foreign = address.rsplit('@', 1)[1]
    for domain in domains:
        if foreign == domain or foreign.endswith('.' + domain):
            raise OptionError('relay_recipient: %r is at the audited domain %s; relaying is tested with a foreign domain'
                              % (value, domain))
    return address
