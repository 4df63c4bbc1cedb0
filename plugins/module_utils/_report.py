# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""Reports: merging the audit results of several vantage points, and the views the report templates lay out.

Pure functions over plain data (the ``audit`` module's result, as JSON
gives it back): no I/O, no clock. The filter plugins in plugins/filter/
are thin wrappers around them (see filter_table), so a task and a
template compute a summary the same way.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import re
import typing as t
import unicodedata
from collections.abc import Callable, Mapping

from ._checks.registry import CHECK_IDS
from ._verdict import COMPLIANT, NONCOMPLIANT, UNVERIFIED, VERDICTS, worst
from ._verdict import counts as verdict_counts
from ._findings import ERROR, FAIL, INCONCLUSIVE, PASS, SKIPPED, STATUSES, WARN
from ._findings import status_counts as _status_counts
from ._findings import worst_status as _worst_status

# Checks in catalogue order (a check id may own several rules).
CHECK_ORDER: tuple[str, ...] = CHECK_IDS

# The roll-up rows after the checks, as in a call-back verification report: what each number counts,
# and what its percentage is taken of (a key of the stats, or None for no percentage).
STAGE_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ('domains', 'Domains audited', None),
    ('invalid', 'Invalid domain names', 'domains'),
    ('dns_errors', 'DNS errors', 'domains'),
    ('no_mx', 'No MX and no address', 'domains'),
    ('implicit_mx', 'Implicit MX (A/AAAA)', 'domains'),
    ('null_mx', 'Null MX (not probed)', 'domains'),
    ('addresses', 'MX addresses', None),
    ('connect_errors', 'Addresses not reached', 'addresses'),
    ('sessions', 'SMTP sessions', None),
    ('refused_greeting', 'Refused at greeting', 'sessions'),
    ('refused_ehlo', 'Refused at EHLO/HELO', 'sessions'),
    ('refused_mail', 'Refused at MAIL', 'transactions'),
    ('refused_rcpt', 'Refused at RCPT (postmaster)', 'postmaster_probes'),
    ('reply_421', 'Sessions ended with 421', 'sessions'),
    ('compliant', 'Compliant domains', 'domains'),
)
STAGES = ('greeting', 'ehlo', 'mail', 'rcpt')
# The counters each refusal stage is a percentage of (sessions, transactions, postmaster probes).
STAGE_BASE = {'greeting': 'sessions', 'ehlo': 'sessions', 'mail': 'transactions', 'rcpt': 'postmaster_probes'}

CSV_COLUMNS = ('domain', 'vantage_point', 'verdict', 'mx', 'address', 'check', 'rule', 'status', 'level', 'severity', 'rfc',
               'summary')

# The TLS section (the audit module's per-domain ``tls`` list): the fields of one address, and the columns of tls.csv.
TLS_FIELDS = ('mx', 'address', 'starttls', 'protocol', 'cipher', 'subject', 'issuer', 'not_before', 'not_after', 'dns_names',
              'trusted')
TLS_CSV_COLUMNS = ('domain', 'vantage_point', 'mx', 'address', 'status', 'starttls', 'protocol', 'cipher', 'subject', 'issuer',
                   'not_before', 'not_after', 'days_left', 'trusted', 'dns_names')
TLS_CHECK = 'tls'
# The DANE and MTA-STS section (the audit module's per-domain ``mta_sts`` dict and ``dane`` list): a row per domain for
# MTA-STS (kind mta_sts) and per MX host and address for DANE (kind dane); the columns of policy.csv.
DANE_CHECK, STS_CHECK = 'dane', 'mta_sts'
POLICY_FIELDS = ('domain', 'vantage_point', 'kind', 'mx', 'address', 'status', 'published', 'dnssec', 'tlsa', 'matched',
                 'id', 'fetched', 'mode', 'max_age', 'mx_patterns', 'rua')
POLICY_CSV_COLUMNS = POLICY_FIELDS

# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile('[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')
# Characters that start a formula in a spreadsheet (CSV injection).
_FORMULA_START = ('=', '+', '-', '@', '\t', '\r')
_MARKDOWN_SPECIAL = re.compile(r'([\\`*_{}\[\]<>|#~&])')
_BACKTICKS = re.compile('`+')

# Server text must read in a report as the server sent it. These characters change how the text around
# them is displayed, or do not show at all, so a report writes them as escapes (visible_text):
# controls (Cc), format characters (Cf: the bidi embeddings, overrides and isolates U+202A-U+202E and
# U+2066-U+2069, the marks U+200E, U+200F and U+061C, the zero-width U+200B-U+200D, U+2060 and U+FEFF, the
# soft hyphen, the tag characters), the line and paragraph separators (Zl, Zp), and surrogates (Cs: a
# lone one can come from JSON, and no encoding can write it). Tab, line feed and carriage return are
# layout, which each format handles itself.
_HIDDEN_CATEGORIES = frozenset(('Cc', 'Cf', 'Cs', 'Zl', 'Zp'))
_TAG_BLOCK = range(0xE0000, 0xE0080)  # the whole block, unassigned code points included
_LAYOUT = frozenset('\t\n\r')
# Printable ASCII and layout only: nothing for visible_text to look at (most text, and fast).
_NOT_PLAIN = re.compile('[^\t\n\r\x20-\x7e]')

# GitHub-flavoured Markdown makes links of plain text (autolinks): URLs after http://, https:// or ftp://,
# names after www., and e-mail addresses (also after mailto: or xmpp:); GitHub also makes a mention of an
# @name. In cmark-gfm, GitHub's renderer, a backslash before the ':' of '://' or the '.' of 'www.'
# stops the first two and renders as the character alone. An address it finds in the text after the
# escapes are resolved (a\@b.c and a&#64;b.c are links still), so addresses and @names go into code
# spans, where nothing becomes a link; what they can contain needs no escaping there.
_URL_COLON = re.compile(r':(?=//)')
_WWW_DOT = re.compile(r'(?i)(?<![a-z0-9])(www)\.')
# A run of address characters with an '@' that a letter, digit, '_' or '-' follows; a final '.' (the end
# of a sentence) stays outside. The run is the longest, so two code spans never touch.
_ADDRESS = re.compile(r'[A-Za-z0-9.+_-]*@[A-Za-z0-9_-](?:[A-Za-z0-9.+_@-]*[A-Za-z0-9+_@-])?')


class ReportError(ValueError):
    """The data given to a report function does not have the shape of an audit result."""


def percent(part: float, whole: float) -> float:
    """As the audit module rounds: one decimal, 0.0 of nothing."""
    return round(100.0 * part / whole, 1) if whole else 0.0


# ---------------------------------------------------------------- findings


def _findings(findings: t.Any, what: str = 'findings') -> list[Mapping[str, t.Any]]:
    if not isinstance(findings, (list, tuple)):
        raise ReportError('%s: expected a list of findings, got %s' % (what, type(findings).__name__))
    for index, finding in enumerate(findings):
        if not isinstance(finding, Mapping) or finding.get('status') not in STATUSES:
            raise ReportError('%s[%d]: expected a finding with a status among %s, got %r'
                              % (what, index, ', '.join(STATUSES), finding))
    return list(findings)


def status_counts(findings: t.Any) -> dict[str, int]:
    """Status -> number of findings, all six statuses present."""
    return _status_counts(_findings(findings))


def worst_status(findings: t.Any) -> str | None:
    """The headline status: fail > error > inconclusive > warn > pass > skipped; None for no findings."""
    return _worst_status(_findings(findings))


def group_findings(findings: t.Any) -> list[dict[str, t.Any]]:
    """A domain's findings by MX host and address, in order of first appearance.

    Domain-level findings (DNS: no MX host, no address) come first. Each group:
    ``mx``, ``address``, ``status`` (the worst), ``counts`` and ``findings``.
    """
    groups: dict[tuple[str, str], dict[str, t.Any]] = {}
    for finding in _findings(findings):
        key = (finding.get('mx') or '', finding.get('address') or '')
        group = groups.setdefault(key, {'mx': finding.get('mx'), 'address': finding.get('address'), 'findings': []})
        group['findings'].append(finding)
    ordered = sorted(groups.values(), key=lambda group: bool(group['mx'] or group['address']))
    for group in ordered:
        group['status'] = _worst_status(group['findings'])
        group['counts'] = _status_counts(group['findings'])
    return ordered


# ---------------------------------------------------------------- merging


def _number(value: t.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _add(total: dict[str, t.Any], stats: Mapping[str, t.Any]) -> None:
    """Sum every count of ``stats`` into ``total``, nested dicts included (percentages are recomputed later)."""
    for key, value in stats.items():
        if key == 'percent' or key.endswith('_percent') or key == 'seconds':
            continue
        if _number(value):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, Mapping):
            _add(total.setdefault(key, {}), value)


def _stage_base(stats: Mapping[str, t.Any], stage: str) -> float | None:
    """What a refusal percentage of one result was taken of.

    The counter itself when the result carries it; otherwise worked back
    from the count and its rounded percentage, which is exact enough for a
    weighting and impossible only when nothing was refused (None).
    """
    base = STAGE_BASE[stage]
    if _number(stats.get(base)):
        return float(stats[base])
    if base == 'sessions':
        return float(stats.get('sessions') or 0)
    count = (stats.get('refused_at') or {}).get(stage) or 0
    share = (stats.get('refused_at_percent') or {}).get(stage) or 0
    if count and share:
        return 100.0 * count / share
    return None


def _refused_percent(parts: list[Mapping[str, t.Any]], merged: Mapping[str, t.Any]) -> dict[str, float]:
    result = {}
    for stage in STAGES:
        refused = (merged.get('refused_at') or {}).get(stage) or 0
        bases = [_stage_base(stats, stage) for stats in parts]
        known = [(base, stats) for base, stats in zip(bases, parts) if base is not None]
        whole = sum(base for base, _stats in known)
        unknown = [stats for base, stats in zip(bases, parts) if base is None]
        if unknown and known:
            # A result that refused nothing at this stage did not say how many it tried: estimate
            # its share from its sessions, at the rate the other results show.
            known_sessions = sum(stats.get('sessions') or 0 for _base, stats in known)
            rate = whole / known_sessions if known_sessions else 0.0
            whole += sum((stats.get('sessions') or 0) * rate for stats in unknown)
        result[stage] = percent(refused, whole)
    return result


def merge_stats(parts: t.Sequence[Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """The roll-up of several audit runs: counts summed, percentages recomputed, seconds the longest."""
    if len(parts) == 1:
        # One vantage point: its own figures, exact (nothing to recompute).
        merged: dict[str, t.Any] = _plain(parts[0])
        merged.setdefault('checks', {})
        return merged
    merged = {}
    for stats in parts:
        _add(merged, stats)
    merged.setdefault('checks', {})
    for counts in merged['checks'].values():
        for status in STATUSES:
            counts.setdefault(status, 0)
        counts['total'] = sum(counts[status] for status in STATUSES)
        counts['percent'] = {status: percent(counts[status], counts['total']) for status in STATUSES}
    if any('compliant' in stats for stats in parts):
        merged['compliant_percent'] = percent(merged.get('compliant', 0), merged.get('domains', 0))
    if any('refused_at' in stats for stats in parts):
        merged['refused_at_percent'] = _refused_percent(list(parts), merged)
    seconds = [stats['seconds'] for stats in parts if _number(stats.get('seconds'))]
    merged['seconds'] = max(seconds) if seconds else 0.0
    return merged


def _plain(value: t.Any) -> t.Any:
    """A plain copy (dicts and lists) of a result, so that merged output never aliases its input."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def merge_results(items: t.Any, generated: str | None = None) -> dict[str, t.Any]:
    """One result out of the ``audit`` module's results on several vantage points.

    ``items``: a list of ``{'host': <vantage point>, 'result': <audit result>}``. A result
    that failed (``failed``) becomes a vantage point with ``failed: true`` and its message; its
    domains were not audited, so the merged result is not compliant. Skipped results are left out.
    """
    if not isinstance(items, (list, tuple)):
        raise ReportError('expected a list of {host, result} items, got %s' % type(items).__name__)
    if generated is not None and not isinstance(generated, str):
        raise ReportError('generated must be a string (ISO 8601), got %s' % type(generated).__name__)
    domains: list[dict[str, t.Any]] = []
    parts: list[Mapping[str, t.Any]] = []
    vantage_points: list[dict[str, t.Any]] = []
    failed = False
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or 'host' not in item or not isinstance(item.get('result'), Mapping):
            raise ReportError('item %d: expected {host: <name>, result: <audit result>}, got %r' % (index, item))
        host = str(item['host'])
        result = item['result']
        if result.get('skipped'):
            continue
        if result.get('failed') or result.get('unreachable'):
            failed = True
            vantage_points.append({'host': host, 'blocked': False, 'failed': True,
                                   'message': str(result.get('msg') or 'the audit failed on this host'),
                                   'addresses_reached': 0, 'addresses_unreachable': 0, 'domains': 0})
            continue
        if not isinstance(result.get('domains'), (list, tuple)) or not isinstance(result.get('stats'), Mapping):
            raise ReportError('item %d (%s): the result has no domains and stats; is it an mxaudit.smtp.audit result?'
                              % (index, host))
        for domain in result['domains']:
            if not isinstance(domain, Mapping):
                raise ReportError('item %d (%s): a domain entry is not a dict: %r' % (index, host, domain))
            entry = _plain(domain)
            entry['vantage_point'] = host
            domains.append(entry)
        parts.append(result['stats'])
        vantage = result.get('vantage_point') or {}
        vantage_points.append({
            'host': host,
            'blocked': bool(vantage.get('blocked', False)),
            'failed': False,
            'message': vantage.get('message'),
            'addresses_reached': vantage.get('addresses_reached', 0),
            'addresses_unreachable': vantage.get('addresses_unreachable', 0),
            'domains': len(result['domains']),
        })
    verdicts = [domain_verdict(domain) for domain in domains]
    # A vantage point that failed audited nothing: its domains are unverified, and so is the merge.
    verdict = worst(verdicts + ([UNVERIFIED] if failed or not domains else []))
    stats = merge_stats(parts) if parts else merge_stats([{}])
    stats['verdicts'] = verdict_counts(verdicts)
    return {
        'domains': domains,
        'stats': stats,
        'vantage_points': vantage_points,
        'verdict': verdict,
        'compliant': verdict == COMPLIANT,
        'generated': generated,
    }


def domain_verdict(domain: Mapping[str, t.Any]) -> str:
    """A domain entry's verdict; results from before verdicts existed have only ``compliant``."""
    verdict = domain.get('verdict')
    if verdict in VERDICTS:
        return str(verdict)
    return COMPLIANT if domain.get('compliant') else NONCOMPLIANT


# ---------------------------------------------------------------- roll-up


def _stats(result: t.Any) -> Mapping[str, t.Any]:
    if not isinstance(result, Mapping) or not isinstance(result.get('stats'), Mapping):
        raise ReportError('expected an audit result (a dict with stats), got %s' % type(result).__name__)
    return result['stats']


def _check_key(check: str) -> tuple[int, str]:
    return (CHECK_ORDER.index(check) if check in CHECK_ORDER else len(CHECK_ORDER), check)


def _check_row(kind: str, name: str, counts: Mapping[str, t.Any]) -> dict[str, t.Any]:
    values = {status: int(counts.get(status) or 0) for status in STATUSES}
    total = sum(values.values())
    present = [{'status': status} for status in STATUSES if values[status]]
    return {
        'kind': kind,
        'name': name,
        'label': name if kind == 'check' else 'All checks',
        'total': total,
        'counts': values,
        'percent': {status: percent(values[status], total) for status in STATUSES},
        'status': _worst_status(present),
    }


def rollup(result: t.Any) -> list[dict[str, t.Any]]:
    """The summary table of a (merged) result: a row per check, an ``all`` row, then the run's stages.

    Check rows (``kind: check``, and one ``kind: total``): ``name``, ``label``, ``total``,
    ``counts`` and ``percent`` per status, ``status`` (the worst seen). Stage rows (``kind: stage``):
    ``name``, ``label``, ``count``, ``percent`` (None where it has no base) and ``base``.
    """
    stats = _stats(result)
    rows = []
    checks = stats.get('checks') or {}
    totals = dict.fromkeys(STATUSES, 0)
    for check in sorted(checks, key=_check_key):
        row = _check_row('check', check, checks[check])
        rows.append(row)
        for status in STATUSES:
            totals[status] += row['counts'][status]
    rows.append(_check_row('total', 'all', totals))
    refused = stats.get('refused_at') or {}
    refused_percent = stats.get('refused_at_percent') or {}
    for name, label, base in STAGE_ROWS:
        stage = name[len('refused_'):] if name.startswith('refused_') else None
        if stage is not None:
            if stage not in refused:
                continue
            count = refused[stage]
            share = refused_percent.get(stage, 0.0)
        else:
            if name not in stats:
                continue
            count = stats[name]
            if name == 'compliant' and 'compliant_percent' in stats:
                share = stats['compliant_percent']
            else:
                share = percent(count, stats.get(base) or 0) if base else None
        rows.append({'kind': 'stage', 'name': name, 'label': label, 'count': count, 'percent': share, 'base': base})
    return rows


# ---------------------------------------------------------------- formats


def _text(value: t.Any) -> str:
    return '' if value is None else str(value)


def _hidden(char: str) -> bool:
    return char not in _LAYOUT and (unicodedata.category(char) in _HIDDEN_CATEGORIES or ord(char) in _TAG_BLOCK)


def _escape(char: str) -> str:
    """Python's escape of a character: \\x1b, \\u202e, \\U000e0041."""
    code = ord(char)
    if code < 0x100:
        return '\\x%02x' % code
    if code < 0x10000:
        return '\\u%04x' % code
    return '\\U%08x' % code


def visible_text(value: t.Any) -> str:
    """The text with every character that changes its display or does not show written as its escape.

    ``550 5.1.1 user <U+202E>known<U+202C> ok`` becomes ``550 5.1.1 user \\u202eknown\\u202c ok``
    instead of displaying as "user nwonk ok": the way the transcripts already show control bytes
    (``\\x1b``, _protocol.printable). Tab, line feed and carriage return stay (see _HIDDEN_CATEGORIES).
    A backslash of the text itself stays as it is, as in the transcripts.
    """
    text = _text(value)
    if not _NOT_PLAIN.search(text):
        return text
    return ''.join(_escape(char) if _hidden(char) else char for char in text)


def _domains(result: t.Any) -> list[Mapping[str, t.Any]]:
    if not isinstance(result, Mapping) or not isinstance(result.get('domains'), (list, tuple)):
        raise ReportError('expected an audit result (a dict with domains), got %s' % type(result).__name__)
    return list(result['domains'])


def _csv_cell(value: t.Any) -> str:
    text = visible_text(value)
    # A spreadsheet runs a cell that starts like a formula; server text and domain names are not formulas.
    return "'" + text if text.startswith(_FORMULA_START) else text


def findings_csv(result: t.Any) -> str:
    """One CSV row per finding (RFC 4180 quoting, CRLF), after a header row of CSV_COLUMNS."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator='\r\n')
    writer.writerow(CSV_COLUMNS)
    for domain in _domains(result):
        for finding in _findings(domain.get('findings') or [], 'findings of %s' % domain.get('domain')):
            row = dict(finding, vantage_point=domain.get('vantage_point'), domain=finding.get('domain') or domain.get('domain'),
                       verdict=domain_verdict(domain))
            writer.writerow([_csv_cell(row.get(column)) for column in CSV_COLUMNS])
    return out.getvalue()


def xml_text(value: t.Any) -> str:
    """Text XML 1.0 can carry: characters it forbids (even escaped) become U+FFFD. Escaping is the template's."""
    return _XML_INVALID.sub('\ufffd', _text(value))


def _junit_text(value: t.Any) -> str:
    """Hidden characters as escapes first (a NUL reads \\x00, not U+FFFD); xml_text for what is left (U+FFFE)."""
    return xml_text(visible_text(value))


def _case_name(check: str, group: Mapping[str, t.Any], vantage: str | None) -> str:
    name = check
    if group['address']:
        name += ' ' + _text(group['address'])
    if group['mx']:
        name += ' (%s)' % _text(group['mx'])
    if vantage:
        name += ' from ' + vantage
    return name


def _case_body(findings: list[Mapping[str, t.Any]], statuses: tuple[str, ...]) -> str:
    lines = []
    for finding in findings:
        if finding['status'] not in statuses:
            continue
        lines.append('[%s] %s %s (%s): %s' % (finding['status'].upper(), _text(finding.get('rule')),
                                              _text(finding.get('level')), _text(finding.get('rfc')),
                                              _text(finding.get('summary'))))
        lines.extend('    ' + _text(line) for line in finding.get('transcript') or [])
    return _junit_text('\n'.join(lines))


def _verdict_case(domain: Mapping[str, t.Any], vantage: str | None) -> dict[str, t.Any]:
    """The first case of a domain's suite: its verdict - noncompliant a failure, unverified an error."""
    verdict = domain_verdict(domain)
    outcome = {NONCOMPLIANT: 'failure', UNVERIFIED: 'error'}.get(verdict, 'pass')
    message = ''
    if verdict == NONCOMPLIANT:
        failed = sorted({_text(finding.get('rule')) for finding in domain.get('findings') or []
                         if isinstance(finding, Mapping) and finding.get('status') == FAIL
                         and (finding.get('level') in ('MUST', 'MUST NOT') or finding.get('severity') in ('high', 'critical'))})
        message = 'noncompliant: %s failed' % (', '.join(failed) if failed else 'a rule the policy counts')
    elif verdict == UNVERIFIED:
        undecided = [_text(rule) for rule in domain.get('undecided_rules') or []]
        message = 'unverified: not decided at any address: %s' % (', '.join(undecided) if undecided else 'the rules the policy counts')
    coverage = domain.get('coverage') or {}
    return {
        'classname': _junit_text(domain.get('domain')),
        'name': _junit_text('verdict' + (' from ' + vantage if vantage else '')),
        'status': verdict,
        'outcome': outcome,
        'message': _junit_text(message),
        'body': _junit_text(message),
        'out': _junit_text('coverage: %s of %s rule-address cells decided' % (coverage.get('decided', '?'), coverage.get('probed', '?'))),
        'properties': [],
    }


def junit_cases(result: t.Any) -> dict[str, t.Any]:
    """The JUnit view: a test suite per domain (and vantage point), a test case per check and MX address.

    The first case of each suite is the domain's verdict: ``noncompliant`` -> failure, ``unverified`` -> error.
    A check case's outcome is the worst status of its findings: ``fail`` -> failure, ``error`` -> error,
    ``skipped`` -> skipped; ``inconclusive`` and ``warn`` pass with a note (``out``). Every text shows
    its hidden characters as escapes and is XML-safe (_junit_text), but is not XML-escaped.
    """
    domains = _domains(result)
    tls_facts: dict[tuple[int, str, str], Mapping[str, t.Any]] = {}
    policy_facts: dict[tuple[int, str, str, str], Mapping[str, t.Any]] = {}
    for domain_index, domain in enumerate(domains):
        for row in _domain_tls_rows(domain, result.get('generated')):
            tls_facts.setdefault((domain_index, _text(row['mx']), _text(row['address'])), row)
        for row in _domain_policy_rows(domain):
            policy_facts.setdefault((domain_index, row['kind'], _text(row['mx']), _text(row['address'])), row)
    # Without sharding a domain is audited from every vantage point: only then does a name need the vantage point.
    names = [_text(domain.get('domain')) for domain in domains]
    several = len(set(names)) < len(names)
    suites = []
    totals = dict(tests=0, failures=0, errors=0, skipped=0)
    for domain_index, domain in enumerate(domains):
        vantage = _text(domain.get('vantage_point')) or None
        cases: dict[tuple[str, str, str], dict[str, t.Any]] = {}
        for finding in _findings(domain.get('findings') or [], 'findings of %s' % domain.get('domain')):
            check = _text(finding.get('check')) or _text(finding.get('rule'))
            key = (check, _text(finding.get('mx')), _text(finding.get('address')))
            case = cases.setdefault(key, {'check': check, 'mx': finding.get('mx'), 'address': finding.get('address'),
                                          'findings': []})
            case['findings'].append(finding)
        suite_cases = [_verdict_case(domain, vantage if several else None)]
        for case in sorted(cases.values(), key=lambda case: _check_key(case['check'])):
            status = _worst_status(case['findings']) or PASS
            outcome = {FAIL: 'failure', ERROR: 'error', SKIPPED: 'skipped'}.get(status, 'pass')
            noted = [finding['summary'] for finding in case['findings'] if finding['status'] == status]
            out = _case_body(case['findings'], (INCONCLUSIVE, WARN)) if outcome in ('pass', 'failure', 'error') else ''
            facts = tls_facts.get((domain_index, _text(case['mx']), _text(case['address']))) if case['check'] == TLS_CHECK else None
            policy = (policy_facts.get((domain_index, case['check'], _text(case['mx']), _text(case['address'])))
                      if case['check'] in (DANE_CHECK, STS_CHECK) else None)
            if facts is not None:
                out = '\n'.join(part for part in (_junit_text(tls_summary(facts)), out) if part)
            if policy is not None:
                out = '\n'.join(part for part in (_junit_text(policy_summary(policy)), out) if part)
            suite_cases.append({
                'classname': _junit_text(domain.get('domain')),
                'name': _junit_text(_case_name(case['check'], case, vantage if several else None)),
                'status': status,
                'outcome': outcome,
                'message': _junit_text('; '.join(_text(summary) for summary in noted)) if status != PASS else '',
                'body': _case_body(case['findings'], (FAIL, ERROR) if outcome in ('failure', 'error') else ()),
                'out': out,
                'properties': (_tls_properties(facts) if facts is not None
                               else _policy_properties(policy) if policy is not None else []),
            })
        counts = dict(tests=len(suite_cases), failures=sum(1 for case in suite_cases if case['outcome'] == 'failure'),
                      errors=sum(1 for case in suite_cases if case['outcome'] == 'error'),
                      skipped=sum(1 for case in suite_cases if case['outcome'] == 'skipped'))
        for key, value in counts.items():
            totals[key] += value
        name = _text(domain.get('domain')) + (' from ' + vantage if several and vantage else '')
        suites.append(dict(counts, name=_junit_text(name), vantage_point=_junit_text(vantage), cases=suite_cases))
    return dict(totals, suites=suites)


def _markdown_plain(text: str) -> str:
    text = _MARKDOWN_SPECIAL.sub(r'\\\1', text)
    text = _URL_COLON.sub(r'\\:', text)
    return _WWW_DOT.sub(r'\1\\.', text)


def markdown_escape(value: t.Any) -> str:
    """Inline Markdown text (a table cell, a list item) that renders as the text itself, on one line.

    Hidden characters as escapes (visible_text, before white space is folded: str.split() would take
    U+2028 for a space), markup characters backslash-escaped, and no autolink: the ':' of '://' and the
    '.' of 'www.' escaped, addresses and @names in code spans (see _URL_COLON).
    """
    text = ' '.join(visible_text(value).split())
    parts: list[str] = []
    end = 0
    for match in _ADDRESS.finditer(text):
        parts.append(_markdown_plain(text[end:match.start()]))
        parts.append('`%s`' % match.group())
        end = match.end()
    parts.append(_markdown_plain(text[end:]))
    return ''.join(parts)


def markdown_code(lines: t.Any) -> str:
    """A fenced code block whose fence is longer than any run of backticks in the text, so nothing closes it early.

    Hidden characters are shown as escapes (visible_text); nothing in a code block becomes a link.
    """
    if isinstance(lines, str):
        # Escaped first: splitlines() would also break at U+2028, U+0085 and the like, unseen.
        lines = visible_text(lines).splitlines()
    text = '\n'.join(visible_text(line) for line in lines or [])
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = '`' * max(3, longest + 1)
    return '%s\n%s\n%s' % (fence, text, fence)


# ---------------------------------------------------------------- TLS


def _moment(value: t.Any) -> datetime.datetime | None:
    """An ISO 8601 UTC time (``2025-06-01T02:00:00Z``) as an aware datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(value[:-1] + '+00:00' if value.endswith('Z') else value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def days_left(not_after: t.Any, now: t.Any) -> int | None:
    """Whole days from ``now`` to ``not_after`` (both ISO 8601), rounded down: 0 on the last day, negative once expired."""
    end, start = _moment(not_after), _moment(now)
    if end is None or start is None:
        return None
    return int((end - start).total_seconds() // 86400)


def _domain_tls_rows(domain: Mapping[str, t.Any], now: t.Any) -> list[dict[str, t.Any]]:
    """The TLS rows of one domain entry (see tls_rows)."""
    entries = domain.get('tls')
    if entries is None:
        return []
    if not isinstance(entries, (list, tuple)):
        raise ReportError('tls of %s: expected a list, got %s' % (domain.get('domain'), type(entries).__name__))
    by_address: dict[tuple[str, str], list[Mapping[str, t.Any]]] = {}
    for finding in _findings(domain.get('findings') or [], 'findings of %s' % domain.get('domain')):
        if finding.get('check') == TLS_CHECK:
            by_address.setdefault((_text(finding.get('mx')), _text(finding.get('address'))), []).append(finding)
    rows = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ReportError('tls[%d] of %s: expected a dict, got %r' % (index, domain.get('domain'), entry))
        row: dict[str, t.Any] = {'domain': domain.get('domain'), 'vantage_point': domain.get('vantage_point')}
        row.update((key, entry.get(key)) for key in TLS_FIELDS)
        if row['dns_names'] is not None:
            row['dns_names'] = [_text(name) for name in row['dns_names']]
        row['days_left'] = days_left(entry.get('not_after'), now)
        row['status'] = _worst_status(by_address.get((_text(entry.get('mx')), _text(entry.get('address'))), []))
        rows.append(row)
    return rows


def tls_rows(result: t.Any) -> list[dict[str, t.Any]]:
    """The TLS section: a row per domain (and vantage point) and MX address, from each domain's ``tls`` list.

    Each row: ``domain``, ``vantage_point``, the TLS_FIELDS as the audit module gave them (None where nothing
    was learnt), ``days_left`` (to ``not_after`` from the result's ``generated``, None without either) and
    ``status``, the worst status of the domain's tls findings at that address. Domains without a ``tls``
    list (the check did not run) give no rows. The text is the servers': not escaped here.
    """
    domains = _domains(result)
    return [row for domain in domains for row in _domain_tls_rows(domain, result.get('generated'))]


def _yes_no(value: t.Any) -> str:
    return '' if value is None else ('yes' if value else 'no')


def tls_csv(result: t.Any) -> str:
    """tls.csv: one row per domain (and vantage point) and MX address after a header row of TLS_CSV_COLUMNS.

    Quoting and formula protection as in findings_csv; booleans are ``yes``/``no``, empty when not learnt;
    ``dns_names`` are separated by spaces.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator='\r\n')
    writer.writerow(TLS_CSV_COLUMNS)
    for row in tls_rows(result):
        cells = dict(row, starttls=_yes_no(row['starttls']), trusted=_yes_no(row['trusted']),
                     dns_names=' '.join(row['dns_names'] or []))
        writer.writerow([_csv_cell(cells.get(column)) for column in TLS_CSV_COLUMNS])
    return out.getvalue()


def tls_summary(row: Mapping[str, t.Any]) -> str:
    """One line of what TLS showed at an address, for JUnit's system-out (not escaped)."""
    if row.get('starttls') is None:
        return 'TLS: nothing learnt (the session did not get that far)'
    if not row.get('starttls'):
        return 'TLS: STARTTLS not offered'
    if not row.get('protocol'):
        return 'TLS: STARTTLS offered; no TLS session was established'
    text = 'TLS: %s with %s' % (_text(row['protocol']), _text(row.get('cipher')) or '?')
    if row.get('subject') is not None or row.get('issuer') is not None:
        text += '; certificate subject %s, issuer %s' % (_text(row.get('subject')), _text(row.get('issuer')))
    if row.get('not_after'):
        left = row.get('days_left')
        text += ', expires %s%s' % (_text(row['not_after']), '' if left is None else ' (%d days left)' % left)
    if row.get('trusted') is not None:
        text += ', trusted: %s' % _yes_no(row['trusted'])
    return text


def _tls_properties(row: Mapping[str, t.Any]) -> list[dict[str, str]]:
    keys = ('starttls', 'protocol', 'cipher', 'subject', 'issuer', 'not_before', 'not_after', 'days_left', 'trusted')
    values = {key: row.get(key) for key in keys}
    values['starttls'], values['trusted'] = _yes_no(values['starttls']), _yes_no(values['trusted'])
    values['dns_names'] = ' '.join(row.get('dns_names') or [])
    return [{'name': 'tls.' + key, 'value': _junit_text(value)} for key, value in values.items()
            if value is not None and value != '']


# ---------------------------------------------------------------- the DANE and MTA-STS section


def _texts(value: t.Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ReportError('%s: expected a list, got %s' % (what, type(value).__name__))
    return [_text(item) for item in value]


def _flag(value: t.Any) -> bool | None:
    return None if value is None else bool(value)


def _policy_row(domain: Mapping[str, t.Any], kind: str) -> dict[str, t.Any]:
    row: dict[str, t.Any] = dict.fromkeys(POLICY_FIELDS)
    row.update(domain=domain.get('domain'), vantage_point=domain.get('vantage_point'), kind=kind)
    return row


def _domain_policy_rows(domain: Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """The DANE and MTA-STS rows of one domain entry (see policy_rows)."""
    name = domain.get('domain')
    sts, entries = domain.get('mta_sts'), domain.get('dane')
    if sts is None and entries is None:
        return []
    if sts is not None and not isinstance(sts, Mapping):
        raise ReportError('mta_sts of %s: expected a dict, got %s' % (name, type(sts).__name__))
    if entries is not None and not isinstance(entries, (list, tuple)):
        raise ReportError('dane of %s: expected a list, got %s' % (name, type(entries).__name__))
    findings = _findings(domain.get('findings') or [], 'findings of %s' % name)
    rows = []
    if sts is not None:
        row = _policy_row(domain, STS_CHECK)
        row.update(status=_worst_status([f for f in findings if f.get('check') == STS_CHECK]),
                   published=_flag(sts.get('published')), id=sts.get('id'), fetched=_flag(sts.get('fetched')),
                   mode=sts.get('mode'), max_age=sts.get('max_age'),
                   mx_patterns=_texts(sts.get('mx'), 'mta_sts.mx of %s' % name),
                   rua=_texts(sts.get('rua'), 'mta_sts.rua of %s' % name))
        rows.append(row)
    by_address: dict[tuple[str, str], list[Mapping[str, t.Any]]] = {}
    for finding in findings:
        if finding.get('check') == DANE_CHECK:
            by_address.setdefault((_text(finding.get('mx')), _text(finding.get('address'))), []).append(finding)
    for index, entry in enumerate(entries or []):
        if not isinstance(entry, Mapping):
            raise ReportError('dane[%d] of %s: expected a dict, got %r' % (index, name, entry))
        row = _policy_row(domain, DANE_CHECK)
        row.update(mx=entry.get('mx'), address=entry.get('address'), published=_flag(entry.get('published')),
                   dnssec=entry.get('dnssec'), tlsa=_texts(entry.get('tlsa'), 'dane[%d].tlsa of %s' % (index, name)),
                   matched=entry.get('matched'),
                   status=_worst_status(by_address.get((_text(entry.get('mx')), _text(entry.get('address'))), [])))
        rows.append(row)
    return rows


def policy_rows(result: t.Any) -> list[dict[str, t.Any]]:
    """The DANE and MTA-STS section: per domain (and vantage point) a ``mta_sts`` row, then a ``dane`` row per MX address.

    Each row has every key of POLICY_FIELDS (None where it does not apply or was not learnt): ``kind``
    (mta_sts or dane), ``status`` (the worst status of the domain's findings of that check - at that MX
    host and address for dane), ``published`` (None: unknown), for dane ``dnssec``, ``tlsa`` and ``matched``,
    for mta_sts ``id``, ``fetched``, ``mode``, ``max_age``, ``mx_patterns`` and ``rua`` (None: not looked up).
    A domain without ``mta_sts`` and ``dane`` gives no rows. The text is the domains': not escaped here.
    """
    return [row for domain in _domains(result) for row in _domain_policy_rows(domain)]


def policy_csv(result: t.Any) -> str:
    """policy.csv: one row per policy_rows row after a header row of POLICY_CSV_COLUMNS.

    Quoting and formula protection as in findings_csv; booleans ``yes``/``no`` (empty: unknown or not applicable);
    TLSA records separated by ``; ``, mx patterns and rua URIs by spaces.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator='\r\n')
    writer.writerow(POLICY_CSV_COLUMNS)
    for row in policy_rows(result):
        cells = dict(row, published=_yes_no(row['published']), fetched=_yes_no(row['fetched']),
                     tlsa='; '.join(row['tlsa'] or []), mx_patterns=' '.join(row['mx_patterns'] or []),
                     rua=' '.join(row['rua'] or []))
        writer.writerow([_csv_cell(cells.get(column)) for column in POLICY_CSV_COLUMNS])
    return out.getvalue()


def policy_summary(row: Mapping[str, t.Any]) -> str:
    """One line of what a policy row shows, for JUnit's system-out (not escaped)."""
    if row.get('kind') == DANE_CHECK:
        if row.get('published') is None:
            return 'DANE: unknown'
        if not row.get('published'):
            return 'DANE: no TLSA record published (DNSSEC %s)' % _text(row.get('dnssec'))
        records = '; '.join(row.get('tlsa') or [])
        return 'DANE: TLSA %s (DNSSEC %s); matched: %s' % (records, _text(row.get('dnssec')), _text(row.get('matched')) or 'none')
    if row.get('published') is None:
        text = 'MTA-STS: unknown (the TXT lookup failed)'
    elif not row.get('published'):
        text = 'MTA-STS: not published'
    elif not row.get('fetched'):
        text = 'MTA-STS: id %s; no policy fetched' % (_text(row.get('id')) or 'invalid')
    else:
        text = 'MTA-STS: id %s; mode %s, max_age %s, mx %s' % (
            _text(row.get('id')) or 'invalid', _text(row.get('mode')), _text(row.get('max_age')),
            ' '.join(row.get('mx_patterns') or []) or 'none')
    if row.get('rua') is not None:
        text += '; TLS-RPT rua: %s' % (' '.join(row['rua']) or 'none')
    return text


def _policy_properties(row: Mapping[str, t.Any]) -> list[dict[str, str]]:
    if row.get('kind') == DANE_CHECK:
        keys: tuple[str, ...] = ('published', 'dnssec', 'tlsa', 'matched')
    else:
        keys = ('published', 'id', 'fetched', 'mode', 'max_age', 'mx_patterns', 'rua')
    values = {key: row.get(key) for key in keys}
    for key in ('published', 'fetched'):
        if key in values:
            values[key] = _yes_no(values[key])
    for key, glue in (('tlsa', '; '), ('mx_patterns', ' '), ('rua', ' ')):
        if values.get(key) is not None:
            values[key] = glue.join(values[key])
    return [{'name': '%s.%s' % (row['kind'], key), 'value': _junit_text(value)} for key, value in values.items()
            if value is not None and value != '']


# ---------------------------------------------------------------- filter plugins


def filter_table(error: type[Exception], **functions: Callable[..., t.Any]) -> dict[str, Callable[..., t.Any]]:
    """The FilterModule.filters() table of plugins/filter/: each function under its filter name.

    A ReportError becomes ``error`` (the plugin passes AnsibleFilterError: module_utils code does
    not import the controller's ansible.errors) with the filter's full name before the message, so
    that a failing template says which filter refused what. functools.wraps keeps the function's
    name, docstring and signature for Ansible and for tracebacks.
    """
    def wrap(name: str, function: Callable[..., t.Any]) -> Callable[..., t.Any]:
        @functools.wraps(function)
        def run(*args: t.Any, **kwargs: t.Any) -> t.Any:
            try:
                return function(*args, **kwargs)
            except ReportError as exc:
                raise error('mxaudit.smtp.%s: %s' % (name, exc)) from exc
        return run
    return {name: wrap(name, function) for name, function in functions.items()}
