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
    ({'domain': 'compliant.lab.test', 'relay_recipient': '"x y"@foreign.lab.test'}, 'relay variant'),
    ({'domain': 'compliant.lab.test', 'output_file': '/'}, 'output_file: / is a directory'),
    ({'domain': 'compliant.lab.test', 'output_file': '/nonexistent/out.json'}, 'output_file: the directory'),
    ({'domains_file': '/dev/zero'}, 'not a regular file'),
    ({'domain': 'compliant.lab.test', 'concurrency': 0}, 'concurrency'),
    ({'domains_file': '/nonexistent/domains.txt'}, 'domains_file'),
    ({'domains': ['a.example', 'b.example'], 'addresses': ['127.0.0.1']}, 'addresses'),
])
def test_bad_input_fails_before_any_probe(lab, capsys, args, words):
    before = lab.servers['compliant'].connections
    queries = len(lab.dns.queries)
    code, result = run_module(audit, lab.module_args(**args), capsys)
    assert code == 1 and words in result['msg']
    assert lab.servers['compliant'].connections == before and len(lab.dns.queries) == queries


def test_an_output_file_that_cannot_be_written_at_the_end_keeps_the_result(lab, tmp_path, capsys, monkeypatch):
    """Checked writable before the run; should the write still fail (disk full), the findings are returned."""
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import results

    def full(path, head, domains):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(results, 'write_json', full)
    args = lab.module_args(domain='compliant.lab.test', checks=['postmaster'], output_file=str(tmp_path / 'out.json'))
    code, result = run_module(audit, args, capsys)
    assert code == 0 and result['changed'] is False and result['compliant'] is True
    assert 'No space left on device' in result['output_file_error'] and 'output_file' not in result
    assert {f['status'] for f in result['domains'][0]['findings']} == {'pass'}


def test_an_invalid_domain_option_is_an_error_as_in_every_module(lab, capsys):
    code, result = run_module(audit, lab.module_args(domains=['compliant.lab.test', 'not a domain']), capsys)
    assert code == 1 and result['failed']
    assert result['msg'].startswith("Invalid option: domains[1]: 'not a domain' is not a valid domain name")


def test_every_domain_gets_its_tls_list_in_the_result_and_the_output_file(lab, tmp_path, capsys):
    from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca
    output = tmp_path / 'out.json'
    args = lab.module_args(domains=['tls-valid.lab.test', 'compliant.lab.test'], checks=['tls'], tls_ca_file=lab_ca().ca_file,
                           output_file=str(output))
    code, result = run_module(audit, args, capsys)
    assert code == 0
    valid, plain = result['domains']
    assert [(entry['mx'], entry['starttls'], entry['trusted']) for entry in valid['tls']] == [('mx.tls-valid.lab.test', True, True)]
    assert valid['tls'][0]['subject'] == 'CN=mx.tls-valid.lab.test' and valid['tls'][0]['protocol'] in ('TLSv1.2', 'TLSv1.3')
    assert [(entry['starttls'], entry['protocol'], entry['subject']) for entry in plain['tls']] == [(False, None, None)]
    written = json.loads(output.read_text())
    assert [domain['tls'] for domain in written['domains']] == [valid['tls'], plain['tls']]
    code, result = run_module(audit, lab.module_args(domain='compliant.lab.test', checks=['session']), capsys)
    assert 'tls' not in result['domains'][0]
