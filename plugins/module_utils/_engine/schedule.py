# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""Scheduling: jobs under two caps and one clock, and what one job does with its session.

At most per_address sessions to one address and concurrency in all.
A job that has not started when the deadline passes gets its rules as
`inconclusive` at once; running sessions stop at the deadline themselves
(every SMTP session carries it). Back-off is the run state's: a job at an
address that was backed off gets that address's Problem without a packet.
Jobs that met a deferral (4xx) get one retry after ``retry_4xx`` seconds.
"""

from __future__ import annotations

import asyncio
import typing as t
from dataclasses import dataclass

from .._checks.probe import ProbeSession, ProbeSettings, Target, problem_findings
from .._findings import ERROR, FAIL, INCONCLUSIVE, Finding
from .._run_state import Problem
from .plan import Job


@dataclass(frozen=True)
class Caps:
    """The limits a run's jobs run under."""

    concurrency: int            # sessions at once, over all addresses
    per_address: int            # sessions at once to one address
    deadline: float             # absolute, on the event loop's clock
    deadline_seconds: float     # the same as the user gave it, for the findings
    keep_transcripts: bool = True


def copies(findings: list[Finding], targets: list[Target]) -> list[Finding]:
    """A server-level finding for every domain the address serves; the first domain owns the transcript."""
    return [Finding(rule=finding.rule, status=finding.status, summary=finding.summary, domain=target.domain,
                    mx=target.mx, address=finding.address, transcript=finding.transcript, rfc=finding.rfc,
                    transcript_owner=index == 0, applies=finding.applies)
            for index, target in enumerate(targets) for finding in findings]


def job_problem(job: Job, settings: ProbeSettings, problem: Problem) -> list[Finding]:
    """Every rule of the job, for every domain it speaks for, with the same problem."""
    rules = job.rules(settings)
    return [finding for target in job.targets for finding in problem_findings(rules, target, problem, [])]


async def run_job(job: Job, settings: ProbeSettings) -> None:
    first = job.targets[0]
    if job.per_host:
        # One MX host name, judged per domain: what the check fetches is shared per (host, address) by the check.
        job.target_records = []  # a retry's records replace the first run's
        for target in job.targets:
            outcome = await job.checks[0].run(target, settings)  # type: ignore[misc]
            job.findings += outcome.findings
            if outcome.record is not None:
                job.target_records.append((target, outcome.record))
        return
    if job.checks[0].run is not None:
        outcome = await job.checks[0].run(first, settings)
        job.findings = copies(outcome.findings, job.targets)
        job.record = outcome.record
        return
    probe = ProbeSession(first, settings)
    try:
        if not await probe.open():
            job.findings = job_problem(job, settings, probe.problem or Problem(INCONCLUSIVE, 'no session'))
            return
        if job.per_domain:
            for target in job.targets:
                for check in job.checks:
                    job.findings += await check.probe(probe, target)  # type: ignore[misc]
        else:
            found: list[Finding] = []
            for check in job.checks:
                found += await check.probe(probe, first)  # type: ignore[misc]
            job.findings = copies(found, job.targets)
    finally:
        await probe.close()
        job.transient = probe.transient_seen


async def run_jobs(jobs: t.Sequence[Job], settings: ProbeSettings, caps: Caps) -> None:
    loop = asyncio.get_running_loop()
    everywhere = asyncio.Semaphore(caps.concurrency)
    at_address: dict[str, asyncio.Semaphore] = {}
    late = Problem(INCONCLUSIVE, 'not probed: the run\'s deadline of %g s was reached' % caps.deadline_seconds)

    async def run(job: Job) -> None:
        semaphore = at_address.setdefault(job.address, asyncio.Semaphore(caps.per_address))
        async with semaphore:
            async with everywhere:
                if loop.time() >= caps.deadline:
                    job.findings = job_problem(job, settings, late)
                    return
                await run_job(job, settings)
                if not caps.keep_transcripts:
                    for finding in job.findings:
                        if finding.status != FAIL and finding.transcript:
                            finding.transcript = []

    await asyncio.gather(*(run(job) for job in jobs))


UNDECIDED = (INCONCLUSIVE, ERROR)


async def retry_transient(jobs: t.Sequence[Job], settings: ProbeSettings, retry_4xx: float, caps: Caps) -> None:
    """Deferrals - greylisting, postscreen's 450 4.3.2 to a first-time client: one more try after ``retry_4xx`` s.

    The jobs that met a 4xx and left a rule undecided run once more, in new sessions, if the deadline
    leaves room for the pause. A rule the first run decided keeps that verdict when the retry does not
    decide it, so a retry never makes a finding worse; what is still undecided says it was retried.
    """
    retry = [job for job in jobs if job.transient and any(finding.status in UNDECIDED for finding in job.findings)]
    loop = asyncio.get_running_loop()
    if not retry or retry_4xx <= 0:
        return
    if loop.time() + retry_4xx >= caps.deadline:
        for job in retry:
            for finding in job.findings:
                if finding.status in UNDECIDED:
                    finding.summary += ' (not retried: the deadline of %g s leaves no room for a retry after %g s)' % (
                        caps.deadline_seconds, retry_4xx)
        return
    await asyncio.sleep(retry_4xx)
    first = {id(job): job.findings for job in retry}
    for job in retry:
        job.findings = []
        job.transient = False
    await run_jobs(retry, settings, caps)
    for job in retry:
        job.findings = merged(first[id(job)], job.findings, retry_4xx)


def merged(first: list[Finding], again: list[Finding], retry_4xx: float) -> list[Finding]:
    """The retry's findings, except where only the first run decided the rule."""
    decided = {(f.rule, f.domain, f.address): f for f in first if f.status not in UNDECIDED}
    out = []
    for finding in again:
        if finding.status in UNDECIDED:
            earlier = decided.get((finding.rule, finding.domain, finding.address))
            if earlier is not None:
                finding = earlier
            else:
                finding.summary += ' (retried once after %g s)' % retry_4xx
        out.append(finding)
    return out
