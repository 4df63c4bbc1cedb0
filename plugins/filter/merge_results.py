# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_results
short_description: Merge the audit results of several vantage points into one
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Takes the results of the M(mxaudit.smtp.audit) module on several hosts (vantage points) and returns one result of the same
    shape, which the C(mxaudit.smtp.report) role renders.
  - Every domain of every result is kept, with the key C(vantage_point) added. With the domains sharded across the hosts each
    domain appears once; with every domain audited from every host a domain appears once per vantage point.
  - The statistics are summed, their percentages recomputed, and C(seconds) is the longest run.
  - A result that failed (C(failed) or C(unreachable)) becomes a vantage point with C(failed=true) and its message; its domains
    were not audited, so the merged result is not compliant. Skipped results are left out.
  - Deterministic - the time of the report is passed in with O(generated), never read from a clock.
positional: _input, generated
options:
  _input:
    description:
      - A list of dicts C({host, result}) - the vantage point's name and the registered result of M(mxaudit.smtp.audit) there.
    type: list
    elements: dict
    required: true
  generated:
    description:
      - The time of the report, copied into the merged result as C(generated); an ISO 8601 UTC timestamp such as
        V(2025-01-31T02:00:00Z).
    type: str
seealso:
  - module: mxaudit.smtp.audit
  - plugin: mxaudit.smtp.rollup
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Audit the domains of this vantage point
  mxaudit.smtp.audit:
    domains: "{{ my_shard }}"
  register: audit

- name: Merge every vantage point's result on the controller
  ansible.builtin.set_fact:
    merged: >-
      {{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'audit')))
         | dict2items(key_name='host', value_name='result')
         | mxaudit.smtp.merge_results(now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ')) }}
  run_once: true

- name: Say which vantage points could not reach port 25
  ansible.builtin.debug:
    msg: "{{ merged.vantage_points | selectattr('blocked') | map(attribute='message') | list }}"
  run_once: true

- name: Merge two results by hand
  ansible.builtin.debug:
    msg: "{{ [{'host': 'vp-eu', 'result': eu_audit}, {'host': 'vp-us', 'result': us_audit}] | mxaudit.smtp.merge_results }}"
"""

RETURN = r"""
_value:
  description: The merged result.
  type: dict
  contains:
    domains:
      description: Every domain entry of the inputs (C(domain), C(mx), C(findings), C(compliant)) with C(vantage_point) added.
      type: list
      elements: dict
    stats:
      description:
        - The roll-up of M(mxaudit.smtp.audit) summed over the vantage points; C(checks) per check and status, C(total) and
          C(percent); C(compliant_percent) and C(refused_at_percent) recomputed; C(seconds) the longest run.
        - With every domain audited from every host, the counts are per domain and vantage point.
      type: dict
    vantage_points:
      description: One entry per input that was not skipped.
      type: list
      elements: dict
      contains:
        host:
          description: The vantage point's name.
          type: str
        blocked:
          description: True when no connection of that host's run succeeded (outbound port 25 blocked).
          type: bool
        failed:
          description: True when the audit failed on that host.
          type: bool
        message:
          description: The reason of a blocked or failed vantage point, or null.
          type: str
        addresses_reached:
          description: MX addresses that host reached.
          type: int
        addresses_unreachable:
          description: MX addresses that host could not reach.
          type: int
        domains:
          description: Domains audited from that host.
          type: int
    compliant:
      description: True when every domain is compliant and no vantage point failed.
      type: bool
    generated:
      description: The value of O(generated), or null.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, merge_results


def merge_results_filter(items, generated=None):
    if generated is not None and not isinstance(generated, str):
        raise AnsibleFilterError('mxaudit.smtp.merge_results: generated must be a string (ISO 8601), got %s'
                                 % type(generated).__name__)
    try:
        return merge_results(items, generated)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.merge_results: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'merge_results': merge_results_filter}
