# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Report formats: findings_csv, tls_csv and policy_csv (CSV), junit_cases (JUnit XML), tls_rows and policy_rows
(the TLS and the DANE and MTA-STS sections), visible_text (HTML).

Each filter's documentation is the .yml beside this file.
"""

from __future__ import annotations

import typing as t

from ansible.errors import AnsibleFilterError

from ansible_collections.mxaudit.smtp.plugins.module_utils._report import (
    filter_table, findings_csv, junit_cases, policy_csv, policy_rows, tls_csv, tls_rows, visible_text)


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return filter_table(AnsibleFilterError, findings_csv=findings_csv, junit_cases=junit_cases,
                            visible_text=visible_text, tls_rows=tls_rows, tls_csv=tls_csv, policy_rows=policy_rows,
                            policy_csv=policy_csv)
