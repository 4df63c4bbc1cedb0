#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: recipient_check
short_description: Check that every MX of a domain refuses unknown recipients at RCPT time
version_added: 0.1.0
description:
  - At every address of every MX host of the domain sends C(RCPT TO:) a random local part that cannot exist at the domain.
  - V(RV-1) (BCP, RFC 5321 sections 3.6 and 6.1) passes on a 5xx. A 2xx is V(warn) - the server accepts unknown recipients and
    must bounce them later, to senders that spam forges (backscatter) - never V(fail), since a catch-all domain does it on purpose.
  - A refusal of this client, a refusal of the whole domain (see M(mxaudit.smtp.postmaster_check)), a 4xx or 421 is V(inconclusive).
  - Never sends DATA; a server that accepts at RCPT and refuses at DATA is still reported as accepting.
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
seealso:
  - module: mxaudit.smtp.smtp_info
  - name: RFC 5321 section 6.1, Reliable Delivery and Replies by Email
    description: >-
      A server that accepts a recipient it cannot deliver to must bounce the message later, to a sender spam often forges
      (rule RV-1; the collection's C(docs/checks.md) says how each reply is judged).
    link: https://www.rfc-editor.org/rfc/rfc5321#section-6.1
'''

EXAMPLES = r'''
- name: Do the MX hosts of example.org validate recipients?
  mxaudit.smtp.recipient_check:
    domain: example.org
    helo_name: audit.example.net
  register: recipients

- name: List the hosts that accept unknown recipients
  ansible.builtin.debug:
    msg: "{{ recipients.findings | selectattr('status', 'eq', 'warn') | map(attribute='address') | list }}"
'''

RETURN = r'''
findings:
  description: Every finding, one per rule and address probed; DNS findings (V(MX-1), V(MX-2)) that explain a missing target come first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check id (V(recipient)).
      type: str
    rule:
      description: The rule id of the catalogue (V(RV-1)).
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
    - check: recipient
      rule: RV-1
      status: warn
      level: BCP
      severity: medium
      rfc: RFC 5321 3.6, 6.1
      domain: example.org
      mx: mx1.example.org
      address: 192.0.2.10
      summary: >-
        RCPT TO:<mxaudit-nosuchuser-1a2b3c4d5e6f@example.org> (a local part that cannot exist) got "250 2.1.5 Ok": the server
        accepts unknown recipients at RCPT time, so it must bounce them later ...
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


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(COMMON_ARGUMENT_SPEC, retry_4xx=dict(type='float', default=0.0)),
        mutually_exclusive=COMMON_MUTUALLY_EXCLUSIVE,
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    run_module(module, 'recipient_check')


if __name__ == '__main__':
    main()
