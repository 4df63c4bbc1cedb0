# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The check registry: every check the engine can run, in one table.

Everything about a check that the planner, the scheduler, the statistics
and the modules need is declared here, and nowhere else: its id (the value
of the ``checks`` option and of every finding's ``check``), its rules
(defined in the check's own file), its scope, which session its probes may
share, and the function that probes. Adding a check is one file in this
directory and one entry in REGISTRY (see docs/architecture.md).

Scopes:
- DOMAIN: judged once per domain, after its MX set is known: from the MX set
  alone (``judge``, synchronous), or with network work of its own
  (``fetch``, async: DNS beyond the MX set, HTTPS, the certificates the MX
  addresses present). The engine runs the fetches alongside the SMTP jobs
  (a fetch's own SMTP sessions wait for the jobs to end:
  ``_engine.domains.jobs_done``), at most ``concurrency`` domains at once,
  within the run's deadline; a domain the deadline cuts off gets every
  rule of the check ``inconclusive``.
- SERVER: probed once per MX address and reported for every domain that
  address serves (the server's conformance does not depend on the domain).
- MAILBOX: probed per domain at every address of its MX hosts; several
  domains of one address share a session, a transaction each.
- HOST: judged per domain at every address, from what the MX host name and
  the address show (DANE: the host name's TLSA, the address's certificate).
  The jobs of an address are cut per MX host name, so a finding is never
  judged from another domain's MX host; what the check fetches is shared
  run-wide per (host name, address) by the check itself (a cached lookup,
  ``starttls.presented_once``). Needs ``run``, called once per domain.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from .._dns import MXSet
from .._findings import Finding
from . import dane, identity, mta_sts, mx, null_sender, pipelining, postmaster, recipient, relay, session, tls
from .probe import CheckOutcome, ProbeSession, ProbeSettings, Target

DOMAIN = 'domain'
SERVER = 'server'
MAILBOX = 'mailbox'
HOST = 'host'

OwnSessions = t.Callable[[Target, ProbeSettings], t.Awaitable[CheckOutcome]]
SharedProbe = t.Callable[[ProbeSession, Target], t.Awaitable[t.List[Finding]]]
DomainJudge = t.Callable[[MXSet], t.List[Finding]]
# A fetch returns its findings, or a CheckOutcome when it keeps a record for the reports (mta_sts).
DomainFetch = t.Callable[[MXSet, ProbeSettings], t.Awaitable[t.Union[t.List[Finding], CheckOutcome]]]


@dataclass(frozen=True)
class Check:
    """One check: what it judges, where, and how it is probed (exactly one of judge, fetch, run, probe)."""

    id: str
    rules: tuple[str, ...]
    scope: str
    weight: int = 0                           # round trips, roughly: long jobs start first, short ones fill gaps
    judge: DomainJudge | None = None          # DOMAIN: the findings from the domain's MX set
    fetch: DomainFetch | None = None          # DOMAIN: the findings from the MX set and network work of the check's own
    run: OwnSessions | None = None            # opens its own sessions at one address
    probe: SharedProbe | None = None          # runs on an open probe session that others share
    shares: str | None = None                 # probes with the same value share one probe session
    aliases: tuple[str, ...] = ()             # older names accepted by the checks option
    # The rules judged under these settings, when some depend on an option (default: all of them).
    active: t.Callable[[ProbeSettings], tuple[str, ...]] | None = None
    # DOMAIN checks whose findings explain why a domain was not probed: kept, unless passing, when not selected.
    explains_targets: bool = False

    def active_rules(self, settings: ProbeSettings) -> tuple[str, ...]:
        return self.active(settings) if self.active is not None else self.rules


REGISTRY: tuple[Check, ...] = (
    Check(mx.CHECK, mx.RULES, DOMAIN, judge=mx.judge_mx, explains_targets=True),
    Check(session.CHECK, session.RULES, SERVER, weight=999, run=session.run_session, aliases=('greeting', 'ehlo')),
    Check(postmaster.CHECK, postmaster.RULES, MAILBOX, weight=6, probe=postmaster.probe_postmaster,
          shares='envelope', aliases=('domain_acceptance',)),
    Check(null_sender.CHECK, null_sender.RULES, SERVER, weight=4, probe=null_sender.probe_null_sender, shares='server'),
    Check(relay.CHECK, relay.RULES, SERVER, weight=66, probe=relay.probe_relay, shares='server',
          active=relay.active_rules),
    Check(recipient.CHECK, recipient.RULES, MAILBOX, weight=4, probe=recipient.probe_recipient, shares='envelope'),
    Check(pipelining.CHECK, pipelining.RULES, SERVER, weight=1000, run=pipelining.run_pipelining),
    Check(tls.CHECK, tls.RULES, SERVER, weight=6, run=tls.run_tls),
    Check(identity.CHECK, identity.RULES, SERVER, weight=0, probe=identity.probe_identity, shares='server'),
    Check(dane.CHECK, dane.RULES, HOST, weight=3, run=dane.run_dane),
    Check(mta_sts.CHECK, mta_sts.RULES, DOMAIN, fetch=mta_sts.check_domain_outcome),
)

CHECKS: dict[str, Check] = {check.id: check for check in REGISTRY}
CHECK_IDS: tuple[str, ...] = tuple(CHECKS)
ALIASES: dict[str, str] = {alias: check.id for check in REGISTRY for alias in check.aliases}
# The order of findings within a domain: the registry's, then each check's own.
RULE_ORDER: dict[str, int] = {rule: index for index, rule in enumerate(
    rule for check in REGISTRY for rule in check.rules)}


def resolve(names: t.Iterable[str]) -> tuple[str, ...]:
    """Check ids (aliases resolved, duplicates dropped, registry order); ValueError names the unknown ones."""
    wanted = []
    unknown = []
    for name in names:
        check_id = ALIASES.get(name, name)
        if check_id not in CHECKS:
            unknown.append(str(name))
        elif check_id not in wanted:
            wanted.append(check_id)
    if unknown:
        raise ValueError('unknown check(s) %s; choose from %s' % (', '.join(unknown), ', '.join(CHECK_IDS)))
    return tuple(check_id for check_id in CHECK_IDS if check_id in wanted)
