# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Run settings: every bad value named before anything is sent."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import RunSettings
from ansible_collections.mxaudit.smtp.plugins.module_utils._options import OptionError


@pytest.mark.parametrize('settings, words', [
    ({'checks': ()}, 'at least one check'), ({'checks': ('nope',)}, 'nope'), ({'transcripts': 'some'}, 'transcripts'),
    ({'retry_4xx': -1}, 'retry_4xx'), ({'retry_4xx': True}, 'retry_4xx'),
])
def test_bad_settings(settings, words):
    with pytest.raises(OptionError, match=words):
        RunSettings(**settings)


def test_aliases_become_check_ids():
    assert RunSettings(checks=('greeting', 'postmaster', 'domain_acceptance')).checks == ('session', 'postmaster')
