# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dane check through the audit module against a real DNSSEC lab: NSD (a signed and an unsigned zone),
Unbound validating with the lab trust anchor (tests/lab/dnssec.py), and lab STARTTLS servers on loopback.

Without nsd, unbound or ldnsutils the tests skip, except with CI=true: there they fail (.ci/run installs them).
"""

from __future__ import annotations

import os
import ssl

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _dane
from ansible_collections.mxaudit.smtp.plugins.modules import audit
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks import mta_sts
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECK_IDS
from ansible_collections.mxaudit.smtp.tests.lab import LabRunner
from ansible_collections.mxaudit.smtp.tests.lab import mta_sts as sts_lab
from ansible_collections.mxaudit.smtp.tests.lab.dnssec import DNSSECLab, missing_binaries
from ansible_collections.mxaudit.smtp.tests.lab.tls import lab_ca
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module

pytest.importorskip('cryptography')
from cryptography.hazmat.primitives import serialization  # noqa: E402  pylint: disable=wrong-import-position

_WORKER = int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0')[2:] or 0)
# Ports of this lab alone (the others: 2587.., 3525/3553, 4525/4553, 5525/5553, 6525/6553, 7525/7553, 2597, 2599).
SMTP_PORT = 2625 + 10 * _WORKER
NSD_PORT = 5354 + 10 * _WORKER
UNBOUND_PORT = 5355 + 10 * _WORKER
PLAIN_DNS_PORT = 5356 + 10 * _WORKER

# host label -> (address, behaviour)
SERVERS = {
    'good': ('127.0.57.1', 'tls_valid'),
    'mismatch': ('127.0.57.2', 'tls_valid'),
    'unsigned': ('127.0.57.3', 'tls_valid'),
    'bogus': ('127.0.57.4', 'tls_valid'),
    'pkix': ('127.0.57.5', 'tls_valid'),
    'plain': ('127.0.57.6', 'compliant'),
    'none': ('127.0.57.7', 'compliant'),
    'all': ('127.0.57.9', 'tls_valid'),   # DANE, MTA-STS and TLS-RPT published, all valid: passes everything
}
POLICY_ADDRESS = '127.0.57.20'
RANDOM = '3 1 1 ' + '5a' * 32
NEXT_KEY = '3 1 1 ' + 'c3' * 32


def mx_name(label):
    return 'mx.unsigned.dane.lab.test' if label == 'unsigned' else 'mx.%s.dane.lab.test' % label


def leaf_der(host):
    ca = lab_ca()
    ca.server_context(host, 'valid')  # made once per (host, kind): the certificate the lab server presents
    with open(os.path.join(ca.directory, '%s-valid.crt' % host), encoding='ascii') as handle:
        return ssl.PEM_cert_to_DER_cert(handle.read())


def tlsa(usage, selector, mtype, der):
    return '%d %d %d %s' % (usage, selector, mtype, _dane.association(der, selector, mtype).hex())


def zones():
    signed, unsigned = [], [('@', 'MX', '10 mx.unsigned.dane.lab.test.'), ('mx', 'A', SERVERS['unsigned'][0]),
                            ('mxinsecure', 'MX', '10 mx.good.dane.lab.test.'), ('host', 'A', '127.0.57.8')]
    for label, (address, _behaviour) in SERVERS.items():
        if label == 'unsigned':
            continue
        signed += [(label, 'MX', '10 mx.%s' % label), ('mx.' + label, 'A', address)]
    leaf = {label: leaf_der(mx_name(label)) for label in SERVERS}
    ca = lab_ca().certificate.public_bytes(serialization.Encoding.DER)
    signed += [
        ('_25._tcp.mx.good', 'TLSA', tlsa(3, 1, 1, leaf['good'])),
        ('_25._tcp.mx.good', 'TLSA', NEXT_KEY),
        ('_25._tcp.mx.mismatch', 'TLSA', RANDOM),
        ('_25._tcp.mx.bogus', 'TLSA', tlsa(3, 1, 1, leaf['bogus'])),
        ('_25._tcp.mx.pkix', 'TLSA', tlsa(1, 1, 1, leaf['pkix'])),
        ('_25._tcp.mx.pkix', 'TLSA', tlsa(0, 0, 1, ca)),
        ('_25._tcp.mx.plain', 'TLSA', RANDOM),
        # A secure TLSA at a host name whose addresses come through a CNAME into the unsigned zone (no server: no session).
        ('addrinsecure', 'MX', '10 mx.addrinsecure'),
        ('mx.addrinsecure', 'CNAME', 'host.unsigned.dane.lab.test.'),
        ('_25._tcp.mx.addrinsecure', 'TLSA', RANDOM),
        ('_25._tcp.mx.all', 'TLSA', tlsa(3, 1, 1, leaf['all'])),
        ('_25._tcp.mx.all', 'TLSA', NEXT_KEY),
        ('_mta-sts.all', 'TXT', '"v=STSv1; id=20261201T000000"'),
        ('_smtp._tls.all', 'TXT', '"v=TLSRPTv1; rua=mailto:tlsrpt@all.dane.lab.test"'),
        ('mta-sts.all', 'A', POLICY_ADDRESS),
    ]
    unsigned.append(('_25._tcp.mx', 'TLSA', tlsa(3, 1, 1, leaf['unsigned'])))
    return signed, unsigned


@pytest.fixture(scope='module')
def dnssec_lab():
    missing = missing_binaries()
    if missing:
        message = 'the DNSSEC lab needs %s (apt-get install nsd unbound ldnsutils)' % ', '.join(missing)
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(message + ' (CI=true: .ci/run must install them)')
        pytest.skip(message)
    signed, unsigned = zones()
    lab = DNSSECLab(signed, unsigned, nsd_port=NSD_PORT, unbound_port=UNBOUND_PORT,
                    bogus=[('_25._tcp.mx.bogus.dane.lab.test.', 'TLSA')])
    runner = LabRunner()
    try:
        lab.start()
        servers = {label: runner.start_smtp(behaviour, address, SMTP_PORT, name=mx_name(label),
                                            options={'domains': ['all.dane.lab.test']} if label == 'all' else None)
                   for label, (address, behaviour) in SERVERS.items()}
        # The MTA-STS policy of all.dane.lab.test, over HTTPS with a lab-CA certificate for mta-sts.all.dane.lab.test.
        policy_server = sts_lab.PolicyServer(POLICY_ADDRESS, 0, policies={
            'mta-sts.all.dane.lab.test': sts_lab.policy('enforce', 'mx.all.dane.lab.test')})
        runner.call(policy_server.start())
        runner._servers.append(policy_server)  # pylint: disable=protected-access
        # The plain lab DNS (it never sets AD) with the good case's records: a resolver that does not validate.
        good = 'mx.good.dane.lab.test.'
        plain = runner.start_dns({'good.dane.lab.test.': {'MX': ['10 ' + good]}, good: {'A': [SERVERS['good'][0]]},
                                  '_25._tcp.' + good: {'TLSA': [rdata for owner, _rdtype, rdata in signed if owner == '_25._tcp.mx.good']}},
                                 '127.0.0.1', PLAIN_DNS_PORT)
        yield {'lab': lab, 'servers': servers, 'plain_dns': plain, 'policy': policy_server}
    finally:
        runner.stop()
        lab.stop()


def audit_run(capsys, domains, dns_port):
    args = {'domains': domains, 'checks': ['mx', 'dane'], 'port': SMTP_PORT, 'helo_name': 'audit.lab.test',
            'timeout': 3.0, 'allow_private_addresses': True,
            'resolver': {'nameservers': ['127.0.0.1'], 'port': dns_port, 'timeout': 2.0}}
    code, result = run_module(audit, args, capsys)
    assert code == 0, result
    return {domain['domain']: domain for domain in result['domains']}


def statuses(domain):
    return {finding['rule']: finding['status'] for finding in domain['findings'] if finding['rule'].startswith('DANE-')}


def summary(domain, rule):
    return next(finding['summary'] for finding in domain['findings'] if finding['rule'] == rule)


EXPECTED = {
    'good.dane.lab.test': {'DANE-1': 'pass', 'DANE-2': 'pass', 'DANE-3': 'pass'},
    'mismatch.dane.lab.test': {'DANE-1': 'pass', 'DANE-2': 'fail', 'DANE-3': 'warn'},
    'unsigned.dane.lab.test': {'DANE-1': 'warn', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
    'bogus.dane.lab.test': {'DANE-1': 'fail', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
    'pkix.dane.lab.test': {'DANE-1': 'warn', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
    'mxinsecure.unsigned.dane.lab.test': {'DANE-1': 'warn', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
    'plain.dane.lab.test': {'DANE-1': 'pass', 'DANE-2': 'fail', 'DANE-3': 'warn'},
    'none.dane.lab.test': {'DANE-1': 'skipped', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
    'addrinsecure.dane.lab.test': {'DANE-1': 'warn', 'DANE-2': 'skipped', 'DANE-3': 'skipped'},
}


def test_every_case_through_the_validating_resolver(dnssec_lab, capsys):
    """One audit of every case through Unbound; the MX host mx.good serves two domains (one with an insecure MX)."""
    found = audit_run(capsys, list(EXPECTED), UNBOUND_PORT)
    for domain, expected in EXPECTED.items():
        assert statuses(found[domain]) == expected, (domain, [
            (f['rule'], f['status'], f['summary']) for f in found[domain]['findings']])
    # Why each is judged so.
    assert 'DANE-EE' in summary(found['good.dane.lab.test'], 'DANE-2')
    assert 'no usable TLSA record matches' in summary(found['mismatch.dane.lab.test'], 'DANE-2')
    assert 'insecure' in summary(found['unsigned.dane.lab.test'], 'DANE-1')
    bogus = summary(found['bogus.dane.lab.test'], 'DANE-1')
    assert 'bogus' in bogus and 'EDE 6' in bogus
    assert '3.1.3' in summary(found['pkix.dane.lab.test'], 'DANE-1')
    assert 'MX RRset' in summary(found['mxinsecure.unsigned.dane.lab.test'], 'DANE-1')
    assert 'STARTTLS is not offered' in summary(found['plain.dane.lab.test'], 'DANE-2')
    assert 'not published' in summary(found['none.dane.lab.test'], 'DANE-1')
    assert '2.2.2' in summary(found['addrinsecure.dane.lab.test'], 'DANE-1')
    # Verdicts: not published and insecure are not failures; a mismatch, bogus TLSA or no STARTTLS are.
    verdicts = {domain: found[domain]['verdict'] for domain in EXPECTED}
    for domain in ('good.dane.lab.test', 'none.dane.lab.test', 'unsigned.dane.lab.test', 'pkix.dane.lab.test',
                   'mxinsecure.unsigned.dane.lab.test'):
        assert verdicts[domain] == 'compliant', (domain, found[domain]['findings'])
    for domain in ('mismatch.dane.lab.test', 'bogus.dane.lab.test', 'plain.dane.lab.test'):
        assert verdicts[domain] == 'noncompliant', domain
    # The records of the reports' DANE and MTA-STS section, per MX host and address.
    records = {domain: found[domain]['dane'] for domain in EXPECTED}
    assert all(len(entries) == 1 for entries in records.values()), records
    good = records['good.dane.lab.test'][0]
    assert good['mx'] == 'mx.good.dane.lab.test' and good['published'] is True and good['dnssec'] == 'secure'
    assert good['matched'] in good['tlsa'] and good['tlsa_total'] == len(good['tlsa'])
    assert records['mismatch.dane.lab.test'][0]['matched'] is None and records['mismatch.dane.lab.test'][0]['tlsa']
    assert records['unsigned.dane.lab.test'][0]['dnssec'] == 'insecure'
    assert records['bogus.dane.lab.test'][0]['dnssec'] == 'bogus'
    assert records['none.dane.lab.test'][0]['published'] is False and 'tlsa' not in records['none.dane.lab.test'][0]
    assert 'mta_sts' not in found['good.dane.lab.test']  # the mta_sts check did not run
    # No session where there is nothing to match; one for mx.good (shared), with SNI = the MX host name.
    servers = dnssec_lab['servers']
    for label in ('unsigned', 'bogus', 'pkix', 'none'):
        assert servers[label].connections == 0, label
    assert servers['good'].connections == 1
    assert servers['good'].options.get('sni_seen') == ['mx.good.dane.lab.test']
    assert all(server.data_commands == 0 for server in servers.values())
    # The same MX host, judged per domain.
    other = found['mxinsecure.unsigned.dane.lab.test']
    assert all(f['mx'] == 'mx.good.dane.lab.test' for f in other['findings'] if f['rule'].startswith('DANE-'))


@pytest.mark.parametrize('port_key', ['nsd', 'plain'])
def test_a_resolver_that_does_not_validate_gives_dnssec_status_unknown(dnssec_lab, capsys, port_key):
    port = NSD_PORT if port_key == 'nsd' else dnssec_lab['plain_dns'].port
    found = audit_run(capsys, ['good.dane.lab.test'], port)['good.dane.lab.test']
    assert statuses(found) == {'DANE-1': 'inconclusive', 'DANE-2': 'inconclusive', 'DANE-3': 'inconclusive'}
    text = summary(found, 'DANE-1')
    assert 'DNSSEC status unknown' in text and 'insecure' not in text
    assert found['verdict'] == 'unverified'
    assert found['dane'][0]['dnssec'] == 'unknown' and found['dane'][0]['published'] is True


def test_a_domain_with_valid_dane_mta_sts_and_tls_rpt_passes_everything(dnssec_lab, capsys, monkeypatch):
    """Every check but identity (the lab zone has no PTR records), through the validating resolver, with the lab CA."""
    monkeypatch.setattr(mta_sts, 'POLICY_PORT', dnssec_lab['policy'].port)
    checks = [check for check in CHECK_IDS if check != 'identity']
    args = {'domain': 'all.dane.lab.test', 'checks': checks, 'port': SMTP_PORT, 'helo_name': 'audit.lab.test',
            'timeout': 3.0, 'allow_private_addresses': True, 'tls_ca_file': lab_ca().ca_file,
            'resolver': {'nameservers': ['127.0.0.1'], 'port': UNBOUND_PORT, 'timeout': 2.0}}
    code, result = run_module(audit, args, capsys)
    assert code == 0, result
    found = result['domains'][0]
    by_rule = {finding['rule']: finding for finding in found['findings']}
    for rule in ('DANE-1', 'DANE-2', 'DANE-3', 'STS-1', 'STS-2', 'STS-3', 'RPT-1') + tuple('TLS-%d' % n for n in range(1, 9)):
        assert by_rule[rule]['status'] == 'pass', (rule, by_rule[rule]['summary'])
    # Skipped is only what does not apply to this server (a rule of an option not set); nothing fails, warns or is undecided.
    not_passing = [(f['rule'], f['status'], f['summary']) for f in found['findings'] if f['status'] not in ('pass', 'skipped')]
    assert not not_passing, not_passing
    assert found['verdict'] == 'compliant' and not found.get('undecided_rules')
    assert found['mta_sts']['mode'] == 'enforce' and found['dane'][0]['dnssec'] == 'secure'
    assert dnssec_lab['policy'].requests and dnssec_lab['policy'].requests[-1][0] == 'mta-sts.all.dane.lab.test'
    assert dnssec_lab['servers']['all'].data_commands == 0
