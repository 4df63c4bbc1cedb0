# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Exim for the mxaudit.smtp lab: Debian's exim4-daemon-light, unpacked and never installed.

Exim and Postfix are both "the system's MTA" to dpkg, so Exim cannot be installed beside the lab's
Postfix. ``.ci/run`` fetches the package (and the libraries it needs that the system lacks) with
``apt-get download`` and unpacks them with ``dpkg -x`` into ``/var/lib/mxaudit-lab/exim/root``
(``MXAUDIT_EXIM_LAB_DIR`` names another directory than ``/var/lib/mxaudit-lab/exim``); it also
creates the system user ``Debian-exim``, which Debian's binary looks up before it reads any
configuration. The daemon runs from the unpacked tree, with LD_LIBRARY_PATH pointing into it, with
its own configuration file (``-C``), spool, log and pid file under ``lab/`` beside it.

One instance, ``exim_default``, on 127.0.3.1 and the lab port (2525, or ``MXAUDIT_EXIM_LAB_PORT``):
Exim's own defaults where they matter to the auditor - ``smtp_max_synprot_errors`` is 3, so the
fourth syntax error (an address with a second "@", an address literal: domain literals are off)
ends the session - and the access rules of Exim's default configuration (``src/configure.default``)
for its one domain, ``exim-default.lab.test``: postmaster accepted, "restricted characters" (``%``,
``!``, ``@`` in a local part) refused, relaying for nobody (``relay_from_hosts`` is empty, so
127.0.0.1, the auditor, is an outsider), recipients verified. Unlike the default configuration it
does not verify senders (that would need DNS).

Safety: it listens on 127.0.3.1 only; it delivers nothing (the one router takes the lab mailboxes
and redirects them to ``:blackhole:``, there are no transports, and the predata ACL refuses DATA);
it asks no DNS (no dnslookup router, ``host_lookup``, ``rfc1413_hosts`` and ``helo_lookup_domains``
empty, no sender verification, ``primary_hostname`` set).

Run as ``python tests/lab/exim.py up|down|status`` (root). ``down`` stops the daemon and removes
``lab/``; the unpacked package stays.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib

DEFAULT_PORT = 2525
# name -> (address, domain): the lab reserves these (see tests/lab/scenario.py).
INSTANCES = {
    'exim_default': ('127.0.3.1', 'exim-default.lab.test'),
}
LAB_USERS = ('postmaster', 'abuse', 'hostmaster', 'webmaster', 'alice', 'bob')

DEFAULT_DIR = '/var/lib/mxaudit-lab/exim'
DIR_ENV = 'MXAUDIT_EXIM_LAB_DIR'
PORT_ENV = 'MXAUDIT_EXIM_LAB_PORT'
# Debian's binary has this user compiled in and exits at once when it does not exist.
EXIM_USER = 'Debian-exim'
BINARY = os.path.join('usr', 'sbin', 'exim4')
# Written by configure(); remove() deletes a lab directory only when it holds this file.
MARKER = '.mxaudit-lab-exim'
HEADER = '# Written by tests/lab/exim.py for the mxaudit.smtp lab (replaced when it differs); do not edit.\n'

# The configuration; {placeholders} are filled in by EximLab.config_text().
CONFIG = r'''
primary_hostname = {hostname}
qualify_domain = {domain}
domainlist local_domains = {domain}
domainlist relay_to_domains =
hostlist relay_from_hosts =
local_interfaces = {address}
daemon_smtp_ports = {port}
exim_path = {binary}
spool_directory = {spool}
log_file_path = {log}/%slog
keep_environment = LD_LIBRARY_PATH
never_users = root
# No DNS and no other look-ups off the machine.
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
helo_lookup_domains =
# No STARTTLS (the lab has no certificate), no queue runner, no deliveries.
tls_advertise_hosts =
queue_only = true
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_predata = acl_check_predata

begin acl

acl_check_rcpt:
  accept  hosts = :
  deny    message = Restricted characters in address
          domains = +local_domains
          local_parts = ^[.] : ^.*[@%!/|]
  deny    message = Restricted characters in address
          domains = !+local_domains
          local_parts = ^[./|] : ^.*[@%!] : ^.*/\\.\\./
  accept  local_parts = postmaster
          domains = +local_domains
  require message = relay not permitted
          domains = +local_domains : +relay_to_domains
  require verify = recipient
  accept

acl_check_predata:
  deny    message = this lab never takes a message

begin routers

lab_mailboxes:
  driver = redirect
  domains = +local_domains
  local_parts = {users}
  data = :blackhole:

begin transports
'''


class EximError(RuntimeError):
    """An Exim command failed or the daemon did not become ready."""


class EximLab:
    """Configure, start and stop the lab's Exim daemon (one listener per instance address)."""

    def __init__(self, port=None, directory=None):
        self.port = int(port or os.environ.get(PORT_ENV) or DEFAULT_PORT)
        self.directory = os.path.abspath(directory or os.environ.get(DIR_ENV) or DEFAULT_DIR)
        self.package_root = os.path.join(self.directory, 'root')
        self.lab_dir = os.path.join(self.directory, 'lab')
        self.config_path = os.path.join(self.lab_dir, 'exim.conf')
        self.spool_dir = os.path.join(self.lab_dir, 'spool')
        self.log_dir = os.path.join(self.lab_dir, 'log')
        self.pid_path = os.path.join(self.lab_dir, 'exim.pid')
        self.instances = dict(INSTANCES)
        self.lock_path = os.path.join(tempfile.gettempdir(), 'mxaudit-lab-exim-%08x.lock' % zlib.crc32(self.directory.encode()))

    # -- discovery -----------------------------------------------------------------

    @property
    def binary(self):
        return os.path.join(self.package_root, BINARY)

    def unavailable(self):
        """Why the daemon cannot run here (None when it can)."""
        if os.geteuid() != 0:
            return 'the Exim lab needs root'
        if not os.access(self.binary, os.X_OK):
            return ('no Exim unpacked at %s (.ci/run fetches exim4-daemon-light with apt-get download and unpacks it '
                    'with dpkg -x into %s)' % (self.binary, self.package_root))
        try:
            pwd.getpwnam(EXIM_USER)
        except KeyError:
            return 'the system user %s is missing (.ci/run creates it; Debian\'s Exim binary needs it)' % EXIM_USER
        return None

    def available(self):
        return self.unavailable() is None

    def hostname(self, name):
        return 'mx.' + self.instances[name][1]

    def address(self, name):
        """(address, port) of instance ``name``."""
        return self.instances[name][0], self.port

    def library_path(self):
        """The unpacked library directories, for LD_LIBRARY_PATH (libraries the system lacks live there)."""
        patterns = ('lib/*-linux-gnu', 'usr/lib/*-linux-gnu', 'usr/lib')
        found = [path for pattern in patterns for path in sorted(glob.glob(os.path.join(self.package_root, pattern)))]
        return ':'.join(path for path in found if os.path.isdir(path))

    def _env(self):
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LD_LIBRARY_PATH': self.library_path()}
        return env

    # -- configuration ---------------------------------------------------------------

    def config_text(self):
        """The whole configuration file (one instance: the lab has one Exim)."""
        (name, (address, domain)), = self.instances.items()
        return HEADER + CONFIG.format(hostname=self.hostname(name), domain=domain, address=address, port=self.port,
                                      binary=self.binary, spool=self.spool_dir, log=self.log_dir,
                                      users=' : '.join(LAB_USERS))

    @staticmethod
    def _write_if_changed(path, text, mode=0o644):
        try:
            with open(path, encoding='utf-8') as handle:
                if handle.read() == text:
                    return False
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        tmp = path + '.tmp-mxaudit'
        with open(tmp, 'w', encoding='utf-8') as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        return True

    def configure(self):
        """Write lab/ (configuration, spool and log directories); True when the configuration changed."""
        user = pwd.getpwnam(EXIM_USER)
        for path in (self.directory, self.lab_dir):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o755)
        for path in (self.spool_dir, self.log_dir):
            os.makedirs(path, exist_ok=True)
            os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(path, 0o750)
        self._write_if_changed(os.path.join(self.lab_dir, MARKER),
                               'mxaudit.smtp Exim lab (tests/lab/exim.py); python tests/lab/exim.py down removes this directory\n')
        # Exim refuses a configuration file that others may write; root owns this one, mode 0644.
        return self._write_if_changed(self.config_path, self.config_text())

    def check_config(self):
        """Exim's own syntax check of the configuration (exim -bV); raises EximError with its output."""
        proc = subprocess.run([self.binary, '-C', self.config_path, '-bV'], env=self._env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise EximError('exim -bV failed (exit %d): %s' % (proc.returncode, proc.stdout))
        return proc.stdout

    @contextlib.contextmanager
    def lock(self):
        """Serialise configure/start/stop across processes (ansible-test runs each test in a fork)."""
        with open(self.lock_path, 'a+', encoding='utf-8') as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- process control -----------------------------------------------------------

    def pid(self):
        """The daemon's pid when it runs (from its pid file, checked against /proc), else None."""
        try:
            with open(self.pid_path, encoding='ascii') as handle:
                pid = int(handle.read().strip())
            with open('/proc/%d/cmdline' % pid, 'rb') as handle:
                cmdline = handle.read().split(b'\0')
        except (OSError, ValueError):
            return None
        return pid if self.config_path.encode() in cmdline else None

    def running(self):
        return self.pid() is not None

    def start(self):
        """Start the daemon (it forks into the background and writes its pid file)."""
        self.check_config()
        proc = subprocess.run([self.binary, '-C', self.config_path, '-bd', '-oX', str(self.port), '-oP', self.pid_path],
                              env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, check=False)
        if proc.returncode != 0:
            raise EximError('exim -bd failed (exit %d): %s%s' % (proc.returncode, proc.stdout, self._log_tail()))

    def stop(self, timeout=15.0):
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.running() and os.path.exists('/proc/%d' % pid):
            if time.monotonic() > deadline:
                raise EximError('exim (pid %d) did not stop within %.0fs' % (pid, timeout))
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            os.unlink(self.pid_path)
        for address, _domain in self.instances.values():
            while time.monotonic() < deadline and self.greeting(address, timeout=0.2) is not None:
                time.sleep(0.1)

    def ensure_running(self, timeout=30.0):
        """Configure, and (re)start only when needed; safe to call from many processes. True when it started Exim."""
        with self.lock():
            changed = self.configure()
            started = False
            if changed and self.running():
                self.stop()
            if not self.running():
                self.start()
                started = True
            self.wait_ready(timeout)
            return started

    def remove(self):
        """Stop the daemon and delete lab/ (only one that configure() made); the unpacked package stays."""
        with self.lock():
            self.stop()
            if not os.path.isdir(self.lab_dir):
                return False
            if not os.path.exists(os.path.join(self.lab_dir, MARKER)):
                raise EximError('%s is not a lab directory (no %s); not removed' % (self.lab_dir, MARKER))
            shutil.rmtree(self.lab_dir)
            return True

    def _log_tail(self, lines=20):
        out = []
        for name in ('mainlog', 'paniclog', 'rejectlog'):
            path = os.path.join(self.log_dir, name)
            with contextlib.suppress(OSError):
                with open(path, encoding='utf-8', errors='replace') as log:
                    out.append('\n--- %s (tail) ---\n%s' % (path, ''.join(log.readlines()[-lines:])))
        return ''.join(out)

    # -- readiness -------------------------------------------------------------------

    def greeting(self, address, timeout=2.0):
        """Connect to address:port, return the last greeting line (or None), then QUIT."""
        try:
            with socket.create_connection((address, self.port), timeout=timeout) as sock:
                data = b''
                while not any(line[3:4] == b' ' for line in data.split(b'\r\n')):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                with contextlib.suppress(OSError):
                    sock.sendall(b'QUIT\r\n')
                    sock.recv(4096)
        except OSError:
            return None
        lines = [line for line in data.decode('ascii', 'replace').split('\r\n') if line]
        return lines[-1] if lines else None

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        pending = dict(self.instances)
        while pending:
            for name, (address, _domain) in list(pending.items()):
                line = self.greeting(address, timeout=1.0)
                if line is not None and line.startswith('220'):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise EximError('not ready after %.0fs: %s%s' % (timeout, ', '.join(sorted(pending)), self._log_tail()))
            time.sleep(0.2)

    def status(self):
        return {name: self.greeting(address, timeout=1.0) for name, (address, _domain) in self.instances.items()}


def main(argv=None):
    """``up`` (configure, start, wait), ``down`` (stop, remove lab/), ``status``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ('up', 'down', 'status'):
        print('usage: exim.py up|down|status', file=sys.stderr)
        return 2
    lab = EximLab()
    problem = lab.unavailable()
    if problem is not None:
        print('exim lab unavailable: %s' % problem, file=sys.stderr)
        return 1
    try:
        if argv[0] == 'up':
            lab.ensure_running()
        elif argv[0] == 'down':
            lab.remove()
    except (EximError, OSError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    print('exim lab: %s; configuration %s; log %s' % ('running' if lab.running() else 'stopped', lab.config_path, lab.log_dir))
    for name, line in lab.status().items():
        address, domain = lab.instances[name]
        print('%-28s %s:%d %-38s %s' % (name, address, lab.port, domain, line or '-'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
