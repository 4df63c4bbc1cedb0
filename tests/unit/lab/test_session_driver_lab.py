# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The session driver against lab servers and a few in-test hostile servers."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.module_utils._transcript import LINE_MAX

HELO = 'audit.lab.test'


def run(coroutine):
    return asyncio.run(coroutine)


def test_compliant_session_transcript(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('compliant'), lab.port, timeout=2)
        greeting = await session.connect()
        hello = await smtp.hello(session, HELO)
        mail = await session.send(protocol.mail_from(''))
        rset = await session.send(protocol.rset())
        quit_reply = await session.send(protocol.quit_())
        closed = await session.wait_closed(2)
        return session, greeting, hello, mail, rset, quit_reply, closed

    session, greeting, hello, mail, rset, quit_reply, closed = run(scenario())
    assert greeting.code == 220 and hello.esmtp and hello.capabilities.has('PIPELINING')
    assert (mail.code, rset.code, quit_reply.code, closed) == (250, 250, 221, True)
    assert session.transcript == [
        'S: 220 mx.compliant.lab.test ESMTP mxaudit-lab',
        'C: EHLO audit.lab.test',
        'S: 250-mx.compliant.lab.test',
        'S: 250-PIPELINING',
        'S: 250-SIZE 10240000',
        'S: 250-8BITMIME',
        'S: 250-ENHANCEDSTATUSCODES',
        'S: 250-DSN',
        'S: 250 SMTPUTF8',
        'C: MAIL FROM:<>',
        'S: 250 2.1.0 Ok',
        'C: RSET',
        'S: 250 2.0.0 Ok',
        'C: QUIT',
        'S: 221 2.0.0 Bye',
    ]


async def pipelined(lab, behaviour, domain):
    """EHLO, then the source document's group MAIL / RCPT / RSET / QUIT in one write."""
    session = smtp.SMTPSession(lab.address(behaviour), lab.port, timeout=2)
    await session.connect()
    await smtp.hello(session, HELO)
    return session, await session.pipeline([protocol.mail_from(''), protocol.rcpt_to('postmaster@' + domain),
                                            protocol.rset(), protocol.quit_()])


def test_pipelined_group_is_one_write_and_replies_come_in_order(lab):
    domain = lab.domain('compliant')

    _session, result = run(pipelined(lab, 'compliant', domain))
    assert result.complete
    assert [reply.code for reply in result.replies] == [250, 250, 250, 221]


def test_pipelining_loses_commands_like_the_source_document(lab):
    domain = lab.domain('pipelining_loses')

    session, result = run(pipelined(lab, 'pipelining_loses', domain))
    assert not result.complete
    assert [reply.code for reply in result.replies] == [250, 221]
    assert isinstance(result.error, smtp.ServerClosed)
    assert session.transcript[-3:] == ['S: 250 Sender OK', 'S: 221 2.0.0 Bye',
                                       '** connection closed by the server while waiting for the reply to pipelined RSET']


def test_never_greeting_server_costs_at_most_the_timeout(lab):
    session = smtp.SMTPSession(lab.address('never_greets'), lab.port, timeout=1.0)
    started = time.monotonic()
    with pytest.raises(smtp.ReplyTimeout) as info:
        run(session.connect())
    elapsed = time.monotonic() - started
    assert not isinstance(info.value, smtp.DeadlineExceeded)
    assert 0.9 <= elapsed < 1.5
    assert session.transcript == ['** no complete reply within 1 s while waiting for the greeting']


def test_deadline_cuts_a_longer_timeout(lab):
    async def scenario():
        deadline = asyncio.get_running_loop().time() + 0.5
        session = smtp.SMTPSession(lab.address('never_greets'), lab.port, timeout=10.0, deadline=deadline)
        with pytest.raises(smtp.DeadlineExceeded):
            await session.connect()
        return session

    started = time.monotonic()
    session = run(scenario())
    assert time.monotonic() - started < 1.0
    assert session.transcript[-1].startswith('** session deadline reached')


def test_slow_greeting_within_the_timeout_is_fine(lab):
    async def scenario():
        async with smtp.SMTPSession(lab.address('slow_greeting'), lab.port, timeout=4.0) as session:
            return await session.connect()

    assert run(scenario()).code == 220


def test_slow_greeting_beyond_the_timeout_times_out(lab):
    session = smtp.SMTPSession(lab.address('slow_greeting'), lab.port, timeout=0.5)
    with pytest.raises(smtp.ReplyTimeout):
        run(session.connect())


def test_554_greeting_then_503_until_quit(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('greeting_554'), lab.port, timeout=2)
        greeting = await session.connect()
        ehlo = await session.send(protocol.ehlo(HELO))
        quit_reply = await session.send(protocol.quit_())
        return greeting, ehlo, quit_reply

    greeting, ehlo, quit_reply = run(scenario())
    assert (greeting.code, ehlo.code, quit_reply.code) == (554, 503, 221)


def test_malformed_multiline_reply_ends_the_session_with_its_lines_in_the_transcript(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('malformed_multiline'), lab.port, timeout=2)
        await session.connect()
        with pytest.raises(smtp.MalformedReply) as info:
            await smtp.hello(session, HELO)
        return session, info.value

    session, error = run(scenario())
    assert not error.bounded
    assert session.transcript[-4:] == [
        'S: 250-mx.malformed-multiline.lab.test', 'S: 250-PIPELINING', 'S: 251 SIZE 1000',
        '** multiline reply mixes codes 250 and 251; session ended']
    assert not session.open


def test_endless_reply_is_cut_off_with_bounded_memory(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('endless_reply'), lab.port, timeout=5)
        await session.connect()
        with pytest.raises(smtp.MalformedReply) as info:
            await smtp.hello(session, HELO)
        return session, info.value

    tracemalloc.start()
    try:
        session, error = run(scenario())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.bounded
    assert peak < 20 * 1024 * 1024
    assert sum(1 for line in session.transcript if line.startswith('S: 250-')) == smtp.PARTIAL_LINES_SHOWN


def test_unknown_verb_that_closes_the_connection(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('closes_on_unknown'), lab.port, timeout=2)
        await session.connect()
        await smtp.hello(session, HELO)
        with pytest.raises(smtp.ServerClosed):
            await session.send(protocol.verb('XMXAUDITUNKNOWN'))
        return session

    session = run(scenario())
    assert session.transcript[-2:] == [
        'C: XMXAUDITUNKNOWN', '** connection closed by the server while waiting for the reply to XMXAUDITUNKNOWN']


def test_connection_refused_is_a_connect_error():
    # 127.0.0.1 port 9 (discard) has no listener in the lab or on a test machine.
    session = smtp.SMTPSession('127.0.0.1', 9, timeout=1)
    with pytest.raises(smtp.ConnectError) as info:
        run(session.connect())
    assert info.value.reason == 'refused'


async def _serve(handler):
    server = await asyncio.start_server(handler, '127.0.0.1', 0)
    return server, server.sockets[0].getsockname()[1]


def test_trickling_server_cannot_stretch_the_timeout():
    async def trickle(reader, writer):
        try:
            for byte in b'220 slow.lab.test ' + b'x' * 100:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def scenario():
        server, port = await _serve(trickle)
        session = smtp.SMTPSession('127.0.0.1', port, timeout=1.0)
        started = time.monotonic()
        try:
            with pytest.raises(smtp.ReplyTimeout):
                await session.connect()
        finally:
            server.close()
        return session, time.monotonic() - started

    session, elapsed = run(scenario())
    assert elapsed < 1.5
    assert 'bytes of an unfinished reply' in session.transcript[-1]


def test_many_small_replies_never_accumulate():
    """100 MB of unsolicited complete replies: the parser hands them out and keeps nothing."""
    parser = protocol.ReplyParser()
    line = b'250 ' + b'z' * 1020 + b'\r\n'
    chunk = line * 64
    tracemalloc.start()
    try:
        total = 0
        while total < 100 * 1024 * 1024:
            replies = parser.feed(chunk)
            assert len(replies) == 64
            total += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_transcript_lines_are_capped():
    session = smtp.SMTPSession('127.0.0.1', 25)
    session._record('S: 250 ' + 'q' * 5000)
    assert len(session.transcript[0]) < LINE_MAX + 40
    assert session.transcript[0].endswith('(5007 characters)')


# ---------------------------------------------------------------- replies no command asked for (issue 9)

def test_replies_before_the_first_command_are_unsolicited_and_never_its_reply(lab):
    """Ten "250 injected N" after the 220: EHLO is not sent, the lines are the evidence."""
    async def scenario():
        session = smtp.SMTPSession(lab.address('unsolicited_after_greeting'), lab.port, timeout=2)
        await session.connect()
        with pytest.raises(smtp.UnsolicitedReply) as info:
            await smtp.hello(session, HELO)
        return session, info.value

    session, error = run(scenario())
    assert [reply.code for reply in error.replies] == [250] * 10
    assert error.lines == ['S: 250 injected %d' % n for n in range(1, 11)]
    assert 'no command asked for' in error.message and 'before EHLO' in error.message
    assert session.transcript[:11] == ['S: 220 mx.unsolicited-after-greeting.lab.test ESMTP mxaudit-lab'] + error.lines
    assert 'C: EHLO audit.lab.test' not in session.transcript
    assert session.transcript[-1].startswith('** ') and 'no command asked for' in session.transcript[-1]
    assert not session.open


def test_a_doubled_reply_is_caught_right_after_the_first_copy(lab):
    """Two replies to EHLO: either could be EHLO's, so neither is handed out."""
    async def scenario():
        session = smtp.SMTPSession(lab.address('doubled_replies'), lab.port, timeout=2)
        await session.connect()
        with pytest.raises(smtp.UnsolicitedReply) as info:
            await smtp.hello(session, HELO)
        return session, info.value

    session, error = run(scenario())
    assert 'right after the reply to EHLO' in error.message
    copy = ['S: 250-mx.doubled-replies.lab.test', 'S: 250-PIPELINING', 'S: 250-SIZE 10240000', 'S: 250-8BITMIME',
            'S: 250-ENHANCEDSTATUSCODES', 'S: 250-DSN', 'S: 250 SMTPUTF8']
    assert error.lines == copy
    assert session.transcript[1:-1] == ['C: EHLO audit.lab.test'] + copy + copy
    assert not session.open


def test_a_pipelined_group_with_more_replies_than_commands():
    """Counted against the group: the replies after the group's own are unsolicited, and said so."""
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', None, None, None,
                                        b'250 a\r\n250 b\r\n250 c\r\n250 d\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await session.send(protocol.ehlo(HELO))
            return await session.pipeline([protocol.mail_from(''), protocol.rset(), protocol.noop()])
        finally:
            server.close()

    result = run(scenario())
    assert result.written and not result.complete
    assert [reply.text for reply in result.replies] == ['a', 'b', 'c']
    assert isinstance(result.error, smtp.UnsolicitedReply) and result.error.lines == ['S: 250 d']
    assert 'after the replies to the 3 pipelined commands' in result.error.message


def test_a_reply_followed_at_once_by_another_is_not_handed_out():
    """An unasked reply read as RCPT's, the real one right behind it: the "250" is not RCPT's reply."""
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', None, b'250 sender ok\r\n',
                                        0.05, b'250 injected\r\n', None, b'550 5.7.1 relaying denied\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await session.send(protocol.ehlo(HELO))
            await session.send(protocol.mail_from(''))
            with pytest.raises(smtp.UnsolicitedReply) as info:
                await session.send(protocol.rcpt_to('relay@foreign.example'))
            return info.value
        finally:
            server.close()

    error = run(scenario())
    assert error.lines == ['S: 550 5.7.1 relaying denied']
    assert 'right after the reply to RCPT' in error.message


def test_a_pipelined_group_is_not_sent_on_top_of_unsolicited_replies(lab):
    async def scenario():
        session = smtp.SMTPSession(lab.address('unsolicited_after_greeting'), lab.port, timeout=2)
        await session.connect()
        return session, await session.pipeline([protocol.mail_from(''), protocol.rset(), protocol.noop()])

    session, result = run(scenario())
    assert not result.written and result.replies == []
    assert isinstance(result.error, smtp.UnsolicitedReply)
    assert not [line for line in session.transcript if line.startswith('C: ')]


async def _scripted(steps):
    """A server on 127.0.0.1: each step is bytes to send, a float to sleep, or None to read one command line."""
    async def handler(reader, writer):
        try:
            for step in steps:
                if step is None:
                    if not await reader.readline():
                        return
                elif isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    writer.write(step)
                    await writer.drain()
            await reader.read()  # until the client goes
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return await _serve(handler)


GREETING = b'220 hostile.lab.test ESMTP\r\n'


def test_a_late_unsolicited_reply_sitting_in_the_buffer_is_caught():
    """It came after EHLO's reply was read and before NOOP: a zero-wait read finds it."""
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', 0.05, b'250 late\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            ehlo = await session.send(protocol.ehlo(HELO))
            await asyncio.sleep(0.3)
            with pytest.raises(smtp.UnsolicitedReply) as info:
                await session.send(protocol.noop())
            return session, ehlo, info.value
        finally:
            server.close()

    session, ehlo, error = run(scenario())
    assert ehlo.lines == ['hostile.lab.test']
    assert error.lines == ['S: 250 late']
    assert session.transcript[-2:-1] == ['S: 250 late'] and 'C: NOOP' not in session.transcript


def test_unsolicited_bytes_of_an_unfinished_line_are_caught():
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', 0.05, b'250 half a li'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await session.send(protocol.ehlo(HELO))
            await asyncio.sleep(0.3)
            with pytest.raises(smtp.UnsolicitedReply) as info:
                await session.send(protocol.noop())
            return session, info.value
        finally:
            server.close()

    session, error = run(scenario())
    assert error.replies == [] and error.partial == 13
    assert '13 bytes' in error.message and 'C: NOOP' not in session.transcript


def test_an_asynchronous_421_is_the_reply_to_the_next_command():
    """RFC 5321 3.8: a server shutting down may send 421 "asynchronously from command receipt"."""
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', 0.05,
                                        b'421 4.3.2 hostile.lab.test shutting down\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await session.send(protocol.ehlo(HELO))
            await asyncio.sleep(0.3)
            return session, await session.send(protocol.noop())
        finally:
            server.close()

    session, reply = run(scenario())
    assert reply.code == 421
    assert 'C: NOOP' not in session.transcript
    assert session.transcript[-2] == 'S: 421 4.3.2 hostile.lab.test shutting down'
    assert 'RFC 5321 3.8' in session.transcript[-1]


def test_a_command_is_not_sent_once_the_server_has_closed():
    async def scenario():
        server, port = await _serve(_greet_then_close)
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await asyncio.sleep(0.2)
            with pytest.raises(smtp.ServerClosed):
                await session.send(protocol.ehlo(HELO))
            return session
        finally:
            server.close()

    session = run(scenario())
    assert session.transcript == ['S: 220 hostile.lab.test ESMTP',
                                  '** connection closed by the server before EHLO was sent']


async def _greet_then_close(reader, writer):
    writer.write(GREETING)
    await writer.drain()
    writer.close()


def test_replies_parsed_before_a_malformed_line_are_handed_out_first():
    """The greeting and a broken line in one read: the greeting is handed out, the broken line ends the session next."""
    async def scenario():
        server, port = await _scripted([GREETING + b'this is no reply\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            greeting = await session.connect()
            with pytest.raises(smtp.MalformedReply) as info:
                await session.send(protocol.ehlo(HELO))
            return session, greeting, info.value
        finally:
            server.close()

    session, greeting, error = run(scenario())
    assert greeting.code == 220 and not error.bounded
    assert session.transcript == ['S: 220 hostile.lab.test ESMTP', 'S: this is no reply',
                                  '** not a reply line (a reply starts with a code 200-559): this is no reply; '
                                  'session ended']


def test_a_broken_line_right_after_a_reply_is_recorded_after_it():
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\nthis is no reply\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            with pytest.raises(smtp.MalformedReply):
                await session.send(protocol.ehlo(HELO))
            return session
        finally:
            server.close()

    session = run(scenario())
    assert session.transcript[-3:] == ['S: 250 hostile.lab.test', 'S: this is no reply',
                                       '** not a reply line (a reply starts with a code 200-559): this is no reply; '
                                       'session ended']


def test_a_pipelined_group_keeps_the_replies_before_a_malformed_line():
    async def scenario():
        server, port = await _scripted([GREETING, None, b'250 hostile.lab.test\r\n', None,
                                        b'250 a\r\n250 b\r\n250 c\r\n\x00bogus\r\n'])
        try:
            session = smtp.SMTPSession('127.0.0.1', port, timeout=2)
            await session.connect()
            await session.send(protocol.ehlo(HELO))
            return session, await session.pipeline([protocol.mail_from(''), protocol.rcpt_to('postmaster'),
                                                    protocol.rset(), protocol.noop()])
        finally:
            server.close()

    session, result = run(scenario())
    assert [reply.text for reply in result.replies] == ['a', 'b', 'c']
    assert isinstance(result.error, smtp.MalformedReply)
    assert session.transcript[-5:-1] == ['S: 250 a', 'S: 250 b', 'S: 250 c', 'S: \\x00bogus']
