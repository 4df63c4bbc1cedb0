# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Markdown that server text cannot break: markdown_escape, markdown_code (docs: markdown_*.yml)."""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import filter_table, markdown_code, markdown_escape


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return filter_table(AnsibleFilterError, markdown_escape=markdown_escape, markdown_code=markdown_code)
