# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PL-1 and PL-2: how a pipelined group was answered."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import pipelining


GROUP = [protocol.mail_from('a@audit.example.net'), protocol.rcpt_to('postmaster@example.org'), protocol.rset(),
         protocol.quit_()]
SYNC = GROUP[:3] + [protocol.noop()]


def group(codes, error=None, commands=None):
    replies = [reply('%d x' % code) for code in codes]
    return smtp.PipelineResult(commands or GROUP, replies, error)


def test_the_source_document_pipelining_failure():
    outcome = pipelining.judge_group(group([250, 221], smtp.ServerClosed('closed')))
    assert outcome.ending == 'lost' and outcome.failed
    assert 'lost the 2 commands before it' in outcome.summary


@pytest.mark.parametrize('codes, error, closed, kind', [
    ([250, 250, 250, 221], None, True, 'complete'),
    ([250, 550, 250, 221], None, True, 'complete'),       # a 5xx inside the group is an answer like any other
    ([250, 450, 250, 221], None, True, 'complete'),
    ([250, 221, 250, 250], None, True, 'out_of_order'),
    ([250, 250], smtp.ServerClosed('closed'), None, 'early_close'),
    ([250], smtp.ReplyTimeout('timeout'), None, 'stall'),
    ([250, 421], smtp.ServerClosed('closed'), None, 'temporary'),
    ([250], smtp.MalformedReply('mixed codes', False), None, 'unreadable'),
])
def test_group_outcomes(codes, error, closed, kind):
    assert pipelining.judge_group(group(codes, error), closed).ending == kind


def test_sync_point_stall():
    outcome = pipelining.judge_group(group([250], smtp.ReplyTimeout('timeout'), SYNC))
    assert outcome.ending == 'stall' and 'waited for more input' in outcome.summary
