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
