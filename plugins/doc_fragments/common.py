# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:

    # The options every mxaudit.smtp module shares (set them once with module_defaults: group/mxaudit.smtp.all).
    DOCUMENTATION = r'''
options:
  domain:
    description:
      - The mail domain to audit.
      - Internationalized names are accepted and converted to A-labels (C(bücher.example) becomes C(xn--bcher-kva.example)).
      - Mutually exclusive with O(domains).
    type: str
  domains:
    description:
      - Several mail domains to audit in one call; duplicates are dropped.
      - Mutually exclusive with O(domain).
    type: list
    elements: str
  port:
    description:
      - TCP port of the SMTP servers.
      - Mail exchangers listen on 25; use another port only for a lab or a test instance.
    type: int
    default: 25
  helo_name:
    description:
      - The name sent with EHLO and HELO.
      - A domain name or an address literal such as C([192.0.2.1]).
      - Defaults to this host's fully qualified domain name. When this host has none (containers, AWX execution environment
        pods), the default is the address literal of the connection's local address, such as C([192.0.2.7]), which
        RFC 5321 section 4.1.4 allows; O(mail_from) then defaults to C(postmaster@localhost.localdomain), so set both for
        a sender that servers can verify.
    type: str
  mail_from:
    description:
      - The envelope sender of the probes that need a real one (the null sender C(<>) is probed on its own).
      - Defaults to C(postmaster@) followed by O(helo_name).
    type: str
  timeout:
    description:
      - Seconds to wait for the TCP connection and for each reply.
      - A server that never answers costs at most this long per step.
    type: float
    default: 10.0
  addresses:
    description:
      - Skip DNS and audit these IP addresses as the mail exchangers of the domain.
      - Only with a single domain.
    type: list
    elements: str
  tls_ca_file:
    description:
      - A PEM file of CA certificates that the C(tls) check trusts instead of the system trust store (rule TLS-4), and
        the C(mta_sts) check for the policy host's HTTPS certificate (STS-2) and the MX certificates (STS-3).
      - For a private CA, or to audit against a fixed set of anchors.
      - Judging certificates (TLS-4, TLS-5, TLS-6) needs the Python package C(cryptography) on the host that runs
        the audit; without it those rules are V(skipped) and say so.
    type: path
  deadline:
    description:
      - Seconds the whole call may take, DNS and every SMTP session included.
      - Sessions still running then stop; what has not started is not started. Everything unfinished is reported
        V(inconclusive), with the reason, never V(fail).
    type: float
    default: 3600
    version_added: 0.2.0
  concurrency:
    description:
      - SMTP sessions open at once, over all addresses (and domains resolved at once, at least 10).
      - Lowered, with a warning, to what this host's limit of open files allows; the module first raises its soft limit
        (C(RLIMIT_NOFILE)) to the hard limit.
    type: int
    default: 100
    version_added: 0.2.0
  per_address:
    description:
      - SMTP sessions open at once to one MX address.
      - An address that refuses the connection, cannot be reached, never greets, greets with anything but 220, or
        answers C(421) is not tried again in the same call; the probes still to come there get the same finding.
    type: int
    default: 2
    version_added: 0.2.0
  policy:
    description:
      - Which failed findings make a domain V(noncompliant), and so which rules must be decided for V(compliant).
      - A rule counts when its level is in O(policy.levels) or its severity is at least O(policy.severity)
        (the catalogue gives every rule both; see the collection's C(docs/checks.md)).
      - A domain is V(noncompliant) when a counted rule failed; else V(unverified) when a counted rule was decided at no
        address of the domain (only V(error), V(inconclusive), or V(skipped) for a reason other than "does not apply");
        else V(compliant). RV(compliant) is true only for V(compliant); nothing audited is never compliant.
    type: dict
    version_added: 0.2.0
    suboptions:
      levels:
        description:
          - Requirement levels whose failures count.
        type: list
        elements: str
        choices: [MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, BCP]
        default: [MUST, MUST NOT]
      severity:
        description:
          - The least severity whose failures count, whatever the level; V(none) counts by level only.
          - The default counts open relaying (V(critical)) and the V(high) rules (postmaster, the null sender, domain
            acceptance, MX records, pipelining).
        type: str
        choices: [info, low, medium, high, critical, none]
        default: high
  max_mx_hosts:
    description:
      - MX hosts of one domain that are looked up and probed, the most preferred first (1 to 1000).
      - The others are neither looked up nor probed; a V(MX-1) finding with status V(skipped) names them. A domain with
        a thousand MX records would otherwise cost thousands of DNS queries and sessions.
    type: int
    default: 10
    version_added: 0.2.0
  max_addresses_per_host:
    description:
      - Addresses of one MX host that are probed (1 to 100), the first in numeric order with IPv4 and IPv6 in turn, so
        the same ones are probed on every run whatever order DNS gives them in.
      - The others are not probed; a V(MX-1) finding with status V(skipped) names them.
    type: int
    default: 4
    version_added: 0.2.0
  allow_private_addresses:
    description:
      - Also probe the addresses found in DNS that are not globally routable - private (V(10.0.0.0/8), V(172.16.0.0/12),
        V(192.168.0.0/16), V(fc00::/7)), loopback, link-local, shared, documentation, reserved or multicast, also inside
        IPv4-mapped, 6to4 and NAT64 addresses.
      - By default they are not probed and a V(MX-1) finding with status V(warn) names them, since any audited domain can point
        its MX into the network of the host that runs the audit, and such an MX cannot receive mail from the Internet.
      - Set it for internal zones seen through an internal resolver, and for labs on V(127.0.0.0/8).
      - Addresses given with O(addresses) are always probed.
    type: bool
    default: false
    version_added: 0.2.0
  resolver:
    description:
      - How to query DNS.
    type: dict
    suboptions:
      nameservers:
        description:
          - IP addresses of the DNS servers to ask.
          - When given, the system resolver configuration is never consulted.
          - When omitted, C(/etc/resolv.conf) of the managed host is used.
        type: list
        elements: str
      port:
        description:
          - UDP/TCP port of the DNS servers.
        type: int
        default: 53
      timeout:
        description:
          - Seconds for each DNS lookup; a lookup that times out is asked once more.
          - At most 50 lookups are in flight at once over the whole call.
        type: float
        default: 5.0
requirements:
  - dnspython >= 2.3 on the managed host
notes:
  - Every module of this collection is read-only; it never completes a DATA transaction and so never delivers mail.
'''

    ATTRIBUTES = r'''
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode and never reports a change.
  diff_mode:
    support: N/A
    description: Nothing changes, so there is no diff.
  action_group:
    support: full
    membership:
      - mxaudit.smtp.all
    description: Use C(group/mxaudit.smtp.all) in C(module_defaults) to set the common options once.
'''
