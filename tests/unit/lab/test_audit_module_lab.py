# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The audit module as Ansible runs it: domains_file, check mode, output_file, bad input."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mxaudit.smtp.plugins.modules import audit
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module


def test_domains_file_with_junk_lines(lab, tmp_path, capsys):
    listing = tmp_path / 'domains.txt'
    listing.write_text('# the portfolio\n\ncompliant.lab.test\n  no-postmaster.lab.test   # refuses postmaster\n'
                       'COMPLIANT.lab.test\nnot a domain\n', encoding='utf-8')
    args = lab.module_args(domains_file=str(listing), relay_recipient='relay-probe@foreign.lab.test',
                           checks=['postmaster'])
    code, result = run_module(audit, args, capsys)
    assert code == 0 and result['changed'] is False
    assert [d['domain'] for d in result['domains']] == ['compliant.lab.test', 'no-postmaster.lab.test', 'not a domain']
    assert [d['verdict'] for d in result['domains']] == ['compliant', 'noncompliant', 'unverified']
    assert [d['compliant'] for d in result['domains']] == [True, False, False]
    assert result['stats']['invalid'] == 1 and result['compliant'] is False


def test_check_mode_runs_the_audit_but_writes_no_file(lab, tmp_path, capsys):
    output = tmp_path / 'out.json'
    args = lab.module_args(domain='compliant.lab.test', checks=['postmaster'],
                           output_file=str(output))
    code, result = run_module(audit, args, capsys, check_mode=True)
    assert code == 0 and result['changed'] is False and result['compliant'] is True
    assert not output.exists() and 'output_file' not in result


def test_output_file_is_written(lab, tmp_path, capsys):
    output = tmp_path / 'out.json'
    args = lab.module_args(domains=['compliant.lab.test'], checks=['session'],
                           output_file=str(output))
    code, result = run_module(audit, args, capsys)
    assert code == 0 and result['output_file'] == str(output) and result['changed'] is True
    written = json.loads(output.read_text())
    assert written['domains'][0]['findings'][1]['transcript'][0].startswith('S: 220 ')


@pytest.mark.parametrize('args, words', [
    ({'domain': 'compliant.lab.test', 'relay_recipient': 'x@compliant.lab.test'}, 'relay_recipient'),
    ({'domain': 'compliant.lab.test', 'concurrency': 0}, 'concurrency'),
    ({'domains_file': '/nonexistent/domains.txt'}, 'domains_file'),
    ({'domains': ['a.example', 'b.example'], 'addresses': ['127.0.0.1']}, 'addresses'),
])
def test_bad_input_fails_before_any_probe(lab, capsys, args, words):
    before = lab.servers['compliant'].connections
    code, result = run_module(audit, lab.module_args(**args), capsys)
    assert code == 1 and words in result['msg']
    assert lab.servers['compliant'].connections == before
