# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Why did the server refuse: RFC 3463 codes first, then the words every MTA uses."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import refusal


@pytest.mark.parametrize('text, cause', [
    ('550 5.1.1 <x@example.org>: Recipient address rejected: User unknown in local recipient table', refusal.MAILBOX),
    ('550 5.1.1 The email account that you tried to reach does not exist', refusal.MAILBOX),
    ('550 No such user here', refusal.UNKNOWN),
    ('554 5.7.1 <x@example.com>: Relay access denied', refusal.RELAY),
    ('550 5.7.1 Unable to relay', refusal.RELAY),
    ('550 Relaying is prohibited', refusal.RELAY),
    ('553 sorry, that domain isn\'t in my list of allowed rcpthosts (#5.7.1)', refusal.RELAY),
    ('554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org', refusal.CLIENT),
    ('550 5.7.1 Your IP address is listed in a DNSBL', refusal.CLIENT),
    ('530 5.7.0 Authentication required', refusal.CLIENT),
    ('556 5.1.10 Recipient address rejected: Domain example.com does not accept mail (nullMX)', refusal.DOMAIN),
    ('550 5.1.2 Host unknown', refusal.DOMAIN),
    ('501 5.1.7 Bad sender address syntax', refusal.SYNTAX),
    ('501 Syntax error', refusal.SYNTAX),
    ('554 5.7.1 <postmaster@example.org>: Recipient address rejected: Access denied', refusal.UNKNOWN),
])
def test_refusal_cause(text, cause):
    assert refusal.cause(reply(text)) == cause


def test_same_refusal_ignores_the_address():
    assert refusal.same_refusal(reply('554 5.7.1 <a@x.example>: Relay access denied'),
                                reply('554 5.7.1 <b@y.example>: Relay access denied'))
    assert not refusal.same_refusal(reply('550 5.1.1 <a@x.example>: User unknown'),
                                    reply('554 5.7.1 <b@y.example>: Relay access denied'))
