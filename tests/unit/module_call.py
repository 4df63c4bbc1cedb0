# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Calling a module's main() the way Ansible does, for the tests: arguments in, exit code and JSON result out."""

from __future__ import annotations

import json
import typing as t

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(module: t.Any, args: dict[str, t.Any], capsys: t.Any, check_mode: bool = False) -> tuple[int, dict]:
    """main() with these arguments: (exit code, the JSON result)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as info:
            module.main()
    return info.value.code, json.loads(capsys.readouterr().out)
