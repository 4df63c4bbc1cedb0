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
    ('501 5.1.7 Bad sender address syntax', refusal.SENDER),
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


@pytest.mark.parametrize('text', [
    '450 4.1.7 <a@audit.example.net>: Sender address rejected: unverified address: Host or domain name not found',
    '550 5.1.7 <a@audit.example.net>: Sender address rejected: undeliverable address: host said: 550 no such user',
    '550 5.1.8 <a@audit.example.net>: Sender address rejected: Domain not found',
    '553 5.1.8 <a@audit.example.net>... Domain of sender address a@audit.example.net does not exist',
    '550-Verification failed for <a@audit.example.net>\n550-Unrouteable address\n550 Sender verify failed',
    '451 Could not complete sender verify',
    '554 5.7.1 <a@audit.example.net>: Sender address rejected: Access denied',
    '550 5.1.0 <a@audit.example.net>: Sender address rejected: User unknown in local recipient table',
])
def test_refusals_of_the_sender(text):
    """Sender verification and sender policy, by the RFC 3463 code first (X.1.7, X.1.8), else by the words."""
    assert refusal.cause(reply(text)) == refusal.SENDER
    assert refusal.is_sender_refusal(reply(text))


def test_not_refusals_of_the_sender():
    assert refusal.cause(reply('550 5.1.1 <x@example.org>: Recipient address rejected: User unknown')) == refusal.MAILBOX
    assert not refusal.is_sender_refusal(reply('250 2.1.0 Sender ok'))
    assert not refusal.is_sender_refusal(None)
    assert 'postmaster@audit.example.net' in refusal.sender_hint('postmaster@audit.example.net')
    assert 'MX of audit.example.net' in refusal.sender_hint('postmaster@audit.example.net')
