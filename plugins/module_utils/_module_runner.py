# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""What every module's main() does after its argument spec: validate, run the one engine, shape, exit.

The modules differ only in a row of MODULES: the checks they run, the
per-domain fields they add, and the run settings their own options give.
Nothing is sent before every option is validated; bad input is a
``fail_json`` naming the option, never a traceback.
"""

from __future__ import annotations

import os
import stat
import tempfile
import typing as t
from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from . import _protocol as protocol
from ._checks.relay import build_variants
from ._dns import DNSPYTHON_IMPORT_ERROR, MAX_QUERIES
from ._engine.run import Engine
from ._engine.settings import RunSettings
from ._engine.targets import DomainResult, domain_results
from ._options import OptionError, Options, parse, relay_recipient
from ._verdict import COMPLIANT, worst

try:
    import resource
except ImportError:  # pragma: no cover - not on every platform
    resource = None  # type: ignore[assignment]

# Lines of a domains_file; see the audit module's documentation.
DOMAINS_FILE_MAX_BYTES = 64 * 1024 * 1024
DOMAINS_FILE_MAX_LINES = 1000000
DOMAINS_FILE_CHUNK = 1024 * 1024

# What the relay variants are built from besides the recipient, to check every form before a packet is sent.
# The real ones (each MX's domain, banner name and address literal) are known only during the run.
SAMPLE_DOMAIN = 'example.org'
SAMPLE_BANNER = 'mx1.example.org'
SAMPLE_LITERALS = ('[192.0.2.1]', '[IPv6:2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]')

# File descriptors kept for what is not an SMTP session (the DNS queries in flight, the interpreter,
# Ansible), and descriptors per session (its socket, and one to spare).
RESERVED_FILES = 64 + MAX_QUERIES
FILES_PER_SESSION = 2


def _mx_fields(result: DomainResult) -> dict[str, t.Any]:
    return {'implicit_mx': bool(result.mx and result.mx.implicit), 'null_mx': bool(result.mx and result.mx.null_mx)}


def _session_fields(result: DomainResult) -> dict[str, t.Any]:
    return {'sessions': [record.to_dict(target) for target, record in result.records.get('session', [])]}


def check_relay_variants(recipient: str) -> None:
    """Every relay variant relay.build_variants() makes of ``recipient`` can be sent; raises OptionError.

    A recipient such as ``"x y"@example.com`` is a valid mailbox, but some of its variants are not even
    the malformed addresses the probes mean to send; without this check the run fails in the middle of
    its first relay probe.
    """
    for literal in SAMPLE_LITERALS:
        for variant in build_variants(SAMPLE_DOMAIN, SAMPLE_BANNER, literal, recipient):
            try:
                if variant.sender is not None:
                    protocol.mail_from(variant.sender)
                protocol.rcpt_to(variant.recipient, allow_malformed=variant.malformed)
            except protocol.CommandError as exc:
                raise OptionError('relay_recipient: %r cannot be sent in the relay variant "%s" (%s); use a local part '
                                  'of letters, digits, dots and hyphens, or set relay_variants to false'
                                  % (recipient, variant.form, exc))


def _relay_settings(params: dict[str, t.Any], domains: list[str]) -> dict[str, t.Any]:
    recipient = relay_recipient(params['relay_recipient'], domains)
    if params['relay_variants']:
        check_relay_variants(recipient)
    return {'relay_recipient': recipient, 'relay_variants': params['relay_variants']}


@dataclass(frozen=True)
class ModuleKind:
    """One row of the module table."""

    checks: tuple[str, ...]
    smtp: bool = True                                                  # sends SMTP (needs an EHLO name)
    domain_fields: t.Callable[[DomainResult], dict[str, t.Any]] | None = None
    settings: t.Callable[[dict[str, t.Any], list[str]], dict[str, t.Any]] | None = None
    collect: tuple[str, ...] = ()                                      # per-domain lists also returned flat


MODULES: dict[str, ModuleKind] = {
    'mx_info': ModuleKind(('mx',), smtp=False, domain_fields=_mx_fields),
    'smtp_info': ModuleKind(('mx', 'session'), domain_fields=_session_fields, collect=('sessions',)),
    'postmaster_check': ModuleKind(('postmaster',)),
    'null_sender_check': ModuleKind(('null_sender',)),
    'relay_check': ModuleKind(('relay',), settings=_relay_settings),
    'recipient_check': ModuleKind(('recipient',)),
    'pipelining_check': ModuleKind(('pipelining',)),
}


def _require_dnspython(module: AnsibleModule) -> None:
    if DNSPYTHON_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib('dnspython'), exception=DNSPYTHON_IMPORT_ERROR)


def raise_open_files_limit() -> int | None:
    """Raise this process's soft limit of open files to its hard limit; the soft limit now (None: unknown).

    Every SMTP session and every DNS query holds a descriptor; a default soft limit of 1,024 runs out
    below the default concurrency's needs once DNS is counted, and the sessions that cannot open then
    fail for a reason that is this host's, not the servers'.
    """
    if resource is None:
        return None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY:
            # An unlimited hard limit is not a value every kernel takes for the soft one; 1,048,576 is plenty.
            wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1048576)
            if wanted > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        pass
    return None if soft == resource.RLIM_INFINITY else soft


def cap_concurrency(options: Options, soft_limit: int | None) -> str | None:
    """Lower concurrency to what the open-files limit allows; the warning to give when it was lowered."""
    if soft_limit is None:
        return None
    allowed = max(1, (soft_limit - RESERVED_FILES) // FILES_PER_SESSION)
    if options.concurrency <= allowed:
        return None
    asked = options.concurrency
    options.concurrency = allowed
    return ('concurrency lowered from %d to %d: this host allows %d open files (RLIMIT_NOFILE), and each session '
            'needs about %d' % (asked, allowed, soft_limit, FILES_PER_SESSION))


def _within_open_files(module: AnsibleModule, options: Options) -> None:
    warning = cap_concurrency(options, raise_open_files_limit())
    if warning is not None:
        module.warn(warning)


def run_module(module: AnsibleModule, name: str) -> None:
    """A single-check (or info) module: the engine with the module's checks over domain/domains."""
    kind = MODULES[name]
    _require_dnspython(module)
    try:
        options = parse(module.params, smtp=kind.smtp)
        if not kind.smtp:
            options.addresses = []  # a DNS module looks the MX up even when addresses are given
        extra = kind.settings(module.params, options.domains) if kind.settings else {}
        settings = RunSettings(checks=kind.checks, transcripts='all', policy=module.params.get('policy'),
                               retry_4xx=module.params.get('retry_4xx') or 0.0, **extra)
    except OptionError as exc:
        module.fail_json(msg='Invalid option: %s' % exc)
    _within_open_files(module, options)
    engine = Engine(options, settings)
    engine.execute()
    vantage = engine.vantage_point()
    domains = []
    for result, data in engine.take_domains():
        if kind.domain_fields is not None:
            data.update(kind.domain_fields(result))
        domains.append(data)
    verdict = worst(domain['verdict'] for domain in domains)
    output: dict[str, t.Any] = {
        'domains': domains,
        'findings': [finding for domain in domains for finding in domain['findings']],
        'verdict': verdict,
        'compliant': verdict == COMPLIANT,
        'vantage_point': vantage,
    }
    for key in kind.collect:
        output[key] = [item for domain in domains for item in domain[key]]
    if len(domains) == 1:
        output['mx'] = domains[0]['mx']
    module.exit_json(changed=False, **output)


def read_domains_file(path: str) -> list[str]:
    """domains_file: one domain per line; blank lines and '#' comments ignored; capped in size and lines.

    Only a regular file is read: a device (/dev/zero), a FIFO or a terminal (/dev/stdin) has no end, or
    blocks the module for ever. It is read in chunks, and its size is known before the first one.
    """
    try:
        data = _read_regular_file(path)
    except OSError as exc:
        raise OptionError('domains_file: cannot read %s: %s' % (path, exc.strerror or exc))
    lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        if number > DOMAINS_FILE_MAX_LINES:
            raise OptionError('domains_file: %s has more than %d lines' % (path, DOMAINS_FILE_MAX_LINES))
        try:
            lines.append(raw.decode('utf-8'))
        except UnicodeDecodeError as exc:
            raise OptionError('domains_file: %s line %d is not UTF-8 (%s at byte %d of the line)'
                              % (path, number, exc.reason, exc.start + 1))
    return parse_domain_lines(lines)


def _read_regular_file(path: str) -> bytes:
    """At most DOMAINS_FILE_MAX_BYTES + 1 bytes of a regular file, in chunks; raises OptionError or OSError."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OptionError('domains_file: %s is not a regular file (a directory, device, FIFO or socket); give the '
                              'path of a file with one domain per line' % path)
        if info.st_size > DOMAINS_FILE_MAX_BYTES:
            raise OptionError('domains_file: %s is larger than %d bytes' % (path, DOMAINS_FILE_MAX_BYTES))
        chunks = []
        size = 0
        while size <= DOMAINS_FILE_MAX_BYTES:  # a file that grows while it is read is still capped
            chunk = os.read(descriptor, min(DOMAINS_FILE_CHUNK, DOMAINS_FILE_MAX_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(descriptor)
    if size > DOMAINS_FILE_MAX_BYTES:
        raise OptionError('domains_file: %s is larger than %d bytes' % (path, DOMAINS_FILE_MAX_BYTES))
    return b''.join(chunks)


def parse_domain_lines(lines: t.Iterable[str]) -> list[str]:
    """One domain per line; blank lines and '#' comments ignored."""
    return [text for text in (line.split('#', 1)[0].strip() for line in lines) if text]


def check_output_file(path: str, check_mode: bool) -> None:
    """output_file can be written, before the run spends its deadline: raises OptionError.

    The parent directory exists and takes a new file (one is created and removed beside the path, as
    the result file will be: written to a temporary file, then renamed), and the path is not a directory.
    In check mode nothing is created; the file is not written then either.
    """
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise OptionError('output_file: %s is a directory; give the path of a file' % path)
    if os.path.lexists(target) and not os.path.islink(target) and not os.path.isfile(target):
        # The file is renamed into place, which would replace a device or a FIFO such as /dev/null.
        raise OptionError('output_file: %s exists and is not a regular file' % path)
    if not os.path.isdir(directory):
        raise OptionError('output_file: the directory %s does not exist' % directory)
    if check_mode:
        if not os.access(directory, os.W_OK | os.X_OK):
            raise OptionError('output_file: cannot create files in %s' % directory)
        return
    try:
        with tempfile.NamedTemporaryFile('w', dir=directory, prefix='.mxaudit-', suffix='.check'):
            pass
    except OSError as exc:
        raise OptionError('output_file: cannot create files in %s: %s' % (directory, exc.strerror or exc))


def audit_engine(params: dict[str, t.Any], check_mode: bool) -> tuple[Engine, list[t.Any]]:
    """The audit module's options into an Engine (raises OptionError)."""
    raw_domains = [params['domain']] if params['domain'] is not None else list(params['domains'] or [])
    given = len(raw_domains)
    if params['domains_file']:
        raw_domains += read_domains_file(params['domains_file'])
    if not raw_domains:
        raise OptionError('no domain to audit (domain, domains and domains_file are empty)')
    options: Options = parse(dict(params, domain=None, domains=None), require_domain=False)
    if params.get('output_file'):
        check_output_file(params['output_file'], check_mode)
    # Each name is converted to A-labels once: the Engine takes these results as they are.
    results = list(domain_results(raw_domains).values())
    # Names given as options are checked as every module checks them (a bad one is an error naming it);
    # the lines of a domains_file are reported per domain instead, so one bad line does not stop a portfolio.
    explicit = {str(raw) for raw in raw_domains[:given]}
    for result in results:
        if result.invalid is not None and result.domain in explicit:
            raise OptionError(result.invalid if params['domain'] is None else result.invalid.replace('domains[0]', 'domain', 1))
    valid = [result.domain for result in results if result.invalid is None]
    if options.addresses and len(valid) > 1:
        raise OptionError('addresses: can be given with one domain only (they stand for its MX hosts)')
    settings = RunSettings(
        checks=tuple(params['checks']), retry_4xx=params['retry_4xx'], transcripts=params['transcripts'],
        keep_transcripts=params['transcripts'] == 'all' or bool(params['output_file']) and not check_mode,
        policy=params.get('policy'),
        **_relay_settings(params, valid))
    return Engine(options, settings, results), raw_domains


def run_audit(module: AnsibleModule) -> None:
    _require_dnspython(module)
    try:
        engine, _raw = audit_engine(module.params, module.check_mode)
    except OptionError as exc:
        module.fail_json(msg='Invalid option: %s' % exc)
    _within_open_files(module, engine.options)
    engine.execute()
    output_file = module.params['output_file']
    written = None
    error = None
    if output_file and not module.check_mode:
        try:
            engine.write(output_file)
        except OSError as exc:
            # The run's findings are worth more than the file: they are returned all the same.
            error = 'cannot write output_file %s: %s' % (output_file, exc)
            module.warn(error + '; the result is returned without it')
        else:
            written = output_file
    result = engine.take_result()
    del engine
    if written is not None:
        result['output_file'] = written
    if error is not None:
        result['output_file_error'] = error
    module.exit_json(changed=written is not None, **result)
