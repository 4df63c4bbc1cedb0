# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_dane: TLSA parsing, selectors, matching types, DANE-EE and DANE-TA matching, rollover readiness."""

from __future__ import annotations

import datetime
import hashlib

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _dane as dane

x509 = pytest.importorskip('cryptography.x509')
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402  pylint: disable=wrong-import-position
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402  pylint: disable=wrong-import-position
from cryptography.x509.oid import NameOID  # noqa: E402  pylint: disable=wrong-import-position

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(text):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def certificate(subject, issuer=None, issuer_key=None, names=None, ca=False, start=NOW - DAY, end=NOW + 30 * DAY):
    """(DER, key) of a certificate; self-signed unless an issuer (name, key) is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(_name(issuer or subject)).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER), key


def spki_of(der):
    return x509.load_der_x509_certificate(der).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope='module')
def pki():
    ca_der, ca_key = certificate('lab CA', ca=True)
    inter_der, inter_key = certificate('lab intermediate', issuer='lab CA', issuer_key=ca_key, ca=True)
    leaf_der = certificate('mx.example.org', issuer='lab intermediate', issuer_key=inter_key, names=['mx.example.org'])[0]
    wild_der = certificate('*.example.org', issuer='lab CA', issuer_key=ca_key, names=['*.example.org'])[0]
    other_der = certificate('mail.elsewhere.test', issuer='lab CA', issuer_key=ca_key, names=['mail.elsewhere.test'])[0]
    expired_der = certificate('mx.example.org', issuer='lab CA', issuer_key=ca_key, names=['mx.example.org'],
                              start=NOW - 10 * DAY, end=NOW - DAY)[0]
    stranger_der = certificate('mx.example.org', names=['mx.example.org'])[0]
    return dict(ca=ca_der, inter=inter_der, leaf=leaf_der, wild=wild_der, other=other_der, expired=expired_der,
                stranger=stranger_der)


def rec(usage, selector, mtype, der):
    return dane.TLSA(usage, selector, mtype, dane.association(der, selector, mtype))


REF = ['mx.example.org', 'mx.example.org']


@pytest.mark.parametrize('text, expected', [
    ('3 1 1 ABCDEF', dane.TLSA(3, 1, 1, bytes.fromhex('abcdef'))),
    ('2 0 2 ab cd', dane.TLSA(2, 0, 2, bytes.fromhex('abcd'))),
    ('3 1 1', None),
    ('3 x 1 ab', None),
    ('3 1 1 abc', None),
    ('3 1 1 zz', None),
    ('256 1 1 ab', None),
])
def test_parse_tlsa(text, expected):
    assert dane.parse_tlsa(text) == expected


def test_usable_only_dane_usages_and_known_parameters():
    assert dane.TLSA(3, 1, 1, b'x').usable and dane.TLSA(2, 0, 0, b'x').usable
    assert not dane.TLSA(0, 1, 1, b'x').usable and not dane.TLSA(1, 1, 1, b'x').usable
    assert not dane.TLSA(3, 2, 1, b'x').usable and not dane.TLSA(3, 1, 3, b'x').usable


def test_matching_types():
    assert dane.digest(0, b'abc') == b'abc'
    assert dane.digest(1, b'abc') == hashlib.sha256(b'abc').digest()
    assert dane.digest(2, b'abc') == hashlib.sha512(b'abc').digest()
    with pytest.raises(ValueError):
        dane.digest(3, b'abc')


def test_selectors(pki):
    assert dane.selected(pki['leaf'], 0) == pki['leaf']
    assert dane.selected(pki['leaf'], 1) == spki_of(pki['leaf'])
    with pytest.raises(ValueError):
        dane.selected(pki['leaf'], 2)


@pytest.mark.parametrize('selector', [0, 1])
@pytest.mark.parametrize('mtype', [0, 1, 2])
def test_dane_ee_matches_the_leaf_in_every_combination(pki, selector, mtype):
    chain = [pki['leaf'], pki['inter'], pki['ca']]
    assert dane.match_record(rec(3, selector, mtype, pki['leaf']), chain, REF).result == dane.MATCH
    assert dane.match_record(rec(3, selector, mtype, pki['other']), chain, REF).result == dane.NO_MATCH


def test_dane_ee_ignores_names_and_expiry(pki):
    for der in (pki['other'], pki['expired'], pki['stranger']):
        assert dane.match_record(rec(3, 1, 1, der), [der], REF).result == dane.MATCH


def test_dane_ee_against_an_issuer_is_no_match(pki):
    chain = [pki['leaf'], pki['inter'], pki['ca']]
    assert dane.match_record(rec(3, 1, 1, pki['ca']), chain, REF).result == dane.NO_MATCH


def test_dane_ta_matches_a_presented_anchor_and_checks_the_path(pki):
    chain = [pki['leaf'], pki['inter'], pki['ca']]
    for anchor in (pki['ca'], pki['inter']):
        for selector in (0, 1):
            found = dane.match_record(rec(2, selector, 1, anchor), chain, REF)
            assert found.result == dane.MATCH, found.detail


def test_dane_ta_must_be_presented(pki):
    found = dane.match_record(rec(2, 0, 1, pki['ca']), [pki['leaf'], pki['inter']], REF)
    assert found.result == dane.NO_MATCH and 'present its trust anchor' in found.detail


def test_dane_ta_is_not_the_leaf(pki):
    assert dane.match_record(rec(2, 0, 1, pki['leaf']), [pki['leaf']], REF).result == dane.NO_MATCH


def test_dane_ta_chain_must_lead_to_the_anchor(pki):
    # The leaf is signed by the intermediate, which is missing: the CA does not sign the leaf.
    found = dane.match_record(rec(2, 0, 1, pki['ca']), [pki['leaf'], pki['ca']], REF)
    assert found.result == dane.NO_MATCH and 'not signed' in found.detail


def test_dane_ta_checks_names(pki):
    found = dane.match_record(rec(2, 0, 1, pki['ca']), [pki['other'], pki['ca']], REF)
    assert found.result == dane.NO_MATCH and 'cover none' in found.detail
    assert dane.match_record(rec(2, 0, 1, pki['ca']), [pki['wild'], pki['ca']], REF).result == dane.MATCH
    assert dane.match_record(rec(2, 0, 1, pki['ca']), [pki['wild'], pki['ca']], ['a.b.example.org']).result == dane.NO_MATCH
    # The TLSA base domain is a reference identifier too.
    assert dane.match_record(rec(2, 0, 1, pki['ca']), [pki['other'], pki['ca']],
                             ['mx.example.org', 'mail.elsewhere.test']).result == dane.MATCH


def test_dane_ta_checks_the_leaf_dates(pki):
    found = dane.match_record(rec(2, 0, 1, pki['ca']), [pki['expired'], pki['ca']], REF)
    assert found.result == dane.NO_MATCH and 'not valid now' in found.detail


def test_no_chain_is_no_match():
    assert dane.match_record(dane.TLSA(3, 1, 1, b'x'), [], REF).result == dane.NO_MATCH


def test_match_chain_skips_unusable_records(pki):
    records = [rec(1, 1, 1, pki['leaf']), rec(3, 1, 1, pki['leaf']), dane.TLSA(3, 9, 1, b'x')]
    results = dane.match_chain(records, [pki['leaf']], REF)
    assert [result.record.usage for result in results] == [3]


def test_without_cryptography_spki_and_dane_ta_are_unsupported(pki, monkeypatch):
    ee_spki, ta, ee_full = rec(3, 1, 1, pki['leaf']), rec(2, 0, 1, pki['ca']), rec(3, 0, 1, pki['leaf'])
    monkeypatch.setattr(dane, 'CRYPTOGRAPHY_IMPORT_ERROR', 'the Python library cryptography is not installed')
    found = dane.match_record(ee_spki, [pki['leaf']], REF)
    assert found.result == dane.UNSUPPORTED and 'cryptography' in found.detail
    assert dane.match_record(ta, [pki['leaf'], pki['ca']], REF).result == dane.UNSUPPORTED
    # Selector 0 with SHA-256 needs only hashlib.
    assert dane.match_record(ee_full, [pki['leaf']], REF).result == dane.MATCH


def test_rollover_ready():
    ee1, ee2 = dane.TLSA(3, 1, 1, b'a'), dane.TLSA(3, 1, 1, b'b')
    ta = dane.TLSA(2, 0, 1, b'c')
    assert dane.rollover_ready([ee1, ee2]) and dane.rollover_ready([ee1, ta])
    assert not dane.rollover_ready([ee1]) and not dane.rollover_ready([ta, dane.TLSA(2, 0, 1, b'd')])
    assert not dane.rollover_ready([ee1, ee1]) and not dane.rollover_ready([ee1, dane.TLSA(1, 1, 1, b'e')])


@pytest.mark.parametrize('usage, selector', [(3, 1), (2, 0), (2, 1)])
def test_an_unreadable_presented_certificate_is_no_match_not_a_crash(pki, usage, selector):
    garbage = b'\x30\x03\x02\x01\x00'
    anchor = pki['ca']
    chain = [garbage, anchor] if usage == 2 else [garbage]
    found = dane.match_record(rec(usage, selector, 1, anchor), chain, REF)
    assert found.result == dane.NO_MATCH and 'cannot be read' in found.detail, found.detail
