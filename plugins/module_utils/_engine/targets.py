# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""From domain names to the addresses to probe: validation, DNS (bounded by the run's deadline), grouping by address."""

from __future__ import annotations

import asyncio
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
    records: list[tuple[Target, t.Any]] = field(default_factory=list)  # (target, record) of checks that keep one
    verdict: DomainVerdict | None = None   # set when the run's findings are collected

    @property
    def probes_apply(self) -> bool:
        """False for a domain that accepts no mail by its null MX: no SMTP rule applies to it."""
        return not (self.mx is not None and self.mx.null_mx and not self.mx.null_mx_mixed)


def domain_results(raw_domains: t.Sequence[t.Any]) -> dict[str, DomainResult]:
    """Every domain as given, once; an invalid name is kept (as typed) with the reason, not dropped."""
    results: dict[str, DomainResult] = {}
    for index, raw in enumerate(raw_domains):
        try:
            name = to_a_label(raw, 'domains[%d]' % index)
        except OptionError as exc:
            key = str(raw)
            results.setdefault(key, DomainResult(key, invalid=str(exc)))
            continue
        results.setdefault(name, DomainResult(name))
    return results


def make_resolver(options: Options) -> Resolver:
    return Resolver(options.resolver.nameservers or None, options.resolver.port, options.resolver.timeout)


async def resolve(results: t.Iterable[DomainResult], options: Options, deadline: float) -> None:
    """The MX set of every valid domain, at most concurrency lookups at once, none past the deadline."""
    pending = [result for result in results if result.invalid is None]
    if options.addresses or not pending:
        return
    resolver = make_resolver(options)
    semaphore = asyncio.Semaphore(max(options.concurrency, 10))

    async def one(result: DomainResult) -> None:
        async with semaphore:
            result.mx = await resolver.mx(result.domain)

    loop = asyncio.get_running_loop()
    tasks = [asyncio.ensure_future(one(result)) for result in pending]
    done, late = await asyncio.wait(tasks, timeout=max(deadline - loop.time(), 0.0))
    for task in late:
        task.cancel()
    for task in done:
        task.result()  # a bug in the resolver must not pass silently
    for result in pending:
        if result.mx is None:
            result.mx = MXSet(result.domain, error='not resolved: the run\'s deadline was reached')


def mx_targets(mx: MXSet) -> list[Target]:
    """Every address of every MX host that can be probed (an MX target written as an IP address is not)."""
    return [Target(mx.domain, host.host, address) for host in mx.hosts if not host.is_ip for address in host.addresses]


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
