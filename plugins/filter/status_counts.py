# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: status_counts
short_description: Count findings by status
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Counts a list of findings (as the modules of this collection return them) by status.
  - All six statuses are keys of the result, with V(0) where no finding has that status.
  - The same code as the modules' own roll-up, so a task and a report template count alike.
positional: _input
options:
  _input:
    description: A list of findings; each a dict with at least C(status).
    type: list
    elements: dict
    required: true
seealso:
  - plugin: mxaudit.smtp.worst_status
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Count the findings of a postmaster check
  mxaudit.smtp.postmaster_check:
    domain: example.org
  register: check

- name: Show how many failed
  ansible.builtin.debug:
    msg: "{{ (check.findings | mxaudit.smtp.status_counts).fail }} failed"

- name: Counts over every domain of a bulk audit
  ansible.builtin.debug:
    msg: "{{ audit.domains | map(attribute='findings') | flatten | mxaudit.smtp.status_counts }}"
  # => {"pass": 812, "fail": 3, "warn": 20, "inconclusive": 4, "error": 1, "skipped": 0}
"""

RETURN = r"""
_value:
  description: Status -> number of findings, for each of V(pass), V(fail), V(warn), V(inconclusive), V(error), V(skipped).
  type: dict
  sample: {pass: 10, fail: 1, warn: 2, inconclusive: 0, error: 0, skipped: 0}
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, status_counts


def status_counts_filter(findings):
    try:
        return status_counts(findings)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.status_counts: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'status_counts': status_counts_filter}
