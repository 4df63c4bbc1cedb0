# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: bench_stats
type: aggregate
short_description: make bench - keep the roll-up of the measured audit task
description:
  - Writes the C(stats) and C(vantage_point) of every C(mxaudit.smtp.audit) result to the file named by the
    environment variable E(BENCH_STATS_FILE), so that the measured playbook needs no second task.
  - Used only by bench/bench.py (enabled with ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED).
requirements:
  - enable in configuration
"""

import json
import os
import typing as t

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'bench_stats'
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result: t.Any) -> None:
        path = os.environ.get('BENCH_STATS_FILE')
        if not path or 'audit' not in str(getattr(result.task, 'action', '')):
            return
        # The raw return data: CallbackTaskResult.result would first copy all of it (thousands of domains).
        data = getattr(result, '_return_data', None)
        if data is None:
            data = result.result
        keep = {'stats': data.get('stats'), 'vantage_point': data.get('vantage_point'),
                'domains': len(data.get('domains') or [])}
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(keep, handle, default=str)
