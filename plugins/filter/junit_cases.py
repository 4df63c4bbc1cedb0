# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: junit_cases
short_description: The JUnit view of an audit result
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Turns an audit result (merged or not) into test suites and test cases for a JUnit XML file, which the C(mxaudit.smtp.report)
    role lays out.
  - A test suite per domain; a test case per check and MX address, with C(classname) the domain and C(name) the check id, the
    address and the MX host. When a domain was audited from several vantage points (no sharding), suite and case names end in
    C(from <vantage point>).
  - The outcome of a case is the worst status of its findings - V(fail) is a failure, V(error) an error, V(skipped) skipped;
    V(inconclusive), V(warn) and V(pass) pass, and the inconclusive and warn findings are noted in C(out) (for C(<system-out>)).
  - The body of a failure or error lists the failing findings, each followed by its transcript in the C(C:) / C(S:) form.
  - Every text is stripped of the characters XML 1.0 cannot carry (they become U+FFFD) but is not escaped; the template escapes it.
positional: _input
options:
  _input:
    description: An audit result (M(mxaudit.smtp.audit)) or a merged one (P(mxaudit.smtp.merge_results#filter)).
    type: dict
    required: true
seealso:
  - plugin: mxaudit.smtp.merge_results
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Count the failing test cases as a CI dashboard would
  ansible.builtin.debug:
    msg: "{{ (audit | mxaudit.smtp.junit_cases).failures }} of {{ (audit | mxaudit.smtp.junit_cases).tests }} cases fail"
"""

RETURN = r"""
_value:
  description: The totals and the suites.
  type: dict
  contains:
    tests:
      description: Test cases in all.
      type: int
    failures:
      description: Test cases that failed.
      type: int
    errors:
      description: Test cases in error.
      type: int
    skipped:
      description: Test cases skipped.
      type: int
    suites:
      description: One per domain (and vantage point), with the same four counts, C(name), C(vantage_point) and C(cases).
      type: list
      elements: dict
      contains:
        cases:
          description:
            - The test cases - C(classname), C(name), C(status) (the worst), C(outcome) (V(pass), V(failure), V(error),
              V(skipped)), C(message) (the summaries of the findings with the worst status), C(body) (failing findings with
              transcripts) and C(out) (inconclusive and warn findings).
          type: list
          elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, junit_cases


def junit_cases_filter(result):
    try:
        return junit_cases(result)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.junit_cases: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'junit_cases': junit_cases_filter}
