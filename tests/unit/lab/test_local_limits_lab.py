# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""This host's own limits are never reported as the server's (issue 9): out of file descriptors is not "unreachable"."""

from __future__ import annotations

import asyncio
import errno
import os

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _session as smtp
from ansible_collections.mxaudit.smtp.plugins.modules import audit, smtp_info
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

resource = pytest.importorskip('resource')


def test_a_connection_without_a_free_descriptor_is_a_local_error(lab):
    """The real thing: the soft limit lowered to what is open, then a connection to the lab's compliant server."""
    async def scenario():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        opened = []
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir('/proc/self/fd')) + 4, hard))
        try:
            with pytest.raises(OSError) as full:
                while len(opened) < 100:  # bounded: the limit above is a handful of descriptors away
                    opened.append(os.open(os.devnull, os.O_RDONLY))
            assert full.value.errno == errno.EMFILE
            session = smtp.SMTPSession(lab.address('compliant'), lab.port, timeout=2.0)
            with pytest.raises(smtp.ConnectError) as info:
                await session.connect()
            return info.value, list(session.transcript)
        finally:
            for descriptor in opened:
                os.close(descriptor)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    error, transcript = asyncio.run(scenario())
    assert error.reason == 'local'
    assert "this host's resource limit was reached" in error.message and 'not a fault of the server' in error.message
    assert 'this host ran out of a resource' in transcript[-1]


@pytest.fixture
def no_descriptors(monkeypatch):
    async def open_connection(*_args, **_kwargs):
        raise OSError(errno.EMFILE, 'Too many open files')
    monkeypatch.setattr(smtp.asyncio, 'open_connection', open_connection)


def test_an_audit_out_of_descriptors_does_not_say_the_host_cannot_reach_port_25(lab, capsys, no_descriptors):
    addresses = [lab.address(behaviour) for behaviour in ('compliant', 'relay_denied_all', 'no_postmaster')]
    args = lab.module_args(domain='compliant.lab.test', addresses=addresses, checks=['postmaster'])
    code, result = run_module(audit, args, capsys)
    assert code == 0
    assert result['vantage_point']['blocked'] is False and result['vantage_point']['message'] is None
    assert result['stats']['connect_errors'] == 0
    statuses = {(f['status'], 'resource limit' in f['summary']) for f in result['domains'][0]['findings']}
    assert statuses == {('error', True)}


def test_smtp_info_out_of_descriptors_is_an_error_of_this_host(lab, capsys, no_descriptors):
    args = lab.module_args(domain='compliant.lab.test', addresses=[lab.address('compliant')])
    code, result = run_module(smtp_info, args, capsys)
    assert code == 0
    greeting = [f for f in result['findings'] if f['rule'] == 'GR-1'][0]
    assert greeting['status'] == 'error' and "this host's resource limit" in greeting['summary']
