# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The run state: greeting back-off written once, counters, reachability."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils._run_state import Problem, RunState, greeting_problem


def reply(text):
    return protocol.ReplyParser().feed(text.encode() + b'\r\n')[-1]


@pytest.mark.parametrize('greeting, status', [
    ('220 mx.example ESMTP', None), ('554 5.7.1 no service for you', 'skipped'),
    ('421 4.3.2 busy', 'inconclusive'), ('450 try later', 'inconclusive'), ('550 go away', 'inconclusive'),
])
def test_a_greeting_never_hands_pass_or_fail_to_the_probes_after_it(greeting, status):
    problem = greeting_problem(reply(greeting))
    assert (problem.status if problem else None) == status


def test_a_non_220_greeting_backs_the_address_off():
    run = RunState()
    assert run.greeted('192.0.2.1', reply('220 mx.example')) is None
    assert run.problem('192.0.2.1') is None
    run.greeted('192.0.2.2', reply('421 4.7.0 too busy'))
    assert run.problem('192.0.2.2').status == 'inconclusive'
    assert 'not tried again' in run.problem('192.0.2.2').summary
    assert run.counters['reply_421'] == 1 and run.reached == {'192.0.2.1', '192.0.2.2'}


def test_unreachable_and_silent_addresses():
    run = RunState()
    run.not_connected('192.0.2.3', 'refused', Problem('error', 'connection refused'))
    run.no_greeting('192.0.2.4', Problem('inconclusive', 'no greeting within 10 s'))
    assert run.unreachable == {'192.0.2.3': 'refused'} and not run.reached
    assert run.problem('192.0.2.3').status == 'error' and run.problem('192.0.2.4').status == 'inconclusive'
    run.back_off('192.0.2.3', Problem('inconclusive', 'later'))
    assert run.problem('192.0.2.3').status == 'error'  # the first cause stays


def test_a_local_error_is_neither_unreachable_nor_backed_off():
    """EMFILE and the like are this host's: the address was never tried, so nothing is learnt about it (issue 9)."""
    run = RunState()
    run.not_connected('192.0.2.5', 'local', Problem('error', 'this host\'s resource limit was reached'))
    assert run.unreachable == {} and run.problem('192.0.2.5') is None
    assert run.counters['local_errors'] == 1
