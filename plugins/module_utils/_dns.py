# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""MX resolution with dnspython's asyncio resolver.

Lookups only: which hosts receive mail for a domain (RFC 5321 5.1 with
implicit MX, RFC 7505 null MX) and their addresses. Judging what was found
is the mx check's job. When nameservers are given the system resolver is
never consulted; results are cached per Resolver so MX hosts shared by many
domains are resolved once.

What a hostile zone can make the lookups cost is bounded: at most
``max_mx_hosts`` MX hosts of a domain are looked up (the others are listed
in ``MXSet.omitted``), at most ``max_queries`` queries are in flight at once
over the whole run (a domain with 1,000 MX records would otherwise fire
2,000 at once, and most of them would time out), and a query that times out
is asked once more before it counts as failed.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import traceback
import typing as t
from dataclasses import dataclass, field

DNSPYTHON_IMPORT_ERROR: str | None
try:
    import dns.asyncquery
    import dns.asyncresolver
    import dns.edns
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
    import dns.reversename
except ImportError:  # pragma: no cover - reported by the modules with missing_required_lib
    DNSPYTHON_IMPORT_ERROR = traceback.format_exc()
else:
    DNSPYTHON_IMPORT_ERROR = None


# Queries in flight at once over a whole run, and tries of a query that times out.
MAX_QUERIES = 50
TRIES_ON_TIMEOUT = 2
# errno values that say this host, not the DNS, ran out of something.
LOCAL_ERRNOS = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))


class DNSLookupError(Exception):
    """A lookup could not be answered (SERVFAIL, timeout, no nameserver)."""


@dataclass
class Lookup:
    """One name and type: records, the CNAME it went through, or why there are none."""

    records: list[str] = field(default_factory=list)
    cname: str | None = None
    nxdomain: bool = False
    error: str | None = None
    timed_out: bool = False


@dataclass
class SecureLookup:
    """One name and type asked with DNSSEC OK (DO): the records, and what the validating resolver said of them.

    ``secure`` is the AD bit of the answer (RFC 4035 3.2.3): only a validating resolver sets it, and only
    on data it validated. ``bogus`` means the resolver answered SERVFAIL, and the same question with
    Checking Disabled (CD) was answered: the data exist but fail validation (RFC 4035 5.5). ``ede``
    lists the Extended DNS Errors of the answer (RFC 8914): (code, text).
    """

    records: list[str] = field(default_factory=list)
    rcode: str = 'NOERROR'
    secure: bool = False
    bogus: bool = False
    nxdomain: bool = False
    ede: list[tuple[int, str]] = field(default_factory=list)
    error: str | None = None
    timed_out: bool = False
    server: str = ''

    def describe(self) -> str:
        """The answer in one line, for the evidence of a finding."""
        if self.error and not self.bogus:
            return self.error
        flags = ' AD' if self.secure else ''
        parts = ['%s%s' % (self.rcode, flags), '%d record%s' % (len(self.records), '' if len(self.records) == 1 else 's')]
        if self.bogus:
            parts.append('SERVFAIL without CD, answered with CD: bogus')
        if self.ede:
            parts.append('EDE ' + ', '.join('%d%s' % (code, ' "%s"' % text if text else '') for code, text in self.ede))
        return ', '.join(parts)


@dataclass
class MXHost:
    preference: int
    host: str
    addresses: list[str] = field(default_factory=list)
    cname: str | None = None
    errors: list[str] = field(default_factory=list)
    # Addresses found but not probed: not globally routable (without allow_private_addresses), and
    # those beyond max_addresses_per_host. Set by the engine (targets.select_addresses), judged by MX-1.
    private: list[str] = field(default_factory=list)
    beyond_cap: list[str] = field(default_factory=list)

    @property
    def probed_addresses(self) -> list[str]:
        """The addresses the probes use: those found, less the private ones and those beyond the cap."""
        if not self.private and not self.beyond_cap:
            return list(self.addresses)
        left_out = set(self.private) | set(self.beyond_cap)
        return [address for address in self.addresses if address not in left_out]

    @property
    def is_ip(self) -> bool:
        """The target is written as an IP address (RFC 5321 5.1 wants a host name)."""
        try:
            ipaddress.ip_address(self.host.rstrip('.'))
        except ValueError:
            return False
        return True

    def to_dict(self) -> dict[str, t.Any]:
        return {
            'preference': self.preference,
            'host': self.host,
            'addresses': list(self.addresses),
            'cname': self.cname,
        }


@dataclass
class MXSet:
    """The mail exchangers of one domain, in preference order."""

    domain: str
    hosts: list[MXHost] = field(default_factory=list)
    implicit: bool = False
    null_mx: bool = False
    null_mx_mixed: bool = False
    nxdomain: bool = False
    error: str | None = None
    omitted: list[tuple[int, str]] = field(default_factory=list)   # (preference, host) beyond max_mx_hosts

    def to_dict(self) -> list[dict[str, t.Any]]:
        return [host.to_dict() for host in self.hosts]


def _local_error(exc: Exception) -> OSError | None:
    """The OSError of this host's own limits among the nameservers' errors, if that is why none answered."""
    errors = getattr(exc, 'kwargs', {}).get('errors') or []
    found = [error[3] for error in errors if len(error) > 3 and isinstance(error[3], OSError)]
    if found and len(found) == len(errors) and all(error.errno in LOCAL_ERRNOS for error in found):
        return found[0]
    return None


def _local_message(name: str, rdtype: str, exc: OSError) -> str:
    return ('DNS lookup of %s %s not made: this host ran out of a resource (%s); not a DNS failure of the domain'
            % (relative(name), rdtype, exc))


def _secure_answer(name: str, rdtype: str, qname: t.Any, qtype: t.Any, response: t.Any, server: str) -> SecureLookup:
    """A SecureLookup from a response: the records of the type asked (through CNAMEs), AD, rcode, EDE."""
    rcode = dns.rcode.to_text(response.rcode())
    found = SecureLookup(rcode=rcode, secure=bool(response.flags & dns.flags.AD), server=server,
                         nxdomain=response.rcode() == dns.rcode.NXDOMAIN)
    try:
        found.ede = [(int(option.code), option.text or '') for option in response.extended_errors()]
    except AttributeError:  # pragma: no cover - dnspython before 2.6 has no extended_errors()
        found.ede = []
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        found.error = 'the resolver answered %s %s with %s%s' % (
            relative(name), rdtype, rcode, ' (EDE %s)' % ', '.join(str(code) for code, _text in found.ede) if found.ede else '')
        return found
    wanted = qname
    for _hop in range(8):
        cname = None
        for rrset in response.answer:
            if rrset.name == wanted and rrset.rdtype == qtype:
                found.records = [rdata.to_text() for rdata in rrset]
                return found
            if rrset.name == wanted and rrset.rdtype == dns.rdatatype.CNAME:
                cname = rrset[0].target
        if cname is None:
            break
        wanted = cname
    return found


def absolute(name: str) -> str:
    return name if name.endswith('.') else name + '.'


def relative(name: str) -> str:
    return name[:-1] if name.endswith('.') and name != '.' else name


class Resolver:
    """Asynchronous lookups with a per-run cache, at most ``max_queries`` in flight."""

    def __init__(self, nameservers: t.Sequence[str] | None = None, port: int = 53, timeout: float = 5.0, *,
                 max_mx_hosts: int | None = None, max_queries: int = MAX_QUERIES) -> None:
        if nameservers:
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.search = []
        self._resolver.use_search_by_default = False
        self._cache: dict[tuple[str, str], asyncio.Future[Lookup]] = {}
        self._secure: dict[tuple[str, str], asyncio.Future[SecureLookup]] = {}
        self.max_mx_hosts = max_mx_hosts
        self.max_queries = max_queries
        self._in_flight: asyncio.Semaphore | None = None  # made in the running loop, on the first query

    async def lookup(self, name: str, rdtype: str) -> Lookup:
        """Cached: concurrent callers asking the same question share one query."""
        key = (absolute(name).lower(), rdtype)
        future = self._cache.get(key)
        if future is None:
            future = asyncio.ensure_future(self._query(key[0], rdtype))
            self._cache[key] = future
        return await asyncio.shield(future)

    async def _query(self, name: str, rdtype: str) -> Lookup:
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self.max_queries)
        async with self._in_flight:
            lookup = await self._ask(name, rdtype)
            for _retry in range(TRIES_ON_TIMEOUT - 1):
                if not lookup.timed_out:
                    break
                # A lost UDP datagram is common; one more try before the lookup counts as failed.
                lookup = await self._ask(name, rdtype)
        return lookup

    async def _ask(self, name: str, rdtype: str) -> Lookup:
        try:
            answer = await self._resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(nxdomain=True)
        except dns.resolver.NoNameservers as exc:
            local = _local_error(exc)
            if local is not None:
                return Lookup(error=_local_message(name, rdtype, local))
            return Lookup(error='no nameserver answered %s %s (SERVFAIL or refused): %s' % (relative(name), rdtype, exc))
        except dns.exception.Timeout:
            return Lookup(error='DNS timeout looking up %s %s (asked %d times)'
                          % (relative(name), rdtype, TRIES_ON_TIMEOUT), timed_out=True)
        except dns.exception.DNSException as exc:
            return Lookup(error='DNS error looking up %s %s: %s' % (relative(name), rdtype, exc))
        except OSError as exc:
            # No socket for the query: this host's limit (too many open files), or no route to the nameserver.
            if exc.errno in LOCAL_ERRNOS:
                return Lookup(error=_local_message(name, rdtype, exc))
            return Lookup(error='DNS lookup of %s %s failed: %s' % (relative(name), rdtype, exc))
        cname = None
        canonical = answer.canonical_name.to_text()
        if canonical.lower() != name.lower():
            cname = canonical
        records = [rdata.to_text() for rdata in answer.rrset] if answer.rrset is not None else []
        return Lookup(records=records, cname=cname)

    async def secure_lookup(self, name: str, rdtype: str) -> SecureLookup:
        """``name rdtype`` with DO set, from the configured nameservers: the records, the AD bit, rcode, EDE.

        Cached and paced like ``lookup`` (a separate cache: the answer carries more). A SERVFAIL is asked
        once more with CD set; an answer then means the data are bogus. Only the nameservers this
        Resolver was configured with are asked, in order, until one answers.
        """
        key = ('dnssec:' + absolute(name).lower(), rdtype)
        future = self._secure.get(key)
        if future is None:
            future = asyncio.ensure_future(self._secure_query(key[0][len('dnssec:'):], rdtype))
            self._secure[key] = future
        return await asyncio.shield(future)

    async def validates(self, name: str) -> bool:
        """Whether the resolver validates DNSSEC: some zone above ``name`` (up to the root) has a DNSKEY answer with AD.

        A name without AD may be in an unsigned zone (insecure) or behind a resolver that does not
        validate; only a signed ancestor answered with AD tells the two apart. The walk stops at the
        first AD; every step is cached.
        """
        current = dns.name.from_text(absolute(name))
        while True:
            current = current.parent() if current != dns.name.root else None
            if current is None:
                return False
            found = await self.secure_lookup(current.to_text(), 'DNSKEY')
            if found.secure:
                return True

    async def _secure_query(self, name: str, rdtype: str) -> SecureLookup:
        if self._in_flight is None:
            self._in_flight = asyncio.Semaphore(self.max_queries)
        async with self._in_flight:
            found = await self._ask_secure(name, rdtype, checking_disabled=False)
            for _retry in range(TRIES_ON_TIMEOUT - 1):
                if not found.timed_out:
                    break
                found = await self._ask_secure(name, rdtype, checking_disabled=False)
            if found.rcode == 'SERVFAIL':
                again = await self._ask_secure(name, rdtype, checking_disabled=True)
                if again.error is None and again.rcode in ('NOERROR', 'NXDOMAIN'):
                    # The data are there, and the resolver would not vouch for them: bogus.
                    found.bogus = True
                    found.records = again.records
                    found.ede = found.ede or again.ede
        return found

    async def _ask_secure(self, name: str, rdtype: str, *, checking_disabled: bool) -> SecureLookup:
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.from_text(rdtype)
        query = dns.message.make_query(qname, qtype, want_dnssec=True, use_edns=0, payload=1232)
        query.flags |= dns.flags.RD
        if checking_disabled:
            query.flags |= dns.flags.CD
        port = self._resolver.port
        timeout = self._resolver.timeout
        problems = []
        timed_out = False
        for server in [str(server) for server in self._resolver.nameservers]:
            try:
                response, _tcp = await dns.asyncquery.udp_with_fallback(query, server, timeout=timeout, port=port)
            except dns.exception.Timeout:
                timed_out = True
                problems.append('%s: timeout' % server)
                continue
            except OSError as exc:
                if exc.errno in LOCAL_ERRNOS:
                    return SecureLookup(error=_local_message(name, rdtype, exc))
                problems.append('%s: %s' % (server, exc))
                continue
            except dns.exception.DNSException as exc:
                problems.append('%s: %s' % (server, exc))
                continue
            return _secure_answer(name, rdtype, qname, qtype, response, server)
        if timed_out and len(problems) == len(self._resolver.nameservers):
            return SecureLookup(error='DNS timeout looking up %s %s with DNSSEC (asked %d times)'
                                % (relative(name), rdtype, TRIES_ON_TIMEOUT), timed_out=True)
        return SecureLookup(error='no nameserver answered %s %s with DNSSEC: %s'
                            % (relative(name), rdtype, '; '.join(problems) or 'none configured'))

    async def ptr(self, address: str) -> Lookup:
        """The PTR records of an IP address (its in-addr.arpa or ip6.arpa name), cached like every lookup."""
        return await self.lookup(dns.reversename.from_address(address).to_text(), 'PTR')

    async def addresses(self, host: str) -> MXHost:
        """A and AAAA of one host name, with the CNAME it is, if any."""
        result = MXHost(preference=0, host=relative(host))
        lookups = await asyncio.gather(self.lookup(host, 'A'), self.lookup(host, 'AAAA'))
        for lookup in lookups:
            result.addresses.extend(lookup.records)
            result.cname = result.cname or (relative(lookup.cname) if lookup.cname else None)
            if lookup.error:
                result.errors.append(lookup.error)
        return result

    async def mx(self, domain: str) -> MXSet:
        """The MX set of a domain, with implicit MX and null MX handled."""
        result = MXSet(domain=relative(domain))
        lookup = await self.lookup(domain, 'MX')
        if lookup.nxdomain:
            result.nxdomain = True
            return result
        if lookup.error:
            result.error = lookup.error
            return result
        targets: list[tuple[int, str]] = []
        for record in lookup.records:
            preference, exchange = record.split(' ', 1)
            targets.append((int(preference), exchange))
        if not targets:
            # RFC 5321 5.1: no MX, the domain itself is the implicit MX (preference 0).
            result.implicit = True
            implicit = await self.addresses(domain)
            if implicit.errors and not implicit.addresses:
                result.error = '; '.join(implicit.errors)
            elif implicit.addresses:
                result.hosts = [implicit]
            return result
        if any(target[1] == '.' for target in targets):
            # RFC 7505: "0 ." declares that the domain accepts no mail.
            result.null_mx = True
            result.null_mx_mixed = len(targets) > 1
            targets = [target for target in targets if target[1] != '.']
            if not result.null_mx_mixed:
                return result
        targets.sort(key=lambda target: (target[0], target[1].lower()))
        if self.max_mx_hosts is not None and len(targets) > self.max_mx_hosts:
            # The most preferred hosts are the ones senders try first; the rest are named, not looked up.
            result.omitted = [(preference, relative(host)) for preference, host in targets[self.max_mx_hosts:]]
            targets = targets[:self.max_mx_hosts]
        hosts = await asyncio.gather(*(self._mx_host(preference, exchange) for preference, exchange in targets))
        result.hosts = list(hosts)
        return result

    async def _mx_host(self, preference: int, exchange: str) -> MXHost:
        host = await self.addresses(exchange)
        host.preference = preference
        return host
