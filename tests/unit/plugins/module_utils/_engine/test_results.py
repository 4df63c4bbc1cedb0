# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Result shaping and the JSON result file."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._engine import results
from ansible_collections.mxaudit.smtp.plugins.module_utils._findings import Finding


def finding(status, owner=True):
    return Finding(rule='RL-1', status=status, summary='x', transcript=['C: RCPT TO:<a@b.example>'],
                   transcript_owner=owner)


@pytest.mark.parametrize('mode, status, owner, kept', [
    ('all', 'pass', True, True), ('all', 'pass', False, True), ('failures', 'fail', True, True),
    ('failures', 'fail', False, False), ('failures', 'pass', True, False), ('none', 'fail', True, False),
])
def test_transcripts_modes(mode, status, owner, kept):
    assert bool(results.finding_dict(finding(status, owner), mode)['transcript']) is kept


def test_write_json_is_whole_or_nothing(tmp_path):
    path = tmp_path / 'result.json'
    path.write_text('{"old": true}')

    def domains():
        yield {'domain': 'a.example'}
        raise RuntimeError('disk full')

    with pytest.raises(RuntimeError):
        results.write_json(str(path), {'stats': {}}, domains())
    assert json.loads(path.read_text()) == {'old': True}  # the previous result is untouched
    assert os.listdir(tmp_path) == ['result.json']         # and no temporary file is left behind
    results.write_json(str(path), {'stats': {'domains': 2}}, iter([{'domain': 'a.example'}, {'domain': 'b.example'}]))
    assert json.loads(path.read_text()) == {'stats': {'domains': 2},
                                            'domains': [{'domain': 'a.example'}, {'domain': 'b.example'}]}


def _tls_result():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import Target
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.tls import TLSRecord
    from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import MXHost, MXSet
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.targets import DomainResult

    mx = MXSet('a.example', hosts=[MXHost(10, 'mx1.a.example', ['192.0.2.1', '192.0.2.2']), MXHost(20, 'mx2.a.example', ['192.0.2.3'])])
    result = DomainResult('a.example', mx=mx)
    # Jobs finish in any order: the list is in MX order all the same.
    for address, mx_host, protocol in (('192.0.2.3', 'mx2.a.example', None), ('192.0.2.2', 'mx1.a.example', 'TLSv1.3'),
                                       ('192.0.2.1', 'mx1.a.example', 'TLSv1.2')):
        result.records.setdefault('tls', []).append((Target('a.example', mx_host, address),
                                                     TLSRecord(starttls=protocol is not None, protocol=protocol)))
    result.records['session'] = [(Target('a.example', 'mx1.a.example', '192.0.2.1'), object())]
    return result


def test_the_tls_list_is_in_mx_order_and_only_with_the_tls_check():
    result = _tls_result()
    data = results.domain_dict(result, 'none', ('mx', 'tls'))
    assert [(entry['mx'], entry['address'], entry['protocol']) for entry in data['tls']] == [
        ('mx1.a.example', '192.0.2.1', 'TLSv1.2'), ('mx1.a.example', '192.0.2.2', 'TLSv1.3'), ('mx2.a.example', '192.0.2.3', None)]
    assert data['tls'][2]['starttls'] is False and data['tls'][2]['subject'] is None
    assert 'tls' not in results.domain_dict(result, 'none', ('mx', 'session'))
    json.dumps(data)  # plain data


def test_a_tls_check_without_records_gives_an_empty_list():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.targets import DomainResult
    assert results.domain_dict(DomainResult('b.example'), 'none', ('tls',))['tls'] == []
