# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""DANE-1 to DANE-3: SMTP security via DANE TLSA records (RFC 7672, RFC 6698, RFC 7671).

Per domain, at every address of each MX host (scope HOST: a finding is
judged from this domain's MX host name, never another's):

1. ``_25._tcp.<mx host> TLSA`` with DNSSEC OK through the configured
   resolver (``Resolver.secure_lookup``, cached per run). No TLSA: every
   rule ``skipped`` as not applicable, and no session. DNSSEC status comes
   from the AD bit, as Postfix takes it; an answer without AD is told apart
   (insecure zone, or a resolver that does not validate) by asking whether
   any zone above the name answers with AD (``Resolver.validates``).
2. The domain's MX RRset and the host's A (or AAAA) RRset with DO: DANE
   applies only when they are secure too (RFC 7672 2.2.1, 2.2.2).
3. When the TLSA records are usable: the certificate chain the address
   presents after STARTTLS (``starttls.presented_once``: one session per MX
   host name and address per run, shared with the other policy checks),
   matched record by record (``_dane.match_chain``).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from .. import _dane as dane
from .._dns import SecureLookup, relative
from .._findings import ERROR, FAIL, INCONCLUSIVE, PASS, SKIPPED, WARN, Finding, Rule, define_rules
from . import starttls
from .probe import CheckOutcome, ProbeSettings, Target

CHECK = 'dane'
RULES = define_rules(CHECK, (
    Rule('DANE-1', 'MUST', 'high', 'RFC 7672 2.1, 2.2, 3.1.3',
         'TLSA records at _25._tcp.<MX host> are DNSSEC-validated (not bogus), the MX RRset is secure, '
         'and the usages are DANE-TA(2) or DANE-EE(3)'),
    Rule('DANE-2', 'MUST', 'critical', 'RFC 7672 2.2, 3.1, 3.2, RFC 6698 2.1',
         'At every address of the MX host, STARTTLS works and a usable TLSA record matches the certificate presented'),
    Rule('DANE-3', 'BCP', 'low', 'RFC 7671 8.1, 8.4, RFC 7672 3.1',
         'Rollover readiness: two DANE-EE records, or a DANE-EE and a DANE-TA record'),
))

NOT_PUBLISHED = 'not published'

# The record of one (MX host, address), for the reports: at most RECORD_TLSA records, each at most RECORD_TEXT_CHARS.
RECORD_TLSA = 8
RECORD_TEXT_CHARS = 160
SECURE, INSECURE, BOGUS, UNKNOWN = 'secure', 'insecure', 'bogus', 'unknown'


def _bounded(text: str) -> str:
    return text if len(text) <= RECORD_TEXT_CHARS else text[:RECORD_TEXT_CHARS - 3] + '...'


@dataclass
class DaneRecord:
    """What the dane check learnt at one address of one MX host: facts, never parsed back from a summary.

    ``tlsa``: the TLSA records as DNS text (TLSA.text(), data abbreviated; an unparsable one as given).
    ``dnssec``: of the TLSA answer - secure (AD), insecure (no AD from a validating resolver), bogus, or unknown
    (a failed lookup, or no AD and the resolver's validation not established). ``matched``: the usable record
    that matched the certificate presented (None: none did, or none was matched).
    """

    tlsa: list[str] = field(default_factory=list)
    tlsa_total: int = 0
    dnssec: str = UNKNOWN
    matched: str | None = None

    @property
    def published(self) -> bool:
        return self.tlsa_total > 0

    def to_dict(self, target: Target) -> dict[str, t.Any]:
        """One entry of a domain's ``dane`` list; without TLSA records only mx, address, published and dnssec."""
        data: dict[str, t.Any] = {'mx': target.mx, 'address': target.address, 'published': self.published,
                                  'dnssec': self.dnssec}
        if self.published:
            data.update(tlsa=list(self.tlsa), tlsa_total=self.tlsa_total, matched=self.matched)
        return data


def dnssec_status(tlsa: SecureLookup, validates: bool | None) -> str:
    """The DNSSEC status of a TLSA answer (``validates``: whether the resolver validates, None when not asked)."""
    if tlsa.bogus:
        return BOGUS
    if tlsa.error:
        return UNKNOWN
    if tlsa.secure:
        return SECURE
    return INSECURE if validates else UNKNOWN


def make_record(tlsa: SecureLookup, validates: bool | None) -> DaneRecord:
    texts = []
    for text in tlsa.records[:RECORD_TLSA]:
        parsed = dane.parse_tlsa(text)
        texts.append(_bounded(parsed.text() if parsed is not None else text))
    return DaneRecord(tlsa=texts, tlsa_total=len(tlsa.records), dnssec=dnssec_status(tlsa, validates))


def tlsa_name(mx_host: str) -> str:
    return '_25._tcp.%s' % relative(mx_host).lower()


def _finding(rule: str, status: str, summary: str, target: Target, transcript: t.Sequence[str],
             applies: bool = True) -> Finding:
    return Finding(rule=rule, status=status, summary=summary, domain=target.domain, mx=target.mx,
                   address=target.address, transcript=list(transcript), applies=applies)


def _evidence(name: str, rdtype: str, found: SecureLookup) -> str:
    return '** DNS %s %s (DO): %s' % (name, rdtype, found.describe())


# ---------------------------------------------------------------- judges (pure)

def judge_tlsa(name: str, tlsa: SecureLookup, validates: bool | None, mx_rrset: SecureLookup | None,
               domain: str, host_addresses: SecureLookup | None = None) -> tuple[str, str, list[dane.TLSA]]:
    """DANE-1 from the TLSA answer, whether the resolver validates, the domain's MX answer and the host's address answer.

    Returns (status, summary, usable records). ``usable`` is empty unless DANE applies (TLSA secure,
    MX RRset secure, some record of usage 2 or 3).
    """
    if tlsa.bogus:
        extra = ' (EDE %s)' % ', '.join('%d%s' % (code, ' %s' % text if text else '') for code, text in tlsa.ede) if tlsa.ede else ''
        return (FAIL, 'TLSA at %s is bogus: the resolver answered SERVFAIL, and with checking disabled the records are '
                'there%s; DANE senders defer all mail to this host (RFC 7672 2.1.1)' % (name, extra), [])
    if tlsa.error:
        return ERROR, 'TLSA lookup of %s failed: %s' % (name, tlsa.error), []
    if tlsa.nxdomain or not tlsa.records:
        return SKIPPED, 'no TLSA record at %s: DANE %s' % (name, NOT_PUBLISHED), []
    records = [dane.parse_tlsa(text) for text in tlsa.records]
    parsed = [record for record in records if record is not None]
    if not tlsa.secure:
        if not validates:
            return (INCONCLUSIVE, 'DNSSEC status unknown: TLSA at %s came without AD, and no zone above it was answered with AD; '
                    'the configured resolver does not seem to validate DNSSEC' % name, [])
        return (WARN, 'TLSA at %s is not DNSSEC-validated (insecure: no AD from the validating resolver); senders ignore '
                'it (RFC 7672 2.2), DANE is not in effect' % name, [])
    if mx_rrset is not None:
        if mx_rrset.error:
            return ERROR, 'MX lookup of %s with DNSSEC failed: %s' % (domain, mx_rrset.error), []
        if not mx_rrset.secure:
            return (WARN, 'TLSA at %s is secure, but the MX RRset of %s is not DNSSEC-validated: DANE does not apply to '
                    'mail for %s (RFC 7672 2.2.1)' % (name, domain, domain), [])
    if host_addresses is not None:
        if host_addresses.error:
            return ERROR, 'address lookup of the MX host with DNSSEC failed: %s' % host_addresses.error, []
        if not host_addresses.secure:
            return (WARN, 'TLSA at %s is secure, but the MX host\'s address records are not DNSSEC-validated: senders do '
                    'not use its TLSA records (RFC 7672 2.2.2)' % name, [])
    usable = [record for record in parsed if record.usable]
    ignored = [record for record in parsed if record.usage in (dane.PKIX_TA, dane.PKIX_EE)]
    unknown = len(tlsa.records) - len(usable) - len(ignored)
    if not usable:
        return (WARN, 'TLSA at %s (DNSSEC-validated) has no usable record: %s; RFC 7672 3.1.3 ignores usages 0 and 1 for SMTP, '
                'senders require TLS but authenticate nothing' % (
                    name, ', '.join(record.text() for record in ignored) or '%d unusable record(s)' % len(tlsa.records)), [])
    notes = []
    if ignored:
        notes.append('usage 0/1 record(s) %s ignored (RFC 7672 3.1.3)' % ', '.join(record.text() for record in ignored))
    if unknown:
        notes.append('%d record(s) with an unknown usage, selector or matching type ignored' % unknown)
    summary = 'TLSA at %s is DNSSEC-validated (AD), the MX RRset is secure, %d usable record(s): %s' % (
        name, len(usable), ', '.join(record.text() for record in usable))
    if notes:
        return WARN, summary + '; ' + '; '.join(notes), usable
    return PASS, summary, usable


def judge_rollover(usable: t.Sequence[dane.TLSA]) -> tuple[str, str]:
    """DANE-3 from the usable records."""
    if dane.rollover_ready(usable):
        return PASS, 'rollover ready: %s' % ', '.join(record.text() for record in usable)
    return (WARN, 'only %s: a key or certificate change breaks DANE until the new TLSA is published and cached; publish '
            'the next key\'s DANE-EE record too (or a DANE-TA record) (RFC 7671 8.1)' % ', '.join(record.text() for record in usable))


def judge_presented(presented: starttls.Presented, usable: t.Sequence[dane.TLSA], reference: t.Sequence[str]) -> tuple[str, str]:
    """DANE-2 from what the address presented after STARTTLS."""
    status, summary, _matched = judge_match(presented, usable, reference)
    return status, summary


def judge_match(presented: starttls.Presented, usable: t.Sequence[dane.TLSA],
                reference: t.Sequence[str]) -> tuple[str, str, dane.TLSA | None]:
    """judge_presented, and the record that matched (None when none did)."""
    if presented.outcome in (starttls.NOT_OFFERED, starttls.HANDSHAKE_FAILED):
        return FAIL, '%s, but TLSA is published: DANE senders must not deliver in the clear and defer (RFC 7672 2.2)' % (
            presented.why_not()), None
    if presented.outcome == starttls.REFUSED:
        reply = presented.reply
        if reply is not None and reply.code_class == 5:
            return FAIL, '%s, but TLSA is published: DANE senders cannot deliver (RFC 7672 2.2)' % presented.why_not(), None
        return INCONCLUSIVE, '%s: a deferral decides nothing' % presented.why_not(), None
    if not presented.upgraded:
        return (presented.problem.status if presented.problem is not None else INCONCLUSIVE), presented.why_not(), None
    results = dane.match_chain(usable, presented.chain, reference)
    matched = [result for result in results if result.result == dane.MATCH]
    if matched:
        return PASS, matched[0].detail, matched[0].record
    unsupported = [result for result in results if result.result == dane.UNSUPPORTED]
    if unsupported:
        return SKIPPED, 'not judged: %s; no other record matched (%s)' % (
            unsupported[0].detail, '; '.join(result.detail for result in results if result.result == dane.NO_MATCH) or 'none'), None
    return FAIL, ('no usable TLSA record matches the certificate presented: %s; DANE senders defer all mail to this address'
                  % '; '.join(result.detail for result in results)), None


# ---------------------------------------------------------------- the probe

async def run_dane(target: Target, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point (scope HOST): one domain, one address of one of its MX hosts."""
    resolver = settings.resolver
    if not target.mx or resolver is None:
        why = ('not judged: no MX host name (explicit addresses): TLSA records belong to the MX host name'
               if not target.mx else 'not judged: the run has no resolver (explicit addresses without nameservers)')
        return CheckOutcome([_finding(rule, SKIPPED, why, target, [], applies=False) for rule in RULES])
    name = tlsa_name(target.mx)
    tlsa = await resolver.secure_lookup(name, 'TLSA')
    evidence = [_evidence(name, 'TLSA', tlsa)]
    validates = None
    mx_rrset = None
    if tlsa.records and not tlsa.error and not tlsa.secure:
        validates = await resolver.validates(name)
        evidence.append('** the resolver validates DNSSEC (AD above %s): %s' % (name, 'yes' if validates else 'no'))
    host_addresses = None
    if tlsa.records and tlsa.secure:
        if target.domain:
            mx_rrset = await resolver.secure_lookup(target.domain, 'MX')
            evidence.append(_evidence(relative(target.domain), 'MX', mx_rrset))
        family = 'AAAA' if ':' in target.address else 'A'
        host_addresses = await resolver.secure_lookup(target.mx, family)
        evidence.append(_evidence(relative(target.mx), family, host_addresses))
    status, summary, usable = judge_tlsa(name, tlsa, validates, mx_rrset, relative(target.domain or target.mx), host_addresses)
    findings = [_finding('DANE-1', status, summary, target, evidence, applies=status != SKIPPED)]
    record = make_record(tlsa, validates)
    if status == SKIPPED:
        findings += [_finding(rule, SKIPPED, summary, target, evidence, applies=False) for rule in ('DANE-2', 'DANE-3')]
        return CheckOutcome(findings, record)
    if not usable:
        # Bogus (DANE-1 fails), insecure, an insecure MX RRset or no usable record: nothing to match here.
        follow = INCONCLUSIVE if status in (INCONCLUSIVE, ERROR) else SKIPPED
        why = 'not judged: %s (DANE-1)' % summary if follow == INCONCLUSIVE else 'does not apply: see DANE-1'
        findings += [_finding(rule, follow, why, target, evidence, applies=follow != SKIPPED) for rule in ('DANE-2', 'DANE-3')]
        return CheckOutcome(findings, record)
    presented = await starttls.presented_once(target, settings)
    reference = [relative(target.mx).lower(), name[len('_25._tcp.'):]]
    status2, summary2, matched = judge_match(presented, usable, reference)
    record.matched = _bounded(matched.text()) if matched is not None else None
    findings.append(_finding('DANE-2', status2, summary2, target, evidence + presented.transcript))
    status3, summary3 = judge_rollover(usable)
    findings.append(_finding('DANE-3', status3, summary3, target, evidence))
    return CheckOutcome(findings, record)
