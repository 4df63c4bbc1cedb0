# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Resolver over a fake dnspython resolver: caps, pacing, retries, local errors, DNSSEC answers (no packet is sent)."""

from __future__ import annotations

import asyncio
import errno
import typing as t

import dns.exception
import dns.message
import dns.resolver
import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _dns
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import Resolver


class Text:
    def __init__(self, text: str) -> None:
        self.text = text

    def to_text(self) -> str:
        return self.text


class Answer:
    def __init__(self, name: str, records: list[str]) -> None:
        self.canonical_name = Text(name)
        self.rrset = [Text(record) for record in records]


class FakeDNS:
    """Answers from a table; counts the queries and how many were in flight at once."""

    def __init__(self, table: dict[tuple[str, str], t.Any], delay: float = 0.001) -> None:
        self.table = table
        self.delay = delay
        self.queries: list[tuple[str, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def resolve(self, name: str, rdtype: str, **_kwargs: t.Any) -> Answer:
        self.queries.append((name, rdtype))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            value = self.table.get((name, rdtype), [])
            if callable(value):
                value = value()
            if isinstance(value, BaseException):
                raise value
            return Answer(name, value)
        finally:
            self.in_flight -= 1


def resolver(table, **kwargs) -> tuple[Resolver, FakeDNS]:
    result = Resolver(['127.0.0.1'], 53, 1.0, **kwargs)
    fake = FakeDNS(table)
    result._resolver = fake  # pylint: disable=protected-access
    return result, fake


def many_mx(count: int) -> dict[tuple[str, str], t.Any]:
    table: dict[tuple[str, str], t.Any] = {
        ('many.example.', 'MX'): ['10 mx%04d.many.example.' % index for index in range(count)]}
    for index in range(count):
        table[('mx%04d.many.example.' % index, 'A')] = ['192.0.2.%d' % (index % 250 + 1)]
    return table


def test_only_the_most_preferred_mx_hosts_are_looked_up():
    table = many_mx(1000)
    table[('many.example.', 'MX')] = ['20 mx%04d.many.example.' % index for index in range(999)] + ['5 mx0999.many.example.']
    dns_resolver, fake = resolver(table, max_mx_hosts=10)
    mx = asyncio.run(dns_resolver.mx('many.example'))
    assert [host.host for host in mx.hosts][:2] == ['mx0999.many.example', 'mx0000.many.example']
    assert len(mx.hosts) == 10 and len(mx.omitted) == 990 and mx.omitted[0] == (20, 'mx0009.many.example')
    assert len(fake.queries) == 1 + 2 * 10


def test_queries_in_flight_are_bounded_over_the_whole_run():
    dns_resolver, fake = resolver(many_mx(1000), max_queries=25)
    mx = asyncio.run(dns_resolver.mx('many.example'))
    assert len(mx.hosts) == 1000 and all(host.addresses for host in mx.hosts)
    assert fake.most_in_flight == 25


def test_a_timeout_is_asked_once_more():
    answers = iter([dns.exception.Timeout(), ['192.0.2.1']])
    dns_resolver, fake = resolver({('mx.example.', 'A'): lambda: next(answers)})
    lookup = asyncio.run(dns_resolver.lookup('mx.example', 'A'))
    assert lookup.records == ['192.0.2.1'] and lookup.error is None
    assert fake.queries.count(('mx.example.', 'A')) == 2


def test_two_timeouts_are_a_timeout():
    dns_resolver, fake = resolver({('mx.example.', 'A'): dns.exception.Timeout})
    lookup = asyncio.run(dns_resolver.lookup('mx.example', 'A'))
    assert 'timeout' in lookup.error and 'asked 2 times' in lookup.error
    assert len(fake.queries) == 2


def test_other_failures_are_not_asked_again():
    dns_resolver, fake = resolver({('mx.example.', 'A'): dns.resolver.NXDOMAIN})
    assert asyncio.run(dns_resolver.lookup('mx.example', 'A')).nxdomain and len(fake.queries) == 1


def no_nameservers(*exceptions: Exception) -> dns.resolver.NoNameservers:
    request = dns.message.make_query('mx.example.', 'A')
    return dns.resolver.NoNameservers(request=request, errors=[('127.0.0.1', False, 53, exc, None) for exc in exceptions])


@pytest.mark.parametrize('error', [
    OSError(errno.EMFILE, 'Too many open files'),
    no_nameservers(OSError(errno.EMFILE, 'Too many open files')),
    no_nameservers(OSError(errno.ENOBUFS, 'No buffer space available')),
])
def test_this_hosts_limits_are_not_called_a_dns_failure(error):
    dns_resolver, _fake = resolver({('mx.example.', 'A'): error})
    lookup = asyncio.run(dns_resolver.lookup('mx.example', 'A'))
    assert 'this host ran out of a resource' in lookup.error and 'SERVFAIL' not in lookup.error


def test_a_nameserver_failure_is_still_one():
    failure = no_nameservers(OSError(errno.ECONNREFUSED, 'refused'), OSError(errno.EMFILE, 'Too many'))
    dns_resolver, _fake = resolver({('mx.example.', 'A'): failure})
    assert 'SERVFAIL or refused' in asyncio.run(dns_resolver.lookup('mx.example', 'A')).error


def test_probed_addresses_leave_out_private_and_capped_ones():
    host = _dns.MXHost(10, 'mx.example', ['192.0.2.1', '10.0.0.1', '192.0.2.2'], private=['10.0.0.1'],
                       beyond_cap=['192.0.2.2'])
    assert host.probed_addresses == ['192.0.2.1']
    assert host.to_dict()['addresses'] == ['192.0.2.1', '10.0.0.1', '192.0.2.2']


# ------------------------------------------------------------ DNSSEC-aware lookups (secure_lookup)

def _response(qname, rdtype, rcode='NOERROR', ad=False, answer=(), ede=()):
    import dns.edns  # pylint: disable=import-outside-toplevel
    import dns.flags  # pylint: disable=import-outside-toplevel
    import dns.rcode  # pylint: disable=import-outside-toplevel
    import dns.rrset  # pylint: disable=import-outside-toplevel
    query = dns.message.make_query(qname, rdtype, want_dnssec=True, use_edns=0)
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.from_text(rcode))
    if ad:
        response.flags |= dns.flags.AD
    for owner, kind, text in answer:
        response.answer.append(dns.rrset.from_text(owner, 60, 'IN', kind, text))
    if ede:
        response.use_edns(0, dns.flags.DO, 1232, options=[dns.edns.EDEOption(code, text) for code, text in ede])
    return dns.message.from_wire(response.to_wire())


def _secure(response, qname='_25._tcp.mx.example.org.', rdtype='TLSA'):
    import dns.name  # pylint: disable=import-outside-toplevel
    import dns.rdatatype  # pylint: disable=import-outside-toplevel
    return _dns._secure_answer(qname, rdtype, dns.name.from_text(qname), dns.rdatatype.from_text(rdtype), response, '192.0.2.53')


def test_secure_answer_reads_ad_and_the_records():
    found = _secure(_response('_25._tcp.mx.example.org.', 'TLSA', ad=True,
                              answer=[('_25._tcp.mx.example.org.', 'TLSA', '3 1 1 ' + 'ab' * 32)]))
    assert found.secure and found.records == ['3 1 1 ' + 'ab' * 32] and found.error is None
    assert 'NOERROR AD' in found.describe()


def test_secure_answer_follows_cnames():
    chain = [('mx.example.org.', 'CNAME', 'host.example.net.'), ('host.example.net.', 'A', '192.0.2.1')]
    found = _secure(_response('mx.example.org.', 'A', answer=chain), qname='mx.example.org.', rdtype='A')
    assert found.records == ['192.0.2.1'] and not found.secure


def test_secure_answer_servfail_keeps_the_ede():
    found = _secure(_response('_25._tcp.mx.example.org.', 'TLSA', rcode='SERVFAIL', ede=[(6, 'DNSSEC Bogus')]))
    assert found.rcode == 'SERVFAIL' and found.ede == [(6, 'DNSSEC Bogus')] and 'EDE 6' in found.error


def test_secure_answer_nxdomain():
    found = _secure(_response('_25._tcp.mx.example.org.', 'TLSA', rcode='NXDOMAIN', ad=True))
    assert found.nxdomain and found.secure and not found.records and found.error is None


def test_a_servfail_answered_with_cd_is_bogus(monkeypatch):
    resolver = Resolver(['192.0.2.53'], port=5300, timeout=0.5)
    asked = []

    async def ask(name, rdtype, *, checking_disabled):
        asked.append(checking_disabled)
        if checking_disabled:
            return _dns.SecureLookup(records=['3 1 1 ' + 'ab' * 32])
        return _dns.SecureLookup(rcode='SERVFAIL', error='SERVFAIL', ede=[(6, 'bogus')])

    monkeypatch.setattr(resolver, '_ask_secure', ask)

    async def twice():
        return await asyncio.gather(resolver.secure_lookup('_25._tcp.mx.example.org', 'TLSA'),
                                    resolver.secure_lookup('_25._TCP.mx.example.org.', 'TLSA'))

    first, second = asyncio.run(twice())
    assert first is second and first.bogus and first.records and asked == [False, True]  # cached: asked once, then with CD


def test_a_servfail_also_with_cd_is_an_error_not_bogus(monkeypatch):
    resolver = Resolver(['192.0.2.53'], port=5300, timeout=0.5)

    async def ask(name, rdtype, *, checking_disabled):
        return _dns.SecureLookup(rcode='SERVFAIL', error='the resolver answered SERVFAIL')

    monkeypatch.setattr(resolver, '_ask_secure', ask)
    found = asyncio.run(resolver.secure_lookup('_25._tcp.mx.example.org', 'TLSA'))
    assert not found.bogus and found.error


def test_validates_walks_up_to_the_first_ad(monkeypatch):
    resolver = Resolver(['192.0.2.53'], port=5300, timeout=0.5)
    asked = []

    async def ask(name, rdtype, *, checking_disabled):
        asked.append(name)
        return _dns.SecureLookup(secure=name == 'example.org.')

    monkeypatch.setattr(resolver, '_ask_secure', ask)
    assert asyncio.run(resolver.validates('_25._tcp.mx.example.org'))
    assert asked == ['_tcp.mx.example.org.', 'mx.example.org.', 'example.org.']


def test_validates_is_false_when_no_zone_up_to_the_root_has_ad(monkeypatch):
    resolver = Resolver(['192.0.2.53'], port=5300, timeout=0.5)
    asked = []

    async def ask(name, rdtype, *, checking_disabled):
        asked.append((name, rdtype))
        return _dns.SecureLookup()

    monkeypatch.setattr(resolver, '_ask_secure', ask)
    assert not asyncio.run(resolver.validates('_25._tcp.mx.example.org'))
    assert asked[-1] == ('.', 'DNSKEY') and len(asked) == 5
