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
    'max_mx_hosts': {'type': 'int', 'default': 10},
    'max_addresses_per_host': {'type': 'int', 'default': 4},
    'allow_private_addresses': {'type': 'bool', 'default': False},
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

# The highest values of the DNS caps: a DNS message holds at most about 4,000 records anyway.
MAX_MX_HOSTS = 1000
MAX_ADDRESSES_PER_HOST = 100


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
    max_mx_hosts: int = 10        # MX hosts of one domain looked up and probed (lowest preference first)
    max_addresses_per_host: int = 4   # addresses of one MX host probed
    allow_private_addresses: bool = False   # probe addresses from DNS that are not globally routable
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


def _limit(value: t.Any, option: str, highest: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= highest:
        raise OptionError('%s: %r must be a whole number from 1 to %d' % (option, value, highest))
    return value


def _flag(value: t.Any, option: str) -> bool:
    if not isinstance(value, bool):
        raise OptionError('%s: %r must be true or false' % (option, value))
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


def _domains(params: dict[str, t.Any], require_domain: bool) -> list[str]:
    domains: list[str] = []
    if params.get('domain') is not None:
        domains.append(to_a_label(params['domain']))
    for index, domain in enumerate(params.get('domains') or []):
        domains.append(to_a_label(domain, 'domains[%d]' % index))
    domains = list(dict.fromkeys(domains))  # duplicates dropped, order kept (a list scan would be quadratic)
    if require_domain and not domains:
        raise OptionError('one of domain or domains is required')
    return domains


def _helo_name(params: dict[str, t.Any], smtp: bool) -> str:
    helo_name = params.get('helo_name')
    if helo_name is None and not smtp:
        return 'localhost.localdomain'
    if helo_name is None:
        helo_name = default_helo_name()
        if not protocol.is_domain(helo_name) or '.' not in helo_name:
            # Containers and execution-environment pods rarely have one. RFC 5321 4.1.4 lets a client without
            # a meaningful domain name greet with the address literal of its side of the connection instead.
            return protocol.LOCAL_ADDRESS_LITERAL
    elif not protocol.is_address_literal(helo_name):
        helo_name = to_a_label(helo_name, 'helo_name')
    try:
        protocol.check_helo_name(helo_name)
        # The commands every session sends with the name, built as the sessions will build them.
        protocol.ehlo(helo_name)
        protocol.helo(helo_name)
    except protocol.CommandError as exc:
        raise OptionError('helo_name: %s' % exc)
    return str(helo_name)


def _mail_from(params: dict[str, t.Any], helo_name: str) -> str:
    mail_from = params.get('mail_from')
    derived = mail_from is None
    if derived:
        mail_from = 'postmaster@' + (helo_name if not helo_name.startswith('[') else 'localhost.localdomain')
    try:
        protocol.check_path(mail_from)
        # Its only use is MAIL FROM (probe transactions, the pipelined group, the session check).
        protocol.mail_from(mail_from)
    except protocol.CommandError as exc:
        if derived:
            raise OptionError('mail_from: the default postmaster@%s made from helo_name cannot be sent: %s; set mail_from'
                              % (helo_name, exc))
        raise OptionError('mail_from: %s (use a real mailbox; the null sender is probed separately)' % exc)
    return str(mail_from)


def _resolver(params: dict[str, t.Any]) -> ResolverOptions:
    resolver_params = params.get('resolver') or {}
    return ResolverOptions(
        nameservers=[_address(ns, 'resolver.nameservers') for ns in resolver_params.get('nameservers') or []],
        port=_port(resolver_params.get('port', 53), 'resolver.port'),
        timeout=_positive(resolver_params.get('timeout', 5.0), 'resolver.timeout'),
    )


def _addresses(params: dict[str, t.Any]) -> list[str]:
    addresses: list[str] = []
    for value in params.get('addresses') or []:
        address = _address(value, 'addresses')
        if address not in addresses:
            addresses.append(address)
    return addresses


def parse(params: dict[str, t.Any], *, require_domain: bool = True, smtp: bool = True) -> Options:
    """Validate the common options of a module call; raises OptionError.

    Every option is checked, and every bad one is named in one error, in the order the options were
    written (a task's arguments keep their order), so a user fixes them all in one go. With ``smtp``
    false (DNS-only modules) no default EHLO name is looked up.
    """
    errors: list[tuple[str, str]] = []

    def checked(option: str, check: t.Callable[[], t.Any], fallback: t.Any) -> t.Any:
        try:
            return check()
        except OptionError as exc:
            errors.append((option, str(exc)))
            return fallback

    domains = checked('domains' if params.get('domain') is None else 'domain',
                      lambda: _domains(params, require_domain), [])
    helo_name = checked('helo_name', lambda: _helo_name(params, smtp), None)
    mail_from = checked('mail_from', lambda: _mail_from(params, helo_name), '') if helo_name is not None else ''
    resolver = checked('resolver', lambda: _resolver(params), ResolverOptions())
    addresses = checked('addresses', lambda: _addresses(params), [])
    if addresses and len(domains) > 1:
        errors.append(('addresses', 'addresses: can be given with one domain only (they stand for its MX hosts)'))
    values: dict[str, t.Any] = {}
    for option, check in (
            ('port', lambda: _port(params.get('port', 25), 'port')),
            ('timeout', lambda: _positive(params.get('timeout', 10.0), 'timeout')),
            ('deadline', lambda: _deadline(params.get('deadline', 3600.0))),
            ('concurrency', lambda: _count(params.get('concurrency', 100), 'concurrency')),
            ('per_address', lambda: _count(params.get('per_address', 2), 'per_address')),
            ('max_mx_hosts', lambda: _limit(params.get('max_mx_hosts', 10), 'max_mx_hosts', MAX_MX_HOSTS)),
            ('max_addresses_per_host', lambda: _limit(params.get('max_addresses_per_host', 4), 'max_addresses_per_host',
                                                      MAX_ADDRESSES_PER_HOST)),
            ('allow_private_addresses', lambda: _flag(params.get('allow_private_addresses', False),
                                                      'allow_private_addresses')),
            ('tls_ca_file', lambda: tls_ca_file(params.get('tls_ca_file')))):
        values[option] = checked(option, check, None)
    if errors:
        written = {key: index for index, key in enumerate(params)}
        errors.sort(key=lambda error: written.get(error[0], len(written)))
        raise OptionError('; '.join(message for _option, message in errors))
    return Options(domains=domains, helo_name=helo_name, mail_from=mail_from, addresses=addresses, resolver=resolver,
                   **values)


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
    # The foreign domain and each domain above it, looked up in the audited ones (not each audited one in turn).
    labels = foreign.split('.')
    audited = set(domains)
    for start in range(len(labels)):
        domain = '.'.join(labels[start:])
        if domain in audited:
            raise OptionError('relay_recipient: %r is at the audited domain %s; relaying is tested with a foreign domain'
                              % (value, domain))
    return address
