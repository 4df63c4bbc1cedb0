# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""TLS for the tls check: the client context, the server's certificates, and what they say.

The handshake is made with a context that does not verify, so that one
session yields the certificates whatever is wrong with them; trust, names
and dates are then judged apart from each other, each by its own rule
(TLS-4, TLS-5, TLS-6). Parsing certificates and verifying the chain need
the optional ``cryptography`` package; without it those rules are
``skipped`` and say so.
"""

from __future__ import annotations

import datetime
import functools
import re
import ssl
import traceback
import typing as t
import warnings
from dataclasses import dataclass, field

CRYPTOGRAPHY_IMPORT_ERROR: str | None
# What parsing and verifying a server's certificate bytes can raise: the certificate is unreadable, the audit goes on.
# cryptography's x509 errors are not ValueErrors; tests/unit/plugins/module_utils/test__tls_hostile.py feeds hostile
# DER (hand-made defects, every truncation and byte change, random splices) and finds nothing else.
CERTIFICATE_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError)
try:
    from cryptography import exceptions as crypto_exceptions
    from cryptography import x509
    from cryptography.x509 import verification
    from cryptography.x509.oid import NameOID
except ImportError:  # pragma: no cover - the rules that need it report skipped
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None
    CERTIFICATE_ERRORS += (x509.InvalidVersion, x509.DuplicateExtension, x509.UnsupportedGeneralNameType,
                           verification.VerificationError, crypto_exceptions.UnsupportedAlgorithm,
                           crypto_exceptions.InvalidSignature, crypto_exceptions.InternalError)

# The DER format for _ssl.Certificate.public_bytes (ssl.ENCODING_DER from Python 3.13 on).
_ENCODING_DER = 2
_PEM_BLOCK = re.compile(rb'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.DOTALL)
MISSING_CRYPTOGRAPHY = 'the Python package "cryptography" is not installed on the host running the audit'


def probe_context() -> ssl.SSLContext:
    """A client context that completes a handshake with any certificate: the certificates are judged afterwards.

    TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and 1.1), so a server
    that offers nothing newer fails the handshake and says so.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def legacy_context() -> tuple[ssl.SSLContext | None, str]:
    """A client context offering only TLS 1.0 and 1.1 (RFC 8996 deprecates both), or None and why it cannot.

    OpenSSL 3 refuses these versions below security level 0, and a build
    may lack them altogether; then TLS-3 cannot probe them and says so.
    """
    if not (getattr(ssl, 'HAS_TLSv1', False) or getattr(ssl, 'HAS_TLSv1_1', False)):
        return None, 'the local OpenSSL (%s) was built without TLS 1.0 and 1.1' % ssl.OPENSSL_VERSION
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
            context.set_ciphers('DEFAULT:@SECLEVEL=0')
    except (ValueError, ssl.SSLError) as exc:
        return None, 'the local OpenSSL (%s) cannot offer TLS 1.0 or 1.1: %s' % (ssl.OPENSSL_VERSION, exc)
    return context, ''


# Cipher suite name parts of the suites RFC 7465 (RC4) and RFC 5246 A.5 / RFC 8996 call unfit: no encryption,
# no authentication, export strength.
WEAK_SUITE_MARKS = ('NULL', 'ADH', 'AECDH', 'ANON', 'EXP', 'RC4', 'DES-CBC-', 'RC2')


def weak_suite(name: str) -> str | None:
    """Why a negotiated cipher suite is weak, or None."""
    upper = name.upper()
    for mark in WEAK_SUITE_MARKS:
        if mark in upper:
            return {'NULL': 'no encryption (NULL)', 'ADH': 'no authentication (anonymous)',
                    'AECDH': 'no authentication (anonymous)', 'ANON': 'no authentication (anonymous)',
                    'EXP': 'export strength', 'RC4': 'RC4 (RFC 7465)', 'DES-CBC-': 'single DES',
                    'RC2': 'RC2'}[mark]
    return None


def peer_chain(tls: ssl.SSLObject) -> list[bytes]:
    """The certificates the server sent, leaf first, as DER.

    Python 3.11 has no public call for the unverified chain (3.13 adds
    get_unverified_chain); the C object has had it since 3.10. Without it,
    the leaf alone.
    """
    inner = getattr(tls, '_sslobj', None)
    chain_of = getattr(inner, 'get_unverified_chain', None)
    if chain_of is not None:
        try:
            chain = chain_of() or []
            return [certificate.public_bytes(_ENCODING_DER) for certificate in chain]
        except (AttributeError, ValueError, ssl.SSLError):
            pass
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


@dataclass
class CertificateFacts:
    """What the leaf certificate says: names and validity (UTC)."""

    dns_names: list[str] = field(default_factory=list)
    common_name: str | None = None
    not_before: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    subject: str = ''
    issuer: str = ''

    @property
    def self_issued(self) -> bool:
        return bool(self.subject) and self.subject == self.issuer


def certificate_facts(der: bytes) -> CertificateFacts:
    """Names and dates of a DER certificate (cryptography needed; ValueError when it cannot be parsed)."""
    certificate = x509.load_der_x509_certificate(der)
    facts = CertificateFacts(subject=certificate.subject.rfc4514_string(), issuer=certificate.issuer.rfc4514_string(),
                             not_before=certificate.not_valid_before_utc, not_after=certificate.not_valid_after_utc)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        facts.dns_names = [str(name) for name in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if common_names:
        facts.common_name = str(common_names[0].value)
    return facts


def name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 6.4: a DNS-ID matches the host; a wildcard is the whole left-most label and stands for one label."""
    pattern = pattern.rstrip('.').lower()
    host = host.rstrip('.').lower()
    if not pattern or not host:
        return False
    if not pattern.startswith('*.'):
        return '*' not in pattern and pattern == host
    rest = pattern[2:]
    # "*.com" would cover a whole TLD: a wildcard needs at least two labels after it (RFC 6125 7.2 advice).
    if '*' in rest or rest.count('.') < 1:
        return False
    labels = host.split('.', 1)
    return len(labels) == 2 and bool(labels[0]) and labels[1] == rest


def names_cover(facts: CertificateFacts, host: str) -> bool:
    """The subjectAltName dNSNames cover the host (the CN is not consulted when there is a SAN; RFC 6125 6.4.4)."""
    names = facts.dns_names or ([facts.common_name] if facts.common_name else [])
    return any(name_matches(name, host) for name in names)


def trust_store(ca_file: str | None) -> list[t.Any]:
    """The trust anchors: the CA file given, else the system's default bundle (PEM)."""
    path = ca_file or ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    if not path:
        raise ValueError('no system CA bundle was found; set tls_ca_file')
    return list(_anchors(path))


@functools.lru_cache(maxsize=4)
def _anchors(path: str) -> tuple[t.Any, ...]:
    """The certificates of one PEM file, parsed once per process (every MX address of a run uses the same store)."""
    with open(path, 'rb') as handle:
        data = handle.read()
    anchors = []
    # One by one: a bundle may hold a certificate this version of cryptography refuses (a negative serial number);
    # that one anchor is left out rather than the whole store.
    for block in _PEM_BLOCK.findall(data):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                anchors.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    if not anchors:
        raise ValueError('%s holds no certificate that can be read' % path)
    return tuple(anchors)


def verify_chain(chain: t.Sequence[bytes], anchors: t.Sequence[t.Any], when: datetime.datetime) -> str | None:
    """None when the chain leads to a trust anchor, else why not. Names and dates are other rules' business.

    The verifier wants a subject name and a time: the leaf's own first
    dNSName and a moment inside its validity are given, so that a name
    mismatch (TLS-5) or an expiry (TLS-6) is not reported as distrust too.
    """
    certificates = [x509.load_der_x509_certificate(der) for der in chain]
    leaf, intermediates = certificates[0], certificates[1:]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    if not names:
        return 'the certificate has no subjectAltName dNSName, so no verifier accepts it (RFC 6125 6.4.4)'
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not start <= when <= end:
        when = start + (end - start) / 2
    builder = verification.PolicyBuilder().store(verification.Store(list(anchors))).time(when)
    # A wildcard name stands for one label: any label will do to ask for it.
    subject = 'mxaudit-probe.' + names[0][2:] if names[0].startswith('*.') else names[0]
    verifier = builder.build_server_verifier(verification.DNSName(subject))
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        return str(exc)
    return None


def valid_for_name(chain: t.Sequence[bytes], host: str, anchors: t.Sequence[t.Any], when: datetime.datetime) -> str | None:
    """None when the chain is valid for ``host`` at ``when`` under the anchors (names, dates, trust); else why not.

    What a policy that demands an authenticated certificate asks (MTA-STS, RFC 8461 4.2): all three at once,
    the first problem found given. Raises nothing for the server's bytes: an unreadable certificate is a reason.
    """
    if not chain:
        return 'no certificate was presented'
    try:
        facts = certificate_facts(chain[0])
    except CERTIFICATE_ERRORS as exc:
        return 'the certificate cannot be parsed: %s' % exc
    if not names_cover(facts, host):
        shown = ', '.join(facts.dns_names) or (facts.common_name or 'none')
        return 'the certificate names (%s) do not cover %s' % (shown, host.rstrip('.').lower())
    if facts.not_after is not None and when > facts.not_after:
        return 'the certificate expired on %s' % facts.not_after.strftime('%Y-%m-%d %H:%M UTC')
    if facts.not_before is not None and when < facts.not_before:
        return 'the certificate is not valid before %s' % facts.not_before.strftime('%Y-%m-%d %H:%M UTC')
    try:
        problem = verify_chain(chain, anchors, when)
    except CERTIFICATE_ERRORS as exc:
        return 'a certificate of the chain cannot be read: %s' % exc
    if problem is not None:
        return 'the chain does not validate against the trust store: %s' % problem
    return None
