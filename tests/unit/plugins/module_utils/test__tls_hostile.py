# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Hostile certificate bytes: parsing and verifying raise only CERTIFICATE_ERRORS, which the tls check catches.

The server sends the certificates; whatever bytes they are, certificate_facts() and verify_chain() must either
answer or raise one of tls.CERTIFICATE_ERRORS (what cryptography raises for bad input), never anything else: the
tls check catches exactly that tuple. Hand-made defects first (each one a known error type of cryptography), then
every truncation and single-byte change of a valid certificate, then random mutations (hypothesis).
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls as tls
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import tls as tls_check
from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca

HOST = 'mx.hostile.lab.test'
NOW = datetime.datetime.now(datetime.timezone.utc)
SAN_OID = bytes.fromhex('0603551d11')


def valid_der():
    certfile, _key = lab_ca().issue(HOST, 'valid')
    with open(certfile, 'rb') as handle:
        return x509.load_pem_x509_certificate(handle.read()).public_bytes(serialization.Encoding.DER)


LEAF = valid_der()


# -- a minimal DER reader and writer (one-byte tags are all a certificate uses) ----------------------------------

def tlv(tag, body):
    length = len(body)
    if length < 0x80:
        head = bytes([length])
    else:
        octets = length.to_bytes((length.bit_length() + 7) // 8, 'big')
        head = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + head + body


def children(body):
    """[(tag, content)] of the elements in a constructed value's content."""
    out, index = [], 0
    while index < len(body):
        tag, first = body[index], body[index + 1]
        index += 2
        if first < 0x80:
            length = first
        else:
            length = int.from_bytes(body[index:index + (first & 0x7f)], 'big')
            index += first & 0x7f
        out.append((tag, body[index:index + length]))
        index += length
    return out


def rebuild(der, edit_tbs):
    """The certificate with its TBSCertificate's elements passed through edit_tbs (the signature no longer matches)."""
    ((_tag, certificate),) = children(der)
    (tbs_tag, tbs), *rest = children(certificate)
    tbs = b''.join(tlv(tag, body) for tag, body in edit_tbs(children(tbs)))
    return tlv(0x30, tlv(tbs_tag, tbs) + b''.join(tlv(tag, body) for tag, body in rest))


def edit_extensions(der, edit):
    def edit_tbs(elements):
        out = []
        for tag, body in elements:
            if tag == 0xa3:  # [3] EXPLICIT Extensions
                ((_seq, extensions),) = children(body)
                body = tlv(0x30, b''.join(tlv(t, b) for t, b in edit(children(extensions))))
            out.append((tag, body))
        return out
    return rebuild(der, edit_tbs)


def with_san(der, general_names):
    """The SAN extension's value replaced by SEQUENCE OF these GeneralName encodings."""
    def edit(extensions):
        out = []
        for tag, body in extensions:
            if body.startswith(SAN_OID):
                body = SAN_OID + tlv(0x04, tlv(0x30, b''.join(general_names)))
            out.append((tag, body))
        return out
    return edit_extensions(der, edit)


def with_version(der, version):
    def edit_tbs(elements):
        return [(0xa0, tlv(0x02, bytes([version])))] + [item for item in elements if item[0] != 0xa0]
    return rebuild(der, edit_tbs)


def with_key_algorithm(der, oid_body):
    """The SubjectPublicKeyInfo's algorithm OID replaced (a key type nobody knows)."""
    def edit_tbs(elements):
        out = []
        for index, (tag, body) in enumerate(elements):
            if index == 6 and tag == 0x30:  # version, serial, signature, issuer, validity, subject, spki
                (_alg_tag, algorithm), key = children(body)
                algorithm = tlv(0x06, oid_body) + b''.join(tlv(t, b) for t, b in children(algorithm)[1:])
                body = tlv(0x30, algorithm) + tlv(key[0], key[1])
            out.append((tag, body))
        return out
    return rebuild(der, edit_tbs)


def outcome(call):
    """'ok', or the name of the CERTIFICATE_ERRORS type raised; anything else propagates and fails the test."""
    try:
        call()
    except tls.CERTIFICATE_ERRORS as exc:
        return type(exc).__name__
    return 'ok'


def both(der):
    anchors = tls.trust_store(lab_ca().ca_file)
    return (outcome(lambda: tls.certificate_facts(der)), outcome(lambda: tls.verify_chain([der], anchors, NOW)),
            outcome(lambda: tls.verify_chain([LEAF, der], anchors, NOW)))


def test_the_reader_and_writer_round_trip():
    assert rebuild(LEAF, lambda elements: elements) == LEAF
    assert both(LEAF) == ('ok', 'ok', 'ok')


HOSTILE = {
    # x509.DuplicateExtension: the same extension twice (RFC 5280 4.2).
    'duplicate extension': (lambda: edit_extensions(LEAF, lambda exts: exts + exts[:1]), 'DuplicateExtension'),
    # x509.UnsupportedGeneralNameType: an x400Address / ediPartyName in the SAN.
    'x400Address in the SAN': (lambda: with_san(LEAF, [tlv(0xa3, tlv(0x30, b''))]), 'UnsupportedGeneralNameType'),
    'ediPartyName in the SAN': (lambda: with_san(LEAF, [tlv(0xa5, tlv(0x80, b'x'))]), 'UnsupportedGeneralNameType'),
    'non-ASCII dNSName': (lambda: with_san(LEAF, [tlv(0x82, b'\xff\xfe.lab.test')]), None),
    'empty SAN': (lambda: with_san(LEAF, []), None),
    # x509.InvalidVersion: version 6 (v1..v3 are 0..2).
    'version 6': (lambda: with_version(LEAF, 5), 'InvalidVersion'),
    'unknown key algorithm': (lambda: with_key_algorithm(LEAF, bytes.fromhex('2a0304')), None),
    'truncated': (lambda: LEAF[:len(LEAF) // 2], 'ValueError'),
    'empty': (lambda: b'', 'ValueError'),
}


@pytest.mark.parametrize('name', sorted(HOSTILE))
def test_hand_made_defects_raise_only_certificate_errors(name):
    make, expected = HOSTILE[name]
    found = both(make())
    if expected is not None:
        assert expected in found, found


def test_every_truncation_and_byte_change_raises_only_certificate_errors():
    seen = set()
    mutants = [LEAF[:length] for length in range(len(LEAF))]
    for index in range(len(LEAF)):
        for value in sorted({0x00, 0xff, LEAF[index] ^ 0x01, LEAF[index] ^ 0x80}):
            mutants.append(LEAF[:index] + bytes([value]) + LEAF[index + 1:])
    for mutant in mutants:
        seen.update(both(mutant))
    assert 'ValueError' in seen and 'ok' in seen, seen


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(LEAF)), st.integers(0, 8), st.binary(max_size=8)), min_size=1, max_size=6))
def test_random_splices_raise_only_certificate_errors(edits):
    der = LEAF
    for position, cut, insert in edits:
        der = der[:position] + insert + der[position + cut:]
    both(der)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_certificate_errors(data):
    both(data)
    both(tlv(0x30, data))


@pytest.mark.parametrize('name', ['duplicate extension', 'x400Address in the SAN', 'version 6', 'truncated'])
def test_the_tls_check_reports_a_hostile_certificate_instead_of_crashing(name):
    verdicts = tls_check._Verdicts()  # pylint: disable=protected-access
    tls_check.judge_certificates([HOSTILE[name][0]()], HOST, lab_ca().ca_file, NOW, verdicts)
    assert verdicts.found['TLS-4'][0] == 'warn' and 'cannot be parsed' in verdicts.found['TLS-4'][1]
    assert set(verdicts.found) == {'TLS-4', 'TLS-5', 'TLS-6'}


def test_a_hostile_intermediate_is_a_chain_that_cannot_be_read():
    verdicts = tls_check._Verdicts()  # pylint: disable=protected-access
    # A truncated one: the verifier does not look into an intermediate it does not need, so a defect deeper
    # inside one (a duplicate extension) goes unnoticed.
    tls_check.judge_certificates([LEAF, LEAF[:100]], HOST, lab_ca().ca_file, NOW, verdicts)
    assert verdicts.found['TLS-4'][0] == 'warn' and 'cannot be read' in verdicts.found['TLS-4'][1], verdicts.found
    assert verdicts.found['TLS-5'][0] == verdicts.found['TLS-6'][0] == 'pass'
