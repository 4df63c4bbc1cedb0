# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""RV-1 judge."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import recipient


@pytest.mark.parametrize('unknown, control, status', [
    ('550 5.1.1 User unknown', None, 'pass'),
    ('250 2.1.5 Ok', None, 'warn'),
    ('450 4.7.1 Greylisted', None, 'inconclusive'),
    ('554 5.7.1 Client host [192.0.2.1] blocked', None, 'inconclusive'),
    ('550 Relaying is prohibited', None, 'inconclusive'),
    ('550 Access denied', '250 Ok', 'pass'),
    ('550 Access denied', '550 Access denied', 'inconclusive'),
])
def test_recipient(unknown, control, status):
    verdict = recipient.judge_recipient(recipient.RecipientEvidence('x@example.org', reply(unknown), reply(control)))
    assert verdict[0] == status
    if status == 'warn':
        assert 'backscatter' in verdict[1] and 'bounce them later' in verdict[1]


def test_a_refusal_of_the_auditors_sender_says_what_to_do():
    evidence = recipient.RecipientEvidence('x@example.org', reply('450 4.1.7 <a@audit.example.net>: Sender address '
                                                                  'rejected: unverified address'),
                                           sender='a@audit.example.net', mail_from='a@audit.example.net')
    status, text = recipient.judge_recipient(evidence)
    assert status == 'inconclusive' and 'not of the recipient' in text and 'null-sender call-back' in text


def test_repeated_with_the_null_sender():
    evidence = recipient.RecipientEvidence('x@example.org', reply('550 5.1.1 User unknown'), sender='',
                                           mail_from='a@audit.example.net',
                                           sender_refusal=reply('450 4.1.7 Sender address rejected: unverified address'))
    status, text = recipient.judge_recipient(evidence)
    assert status == 'pass' and 'with the null sender' in text and '450 4.1.7' in text
