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

import typing as t
from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ._dns import DNSPYTHON_IMPORT_ERROR
from ._engine.run import Engine
from ._engine.settings import RunSettings
from ._engine.targets import DomainResult
from ._options import OptionError, Options, parse, relay_recipient, to_a_label
from ._verdict import COMPLIANT, worst

# Lines of a domains_file; see the audit module's documentation.
DOMAINS_FILE_MAX_BYTES = 64 * 1024 * 1024
DOMAINS_FILE_MAX_LINES = 1000000


def _mx_fields(result: DomainResult) -> dict[str, t.Any]:
    return {'implicit_mx': bool(result.mx and result.mx.implicit), 'null_mx': bool(result.mx and result.mx.null_mx)}


def _session_fields(result: DomainResult) -> dict[str, t.Any]:
    return {'sessions': [record.to_dict(target) for target, record in result.records]}


def _relay_settings(params: dict[str, t.Any], domains: list[str]) -> dict[str, t.Any]:
    return {'relay_recipient': relay_recipient(params['relay_recipient'], domains),
            'relay_variants': params['relay_variants']}


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
    """domains_file: one domain per line; blank lines and '#' comments ignored; capped in size and lines."""
    domains = []
    with open(path, 'rb') as handle:
        data = handle.read(DOMAINS_FILE_MAX_BYTES + 1)
    if len(data) > DOMAINS_FILE_MAX_BYTES:
        raise OptionError('domains_file: %s is larger than %d bytes' % (path, DOMAINS_FILE_MAX_BYTES))
    for number, raw in enumerate(data.splitlines(), 1):
        if number > DOMAINS_FILE_MAX_LINES:
            raise OptionError('domains_file: %s has more than %d lines' % (path, DOMAINS_FILE_MAX_LINES))
        try:
            line = raw.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise OptionError('domains_file: %s line %d is not UTF-8 (%s)' % (path, number, exc.reason))
        text = line.split('#', 1)[0].strip()
        if text:
            domains.append(text)
    return domains


def parse_domain_lines(lines: t.Iterable[str]) -> list[str]:
    """One domain per line; blank lines and '#' comments ignored."""
    return [text for text in (line.split('#', 1)[0].strip() for line in lines) if text]


def audit_engine(params: dict[str, t.Any], check_mode: bool) -> tuple[Engine, list[t.Any]]:
    """The audit module's options into an Engine (raises OptionError)."""
    raw_domains = [params['domain']] if params['domain'] is not None else list(params['domains'] or [])
    if params['domains_file']:
        try:
            raw_domains += read_domains_file(params['domains_file'])
        except OSError as exc:
            raise OptionError('domains_file: cannot read %s: %s' % (params['domains_file'], exc))
    if not raw_domains:
        raise OptionError('no domain to audit (domain, domains and domains_file are empty)')
    options: Options = parse(dict(params, domain=None, domains=None), require_domain=False)
    valid = []
    for raw in raw_domains:
        try:
            valid.append(to_a_label(raw))
        except OptionError:
            continue
    if options.addresses and len(set(valid)) > 1:
        raise OptionError('addresses: can be given with one domain only (they stand for its MX hosts)')
    settings = RunSettings(
        checks=tuple(params['checks']), retry_4xx=params['retry_4xx'], transcripts=params['transcripts'],
        keep_transcripts=params['transcripts'] == 'all' or bool(params['output_file']) and not check_mode,
        policy=params.get('policy'),
        **_relay_settings(params, valid))
    return Engine(options, settings, raw_domains), raw_domains


def run_audit(module: AnsibleModule) -> None:
    _require_dnspython(module)
    try:
        engine, _raw = audit_engine(module.params, module.check_mode)
    except OptionError as exc:
        module.fail_json(msg='Invalid option: %s' % exc)
    engine.execute()
    output_file = module.params['output_file']
    written = None
    if output_file and not module.check_mode:
        try:
            engine.write(output_file)
        except OSError as exc:
            module.fail_json(msg='Cannot write output_file %s: %s' % (output_file, exc))
        written = output_file
    result = engine.take_result()
    del engine
    if written is not None:
        result['output_file'] = written
    module.exit_json(changed=written is not None, **result)
