# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""Planning: the checks of a run, at the addresses of its domains, cut into jobs of one SMTP session's worth each.

A check's scope and sharing come from the registry. A check that opens its
own sessions gets a job of its own per address; checks whose probes share a
session (the same shares value) get one job together. SERVER-scope jobs
speak for every domain of the address (one probe, its findings copied);
MAILBOX-scope jobs take up to DOMAINS_PER_SESSION domains, a transaction
each. HOST-scope jobs take the domains of one MX host name at the address,
each judged in turn (never from another domain's MX host name). Jobs are ordered long first within an address, then round robin over
the addresses, so the connection slots spread over as many servers as
possible and no long wait lands at the end of the run.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from .._checks.probe import ProbeSettings, Target
from .._checks.registry import CHECKS, HOST, MAILBOX, SERVER, Check
from .._findings import Finding

# Domains of one address that share an envelope session (a transaction each, RSET between).
DOMAINS_PER_SESSION = 8


@dataclass
class Job:
    """One SMTP session's worth of work at one address."""

    address: str
    checks: tuple[Check, ...]        # run in this order, sharing the job's session when they share one
    targets: list[Target]            # the domains this job speaks for
    weight: int                      # rough number of round trips, to start long jobs first
    findings: list[Finding] = field(default_factory=list)
    record: t.Any = None             # what a check that keeps a record (the session report) returned
    # HOST scope: (target, record) of each target whose run returned a record (the dane check's per-address facts)
    target_records: list[tuple[Target, t.Any]] = field(default_factory=list)
    transient: bool = False          # a 4xx came back: worth one retry after retry_4xx seconds

    @property
    def per_domain(self) -> bool:
        """Each target probed in turn (MAILBOX), rather than one probe reported for all (SERVER)."""
        return self.checks[0].scope == MAILBOX

    @property
    def per_host(self) -> bool:
        """The targets share one MX host name and are judged each in turn by the check's run (HOST)."""
        return self.checks[0].scope == HOST

    def rules(self, settings: ProbeSettings) -> list[str]:
        return [rule for check in self.checks for rule in check.active_rules(settings)]


def _groups(check_ids: t.Sequence[str]) -> list[tuple[Check, ...]]:
    """The selected probing checks, grouped by the session they share (a check of its own sessions alone)."""
    groups: dict[str, list[Check]] = {}
    for check_id in check_ids:
        check = CHECKS[check_id]
        if check.scope not in (SERVER, MAILBOX, HOST):
            continue
        key = 'shares:' + check.shares if check.shares else 'own:' + check.id
        groups.setdefault(key, []).append(check)
    return [tuple(group) for group in groups.values()]


def _by_host(targets: list[Target]) -> list[list[Target]]:
    """The targets of one address grouped by MX host name (case-insensitive), in their order."""
    hosts: dict[str, list[Target]] = {}
    for target in targets:
        hosts.setdefault((target.mx or '').rstrip('.').lower(), []).append(target)
    return list(hosts.values())


def plan(by_address: dict[str, list[Target]], check_ids: t.Sequence[str]) -> list[Job]:
    groups = _groups(check_ids)
    per_address: list[list[Job]] = []
    for address, targets in by_address.items():
        jobs = []
        for group in groups:
            weight = sum(check.weight for check in group)
            if group[0].scope == SERVER:
                jobs.append(Job(address, group, targets, weight))
                continue
            if group[0].scope == HOST:
                for same_host in _by_host(targets):
                    jobs.append(Job(address, group, same_host, weight))
                continue
            for start in range(0, len(targets), DOMAINS_PER_SESSION):
                chunk = targets[start:start + DOMAINS_PER_SESSION]
                jobs.append(Job(address, group, chunk, weight * len(chunk)))
        per_address.append(sorted(jobs, key=lambda job: -job.weight))
    ordered: list[Job] = []
    depth = max((len(jobs) for jobs in per_address), default=0)
    for level in range(depth):
        ordered.extend(jobs[level] for jobs in per_address if level < len(jobs))
    return ordered
