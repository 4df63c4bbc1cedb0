# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""NS-1 judge."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import null_sender


def ns(null_mail, null_rcpt=None, real_mail=None, real_rcpt=None):
    return null_sender.judge_null_sender(null_sender.NullSenderEvidence(
        reply(null_mail), reply(null_rcpt), reply(real_mail), reply(real_rcpt), 'postmaster@example.org',
        'postmaster@audit.example.net'))


@pytest.mark.parametrize('args, status', [
    (('250 2.1.0 Ok', '250 2.1.5 Ok'), 'pass'),
    (('501 5.1.7 Bad sender address syntax', None, '250 2.1.0 Ok'), 'fail'),
    (('550 5.7.1 <>: Sender address rejected: Null sender not accepted', None, '250 2.1.0 Ok'), 'fail'),
    (('250 2.1.0 Ok', '550 5.7.1 <>: Sender address rejected: Access denied', '250 2.1.0 Ok', '250 2.1.5 Ok'), 'fail'),
    (('250 2.1.0 Ok', '550 5.1.1 User unknown', '250 2.1.0 Ok', '550 5.1.1 User unknown'), 'pass'),
    (('550 5.7.1 Client host blocked', None, '550 5.7.1 Client host blocked'), 'inconclusive'),
    (('550 no', None, '550 no'), 'inconclusive'),
    (('451 4.3.0 try later',), 'inconclusive'),
    (('250 2.1.0 Ok', '450 4.7.1 Greylisted'), 'inconclusive'),  # a delayed refusal of <> is not ruled out
])
def test_null_sender(args, status):
    assert ns(*args)[0] == status


@pytest.mark.parametrize('args, words', [
    # The real sender refused at MAIL (sender verification at MAIL time): nothing to compare with.
    (('250 2.1.0 Ok', '550 5.7.1 Access denied', '550 5.1.8 <a@audit.example.net>: Sender address rejected: Domain not found'),
     'could not be tried'),
    # ... or at RCPT time, with an X.1.7 code.
    (('250 2.1.0 Ok', '550 5.7.1 Access denied', '250 2.1.0 Ok', '450 4.1.7 <a@b>: Sender address rejected: unverified address'),
     'a refusal of that sender'),
    (('250 2.1.0 Ok', '550 5.7.1 Access denied', '250 2.1.0 Ok', '450 4.7.1 Greylisted'), 'temporary'),
    # The comparison never came: before, this was a pass.
    (('250 2.1.0 Ok', '550 5.7.1 Access denied'), 'got no answer'),
])
def test_no_comparison_no_verdict(args, words):
    status, text = ns(*args)
    assert status == 'inconclusive' and words in text, text
