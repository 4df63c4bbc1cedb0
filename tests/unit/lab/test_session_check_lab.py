# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The session check against the lab's behaviour servers: a whole smtp_info session per address."""

from __future__ import annotations

import asyncio
import time

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import session as check
from ansible_collections.mxaudit.smtp.tests.lab import smtp_server as lab_smtp


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
    # Replies no command asked for: GR-2 fails, and nothing read after the greeting is judged.
    'unsolicited_after_greeting': {'GR-1': 'pass', 'GR-2': 'fail', 'GR-3': 'inconclusive', 'CMD-1': 'inconclusive',
                                   'CMD-2': 'inconclusive', 'CMD-3': 'inconclusive'},
    'doubled_replies': {'GR-1': 'pass', 'GR-2': 'fail', 'GR-3': 'inconclusive', 'CMD-1': 'inconclusive',
                        'CMD-2': 'inconclusive', 'CMD-3': 'inconclusive'},
    'closes_at_mail': {'GR-1': 'pass', 'GR-2': 'pass', 'GR-3': 'pass', 'CMD-1': 'inconclusive', 'CMD-2': 'skipped',
                       'CMD-3': 'skipped'},
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


def test_unsolicited_replies_are_the_gr2_evidence(lab):
    report = probe(lab, 'unsolicited_after_greeting')
    gr2 = next(finding for finding in report.findings if finding.rule == 'GR-2')
    assert 'the server sent 10 replies that no command asked for, before EHLO was sent: "250 injected 1"' in gr2.summary
    assert report.transcript[1:11] == ['S: 250 injected %d' % n for n in range(1, 11)]
    assert report.hello is None and not [line for line in report.transcript if line.startswith('C: ')]


def test_a_doubled_reply_is_named_with_the_command_it_came_after(lab):
    report = probe(lab, 'doubled_replies')
    gr2 = next(finding for finding in report.findings if finding.rule == 'GR-2')
    assert 'no command asked for, right after the reply to EHLO: "250 mx.doubled-replies.lab.test ..."' in gr2.summary
    assert [line for line in report.transcript if line.startswith('C: ')] == ['C: EHLO audit.lab.test']


# ---------------------------------------------------------------- in-test servers

async def _serve_lab_session(session_class):
    """A lab server of one ad-hoc behaviour on 127.0.0.1, port chosen by the system."""
    server = lab_smtp.LabSMTPServer('compliant', '127.0.0.1', 0, name='mx.hostile.lab.test',
                                    options={'domains': ['hostile.lab.test']})
    server.session_class = session_class
    await server.start()
    return server


def _probe_class(session_class):
    async def scenario():
        server = await _serve_lab_session(session_class)
        try:
            target = check.Target('hostile.lab.test', 'mx.hostile.lab.test', '127.0.0.1')
            settings = check.ProbeSettings(port=server.port, helo_name='audit.lab.test',
                                           mail_from='postmaster@audit.lab.test', timeout=1.0)
            return await check.probe_session(target, settings)
        finally:
            await server.stop()

    return asyncio.run(scenario())


class _SizeNotANumber(lab_smtp.SMTPSession):
    extensions = ('PIPELINING', 'SIZE \u00b2')


def test_an_ehlo_size_that_is_not_a_number_is_a_gr2_warning_not_a_crash():
    report = _probe_class(_SizeNotANumber)
    found = statuses(report)
    assert found['GR-2'] == 'warn' and found['GR-3'] == 'pass'
    assert '"SIZE \u00b2"' in next(finding.summary for finding in report.findings if finding.rule == 'GR-2')
    assert report.to_dict()['capabilities']['size'] is None


class _EscapeInReply(lab_smtp.SMTPSession):
    async def cmd_noop(self, arg):
        await self.reply('250 2.0.0 Ok \x1b[2J')


def test_a_terminal_escape_in_a_reply_fails_gr2():
    report = _probe_class(_EscapeInReply)
    gr2 = next(finding for finding in report.findings if finding.rule == 'GR-2')
    assert gr2.status == 'fail' and 'control characters' in gr2.summary and '\\x1b[2J' in gr2.summary


class _ClosesAfterVrfy(lab_smtp.SMTPSession):
    async def cmd_vrfy(self, arg):
        await super().cmd_vrfy(arg)
        self.close()


def test_a_close_before_the_unknown_verb_is_sent_does_not_fail_cmd2():
    """The server hung up after VRFY: XMXAUDITUNKNOWN never went out, so it cannot have been mishandled."""
    report = _probe_class(_ClosesAfterVrfy)
    found = statuses(report)
    assert found['CMD-3'] == 'pass' and found['CMD-2'] == 'inconclusive', report.findings
    assert 'C: XMXAUDITUNKNOWN' not in report.transcript


class _DoubledHelo(lab_smtp.SMTPSession):
    async def cmd_helo(self, arg):
        await self.reply('250 %s\n250 %s' % (self.name, self.name))


def test_replies_no_command_asked_for_in_the_helo_session_fail_gr2():
    report = _probe_class(_DoubledHelo)
    found = statuses(report)
    assert found['GR-2'] == 'fail' and found['GR-3'] == 'pass' and found['CMD-1'] == 'pass', report.findings
    gr2 = next(finding for finding in report.findings if finding.rule == 'GR-2')
    assert 'in the HELO session, the server sent 1 reply that no command asked for, right after the reply to HELO' \
        in gr2.summary
