# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real MTAs that hang up after a few errors: Exim with its default smtp_max_synprot_errors, a strict Postfix.

Exim (tests/lab/exim.py) ends the session at the fourth syntax error - an address with a second "@",
an address literal - and a Postfix with smtpd_hard_error_limit = 3 (tests/lab/postfix.py,
postfix_error_limits) answers "421 4.7.0 Error: too many errors" after its third refusal of any kind.
Before the probe session spread the relay forms over sessions and took those closes for what they
are, RL-2 ended "21 of 22 forms refused; not decided: ..." on the first and "2 of 3 forms refused"
on the second. Needs root, the postfix package and the unpacked Exim: skipped without them, except
under CI=true, where that is a failure.
"""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.module_utils import _options
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import probe as probe_module
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.run import Engine
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import RunSettings
from ansible_collections.mxaudit.smtp.plugins.modules import relay_check
from ansible_collections.mxaudit.smtp.tests.lab import exim as lab_exim
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

RELAY_RECIPIENT = 'relay-probe@foreign.lab.test'
ALL_FORMS = 'all 23 relay forms refused'


def relay(lab, capsys, domain, port):
    code, result = run_module(relay_check, lab.module_args(domain=domain, port=port, relay_recipient=RELAY_RECIPIENT),
                              capsys)
    assert code == 0, result
    return {finding['rule']: finding for finding in result['findings']}


def every_rule(lab, domain, port):
    """Every check of the collection in one run, as the audit module runs them."""
    params = {'port': port, 'helo_name': 'audit.lab.test', 'timeout': 5.0, 'resolver': lab.resolver_options(),
              'allow_private_addresses': True}
    run = Engine(_options.parse(params, require_domain=False), RunSettings(relay_recipient=RELAY_RECIPIENT, checks=CONFORMANCE), [domain])
    result = run.run()
    return {f['rule']: (f['status'], f['summary']) for d in result['domains'] for f in d['findings']}, result


# ---------------------------------------------------------------- the configuration, no Exim needed

def test_exim_configuration_never_delivers_and_asks_no_dns(tmp_path):
    text = lab_exim.EximLab(directory=str(tmp_path), port=2525).config_text()
    settings = dict(line.split(' = ', 1) if ' = ' in line else (line.rstrip(' ='), '')
                    for line in text.splitlines() if line and not line.startswith((' ', '#', 'begin', 'acl_check')))
    assert settings['local_interfaces'] == '127.0.3.1' and settings['daemon_smtp_ports'] == '2525'
    for empty in ('hostlist relay_from_hosts', 'host_lookup', 'rfc1413_hosts', 'helo_lookup_domains', 'tls_advertise_hosts'):
        assert settings[empty] == '', empty
    assert 'smtp_max_synprot_errors' not in text  # Exim's default: the point of the instance
    routers = text.split('begin routers', 1)[1].split('begin transports', 1)
    assert 'data = :blackhole:' in routers[0] and 'dnslookup' not in routers[0] and 'manualroute' not in routers[0]
    assert routers[1].strip() == ''  # no transport at all: nothing could be delivered
    assert 'verify = sender' not in text
    assert 'acl_smtp_predata = acl_check_predata' in text and 'never takes a message' in text


# ---------------------------------------------------------------- Exim

def test_exim_default_synprot_limit_rl2_passes_with_every_form_decided(lab, exim, capsys):
    address, port = exim.address('exim_default')
    found = relay(lab, capsys, 'exim-default.lab.test', port)
    assert found['RL-1']['status'] == 'pass' and found['RL-1']['address'] == address
    assert (found['RL-2']['status'], found['RL-2']['summary']) == ('pass', ALL_FORMS)
    lines = found['RL-2']['transcript']
    # Exim parsed the forms it counts as syntax errors, and no session was dropped for them.
    assert sum('domain literals not allowed' in line for line in lines) >= 4
    assert sum('malformed address' in line for line in lines) >= 2
    assert not any('Too many syntax or protocol errors' in line for line in lines)
    sessions = sum(line.startswith('S: 220 ') for line in lines)
    assert 3 <= sessions <= probe_module.MAX_CONNECTIONS


# The conformance checks: the lab's Exim and Postfix are configured without TLS (TLS-1 would fail by design).
CONFORMANCE = ('mx', 'session', 'postmaster', 'null_sender', 'relay', 'recipient', 'pipelining')


def test_no_rule_fails_against_default_exim(lab, exim):
    """Every rule of the catalogue passes against Exim's default access rules: no false verdict."""
    verdicts, _result = every_rule(lab, 'exim-default.lab.test', exim.port)
    assert {rule: status for rule, (status, _summary) in verdicts.items()} == dict.fromkeys(
        ['MX-1', 'GR-1', 'GR-2', 'GR-3', 'CMD-1', 'CMD-2', 'CMD-3', 'PM-1', 'PM-2', 'RL-3', 'NS-1', 'RL-1', 'RL-2', 'RV-1',
         'PL-1', 'PL-2'], 'pass'), verdicts


# ---------------------------------------------------------------- Postfix with smtpd_hard_error_limit = 3

def test_postfix_hard_error_limit_rl2_passes_with_every_form_decided(lab, postfix, capsys):
    address, port = postfix.address('postfix_error_limits')
    found = relay(lab, capsys, 'postfix-error-limits.lab.test', port)
    assert found['RL-1']['status'] == 'pass' and found['RL-1']['address'] == address
    assert (found['RL-2']['status'], found['RL-2']['summary']) == ('pass', ALL_FORMS)
    lines = found['RL-2']['transcript']
    # Only the first session is cut off by the limit: the next ones carry three refusals each, learnt from it,
    # and end with our QUIT (which smtpd, at its limit by then, answers with its 421).
    # (the first close is seen as such, or - when the 421 races the close - as the next connection starting early)
    assert sum(line.startswith('** the server ended the connection after 3 refused commands') for line in lines) <= 1
    # Whether smtpd's 421 shows in the transcript depends on when it races its close (see test_resilience_lab.py).
    assert sum(line.startswith('S: 220 ') for line in lines) <= probe_module.MAX_CONNECTIONS


def test_postfix_error_limit_is_no_back_off(lab, postfix):
    """The 421 of the error limit is a reason to reconnect: every later job at the address still runs."""
    verdicts, _result = every_rule(lab, 'postfix-error-limits.lab.test', postfix.port)
    assert {status for status, _summary in verdicts.values()} == {'pass'}, verdicts
