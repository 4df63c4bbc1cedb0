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

# Levels whose failure makes a target non-compliant.
MANDATORY_LEVELS = ('MUST', 'MUST NOT')


@dataclass(frozen=True)
class Rule:
    id: str
    check: str
    level: str
    rfc: str
    title: str


CATALOGUE: dict[str, Rule] = {rule.id: rule for rule in (
    Rule('MX-1', 'mx', 'MUST', 'RFC 5321 5.1',
         'No MX: implicit MX on A/AAAA; an MX target has an address and is a host name, not an IP address'),
    Rule('MX-2', 'mx', 'MUST', 'RFC 7505 3',
         'A null MX ("0 .") is the only MX of its domain; such a domain is not probed'),
    Rule('GR-1', 'greeting', 'MUST', 'RFC 5321 4.2, 4.3.1',
         'The greeting is "220 <domain or address literal>"; a 554 greeting is a legal refusal'),
    Rule('GR-2', 'greeting', 'MUST', 'RFC 5321 4.2.1',
         'Reply syntax: three-digit code with first digit 2-5, the same code on every line of a multiline reply'),
    Rule('GR-3', 'ehlo', 'MUST', 'RFC 5321 2.2.1, 3.2',
         'EHLO is supported; HELO works as a fallback and gets no extension list'),
    Rule('CMD-1', 'session', 'MUST', 'RFC 5321 4.1.1.9, 4.1.1.10, 4.1.1.5',
         'NOOP gets 250; RSET gets 250 and clears the transaction; QUIT gets 221 and the server closes'),
    Rule('CMD-2', 'session', 'MUST', 'RFC 5321 4.3.2',
         'An unknown verb gets 500 and the connection stays open'),
    Rule('CMD-3', 'session', 'MUST', 'RFC 5321 3.5.3, 7.3',
         'VRFY gets 250 only for a verified mailbox, 252 when verification is disabled'),
    Rule('PM-1', 'postmaster', 'MUST', 'RFC 5321 4.5.1',
         'RCPT TO:<postmaster@D> and <Postmaster> (any case) are accepted at every MX of D'),
    Rule('PM-2', 'postmaster', 'SHOULD', 'RFC 2142 4, 5',
         'RCPT TO:<abuse@D> is accepted'),
    Rule('NS-1', 'null_sender', 'MUST', 'RFC 5321 4.5.5, 6.1',
         'MAIL FROM:<> is accepted'),
    Rule('RL-1', 'relay', 'BCP', 'RFC 5321 3.6, 7.9',
         'RCPT to a foreign domain from an outside client gets 5xx; 2xx is an open relay'),
    Rule('RL-2', 'relay', 'BCP', 'RFC 5321 3.6, 7.9',
         'No relay variant (percent hack, bang path, quoted local part, source route, IP literal, double @) is accepted'),
    Rule('RL-3', 'domain_acceptance', 'MUST', 'RFC 5321 4.5.1, 3.6',
         'An MX accepts mail for the domains whose MX it is'),
    Rule('RV-1', 'recipient', 'BCP', 'RFC 5321 3.6, 6.1',
         'A random unknown local part is refused at RCPT time; 2xx means bounces later (backscatter risk)'),
    Rule('PL-1', 'pipelining', 'MUST', 'RFC 2920 3.2',
         'A pipelined MAIL/RCPT/RSET/QUIT group gets exactly four replies in order, with no early close'),
    Rule('PL-2', 'pipelining', 'MUST', 'RFC 2920 3.2',
         'A group ending in NOOP is answered completely without further input'),
    Rule('HL-1', 'helo', 'MUST NOT', 'RFC 5321 4.1.4',
         'A valid EHLO name that does not match the client does not make the server refuse mail'),
)}


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

    def __post_init__(self) -> None:
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

    def to_dict(self) -> dict[str, t.Any]:
        return {
            'check': self.check,
            'rule': self.rule,
            'status': self.status,
            'level': self.level,
            'rfc': self.rfc or CATALOGUE[self.rule].rfc,
            'domain': self.domain,
            'mx': self.mx,
            'address': self.address,
            'summary': self.summary,
            'transcript': list(self.transcript),
        }


def _field(finding: Finding | dict[str, t.Any], name: str) -> t.Any:
    return finding[name] if isinstance(finding, dict) else getattr(finding, name)


def is_compliant(findings: t.Iterable[Finding | dict[str, t.Any]]) -> bool:
    """True when no MUST-level finding failed (DESIGN: `compliant`)."""
    return not any(_field(f, 'status') == FAIL and _field(f, 'level') in MANDATORY_LEVELS for f in findings)


def worst_status(findings: t.Iterable[Finding | dict[str, t.Any]]) -> str | None:
    statuses = [_field(f, 'status') for f in findings]
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else None


def status_counts(findings: t.Iterable[Finding | dict[str, t.Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for finding in findings:
        counts[_field(finding, 'status')] += 1
    return counts
