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
