# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""The roll-up of a run: counts per stage and per check, and whether this host could reach the MX hosts at all."""

from __future__ import annotations

import typing as t

from .._findings import STATUSES
from .._verdict import COMPLIANT, UNVERIFIED
from .._verdict import counts as verdict_counts
from .._run_state import RunState
from .targets import DomainResult

# The vantage point is judged blocked when every connection of the run failed, to at least this many addresses.
VANTAGE_MIN_ADDRESSES = 3


def _percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def vantage_point(run: RunState, port: int) -> dict[str, t.Any]:
    tried = set(run.reached) | set(run.unreachable)
    enough = min(VANTAGE_MIN_ADDRESSES, max(len(tried), 1))
    blocked = not run.reached and len(run.unreachable) >= enough
    reasons = sorted(set(run.unreachable.values()))
    message = None
    if blocked:
        message = ('this host cannot reach TCP port %d: every connection of the run failed (%s) at %d distinct '
                   'addresses; outbound port 25 is often blocked, so run the audit from a host that can reach it'
                   % (port, ', '.join(reasons), len(run.unreachable)))
    return {'blocked': blocked, 'message': message, 'addresses_reached': len(run.reached),
            'addresses_unreachable': len(run.unreachable)}


def stats(results: t.Sequence[DomainResult], run: RunState, addresses: int, seconds: float) -> dict[str, t.Any]:
    counters = run.counters
    total = len(results)
    mx_sets = [result.mx for result in results if result.mx is not None]
    verdicts = verdict_counts(result.verdict.verdict if result.verdict is not None else UNVERIFIED for result in results)
    compliant = verdicts[COMPLIANT]
    per_check: dict[str, dict[str, t.Any]] = {}
    for result in results:
        for finding in result.findings:
            counts = per_check.setdefault(finding.check, dict.fromkeys(STATUSES, 0))
            counts[finding.status] += 1
    for counts in per_check.values():
        findings = sum(counts[status] for status in STATUSES)
        counts['total'] = findings
        counts['percent'] = {status: _percent(counts[status], findings) for status in STATUSES}
    return {
        'domains': total,
        'invalid': sum(1 for result in results if result.invalid is not None),
        'dns_errors': sum(1 for mx in mx_sets if mx.error or mx.nxdomain),
        'implicit_mx': sum(1 for mx in mx_sets if mx.implicit and mx.hosts),
        'no_mx': sum(1 for mx in mx_sets if mx.implicit and not mx.hosts),
        'null_mx': sum(1 for mx in mx_sets if mx.null_mx and not mx.null_mx_mixed),
        'addresses': addresses,
        'connect_errors': len(run.unreachable),
        'sessions': counters['sessions'],
        'refused_at': {stage: counters['refused_' + stage] for stage in ('greeting', 'ehlo', 'mail', 'rcpt')},
        # Each stage against what could be refused there: sessions, transactions, postmaster probes.
        'refused_at_percent': {
            'greeting': _percent(counters['refused_greeting'], counters['sessions']),
            'ehlo': _percent(counters['refused_ehlo'], counters['sessions']),
            'mail': _percent(counters['refused_mail'], counters['transactions']),
            'rcpt': _percent(counters['refused_rcpt'], counters['postmaster_probes']),
        },
        'reply_421': counters['reply_421'],
        # Connections this host could not even try (out of file descriptors, memory): never the servers' fault.
        'local_errors': counters.get('local_errors', 0),
        'transactions': counters['transactions'],
        'postmaster_probes': counters['postmaster_probes'],
        'compliant': compliant,
        'verdicts': verdicts,
        'compliant_percent': _percent(compliant, total),
        'checks': per_check,
        'seconds': round(seconds, 2),
    }
