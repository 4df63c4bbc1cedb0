# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: findings_csv
short_description: An audit result as CSV, one row per finding
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Writes every finding of an audit result (merged or not) as a CSV row with the columns C(domain), C(vantage_point), C(mx),
    C(address), C(check), C(rule), C(status), C(level), C(rfc), C(summary), after a header row.
  - Quoting is Python's C(csv) module (RFC 4180), lines end in CRLF; a summary with commas, quotes or line breaks stays one field.
  - A field that starts like a spreadsheet formula (C(=), C(+), C(-), C(@), tab, carriage return) gets a leading C(') so that
    a spreadsheet shows it as text instead of running it; server replies and domain names are not to be trusted.
  - Transcripts are not in the CSV; the JSON and HTML reports have them.
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
- name: Write the findings for a spreadsheet
  ansible.builtin.copy:
    content: "{{ audit | mxaudit.smtp.findings_csv }}"
    dest: /var/tmp/mxaudit-findings.csv
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The CSV text.
  type: str
  sample: "domain,vantage_point,mx,address,check,rule,status,level,rfc,summary\r\nexample.org,,mx1.example.org,192.0.2.10,\
    postmaster,PM-1,fail,MUST,RFC 5321 4.5.1,\"RCPT TO:<postmaster@example.org> refused: 550 Relaying is prohibited\"\r\n"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import ReportError, findings_csv


def findings_csv_filter(result):
    try:
        return findings_csv(result)
    except ReportError as exc:
        raise AnsibleFilterError('mxaudit.smtp.findings_csv: %s' % exc) from exc


class FilterModule:
    def filters(self):
        return {'findings_csv': findings_csv_filter}
