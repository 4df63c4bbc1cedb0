# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Findings and the catalogue the checks define."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import CATALOGUE, Finding, Rule, define_rules, load_catalogue


def test_the_catalogue_is_loaded_on_demand():
    assert 'PM-1' in load_catalogue() and CATALOGUE['PM-1'].check == 'postmaster'
    data = Finding(rule='NS-1', status='fail', summary='x').to_dict()
    assert (data['check'], data['level'], data['rfc']) == ('null_sender', 'MUST', 'RFC 5321 4.5.5, 6.1')


def test_unknown_rules_and_statuses_are_refused():
    with pytest.raises(ValueError, match='unknown rule'):
        Finding(rule='XX-9', status='pass', summary='x')
    with pytest.raises(ValueError, match='unknown status'):
        Finding(rule='PM-1', status='ok', summary='x')


def test_a_rule_belongs_to_one_check():
    with pytest.raises(ValueError, match='both'):
        define_rules('relay', [Rule('PM-1', 'MUST', 'high', 'RFC 5321 4.5.1', 'postmaster')])
