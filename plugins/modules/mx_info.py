#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: mx_info
short_description: Find and judge the mail exchangers of a domain
version_added: 0.1.0
description:
  - Looks up the MX records of one or more domains and the addresses of every MX host, the way a sending MTA does (RFC 5321 section 5.1).
  - Handles a domain without MX (its own A/AAAA records are the implicit MX) and the null MX of RFC 7505 (C(0 .), the domain accepts no mail).
  - Reports DNS findings as rule V(MX-1) (an MX target that is an IP address, has no address or is a CNAME; no MX and no address)
    and V(MX-2) (a null MX mixed with other MX records).
  - DNS failures (SERVFAIL, timeout, NXDOMAIN) are findings with status V(error), never V(fail).
  - Sends no SMTP traffic; use M(mxaudit.smtp.smtp_info) to talk to the hosts found.
author:
  - mxaudit.smtp contributors (@mxaudit)
extends_documentation_fragment:
  - mxaudit.smtp.common
  - mxaudit.smtp.common.attributes
notes:
  - The SMTP options (O(port), O(helo_name), O(mail_from), O(timeout), O(addresses)) are accepted so that C(module_defaults) for the
    group apply, and are not used, because this module sends no SMTP traffic.
seealso:
  - module: mxaudit.smtp.smtp_info
  - name: RFC 5321 section 5.1, Locating the Target Host
    description: How a sender finds the MX hosts of a domain, with the implicit MX.
    link: https://www.rfc-editor.org/rfc/rfc5321#section-5.1
  - name: RFC 7505, A "Null MX" No Service Resource Record
    description: How a domain says it accepts no mail.
    link: https://www.rfc-editor.org/rfc/rfc7505
'''

EXAMPLES = r'''
- name: Where does mail for example.org go?
  mxaudit.smtp.mx_info:
    domain: example.org
  register: mx

- name: Show the MX hosts in preference order
  ansible.builtin.debug:
    msg: "{{ mx.mx | map(attribute='host') | list }}"

- name: Several domains against a specific DNS server
  mxaudit.smtp.mx_info:
    domains:
      - example.org
      - example.net
    resolver:
      nameservers:
        - 192.0.2.53
      timeout: 3
  register: result

- name: Fail when a domain's MX records are broken
  ansible.builtin.assert:
    that: result.compliant
    fail_msg: "{{ result.findings | selectattr('status', 'eq', 'fail') | map(attribute='summary') | list }}"
'''

RETURN = r'''
mx:
  description:
    - The MX hosts of the domain in preference order, when a single domain was audited.
    - Empty for a null MX, a DNS error, or a domain with neither MX nor address.
  returned: when one domain was given
  type: list
  elements: dict
  contains:
    preference:
      description: The MX preference (0 for the implicit MX).
      type: int
    host:
      description: The MX target host name, without the trailing dot.
      type: str
    addresses:
      description: The IPv4 and IPv6 addresses of the host.
      type: list
      elements: str
    cname:
      description: The name the host is an alias of, when the MX target is a CNAME.
      type: str
  sample:
    - preference: 10
      host: mx1.example.org
      addresses: [192.0.2.10, 2001:db8::10]
      cname: null
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
      description: The MX hosts, as in RV(mx).
      type: list
      elements: dict
    implicit_mx:
      description: True when the domain has no MX record and its own address records act as the MX.
      type: bool
    null_mx:
      description: True when the domain publishes a null MX (C(0 .)).
      type: bool
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
findings:
  description: Every finding of every domain.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: The check id (V(mx)).
      type: str
    rule:
      description: The rule id of the catalogue (V(MX-1), V(MX-2)).
      type: str
    status:
      description: V(pass), V(fail), V(warn), V(inconclusive), V(error) (the lookup could not be made) or V(skipped).
      type: str
    level:
      description: The requirement level of the rule (V(MUST), V(SHOULD), V(MAY), V(BCP)).
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
      description: The MX host the finding is about, if any.
      type: str
    address:
      description: Always null for DNS findings.
      type: str
    summary:
      description: One sentence saying what was found.
      type: str
    transcript:
      description: Empty for DNS findings.
      type: list
      elements: str
  sample:
    - check: mx
      rule: MX-1
      status: fail
      level: MUST
      severity: high
      rfc: RFC 5321 5.1
      domain: example.org
      mx: mx2.example.org
      address: null
      summary: "MX 20 mx2.example.org: the MX target has no A or AAAA record"
      transcript: []
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
    run_module(module, 'mx_info')


if __name__ == '__main__':
    main()
