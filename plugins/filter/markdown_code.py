# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: markdown_code
short_description: A fenced Markdown code block that server text cannot close
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Wraps lines (such as a transcript) in a fenced code block whose fence is longer than any run of backticks in the text, so a
    reply containing C(```) cannot end the block early and turn the rest into markup.
positional: _input
options:
  _input:
    description: A list of lines, or one string.
    type: raw
    required: true
seealso:
  - plugin: mxaudit.smtp.markdown_escape
    plugin_type: filter
"""

EXAMPLES = r"""
- name: The transcript of a failing finding, for a ticket
  ansible.builtin.debug:
    msg: "{{ finding.transcript | mxaudit.smtp.markdown_code }}"
"""

RETURN = r"""
_value:
  description: The code block, fences included, without a final line break.
  type: str
"""

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import markdown_code


class FilterModule:
    def filters(self):
        return {'markdown_code': markdown_code}
