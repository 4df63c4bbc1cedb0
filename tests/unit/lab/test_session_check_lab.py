# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The session check against the lab's behaviour servers: a whole smtp_info session per address."""

from __future__ import annotations

import asyncio
import time

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import session as check


def probe(lab, behaviour, timeout=2.0):
    target = check.Target(lab.domain(behaviour), 'mx.' + lab.domain(behaviour), lab.address(behaviour))
    settings = check.ProbeSettings(port=lab.port, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test',
                                   timeout=timeout)
    return asyncio.run(check.probe_session(target, settings))


def statuses(report):
    return {finding.rule: finding.status for finding in report.findings}


EXPECTED = {
    'compliant': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'pass', 'CMD-1': 'pass', 'CMD-2': 'pass', 'CMD-3': 'pass'},
    'hostile_banner': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'pass', 'CMD-1': 'pass', 'CMD-2': 'pass', 'CMD-3': 'pass'},
    'greeting_554': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'skipped', 'CMD-1': 'skipped', 'CMD-2': 'skipped',
                     'CMD-3': 'skipped'},
    'never_greets': {'GR-1': 'inconclusive', 'GR-2': 'skipped', 'GR-3': 'skipped', 'CMD-1': 'skipped',
                     'CMD-2': 'skipped', 'CMD-3': 'skipped'},
    'malformed_multiline': {'GR-1': 'pass', 'GR-2': 'fail', 'GR-3': 'skipped', 'CMD-1': 'skipped',
                            'CMD-2': 'skipped', 'CMD-3': 'skipped'},
    'endless_reply': {'GR-1': 'pass', 'GR-2': 'inconclusive', 'GR-3': 'skipped', 'CMD-1': 'skipped',
                      'CMD-2': 'skipped', 'CMD-3': 'skipped'},
    'closes_on_unknown': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'pass', 'CMD-1': 'pass', 'CMD-2': 'fail',
                          'CMD-3': 'pass'},
    'vrfy_550': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'pass', 'CMD-1': 'pass', 'CMD-2': 'pass', 'CMD-3': 'fail'},
}


@pytest.mark.parametrize('behaviour', sorted(EXPECTED))
def test_lab_behaviour_verdicts(lab, behaviour):
    report = probe(lab, behaviour, timeout=1.0 if behaviour == 'never_greets' else 2.0)
    assert statuses(report) == EXPECTED[behaviour]
    for finding in report.findings:
        assert finding.transcript == report.transcript
        assert finding.address == lab.address(behaviour)


def test_compliant_session_transcript_reads_like_the_documents(lab):
    report = probe(lab, 'compliant')
    sent = [line for line in report.transcript if line.startswith('C: ')]
    assert sent == [
        'C: EHLO audit.lab.test', 'C: NOOP', 'C: MAIL FROM:<postmaster@audit.lab.test>', 'C: RSET',
        'C: MAIL FROM:<postmaster@audit.lab.test>', 'C: RSET', 'C: VRFY postmaster', 'C: XMXAUDITUNKNOWN', 'C: NOOP',
        'C: QUIT', 'C: HELO audit.lab.test', 'C: QUIT']
    assert '** second session: HELO' in report.transcript
    assert report.hello.capabilities.to_dict()['size'] == 10240000


def test_no_probe_ever_sends_rcpt_or_data(lab):
    server = lab.servers['compliant']
    before = len(server.commands)
    probe(lab, 'compliant')
    verbs = {command.split(' ', 1)[0].split(':', 1)[0].upper() for command in server.commands[before:]}
    assert 'DATA' not in verbs and 'RCPT' not in verbs
    assert server.data_commands == 0


def test_never_greeting_server_costs_one_timeout(lab):
    started = time.monotonic()
    report = probe(lab, 'never_greets', timeout=1.0)
    assert time.monotonic() - started < 1.6
    assert report.error and 'greeting' in report.error


def test_connection_refused_is_an_error_not_a_fail():
    target = check.Target('refused.lab.test', 'mx.refused.lab.test', '127.0.0.1')
    settings = check.ProbeSettings(port=9, helo_name='audit.lab.test', mail_from='postmaster@audit.lab.test', timeout=1)
    report = asyncio.run(check.probe_session(target, settings))
    assert statuses(report)['GR-1'] == 'error'
    assert all(status in ('error', 'skipped') for status in statuses(report).values())
