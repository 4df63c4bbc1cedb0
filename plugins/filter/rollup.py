# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: rollup
short_description: The summary table of an audit result
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Turns the C(stats) of an M(mxaudit.smtp.audit) result (or of P(mxaudit.smtp.merge_results#filter)) into the rows of a
    summary table, the way the reports show it.
  - First a row per check id in catalogue order (C(kind=check)) with the number and percentage of findings of each status,
    then a row C(kind=total) over all checks.
  - Then the rows of the run (C(kind=stage)), as in a call-back verification report - domains, invalid names, DNS errors,
    no MX, implicit MX, null MX, MX addresses, addresses not reached, SMTP sessions, refusals at greeting, EHLO/HELO, MAIL and
    RCPT, sessions ended with C(421), compliant domains - each with its percentage of what it is counted against (domains,
    addresses, sessions, transactions or postmaster probes). A row whose statistic the result lacks is left out.
positional: _input
options:
  _input:
    description: An audit result, merged or not; only its C(stats) are read.
    type: dict
    required: true
seealso:
  - plugin: mxaudit.smtp.merge_results
    plugin_type: filter
  - module: mxaudit.smtp.audit
"""

EXAMPLES = r"""
- name: Audit the portfolio
  mxaudit.smtp.audit:
    domains_file: /etc/mxaudit/domains.txt
  register: audit

- name: Print the refusals by stage
  ansible.builtin.debug:
    msg: "{{ item.label }}: {{ item.count }}{{ '' if item.percent is none else ' (%s %%)' % item.percent }}"
  loop: "{{ audit | mxaudit.smtp.rollup | selectattr('kind', '==', 'stage') }}"
  loop_control:
    label: "{{ item.name }}"

- name: Checks with failures
  ansible.builtin.debug:
    msg: "{{ audit | mxaudit.smtp.rollup | selectattr('kind', '==', 'check') | selectattr('counts.fail') | map(attribute='name') }}"
"""

RETURN = r"""
_value:
  description: The rows of the summary table.
  type: list
  elements: dict
  contains:
    kind:
      description: V(check) for a check, V(total) for all checks together, V(stage) for a statistic of the run.
      type: str
    name:
      description: The check id (V(all) for the total), or the statistic (V(sessions), V(refused_greeting), ...).
      type: str
    label:
      description: What a report prints as the row's title.
      type: str
    total:
      description: Check and total rows - the number of findings.
      type: int
    counts:
      description: Check and total rows - status -> number of findings, all six statuses.
      type: dict
    percent:
      description:
        - Check and total rows - status -> percentage of the findings.
        - Stage rows - the percentage of RV(_value[].base), or null when the row has no base.
      type: raw
    status:
      description: Check and total rows - the worst status among the findings, or null.
      type: str
    count:
      description: Stage rows - the number.
      type: int
    base:
      description: Stage rows - the statistic the percentage is taken of (V(domains), V(addresses), V(sessions),
        V(transactions), V(postmaster_probes)), or null.
      type: str
  sample:
    - {kind: check, name: postmaster, label: postmaster, total: 40, status: fail,
       counts: {pass: 38, fail: 2, warn: 0, inconclusive: 0, error: 0, skipped: 0},
       percent: {pass: 95.0, fail: 5.0, warn: 0.0, inconclusive: 0.0, error: 0.0, skipped: 0.0}}
    - {kind: stage, name: refused_greeting, label: Refused at greeting, count: 2, percent: 4.0, base: sessions}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, rollup


def rollup_filter(result):
    try:
        return rollup(result)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.rollup: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'rollup': rollup_filter}
