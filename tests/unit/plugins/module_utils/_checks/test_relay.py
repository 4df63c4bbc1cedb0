# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""RL-1 and RL-2 judges and the relay forms."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import postmaster, relay


@pytest.mark.parametrize('text, status, words', [
    ('250 2.1.5 Ok', 'fail', 'open relay'),
    ('550 5.7.1 Unable to relay', 'pass', 'relaying refused'),
    ('554 5.7.1 <x@example.com>: Relay access denied', 'pass', 'preferred'),
    ('550 5.7.1 <x@example.com>: Relay access denied', 'pass', 'foreign RCPT got 550 5.7.1: relaying refused'),
    ('556 5.1.10 Domain example.com does not accept mail (nullMX)', 'inconclusive', 'relay_recipient'),
    ('554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org', 'inconclusive', 'outright'),
    ('450 4.7.1 Greylisted', 'inconclusive', 'temporary'),
])
def test_relay_basic(text, status, words):
    verdict = relay.judge_basic(relay.RelayEvidence('x@example.com', 'a@audit.example.net', reply(text)))
    assert verdict[0] == status and words in verdict[1]


def test_variants_cover_the_classic_forms():
    variants = relay.build_variants('example.org', 'mx1.example.org', '[192.0.2.10]', 'probe@example.com')
    recipients = {variant.recipient for variant in variants}
    for form in ('probe%example.com@example.org', 'probe%example.com@[192.0.2.10]', 'probe%example.com@mx1.example.org',
                 '"probe@example.com"', '"probe%example.com"', 'probe@example.com@[192.0.2.10]',
                 '"probe@example.com"@[192.0.2.10]', 'probe@example.com@mx1.example.org', '@[192.0.2.10]:probe@example.com',
                 '@mx1.example.org:probe@example.com', 'example.com!probe', 'example.com!probe@[192.0.2.10]',
                 'example.com!probe@mx1.example.org'):
        assert form in recipients, form
    senders = {variant.sender for variant in variants if variant.sender is not None}
    assert senders == {'', 'mxaudit-relay-probe@example.com', 'mxaudit-relay-probe@example.org',
                       'mxaudit-relay-probe@mx1.example.org', 'mxaudit-relay-probe@[192.0.2.10]'}
    for variant in variants:  # every form can be built into a command (the deliberately malformed ones too)
        protocol.rcpt_to(variant.recipient, allow_malformed=variant.malformed)


def percent_variant():
    return relay.Variant('percent hack at the domain', 'probe%example.com@example.org', control_suffix='@example.org')


def test_accepted_variant_counts_only_when_a_random_mailbox_there_is_refused():
    control = ('nosuch@example.org', reply('550 5.1.1 User unknown'))
    verdict = relay.judge_variant(percent_variant(), reply('250 Ok'), reply('250 Ok'), control, 'a@b.example')
    assert verdict[0] == 'fail' and 'percent hack' in verdict[1]


def test_accept_all_server_is_not_an_open_relay():
    control = ('nosuch@example.org', reply('250 Ok'))
    verdict = relay.judge_variant(percent_variant(), reply('250 Ok'), reply('250 Ok'), control, 'a@b.example')
    assert verdict[0] == 'inconclusive' and 'any local part' in verdict[1]


def test_postmaster_foreign_reference_is_never_the_audited_domain():
    assert postmaster.foreign_reference('probe@example.com', 'example.org') == 'probe@example.com'
    assert postmaster.foreign_reference('probe@example.com', 'example.com') == 'mxaudit-relay-probe@example.net'
    assert postmaster.foreign_reference('probe@mail.example.com', 'example.com') == 'mxaudit-relay-probe@example.net'
    assert postmaster.foreign_reference('probe@example.net', 'mx.example.net') == 'mxaudit-relay-probe@example.com'


def test_source_route_needs_no_control():
    variant = relay.Variant('source route through the domain', '@example.org:probe@example.com')
    assert relay.judge_variant(variant, reply('250 Ok'), reply('250 Ok'), None, 'a@b.example')[0] == 'fail'


def test_refused_sender_is_a_refusal():
    variant = relay.Variant('null sender', 'probe@example.com', sender='')
    assert relay.judge_variant(variant, None, reply('501 bad sender'), None, '')[0] == 'pass'


UNVERIFIED = '450 4.1.7 <a@audit.example.net>: Sender address rejected: unverified address'


@pytest.mark.parametrize('text', [UNVERIFIED, '550 5.1.7 <a@audit.example.net>: Sender address rejected: unverified address',
                                  '550-Verification failed for <a@audit.example.net>\n550 Sender verify failed'])
def test_a_refusal_of_the_auditors_sender_is_no_relay_refusal(text):
    """Before, a 550 5.1.7 or Exim's "Sender verify failed" passed RL-1 as "relaying refused"."""
    evidence = relay.RelayEvidence('x@example.com', 'a@audit.example.net', reply(text), mail_from='a@audit.example.net',
                                   null_mail=reply('550 5.7.1 <>: Sender address rejected: Access denied'))
    status, summary = relay.judge_basic(evidence)
    assert status == 'inconclusive' and 'not of the relay' in summary and 'MAIL FROM:<> got "550 5.7.1' in summary
    assert 'null-sender call-back' in summary


def test_rl1_repeated_with_the_null_sender_says_why():
    evidence = relay.RelayEvidence('x@example.com', '', reply('554 5.7.1 <x@example.com>: Relay access denied'),
                                   mail_from='a@audit.example.net', sender_refusal=reply(UNVERIFIED))
    status, summary = relay.judge_basic(evidence)
    assert status == 'pass' and 'with the null sender' in summary and '450 4.1.7' in summary
    # The null sender refused as a sender is no relay refusal either.
    evidence = relay.RelayEvidence('x@example.com', '', reply('550 5.7.1 <>: Sender address rejected: Access denied'))
    assert relay.judge_basic(evidence)[0] == 'inconclusive'


def test_forms_and_sender_refusals():
    form = relay.Variant('percent hack at the domain', 'probe%example.com@example.org', control_suffix='@example.org')
    forged = relay.Variant('sender at the domain', 'probe@example.com', sender='mxaudit-relay-probe@example.org')
    ok = reply('250 2.1.0 Ok')
    # The session's sender refused: not a refusal of the form.
    assert relay.judge_variant(form, reply(UNVERIFIED), ok, None, 'a@audit.example.net')[0] == 'inconclusive'
    # A forged sender put off by sender verification: not decided; refused for good: a refusal.
    verdict = relay.judge_variant(forged, reply(UNVERIFIED), ok, None, 'a@audit.example.net')
    assert verdict[0] == 'inconclusive' and 'verifies senders' in verdict[1]
    assert relay.judge_variant(forged, reply('550 5.1.8 Sender address rejected: Domain not found'), ok, None, '')[0] == 'pass'
    # A MAIL put off (4xx) is not "not probed".
    verdict = relay.judge_variant(forged, None, reply('451 4.3.0 try later'), None, '')
    assert verdict[0] == 'inconclusive' and '451 4.3.0' in verdict[1]


def test_forms_servers_may_count_as_syntax_errors():
    variants = {v.form: v for v in relay.build_variants('example.org', 'mx1.example.org', '[192.0.2.10]', 'probe@example.com')}
    risky = {form for form, variant in variants.items() if variant.syntax_risk}
    assert {'double @ at the domain', 'double @ at the banner name', 'sender at the address literal',
            'percent hack at the address literal', 'source route through the address literal'} <= risky
    assert not {'null sender', 'percent hack at the domain', 'source route through the domain'} & risky
