# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real-server behaviour the checks must survive (issue 9): error limits, sender verification, first-contact deferral.

The lab behaviours (tests/lab/smtp_server.py) copy what real servers do: Postfix's smtpd_hard_error_limit
(421 after three errors), Exim's smtp_max_synprot_errors (the fourth syntax error drops the session),
call-back verification of the sender (450 4.1.7 at RCPT, 550 5.1.8 at MAIL), and postscreen's
first-session deferral behind a multi-line greeting. The same behaviours on real Exim and Postfix are
in tests/unit/lab_mta/.
"""

from __future__ import annotations

import socket

import pytest
import yaml

from ansible_collections.mxaudit.smtp.plugins.module_utils import _options
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import probe as probe_module
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.run import Engine
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import RunSettings
from ansible_collections.mxaudit.smtp.plugins.modules import null_sender_check, postmaster_check, recipient_check, relay_check
from ansible_collections.mxaudit.smtp.tests.lab import LabRunner
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

RELAY_RECIPIENT = 'relay-probe@foreign.lab.test'
HELO = 'audit.lab.test'
MAIL_FROM = 'postmaster@audit.lab.test'


def findings_by_rule(result):
    return {finding['rule']: finding for finding in result['findings']}


def relay(lab, capsys, behaviour, **extra):
    args = lab.module_args(domain=lab.domain(behaviour), relay_recipient=RELAY_RECIPIENT, **extra)
    code, result = run_module(relay_check, args, capsys)
    assert code == 0, result
    return findings_by_rule(result)


def engine(lab, domains, **settings):
    """The audit module's engine over the lab (per_address from settings, the rest run settings)."""
    params = {'port': lab.port, 'helo_name': HELO, 'timeout': 2.0, 'resolver': lab.resolver_options(),
              'allow_private_addresses': True}
    params['per_address'] = settings.pop('per_address', 2)
    settings.setdefault('relay_recipient', RELAY_RECIPIENT)
    return Engine(_options.parse(params, require_domain=False), RunSettings(**settings), domains)


def statuses(result):
    return {f['rule']: f['status'] for d in result['domains'] for f in d['findings'] if f['rule'] != 'MX-1'}


def sent(finding, verb):
    return [line for line in finding['transcript'] if line.startswith('C: ' + verb)]


# ---------------------------------------------------------------- 1. error limits

def test_hard_error_limit_421_is_a_reconnect_and_every_relay_form_is_decided(lab, capsys):
    """Postfix smtpd_hard_error_limit = 3: before, RL-2 ended "21 of 22 forms refused; not decided: ..."."""
    server = lab.servers['hard_error_limit']
    before = server.connections
    found = relay(lab, capsys, 'hard_error_limit')
    assert found['RL-1']['status'] == 'pass', found['RL-1']['summary']
    assert found['RL-2']['status'] == 'pass', found['RL-2']['summary']
    assert found['RL-2']['summary'].startswith('all 23 relay forms refused'), found['RL-2']['summary']
    lines = found['RL-2']['transcript']
    # The server's 421 comes unasked, right as it closes: read as the reply to the next command, or left behind by
    # the close - the timing decides which, and both are the error limit, never a verdict.
    assert any('error limit' in line for line in lines if line.startswith('** '))
    # Spread over sessions, within the bound; never more sessions than the bound allows.
    assert 3 < server.connections - before <= probe_module.MAX_CONNECTIONS


def test_an_error_limit_421_does_not_back_the_address_off(lab):
    """Before, the relay job's 421 backed the address off: the postmaster job after it was "not tried again"."""
    result = engine(lab, [lab.domain('hard_error_limit')], checks=('relay', 'postmaster', 'recipient'),
                    per_address=1).run()
    assert statuses(result) == {'PM-1': 'pass', 'PM-2': 'pass', 'RL-3': 'pass', 'RL-1': 'pass', 'RL-2': 'pass',
                                'RV-1': 'pass'}, [f['summary'] for d in result['domains'] for f in d['findings']]


def test_a_421_without_refusals_still_backs_the_address_off(lab):
    """drops_421 answers its first RCPT with 421: the server is going away, not counting errors."""
    server = lab.servers['drops_421']
    before = server.connections
    result = engine(lab, [lab.domain('drops_421')], checks=('relay', 'postmaster'), per_address=1).run()
    assert set(statuses(result).values()) == {'inconclusive'}
    summaries = [f['summary'] for d in result['domains'] for f in d['findings'] if f['rule'] in ('PM-1', 'RL-3')]
    assert all('not tried again in this run' in text for text in summaries), summaries
    assert server.connections - before == 1


def test_postmaster_forms_resume_in_a_new_session(lab):
    """Eight domains on one strict server: RV-1's refusals reach its limit mid-job, and the job goes on.

    Before, the 421 after the third domain backed the address off: the other five domains were inconclusive.
    """
    domains = ['d%d.strict.test' % index for index in range(8)]
    records = {'strict.test.': {'SOA': ['ns.strict.test. h.strict.test. 1 3600 600 86400 60']},
               'mx.strict.test.': {'A': ['127.0.4.3']}}
    records.update({domain + '.': {'MX': ['10 mx.strict.test.']} for domain in domains})
    runner = LabRunner()
    try:
        server = runner.start_smtp('hard_error_limit', '127.0.4.3', lab.port, name='mx.strict.test',
                                   options={'domains': domains})
        dns = runner.start_dns(records, '127.0.0.1', 0)
        params = {'port': lab.port, 'helo_name': HELO, 'timeout': 2.0, 'allow_private_addresses': True,
                  'resolver': {'nameservers': ['127.0.0.1'], 'port': dns.port, 'timeout': 1.0}}
        result = Engine(_options.parse(params, require_domain=False), RunSettings(checks=('postmaster', 'recipient')),
                        domains).run()
    finally:
        runner.stop()
    findings = [f for d in result['domains'] for f in d['findings'] if f['rule'] != 'MX-1']
    assert len(findings) == 8 * 4
    assert {f['status'] for f in findings} == {'pass'}, [f['summary'] for f in findings if f['status'] != 'pass']
    assert 1 < server.connections <= probe_module.MAX_CONNECTIONS


def test_syntax_errors_are_spread_over_sessions(lab, capsys):
    """Exim's smtp_max_synprot_errors = 3: before, the session dropped at the fourth malformed form."""
    server = lab.servers['synprot_limit']
    before = server.connections
    found = relay(lab, capsys, 'synprot_limit')
    assert found['RL-2']['status'] == 'pass', found['RL-2']['summary']
    assert found['RL-2']['summary'].startswith('all 23 relay forms refused'), found['RL-2']['summary']
    # No session was dropped: at most two forms that may be syntax errors ride on one connection.
    assert not any('Too many syntax' in line for line in found['RL-2']['transcript'])
    assert server.connections - before >= 4


def test_the_number_of_sessions_per_job_is_bounded(lab, capsys):
    """A server that hangs up after every refusal: at most MAX_CONNECTIONS sessions, the rest inconclusive."""
    runner = LabRunner()
    try:
        server = runner.start_smtp('hard_error_limit', '127.0.4.1', lab.port, name='mx.one-error.lab.test',
                                   options={'limit': 1, 'domains': ['one-error.lab.test']})
        args = lab.module_args(domain='one-error.lab.test', addresses=['127.0.4.1'], relay_recipient=RELAY_RECIPIENT)
        code, result = run_module(relay_check, args, capsys)
    finally:
        runner.stop()
    assert code == 0
    found = findings_by_rule(result)
    assert server.connections <= probe_module.MAX_CONNECTIONS
    assert found['RL-1']['status'] == 'pass'
    assert found['RL-2']['status'] == 'inconclusive', found['RL-2']['summary']
    assert 'sessions' in found['RL-2']['summary'] and str(probe_module.MAX_CONNECTIONS) in found['RL-2']['summary']


# ---------------------------------------------------------------- 4. sender verification

def test_sender_verification_at_rcpt_time_is_repeated_with_the_null_sender(lab, capsys):
    """450 4.1.7 "unverified address" to every RCPT under mail_from: before, RL-1 and RV-1 were inconclusive."""
    found = relay(lab, capsys, 'sender_verify')
    assert found['RL-1']['status'] == 'pass', found['RL-1']['summary']
    assert 'null sender' in found['RL-1']['summary'] and '450 4.1.7' in found['RL-1']['summary']
    # The forms with a forged sender cannot be repeated with another sender: the deferral of the forged
    # sender leaves them open, and the summary says why; every other form is refused under <>.
    rl2 = found['RL-2']
    assert rl2['status'] == 'inconclusive', rl2['summary']
    assert rl2['summary'].startswith('19 of 23 forms refused; not decided: sender at the foreign domain'), rl2['summary']
    assert 'verifies senders' in rl2['summary']
    code, result = run_module(recipient_check, lab.module_args(domain=lab.domain('sender_verify')), capsys)
    rv1 = findings_by_rule(result)['RV-1']
    assert rv1['status'] == 'pass', rv1['summary']
    assert 'null sender' in rv1['summary']
    for module in (postmaster_check, null_sender_check):
        code, result = run_module(module, lab.module_args(domain=lab.domain('sender_verify')), capsys)
        assert {f['status'] for f in result['findings']} == {'pass'}, [f['summary'] for f in result['findings']]


def test_a_sender_refusal_is_never_a_relay_refusal(lab, capsys):
    """550 5.1.7 at RCPT and <> refused: before, RL-1 and RL-2 passed on a refusal of the sender."""
    runner = LabRunner()
    try:
        runner.start_smtp('sender_verify', '127.0.4.2', lab.port, name='mx.verify-550.lab.test',
                          options={'code': '550 5.1.7', 'refuse_null': True, 'domains': ['verify-550.lab.test']})
        args = lab.module_args(domain='verify-550.lab.test', addresses=['127.0.4.2'], relay_recipient=RELAY_RECIPIENT)
        code, result = run_module(relay_check, args, capsys)
        assert code == 0
        found = findings_by_rule(result)
        del args['relay_recipient']
        code, result = run_module(recipient_check, args, capsys)
        rv1 = findings_by_rule(result)['RV-1']
    finally:
        runner.stop()
    assert found['RL-1']['status'] == 'inconclusive', found['RL-1']['summary']
    assert 'MAIL FROM:<>' in found['RL-1']['summary'] and 'call-back' in found['RL-1']['summary']
    assert found['RL-2']['status'] == 'inconclusive', found['RL-2']['summary']
    assert rv1['status'] == 'inconclusive' and 'call-back' in rv1['summary'], rv1['summary']


def test_sender_verification_at_mail_time_goes_on_with_the_null_sender(lab, capsys):
    """550 5.1.8 to the real sender at MAIL: the position shows a sender refusal; the probes use <>."""
    found = relay(lab, capsys, 'sender_verify_mail')
    assert (found['RL-1']['status'], found['RL-2']['status']) == ('pass', 'pass'), [f['summary'] for f in found.values()]
    assert '550 5.1.8' in found['RL-1']['summary'] and 'call-back' in found['RL-1']['summary']
    code, result = run_module(recipient_check, lab.module_args(domain=lab.domain('sender_verify_mail')), capsys)
    assert findings_by_rule(result)['RV-1']['status'] == 'pass'
    for module in (postmaster_check, null_sender_check):
        code, result = run_module(module, lab.module_args(domain=lab.domain('sender_verify_mail')), capsys)
        assert {f['status'] for f in result['findings']} == {'pass'}, [f['summary'] for f in result['findings']]


# ---------------------------------------------------------------- 5. first-contact deferral

def first_contact(lab):
    """The postscreen server, with every client new to it again (the lab runs for the whole pytest session)."""
    server = lab.servers['postscreen']
    server.options.pop('clients', None)
    return server


def test_the_client_waits_for_the_last_line_of_a_multiline_greeting(lab, capsys):
    server = first_contact(lab)
    code, result = run_module(null_sender_check, lab.module_args(domain=lab.domain('postscreen')), capsys)
    assert code == 0
    assert server.options.get('pregreet', 0) == 0
    lines = result['findings'][0]['transcript']
    assert lines[0].startswith('S: 220-') and lines[1].startswith('S: 220 ') and lines[2].startswith('C: EHLO')


def test_postscreen_lab_punishes_a_client_that_speaks_first(lab):
    """The lab's pregreet test works: a client that talks before the last greeting line is refused."""
    server = first_contact(lab)
    with socket.create_connection((lab.address('postscreen'), lab.port), timeout=5) as sock:
        sock.sendall(b'EHLO early.example\r\n')
        data = b''
        while not data.endswith(b'Protocol error\r\n'):
            chunk = sock.recv(4096)
            assert chunk, data
            data += chunk
    assert data.startswith(b'220-mx.postscreen.lab.test') and b'550 5.5.1 Protocol error' in data
    assert server.options['pregreet'] >= 1
    server.options['pregreet'] = 0


def test_first_session_deferral_is_retried_once(lab):
    """postscreen: 450 4.3.2 to every RCPT of the first session; retry_4xx retries in a new session."""
    domain = lab.domain('postscreen')
    first_contact(lab)
    checks = ('null_sender', 'relay', 'postmaster', 'recipient')
    result = engine(lab, [domain], checks=checks, retry_4xx=0.2, per_address=1).run()
    assert set(statuses(result).values()) == {'pass'}, [f['summary'] for d in result['domains'] for f in d['findings']]


@pytest.mark.parametrize('retry', [0, 0.2])
def test_a_retry_keeps_what_the_first_session_decided(lab, retry):
    """Deferred probes are retried; a rule the first session decided keeps its verdict (never worse for a retry)."""
    result = engine(lab, [lab.domain('greylist')], checks=('postmaster',), retry_4xx=retry).run()
    findings = [f for d in result['domains'] for f in d['findings'] if f['rule'] != 'MX-1']
    assert {f['status'] for f in findings} == {'inconclusive'}
    if retry:
        assert all('retried once after 0.2 s' in f['summary'] for f in findings), [f['summary'] for f in findings]


@pytest.mark.parametrize('module', [postmaster_check, null_sender_check, relay_check, recipient_check])
def test_every_envelope_check_module_takes_retry_4xx(lab, capsys, module):
    """The audit module's retry_4xx, documented alike in every module whose probes can meet a deferral."""
    options = yaml.safe_load(module.DOCUMENTATION)['options']
    assert options['retry_4xx']['type'] == 'float' and options['retry_4xx']['default'] == 0
    assert 'postscreen' in ' '.join(options['retry_4xx']['description'])
    code, result = run_module(module, lab.module_args(domain=lab.domain('compliant'), retry_4xx=0.1), capsys)
    assert code == 0, result.get('msg')
    assert {f['status'] for f in result['findings']} == {'pass'}
