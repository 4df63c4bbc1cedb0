# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: group_findings
short_description: Group a domain's findings by MX host and address
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Groups a list of findings by the MX host and address they are about, in the order the groups first appear; the
    domain-level findings (DNS, with neither MX host nor address) come first.
  - Each group carries its worst status and its counts by status, so a report shows a headline per MX address.
positional: _input
options:
  _input:
    description: A list of findings, such as C(domains[].findings) of an M(mxaudit.smtp.audit) result.
    type: list
    elements: dict
    required: true
seealso:
  - plugin: mxaudit.smtp.worst_status
    plugin_type: filter
"""

EXAMPLES = r"""
- name: One line per MX address of the first domain
  ansible.builtin.debug:
    msg: "{{ item.mx }} {{ item.address }}: {{ item.status }}"
  loop: "{{ audit.domains[0].findings | mxaudit.smtp.group_findings }}"
  loop_control:
    label: "{{ item.address }}"
"""

RETURN = r"""
_value:
  description: The groups.
  type: list
  elements: dict
  contains:
    mx:
      description: The MX host name, or null for domain-level findings and for audits of given addresses.
      type: str
    address:
      description: The MX address, or null for domain-level findings.
      type: str
    status:
      description: The worst status of the group's findings.
      type: str
    counts:
      description: Status -> number of the group's findings.
      type: dict
    findings:
      description: The group's findings, in their original order.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, group_findings


def group_findings_filter(findings):
    try:
        return group_findings(findings)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.group_findings: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'group_findings': group_findings_filter}
