#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: relay_check
short_description: Check that no MX of a domain relays mail to foreign domains
version_added: 0.1.0
description:
  - At every address of every MX host of the domain sends C(RCPT TO:<relay_recipient>) for a foreign domain (V(RL-1)), then, with
    O(relay_variants), the classic relay tricks (V(RL-2)) - a null, foreign or forged local sender; the percent hack; bang paths;
    quoted local parts; a double C(@); source routes - each against the MX's own domain, its banner name and its address literal.
    RSET between them; the session reconnects before the server's error limits.
  - A 2xx for the foreign domain is V(fail) (an open relay, from this vantage point). Any 5xx is a pass; 550 with a 5.7.x code is the
    preferred reply. A refusal because the test domain accepts no mail, a refusal of this client, a 4xx or 421 is V(inconclusive).
  - A variant that ends at the server's own domain (C(user%foreign@domain)) counts as relaying only when the same server refuses a
    random unknown mailbox at that domain, because an accept-all server takes any local part, which is not relaying.
  - RL-1 and RL-2 are best current practice (level V(BCP)) of severity V(critical), so under the default O(policy) an open
    relay makes the domain V(noncompliant).
  - Never sends DATA, so no message is ever relayed.
author:
  - mxaudit.smtp contributors (@mxaudit)
extends_documentation_fragment:
  - mxaudit.smtp.common
  - mxaudit.smtp.common.attributes
options:
  retry_4xx:
    description:
      - Seconds to wait before trying once more, in new sessions, the probes that met a temporary (4xx) reply and left a rule
        undecided - greylisting, or a first-contact deferral such as Postfix postscreen's C(450 4.3.2) to every RCPT of a new
        client's first session. V(0) turns retries off.
      - A postscreen-style deferral passes with a few seconds; greylisting needs the greylist delay, often 300 seconds.
      - The retry runs only if the pause ends before O(deadline). A rule the first try decided keeps that verdict; a rule still
        undecided after the retry stays V(inconclusive) and its summary says it was retried.
    type: float
    default: 0
    version_added: 0.2.0
  relay_recipient:
    description:
      - The foreign mailbox the probes try to relay to; it must not be at an audited domain.
      - The default is under a domain reserved for documentation. A server that checks recipient domains refuses it as a domain
        that accepts no mail, which gives V(inconclusive); set a mailbox at a domain that accepts mail (one you control) for a
        decisive test. No message is ever sent to it.
      - With O(relay_variants), every relay form built from it must be sendable, which a quoted local part (C("x y"@example.com))
        or a very long foreign domain is not; such a value is refused before any connection, naming the form.
    type: str
    default: mxaudit-relay-probe@example.com
  relay_variants:
    description:
      - Also try the relay tricks of rule V(RL-2) after the plain test of V(RL-1).
    type: bool
    default: true
seealso:
  - module: mxaudit.smtp.smtp_info
  - name: RFC 2505, Anti-Spam Recommendations for SMTP MTAs
    description: >-
      Why a mail server must not relay for strangers, and the address forms relaying tricks use (rules RL-1 and RL-2; the
      collection's C(docs/checks.md) says how each reply is judged).
    link: https://www.rfc-editor.org/rfc/rfc2505
'''

EXAMPLES = r'''
- name: Is any MX of example.org an open relay?
  mxaudit.smtp.relay_check:
    domain: example.org
    helo_name: audit.example.net
    relay_recipient: relay-test@example.net
  register: relay

- name: Stop on an open relay
  ansible.builtin.assert:
    that: relay.findings | selectattr('status', 'eq', 'fail') | list | length == 0
    fail_msg: "{{ relay.findings | selectattr('status', 'eq', 'fail') | map(attribute='summary') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding, one per rule and address probed; DNS findings (V(MX-1), V(MX-2)) that explain a missing target come first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check id (V(relay)).
      type: str
    rule:
      description: The rule id of the catalogue (V(RL-1), V(RL-2)).
      type: str
    status:
      description: >-
        V(pass); V(fail) (the server was seen to violate the rule); V(warn); V(inconclusive) (the evidence does not decide:
        4xx, 421, timeout, a refusal of this client); V(error) (the audit could not run: no connection, DNS failure);
        V(skipped) (not probed, for example after a 554 greeting; the summary says why).
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
      description: The MX host (null when O(addresses) was given).
      type: str
    address:
      description: The address probed.
      type: str
    summary:
      description: What was sent, what came back, and what that means.
      type: str
    transcript:
      description: The session(s) of this probe, C(C:) what the auditor sent, C(S:) what the server answered, C(**) events.
      type: list
      elements: str
  sample:
    - check: relay
      rule: RL-2
      status: fail
      level: BCP
      severity: critical
      rfc: RFC 5321 3.6, 7.9
      domain: example.org
      mx: mx1.example.org
      address: 192.0.2.10
      summary: >-
        relayed in 1 of 23 forms: percent hack at the domain: MAIL FROM:<postmaster@audit.example.net>
        RCPT TO:<mxaudit-relay-probe%example.com@example.org> was accepted ("250 2.1.5 Ok") while
        RCPT TO:<mxaudit-nosuchuser-1a2b3c4d5e6f@example.org> got "550 5.1.1 User unknown"
      transcript: ["S: 220 mx1.example.org ESMTP", "C: EHLO audit.example.net", "..."]
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
    findings:
      description: The findings of this domain, as in RV(findings).
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
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import DEFAULT_RELAY_RECIPIENT


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(COMMON_ARGUMENT_SPEC, retry_4xx=dict(type='float', default=0.0),
                           relay_recipient=dict(type='str', default=DEFAULT_RELAY_RECIPIENT),
                           relay_variants=dict(type='bool', default=True)),
        mutually_exclusive=COMMON_MUTUALLY_EXCLUSIVE,
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    run_module(module, 'relay_check')


if __name__ == '__main__':
    main()
