# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""ID-1 and ID-2: does the server's address and name hold together in DNS?

ID-1 (RFC 1912 2.1): the address has a PTR whose name resolves back to it
(forward-confirmed reverse DNS); receivers score mail from an address
without it as suspicious, and an MX is usually also an outbound relay.
ID-2 (RFC 5321 4.1.1.1, 4.3.1): the name in the greeting (else in the EHLO
reply) is a fully qualified domain name that resolves to the address.
Both are judged from DNS and the greeting/EHLO of the shared server
session: no extra SMTP traffic. A DNS failure is `error`, never a warning.
"""

from __future__ import annotations

import ipaddress
import typing as t

from .. import _protocol as protocol
from .._dns import Lookup, Resolver, relative
from .._findings import ERROR, PASS, SKIPPED, WARN, Finding, Rule, define_rules
from .probe import ProbeSession, Target, finding

CHECK = 'identity'
RULES = define_rules(CHECK, (
    Rule('ID-1', 'SHOULD', 'low', 'RFC 1912 2.1', 'The address has a PTR whose name resolves back to it (forward-confirmed reverse DNS)'),
    Rule('ID-2', 'SHOULD', 'low', 'RFC 5321 4.1.1.1, 4.3.1',
         'The greeting (or EHLO) host name is a fully qualified name that resolves to the server address'),
))
# PTR names followed forward at most: a hostile zone cannot make one address cost unbounded lookups.
MAX_PTR_NAMES = 5
NO_RESOLVER = 'not judged: the run handed this check no resolver'


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def judge_fcrdns(address: str, ptr: Lookup, forward: t.Mapping[str, list[str]], errors: t.Sequence[str]) -> tuple[str, str]:
    """ID-1 from the PTR lookup and the A/AAAA of each PTR name (name -> addresses)."""
    if ptr.error:
        return ERROR, 'the PTR lookup of %s failed: %s' % (address, ptr.error)
    names = [relative(name) for name in ptr.records]
    if ptr.nxdomain or not names:
        return WARN, '%s has no PTR record: receivers treat mail from an address without reverse DNS as suspect' % address
    confirmed = [name for name in names if any(_same_address(found, address) for found in forward.get(name, []))]
    if confirmed:
        return PASS, 'PTR %s resolves back to %s' % (confirmed[0], address)
    if errors and len(errors) >= len(names[:MAX_PTR_NAMES]):
        return ERROR, 'the PTR of %s is %s, but its forward lookup failed: %s' % (address, ', '.join(names), '; '.join(errors))
    shown = '; '.join('%s -> %s' % (name, ', '.join(forward.get(name, [])) or 'no address') for name in names[:MAX_PTR_NAMES])
    return WARN, 'the PTR of %s does not resolve back to it (%s): reverse DNS is not forward-confirmed' % (address, shown)


def judge_banner_name(name: str | None, address: str, addresses: list[str] | None, error: str | None) -> tuple[str, str]:
    """ID-2 from the host name the server gives itself and its A/AAAA records (None: NXDOMAIN or not looked up)."""
    if name is None:
        return WARN, 'the greeting and the EHLO reply give no host name (an address literal or none)'
    if '.' not in name.rstrip('.') or not protocol.is_domain(name.rstrip('.')):
        return WARN, 'the server calls itself "%s", which is not a fully qualified domain name (RFC 5321 4.1.1.1)' % name
    if error:
        return ERROR, 'the A/AAAA lookup of %s failed: %s' % (name, error)
    if not addresses:
        return WARN, 'the server calls itself %s, which has no address in DNS' % name
    if any(_same_address(found, address) for found in addresses):
        return PASS, 'the server calls itself %s, which resolves to %s' % (name, address)
    return WARN, 'the server calls itself %s, which resolves to %s, not to %s' % (name, ', '.join(addresses), address)


async def check_identity(resolver: Resolver, address: str, banner: str | None) -> dict[str, tuple[str, str]]:
    """ID-1 and ID-2 at one address: DNS only, with the name the server gave itself."""
    ptr = await resolver.ptr(address)
    forward: dict[str, list[str]] = {}
    errors: list[str] = []
    for name in [relative(record) for record in ptr.records][:MAX_PTR_NAMES]:
        host = await resolver.addresses(name)
        forward[name] = list(host.addresses)
        errors.extend(host.errors)
    verdicts = {'ID-1': judge_fcrdns(address, ptr, forward, errors)}
    if banner is None:
        verdicts['ID-2'] = judge_banner_name(None, address, None, None)
    else:
        host = await resolver.addresses(banner)
        error = '; '.join(host.errors) if host.errors and not host.addresses else None
        verdicts['ID-2'] = judge_banner_name(banner, address, host.addresses, error)
    return verdicts


def _banner(probe: ProbeSession) -> str | None:
    """The host name of the greeting, else of the EHLO reply; None for an address literal or nothing."""
    if probe.greeting is not None:
        name = protocol.greeting_domain(probe.greeting)
        if name and not name.startswith('['):
            return name
    if probe.hello is not None and probe.hello.capabilities is not None:
        name = probe.hello.capabilities.domain
        if name and not name.startswith('['):
            return name
    return None


async def probe_identity(probe: ProbeSession, target: Target) -> list[Finding]:
    """The registry's entry point: on the shared server session, which has greeted and said EHLO."""
    transcript = list(probe.header)
    resolver = getattr(probe.settings, 'resolver', None)
    if resolver is None:
        return [finding(rule, SKIPPED, NO_RESOLVER, target, transcript) for rule in RULES]
    verdicts = await check_identity(resolver, target.address, _banner(probe))
    return [finding(rule, verdicts[rule][0], verdicts[rule][1], target, transcript) for rule in RULES]
