# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.
"""Result shaping and serialisation: findings and domains as the modules return them, and the JSON result file."""

from __future__ import annotations

import json
import os
import tempfile
import typing as t

from .._findings import FAIL, Finding
from .._verdict import COMPLIANT, UNVERIFIED
from .targets import DomainResult, mx_targets


def finding_dict(finding: Finding, transcripts: str) -> dict[str, t.Any]:
    data = finding.to_dict()
    if transcripts == 'none' or (transcripts == 'failures' and (finding.status != FAIL or not finding.transcript_owner)):
        data['transcript'] = []
    return data


def records_in_mx_order(result: DomainResult, check: str) -> list[tuple[t.Any, t.Any]]:
    """The (target, record) pairs a check kept for a domain, in MX order (preference, then address order)."""
    order = {(target.mx, target.address): index for index, target in enumerate(mx_targets(result.mx))} if result.mx else {}
    pairs = result.records.get(check, [])
    return sorted(pairs, key=lambda pair: order.get((pair[0].mx, pair[0].address), len(order)))


def tls_list(result: DomainResult) -> list[dict[str, t.Any]]:
    """The audit module's ``tls`` field: one entry per MX address the tls check probed (_checks/tls.TLSRecord)."""
    return [record.to_dict(target) for target, record in records_in_mx_order(result, 'tls')]


def dane_list(result: DomainResult) -> list[dict[str, t.Any]]:
    """The audit module's ``dane`` field: one entry per MX host and address the dane check judged (_checks/dane.DaneRecord)."""
    return [record.to_dict(target) for target, record in records_in_mx_order(result, 'dane')]


def mta_sts_dict(result: DomainResult) -> dict[str, t.Any] | None:
    """The audit module's ``mta_sts`` field (_checks/mta_sts.StsRecord), None when the check looked nothing up."""
    pairs = result.records.get('mta_sts')
    return pairs[0][1].to_dict() if pairs else None


def domain_dict(result: DomainResult, transcripts: str, checks: t.Sequence[str] = ()) -> dict[str, t.Any]:
    """The fields every module returns per domain; modules add their own (see _module_runner.py).

    With the tls check among ``checks``, also ``tls`` (see tls_list); with dane, ``dane`` (dane_list); with
    mta_sts, ``mta_sts`` when the check looked the domain up (mta_sts_dict).
    """
    verdict = result.verdict.verdict if result.verdict is not None else UNVERIFIED
    data: dict[str, t.Any] = {
        'domain': result.domain,
        'mx': result.mx.to_dict() if result.mx is not None else [],
        'findings': [finding_dict(finding, transcripts) for finding in result.findings],
        'verdict': verdict,
        'compliant': verdict == COMPLIANT,
        'coverage': result.verdict.coverage if result.verdict is not None else {'decided': 0, 'probed': 0, 'percent': 0.0},
    }
    if result.verdict is not None and result.verdict.undecided_rules:
        data['undecided_rules'] = list(result.verdict.undecided_rules)
    if 'tls' in checks:
        data['tls'] = tls_list(result)
    if 'dane' in checks:
        data['dane'] = dane_list(result)
    if 'mta_sts' in checks:
        policy = mta_sts_dict(result)
        if policy is not None:
            data['mta_sts'] = policy
    return data


def write_json(path: str, head: dict[str, t.Any], domains: t.Iterable[dict[str, t.Any]]) -> None:
    """The result as JSON, one domain at a time, written to a temporary file beside ``path`` and renamed."""
    directory = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile('w', encoding='utf-8', dir=directory, prefix='.mxaudit-', suffix='.tmp',
                                         delete=False)
    try:
        with handle:
            fields = ', '.join('%s: %s' % (json.dumps(key), json.dumps(value)) for key, value in head.items())
            handle.write('{%s, "domains": [' % fields)
            for index, domain in enumerate(domains):
                handle.write((',\n' if index else '\n') + json.dumps(domain))
            handle.write('\n]}\n')
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(handle.name, 0o666 & ~mask)  # what open() would have given it
        os.replace(handle.name, path)
    except BaseException:
        try:
            os.unlink(handle.name)
        except OSError:
            pass
        raise
