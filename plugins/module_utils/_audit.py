# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The bulk audit: every check over thousands of domains in one asyncio run.

Shape of a run:
1. DNS for every domain at once (one cache: MX hosts shared by many
   domains are resolved once).
2. Domains grouped by MX address. What belongs to the server rather than
   the domain - session conformance, pipelining, relaying, the null sender
   - is probed once per address and reported for every domain it serves;
   postmaster and recipient validation are per domain, several domains per
   session, one transaction each, RSET between. Pipelining always gets
   sessions of its own: sharing could skew it.
3. Jobs (one SMTP session's worth of work each) run under two caps: at
   most ``per_address`` connections to one address and ``concurrency``
   in all; an address that refuses, cannot be reached, never greets or
   says 421 is backed off for the rest of the run (RunState).
4. An overall ``deadline``: what has not started by then is inconclusive,
   and running sessions stop at it.
5. ``retry_4xx``: jobs that met a 4xx run once more after that many seconds.
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from dataclasses import dataclass, field

from ._checks import null_sender, pipelining, postmaster, recipient, relay
from ._checks.mx import judge_mx
from ._checks.probe import Problem, ProbeSession, ProbeSettings, RunState, Target, problem_findings
from ._checks.session import RULES as SESSION_RULES
from ._checks.session import probe_session
from ._dns import MXSet, Resolver
from ._engine import mx_targets
from ._findings import CATALOGUE, ERROR, FAIL, INCONCLUSIVE, PASS, STATUSES, Finding, is_compliant
from ._options import OptionError, Options, to_a_label

CHECKS = ('mx', 'session', 'postmaster', 'null_sender', 'recipient', 'relay', 'pipelining')
# The order of findings within a domain: the catalogue's.
RULE_ORDER = {rule: index for index, rule in enumerate(CATALOGUE)}
# Domains of one address that share an envelope session (a transaction each, RSET between).
DOMAINS_PER_SESSION = 8
TRANSCRIPTS = ('failures', 'all', 'none')
# The vantage point is judged blocked when every connection of the run failed, to at least this many addresses.
VANTAGE_MIN_ADDRESSES = 3


@dataclass
class AuditSettings:
    checks: tuple[str, ...] = CHECKS
    concurrency: int = 100
    per_address: int = 2
    deadline: float = 3600.0
    retry_4xx: float = 0.0
    transcripts: str = 'failures'
    relay_recipient: str = 'mxaudit-relay-probe@example.com'
    relay_variants: bool = True
    # False when nothing will ever show a passing finding's transcript (no output file, transcripts not 'all'):
    # they are then dropped as soon as a job ends, which keeps a 10,000-domain run small in memory.
    keep_transcripts: bool = True


@dataclass
class DomainResult:
    domain: str
    mx: MXSet | None = None
    findings: list[Finding] = field(default_factory=list)
    invalid: str | None = None


@dataclass
class Job:
    """One SMTP session's worth of work at one address."""

    address: str
    kind: str                       # session, pipelining, server (null sender + relay), envelope
    targets: list[Target]           # the domains this job speaks for (a job's findings are copied to each)
    weight: int                     # rough number of round trips, to start long jobs first
    findings: list[Finding] = field(default_factory=list)
    transient: bool = False


def parse_domain_lines(lines: t.Iterable[str]) -> list[str]:
    """domains_file: one domain per line; blank lines and '#' comments ignored."""
    domains = []
    for line in lines:
        text = line.split('#', 1)[0].strip()
        if text:
            domains.append(text)
    return domains


def _copies(findings: list[Finding], targets: list[Target]) -> list[Finding]:
    """A server-level finding for every domain the address serves; the first domain owns the transcript."""
    return [Finding(rule=finding.rule, status=finding.status, summary=finding.summary, domain=target.domain,
                    mx=target.mx, address=finding.address, transcript=finding.transcript, rfc=finding.rfc,
                    transcript_owner=index == 0)
            for index, target in enumerate(targets) for finding in findings]


class Audit:
    """One run of the bulk audit."""

    def __init__(self, options: Options, settings: AuditSettings, raw_domains: t.Sequence[t.Any]) -> None:
        unknown = [check for check in settings.checks if check not in CHECKS]
        if unknown:
            raise OptionError('checks: unknown check(s) %s; choose from %s' % (', '.join(unknown), ', '.join(CHECKS)))
        for name, value, low in (('concurrency', settings.concurrency, 1), ('per_address', settings.per_address, 1)):
            if not isinstance(value, int) or value < low:
                raise OptionError('%s: %r must be a whole number of at least %d' % (name, value, low))
        if settings.transcripts not in TRANSCRIPTS:
            raise OptionError('transcripts: %r must be one of %s' % (settings.transcripts, ', '.join(TRANSCRIPTS)))
        if not 0 < settings.deadline <= 86400:
            raise OptionError('deadline: %r must be a number of seconds greater than 0 (at most 86400)' % settings.deadline)
        if not 0 <= settings.retry_4xx <= 3600:
            raise OptionError('retry_4xx: %r must be between 0 (off) and 3600 seconds' % settings.retry_4xx)
        self.options = options
        self.settings = settings
        self.run_state = RunState()
        self.results: dict[str, DomainResult] = {}
        for index, raw in enumerate(raw_domains):
            try:
                name = to_a_label(raw, 'domains[%d]' % index)
            except OptionError as exc:
                key = str(raw)
                self.results.setdefault(key, DomainResult(key, invalid=str(exc)))
                continue
            self.results.setdefault(name, DomainResult(name))
        self.jobs: list[Job] = []
        self.address_count = 0
        self.started = 0.0
        self.finished = 0.0

    # -------------------------------------------------------------- run

    def run(self) -> dict[str, t.Any]:
        """Audit, and return the result (the run's findings stay available, e.g. for write())."""
        self.execute()
        return self._result()

    def execute(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        deadline = self.started + self.settings.deadline
        probe_settings = ProbeSettings(
            port=self.options.port, helo_name=self.options.helo_name, mail_from=self.options.mail_from,
            timeout=self.options.timeout, deadline=deadline, relay_recipient=self.settings.relay_recipient,
            relay_variants=self.settings.relay_variants, run=self.run_state)
        await self._resolve()
        self.jobs = self._plan()
        await self._execute(self.jobs, probe_settings, deadline)
        if self.settings.retry_4xx > 0:
            retry = [job for job in self.jobs if job.transient and job.kind != 'session']
            if retry and loop.time() + self.settings.retry_4xx < deadline:
                await asyncio.sleep(self.settings.retry_4xx)
                for job in retry:
                    job.findings = []
                    job.transient = False
                await self._execute(retry, probe_settings, deadline)
        self._collect()
        self.finished = loop.time()

    async def _resolve(self) -> None:
        valid = [result for result in self.results.values() if result.invalid is None]
        if self.options.addresses:
            return
        resolver = Resolver(self.options.resolver.nameservers or None, self.options.resolver.port,
                            self.options.resolver.timeout)
        semaphore = asyncio.Semaphore(max(self.settings.concurrency, 10))

        async def lookup(result: DomainResult) -> None:
            async with semaphore:
                result.mx = await resolver.mx(result.domain)

        await asyncio.gather(*(lookup(result) for result in valid))

    def _targets(self) -> dict[str, list[Target]]:
        """MX address -> the (domain, MX host) pairs it serves, in domain order."""
        by_address: dict[str, list[Target]] = {}
        for result in self.results.values():
            if result.invalid is not None:
                continue
            if self.options.addresses:
                for address in self.options.addresses:
                    by_address.setdefault(address, []).append(Target(result.domain, None, address))
                continue
            if result.mx is not None:
                for target in mx_targets(result.mx):
                    by_address.setdefault(target.address, []).append(target)
        return by_address

    def _plan(self) -> list[Job]:
        checks = set(self.settings.checks)
        per_address: list[list[Job]] = []
        by_address = self._targets()
        self.address_count = len(by_address)
        for address, targets in by_address.items():
            jobs = []
            # Pipelining and session jobs are short but may each wait out a timeout (a stalled group, a slow
            # greeting): they go first, so no such wait lands at the end of the run.
            if 'pipelining' in checks:
                jobs.append(Job(address, 'pipelining', targets, 1000))
            if 'session' in checks:
                jobs.append(Job(address, 'session', targets, 999))
            if 'relay' in checks or 'null_sender' in checks:
                jobs.append(Job(address, 'server', targets, 70 if self.settings.relay_variants else 10))
            if 'postmaster' in checks or 'recipient' in checks:
                for start in range(0, len(targets), DOMAINS_PER_SESSION):
                    chunk = targets[start:start + DOMAINS_PER_SESSION]
                    jobs.append(Job(address, 'envelope', chunk, 10 * len(chunk)))
            per_address.append(sorted(jobs, key=lambda job: -job.weight))
        # Round robin over the addresses, so the connection slots spread over as many servers as possible.
        ordered: list[Job] = []
        depth = max((len(jobs) for jobs in per_address), default=0)
        for level in range(depth):
            ordered.extend(jobs[level] for jobs in per_address if level < len(jobs))
        return ordered

    async def _execute(self, jobs: list[Job], settings: ProbeSettings, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        everywhere = asyncio.Semaphore(self.settings.concurrency)
        per_address: dict[str, asyncio.Semaphore] = {}

        async def run(job: Job) -> None:
            semaphore = per_address.setdefault(job.address, asyncio.Semaphore(self.settings.per_address))
            async with semaphore:
                async with everywhere:
                    if loop.time() >= deadline:
                        problem = Problem(INCONCLUSIVE, 'not probed: the run\'s deadline of %g s was reached'
                                          % self.settings.deadline)
                        job.findings = self._job_problem(job, problem)
                        return
                    await self._run_job(job, settings)
                    if not self.settings.keep_transcripts:
                        for finding in job.findings:
                            if finding.status != FAIL and finding.transcript:
                                finding.transcript = []

        await asyncio.gather(*(run(job) for job in jobs))

    def _job_rules(self, job: Job) -> list[str]:
        checks = set(self.settings.checks)
        rules: list[str] = []
        if job.kind == 'session':
            rules = list(SESSION_RULES)
        elif job.kind == 'pipelining':
            rules = list(pipelining.RULES)
        elif job.kind == 'server':
            rules = (['NS-1'] if 'null_sender' in checks else []) + (
                (list(relay.RULES) if self.settings.relay_variants else ['RL-1']) if 'relay' in checks else [])
        elif job.kind == 'envelope':
            rules = (list(postmaster.RULES) if 'postmaster' in checks else []) + (
                ['RV-1'] if 'recipient' in checks else [])
        return rules

    def _job_problem(self, job: Job, problem: Problem) -> list[Finding]:
        findings = []
        for target in job.targets:
            findings.extend(problem_findings(self._job_rules(job), target, problem, []))
        return findings

    async def _run_job(self, job: Job, settings: ProbeSettings) -> None:
        checks = set(self.settings.checks)
        first = job.targets[0]
        if job.kind == 'session':
            report = await probe_session(first, settings)
            job.findings = _copies(report.findings, job.targets)
            return
        if job.kind == 'pipelining':
            found = await pipelining.check_pipelining(first, settings)
            job.findings = _copies(found, job.targets)
            return
        probe = ProbeSession(first, settings)
        try:
            found: list[Finding] = []
            if not await probe.open():
                job.findings = self._job_problem(job, probe.problem or Problem(INCONCLUSIVE, 'no session'))
                return
            if job.kind == 'server':
                if 'null_sender' in checks:
                    found += await null_sender.probe_null_sender(probe, first)
                if 'relay' in checks:
                    found += await relay.probe_relay(probe, first)
                job.findings = _copies(found, job.targets)
            else:
                for target in job.targets:
                    if 'postmaster' in checks:
                        job.findings += await postmaster.probe_postmaster(probe, target)
                    if 'recipient' in checks:
                        job.findings += await recipient.probe_recipient(probe, target)
        finally:
            await probe.close()
            job.transient = probe.transient_seen

    # -------------------------------------------------------------- results

    def _collect(self) -> None:
        for job in self.jobs:
            for finding in job.findings:
                if finding.domain in self.results:
                    self.results[finding.domain].findings.append(finding)
        for result in self.results.values():
            dns_findings: list[Finding] = []
            if result.invalid is not None:
                dns_findings = [Finding(rule='MX-1', status=ERROR, summary='not audited: %s' % result.invalid,
                                        domain=result.domain)]
            elif result.mx is not None:
                dns_findings = judge_mx(result.mx)
                if 'mx' not in self.settings.checks:
                    dns_findings = [finding for finding in dns_findings if finding.status != PASS]
            result.findings = dns_findings + sorted(result.findings, key=lambda f: (RULE_ORDER[f.rule], f.address or ''))

    def vantage_point(self) -> dict[str, t.Any]:
        tried = set(self.run_state.reached) | set(self.run_state.unreachable)
        enough = min(VANTAGE_MIN_ADDRESSES, max(len(tried), 1))
        blocked = not self.run_state.reached and len(self.run_state.unreachable) >= enough
        reasons = sorted(set(self.run_state.unreachable.values()))
        message = None
        if blocked:
            message = ('this host cannot reach TCP port %d: every connection of the run failed (%s) at %d distinct '
                       'addresses; outbound port 25 is often blocked, so run the audit from a host that can reach it'
                       % (self.options.port, ', '.join(reasons), len(self.run_state.unreachable)))
        return {'blocked': blocked, 'message': message, 'addresses_reached': len(self.run_state.reached),
                'addresses_unreachable': len(self.run_state.unreachable)}

    @staticmethod
    def _finding_dict(finding: Finding, transcripts: str) -> dict[str, t.Any]:
        data = finding.to_dict()
        if transcripts == 'none' or (transcripts == 'failures' and (finding.status != FAIL or not finding.transcript_owner)):
            data['transcript'] = []
        return data

    def _domain_dict(self, result: DomainResult, transcripts: str) -> dict[str, t.Any]:
        return {
            'domain': result.domain,
            'mx': result.mx.to_dict() if result.mx is not None else [],
            'findings': [self._finding_dict(finding, transcripts) for finding in result.findings],
            'compliant': is_compliant(result.findings),
        }

    def domain_dicts(self, transcripts: str | None = None) -> t.Iterator[dict[str, t.Any]]:
        for result in self.results.values():
            yield self._domain_dict(result, transcripts or self.settings.transcripts)

    def stats(self) -> dict[str, t.Any]:
        results = list(self.results.values())
        total = len(results)
        counters = self.run_state.counters

        def percent(part: int, whole: int) -> float:
            return round(100.0 * part / whole, 1) if whole else 0.0

        mx_sets = [result.mx for result in results if result.mx is not None]
        stats: dict[str, t.Any] = {
            'domains': total,
            'invalid': sum(1 for result in results if result.invalid is not None),
            'dns_errors': sum(1 for mx in mx_sets if mx.error or mx.nxdomain),
            'implicit_mx': sum(1 for mx in mx_sets if mx.implicit and mx.hosts),
            'no_mx': sum(1 for mx in mx_sets if mx.implicit and not mx.hosts),
            'null_mx': sum(1 for mx in mx_sets if mx.null_mx and not mx.null_mx_mixed),
            'addresses': self.address_count,
            'connect_errors': len(self.run_state.unreachable),
            'sessions': counters['sessions'],
            'refused_at': {stage: counters['refused_' + stage] for stage in ('greeting', 'ehlo', 'mail', 'rcpt')},
            'reply_421': counters['reply_421'],
            'transactions': counters['transactions'],
            'postmaster_probes': counters['postmaster_probes'],
            'compliant': sum(1 for result in results if is_compliant(result.findings)),
            'seconds': round(self.finished - self.started, 2),
        }
        # Each stage against what could be refused there: sessions, transactions, postmaster probes.
        stats['refused_at_percent'] = {
            'greeting': percent(counters['refused_greeting'], counters['sessions']),
            'ehlo': percent(counters['refused_ehlo'], counters['sessions']),
            'mail': percent(counters['refused_mail'], counters['transactions']),
            'rcpt': percent(counters['refused_rcpt'], counters['postmaster_probes']),
        }
        stats['compliant_percent'] = percent(stats['compliant'], total)
        per_check: dict[str, dict[str, t.Any]] = {}
        for result in results:
            for finding in result.findings:
                counts = per_check.setdefault(finding.check, dict.fromkeys(STATUSES, 0))
                counts[finding.status] += 1
        for counts in per_check.values():
            findings = sum(counts[status] for status in STATUSES)
            counts['total'] = findings
            counts['percent'] = {status: percent(counts[status], findings) for status in STATUSES}
        stats['checks'] = per_check
        return stats

    def _result(self) -> dict[str, t.Any]:
        domains = list(self.domain_dicts())
        return {
            'domains': domains,
            'stats': self.stats(),
            'vantage_point': self.vantage_point(),
            'compliant': all(domain['compliant'] for domain in domains),
        }

    def take_result(self) -> dict[str, t.Any]:
        """The result, built while the run's findings are released: the module's memory peaks once, not twice."""
        stats = self.stats()
        vantage_point = self.vantage_point()
        domains = [self._domain_dict(self.results.pop(key), self.settings.transcripts) for key in list(self.results)]
        self.jobs = []
        return {'domains': domains, 'stats': stats, 'vantage_point': vantage_point,
                'compliant': all(domain['compliant'] for domain in domains)}

    def write(self, path: str) -> None:
        """The complete result - every transcript - as JSON on the managed host, one domain at a time."""
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('{"stats": %s, "vantage_point": %s, "domains": [' % (
                json.dumps(self.stats()), json.dumps(self.vantage_point())))
            for index, domain in enumerate(self.domain_dicts(transcripts='all')):
                handle.write((',\n' if index else '\n') + json.dumps(domain))
            handle.write('\n]}\n')
