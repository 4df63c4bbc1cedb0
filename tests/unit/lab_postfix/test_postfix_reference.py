# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Real Postfix as the compliant reference: no false fail, and exactly the capabilities it advertises."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.mxaudit.smtp.plugins.modules import smtp_info
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module


def raw_ehlo_keywords(address, port):
    """EHLO read with a plain socket, independent of the collection's parser."""
    with socket.create_connection((address, port), timeout=10) as sock:
        reader = sock.makefile('rb')
        reader.readline()
        sock.sendall(b'EHLO audit.lab.test\r\n')
        lines = []
        while True:
            line = reader.readline().decode().rstrip('\r\n')
            lines.append(line)
            if line[3] == ' ':
                break
        sock.sendall(b'QUIT\r\n')
        reader.readline()
    return sorted(line[4:].split(' ')[0].upper() for line in lines[1:])


def run_smtp_info(args, capsys):
    return run_module(smtp_info, args, capsys)[1]


def test_smtp_info_against_compliant_postfix(lab, postfix, capsys):
    address, port = postfix.address('postfix_compliant')
    result = run_smtp_info(lab.module_args(domain='postfix-compliant.lab.test', port=port), capsys)
    (session,) = result['sessions']
    assert session['address'] == address
    assert session['greeting'].startswith('220 mx.postfix-compliant.lab.test ESMTP Postfix')
    # Exactly what Postfix advertises, read independently, and what this Debian Postfix is known to offer.
    assert session['capabilities']['keywords'] == raw_ehlo_keywords(address, port)
    assert session['capabilities']['keywords'] == sorted(
        ['PIPELINING', 'SIZE', 'VRFY', 'ETRN', 'ENHANCEDSTATUSCODES', '8BITMIME', 'DSN', 'SMTPUTF8', 'CHUNKING'])
    assert session['capabilities']['size'] == 10240000
    assert session['capabilities']['other'] == {'ETRN': [], 'VRFY': []}
    # The most important assertion of the suite: no false fail against a compliant real MTA.
    assert [(f['rule'], f['status']) for f in result['findings']] == [
        ('MX-1', 'pass'), ('GR-1', 'pass'), ('GR-2', 'pass'), ('GR-3', 'pass'), ('CMD-1', 'pass'), ('CMD-2', 'pass'),
        ('CMD-3', 'pass')]
    assert result['compliant'] is True
    assert not any(line.startswith(('C: DATA', 'C: RCPT', 'C: BDAT')) for line in session['transcript'])


@pytest.mark.parametrize('instance', ['postfix_open_relay', 'postfix_no_postmaster', 'postfix_null_sender_refused',
                                      'postfix_accept_all'])
def test_session_rules_pass_on_every_postfix_configuration(lab, postfix, capsys, instance):
    """Relay and recipient settings are not session conformance: smtp_info passes them all."""
    address, port = postfix.address(instance)
    result = run_smtp_info(lab.module_args(domain=instance.replace('_', '-') + '.lab.test', port=port), capsys)
    assert result['sessions'][0]['address'] == address
    assert {f['status'] for f in result['findings']} == {'pass'}
