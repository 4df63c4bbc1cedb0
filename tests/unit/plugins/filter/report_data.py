# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Audit results as the audit module returns them, small enough to reason about by hand."""

from __future__ import annotations

import typing as t

from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import STATUSES, Finding


def finding(rule: str, status: str, domain: str, mx: str | None = None, address: str | None = None,
            summary: str = '', transcript: list[str] | None = None) -> dict[str, t.Any]:
    return Finding(rule=rule, status=status, summary=summary or '%s %s' % (rule, status), domain=domain, mx=mx,
                   address=address, transcript=transcript or []).to_dict()


def check_stats(*findings: dict[str, t.Any]) -> dict[str, t.Any]:
    per_check: dict[str, dict[str, t.Any]] = {}
    for item in findings:
        counts = per_check.setdefault(item['check'], dict.fromkeys(STATUSES, 0))
        counts[item['status']] += 1
    for counts in per_check.values():
        counts['total'] = sum(counts[status] for status in STATUSES)
        counts['percent'] = {status: round(100.0 * counts[status] / counts['total'], 1) for status in STATUSES}
    return per_check


def no_postmaster_domain(domain: str = 'no-postmaster.example') -> dict[str, t.Any]:
    mx, address = 'mx.' + domain, '192.0.2.20'
    findings = [
        finding('MX-1', 'pass', domain),
        finding('GR-1', 'pass', domain, mx, address, transcript=['S: 220 %s ESMTP' % mx]),
        finding('PM-1', 'fail', domain, mx, address, 'RCPT TO:<postmaster@%s> refused: 550 Relaying is prohibited' % domain,
                ['S: 220 %s ESMTP' % mx, 'C: EHLO audit.example.net', 'S: 250 %s' % mx,
                 'C: MAIL FROM:<>', 'S: 250 OK', 'C: RCPT TO:<postmaster@%s>' % domain,
                 'S: 550 Relaying is prohibited']),
        finding('PM-2', 'warn', domain, mx, address, 'RCPT TO:<abuse@%s> refused: 550 unknown' % domain),
    ]
    return {'domain': domain, 'mx': [{'preference': 10, 'host': mx, 'addresses': [address]}], 'findings': findings,
            'compliant': False}


def compliant_domain(domain: str = 'good.example', address: str = '192.0.2.10') -> dict[str, t.Any]:
    mx = 'mx.' + domain
    findings = [
        finding('MX-1', 'pass', domain),
        finding('GR-1', 'pass', domain, mx, address),
        finding('PM-1', 'pass', domain, mx, address),
        finding('RV-1', 'inconclusive', domain, mx, address, '451 try again later'),
    ]
    return {'domain': domain, 'mx': [{'preference': 10, 'host': mx, 'addresses': [address]}], 'findings': findings,
            'compliant': True}


def audit_result(domains: list[dict[str, t.Any]], sessions: int = 10, transactions: int = 8, postmaster_probes: int = 4,
                 refused: dict[str, int] | None = None, seconds: float = 1.5, blocked: bool = False,
                 with_bases: bool = False) -> dict[str, t.Any]:
    """A result with stats consistent with its domains; the refusal counts are the caller's."""
    refused = dict({'greeting': 0, 'ehlo': 0, 'mail': 0, 'rcpt': 0}, **(refused or {}))
    bases = {'greeting': sessions, 'ehlo': sessions, 'mail': transactions, 'rcpt': postmaster_probes}
    all_findings = [item for domain in domains for item in domain['findings']]
    compliant = sum(1 for domain in domains if domain['compliant'])
    stats: dict[str, t.Any] = {
        'domains': len(domains), 'invalid': 0, 'dns_errors': 0, 'implicit_mx': 0, 'no_mx': 0, 'null_mx': 0,
        'addresses': len(domains), 'connect_errors': 0, 'sessions': sessions, 'refused_at': refused,
        'refused_at_percent': {stage: round(100.0 * refused[stage] / bases[stage], 1) if bases[stage] else 0.0
                               for stage in refused},
        'reply_421': 0, 'compliant': compliant,
        'compliant_percent': round(100.0 * compliant / len(domains), 1) if domains else 0.0,
        'checks': check_stats(*all_findings), 'seconds': seconds,
    }
    if with_bases:
        stats.update(transactions=transactions, postmaster_probes=postmaster_probes)
    return {
        'changed': False,
        'domains': domains,
        'stats': stats,
        'vantage_point': {'blocked': blocked, 'message': 'this host cannot reach TCP port 25' if blocked else None,
                          'addresses_reached': 0 if blocked else len(domains),
                          'addresses_unreachable': 3 if blocked else 0},
        'compliant': all(domain['compliant'] for domain in domains),
    }


def tls_entry(mx: str, address: str, **fields: t.Any) -> dict[str, t.Any]:
    """One entry of a domain's tls list, as the audit module returns it (a trusted TLS 1.3 session by default)."""
    entry: dict[str, t.Any] = {
        'mx': mx, 'address': address, 'starttls': True, 'protocol': 'TLSv1.3', 'cipher': 'TLS_AES_256_GCM_SHA384',
        'subject': 'CN=' + mx, 'issuer': 'CN=Example CA', 'not_before': '2025-01-01T00:00:00Z',
        'not_after': '2025-03-02T12:00:00Z', 'dns_names': [mx], 'trusted': True}
    entry.update(fields)
    return entry


def tls_domain(domain: str = 'tls.example', subject: str | None = None) -> dict[str, t.Any]:
    """A domain with two MX addresses: one with STARTTLS (its subject ``subject`` when given), one without."""
    mx = 'mx.' + domain
    findings = [
        finding('MX-1', 'pass', domain),
        finding('TLS-1', 'pass', domain, mx, '192.0.2.30'),
        finding('TLS-4', 'warn', domain, mx, '192.0.2.30', 'the chain does not validate'),
        finding('TLS-1', 'fail', domain, mx, '192.0.2.31', 'STARTTLS is not offered'),
    ]
    first = tls_entry(mx, '192.0.2.30', trusted=False, **({'subject': subject, 'issuer': subject} if subject else {}))
    second = tls_entry(mx, '192.0.2.31', starttls=False, protocol=None, cipher=None, subject=None, issuer=None,
                       not_before=None, not_after=None, dns_names=None, trusted=None)
    return {'domain': domain, 'mx': [{'preference': 10, 'host': mx, 'addresses': ['192.0.2.30', '192.0.2.31']}],
            'findings': findings, 'compliant': False, 'verdict': 'noncompliant', 'tls': [first, second]}
