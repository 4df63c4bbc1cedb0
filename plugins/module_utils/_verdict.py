# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The verdict of a domain and of a run: compliant, noncompliant or unverified - never green by accident.

- ``noncompliant``: a failed finding violates the policy (by default: a rule
  of level MUST or MUST NOT, or of severity high or critical).
- ``unverified``: otherwise, when some rule the policy counts was decided at
  no address of the domain - its findings are only error, inconclusive, or
  skipped for a reason other than "does not apply" (a null MX, PIPELINING
  not offered), or there is no finding of it at all (the domain has no
  address that could be probed, DNS failed, the run's deadline came); and
  whenever no rule at all was decided, counted or not.
- ``compliant``: everything the policy counts was decided and nothing it
  counts failed.

A run (or a merge of runs) has the worst verdict of its domains; no domain at
all is ``unverified``. ``coverage`` says how much was decided: the
rule-address cells of the domain's findings, decided and probed.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from ._findings import CATALOGUE, FAIL, LEVELS, PASS, SEVERITIES, SKIPPED, WARN, Finding, load_catalogue

COMPLIANT = 'compliant'
UNVERIFIED = 'unverified'
NONCOMPLIANT = 'noncompliant'
VERDICTS = (COMPLIANT, UNVERIFIED, NONCOMPLIANT)  # best first

DEFAULT_LEVELS = ('MUST', 'MUST NOT')
DEFAULT_SEVERITY = 'high'


class PolicyError(ValueError):
    """A policy option with a bad value (the message names it)."""


@dataclass(frozen=True)
class Policy:
    """Which failures make a domain noncompliant, and so which rules must be decided."""

    levels: tuple[str, ...] = DEFAULT_LEVELS
    severity: str | None = DEFAULT_SEVERITY    # the least severity that counts; None: levels only

    def counts(self, rule_id: str) -> bool:
        rule = (CATALOGUE.get(rule_id) or load_catalogue()[rule_id])
        if rule.level in self.levels:
            return True
        return self.severity is not None and SEVERITIES.index(rule.severity) >= SEVERITIES.index(self.severity)

    def violated_by(self, finding: Finding) -> bool:
        return finding.status == FAIL and self.counts(finding.rule)

    def to_dict(self) -> dict[str, t.Any]:
        return {'levels': list(self.levels), 'severity': self.severity}


def parse_policy(value: t.Any) -> Policy:
    """The ``policy`` option: ``{levels: [...], severity: ...}``, either key optional."""
    if value is None:
        return Policy()
    if not isinstance(value, dict):
        raise PolicyError('policy: %r must be a dictionary with levels and severity' % (value,))
    unknown = sorted(set(value) - {'levels', 'severity'})
    if unknown:
        raise PolicyError('policy: unknown key(s) %s (levels, severity)' % ', '.join(unknown))
    levels = value.get('levels')
    if levels is None:
        levels = list(DEFAULT_LEVELS)
    if not isinstance(levels, (list, tuple)) or any(level not in LEVELS for level in levels):
        raise PolicyError('policy.levels: %r must be a list of %s' % (levels, ', '.join(LEVELS)))
    severity = value.get('severity', DEFAULT_SEVERITY)
    if severity in ('none', ''):
        severity = None
    if severity is not None and severity not in SEVERITIES:
        raise PolicyError('policy.severity: %r must be one of %s or none' % (severity, ', '.join(SEVERITIES)))
    if not levels and severity is None:
        raise PolicyError('policy: with no levels and no severity nothing would ever count')
    return Policy(tuple(dict.fromkeys(levels)), severity)


def decided(finding: Finding) -> bool:
    """The evidence decided the rule here: pass, fail, warn, or skipped because the rule does not apply."""
    return finding.status in (PASS, FAIL, WARN) or (finding.status == SKIPPED and not finding.applies)


@dataclass
class DomainVerdict:
    verdict: str
    decided: int      # rule-address cells decided
    probed: int       # rule-address cells with a finding
    undecided_rules: tuple[str, ...] = ()

    @property
    def coverage(self) -> dict[str, t.Any]:
        return {'decided': self.decided, 'probed': self.probed,
                'percent': round(100.0 * self.decided / self.probed, 1) if self.probed else 0.0}


def judge_domain(findings: t.Sequence[Finding], expected_rules: t.Iterable[str], policy: Policy) -> DomainVerdict:
    """The verdict of one domain from its findings and the rules its audit was meant to decide."""
    cells: dict[tuple[str, str | None], bool] = {}
    for finding in findings:
        key = (finding.rule, finding.address)
        cells[key] = cells.get(key, False) or decided(finding)
    decided_rules = {finding.rule for finding in findings if decided(finding)}
    wanted = dict.fromkeys(list(expected_rules) + [finding.rule for finding in findings])
    undecided = tuple(rule for rule in wanted if policy.counts(rule) and rule not in decided_rules)
    if any(policy.violated_by(finding) for finding in findings):
        verdict = NONCOMPLIANT
    elif undecided or not decided_rules:
        # Also when the policy counts none of the rules judged here: nothing decided at all is never green.
        verdict = UNVERIFIED
    else:
        verdict = COMPLIANT
    return DomainVerdict(verdict, sum(1 for value in cells.values() if value), len(cells), undecided)


def worst(verdicts: t.Iterable[str]) -> str:
    """The verdict of a run or merge: the worst of its domains; nothing at all is unverified."""
    ranks = [VERDICTS.index(verdict) for verdict in verdicts]
    return VERDICTS[max(ranks)] if ranks else UNVERIFIED


def counts(verdicts: t.Iterable[str]) -> dict[str, int]:
    result = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        result[verdict] += 1
    return result
