# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Findings and results rolled up: status_counts, worst_status, group_findings, merge_results, rollup.

A file with several filters: ansible-doc reads each one's documentation from <filter name>.yml here.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import (
    filter_table, group_findings, merge_results, rollup, status_counts, worst_status)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return filter_table(AnsibleFilterError, status_counts=status_counts, worst_status=worst_status,
                            group_findings=group_findings, merge_results=merge_results, rollup=rollup)
