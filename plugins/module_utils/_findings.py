# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The Finding model and the rule catalogue.

Every finding names a rule of the catalogue, so the level and the RFC
section of a verdict are written down once, here, and never retyped by a check.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

PASS = 'pass'
FAIL = 'fail'
WARN = 'warn'
INCONCLUSIVE = 'inconclusive'
ERROR = 'error'
SKIPPED = 'skipped'

STATUSES = (PASS, FAIL, WARN, INCONCLUSIVE, ERROR, SKIPPED)

# Worst first: used to pick the headline status of a group of findings.
_SEVERITY = {FAIL: 5, ERROR: 4, INCONCLUSIVE: 3, WARN: 2, PASS: 1, SKIPPED: 0}

LEVELS = ('MUST', 'MUST NOT', 'SHOULD', 'SHOULD NOT', 'MAY', 'BCP')
# Least severe first: a policy counts the severities from its minimum up.
SEVERITIES = ('info', 'low', 'medium', 'high', 'critical')


@dataclass(frozen=True)
class Rule:
    """One rule of the catalogue. ``check`` is the id of the check that judges it (the value of ``checks``)."""

    id: str
    level: str          # the RFC 2119 requirement level (BCP: best current practice, no RFC keyword)
    severity: str       # how much a violation matters to a mail operator (docs/checks.md gives the reasoning)
    rfc: str
    title: str
    check: str = ''


# Every rule, keyed by id, in the order the checks define them. Each check declares its own rules in its
# own file (``define_rules``); importing the check registry (_checks/registry.py) loads them all.
CATALOGUE: dict[str, Rule] = {}


def define_rules(check: str, rules: t.Sequence[Rule]) -> tuple[str, ...]:
    """Enter a check's rules into the catalogue; returns their ids in order."""
    for rule in rules:
        known = CATALOGUE.get(rule.id)
        if known is not None and known.check != check:
            raise ValueError('rule %s is defined by both %s and %s' % (rule.id, known.check, check))
        if rule.level not in LEVELS or rule.severity not in SEVERITIES:
            raise ValueError('rule %s: unknown level %r or severity %r' % (rule.id, rule.level, rule.severity))
        CATALOGUE[rule.id] = Rule(rule.id, rule.level, rule.severity, rule.rfc, rule.title, check)
    return tuple(rule.id for rule in rules)


def load_catalogue() -> dict[str, Rule]:
    """The whole catalogue: importing the registry imports every check, and so defines every rule."""
    # Imported here, not at the top: the checks import this module for Finding.
    from ._checks import registry  # pylint: disable=import-outside-toplevel,unused-import,cyclic-import
    return CATALOGUE


@dataclass
class Finding:
    """One verdict of one rule about one target (a domain, an MX host, an address)."""

    rule: str
    status: str
    summary: str
    domain: str | None = None
    mx: str | None = None
    address: str | None = None
    transcript: list[str] = field(default_factory=list)
    rfc: str | None = None
    # False on the copies of a server-level finding made for the other domains of the same MX address:
    # a compact result keeps that transcript once, with the first domain.
    transcript_owner: bool = True
    # False for a skipped finding whose rule does not apply here (PIPELINING not offered): it counts as decided.
    applies: bool = True

    def __post_init__(self) -> None:
        if self.rule not in CATALOGUE:
            load_catalogue()
        if self.rule not in CATALOGUE:
            raise ValueError('unknown rule %r' % self.rule)
        if self.status not in STATUSES:
            raise ValueError('unknown status %r' % self.status)

    @property
    def check(self) -> str:
        return CATALOGUE[self.rule].check

    @property
    def level(self) -> str:
        return CATALOGUE[self.rule].level

    @property
    def severity(self) -> str:
        return CATALOGUE[self.rule].severity

    def to_dict(self) -> dict[str, t.Any]:
        return {
            'check': self.check,
            'rule': self.rule,
            'status': self.status,
            'level': self.level,
            'severity': self.severity,
            'rfc': self.rfc or CATALOGUE[self.rule].rfc,
            'domain': self.domain,
            'mx': self.mx,
            'address': self.address,
            'summary': self.summary,
            'transcript': list(self.transcript),
        }


def _field(finding: Finding | dict[str, t.Any], name: str) -> t.Any:
    return finding[name] if isinstance(finding, dict) else getattr(finding, name)


def worst_status(findings: t.Iterable[Finding | dict[str, t.Any]]) -> str | None:
    statuses = [_field(f, 'status') for f in findings]
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else None


def status_counts(findings: t.Iterable[Finding | dict[str, t.Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for finding in findings:
        counts[_field(finding, 'status')] += 1
    return counts
