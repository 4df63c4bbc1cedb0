# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""The DOMAIN checks with network work of their own (the registry's ``fetch``): once per domain, bounded.

They run while the SMTP jobs run (their DNS and HTTPS work overlaps the
sessions), at most ``concurrency`` domains at once, from a fixed pool of
workers. A fetch that wants to open an SMTP session itself (a STARTTLS
certificate fetch) first awaits ``jobs_done(settings)``: the engine sets it
when the jobs have ended, so such sessions never compete with the jobs'
per-address slots. A
domain whose fetch has not ended when the run's deadline passes gets every
rule of the check ``inconclusive``, never a pass. A fetch that raises is a
bug of the check and is not hidden.
"""

from __future__ import annotations

import asyncio
import typing as t

from .._checks.probe import CheckOutcome, ProbeSettings
from .._checks.registry import CHECKS, DOMAIN, Check
from .._findings import FAIL, INCONCLUSIVE, Finding
from .schedule import Caps
from .targets import DomainResult


JOBS_DONE = 'engine.jobs_done'


async def jobs_done(settings: ProbeSettings) -> None:
    """Return once the run's SMTP jobs have ended (at once outside an engine run, where no event was set up)."""
    event = settings.run.shared.get(JOBS_DONE)
    if event is not None:
        await event.wait()


def start(settings: ProbeSettings) -> asyncio.Event:
    """The event ``jobs_done`` waits for, made in the running loop; the engine sets it after the jobs."""
    event = asyncio.Event()
    settings.run.shared[JOBS_DONE] = event
    return event


def fetching_checks(check_ids: t.Iterable[str]) -> list[Check]:
    return [CHECKS[check_id] for check_id in check_ids if CHECKS[check_id].scope == DOMAIN and CHECKS[check_id].fetch]


def late(check: Check, domain: str, caps: Caps) -> list[Finding]:
    summary = 'not checked: the run\'s deadline of %g s was reached' % caps.deadline_seconds
    return [Finding(rule, INCONCLUSIVE, summary, domain=domain) for rule in check.rules]


async def run_fetches(results: t.Iterable[DomainResult], check_ids: t.Sequence[str], settings: ProbeSettings,
                      caps: Caps) -> None:
    """Every selected fetching check on every resolved domain; the findings go to ``result.findings``.

    A fetch returns its findings, or a CheckOutcome: then its record (when not None) goes to
    ``result.records[check.id]`` as the one pair (None, record). A fetch the deadline cut off keeps no record.
    """
    checks = fetching_checks(check_ids)
    work = [(result, check) for result in results if result.invalid is None and result.mx is not None for check in checks]
    if not work:
        return
    loop = asyncio.get_running_loop()
    queue = iter(work)

    async def worker() -> None:
        for result, check in queue:
            left = caps.deadline - loop.time()
            if left <= 0:
                result.findings += late(check, result.domain, caps)
                continue
            try:
                fetched = await asyncio.wait_for(check.fetch(result.mx, settings), timeout=left)  # type: ignore[arg-type, misc]
            except asyncio.TimeoutError:
                fetched = late(check, result.domain, caps)
            if isinstance(fetched, CheckOutcome):
                found = fetched.findings
                if fetched.record is not None:
                    result.records[check.id] = [(None, fetched.record)]
            else:
                found = fetched
            if not caps.keep_transcripts:
                for finding in found:
                    if finding.status != FAIL:
                        finding.transcript = []
            result.findings += found

    await asyncio.gather(*(worker() for _index in range(min(len(work), max(caps.concurrency, 1)))))
