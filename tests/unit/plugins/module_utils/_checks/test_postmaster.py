# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PM-1, PM-2, RL-3 judges: replies in, verdicts out - including replies from MTAs the lab does not run."""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.tests.unit.server_replies import reply
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import postmaster


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


def test_a_refusal_of_the_auditors_sender_is_never_a_postmaster_failure():
    """Sender verification: 550 5.1.7 to mail_from, even where another form was accepted, is not about the mailbox."""
    unverified = '550 5.1.7 <a@audit.example.net>: Sender address rejected: unverified address'
    evidence = pm_evidence(unverified, bare='250 2.1.5 Ok', abuse=unverified, foreign=unverified)
    evidence.sender = 'a@audit.example.net'
    verdicts = postmaster.judge_postmaster(evidence)
    # <Postmaster> without a domain says nothing of the domain: RL-3 is not decided either.
    assert statuses(verdicts) == {'PM-1': 'inconclusive', 'PM-2': 'inconclusive', 'RL-3': 'inconclusive'}
    assert 'not of the mailbox' in verdicts['PM-1'][1] and 'null-sender call-back' in verdicts['PM-1'][1]
    exim = '550-Verification failed for <a@audit.example.net>\n550-Unrouteable address\n550 Sender verify failed'
    evidence = pm_evidence(exim, abuse=exim, foreign=exim)
    evidence.sender = 'a@audit.example.net'
    assert set(statuses(postmaster.judge_postmaster(evidence)).values()) == {'inconclusive'}
