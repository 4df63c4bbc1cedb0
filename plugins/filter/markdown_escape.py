# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: markdown_escape
short_description: Make text safe inside a Markdown table cell or list item
version_added: 0.1.0
author:
  - mxaudit.smtp contributors (@mxaudit)
description:
  - Puts the text on one line (runs of white space, line breaks included, become one space) and backslash-escapes the
    characters Markdown would read as markup - C(|) (which would end a table cell), backticks, C(*), C(_), C([), C(]), C({),
    C(}), C(<), C(>), C(#), C(~), C(&) and the backslash itself.
  - Server replies are hostile input - a banner with C(|) or a backtick must not break a ticket's table, and a C(<script>) in it
    must stay text.
positional: _input
options:
  _input:
    description: The text; null becomes the empty string.
    type: raw
    required: true
seealso:
  - plugin: mxaudit.smtp.markdown_code
    plugin_type: filter
"""

EXAMPLES = r"""
- name: A table row of a finding
  ansible.builtin.debug:
    msg: "| {{ finding.rule }} | {{ finding.summary | mxaudit.smtp.markdown_escape }} |"
  vars:
    finding: {rule: GR-1, summary: "greeting 220 ***|*** `x`"}
  # => | GR-1 | greeting 220 \*\*\*\|\*\*\* \`x\` |
"""

RETURN = r"""
_value:
  description: The escaped text, on one line.
  type: str
"""

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import markdown_escape


class FilterModule:
    def filters(self):
        return {'markdown_escape': markdown_escape}
