# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils._options import OptionError, parse, relay_recipient, to_a_label

BASE = {'helo_name': 'audit.example.net'}


def options(**params):
    return parse(dict(BASE, **params))


def test_idn_domains_become_a_labels_and_duplicates_go():
    result = options(domains=['Bücher.Example', 'xn--bcher-kva.example', 'EXAMPLE.org.'])
    assert result.domains == ['xn--bcher-kva.example', 'example.org']


def test_defaults():
    result = options(domain='example.org')
    assert (result.port, result.timeout, result.mail_from) == (25, 10.0, 'postmaster@audit.example.net')
    assert result.resolver.nameservers == [] and result.resolver.port == 53


@pytest.mark.parametrize('params, words', [
    ({'domain': 'bad domain.example'}, "'bad domain.example'"),
    ({'domain': 'under_score.example'}, 'under_score.example'),
    ({'domain': 'localhost'}, "'localhost'"),
    ({'domain': 'a' * 64 + '.example'}, 'not a valid domain'),
    ({'domain': ''}, 'domain'),
    ({'domains': ['ok.example', '-bad.example']}, 'domains[1]'),
    ({'domain': 'example.org', 'port': 0}, 'port: 0'),
    ({'domain': 'example.org', 'port': 70000}, 'port: 70000'),
    ({'domain': 'example.org', 'timeout': 0}, 'timeout'),
    ({'domain': 'example.org', 'helo_name': 'bad\r\nname'}, 'helo_name'),
    ({'domain': 'example.org', 'helo_name': '[999.1.1.1]'}, 'helo_name'),
    ({'domain': 'example.org', 'mail_from': 'x@y.example\r\nRCPT TO:<a@b.example>'}, 'mail_from'),
    ({'domain': 'example.org', 'mail_from': ''}, 'mail_from'),
    ({'domain': 'example.org', 'addresses': ['mx.example.org']}, "addresses: 'mx.example.org'"),
    ({'domains': ['a.example', 'b.example'], 'addresses': ['192.0.2.1']}, 'one domain'),
    ({'domain': 'example.org', 'resolver': {'nameservers': ['dns.example']}}, 'resolver.nameservers'),
    ({'domain': 'example.org', 'resolver': {'port': 0}}, 'resolver.port'),
    ({}, 'one of domain or domains'),
])
def test_bad_values_are_named(params, words):
    with pytest.raises(OptionError) as info:
        options(**params)
    assert words in str(info.value)


def test_address_literal_helo_name():
    result = options(domain='example.org', helo_name='[192.0.2.7]')
    assert result.helo_name == '[192.0.2.7]'
    assert result.mail_from == 'postmaster@localhost.localdomain'


def test_addresses_are_normalised():
    assert options(domain='example.org', addresses=['2001:DB8::1', '127.0.0.1']).addresses == ['2001:db8::1', '127.0.0.1']


def test_dns_only_modules_do_not_need_an_ehlo_name():
    assert parse({'domain': 'example.org'}, smtp=False).domains == ['example.org']


def test_to_a_label_rejects_invalid_idn():
    with pytest.raises(OptionError):
        to_a_label('xn--a.example\u3002\u200d')


@pytest.mark.parametrize('params, words', [
    ({'concurrency': 0}, 'concurrency'), ({'per_address': 0}, 'per_address'), ({'per_address': True}, 'per_address'),
    ({'deadline': 0}, 'deadline'), ({'deadline': 86401}, 'deadline'),
])
def test_bad_caps_are_named(params, words):
    with pytest.raises(OptionError, match=words):
        parse(dict(params, helo_name='audit.example.net'), require_domain=False)


def test_caps_defaults():
    options = parse({'helo_name': 'audit.example.net'}, require_domain=False)
    assert (options.deadline, options.concurrency, options.per_address) == (3600.0, 100, 2)


@pytest.mark.parametrize('params, words', [
    ({'max_mx_hosts': 0}, 'max_mx_hosts'), ({'max_mx_hosts': 1001}, 'max_mx_hosts'), ({'max_mx_hosts': True}, 'max_mx_hosts'),
    ({'max_addresses_per_host': 0}, 'max_addresses_per_host'), ({'max_addresses_per_host': 101}, 'max_addresses_per_host'),
    ({'allow_private_addresses': 'yes'}, 'allow_private_addresses'),
])
def test_bad_dns_caps_are_named(params, words):
    with pytest.raises(OptionError, match=words):
        parse(dict(params, helo_name='audit.example.net'), require_domain=False)


def test_dns_caps_defaults():
    options = parse({'helo_name': 'audit.example.net'}, require_domain=False)
    assert (options.max_mx_hosts, options.max_addresses_per_host, options.allow_private_addresses) == (10, 4, False)
    options = parse({'helo_name': 'audit.example.net', 'max_mx_hosts': 2, 'max_addresses_per_host': 1,
                     'allow_private_addresses': True}, require_domain=False)
    assert (options.max_mx_hosts, options.max_addresses_per_host, options.allow_private_addresses) == (2, 1, True)


def test_a_default_mail_from_too_long_to_send_names_helo_name():
    helo_name = '.'.join(['a' * 60] * 4) + '.example'  # 252 octets: a valid name, too long behind "postmaster@"
    with pytest.raises(OptionError) as info:
        parse({'helo_name': helo_name}, require_domain=False)
    assert str(info.value).startswith('mail_from: the default postmaster@') and 'helo_name' in str(info.value)


def test_relay_recipient_under_any_audited_domain_names_it():
    domains = ['d%d.example' % index for index in range(1000)] + ['lab.example']
    with pytest.raises(OptionError, match='at the audited domain lab.example'):
        relay_recipient('x@mx.lab.example', domains)
    assert relay_recipient('x@foreign.example', domains) == 'x@foreign.example'


def test_a_host_without_a_fully_qualified_name_greets_with_its_address_literal(monkeypatch):
    from ansible_collections.mxaudit.smtp.plugins.module_utils import _options, _protocol
    monkeypatch.setattr(_options, 'default_helo_name', lambda: 'mxaudit-ee-pod-5f7c9')
    options = parse({}, require_domain=False)
    assert options.helo_name == _protocol.LOCAL_ADDRESS_LITERAL
    assert options.mail_from == 'postmaster@localhost.localdomain'


def test_every_bad_option_is_named_in_the_order_written():
    with pytest.raises(OptionError) as info:
        parse({'timeout': 0, 'domain': 'bad name', 'port': 99999, 'helo_name': 'audit.example.net'})
    message = str(info.value)
    assert message.index('timeout:') < message.index('domain:') < message.index('port:'), message
    with pytest.raises(OptionError) as info:
        parse({'port': 99999, 'timeout': 0, 'domain': 'bad name', 'helo_name': 'audit.example.net'})
    message = str(info.value)
    assert message.index('port:') < message.index('timeout:') < message.index('domain:'), message


def test_tls_ca_file_is_checked_before_a_packet_is_sent(tmp_path):
    base = {'helo_name': 'audit.example.net'}
    assert parse(dict(base), require_domain=False).tls_ca_file is None
    bundle = tmp_path / 'ca.pem'
    bundle.write_text('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    assert parse(dict(base, tls_ca_file=str(bundle)), require_domain=False).tls_ca_file == str(bundle)
    with pytest.raises(OptionError, match='tls_ca_file: cannot read'):
        parse(dict(base, tls_ca_file=str(tmp_path / 'missing.pem')), require_domain=False)
    (tmp_path / 'key.pem').write_text('-----BEGIN PRIVATE KEY-----\n')
    with pytest.raises(OptionError, match='holds no PEM certificate'):
        parse(dict(base, tls_ca_file=str(tmp_path / 'key.pem')), require_domain=False)
