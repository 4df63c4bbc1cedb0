#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: pipelining_check
short_description: Check RFC 2920 pipelining at every MX of a domain
version_added: 0.1.0
description:
  - Only where the EHLO reply offers PIPELINING; otherwise the findings are V(skipped).
  - V(PL-1) (MUST, RFC 2920 section 3.2) sends C(MAIL FROM), C(RCPT TO), C(RSET), C(QUIT) in one write and wants exactly four replies
    in order with no early close. Lost replies, replies out of order, an early close and a stall each get their own summary; on
    failure the group is sent again split before QUIT, and the summary says whether that recovers.
  - V(PL-2) (MUST) sends a group ending in C(NOOP), a sync point, and wants every reply without further input.
  - A 5xx inside a group is an answer like any other; a 4xx or 421 ends as V(inconclusive). A stall fails only when the server
    answered its non-pipelined EHLO promptly.
  - Each group runs in its own session. Never sends DATA.
author:
  - mxaudit.smtp contributors (@mxaudit)
extends_documentation_fragment:
  - mxaudit.smtp.common
  - mxaudit.smtp.common.attributes
seealso:
  - module: mxaudit.smtp.smtp_info
  - name: RFC 2920, SMTP Service Extension for Command Pipelining
    description: >-
      How a server must answer a pipelined group of commands (rules PL-1 and PL-2; the collection's C(docs/checks.md) says
      how each reply is judged).
    link: https://www.rfc-editor.org/rfc/rfc2920
'''

EXAMPLES = r'''
- name: Does every MX of example.org pipeline correctly?
  mxaudit.smtp.pipelining_check:
    domain: example.org
    helo_name: audit.example.net
  register: pipelining
'''

RETURN = r'''
findings:
  description: Every finding, one per rule and address probed; DNS findings (V(MX-1), V(MX-2)) that explain a missing target come first.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check id (V(pipelining)).
      type: str
    rule:
      description: The rule id of the catalogue (V(PL-1), V(PL-2)).
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
    - check: pipelining
      rule: PL-1
      status: fail
      level: MUST
      severity: high
      rfc: RFC 2920 3.2
      domain: example.org
      mx: mx1.example.org
      address: 192.0.2.10
      summary: >-
        2 replies (250, 221) to 4 pipelined commands (MAIL, RCPT, RSET, QUIT): the server answered QUIT but lost the 2 commands
        before it, then closed (it flushed its input buffer; RFC 2920 3.2). Split before QUIT, the group is answered completely ...
      transcript: ["C: MAIL FROM:<postmaster@audit.example.net>", "C: RCPT TO:<postmaster@example.org>", "C: RSET", "C: QUIT",
                   "S: 250 Sender OK", "S: 221 closing", "..."]
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
        argument_spec=dict(COMMON_ARGUMENT_SPEC),
        mutually_exclusive=COMMON_MUTUALLY_EXCLUSIVE,
        required_one_of=[('domain', 'domains')],
        supports_check_mode=True,
    )
    run_module(module, 'pipelining_check')


if __name__ == '__main__':
    main()
