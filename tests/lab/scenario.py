# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The default lab layout: addresses, domains and DNS records.

The single source of truth for the tests, ``make demo`` and the benchmark,
so they all agree on which address misbehaves how.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from .smtp_server import BEHAVIOURS, LAB_TLD, lab_domain

LAB_PORT = 2525
DNS_HOST = "127.0.0.1"
DNS_PORT = 5300

SERVER_NET = "127.0.1."
POSTFIX_NET = "127.0.2."
POSTFIX_INSTANCES = (
    "postfix_compliant",
    "postfix_open_relay",
    "postfix_no_postmaster",
    "postfix_null_sender_refused",
    "postfix_accept_all",
    "postfix_error_limits",
    "postfix_tls",
)
# Real Exim (tests/lab/exim.py), unpacked from the Debian package and run with the lab's own configuration.
EXIM_NET = "127.0.3."
EXIM_INSTANCES = ("exim_default",)

# Domains that exist only in DNS; the compliant server accepts mail for the
# ones whose MX (or implicit MX) points at it, so that only the DNS defect shows.
COMPLIANT_EXTRA_DOMAINS = (
    "implicit-mx.lab.test",
    "null-mx-mixed.lab.test",
    "mx-is-ip.lab.test",
    "mx-cname.lab.test",
    "backup-mx.lab.test",
    "ipv6.lab.test",
    "many-mx.lab.test",
    "many-addresses.lab.test",
)
# Domains whose DNS is too big to audit in full: the caps of the common options (max_mx_hosts,
# max_addresses_per_host) bound them. They are in the zone but not in Lab.domains(), so the runs
# that audit "every lab domain" (the demo, the report tests) stay as they are.
MANY_MX = 1000          # many-mx.lab.test: MX hosts, all at the compliant server
MANY_ADDRESSES = 100    # mx.many-addresses.lab.test: the compliant server first, then addresses nobody listens on
LOAD_DOMAINS = ("many-mx.lab.test", "many-addresses.lab.test")
SERVFAIL_DOMAINS = ("servfail.lab.test",)
DROP_DOMAINS = ("dns-timeout.lab.test",)


@dataclass
class ServerSpec:
    """One SMTP server of the lab (``name`` is its MX host and greeting name)."""

    behaviour: str
    address: str
    name: str
    domain: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def mx(self) -> str:
        """The MX host name (same as ``name``)."""
        return self.name


@dataclass
class Lab:
    """The whole lab: servers, reserved Postfix and Exim instances, DNS table."""

    servers: list[ServerSpec]
    postfix: list[ServerSpec]
    records: dict[str, dict[str, list[str]]]
    servfail: set[str]
    drop: set[str]
    dns_only_domains: list[str]
    port: int = LAB_PORT
    dns_host: str = DNS_HOST
    dns_port: int = DNS_PORT
    exim: list[ServerSpec] = field(default_factory=list)

    def domains(self, include_postfix: bool = True, include_dns_only: bool = True, include_exim: bool = False) -> list[str]:
        """Every mail domain of the lab: behaviour servers, Postfix, DNS-only; Exim's only when asked (it runs apart)."""
        out = [s.domain for s in self.servers]
        if include_postfix:
            out += [s.domain for s in self.postfix]
        if include_exim:
            out += [s.domain for s in self.exim]
        if include_dns_only:
            out += list(self.dns_only_domains)
        return out

    def server(self, behaviour: str) -> ServerSpec:
        """The spec of a behaviour server, Postfix or Exim instance, by name."""
        for spec in self.servers + self.postfix + self.exim:
            if spec.behaviour == behaviour:
                return spec
        raise KeyError(behaviour)


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


def _reverse_name(address: str) -> str:
    """The in-addr.arpa owner name of an IPv4 address."""
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def default_lab(port: int = LAB_PORT, dns_port: int = DNS_PORT, slow_delay: Optional[float] = None) -> Lab:
    """Build the default lab (one server per behaviour, Postfix addresses reserved)."""
    servers: list[ServerSpec] = []
    for index, behaviour in enumerate(BEHAVIOURS, start=1):
        domain = lab_domain(behaviour)
        options: dict[str, Any] = {"domains": [domain]}
        if behaviour == "compliant":
            options["domains"] += list(COMPLIANT_EXTRA_DOMAINS)
        if behaviour == "slow_greeting" and slow_delay is not None:
            options["delay"] = slow_delay
        servers.append(ServerSpec(behaviour, SERVER_NET + str(index), "mx." + domain, domain, options))
    postfix = [ServerSpec(inst, POSTFIX_NET + str(index), "mx." + lab_domain(inst), lab_domain(inst))
               for index, inst in enumerate(POSTFIX_INSTANCES, start=1)]
    exim = [ServerSpec(inst, EXIM_NET + str(index), "mx." + lab_domain(inst), lab_domain(inst))
            for index, inst in enumerate(EXIM_INSTANCES, start=1)]

    records: dict[str, dict[str, list[str]]] = {
        _fqdn(LAB_TLD): {
            "SOA": ["ns.%s. hostmaster.%s. 1 3600 600 86400 60" % (LAB_TLD, LAB_TLD)],
            "NS": ["ns.%s." % LAB_TLD],
        },
        "ns.%s." % LAB_TLD: {"A": [DNS_HOST]},
    }
    for spec in servers + postfix + exim:
        records[_fqdn(spec.domain)] = {"MX": ["10 %s" % _fqdn(spec.name)]}
        records[_fqdn(spec.name)] = {"A": [spec.address]}

    compliant_mx = _fqdn("mx." + lab_domain("compliant"))
    compliant_addr = next(s.address for s in servers if s.behaviour == "compliant")
    relay_denied_mx = _fqdn("mx." + lab_domain("relay_denied_all"))
    dns_only: dict[str, dict[str, list[str]]] = {
        "implicit-mx.lab.test.": {"A": [compliant_addr]},
        "null-mx.lab.test.": {"MX": ["0 ."]},
        "null-mx-mixed.lab.test.": {"MX": ["0 .", "10 " + compliant_mx]},
        "mx-is-ip.lab.test.": {"MX": ["10 %s." % compliant_addr]},
        "mx-no-address.lab.test.": {"MX": ["10 mx.mx-no-address.lab.test."]},
        "mx.mx-no-address.lab.test.": {"TXT": ['"this MX host has no address"']},
        "mx-cname.lab.test.": {"MX": ["10 alias.mx-cname.lab.test."]},
        "alias.mx-cname.lab.test.": {"CNAME": [compliant_mx]},
        "backup-mx.lab.test.": {"MX": ["10 " + compliant_mx, "20 " + relay_denied_mx]},
        "no-mail.lab.test.": {"TXT": ['"v=spf1 -all"']},
        "ipv6.lab.test.": {"MX": ["10 mx.ipv6.lab.test."]},
        "mx.ipv6.lab.test.": {"AAAA": ["::1"], "A": [compliant_addr]},
    }
    records.update(dns_only)
    records["many-mx.lab.test."] = {"MX": ["10 mx%04d.many-mx.lab.test." % index for index in range(1, MANY_MX + 1)]}
    for index in range(1, MANY_MX + 1):
        records["mx%04d.many-mx.lab.test." % index] = {"A": [compliant_addr]}
    records["many-addresses.lab.test."] = {"MX": ["10 mx.many-addresses.lab.test."]}
    records["mx.many-addresses.lab.test."] = {
        "A": [compliant_addr] + ["127.0.3.%d" % index for index in range(1, MANY_ADDRESSES)]}
    # Reverse DNS (the identity check, ID-1): every behaviour server's address names its MX host, which resolves
    # back to it, except these two.
    for spec in servers:
        if spec.behaviour == "identity_no_ptr":
            continue
        name = "host.elsewhere.lab.test." if spec.behaviour == "identity_ptr_mismatch" else _fqdn(spec.name)
        records[_reverse_name(spec.address)] = {"PTR": [name]}
    # The Postfix instances too (the identity check against a real MTA, postfix_tls).
    for spec in postfix:
        records[_reverse_name(spec.address)] = {"PTR": [_fqdn(spec.name)]}
    records["host.elsewhere.lab.test."] = {"A": ["127.0.9.9"]}
    # The IPv6 path: a second compliant server on [::1] for ipv6.lab.test (its A record is the IPv4 one).
    servers.append(ServerSpec("compliant", "::1", "mx.ipv6.lab.test", "ipv6.lab.test",
                              {"domains": ["ipv6.lab.test"] + list(COMPLIANT_EXTRA_DOMAINS)}))
    dns_only_domains = [
        "implicit-mx.lab.test", "null-mx.lab.test", "null-mx-mixed.lab.test", "mx-is-ip.lab.test",
        "mx-no-address.lab.test", "mx-cname.lab.test", "backup-mx.lab.test", "no-mail.lab.test",
        "servfail.lab.test", "dns-timeout.lab.test",
    ]
    return Lab(
        servers=servers,
        postfix=postfix,
        records=records,
        servfail={_fqdn(d) for d in SERVFAIL_DOMAINS},
        drop={_fqdn(d) for d in DROP_DOMAINS},
        dns_only_domains=dns_only_domains,
        port=port,
        dns_port=dns_port,
        exim=exim,
    )
