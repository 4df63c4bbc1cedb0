# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures of the report tests: the lab, a real audit rendered by the report role, and headless Chromium.

Run from the collection root: ``python -m pytest tests/report``. The lab listens on loopback only
(ports MXAUDIT_REPORT_SMTP_PORT / MXAUDIT_REPORT_DNS_PORT, default 2787 / 5587, apart from the
unit tests' and the demo's), and Chromium runs in a network namespace of its own (``unshare -n``):
nothing leaves the machine. Without Chromium the browser tests are skipped, except with CI=true,
where a missing Chromium fails them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SMTP_PORT = int(os.environ.get('MXAUDIT_REPORT_SMTP_PORT', '2787'))
DNS_PORT = int(os.environ.get('MXAUDIT_REPORT_DNS_PORT', '5587'))
GENERATED = '2025-06-01T02:00:00Z'
IN_CI = os.environ.get('CI', '').lower() == 'true'


def _bin(name: str) -> str:
    """A tool of the Python running the tests (its venv), else from PATH."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


@pytest.fixture(scope='session')
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory with ansible_collections/mxaudit/smtp pointing at this work tree."""
    if ROOT.parent.name == 'mxaudit' and ROOT.parent.parent.name == 'ansible_collections':
        return str(ROOT.parents[2])
    base = tmp_path_factory.mktemp('collections')
    (base / 'ansible_collections' / 'mxaudit').mkdir(parents=True)
    (base / 'ansible_collections' / 'mxaudit' / 'smtp').symlink_to(ROOT)
    return str(base)


@pytest.fixture(scope='session')
def lab_domains() -> list[str]:
    sys.path.insert(0, str(ROOT / 'tests'))
    try:
        from lab.scenario import default_lab  # pylint: disable=import-outside-toplevel
    finally:
        sys.path.remove(str(ROOT / 'tests'))
    return default_lab().domains(include_postfix=False)


@pytest.fixture(scope='session')
def lab(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[str, t.Any]]:
    """The lab's DNS and SMTP servers, in a process of their own."""
    workdir = tmp_path_factory.mktemp('lab')
    state = workdir / 'lab.json'
    log = (workdir / 'lab.log').open('w')
    process = subprocess.Popen([sys.executable, '-m', 'lab', 'serve', '--state', str(state), '--port', str(SMTP_PORT),
                                '--dns-port', str(DNS_PORT)], cwd=ROOT / 'tests', stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not state.exists() or not state.stat().st_size:
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail('the lab did not start: %s' % (workdir / 'lab.log').read_text())
            time.sleep(0.1)
        yield json.loads(state.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_playbook(collections: str, playbook: str, extra_vars: dict[str, t.Any], workdir: Path,
                 inventory: str | None = None) -> None:
    vars_file = workdir / ('%s-vars.json' % Path(playbook).stem)
    vars_file.write_text(json.dumps(extra_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_LOCALHOST_WARNING='false',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_NOCOLOR='true', ANSIBLE_RETRY_FILES_ENABLED='false',
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    command = [_bin('ansible-playbook'), str(HERE / playbook), '-e', '@%s' % vars_file]
    if inventory:
        command += ['-i', str(HERE / inventory)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    (workdir / ('%s.log' % Path(playbook).stem)).write_text(done.stdout + done.stderr)
    if done.returncode:
        pytest.fail('ansible-playbook %s failed (%d):\n%s\n%s'
                    % (playbook, done.returncode, done.stdout[-6000:], done.stderr[-3000:]))


@dataclass
class Rendered:
    merged: Path        # the reports of the merged result of two vantage points
    single: Path        # one vantage point's result as the audit module returned it
    workdir: Path
    collections: str

    @property
    def result(self) -> dict[str, t.Any]:
        return json.loads((self.merged / 'mxaudit-report.json').read_text())

    def render_file(self, result: dict[str, t.Any], name: str) -> Path:
        """Render a (changed) result saved as JSON with the role; the reports' directory."""
        source = self.workdir / ('%s.json' % name)
        source.write_text(json.dumps(result))
        out = self.workdir / name
        run_playbook(self.collections, 'render_file.yml', {'report_result_file': str(source), 'report_dir': str(out)},
                     self.workdir)
        return out


@pytest.fixture(scope='session')
def rendered(lab: dict[str, t.Any], lab_domains: list[str], collections_path: str,
             tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """A real audit of the lab from two vantage points, rendered by the report role."""
    workdir = tmp_path_factory.mktemp('report')
    run_playbook(collections_path, 'render.yml', {
        'report_domains': lab_domains, 'report_smtp_port': lab['smtp_port'], 'report_dns_port': lab['dns']['port'],
        'report_tls_ca_file': lab['tls_ca_file'], 'report_dir': str(workdir), 'report_generated': GENERATED},
        workdir, inventory='inventory.yml')
    return Rendered(workdir / 'merged', workdir / 'single', workdir, collections_path)


class Chromium:
    """Headless Chromium without a network: ``unshare -n`` gives it a namespace with only a loopback that is down."""

    def __init__(self, binary: str, profile_root: Path) -> None:
        self.binary = binary
        self.profile_root = profile_root
        self.runs = 0

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        profile = self.profile_root / ('profile-%d' % self.runs)
        unshare = ['unshare', '-n'] if os.geteuid() == 0 else ['unshare', '-r', '-n']
        command = unshare + [
            self.binary, '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-extensions',
            '--hide-scrollbars', '--user-data-dir=%s' % profile] + list(args)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode:
            pytest.fail('chromium failed (%d): %s\n%s' % (done.returncode, ' '.join(command), done.stderr[-3000:]))
        return done

    def dump_dom(self, page: Path) -> str:
        return self.run('--dump-dom', page.as_uri()).stdout

    def screenshot(self, page: Path, target: Path, width: int, height: int) -> Path:
        self.run('--screenshot=%s' % target, '--window-size=%d,%d' % (width, height), '--force-device-scale-factor=1',
                 page.as_uri())
        return target

    def print_to_pdf(self, page: Path, target: Path) -> Path:
        self.run('--print-to-pdf=%s' % target, '--no-pdf-header-footer', page.as_uri())
        return target


@pytest.fixture(scope='session')
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    binary = next((found for found in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if found), None)
    problem = None
    if binary is None:
        problem = 'headless Chromium is not installed (Debian: apt-get install chromium)'
    elif shutil.which('unshare') is None:
        problem = 'unshare (util-linux) is needed to keep Chromium off the network'
    if problem:
        if IN_CI:
            pytest.fail(problem + '; CI=true, so this is a failure, not a skip')
        pytest.skip(problem)
    return Chromium(binary, Path(tempfile.mkdtemp(prefix='mxaudit-chromium-', dir=tmp_path_factory.getbasetemp())))
