# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A DNSSEC lab for the dane check: a signed zone on NSD, a validating Unbound with the lab trust anchor.

Everything runs on loopback, from a private temporary directory, as
foreground processes this module starts and stops (never the system
services the packages install):

- ``dane.lab.test.`` signed at start with ldns-keygen / ldns-signzone
  (ECDSA P-256); its KSK is Unbound's trust anchor. One RRSIG (over the
  TLSA RRset of ``mx.bogus``) is corrupted after signing: a bogus answer.
- ``unsigned.dane.lab.test.`` delegated from it without DS: insecure.
- NSD serves both zones; Unbound validates, with a stub zone pointing at
  NSD, and answers with AD, SERVFAIL for bogus data and Extended DNS Errors.

Querying NSD directly is a resolver that does not validate (it never sets AD).

``DNSSECLab(zones)`` takes the records of each zone (owner names relative
to the zone apex, ``@`` the apex) and the names whose signatures to break.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
import typing as t

BINARIES = ('nsd', 'unbound', 'ldns-keygen', 'ldns-signzone')
SBIN = ('/usr/sbin', '/usr/local/sbin', '/sbin')
SIGNED_ZONE = 'dane.lab.test.'
UNSIGNED_ZONE = 'unsigned.dane.lab.test.'
_PREFIX = 'mxaudit-dnssec-'
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGTERM to the server when the test process ends: ansible-test runs each test in a fork that ends with os._exit."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _sweep_dead() -> None:
    """The directories of lab processes that are gone (a forked test process skips atexit)."""
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        if not entry.startswith(_PREFIX):
            continue
        try:
            pid = int(entry[len(_PREFIX):].split('-', 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        except (ValueError, PermissionError):
            continue


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return None


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if find_binary(name) is None]


def _zone_text(apex: str, records: t.Sequence[tuple[str, str, str]], port_ns: str) -> str:
    lines = ['$ORIGIN %s' % apex, '$TTL 60',
             '@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60' % (SIGNED_ZONE, SIGNED_ZONE),
             '@ IN NS ns.%s' % SIGNED_ZONE]
    if apex == SIGNED_ZONE:
        lines.append('ns IN A %s' % port_ns)
    for owner, rdtype, rdata in records:
        lines.append('%s IN %s %s' % (owner, rdtype, rdata))
    return '\n'.join(lines) + '\n'


def _break_signature(signed: str, owner: str, covered: str) -> str:
    """The signed zone text with the RRSIG over ``owner covered`` corrupted (the last base64 characters changed)."""
    out = []
    broken = False
    for line in signed.splitlines():
        fields = line.split()
        if (not broken and len(fields) > 5 and fields[0].lower() == owner.lower() and 'RRSIG' in fields
                and fields[fields.index('RRSIG') + 1] == covered):
            signature = fields[-1]
            flipped = ('A' if signature[-5] != 'A' else 'B')
            fields[-1] = signature[:-5] + flipped + signature[-4:]
            line = '\t'.join(fields)
            broken = True
        out.append(line)
    if not broken:
        raise RuntimeError('no RRSIG %s over %s to break' % (owner, covered))
    return '\n'.join(out) + '\n'


class DNSSECLab:
    """The signed and unsigned lab zones on NSD, and Unbound validating them; ``start()`` / ``stop()``."""

    def __init__(self, signed: t.Sequence[tuple[str, str, str]], unsigned: t.Sequence[tuple[str, str, str]], *,
                 nsd_port: int, unbound_port: int, bogus: t.Sequence[tuple[str, str]] = ()) -> None:
        self.signed = list(signed)
        self.unsigned = list(unsigned)
        self.bogus = list(bogus)
        self.nsd_port = nsd_port
        self.unbound_port = unbound_port
        self.host = '127.0.0.1'
        self.directory = ''
        self._processes: list[subprocess.Popen] = []

    # ------------------------------------------------------------ zones
    def _run(self, *command: str) -> str:
        done = subprocess.run(command, cwd=self.directory, check=False, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError('%s failed (%d): %s' % (' '.join(command), done.returncode, done.stderr.strip()))
        return done.stdout.strip()

    def _sign(self) -> str:
        keygen, signzone = find_binary('ldns-keygen'), find_binary('ldns-signzone')
        assert keygen and signzone
        zsk = self._run(keygen, '-a', 'ECDSAP256SHA256', SIGNED_ZONE)
        ksk = self._run(keygen, '-a', 'ECDSAP256SHA256', '-k', SIGNED_ZONE)
        delegation = [('unsigned', 'NS', 'ns.%s' % SIGNED_ZONE)]
        with open(os.path.join(self.directory, 'signed.zone'), 'w', encoding='utf-8') as handle:
            handle.write(_zone_text(SIGNED_ZONE, self.signed + delegation, self.host))
        self._run(signzone, '-o', SIGNED_ZONE, 'signed.zone', zsk, ksk)
        path = os.path.join(self.directory, 'signed.zone.signed')
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        for owner, covered in self.bogus:
            text = _break_signature(text, owner, covered)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write(text)
        with open(os.path.join(self.directory, 'unsigned.zone'), 'w', encoding='utf-8') as handle:
            handle.write(_zone_text(UNSIGNED_ZONE, self.unsigned, self.host))
        return os.path.join(self.directory, ksk + '.key')

    # ------------------------------------------------------------ servers
    def _nsd_conf(self) -> str:
        d = self.directory
        return '\n'.join([
            'server:',
            '  ip-address: %s' % self.host,
            '  port: %d' % self.nsd_port,
            '  do-ip6: no',
            '  username: ""',
            '  chroot: ""',
            '  zonesdir: "%s"' % d,
            '  database: ""',
            '  zonelistfile: "%s/zone.list"' % d,
            '  xfrdfile: "%s/xfrd.state"' % d,
            '  xfrdir: "%s"' % d,
            '  pidfile: "%s/nsd.pid"' % d,
            '  logfile: "%s/nsd.log"' % d,
            '  server-count: 1',
            '  verbosity: 1',
            'remote-control:',
            '  control-enable: no',
            'zone:',
            '  name: "%s"' % SIGNED_ZONE,
            '  zonefile: "%s/signed.zone.signed"' % d,
            'zone:',
            '  name: "%s"' % UNSIGNED_ZONE,
            '  zonefile: "%s/unsigned.zone"' % d,
        ]) + '\n'

    def _unbound_conf(self, anchor: str) -> str:
        d = self.directory
        return '\n'.join([
            'server:',
            '  interface: %s' % self.host,
            '  port: %d' % self.unbound_port,
            '  do-ip6: no',
            '  do-daemonize: no',
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % d,
            '  pidfile: "%s/unbound.pid"' % d,
            '  use-syslog: no',
            '  logfile: "%s/unbound.log"' % d,
            '  verbosity: 1',
            '  val-log-level: 2',
            '  access-control: 127.0.0.0/8 allow',
            '  do-not-query-localhost: no',
            '  module-config: "validator iterator"',
            '  trust-anchor-file: "%s"' % anchor,
            '  ede: yes',
            '  local-zone: "test." nodefault',  # a default local zone (RFC 6761) that would hide the lab
            '  qname-minimisation: no',
            '  num-threads: 1',
            '  so-reuseport: no',
            'remote-control:',
            '  control-enable: no',
            'stub-zone:',
            '  name: "%s"' % SIGNED_ZONE,
            '  stub-addr: %s@%d' % (self.host, self.nsd_port),
        ]) + '\n'

    def _spawn(self, name: str, *command: str) -> None:
        log = open(os.path.join(self.directory, name + '.out'), 'wb')  # pylint: disable=consider-using-with
        self._processes.append(subprocess.Popen(command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL,
                                                preexec_fn=_die_with_parent))  # pylint: disable=subprocess-popen-preexec-fn
        log.close()

    def _start_server(self, name: str, port: int, *command: str) -> None:
        """Start and wait for an answer; tried again while the port is still held by the lab of a test that just ended."""
        until = time.monotonic() + 10
        while True:
            self._spawn(name, *command)
            try:
                self._wait_ready(port, SIGNED_ZONE, 'SOA', name)
                return
            except RuntimeError:
                process = self._processes.pop()
                if process.poll() is None or time.monotonic() > until:
                    self._processes.append(process)
                    raise
                time.sleep(0.3)

    def _wait_ready(self, port: int, question: str, rdtype: str, name: str) -> None:
        import dns.message  # pylint: disable=import-outside-toplevel
        import dns.query  # pylint: disable=import-outside-toplevel
        until = time.monotonic() + 15
        last: t.Any = None
        while time.monotonic() < until:
            for process in self._processes[-1:]:
                if process.poll() is not None:
                    raise RuntimeError('%s exited (%s): %s' % (name, process.returncode, self.logs()))
            try:
                response = dns.query.udp(dns.message.make_query(question, rdtype), self.host, timeout=0.5, port=port)
                if response.answer:
                    return
                last = response
            except Exception as exc:  # pylint: disable=broad-except  # not up yet
                last = exc
            time.sleep(0.1)
        raise RuntimeError('%s did not answer %s %s on port %d: %s; %s' % (name, question, rdtype, port, last, self.logs()))

    def logs(self) -> str:
        texts = []
        for name in ('nsd.out', 'nsd.log', 'unbound.out', 'unbound.log'):
            path = os.path.join(self.directory, name)
            if os.path.exists(path):
                with open(path, encoding='utf-8', errors='replace') as handle:
                    texts.append('%s: %s' % (name, handle.read()[-2000:]))
        return ' | '.join(texts)

    def start(self) -> DNSSECLab:
        _sweep_dead()
        self.directory = tempfile.mkdtemp(prefix='%s%d-' % (_PREFIX, os.getpid()))
        atexit.register(self.stop)
        os.chmod(self.directory, 0o755)
        try:
            anchor = self._sign()
            for name, text in (('nsd.conf', self._nsd_conf()), ('unbound.conf', self._unbound_conf(anchor))):
                with open(os.path.join(self.directory, name), 'w', encoding='utf-8') as handle:
                    handle.write(text)
            nsd, unbound = find_binary('nsd'), find_binary('unbound')
            assert nsd and unbound
            self._start_server('nsd', self.nsd_port, nsd, '-d', '-c', os.path.join(self.directory, 'nsd.conf'))
            self._start_server('unbound', self.unbound_port, unbound, '-d', '-c', os.path.join(self.directory, 'unbound.conf'))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._processes = []
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = ''

    def __enter__(self) -> DNSSECLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
