# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Certificate facts, names and chain verification, with certificates of the lab CA."""

from __future__ import annotations

import datetime
import ssl

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.mxaudit.smtp.plugins.module_utils import _tls as tls
from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca

HOST = 'mx.unit.lab.test'
NOW = datetime.datetime.now(datetime.timezone.utc)


def der(kind):
    certfile, _key = lab_ca().issue(HOST, kind)
    with open(certfile, 'rb') as handle:
        return x509.load_pem_x509_certificate(handle.read()).public_bytes(serialization.Encoding.DER)


def test_facts_of_a_certificate():
    facts = tls.certificate_facts(der('valid'))
    assert facts.dns_names == [HOST] and facts.common_name == HOST and not facts.self_issued
    assert facts.not_before < NOW < facts.not_after
    assert tls.names_cover(facts, HOST) and not tls.names_cover(facts, 'other.lab.test')
    assert tls.certificate_facts(der('self_signed')).self_issued


def test_trust_is_judged_apart_from_names_and_dates():
    anchors = tls.trust_store(lab_ca().ca_file)
    assert tls.verify_chain([der('valid')], anchors, NOW) is None
    assert tls.verify_chain([der('expired')], anchors, NOW) is None     # TLS-6's business
    assert tls.verify_chain([der('wrong_name')], anchors, NOW) is None  # TLS-5's business
    assert tls.verify_chain([der('self_signed')], anchors, NOW) is not None


def test_a_bundle_keeps_the_anchors_it_can_read(tmp_path):
    with open(lab_ca().ca_file, 'rb') as handle:
        good = handle.read()
    bundle = tmp_path / 'bundle.pem'
    bundle.write_bytes(b'-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n' + good)
    assert len(tls.trust_store(str(bundle))) == 1
    empty = tmp_path / 'empty.pem'
    empty.write_bytes(b'nothing\n')
    with pytest.raises(ValueError, match='no certificate'):
        tls.trust_store(str(empty))


def test_the_leaf_alone_when_the_chain_cannot_be_had():
    class NoChain:
        def getpeercert(self, binary_form=False):
            return b'leaf' if binary_form else {}
    assert tls.peer_chain(NoChain()) == [b'leaf']


def test_the_probe_context_does_not_verify_and_offers_tls_1_2_at_least():
    context = tls.probe_context()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_the_legacy_context_offers_only_tls_1_0_and_1_1_or_says_why_not():
    context, why = tls.legacy_context()
    if context is None:
        assert 'OpenSSL' in why
    else:
        assert context.maximum_version == ssl.TLSVersion.TLSv1_1 and why == ''


@pytest.mark.parametrize('suite, weak', [
    ('TLS_AES_128_GCM_SHA256', False), ('ECDHE-RSA-AES256-GCM-SHA384', False), ('AECDH-AES256-SHA', True),
    ('EXP-RC4-MD5', True), ('NULL-SHA', True), ('DES-CBC-SHA', True)])
def test_weak_suites(suite, weak):
    assert (tls.weak_suite(suite) is not None) is weak
