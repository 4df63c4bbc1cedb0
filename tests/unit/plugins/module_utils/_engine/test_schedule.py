# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The retry of deferred jobs: never worse than the first run, and it says what happened."""

from __future__ import annotations

import asyncio

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import ProbeSettings, Target
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECKS
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import schedule
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.plan import Job
from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import Finding


def found(rule, status, summary='s', domain='example.org'):
    return Finding(rule=rule, status=status, summary=summary, domain=domain, mx='mx.example.org', address='192.0.2.1')


def test_a_rule_decided_before_the_retry_keeps_its_verdict():
    first = [found('PM-1', 'pass', 'first'), found('PM-2', 'inconclusive', 'deferred'), found('RL-3', 'pass', 'first')]
    again = [found('PM-1', 'inconclusive', 'deferred again'), found('PM-2', 'pass', 'again'),
             found('RL-3', 'fail', 'again')]
    merged = schedule.merged(first, again, 300)
    assert [(f.rule, f.status, f.summary) for f in merged] == [
        ('PM-1', 'pass', 'first'), ('PM-2', 'pass', 'again'), ('RL-3', 'fail', 'again')]


def test_still_undecided_after_the_retry_says_so():
    merged = schedule.merged([found('PM-1', 'inconclusive')], [found('PM-1', 'inconclusive', 'greylisted')], 0.5)
    assert merged[0].summary == 'greylisted (retried once after 0.5 s)'
    other = schedule.merged([found('PM-1', 'pass', domain='a.example')], [found('PM-1', 'inconclusive', domain='b.example')], 1)
    assert other[0].domain == 'b.example' and other[0].status == 'inconclusive'


def job(findings, transient=True):
    target = Target('example.org', 'mx.example.org', '192.0.2.1')
    return Job('192.0.2.1', (CHECKS['postmaster'],), [target], 1, findings=findings, transient=transient)


def test_no_retry_without_room_before_the_deadline():
    async def scenario():
        deferred, decided, quiet = job([found('PM-1', 'inconclusive', 'deferred')]), job([found('PM-1', 'pass')]), \
            job([found('PM-1', 'inconclusive', 'no 4xx')], transient=False)
        caps = schedule.Caps(10, 2, asyncio.get_running_loop().time() + 5, 5)
        await schedule.retry_transient([deferred, decided, quiet], ProbeSettings(25, 'h.example', 'a@h.example', 1.0), 60, caps)
        return deferred, decided, quiet

    deferred, decided, quiet = asyncio.run(scenario())
    assert deferred.findings[0].summary == 'deferred (not retried: the deadline of 5 s leaves no room for a retry after 60 s)'
    assert decided.findings[0].summary == 's' and quiet.findings[0].summary == 'no 4xx'
