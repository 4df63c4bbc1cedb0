# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures shared by the unit tests: the lab, started once per test run.

The lab listens on loopback only; DNS questions go to the lab's own server,
never to the system resolver.
"""

from __future__ import annotations

import json
import os
import typing as t
from dataclasses import dataclass

import pytest


from ansible_collections.mxaudit.smtp.tests.lab import LabDNSServer, LabRunner, LabSMTPServer, default_lab
from ansible_collections.mxaudit.smtp.tests.lab.scenario import Lab


def _inherit_environment() -> None:
    """CI and MXAUDIT_* as tests/ansible_test.sh saw them: ansible-test hands pytest a cleaned environment."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.environment.json')
    if os.path.exists(path):
        with open(path, encoding='utf-8') as handle:
            for key, value in json.load(handle).items():
                os.environ.setdefault(key, value)


_inherit_environment()

# Ports apart from the demo lab's (2525/5300) so both can run at once, and one pair per
# pytest-xdist worker (ansible-test units runs several).
_WORKER = int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)
TEST_SMTP_PORT = int(os.environ.get('MXAUDIT_TEST_SMTP_PORT', '2587')) + 10 * _WORKER
TEST_DNS_PORT = int(os.environ.get('MXAUDIT_TEST_DNS_PORT', '5387')) + 10 * _WORKER
HELO_NAME = 'audit.lab.test'
_POSTFIX_BEFORE = pytest.StashKey[t.Tuple[bool, bool]]()  # (lab running, lab directory present)
_EXIM_BEFORE = pytest.StashKey[bool]()  # the Exim lab ran before the session


@dataclass
class RunningLab:
    spec: Lab
    runner: LabRunner
    dns: LabDNSServer
    servers: dict[str, LabSMTPServer]
    port: int

    def address(self, behaviour: str) -> str:
        return self.spec.server(behaviour).address

    def domain(self, behaviour: str) -> str:
        return self.spec.server(behaviour).domain

    def resolver_options(self) -> dict[str, t.Any]:
        return {'nameservers': ['127.0.0.1'], 'port': self.dns.port, 'timeout': 1.0}

    def module_args(self, **extra: t.Any) -> dict[str, t.Any]:
        # The lab's MX hosts are on 127.0.0.0/8, which an audit of DNS-found addresses skips unless allowed.
        args = {'port': self.port, 'helo_name': HELO_NAME, 'timeout': 2.0, 'resolver': self.resolver_options(),
                'allow_private_addresses': True}
        args.update(extra)
        return args


@pytest.fixture(scope='session')
def lab() -> t.Iterator[RunningLab]:
    spec = default_lab(port=TEST_SMTP_PORT, dns_port=TEST_DNS_PORT, slow_delay=1.5)
    runner = LabRunner()
    try:
        dns = runner.start_dns(spec.records, '127.0.0.1', TEST_DNS_PORT, servfail=spec.servfail, drop=spec.drop)
        servers: dict[str, LabSMTPServer] = {}
        for server in spec.servers:
            started = runner.start_smtp(server.behaviour, server.address, TEST_SMTP_PORT, name=server.name,
                                        options=server.options)
            servers.setdefault(server.behaviour, started)  # the first server of a behaviour is the one tests name
        yield RunningLab(spec, runner, dns, servers, TEST_SMTP_PORT)
    finally:
        runner.stop()


@pytest.fixture(scope='session')
def postfix() -> t.Iterator[t.Any]:
    """The lab's real Postfix instances on 127.0.2.x (root and the postfix package needed).

    A private Postfix instance (tests/lab/postfix.py): the system's Postfix and /etc/postfix are
    left alone.  Skipped where Postfix cannot run, except with CI=true: there a missing Postfix fails.
    Left running for the other tests (ansible-test runs every test in a fork of its own); the
    session stops it again (pytest_sessionfinish below) unless it was running before.
    """
    from ansible_collections.mxaudit.smtp.tests.lab import postfix as lab_postfix

    lab = lab_postfix.PostfixLab()
    if not lab.available():
        message = 'Postfix lab unavailable: needs the postfix package and root'
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(message + ' (CI=true: .ci/run must install Postfix)')
        pytest.skip(message)
    lab.ensure_running(timeout=60)
    yield lab


@pytest.fixture(scope='session')
def exim() -> t.Iterator[t.Any]:
    """The lab's real Exim on 127.0.3.1 (tests/lab/exim.py): Debian's binary, unpacked by .ci/run, run as root.

    Its own configuration, spool and log under the lab directory; nothing is installed. Skipped where
    Exim cannot run, except with CI=true: there a missing Exim fails. Left running for the other tests,
    like the Postfix lab; the session stops it again unless it was running before.
    """
    from ansible_collections.mxaudit.smtp.tests.lab import exim as lab_exim

    lab = lab_exim.EximLab()
    problem = lab.unavailable()
    if problem is not None:
        message = 'Exim lab unavailable: %s' % problem
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(message + ' (CI=true: .ci/run must unpack Exim)')
        pytest.skip(message)
    lab.ensure_running(timeout=30)
    yield lab


def _exim_lab_controller(config: pytest.Config) -> t.Any:
    """The Exim lab as seen by the process that runs the whole session (not an xdist worker)."""
    if hasattr(config, 'workerinput'):
        return None
    from ansible_collections.mxaudit.smtp.tests.lab import exim as lab_exim

    lab = lab_exim.EximLab()
    return lab if lab.available() else None


def _postfix_lab_controller(config: pytest.Config) -> t.Any:
    """The Postfix lab as seen by the process that runs the whole session (not an xdist worker)."""
    if hasattr(config, 'workerinput'):
        return None
    from ansible_collections.mxaudit.smtp.tests.lab import postfix as lab_postfix

    lab = lab_postfix.PostfixLab()
    return lab if lab.available() else None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note whether the Postfix lab runs before any test (then it is left running afterwards)."""
    lab = _postfix_lab_controller(session.config)
    if lab is not None:
        session.config.stash[_POSTFIX_BEFORE] = (lab.running(), os.path.isdir(lab.root))
    exim = _exim_lab_controller(session.config)
    if exim is not None:
        session.config.stash[_EXIM_BEFORE] = exim.running()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop and remove the Postfix and Exim labs when this session started them (the system's Postfix is not touched)."""
    exim = _exim_lab_controller(session.config)
    if exim is not None and session.config.stash.get(_EXIM_BEFORE, True) is False and exim.running():
        exim.remove()
    lab = _postfix_lab_controller(session.config)
    before = session.config.stash.get(_POSTFIX_BEFORE, None)
    if lab is None or before is None or before[0]:
        return
    if lab.running() or (not before[1] and os.path.isdir(lab.root)):
        lab.remove()
