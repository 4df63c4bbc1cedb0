# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""SMTPSession.starttls() against small loopback servers: plaintext after the 220, the timeout, the new parser."""

from __future__ import annotations

import asyncio

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol
from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls as tls
from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca


async def serve(after_220: bytes, handshake: bool = True):
    context = lab_ca().server_context('mx.starttls.lab.test')

    async def client(reader, writer):
        writer.write(b'220 mx.starttls.lab.test ESMTP\r\n')
        await reader.readline()                      # STARTTLS
        writer.write(b'220 2.0.0 go ahead\r\n' + after_220)
        await writer.drain()
        if not handshake:
            await asyncio.sleep(30)
            return
        await writer.start_tls(context)
        line = await reader.readline()
        if line.startswith(b'EHLO'):
            writer.write(b'250 mx.starttls.lab.test\r\n')
            await writer.drain()
        await reader.read()
    return await asyncio.start_server(client, '127.0.0.1', 0)


def run(after_220, handshake=True, timeout=2.0):
    async def main():
        server = await serve(after_220, handshake)
        port = server.sockets[0].getsockname()[1]
        session = smtp.SMTPSession('127.0.0.1', port, timeout=timeout)
        try:
            await session.connect()
            await session.starttls(tls.probe_context(), 'mx.starttls.lab.test')
            reply = await session.send(protocol.ehlo('audit.lab.test'))
            return session, reply
        finally:
            session.abort()
            server.close()
    return asyncio.run(main())


def test_after_the_upgrade_the_session_reads_tls():
    session, reply = run(b'')
    assert reply.code == 250 and session.replies_after_starttls == [] and session.plaintext_after_starttls == 0
    assert any('TLS handshake completed' in line for line in session.transcript)


def test_plaintext_replies_after_the_220_are_kept_apart_and_dropped():
    session, reply = run(b'250 2.0.0 injected\r\n')
    assert [r.code for r in session.replies_after_starttls] == [250]
    assert reply.code == 250 and reply.lines[0].startswith('mx.starttls')  # the reply to EHLO inside TLS


def test_a_server_that_never_handshakes_costs_one_timeout():
    async def main():
        server = await serve(b'', handshake=False)
        port = server.sockets[0].getsockname()[1]
        session = smtp.SMTPSession('127.0.0.1', port, timeout=0.5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await session.connect()
            with pytest.raises((smtp.ReplyTimeout, smtp.TLSHandshakeError)):
                await session.starttls(tls.probe_context(), 'mx.starttls.lab.test')
            return loop.time() - started
        finally:
            session.abort()
            server.close()
    assert asyncio.run(main()) < 2.0
