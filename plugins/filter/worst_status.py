# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: worst_status
short_description: The headline status of a list of findings
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Returns the worst status among a list of findings, by severity V(fail) > V(error) > V(inconclusive) > V(warn) > V(pass)
    > V(skipped).
  - Returns null for an empty list.
  - The same code as the modules use, so a task and a report template agree.
positional: _input
options:
  _input:
    description: A list of findings; each a dict with at least C(status).
    type: list
    elements: dict
    required: true
seealso:
  - plugin: mxaudit.smtp.status_counts
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Audit one domain
  mxaudit.smtp.audit:
    domain: example.org
  register: audit

- name: Stop when anything failed, even a SHOULD
  ansible.builtin.assert:
    that:
      - audit.domains[0].findings | mxaudit.smtp.worst_status != 'fail'
    fail_msg: "{{ audit.domains[0].findings | selectattr('status', '==', 'fail') | map(attribute='summary') | list }}"

- name: The headline status of every domain
  ansible.builtin.debug:
    msg: "{{ item.domain }}: {{ item.findings | mxaudit.smtp.worst_status }}"
  loop: "{{ audit.domains }}"
  loop_control:
    label: "{{ item.domain }}"
"""

RETURN = r"""
_value:
  description: One of V(fail), V(error), V(inconclusive), V(warn), V(pass), V(skipped); null when there are no findings.
  type: str
  sample: fail
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, worst_status


def worst_status_filter(findings):
    try:
        return worst_status(findings)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.worst_status: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'worst_status': worst_status_filter}
