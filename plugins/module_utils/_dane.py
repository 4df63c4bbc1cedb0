# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""DANE TLSA matching (RFC 6698 2.1, RFC 7671, RFC 7672 3): pure functions, no I/O.

A TLSA record is (usage, selector, matching type, data). For SMTP only
usages 2 (DANE-TA) and 3 (DANE-EE) are usable (RFC 7672 3.1.3). The
selector picks what of a certificate is compared: 0 the full DER
certificate, 1 its SubjectPublicKeyInfo; the matching type says how: 0
exact, 1 SHA-256, 2 SHA-512.

- DANE-EE (3) is matched against the leaf alone; names and dates are
  ignored (RFC 7672 3.1.1).
- DANE-TA (2) is matched against a certificate of the presented chain
  other than the leaf (the server must include its trust anchor, RFC 7672
  3.1.2), the chain must lead from the leaf to it (each certificate signed
  by the next), and the leaf must be valid now and name the MX host or the
  TLSA base domain (RFC 7672 3.2.2, 3.2.3).

Selector 0 with matching 0/1/2 needs only hashlib; selector 1, the chain
signatures and the names need ``cryptography``. Without it those records
are ``unsupported``, with the reason, never a mismatch.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import typing as t
from dataclasses import dataclass

from ._tls import CERTIFICATE_ERRORS

CRYPTOGRAPHY_IMPORT_ERROR: str | None
try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
except ImportError:  # pragma: no cover - exercised by the tests with the import blocked
    CRYPTOGRAPHY_IMPORT_ERROR = 'the Python library cryptography is not installed'
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

PKIX_TA, PKIX_EE, DANE_TA, DANE_EE = 0, 1, 2, 3
USAGE_NAMES = {0: 'PKIX-TA', 1: 'PKIX-EE', 2: 'DANE-TA', 3: 'DANE-EE'}
SMTP_USAGES = (DANE_TA, DANE_EE)
SELECTORS = {0: 'full certificate', 1: 'SubjectPublicKeyInfo'}
MATCHING = {0: 'exact', 1: 'SHA-256', 2: 'SHA-512'}
_HEX = re.compile(r'^[0-9a-fA-F]*$')

MATCH = 'match'
NO_MATCH = 'no_match'
UNSUPPORTED = 'unsupported'


@dataclass(frozen=True)
class TLSA:
    usage: int
    selector: int
    mtype: int
    data: bytes

    def text(self) -> str:
        """The record as DNS presentation text (data abbreviated)."""
        hexdata = self.data.hex()
        shown = hexdata if len(hexdata) <= 16 else hexdata[:12] + '...'
        return '%d %d %d %s' % (self.usage, self.selector, self.mtype, shown)

    @property
    def usable(self) -> bool:
        """Usable for SMTP (RFC 7672 3.1): DANE-TA or DANE-EE, a known selector and matching type."""
        return self.usage in SMTP_USAGES and self.selector in SELECTORS and self.mtype in MATCHING


def parse_tlsa(text: str) -> TLSA | None:
    """A TLSA record from presentation text (``3 1 1 ab12...``, the data may be split by spaces); None if malformed."""
    parts = text.split()
    if len(parts) < 4:
        return None
    try:
        usage, selector, mtype = (int(part) for part in parts[:3])
    except ValueError:
        return None
    data = ''.join(parts[3:])
    if not all(0 <= value <= 255 for value in (usage, selector, mtype)) or not _HEX.match(data) or len(data) % 2:
        return None
    return TLSA(usage, selector, mtype, bytes.fromhex(data))


def digest(mtype: int, data: bytes) -> bytes:
    """The matching type applied to the selected bytes (RFC 6698 2.1.3)."""
    if mtype == 0:
        return data
    if mtype == 1:
        return hashlib.sha256(data).digest()
    if mtype == 2:
        return hashlib.sha512(data).digest()
    raise ValueError('unknown matching type %d' % mtype)


def spki(der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of a DER certificate (needs cryptography)."""
    if CRYPTOGRAPHY_IMPORT_ERROR is not None:
        raise RuntimeError(CRYPTOGRAPHY_IMPORT_ERROR)
    certificate = x509.load_der_x509_certificate(der)
    return certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def selected(der: bytes, selector: int) -> bytes:
    """What the selector picks of a DER certificate (RFC 6698 2.1.2)."""
    if selector == 0:
        return der
    if selector == 1:
        return spki(der)
    raise ValueError('unknown selector %d' % selector)


def association(der: bytes, selector: int, mtype: int) -> bytes:
    """The association data a TLSA record with this selector and matching type has for a certificate."""
    return digest(mtype, selected(der, selector))


def needs_cryptography(record: TLSA) -> bool:
    return record.selector == 1 or record.usage == DANE_TA


def matches_certificate(record: TLSA, der: bytes) -> bool:
    """The record's data equal the certificate's, under its selector and matching type."""
    return association(der, record.selector, record.mtype) == record.data


def _name_matches(pattern: str, name: str) -> bool:
    """RFC 7672 3.2.3 / RFC 6125 6.4.3: exact, or a wildcard as the whole left-most label."""
    pattern = pattern.rstrip('.').lower()
    name = name.rstrip('.').lower()
    if pattern == name:
        return True
    if pattern.startswith('*.') and '.' in name:
        return name.split('.', 1)[1] == pattern[2:] and '*' not in pattern[2:]
    return False


def certificate_names(der: bytes) -> list[str]:
    """The dNSName SANs of a DER certificate, or its subject CN when it has none (RFC 7672 3.2.3 allows the CN)."""
    certificate = x509.load_der_x509_certificate(der)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return [attribute.value for attribute in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
                if isinstance(attribute.value, str)]
    return list(san.value.get_values_for_type(x509.DNSName))


def names_match(der: bytes, reference: t.Sequence[str]) -> bool:
    """The leaf names one of the reference identifiers (the MX host name, the TLSA base domain)."""
    return any(_name_matches(pattern, name) for pattern in certificate_names(der) for name in reference if name)


def _issued_by(der: bytes, issuer_der: bytes) -> bool:
    certificate = x509.load_der_x509_certificate(der)
    issuer = x509.load_der_x509_certificate(issuer_der)
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):  # a bad signature, another issuer name, an unsupported key
        return False
    return True


def _valid_now(der: bytes, now: datetime.datetime) -> bool:
    certificate = x509.load_der_x509_certificate(der)
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


@dataclass(frozen=True)
class Match:
    """How one usable record fared against a presented chain."""

    record: TLSA
    result: str          # MATCH, NO_MATCH, UNSUPPORTED
    detail: str


def match_record(record: TLSA, chain: t.Sequence[bytes], reference: t.Sequence[str],
                 now: datetime.datetime | None = None) -> Match:
    """One usable record against the chain (DER, leaf first) under RFC 7672 3.1.1 / 3.1.2 / 3.2.

    The chain is the server's bytes: a certificate cryptography cannot read is no match, said so, never a crash.
    """
    try:
        return _match_record(record, chain, reference, now)
    except CERTIFICATE_ERRORS as exc:
        return Match(record, NO_MATCH, '%s %s: a certificate of the presented chain cannot be read (%s)'
                     % (USAGE_NAMES.get(record.usage, str(record.usage)), record.text(), exc))


def _match_record(record: TLSA, chain: t.Sequence[bytes], reference: t.Sequence[str],
                  now: datetime.datetime | None) -> Match:
    if not chain:
        return Match(record, NO_MATCH, 'no certificate presented')
    if needs_cryptography(record) and CRYPTOGRAPHY_IMPORT_ERROR is not None:
        return Match(record, UNSUPPORTED, '%s needs %s' % (
            'selector 1 (SubjectPublicKeyInfo)' if record.selector == 1 else 'usage 2 (DANE-TA)', CRYPTOGRAPHY_IMPORT_ERROR))
    what = '%s of the %%s' % SELECTORS[record.selector]
    if record.usage == DANE_EE:
        if matches_certificate(record, chain[0]):
            return Match(record, MATCH, 'DANE-EE %s matches the %s' % (record.text(), what % 'leaf certificate'))
        return Match(record, NO_MATCH, 'DANE-EE %s does not match the %s' % (record.text(), what % 'leaf certificate'))
    # DANE-TA: a trust anchor in the chain (not the leaf), the chain leading to it, the leaf's names and dates.
    anchors = [index for index in range(1, len(chain)) if matches_certificate(record, chain[index])]
    if not anchors:
        return Match(record, NO_MATCH, 'DANE-TA %s matches no issuer certificate of the presented chain (%d certificate%s; '
                     'the server must present its trust anchor, RFC 7672 3.1.2)'
                     % (record.text(), len(chain), '' if len(chain) == 1 else 's'))
    anchor = anchors[0]
    for index in range(anchor):
        if not _issued_by(chain[index], chain[index + 1]):
            return Match(record, NO_MATCH, 'DANE-TA %s matches certificate %d of the chain, but certificate %d is not '
                         'signed by certificate %d' % (record.text(), anchor + 1, index + 1, index + 2))
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    if not _valid_now(chain[0], moment):
        return Match(record, NO_MATCH, 'DANE-TA %s matches the chain, but the leaf certificate is not valid now' % record.text())
    if not names_match(chain[0], reference):
        return Match(record, NO_MATCH, 'DANE-TA %s matches the chain, but the leaf names (%s) cover none of %s (RFC 7672 3.2.3)'
                     % (record.text(), ', '.join(certificate_names(chain[0])) or 'none', ', '.join(n for n in reference if n)))
    return Match(record, MATCH, 'DANE-TA %s matches certificate %d of the chain, which leads to the leaf, and the leaf '
                 'names %s' % (record.text(), anchor + 1, reference[0]))


def match_chain(records: t.Sequence[TLSA], chain: t.Sequence[bytes], reference: t.Sequence[str],
                now: datetime.datetime | None = None) -> list[Match]:
    """Every usable record against the chain."""
    return [match_record(record, chain, reference, now) for record in records if record.usable]


def rollover_ready(records: t.Sequence[TLSA]) -> bool:
    """At least two DANE-EE records, or a DANE-EE and a DANE-TA record (RFC 7671 8.1, 8.4)."""
    usable = [record for record in records if record.usable]
    ee = len({record for record in usable if record.usage == DANE_EE})
    ta = len({record for record in usable if record.usage == DANE_TA})
    return ee >= 2 or (ee >= 1 and ta >= 1)
