# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real Postfix instances for the mxaudit.smtp lab, one smtpd per loopback address.

The lab runs its own Postfix instance, the distribution's package started with a private
configuration directory (``postfix -c <root>/config start``), and its own queue
directory, data directory and log file, all under one lab directory
(``/var/lib/mxaudit-lab/postfix`` unless ``MXAUDIT_POSTFIX_LAB_DIR`` names another).
The system's Postfix is left alone: /etc/postfix is never written, and the system
instance is neither started nor stopped, whether it runs or not.  As root, ``postfix -c``
needs no ``alternate_config_directories`` entry in the default main.cf (only set-gid
commands such as sendmail and postdrop would, and the lab never runs them).

The instance runs seven smtpd services, each on its own 127.0.2.x address and the lab
port (2525, or ``MXAUDIT_POSTFIX_LAB_PORT``), each with a named behaviour.  They share main.cf (users, transports,
safety settings) and differ only through ``-o`` overrides on their master.cf entries:

- ``mydestination`` is not a per-smtpd setting: the address class (local, relay,
  foreign) of a recipient is decided by the trivial-rewrite daemon, which reads
  main.cf.  So every instance gets its own trivial-rewrite service (``rw-<name>``)
  with ``-o mydestination=<its domain> -o myorigin=<its domain>``, and its smtpd
  is pointed at it with ``-o rewrite_service_name=rw-<name>``.  Each instance thus
  serves exactly its own domain (plus the shared ``lab.test``/localhost names);
  a bare ``RCPT TO:<postmaster>`` becomes ``postmaster@<its domain>``.
- Nothing is ever delivered: every transport is ``discard:``, the probes never
  complete DATA anyway, and there is no port-25 ``smtp`` listener.
- Nothing ever leaves 127.0.0.0/8: no reverse lookups of clients
  (``smtpd_peername_lookup = no``), no DNS-based restrictions, no DNS in the SMTP
  or LMTP clients, no relayhost.
- One instance offers STARTTLS (``postfix_tls``): its certificate names its MX host and is issued
  by a CA of the lab directory's own (config/tls/ca.pem, made by tests/lab/tls.py when missing or
  when the certificate has less than 30 days left; the CA's key is never kept).  The test process's
  ``lab_ca()`` cannot sign it: that CA is made anew in every process, and this instance outlives them.
  Tests pass ``PostfixLab.tls_ca_file`` as ``tls_ca_file``.
- main.cf and master.cf are written whole (nothing is inherited from /etc/postfix),
  and no service is chrooted: the private queue directory has no copies of
  /etc/services, /etc/resolv.conf and the like, which a chroot would need.

Run as ``python tests/lab/postfix.py up|down|status|restore`` (or ``python -m lab.postfix``
from ``tests/``).  Needs root.  ``down`` stops the lab instance and removes its
directory; ``restore`` does the same and also undoes what earlier versions of this
file did to /etc/postfix (they rewrote main.cf and master.cf and kept the originals as
``*.mxaudit-orig``): the originals are put back and the system Postfix is left
running or stopped as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib

DEFAULT_PORT = 2525

# name -> (address, domain): the lab reserves these (see tests/lab/scenario.py).
INSTANCES = {
    'postfix_compliant': ('127.0.2.1', 'postfix-compliant.lab.test'),
    'postfix_open_relay': ('127.0.2.2', 'postfix-open-relay.lab.test'),
    'postfix_no_postmaster': ('127.0.2.3', 'postfix-no-postmaster.lab.test'),
    'postfix_null_sender_refused': ('127.0.2.4', 'postfix-null-sender-refused.lab.test'),
    'postfix_accept_all': ('127.0.2.5', 'postfix-accept-all.lab.test'),
    'postfix_error_limits': ('127.0.2.6', 'postfix-error-limits.lab.test'),
    'postfix_tls': ('127.0.2.7', 'postfix-tls.lab.test'),
}
# Instances with a certificate of the lab directory's CA (config/tls/): its SAN is the MX host name.
TLS_INSTANCES = ('postfix_tls',)
# The protocols the TLS instance allows: 1.2 and newer (RFC 8996), opportunistic and mandatory alike.
TLS_PROTOCOLS = '!SSLv2,!SSLv3,!TLSv1,!TLSv1.1'

# Local users every instance knows (on top of the system accounts in /etc/passwd).
LAB_USERS = ('postmaster', 'abuse', 'hostmaster', 'webmaster', 'alice', 'bob')

# The lab's own directory: config/ (main.cf, master.cf, lookup tables), queue/, data/, maillog.
DEFAULT_ROOT = '/var/lib/mxaudit-lab/postfix'
ROOT_ENV = 'MXAUDIT_POSTFIX_LAB_DIR'
# Another port (and root) gives a second lab beside the shared one, e.g. for a work tree whose instances differ.
PORT_ENV = 'MXAUDIT_POSTFIX_LAB_PORT'
# Written by configure(); remove() deletes a lab directory only when it holds this file.
MARKER = '.mxaudit-lab-postfix'
# The system's Postfix configuration, which the lab only reads (and restore() repairs).
SYSTEM_CONFIG_DIR = '/etc/postfix'
SBIN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin'
HEADER = '# Written by tests/lab/postfix.py for the mxaudit.smtp lab (replaced when it differs); do not edit.\n'
BLOCK_BEGIN = '# BEGIN mxaudit-lab (generated by tests/lab/postfix.py; do not edit)'
BLOCK_END = '# END mxaudit-lab'

# What earlier versions of this file left in /etc/postfix (and /var/log): see restore_system_config().
LEGACY_BACKUP_SUFFIX = '.mxaudit-orig'
LEGACY_LAB_SUBDIR = 'mxaudit-lab'
LEGACY_MAILLOG = '/var/log/mxaudit-lab-postfix.log'

# main.cf of the lab instance, shared by all its smtpd services.  {root}, {queue}, {data},
# {maillog} and {lab} (the directory of the lookup tables) are filled in by PostfixLab.
MAIN_CF = (
    # A private instance: its own queue, data and log; the program directories are the package's.
    ('queue_directory', '{queue}'),
    ('data_directory', '{data}'),
    ('compatibility_level', '3.6'),
    ('myhostname', 'mta.lab.test'),
    ('mydomain', 'lab.test'),
    ('myorigin', 'lab.test'),
    ('mydestination', '$myhostname, lab.test, localhost'),
    # Only the master.cf entries below listen; they name their address explicitly.
    ('inet_interfaces', 'loopback-only'),
    ('inet_protocols', 'ipv4'),
    # 127.0.0.1 (the auditor) must not be trusted by default: only the open relay widens this.
    # 127.0.0.127 is an address nothing in the lab uses; an empty value would mean the same.
    ('mynetworks', '127.0.0.127/32'),
    ('smtpd_banner', '$myhostname ESMTP $mail_name (Debian/GNU)'),
    ('biff', 'no'),
    # Every accepted transaction takes an in-flow token that only the queue manager gives back, and no mail is
    # ever queued here: with the default 1 s the lab would slow to one accepted RCPT per second.
    ('in_flow_delay', '0s'),
    ('append_dot_mydomain', 'no'),
    ('readme_directory', 'no'),
    ('recipient_delimiter', '+'),
    ('mailbox_size_limit', '0'),
    # Users: system accounts plus the lab aliases (postmaster, abuse, ...).
    ('alias_maps', 'texthash:{lab}/aliases'),
    ('alias_database', ''),
    ('local_recipient_maps', 'proxy:unix:passwd.byname $alias_maps'),
    # Never deliver anything, never talk SMTP/LMTP/DNS to anything.
    ('relayhost', ''),
    ('default_transport', 'discard:'),
    ('relay_transport', 'discard:'),
    ('local_transport', 'discard:'),
    ('virtual_transport', 'discard:'),
    ('smtp_dns_support_level', 'disabled'),
    ('lmtp_dns_support_level', 'disabled'),
    ('smtpd_peername_lookup', 'no'),
    # Plain, DNS-free restrictions; instances override what makes them special.
    ('smtpd_helo_required', 'no'),
    ('smtpd_client_restrictions', ''),
    ('smtpd_helo_restrictions', ''),
    ('smtpd_sender_restrictions', ''),
    ('smtpd_relay_restrictions', 'permit_mynetworks, reject_unauth_destination'),
    ('smtpd_recipient_restrictions', ''),
    ('smtpd_data_restrictions', ''),
    # No syslog in this sandbox: Postfix logs to a file through postlogd.  The file must lie
    # under one of maillog_file_prefixes; the lab directory is added for a root outside /var.
    ('maillog_file', '{maillog}'),
    ('maillog_file_prefixes', '/var, /dev/stdout, {root}'),
)

# The services of the lab instance besides its smtpd listeners: Postfix's standard set
# (as in the package's master.cf) without the port-25 smtp listener and the pipe(8)
# examples, and with chroot off everywhere.
#   service type  private unpriv  chroot  wakeup  maxproc command
MASTER_CF_SERVICES = (
    'pickup     unix  n       -       n       60      1       pickup',
    'cleanup    unix  n       -       n       -       0       cleanup',
    'qmgr       unix  n       -       n       300     1       qmgr',
    'tlsmgr     unix  -       -       n       1000?   1       tlsmgr',
    'rewrite    unix  -       -       n       -       -       trivial-rewrite',
    'bounce     unix  -       -       n       -       0       bounce',
    'defer      unix  -       -       n       -       0       bounce',
    'trace      unix  -       -       n       -       0       bounce',
    'verify     unix  -       -       n       -       1       verify',
    'flush      unix  n       -       n       1000?   0       flush',
    'proxymap   unix  -       -       n       -       -       proxymap',
    'proxywrite unix  -       -       n       -       1       proxymap',
    'smtp       unix  -       -       n       -       -       smtp',
    'relay      unix  -       -       n       -       -       smtp',
    '  -o syslog_name=postfix/$service_name',
    'showq      unix  n       -       n       -       -       showq',
    'error      unix  -       -       n       -       -       error',
    'retry      unix  -       -       n       -       -       error',
    'discard    unix  -       -       n       -       -       discard',
    'local      unix  -       n       n       -       -       local',
    'virtual    unix  -       n       n       -       -       virtual',
    'lmtp       unix  -       -       n       -       -       lmtp',
    'anvil      unix  -       -       n       -       1       anvil',
    'scache     unix  -       -       n       -       1       scache',
    'postlog    unix-dgram n  -       n       -       1       postlogd',
)

# Per-instance smtpd overrides (-o name=value; no spaces in values).
INSTANCE_OVERRIDES = {
    # The reference: relays for nobody (127.0.0.1 is outside mynetworks), validates users.
    'postfix_compliant': (),
    # Open relay: the whole loopback range is "my network", permit_mynetworks lets it relay.
    'postfix_open_relay': (
        ('mynetworks', '127.0.0.0/8'),
    ),
    # RCPT TO:<postmaster@own> and <postmaster> refused (the real-world case of the postmaster source document).
    # smtpd accepts a bare <postmaster> before any restriction is applied (hard-coded, RFC 5321
    # 4.5.1), so a command filter first rewrites it to postmaster@<own domain>.
    'postfix_no_postmaster': (
        ('smtpd_command_filter', 'regexp:{lab}/no_postmaster_command_filter'),
        ('smtpd_recipient_restrictions', 'check_recipient_access,texthash:{lab}/no_postmaster_access'),
    ),
    # MAIL FROM:<> refused at MAIL time (smtpd_delay_reject=no, else it would be at RCPT).
    'postfix_null_sender_refused': (
        ('smtpd_delay_reject', 'no'),
        ('smtpd_sender_restrictions', 'check_sender_access,texthash:{lab}/null_sender_access'),
    ),
    # Accept-all: no recipient validation for its (local) domain.
    'postfix_accept_all': (
        ('local_recipient_maps', ''),
    ),
    # A strict server: after three errors (every 4xx/5xx counts) smtpd answers "421 4.7.0 ... Error: too many
    # errors" and hangs up, before the client's next command; the relay forms must be spread over sessions.
    'postfix_error_limits': (
        ('smtpd_hard_error_limit', '3'),
    ),
    # STARTTLS done right (TLS-1 to TLS-8, LF-1 pass): opportunistic TLS with a certificate for its MX host name,
    # TLS 1.2 and newer only, no AUTH at all (so none before TLS).  Postfix discards the plaintext input buffered
    # before the handshake (the CVE-2011-0411 fix, Postfix 2.8.0), so TLS-7 needs nothing.  Postfix 3.7 takes a bare
    # LF as the end of a command unless smtpd_forbid_bare_newline=reject (backported to 3.7.10; Debian 12 has 3.7.11):
    # "yes" is an alias of "normalize", which still answers "NOOP<LF>" (LF-1 warns).  With "reject" smtpd answers
    # "550 5.5.2 Error: bare <LF> received".  The auditor's 127.0.0.1 is outside mynetworks, so
    # smtpd_forbid_bare_newline_exclusions ($mynetworks) does not spare it.
    'postfix_tls': (
        ('smtpd_tls_security_level', 'may'),
        ('smtpd_tls_cert_file', '{tls}/cert.pem'),
        ('smtpd_tls_key_file', '{tls}/key.pem'),
        ('smtpd_tls_protocols', TLS_PROTOCOLS),
        ('smtpd_tls_mandatory_protocols', TLS_PROTOCOLS),
        ('smtpd_tls_auth_only', 'yes'),
        ('smtpd_sasl_auth_enable', 'no'),
        ('smtpd_forbid_bare_newline', 'reject'),
    ),
}

# Lookup tables written to the lab's configuration directory (texthash: no postmap needed).
LAB_FILES = {
    'aliases': ''.join('%s root\n' % user for user in LAB_USERS if user != 'root'),
    # Access-table keys for recipients: user@domain, domain, user@.  "postmaster@" matches
    # postmaster at any domain (lookups ignore case); the explicit key is belt and braces.
    'no_postmaster_access': (
        'postmaster@postfix-no-postmaster.lab.test 550 5.7.1 Relaying is prohibited\n'
        'postmaster@ 550 5.7.1 Relaying is prohibited\n'
    ),
    # regexp tables match case-insensitively by default: <Postmaster>, <POSTMASTER> too.
    'no_postmaster_command_filter': '/^(RCPT\\s+TO:\\s*)<postmaster>(.*)$/ ${1}<postmaster@postfix-no-postmaster.lab.test>${2}\n',
    # smtpd_null_access_lookup_key is "<>" by default.
    'null_sender_access': '<> 550 5.7.1 Null sender not accepted\n',
}


_TLS_MODULE = None


def _lab_tls():
    """tests/lab/tls.py, loaded by path on first use: postfix.py also runs alone (python tests/lab/postfix.py up)."""
    global _TLS_MODULE  # pylint: disable=global-statement
    if _TLS_MODULE is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'tls.py')
        spec = importlib.util.spec_from_file_location('mxaudit_lab_postfix_tls', path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            raise PostfixError('the TLS instance needs the cryptography package (%s)' % exc) from exc
        _TLS_MODULE = module
    return _TLS_MODULE


def short_name(name):
    """Service-name suffix of an instance: postfix_open_relay -> open-relay."""
    return name.replace('postfix_', '', 1).replace('_', '-')


def hostname_of(name):
    """The host name an instance announces in its greeting and EHLO reply."""
    return 'mx.' + INSTANCES[name][1]


class PostfixError(RuntimeError):
    """A Postfix command failed or an instance did not become ready."""


def _env():
    """Environment for Postfix commands: sbin on PATH, no inherited MAIL_CONFIG."""
    env = dict(os.environ)
    env['PATH'] = SBIN_PATH + ':' + env.get('PATH', '')
    env.pop('MAIL_CONFIG', None)
    return env


def postfix_binary():
    """Path of the postfix command, or None."""
    return shutil.which('postfix', path=SBIN_PATH + ':' + os.environ.get('PATH', ''))


# -- the system's Postfix (read only, except for restore_system_config) -----------------


def system_postfix_running():
    """True when the system's Postfix (the default configuration directory) runs."""
    if postfix_binary() is None:
        return False
    return subprocess.run(['postfix', 'status'], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False).returncode == 0


def system_master_pid():
    """PID of the system Postfix master process (from its pid file), or None."""
    try:
        queue = subprocess.run(['postconf', '-h', 'queue_directory'], env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True, check=True).stdout.strip()
        with open(os.path.join(queue, 'pid', 'master.pid'), encoding='ascii') as handle:
            return int(handle.read().strip())
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


def legacy_leftovers(config_dir=SYSTEM_CONFIG_DIR):
    """What earlier versions of the lab left in the system's Postfix configuration (paths)."""
    found = []
    for conf in ('main.cf', 'master.cf'):
        path = os.path.join(config_dir, conf)
        with contextlib.suppress(OSError):
            with open(path, encoding='utf-8', errors='replace') as handle:
                if BLOCK_BEGIN in handle.read():
                    found.append(path)
        if os.path.exists(path + LEGACY_BACKUP_SUFFIX):
            found.append(path + LEGACY_BACKUP_SUFFIX)
    if os.path.isdir(os.path.join(config_dir, LEGACY_LAB_SUBDIR)):
        found.append(os.path.join(config_dir, LEGACY_LAB_SUBDIR))
    return found


def restore_system_config(config_dir=SYSTEM_CONFIG_DIR, legacy_maillog=LEGACY_MAILLOG, report=print):
    """Undo what earlier versions of the lab did to /etc/postfix; returns False when it could not.

    Those versions rewrote main.cf and master.cf (between BEGIN/END mxaudit-lab markers), kept
    the originals once as ``*.mxaudit-orig`` (shutil.copy2: same bytes, mode and times), put lookup
    tables in /etc/postfix/mxaudit-lab and logged to /var/log/mxaudit-lab-postfix.log.  A rewritten
    file is replaced by its backup (a rename, so bytes, mode and times are the original's); a backup
    of an unmodified file is removed when it is identical, kept (with a message) otherwise.  When
    the system Postfix runs (then with the lab's configuration), it is stopped, the files are put
    back and it is started again; a stopped Postfix stays stopped.  Nothing happens without leftovers.
    The Postfix instance is only stopped and started when ``config_dir`` is the system's
    configuration directory (a copy elsewhere, as in the tests, has no instance of its own).
    """
    modified, backups = [], []
    for conf in ('main.cf', 'master.cf'):
        path = os.path.join(config_dir, conf)
        with contextlib.suppress(OSError):
            with open(path, encoding='utf-8', errors='replace') as handle:
                if BLOCK_BEGIN in handle.read():
                    modified.append(path)
        if os.path.exists(path + LEGACY_BACKUP_SUFFIX):
            backups.append(path)
    missing = [path for path in modified if path not in backups]
    if missing:
        report('restore: %s carries the lab block but has no %s backup; fix it by hand' % (', '.join(missing), LEGACY_BACKUP_SUFFIX))
        return False
    ok = True
    system = os.path.realpath(config_dir) == os.path.realpath(SYSTEM_CONFIG_DIR)
    was_running = bool(modified) and system and system_postfix_running()
    if was_running:
        report('restore: stopping the system Postfix (it runs the old lab configuration)')
        subprocess.run(['postfix', 'stop'], env=_env(), check=True)
    for path in backups:
        backup = path + LEGACY_BACKUP_SUFFIX
        if path in modified:
            owner = os.stat(path)
            os.replace(backup, path)
            with contextlib.suppress(OSError):
                os.chown(path, owner.st_uid, owner.st_gid)
            report('restore: %s put back from %s' % (path, backup))
        elif _same_bytes(path, backup):
            os.unlink(backup)
            report('restore: removed %s (identical to %s)' % (backup, path))
        else:
            report('restore: kept %s: it differs from %s, which has no lab block' % (backup, path))
            ok = False
    tables = os.path.join(config_dir, LEGACY_LAB_SUBDIR)
    if os.path.isdir(tables):
        known = set(LAB_FILES) | {name + '.tmp-mxaudit' for name in LAB_FILES}
        for name in os.listdir(tables):
            if name in known:
                os.unlink(os.path.join(tables, name))
        try:
            os.rmdir(tables)
            report('restore: removed %s' % tables)
        except OSError:
            report('restore: kept %s: it holds files the lab did not write' % tables)
            ok = False
    if legacy_maillog and os.path.exists(legacy_maillog):
        os.unlink(legacy_maillog)
        report('restore: removed %s' % legacy_maillog)
    if was_running:
        report('restore: starting the system Postfix again (its own configuration)')
        subprocess.run(['postfix', 'start'], env=_env(), check=True)
    return ok


def _same_bytes(first, second):
    try:
        with open(first, 'rb') as one, open(second, 'rb') as two:
            return one.read() == two.read()
    except OSError:
        return False


class PostfixLab:
    """Configure, start and stop the lab's private Postfix instance.

    ``instances`` maps name -> (address, domain).  All instances listen on ``port`` (default
    ``$MXAUDIT_POSTFIX_LAB_PORT`` or 2525).
    ``root`` is the lab directory (default ``$MXAUDIT_POSTFIX_LAB_DIR`` or DEFAULT_ROOT); it
    must be an absolute path whose parents the ``postfix`` user can traverse.
    """

    def __init__(self, port=None, root=None):
        self.port = int(port or os.environ.get(PORT_ENV) or DEFAULT_PORT)
        self.root = os.path.abspath(root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
        self.config_dir = os.path.join(self.root, 'config')
        self.lab_dir = self.config_dir
        self.queue_dir = os.path.join(self.root, 'queue')
        self.data_dir = os.path.join(self.root, 'data')
        self.maillog_path = os.path.join(self.root, 'maillog')
        self.tls_dir = os.path.join(self.config_dir, 'tls')
        self.instances = dict(INSTANCES)
        # Outside the lab directory, so that remove() can delete that under the lock.
        self.lock_path = os.path.join(tempfile.gettempdir(), 'mxaudit-lab-postfix-%08x.lock' % zlib.crc32(self.root.encode()))

    # -- discovery -----------------------------------------------------------------

    @staticmethod
    def postfix_binary():
        """Path of the postfix command, or None."""
        return postfix_binary()

    def available(self):
        """True when Postfix is installed and we are root (it needs both)."""
        return self.postfix_binary() is not None and os.geteuid() == 0

    def hostname(self, name):
        """Host name of instance ``name`` (greeting and EHLO reply)."""
        return hostname_of(name)

    def address(self, name):
        """(address, port) of instance ``name``."""
        return self.instances[name][0], self.port

    @property
    def tls_ca_file(self):
        """The CA certificate (PEM) that issued the TLS instances' certificates: the tls_ca_file of the tests."""
        return os.path.join(self.tls_dir, 'ca.pem')

    # -- commands ------------------------------------------------------------------

    def _run(self, args, check=True):
        """Run a Postfix command (postfix, postconf) against the lab's configuration directory."""
        args = [args[0], '-c', self.config_dir] + list(args[1:])
        proc = subprocess.run(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
        if check and proc.returncode != 0:
            raise PostfixError('%s failed (exit %d): %s%s' % (' '.join(args), proc.returncode, proc.stdout, self._log_tail()))
        return proc

    def postconf(self, *names):
        """Values of main.cf parameters of the lab instance (postconf -h)."""
        return self._run(['postconf', '-h'] + list(names)).stdout.split('\n')[:len(names)]

    def _log_tail(self, lines=20):
        try:
            with open(self.maillog_path, encoding='utf-8', errors='replace') as log:
                tail = log.readlines()[-lines:]
        except OSError:
            return ''
        return '\n--- %s (tail) ---\n%s' % (self.maillog_path, ''.join(tail))

    @contextlib.contextmanager
    def lock(self):
        """Serialise configure/start/remove across processes (pytest-xdist workers, forks)."""
        with open(self.lock_path, 'a+', encoding='utf-8') as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- configuration ---------------------------------------------------------------

    def _fmt(self, value):
        for key, path in (('{root}', self.root), ('{queue}', self.queue_dir), ('{data}', self.data_dir),
                          ('{maillog}', self.maillog_path), ('{lab}', self.lab_dir), ('{tls}', self.tls_dir)):
            value = value.replace(key, path)
        return value

    def main_cf(self):
        """The whole main.cf of the lab instance."""
        return HEADER + ''.join('%s = %s\n' % (key, self._fmt(value)) for key, value in MAIN_CF)

    def master_block(self):
        """The master.cf lines of the lab's smtpd services (between BEGIN/END markers)."""
        lines = [BLOCK_BEGIN]
        for name, (address, domain) in self.instances.items():
            short = short_name(name)
            rewrite = 'rw-' + short
            lines.append('%s:%d inet n - n - - smtpd' % (address, self.port))
            overrides = [
                ('syslog_name', 'postfix/' + short),
                ('myhostname', hostname_of(name)),
                ('mydestination', domain + ',lab.test,localhost'),
                ('rewrite_service_name', rewrite),
            ]
            overrides.extend(INSTANCE_OVERRIDES[name])
            lines.extend('  -o %s=%s' % (key, self._fmt(value)) for key, value in overrides)
            # The address-class decisions (local domain or not; bare address completion).
            lines.append('%s unix - - n - - trivial-rewrite' % rewrite)
            lines.append('  -o syslog_name=postfix/' + rewrite)
            lines.append('  -o mydestination=%s,lab.test,localhost' % domain)
            lines.append('  -o myorigin=' + domain)
        lines.append(BLOCK_END)
        return '\n'.join(lines) + '\n'

    def master_cf(self):
        """The whole master.cf of the lab instance: the standard services, then the lab's."""
        return HEADER + '\n'.join(MASTER_CF_SERVICES) + '\n' + self.master_block()

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

    def _makedirs(self, path):
        """Create path (and parents) readable by the postfix user: mode 0755 whatever the umask."""
        missing = []
        while not os.path.isdir(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(directory)
            os.chmod(directory, 0o755)

    def configure(self, port=None):
        """Write the lab's configuration directory; returns True when a file changed (then restart).

        Only the lab directory is written.  Idempotent: a file is replaced (atomically) only
        when its content differs, so running instances are never shown a half-written file.
        The queue and data directories are filled in by ``postfix start`` (post-install
        create-missing, from the package's postfix-files).
        """
        if port is not None:
            self.port = int(port)
        self._makedirs(self.config_dir)
        self._makedirs(self.queue_dir)
        self._write_if_changed(os.path.join(self.root, MARKER),
                               'mxaudit.smtp Postfix lab (tests/lab/postfix.py); python tests/lab/postfix.py down removes this directory\n')
        changed = False
        for fname, content in LAB_FILES.items():
            changed |= self._write_if_changed(os.path.join(self.lab_dir, fname), content)
        changed |= self._configure_tls()
        changed |= self._write_if_changed(os.path.join(self.config_dir, 'main.cf'), self.main_cf())
        changed |= self._write_if_changed(os.path.join(self.config_dir, 'master.cf'), self.master_cf())
        return changed

    def _configure_tls(self):
        """The CA and the certificate of the TLS instances in config/tls; True when they were (re)made."""
        names = [hostname_of(name) for name in TLS_INSTANCES if name in self.instances]
        if not names:
            return False
        self._makedirs(self.tls_dir)
        return _lab_tls().write_ca_and_leaf(self.tls_dir, names)[3]

    def remove(self):
        """Stop the lab instance and delete its directory (only one that configure() made)."""
        with self.lock():
            self.stop()
            if not os.path.isdir(self.root):
                return False
            if not os.path.exists(os.path.join(self.root, MARKER)):
                raise PostfixError('%s is not a lab directory (no %s); not removed' % (self.root, MARKER))
            shutil.rmtree(self.root)
            parent = os.path.dirname(self.root)
            if os.path.basename(parent) == 'mxaudit-lab':
                with contextlib.suppress(OSError):
                    os.rmdir(parent)  # only when empty
            return True

    def restore(self):
        """Remove the lab instance and undo the /etc/postfix changes of earlier lab versions."""
        self.remove()
        return restore_system_config()

    # -- process control -----------------------------------------------------------

    def running(self):
        """True when the lab's Postfix master process is running."""
        if not os.path.isfile(os.path.join(self.config_dir, 'main.cf')) or not os.path.isdir(self.queue_dir):
            return False
        return self._run(['postfix', 'status'], check=False).returncode == 0

    def start(self):
        """(Re)start the lab instance so that it runs the current configuration."""
        if self.running():
            self._run(['postfix', 'stop'])
            self._wait_stopped()
        self._run(['postfix', 'start'])

    def stop(self):
        """Stop the lab instance if it runs."""
        if self.running():
            self._run(['postfix', 'stop'])
            self._wait_stopped()

    def reload(self):
        """Make the running lab instance re-read its configuration (master.cf services included)."""
        self._run(['postfix', 'reload'])

    def _wait_stopped(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                raise PostfixError('postfix did not stop within %.0fs' % timeout)
            time.sleep(0.1)
        # The master process is gone; give the kernel a moment to release the listeners.
        for address, _domain in self.instances.values():
            while time.monotonic() < deadline and self.greeting(address, timeout=0.2) is not None:
                time.sleep(0.1)

    def ensure_running(self, timeout=30.0):
        """Configure and (re)start only when needed; safe to call from many processes at once.

        Returns True when this call started (or restarted) the lab instance.
        """
        with self.lock():
            changed = self.configure()
            started = False
            if changed or not self.running():
                self.start()
                started = True
            self.wait_ready(timeout)
            return started

    # -- readiness -------------------------------------------------------------------

    def greeting(self, address, timeout=2.0):
        """Connect to address:port, return the first greeting line (or None), then QUIT."""
        try:
            with socket.create_connection((address, self.port), timeout=timeout) as sock:
                data = b''
                while b'\n' not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                with contextlib.suppress(OSError):
                    sock.sendall(b'QUIT\r\n')
                    sock.recv(4096)
        except OSError:
            return None
        line = data.split(b'\n', 1)[0].decode('ascii', 'replace').rstrip('\r')
        return line or None

    def wait_ready(self, timeout=30.0):
        """Wait until every instance answers with a 220 greeting; raise PostfixError if not."""
        deadline = time.monotonic() + timeout
        pending = dict(self.instances)
        while pending:
            for name, (address, _domain) in list(pending.items()):
                line = self.greeting(address, timeout=1.0)
                if line is not None and line.startswith('220'):
                    del pending[name]
            if not pending:
                break
            if time.monotonic() > deadline:
                hint = ''
                if legacy_leftovers():
                    hint = ('\n(%s still has the configuration of an earlier lab version; if the system Postfix runs it, it holds '
                            'these addresses: python tests/lab/postfix.py restore)' % SYSTEM_CONFIG_DIR)
                raise PostfixError('not ready after %.0fs: %s%s%s' % (timeout, ', '.join(sorted(pending)), hint, self._log_tail()))
            time.sleep(0.2)

    def status(self):
        """name -> greeting line (or None) for every instance."""
        return {name: self.greeting(address, timeout=1.0) for name, (address, _domain) in self.instances.items()}


def main(argv=None):
    """``up`` (configure, start, wait), ``down`` (stop, remove), ``status``, ``restore``."""
    argv = sys.argv[1:] if argv is None else argv
    usage = 'usage: postfix.py up|down|status|restore [--port N]'
    if not argv or argv[0] not in ('up', 'down', 'status', 'restore'):
        print(usage, file=sys.stderr)
        return 2
    port = None
    if len(argv) == 3 and argv[1] == '--port':
        port = int(argv[2])
    elif len(argv) != 1:
        print(usage, file=sys.stderr)
        return 2
    lab = PostfixLab(port=port)
    if not lab.available():
        print('postfix lab unavailable: need the postfix package and root', file=sys.stderr)
        return 1
    rc = 0
    try:
        if argv[0] == 'up':
            lab.ensure_running()
        elif argv[0] == 'down':
            lab.remove()
        elif argv[0] == 'restore':
            rc = 0 if lab.restore() else 1
    except (PostfixError, subprocess.CalledProcessError, OSError) as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    print('postfix lab: %s; configuration %s; log %s' % ('running' if lab.running() else 'stopped', lab.config_dir, lab.maillog_path))
    print('system postfix (%s): %s' % (SYSTEM_CONFIG_DIR, 'running' if system_postfix_running() else 'stopped'))
    leftovers = legacy_leftovers()
    if leftovers:
        print('note: left by an earlier lab version: %s (python tests/lab/postfix.py restore)' % ', '.join(leftovers))
    for name, line in lab.status().items():
        address, domain = lab.instances[name]
        print('%-28s %s:%d %-38s %s' % (name, address, lab.port, domain, line or '-'))
    return rc


if __name__ == '__main__':
    sys.exit(main())
