# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""From domain names to the addresses to probe: validation, DNS (bounded by the run's deadline), grouping by address.

Which addresses found in DNS are probed is decided here (select_addresses):
not those that are not globally routable (an audited domain can point its
MX at 10.x, 127.x or 169.254.x, inside the auditor's own network) unless
allow_private_addresses is set, and at most max_addresses_per_host per MX
host. What is left out is kept on the MX host for the MX-1 findings.
Addresses given with ``addresses`` are the user's own choice and always
probed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import typing as t
from dataclasses import dataclass, field

from .._checks.probe import Target
from .._dns import MXSet, Resolver
from .._findings import Finding
from .._options import OptionError, Options, to_a_label
from .._verdict import DomainVerdict


@dataclass
class DomainResult:
    """One domain of the run: its MX set, its findings, and what the module shows besides them."""

    domain: str
    mx: MXSet | None = None
    invalid: str | None = None             # why the name was not audited
    findings: list[Finding] = field(default_factory=list)
    # check id -> (target, record) of the checks that keep a record (session: smtp_info's sessions; tls: the tls list)
    records: dict[str, list[tuple[Target, t.Any]]] = field(default_factory=dict)
    verdict: DomainVerdict | None = None   # set when the run's findings are collected

    @property
    def probes_apply(self) -> bool:
        """False for a domain that accepts no mail by its null MX: no SMTP rule applies to it."""
        return not (self.mx is not None and self.mx.null_mx and not self.mx.null_mx_mixed)


def domain_results(raw_domains: t.Sequence[t.Any]) -> dict[str, DomainResult]:
    """Every domain as given, once; an invalid name is kept (as typed) with the reason, not dropped.

    Items that are already DomainResults (validated by the caller) are kept as they are, so a name is
    converted to A-labels once per run, however many steps need the validated list.
    """
    results: dict[str, DomainResult] = {}
    for index, raw in enumerate(raw_domains):
        if isinstance(raw, DomainResult):
            results.setdefault(raw.domain, raw)
            continue
        try:
            name = to_a_label(raw, 'domains[%d]' % index)
        except OptionError as exc:
            key = str(raw)
            results.setdefault(key, DomainResult(key, invalid=str(exc)))
            continue
        results.setdefault(name, DomainResult(name))
    return results


def make_resolver(options: Options) -> Resolver:
    return Resolver(options.resolver.nameservers or None, options.resolver.port, options.resolver.timeout,
                    max_mx_hosts=options.max_mx_hosts)


async def resolve(results: t.Iterable[DomainResult], options: Options, deadline: float,
                  resolver: Resolver | None = None) -> None:
    """The MX set of every valid domain, at most concurrency domains at once, none past the deadline."""
    pending = [result for result in results if result.invalid is None]
    if options.addresses or not pending:
        return
    resolver = resolver or make_resolver(options)
    queue = iter(pending)

    async def worker() -> None:
        # A fixed pool of workers taking the domains in turn: one task per domain waiting on a semaphore
        # costs time and memory that grow faster than the number of domains (asyncio wakes its waiters
        # by scanning them).
        for result in queue:
            result.mx = await resolver.mx(result.domain)
            select_addresses(result.mx, options)

    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(worker()) for _index in range(min(len(pending), max(options.concurrency, 10)))]
    done, late = await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.0))
    for task in late:
        task.cancel()
    for task in done:
        task.result()  # a bug in the resolver must not pass silently
    for result in pending:
        if result.mx is None:
            result.mx = MXSet(result.domain, error='not resolved: the run\'s deadline was reached')


# The well-known NAT64 prefix (RFC 6052): the low 32 bits are the IPv4 address reached.
NAT64_PREFIX = ipaddress.IPv6Network('64:ff9b::/96')


def is_globally_routable(address: str) -> bool:
    """Whether mail from the Internet could reach this address (RFC 6890 registries, as ipaddress knows them).

    An IPv6 address that embeds an IPv4 one (IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16, the NAT64
    prefix 64:ff9b::/96) is judged by the IPv4 address it leads to; multicast is never an MX.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_globally_routable(str(embedded))
    return ip.is_global and not ip.is_multicast


def select_addresses(mx: MXSet, options: Options) -> None:
    """Mark on each MX host the addresses not probed: private ones (unless allowed), then those beyond the cap.

    The cap keeps IPv4 and IPv6 addresses in turn, so a host with both is probed over both, each in
    numeric order: DNS servers shuffle their answers, and a run must probe the same addresses as the last.
    """
    for host in mx.hosts:
        host.private = [] if options.allow_private_addresses else sorted(
            (address for address in host.addresses if not is_globally_routable(address)), key=_numeric)
        private = set(host.private)
        candidates = [address for address in host.addresses if address not in private]
        host.beyond_cap = []
        if len(candidates) > options.max_addresses_per_host:
            ipv4 = sorted((address for address in candidates if ':' not in address), key=_numeric)
            ipv6 = sorted((address for address in candidates if ':' in address), key=_numeric)
            turns = [address for pair in itertools.zip_longest(ipv4, ipv6) for address in pair if address is not None]
            host.beyond_cap = turns[options.max_addresses_per_host:]


def _numeric(address: str) -> int:
    try:
        return int(ipaddress.ip_address(address))
    except ValueError:
        return -1


def mx_targets(mx: MXSet) -> list[Target]:
    """Every probed address of every MX host (an MX target written as an IP address is not probed)."""
    return [Target(mx.domain, host.host, address)
            for host in mx.hosts if not host.is_ip for address in host.probed_addresses]


def targets_by_address(results: t.Iterable[DomainResult], options: Options) -> dict[str, list[Target]]:
    """MX address -> the (domain, MX host) pairs it serves, in domain order."""
    by_address: dict[str, list[Target]] = {}
    for result in results:
        if result.invalid is not None:
            continue
        if options.addresses:
            targets = [Target(result.domain, None, address) for address in options.addresses]
        elif result.mx is not None:
            targets = mx_targets(result.mx)
        else:
            targets = []
        for target in targets:
            by_address.setdefault(target.address, []).append(target)
    return by_address
