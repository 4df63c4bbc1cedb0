# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's real Postfix instances give the verdicts the auditor's tests rely on.

Raw socket client only; every transaction ends in RSET or QUIT, DATA is never sent.
Needs root and the postfix package: skipped without them, except under CI=true,
where a missing Postfix is a failure.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys

import pytest

try:
    from ansible_collections.mxaudit.smtp.tests.lab import postfix as lab_postfix
except ImportError:
    _TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    try:
        if _TESTS_DIR not in sys.path:
            sys.path.insert(0, _TESTS_DIR)
        from lab import postfix as lab_postfix
    except ImportError:
        # tests/lab/__init__.py pulls in the other lab servers; postfix.py needs none of them.
        _SPEC = importlib.util.spec_from_file_location('mxaudit_lab_postfix', os.path.join(_TESTS_DIR, 'lab', 'postfix.py'))
        lab_postfix = importlib.util.module_from_spec(_SPEC)
        _SPEC.loader.exec_module(lab_postfix)

HELO = 'audit.lab.test'
SENDER = 'audit@audit.lab.test'
FOREIGN = 'user@foreign.example'
UNKNOWN_LOCAL = 'no-such-user-7f3q9'


class SMTPClient:
    """A minimal blocking SMTP client: one command, one reply."""

    def __init__(self, address, port, timeout=10.0):
        self.sock = socket.create_connection((address, port), timeout=timeout)
        self.reader = self.sock.makefile('rb')
        self.greeting = self.reply()

    def reply(self):
        """Read one (possibly multiline) reply: (code, [text lines])."""
        code, texts = None, []
        while True:
            line = self.reader.readline(4096)
            assert line.endswith(b'\r\n'), 'truncated or bare-LF reply line: %r' % line
            line = line[:-2].decode('utf-8', 'replace')
            code = int(line[:3])
            texts.append(line[4:])
            if line[3:4] != '-':
                return code, texts

    def cmd(self, line):
        """Send one command line and return its reply."""
        assert not line.upper().startswith(('DATA', 'BDAT')), 'the lab tests never send a message'
        self.sock.sendall(line.encode('utf-8') + b'\r\n')
        return self.reply()

    def close(self):
        """QUIT and close."""
        try:
            self.cmd('QUIT')
        finally:
            self.reader.close()
            self.sock.close()


@pytest.fixture()
def postfix_lab(postfix):
    """The shared Postfix fixture of tests/unit/conftest.py (skip or, with CI=true, fail without Postfix)."""
    return postfix


@pytest.fixture()
def smtp(postfix_lab):
    """Factory: smtp(name) -> connected client after EHLO; closed (QUIT) at teardown."""
    clients = []

    def connect(name):
        address, port = postfix_lab.address(name)
        client = SMTPClient(address, port)
        clients.append(client)
        code, texts = client.cmd('EHLO ' + HELO)
        assert code == 250, texts
        return client

    yield connect
    for client in clients:
        client.close()


def domain(name):
    return lab_postfix.INSTANCES[name][1]


# -- configuration, no Postfix needed ---------------------------------------------------


def test_instance_table():
    addresses = [address for address, _domain in lab_postfix.INSTANCES.values()]
    assert len(set(addresses)) == len(addresses) == 7
    assert all(address.startswith('127.0.2.') for address in addresses)
    assert lab_postfix.INSTANCES['postfix_compliant'] == ('127.0.2.1', 'postfix-compliant.lab.test')
    assert lab_postfix.hostname_of('postfix_accept_all') == 'mx.postfix-accept-all.lab.test'
    assert lab_postfix.INSTANCES['postfix_error_limits'] == ('127.0.2.6', 'postfix-error-limits.lab.test')
    assert ('smtpd_hard_error_limit', '3') in lab_postfix.INSTANCE_OVERRIDES['postfix_error_limits']
    assert lab_postfix.INSTANCES['postfix_tls'] == ('127.0.2.7', 'postfix-tls.lab.test')
    assert lab_postfix.TLS_INSTANCES == ('postfix_tls',)


def test_tls_instance_overrides():
    overrides = dict(lab_postfix.INSTANCE_OVERRIDES['postfix_tls'])
    assert overrides['smtpd_tls_security_level'] == 'may'
    assert overrides['smtpd_tls_protocols'] == overrides['smtpd_tls_mandatory_protocols'] == '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1'
    # "yes" is an alias of "normalize" (a bare LF still ends a command); "reject" refuses it (LF-1).
    assert overrides['smtpd_forbid_bare_newline'] == 'reject'
    block = lab_postfix.PostfixLab(port=2525, root='/nonexistent/lab').master_block()
    assert '  -o smtpd_tls_cert_file=/nonexistent/lab/config/tls/cert.pem' in block.splitlines()


def test_tls_files_are_kept_while_usable(tmp_path):
    lab = lab_postfix.PostfixLab(root=str(tmp_path / 'lab'))
    assert lab._configure_tls() is True  # pylint: disable=protected-access
    assert lab._configure_tls() is False  # pylint: disable=protected-access
    assert oct(os.stat(os.path.join(lab.tls_dir, 'key.pem')).st_mode & 0o777) == '0o600'
    with open(os.path.join(lab.tls_dir, 'cert.pem'), 'w', encoding='ascii') as handle:
        handle.write('garbage')
    assert lab._configure_tls() is True  # pylint: disable=protected-access
    assert os.path.exists(lab.tls_ca_file)


def test_master_block_is_well_formed():
    block = lab_postfix.PostfixLab(port=2525).master_block()
    lines = block.splitlines()
    assert lines[0] == lab_postfix.BLOCK_BEGIN and lines[-1] == lab_postfix.BLOCK_END
    for line in lines[1:-1]:
        if line.startswith('  -o '):
            # master.cf splits on white space: a value with a space would break the entry.
            assert ' ' not in line[len('  -o '):], line
        else:
            assert line.split()[1] in ('inet', 'unix'), line
    for address, _domain in lab_postfix.INSTANCES.values():
        assert '%s:2525 inet n - n - - smtpd' % address in lines


def test_main_cf_never_leaves_loopback():
    main = dict(lab_postfix.MAIN_CF)
    assert main['smtpd_peername_lookup'] == 'no'
    assert main['relayhost'] == ''
    for transport in ('default_transport', 'relay_transport', 'local_transport', 'virtual_transport'):
        assert main[transport] == 'discard:'
    assert 'reject_rbl_client' not in ' '.join(main.values())
    assert 'reject_unknown' not in ' '.join(main.values())


def test_master_cf_is_private_and_unchrooted():
    master = lab_postfix.PostfixLab(port=2525).master_cf()
    entries = [line.split() for line in master.splitlines() if line and not line.startswith(('#', ' '))]
    # No chroot (the private queue directory has no /etc copies), no port-25 listener, no pipe(8).
    assert {fields[4] for fields in entries} == {'n'}, master
    assert not any(fields[:2] == ['smtp', 'inet'] for fields in entries)
    assert 'pipe' not in [fields[7] for fields in entries]
    # postfix-script refuses to start with maillog_file set and no postlog service.
    assert ['postlog', 'unix-dgram'] in [fields[:2] for fields in entries]


def test_main_cf_is_private(tmp_path):
    lab = lab_postfix.PostfixLab(root=str(tmp_path / 'lab'))
    main = dict(line.split(' = ', 1) for line in lab.main_cf().splitlines() if not line.startswith('#'))
    assert main['queue_directory'] == str(tmp_path / 'lab' / 'queue')
    assert main['data_directory'] == str(tmp_path / 'lab' / 'data')
    assert main['maillog_file'] == str(tmp_path / 'lab' / 'maillog')
    assert str(tmp_path / 'lab') in main['maillog_file_prefixes'].split(', ')
    assert main['alias_maps'] == 'texthash:%s/aliases' % (tmp_path / 'lab' / 'config')
    assert lab_postfix.SYSTEM_CONFIG_DIR not in lab.main_cf() + lab.master_cf()


# -- live Postfix ---------------------------------------------------------------------


def test_configure_is_idempotent(postfix_lab):
    with postfix_lab.lock():
        assert postfix_lab.configure() is False
    assert postfix_lab.running()


def test_live_safety_settings(postfix_lab):
    postconf = postfix_lab.postconf('smtpd_peername_lookup', 'default_transport', 'relayhost', 'smtp_dns_support_level')
    assert postconf == ['no', 'discard:', '', 'disabled']


@pytest.mark.parametrize('name', sorted(lab_postfix.INSTANCES))
def test_greeting(postfix_lab, name):
    address, port = postfix_lab.address(name)
    client = SMTPClient(address, port)
    try:
        code, texts = client.greeting
        assert code == 220
        assert texts[0].startswith('mx.%s ESMTP' % domain(name))
    finally:
        client.close()


def test_compliant_ehlo_capabilities(postfix_lab):
    address, port = postfix_lab.address('postfix_compliant')
    client = SMTPClient(address, port)
    try:
        code, texts = client.cmd('EHLO ' + HELO)
    finally:
        client.close()
    assert code == 250
    assert texts[0] == 'mx.postfix-compliant.lab.test'
    keywords = [text.split()[0].upper() for text in texts[1:]]
    assert keywords == ['PIPELINING', 'SIZE', 'VRFY', 'ETRN', 'ENHANCEDSTATUSCODES', '8BITMIME', 'DSN', 'SMTPUTF8', 'CHUNKING']
    assert 'SIZE 10240000' in texts


def test_helo_fallback_has_no_extensions(postfix_lab):
    address, port = postfix_lab.address('postfix_compliant')
    client = SMTPClient(address, port)
    try:
        code, texts = client.cmd('HELO ' + HELO)
        assert code == 250 and len(texts) == 1
    finally:
        client.close()


# (instance, local part or address, expected code, expected text fragment)
RCPT_VERDICTS = [
    ('postfix_compliant', 'postmaster', 250, 'Ok'),
    ('postfix_compliant', 'abuse', 250, 'Ok'),
    ('postfix_compliant', 'alice', 250, 'Ok'),
    ('postfix_compliant', UNKNOWN_LOCAL, 550, 'User unknown in local recipient table'),
    ('postfix_compliant', FOREIGN, 554, 'Relay access denied'),
    ('postfix_compliant', 'postmaster@postfix-accept-all.lab.test', 554, 'Relay access denied'),
    ('postfix_open_relay', 'postmaster', 250, 'Ok'),
    ('postfix_open_relay', UNKNOWN_LOCAL, 550, 'User unknown in local recipient table'),
    ('postfix_open_relay', FOREIGN, 250, 'Ok'),
    ('postfix_no_postmaster', 'postmaster', 550, 'Relaying is prohibited'),
    ('postfix_no_postmaster', 'PostMaster', 550, 'Relaying is prohibited'),
    ('postfix_no_postmaster', 'abuse', 250, 'Ok'),
    ('postfix_no_postmaster', UNKNOWN_LOCAL, 550, 'User unknown'),
    ('postfix_no_postmaster', FOREIGN, 554, 'Relay access denied'),
    ('postfix_null_sender_refused', 'postmaster', 250, 'Ok'),
    ('postfix_null_sender_refused', UNKNOWN_LOCAL, 550, 'User unknown'),
    ('postfix_null_sender_refused', FOREIGN, 554, 'Relay access denied'),
    ('postfix_accept_all', 'postmaster', 250, 'Ok'),
    ('postfix_accept_all', UNKNOWN_LOCAL, 250, 'Ok'),
    ('postfix_accept_all', FOREIGN, 554, 'Relay access denied'),
]


@pytest.mark.parametrize('name,recipient,code,fragment', RCPT_VERDICTS)
def test_rcpt_verdict(smtp, name, recipient, code, fragment):
    client = smtp(name)
    if '@' not in recipient:
        recipient = '%s@%s' % (recipient, domain(name))
    assert client.cmd('MAIL FROM:<%s>' % SENDER)[0] == 250
    got, texts = client.cmd('RCPT TO:<%s>' % recipient)
    assert got == code, texts
    assert fragment in texts[-1]
    assert client.cmd('RSET')[0] == 250


@pytest.mark.parametrize('name,code', [
    ('postfix_compliant', 250),
    ('postfix_open_relay', 250),
    ('postfix_no_postmaster', 550),
    ('postfix_null_sender_refused', 250),
    ('postfix_accept_all', 250),
])
def test_bare_postmaster(smtp, name, code):
    client = smtp(name)
    assert client.cmd('MAIL FROM:<%s>' % SENDER)[0] == 250
    assert client.cmd('RCPT TO:<Postmaster>')[0] == code
    assert client.cmd('RSET')[0] == 250


@pytest.mark.parametrize('name', sorted(lab_postfix.INSTANCES))
def test_null_sender(smtp, name):
    client = smtp(name)
    code, texts = client.cmd('MAIL FROM:<>')
    if name == 'postfix_null_sender_refused':
        assert code == 550, texts
        assert 'Null sender not accepted' in texts[0]
        # The refusal is at MAIL time (smtpd_delay_reject=no): there is no transaction.
        assert client.cmd('RCPT TO:<postmaster@%s>' % domain(name))[0] == 503
    else:
        assert code == 250, texts
        # postmaster of its own domain (refused on purpose by postfix_no_postmaster).
        expected = 550 if name == 'postfix_no_postmaster' else 250
        assert client.cmd('RCPT TO:<postmaster@%s>' % domain(name))[0] == expected
    assert client.cmd('RSET')[0] == 250


def test_session_commands(smtp):
    client = smtp('postfix_compliant')
    assert client.cmd('NOOP')[0] == 250
    assert client.cmd('RSET')[0] == 250
    assert client.cmd('XYZZY')[0] == 500
    assert client.cmd('NOOP')[0] == 250


def test_pipelined_group_all_replies(postfix_lab):
    """Postfix honours RFC 2920: MAIL, RCPT, RSET, QUIT in one write -> four replies in order."""
    address, port = postfix_lab.address('postfix_compliant')
    client = SMTPClient(address, port)
    try:
        assert client.cmd('EHLO ' + HELO)[0] == 250
        client.sock.sendall(('MAIL FROM:<%s>\r\nRCPT TO:<postmaster@%s>\r\nRSET\r\nQUIT\r\n' % (SENDER, domain('postfix_compliant'))).encode())
        codes = [client.reply()[0] for _index in range(4)]
        assert codes == [250, 250, 250, 221]
    finally:
        client.reader.close()
        client.sock.close()
