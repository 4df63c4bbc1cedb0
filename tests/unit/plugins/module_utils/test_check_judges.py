# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The conformance judges: replies in, verdicts out - including replies from MTAs the lab does not run."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import null_sender, pipelining, postmaster, recipient
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import refusal, relay


def reply(text: str | None) -> protocol.Reply | None:
    if text is None:
        return None
    return protocol.ReplyParser().feed(text.encode() + b'\r\n')[-1]


# ------------------------------------------------------------------ causes

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


# ------------------------------------------------------------------ postmaster

def pm_evidence(postmaster_reply, bare=None, mixed=None, abuse=None, foreign=None, domain='example.org'):
    return postmaster.PostmasterEvidence(domain, reply(postmaster_reply), reply(bare or postmaster_reply),
                                         reply(mixed or postmaster_reply), reply(abuse), reply(foreign))


def statuses(verdicts):
    return {rule: verdict[0] for rule, verdict in verdicts.items()}


def test_the_source_document_exchange_55_failure():
    """550 Relaying is prohibited for the domain's own postmaster: PM-1 and RL-3 fail, abuse@ is not blamed twice."""
    verdicts = postmaster.judge_postmaster(pm_evidence('550 Relaying is prohibited', abuse='550 Relaying is prohibited',
                                                       foreign='550 Relaying is prohibited'))
    assert statuses(verdicts) == {'PM-1': 'fail', 'PM-2': 'inconclusive', 'RL-3': 'fail'}
    assert 'as if it were not its domain' in verdicts['PM-1'][1]
    assert 'domain-acceptance' in verdicts['RL-3'][1]


def test_compliant_server():
    verdicts = postmaster.judge_postmaster(pm_evidence('250 2.1.5 Ok', abuse='250 2.1.5 Ok'))
    assert statuses(verdicts) == {'PM-1': 'pass', 'PM-2': 'pass', 'RL-3': 'pass'}


def test_postmaster_unknown_but_abuse_accepted():
    verdicts = postmaster.judge_postmaster(pm_evidence('550 5.1.1 <postmaster@example.org>: User unknown',
                                                       abuse='250 2.1.5 Ok'))
    assert statuses(verdicts) == {'PM-1': 'fail', 'PM-2': 'pass', 'RL-3': 'pass'}


def test_block_listed_auditor_is_never_a_postmaster_failure():
    block = '554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org'
    verdicts = postmaster.judge_postmaster(pm_evidence(block, abuse=block, foreign=block))
    assert statuses(verdicts) == {'PM-1': 'inconclusive', 'PM-2': 'inconclusive', 'RL-3': 'inconclusive'}


def test_everything_refused_alike_for_an_unknown_reason_is_inconclusive():
    text = '550 Access denied'
    verdicts = postmaster.judge_postmaster(pm_evidence(text, abuse=text, foreign=text))
    assert statuses(verdicts) == {'PM-1': 'inconclusive', 'PM-2': 'inconclusive', 'RL-3': 'inconclusive'}


def test_unknown_cause_refusal_corroborated_by_an_accepted_recipient_fails():
    verdicts = postmaster.judge_postmaster(pm_evidence('554 5.7.1 <postmaster@example.org>: Access denied',
                                                       bare='250 2.1.5 Ok', abuse='250 2.1.5 Ok'))
    assert verdicts['PM-1'][0] == 'fail'
    assert 'accepts other recipients' in verdicts['PM-1'][1]


def test_greylisting_never_fails():
    grey = '450 4.7.1 Greylisted, try again later'
    verdicts = postmaster.judge_postmaster(pm_evidence(grey, abuse=grey))
    assert set(statuses(verdicts).values()) == {'inconclusive'}


def test_refused_only_with_the_null_sender_is_a_pass_here():
    evidence = pm_evidence('250 2.1.5 Ok', abuse='250 2.1.5 Ok')
    evidence.null_sender_only['postmaster@example.org'] = evidence.postmaster
    verdicts = postmaster.judge_postmaster(evidence)
    assert verdicts['PM-1'][0] == 'pass'
    assert 'null_sender_check' in verdicts['PM-1'][1]


# ------------------------------------------------------------------ null sender

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


# ------------------------------------------------------------------ recipient

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


# ------------------------------------------------------------------ relay

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


# ------------------------------------------------------------------ pipelining

GROUP = [protocol.mail_from('a@audit.example.net'), protocol.rcpt_to('postmaster@example.org'), protocol.rset(),
         protocol.quit_()]
SYNC = GROUP[:3] + [protocol.noop()]


def group(codes, error=None, commands=None):
    replies = [reply('%d x' % code) for code in codes]
    return smtp.PipelineResult(commands or GROUP, replies, error)


def test_the_source_document_pipelining_failure():
    outcome = pipelining.judge_group(group([250, 221], smtp.ServerClosed('closed')))
    assert outcome.kind == 'lost' and outcome.failed
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
    assert pipelining.judge_group(group(codes, error), closed).kind == kind


def test_sync_point_stall():
    outcome = pipelining.judge_group(group([250], smtp.ReplyTimeout('timeout'), SYNC))
    assert outcome.kind == 'stall' and 'waited for more input' in outcome.summary
