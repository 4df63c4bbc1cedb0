#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: smtp_info
short_description: Talk to every mail exchanger of a domain and judge its SMTP session behaviour
version_added: 0.1.0
description:
  - Opens one SMTP session to every address of every MX host of the domain (primary and backups), or to the O(addresses) given,
    and reports the greeting, the EHLO capabilities and the session findings, with the transcript of each session in the
    C(C:) / C(S:) form.
  - "Rules checked (see the collection's C(docs/checks.md)): V(GR-1) greeting C(220 <domain>) (a C(554) greeting is a legal refusal);
    V(GR-2) reply syntax; V(GR-3) EHLO supported and HELO working as a fallback (tried in a second short session);
    V(CMD-1) NOOP, RSET (and that it clears the transaction), QUIT; V(CMD-2) an unknown verb gets C(500) and the session goes on;
    V(CMD-3) VRFY answers C(250) only for a verified mailbox and C(252) when verification is disabled."
  - A temporary reply (4xx, including C(421)), a timeout or a connection that cannot be made is never a V(fail); it gives an
    V(inconclusive) or V(error) finding with the reason.
  - The probe sends MAIL FROM but never RCPT TO or DATA; no mail is ever delivered.
author:
  - mxaudit.smtp contributors (@mxaudit)
extends_documentation_fragment:
  - mxaudit.smtp.common
  - mxaudit.smtp.common.attributes
seealso:
  - module: mxaudit.smtp.mx_info
  - name: RFC 5321, Simple Mail Transfer Protocol
    description: The protocol the findings cite.
    link: https://www.rfc-editor.org/rfc/rfc5321
notes:
  - Port 25 is often blocked outbound at cloud providers and in offices; run the module from a host that can reach TCP/25 of the MX hosts.
  - A server that never greets costs at most O(timeout) seconds per session.
'''

EXAMPLES = r'''
- name: Audit the SMTP sessions of the MX hosts of example.org
  mxaudit.smtp.smtp_info:
    domain: example.org
    helo_name: audit.example.net
  register: smtp

- name: What does the primary MX advertise?
  ansible.builtin.debug:
    msg: "{{ smtp.sessions[0].capabilities }}"

- name: Probe a new mail server by address before it is in DNS
  mxaudit.smtp.smtp_info:
    domain: example.org
    addresses:
      - 192.0.2.25
    helo_name: audit.example.net
    timeout: 5
  register: new_mx

- name: Stop when the new server breaks a MUST of RFC 5321
  ansible.builtin.assert:
    that: new_mx.compliant
    fail_msg: "{{ new_mx.findings | selectattr('status', 'eq', 'fail') | map(attribute='summary') | list }}"

- name: Set the common options once for every module of the collection
  module_defaults:
    group/mxaudit.smtp.all:
      helo_name: audit.example.net
      timeout: 5
  block:
    - name: Session audit
      mxaudit.smtp.smtp_info:
        domain: example.org
'''

RETURN = r'''
sessions:
  description: One entry per address probed.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The domain the address serves.
      type: str
    mx:
      description: The MX host name the address belongs to (null when O(addresses) was given).
      type: str
    address:
      description: The IP address probed.
      type: str
    port:
      description: The TCP port.
      type: int
    greeting:
      description: The first line of the greeting (C(...) is added when it had more lines), or null when none arrived.
      type: str
      sample: 220 mx1.example.org ESMTP Postfix
    greeting_code:
      description: The reply code of the greeting.
      type: int
    esmtp:
      description: True when EHLO was accepted.
      type: bool
    ehlo_domain:
      description: The domain the server named in its EHLO reply.
      type: str
    capabilities:
      description: The EHLO extensions, parsed; null when EHLO was not accepted.
      type: dict
      contains:
        size:
          description: The SIZE limit in octets (RFC 1870); V(0) means no fixed limit; null when SIZE is not offered.
          type: int
        pipelining:
          description: PIPELINING (RFC 2920) offered.
          type: bool
        starttls:
          description: STARTTLS (RFC 3207) offered.
          type: bool
        8bitmime:
          description: 8BITMIME (RFC 6152) offered.
          type: bool
        smtputf8:
          description: SMTPUTF8 (RFC 6531) offered.
          type: bool
        enhancedstatuscodes:
          description: ENHANCEDSTATUSCODES (RFC 2034) offered.
          type: bool
        dsn:
          description: DSN (RFC 3461) offered.
          type: bool
        chunking:
          description: CHUNKING (RFC 3030) offered.
          type: bool
        binarymime:
          description: BINARYMIME (RFC 3030) offered.
          type: bool
        auth:
          description: The SASL mechanisms of AUTH (RFC 4954), upper case; empty when AUTH is not offered.
          type: list
          elements: str
        keywords:
          description: Every EHLO keyword the server advertised, upper case, sorted.
          type: list
          elements: str
        other:
          description: The keywords not listed above, each with its parameters.
          type: dict
      sample:
        size: 10240000
        pipelining: true
        starttls: false
        8bitmime: true
        smtputf8: true
        enhancedstatuscodes: true
        dsn: true
        chunking: true
        binarymime: false
        auth: []
        keywords: [8BITMIME, CHUNKING, DSN, ENHANCEDSTATUSCODES, ETRN, PIPELINING, SIZE, SMTPUTF8, VRFY]
        other: {ETRN: [], VRFY: []}
    helo_reply:
      description: The reply to HELO when EHLO was refused and HELO was used instead.
      type: str
    transcript:
      description: The sessions with this address, line by line; C(C:) is what the auditor sent, C(S:) what the server answered,
        C(**) an event (timeout, close, a second session).
      type: list
      elements: str
      sample:
        - "S: 220 mx1.example.org ESMTP"
        - "C: EHLO audit.example.net"
        - "S: 250-mx1.example.org"
        - "S: 250 PIPELINING"
    findings:
      description: The findings of this address, as in RV(findings).
      type: list
      elements: dict
    error:
      description: Why the session ended early (timeout, close, malformed reply, no connection), or null.
      type: str
domains:
  description: One entry per domain audited.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The domain as A-labels.
      type: str
    mx:
      description: The MX hosts (as returned by M(mxaudit.smtp.mx_info)); empty when O(addresses) was given.
      type: list
      elements: dict
    sessions:
      description: The sessions of this domain, as in RV(sessions).
      type: list
      elements: dict
    findings:
      description: The DNS and session findings of this domain.
      type: list
      elements: dict
    verdict:
      description:
        - V(compliant), V(noncompliant) (a failed finding violates O(policy)) or V(unverified) (a rule O(policy) counts was
          decided at no address of this domain - DNS failed, no server answered, every reply was a 4xx).
      type: str
      version_added: 0.2.0
    compliant:
      description: True only when RV(domains[].verdict) is V(compliant).
      type: bool
    coverage:
      description: How much was decided - rule-address cells with a decided finding (pass, fail, warn, or skipped because the
        rule does not apply), cells with any finding, and the percentage.
      type: dict
      version_added: 0.2.0
      sample: {decided: 10, probed: 12, percent: 83.3}
    undecided_rules:
      description: The rules O(policy) counts that were decided at no address (why the domain is V(unverified)).
      type: list
      elements: str
      returned: when some were not decided
      version_added: 0.2.0
mx:
  description: The MX hosts of the domain, when a single domain was audited (see M(mxaudit.smtp.mx_info)).
  returned: when one domain was given
  type: list
  elements: dict
findings:
  description: Every finding, DNS ones (V(MX-1), V(MX-2)) first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check id (V(mx), V(greeting), V(ehlo), V(session)).
      type: str
    rule:
      description: The rule id of the catalogue.
      type: str
    status:
      description: >-
        V(pass); V(fail) (the server was seen to violate the rule); V(warn); V(inconclusive) (the evidence does not decide:
        4xx, 421, timeout, a policy refusal of the auditor); V(error) (the audit could not run: no connection, DNS failure);
        V(skipped) (not probed, the summary says why).
      type: str
    level:
      description: The requirement level of the rule (V(MUST), V(MUST NOT), V(SHOULD), V(MAY), V(BCP)).
      type: str
    severity:
      description: How much a violation of the rule matters (V(critical), V(high), V(medium), V(low), V(info)).
      type: str
      version_added: 0.2.0
    rfc:
      description: The RFC section the rule comes from.
      type: str
    domain:
      description: The domain.
      type: str
    mx:
      description: The MX host.
      type: str
    address:
      description: The address of the session.
      type: str
    summary:
      description: One sentence saying what was sent, what came back and what that means.
      type: str
    transcript:
      description: The transcript of the session the finding comes from.
      type: list
      elements: str
  sample:
    - check: session
      rule: CMD-3
      status: fail
      level: MUST
      severity: high
      rfc: RFC 5321 3.5.3, 7.3
      domain: example.org
      mx: mx1.example.org
      address: 192.0.2.10
      summary: >-
        VRFY postmaster "550 5.1.1 User unknown", VRFY of an unknown user "550 5.1.1 User unknown": postmaster must exist,
        so 550 is not a verification result; a server that will not verify answers 252 (it answers 550 to everything)
      transcript: ["S: 220 mx1.example.org ESMTP", "C: EHLO audit.example.net", "..."]
verdict:
  description:
    - The worst verdict of the domains (V(noncompliant), then V(unverified), then V(compliant)); V(unverified) when no domain
      was audited.
  returned: always
  type: str
  version_added: 0.2.0
compliant:
  description: True only when RV(verdict) is V(compliant); never true when nothing could be audited.
  returned: always
  type: bool
vantage_point:
  description: Whether this host could reach the MX hosts at all (see M(mxaudit.smtp.audit)).
  returned: always
  type: dict
  version_added: 0.2.0
  contains:
    blocked:
      description: True when every connection of the call failed, at several addresses.
      type: bool
    message:
      description: The one sentence that explains a blocked vantage point, or null.
      type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxaudit.smtp.plugins.module_utils._module_runner import run_module
from ansible_collections.mxaudit.smtp.plugins.module_utils._options import COMMON_ARGUMENT_SPEC, COMMON_MUTUALLY_EXCLUSIVE


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(COMMON_ARGUMENT_SPEC),
        mutually_exclusive=COMMON_MUTUALLY_EXCLUSIVE,
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    run_module(module, 'smtp_info')


if __name__ == '__main__':
    main()
