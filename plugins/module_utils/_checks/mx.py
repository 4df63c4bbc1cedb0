# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""MX-1 and MX-2: judging what DNS says about where a domain's mail goes.

RFC 5321 5.1: MX targets are host names with addresses; with no MX the
domain's own A/AAAA records are the implicit MX. RFC 2181 10.3: an MX
target must not be an alias. RFC 7505 3: a null MX ("0 .") is the only MX.
DNS failures are `error` (the audit could not look), never `fail`.

An address that is not globally routable (10.x, 127.x, 169.254.x, fc00::/7
...) is `warn`, not `fail`: it cannot take mail from the Internet, but the
auditor may be looking through a split-horizon resolver at an internal
zone, where such an MX is right; it is not probed unless the run allows
private addresses. The hosts and addresses beyond the run's caps are
`skipped`, by name: nothing is said about them.
"""

from __future__ import annotations

import typing as t

from .._dns import MXHost, MXSet
from .._findings import ERROR, FAIL, PASS, SKIPPED, WARN, Finding, Rule, define_rules

CHECK = 'mx'
RULES = define_rules(CHECK, (
    Rule('MX-1', 'MUST', 'high', 'RFC 5321 5.1', 'No MX: implicit MX on A/AAAA; an MX target has an address and is a host name, not an IP address'),
    Rule('MX-2', 'MUST', 'high', 'RFC 7505 3', 'A null MX ("0 .") is the only MX of its domain; such a domain is not probed'),
))
# Names or addresses listed in one summary; the rest are counted.
LISTED = 10


def _listed(items: list[str]) -> str:
    shown = ', '.join(items[:LISTED])
    return shown + (' and %d more' % (len(items) - LISTED) if len(items) > LISTED else '')


def _private_summary(label: str, host: MXHost) -> str:
    if len(host.private) == len(host.addresses):
        which = 'its address %s is' % host.private[0] if len(host.private) == 1 else \
            'its addresses %s are' % _listed(host.private)
    else:
        which = '%d of its %d addresses (%s) are' % (len(host.private), len(host.addresses), _listed(host.private))
    return ('%s: %s not globally routable (private, loopback, link-local, shared or reserved), so mail from the '
            'Internet cannot be delivered there; not probed (set allow_private_addresses to audit such addresses)'
            % (label, which))


def judge_mx(mx: MXSet) -> list[Finding]:
    domain = mx.domain

    def finding(rule: str, status: str, summary: str, host: str | None = None, rfc: str | None = None) -> Finding:
        return Finding(rule=rule, status=status, summary=summary, domain=domain, mx=host, rfc=rfc)

    if mx.nxdomain:
        return [finding('MX-1', ERROR, '%s does not exist in DNS (NXDOMAIN)' % domain)]
    if mx.error:
        return [finding('MX-1', ERROR, 'MX lookup for %s failed: %s' % (domain, mx.error))]
    findings: list[Finding] = []
    if mx.null_mx:
        if not mx.null_mx_mixed:
            return [finding('MX-2', PASS, '%s publishes a null MX ("0 ."): it accepts no mail, so it is not probed'
                            % domain)]
        findings.append(finding('MX-2', FAIL, '%s publishes a null MX ("0 .") together with %d other MX record(s); '
                                'a null MX must be the only MX' % (domain, len(mx.hosts) + len(mx.omitted))))
    if mx.implicit:
        if not mx.hosts:
            return [finding('MX-1', WARN, '%s has no MX and no A/AAAA record, so it cannot receive mail; '
                            'publish a null MX (RFC 7505) if that is intended' % domain)]
        implicit = mx.hosts[0]
        label = '%s (no MX record, the implicit MX)' % domain
        if implicit.private:
            findings.append(finding('MX-1', WARN, _private_summary(label, implicit), host=domain))
        else:
            findings.append(finding('MX-1', PASS, '%s has no MX record; its own address(es) %s act as the implicit MX'
                                    % (domain, ', '.join(implicit.probed_addresses)), host=domain))
        return findings + _capped(finding, label, implicit)
    problems = 0
    for host in mx.hosts:
        label = 'MX %d %s' % (host.preference, host.host)
        if host.is_ip:
            problems += 1
            findings.append(finding('MX-1', FAIL, '%s: the MX target is an IP address, not a host name; senders look '
                                    'it up as a name' % label, host.host))
        elif not host.addresses and host.errors:
            problems += 1
            findings.append(finding('MX-1', ERROR, '%s: address lookup failed: %s' % (label, '; '.join(host.errors)),
                                    host.host))
        elif not host.addresses:
            problems += 1
            findings.append(finding('MX-1', FAIL, '%s: the MX target has no A or AAAA record' % label, host.host))
        elif host.cname:
            problems += 1
            findings.append(finding('MX-1', WARN, '%s: the MX target is an alias (CNAME to %s); MX targets must not '
                                    'be aliases' % (label, host.cname), host.host, rfc='RFC 2181 10.3'))
        if host.private and not host.is_ip:
            problems += 1
            findings.append(finding('MX-1', WARN, _private_summary(label, host), host.host))
    if not problems:
        findings.append(finding('MX-1', PASS, ', '.join(
            'MX %d %s (%s)' % (host.preference, host.host, ', '.join(host.probed_addresses)) for host in mx.hosts)))
    for host in mx.hosts:
        findings += _capped(finding, 'MX %d %s' % (host.preference, host.host), host)
    if mx.omitted:
        names = ['MX %d %s' % (preference, host) for preference, host in mx.omitted]
        findings.append(finding('MX-1', SKIPPED, '%d more MX hosts beyond the first %d (max_mx_hosts, most preferred '
                                'first) were neither looked up nor probed: %s'
                                % (len(mx.omitted), len(mx.hosts), _listed(names))))
    return findings


def _capped(finding: t.Callable[..., Finding], label: str, host: MXHost) -> list[Finding]:
    """The addresses of a host beyond max_addresses_per_host: named as not probed."""
    if not host.beyond_cap:
        return []
    return [finding('MX-1', SKIPPED, '%s: %d of its %d addresses were not probed (max_addresses_per_host): %s'
                    % (label, len(host.beyond_cap), len(host.addresses), _listed(host.beyond_cap)), host.host)]


def invalid_domain(domain: str, reason: str) -> Finding:
    """A name that is not a domain: nothing could be looked up, so `error`."""
    return Finding(rule='MX-1', status=ERROR, summary='not audited: %s' % reason, domain=domain)
