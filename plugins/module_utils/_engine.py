# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""Runs checks over domains: DNS to targets, targets to sessions, results to dicts.

Every module is this engine run with some checks: the modules only parse
their options and call one of the ``run_*`` functions.
"""

from __future__ import annotations

import asyncio
import typing as t
from dataclasses import dataclass, field

from ._checks.mx import judge_mx
from ._checks.probe import ProbeSettings, Target
from ._checks.session import probe_session
from ._dns import MXSet, Resolver
from ._findings import PASS, Finding, is_compliant
from ._options import Options

CheckFunction = t.Callable[[Target, ProbeSettings], t.Awaitable[t.List[Finding]]]

# Simultaneous sessions of one run; the bulk audit module makes this an option.
DEFAULT_CONCURRENCY = 20


@dataclass
class DomainTargets:
    domain: str
    mx: MXSet | None
    targets: list[Target] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def make_resolver(options: Options) -> Resolver:
    return Resolver(options.resolver.nameservers or None, options.resolver.port, options.resolver.timeout)


async def domain_targets(resolver: Resolver | None, domain: str, options: Options) -> DomainTargets:
    """The addresses to probe for a domain: the ``addresses`` given, or every address of every MX."""
    if options.addresses:
        return DomainTargets(domain, None, [Target(domain, None, address) for address in options.addresses])
    if resolver is None:
        raise ValueError('a resolver is needed when no addresses are given')
    mx = await resolver.mx(domain)
    return DomainTargets(domain, mx, mx_targets(mx), judge_mx(mx))


def mx_targets(mx: MXSet) -> list[Target]:
    """Every address of every MX host that can be probed (an MX target written as an IP address is not)."""
    return [Target(mx.domain, host.host, address) for host in mx.hosts if not host.is_ip for address in host.addresses]


def probe_settings(options: Options, **check_options: t.Any) -> ProbeSettings:
    return ProbeSettings(port=options.port, helo_name=options.helo_name, mail_from=options.mail_from,
                         timeout=options.timeout, **check_options)


async def _bounded(coroutines: t.Iterable[t.Awaitable[t.Any]], limit: int) -> list[t.Any]:
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: t.Awaitable[t.Any]) -> t.Any:
        async with semaphore:
            return await coroutine

    return list(await asyncio.gather(*(run(coroutine) for coroutine in coroutines)))


async def _mx_info(options: Options) -> dict[str, t.Any]:
    resolver = make_resolver(options)
    results = await asyncio.gather(*(resolver.mx(domain) for domain in options.domains))
    domains = []
    for mx in results:
        findings = judge_mx(mx)
        domains.append({
            'domain': mx.domain,
            'mx': mx.to_dict(),
            'implicit_mx': mx.implicit,
            'null_mx': mx.null_mx,
            'findings': [finding.to_dict() for finding in findings],
            'compliant': is_compliant(findings),
        })
    return _collect(domains)


async def _smtp_info(options: Options) -> dict[str, t.Any]:
    resolver = None if options.addresses else make_resolver(options)
    resolved = await asyncio.gather(*(domain_targets(resolver, domain, options) for domain in options.domains))
    settings = probe_settings(options)
    jobs = [(item, target) for item in resolved for target in item.targets]
    reports = await _bounded((probe_session(job[1], settings) for job in jobs), DEFAULT_CONCURRENCY)
    by_domain: dict[str, list[t.Any]] = {item.domain: [] for item in resolved}
    for job, report in zip(jobs, reports):
        by_domain[job[0].domain].append(report)
    domains = []
    for item in resolved:
        findings = list(item.findings)
        for report in by_domain[item.domain]:
            findings.extend(report.findings)
        domains.append({
            'domain': item.domain,
            'mx': item.mx.to_dict() if item.mx is not None else [],
            'sessions': [report.to_dict() for report in by_domain[item.domain]],
            'findings': [finding.to_dict() for finding in findings],
            'compliant': is_compliant(findings),
        })
    result = _collect(domains)
    result['sessions'] = [session for domain in domains for session in domain['sessions']]
    return result


async def _check(options: Options, check: CheckFunction, settings: ProbeSettings) -> dict[str, t.Any]:
    resolver = None if options.addresses else make_resolver(options)
    resolved = await asyncio.gather(*(domain_targets(resolver, domain, options) for domain in options.domains))
    jobs = [(item, target) for item in resolved for target in item.targets]
    results = await _bounded((check(job[1], settings) for job in jobs), DEFAULT_CONCURRENCY)
    by_domain: dict[str, list[Finding]] = {item.domain: [] for item in resolved}
    for job, findings in zip(jobs, results):
        by_domain[job[0].domain].extend(findings)
    domains = []
    for item in resolved:
        # The DNS findings that explain why a target was not probed (or is odd); a plain MX-1 pass is noise here.
        findings = [finding for finding in item.findings if finding.status != PASS or finding.rule != 'MX-1']
        findings.extend(by_domain[item.domain])
        domains.append({
            'domain': item.domain,
            'mx': item.mx.to_dict() if item.mx is not None else [],
            'findings': [finding.to_dict() for finding in findings],
            'compliant': is_compliant(findings),
        })
    return _collect(domains)


def _collect(domains: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    findings = [finding for domain in domains for finding in domain['findings']]
    result: dict[str, t.Any] = {
        'domains': domains,
        'findings': findings,
        'compliant': all(domain['compliant'] for domain in domains),
    }
    if len(domains) == 1:
        result['mx'] = domains[0]['mx']
    return result


def run_mx_info(options: Options) -> dict[str, t.Any]:
    return asyncio.run(_mx_info(options))


def run_smtp_info(options: Options) -> dict[str, t.Any]:
    return asyncio.run(_smtp_info(options))


def run_check(options: Options, check: CheckFunction, **check_options: t.Any) -> dict[str, t.Any]:
    """A single-check module: the check at every address of every MX of every domain."""
    return asyncio.run(_check(options, check, probe_settings(options, **check_options)))
