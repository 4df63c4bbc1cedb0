# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""One run of the engine: every module is this with a list of checks.

1. The domains, validated (an invalid name is reported, not dropped).
2. DNS for every domain at once, with one cache (MX hosts shared by many
   domains are resolved once), bounded by the deadline.
3. The plan (plan.py): jobs per address from the check registry.
4. The schedule (schedule.py): caps, back-off, deadline, one retry of 4xx.
5. The DOMAIN-scope checks with network work of their own (domains.py:
   fetches alongside the jobs, their SMTP sessions after them, bounded by
   the concurrency and the deadline).
6. The findings collected per domain, in registry order; the DOMAIN-scope
   checks judged from DNS.
"""

from __future__ import annotations

import asyncio
import typing as t

from .._checks.probe import ProbeSettings
from .._checks.registry import CHECKS, DOMAIN, RULE_ORDER
from .._checks import mx as mx_check
from .._findings import PASS
from .._options import Options
from .._run_state import RunState
from .._verdict import judge_domain, worst
from . import results as shaping
from . import domains, schedule
from .plan import Job, plan
from .settings import RunSettings
from .stats import stats, vantage_point
from .._dns import Resolver
from .targets import DomainResult, domain_results, make_resolver, resolve, targets_by_address


class Engine:
    def __init__(self, options: Options, settings: RunSettings, raw_domains: t.Sequence[t.Any] | None = None) -> None:
        self.options = options
        self.settings = settings
        self.run_state = RunState()
        self.results: dict[str, DomainResult] = domain_results(
            options.domains if raw_domains is None else raw_domains)
        self.jobs: list[Job] = []
        self.resolver: Resolver | None = None
        self.address_count = 0
        self.seconds = 0.0

    def execute(self) -> None:
        asyncio.run(self._run())

    def probe_settings(self, deadline: float | None) -> ProbeSettings:
        return ProbeSettings(port=self.options.port, helo_name=self.options.helo_name,
                             mail_from=self.options.mail_from, timeout=self.options.timeout, deadline=deadline,
                             relay_recipient=self.settings.relay_recipient, relay_variants=self.settings.relay_variants,
                             run=self.run_state, tls_ca_file=self.options.tls_ca_file, resolver=self.resolver,
                             allow_private_addresses=self.options.allow_private_addresses)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.options.deadline
        # One resolver (one cache) for MX lookups and the checks that look names up. With addresses given and no
        # nameservers configured there is none: nothing of the run may fall back to the system resolver unasked.
        if not self.options.addresses or self.options.resolver.nameservers:
            self.resolver = make_resolver(self.options)
        await resolve(self.results.values(), self.options, deadline, self.resolver)
        by_address = targets_by_address(self.results.values(), self.options)
        self.address_count = len(by_address)
        self.jobs = plan(by_address, self.settings.checks)
        settings = self.probe_settings(deadline)
        caps = schedule.Caps(self.options.concurrency, self.options.per_address, deadline, self.options.deadline,
                             self.settings.keep_transcripts)
        jobs_done = domains.start(settings)
        fetches = asyncio.ensure_future(domains.run_fetches(self.results.values(), self.settings.checks, settings, caps))
        try:
            await schedule.run_jobs(self.jobs, settings, caps)
        finally:
            jobs_done.set()
        await fetches
        await schedule.retry_transient(self.jobs, settings, self.settings.retry_4xx, caps)
        self._collect()
        self.seconds = loop.time() - started

    def _domain_findings(self, result: DomainResult) -> list[t.Any]:
        """The DOMAIN-scope findings: every one of a selected check; of the others, what explains a domain not probed."""
        if result.invalid is not None:
            return [mx_check.invalid_domain(result.domain, result.invalid)]
        if result.mx is None:
            return []
        found = []
        for check in CHECKS.values():
            if check.scope != DOMAIN or check.judge is None:
                continue
            if check.id in self.settings.checks:
                found += check.judge(result.mx)
            elif check.explains_targets:
                # Why a domain was not probed stays visible: a null MX's pass too, when nothing was probed.
                found += [finding for finding in check.judge(result.mx) if finding.status != PASS or not result.probes_apply]
        return found

    def _expected_rules(self, result: DomainResult) -> list[str]:
        """The rules the run was meant to decide for a domain: those of every selected check that applies to it."""
        settings = self.probe_settings(None)
        rules: list[str] = []
        for check_id in self.settings.checks:
            check = CHECKS[check_id]
            if check.scope == DOMAIN:
                continue  # the DNS judge says which of its rules concern the domain, by the findings it gives
            if result.probes_apply:
                rules.extend(check.active_rules(settings))
        return rules

    def _collect(self) -> None:
        for job in self.jobs:
            for finding in job.findings:
                result = self.results.get(finding.domain or '')
                if result is not None:
                    result.findings.append(finding)
            if job.record is not None:
                for target in job.targets:
                    result = self.results.get(target.domain or '')
                    if result is not None:
                        result.records.setdefault(job.checks[0].id, []).append((target, job.record))
            for target, record in job.target_records:
                result = self.results.get(target.domain or '')
                if result is not None:
                    result.records.setdefault(job.checks[0].id, []).append((target, record))
        for result in self.results.values():
            probed = sorted(result.findings, key=lambda f: (RULE_ORDER[f.rule], f.address or ''))
            result.findings = self._domain_findings(result) + probed
            result.verdict = judge_domain(result.findings, self._expected_rules(result), self.settings.policy)

    # -------------------------------------------------------------- results

    def vantage_point(self) -> dict[str, t.Any]:
        return vantage_point(self.run_state, self.options.port)

    def stats(self) -> dict[str, t.Any]:
        return stats(list(self.results.values()), self.run_state, self.address_count, self.seconds)

    def domain_dicts(self, transcripts: str | None = None) -> t.Iterator[tuple[DomainResult, dict[str, t.Any]]]:
        for result in self.results.values():
            yield result, shaping.domain_dict(result, transcripts or self.settings.transcripts, self.settings.checks)

    def take_domains(self) -> t.Iterator[tuple[DomainResult, dict[str, t.Any]]]:
        """The domains, each released as it is shaped: a large run's memory peaks once, not twice."""
        self.jobs = []
        for key in list(self.results):
            result = self.results.pop(key)
            yield result, shaping.domain_dict(result, self.settings.transcripts, self.settings.checks)

    def take_result(self) -> dict[str, t.Any]:
        """The audit module's result, built while the run's findings are released."""
        stats = self.stats()
        vantage = self.vantage_point()
        domains = [data for _result, data in self.take_domains()]
        verdict = worst(domain['verdict'] for domain in domains)
        return {'domains': domains, 'stats': stats, 'vantage_point': vantage, 'verdict': verdict,
                'compliant': verdict == 'compliant'}

    def run(self) -> dict[str, t.Any]:
        self.execute()
        return self.take_result()

    def write(self, path: str) -> None:
        """The complete result - every transcript - as JSON, one domain at a time."""
        head = {'stats': self.stats(), 'vantage_point': self.vantage_point()}
        shaping.write_json(path, head, (data for _result, data in self.domain_dicts(transcripts='all')))
