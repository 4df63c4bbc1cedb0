# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MTA-STS lab: domains with _mta-sts / _smtp._tls records, an HTTPS policy server, STARTTLS MX servers.

Apart from the default lab (its own DNS server, its own addresses on
127.0.47.0/24, ephemeral ports), so the default audits stay as they are.
One HTTPS server on POLICY_ADDRESS serves every ``mta-sts.<domain>`` by the
Host header; the certificate it presents is chosen by SNI from the lab CA
(tests/lab/tls.py). The audit reaches it on an unprivileged port through
the private ``mta_sts.POLICY_PORT`` (RFC 8461 says 443), which the tests set.

Each case is one domain: ``CASES[name]`` says what its DNS, its policy and
its MX server are; ``EXPECTED`` what the audit must find.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Any, Optional

from .smtp_server import LabRunner
from .tls import lab_ca

NET = "127.0.47."
POLICY_ADDRESS = NET + "200"
ZONE = "sts.lab.test"
VALID_RPT = '"v=TLSRPTv1; rua=mailto:tlsrpt@%s"'


def policy(mode: str, *mx: str, max_age: int = 86400) -> bytes:
    lines = ["version: STSv1", "mode: %s" % mode] + ["mx: %s" % name for name in mx] + ["max_age: %d" % max_age]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


@dataclass
class Case:
    """One lab domain: its MX host (and the lab behaviour at it), its records, how its policy is served."""

    mx: str = ""                       # default: mx.<domain>
    behaviour: str = "tls_valid"       # the SMTP server at the MX host (a lab STARTTLS behaviour)
    sts: list[str] = field(default_factory=lambda: ['"v=STSv1; id=20260101T000000"'])
    rpt: Optional[list[str]] = None    # default: a valid TLS-RPT record
    body: Optional[bytes] = None       # default: enforce, mx: the MX host
    content_type: str = "text/plain"
    status: str = "200 OK"
    location: Optional[str] = None
    certificate: str = "valid"         # the policy host's certificate kind (tests/lab/tls.py KINDS)
    chunked: bool = False
    slow: bool = False                 # one byte of the answer every half second (a slowloris server)
    tlsa: bool = False                 # a TLSA record at _25._tcp.<mx host>: DANE published


CASES: dict[str, Case] = {
    "valid": Case(),
    "unrelated-txt": Case(sts=['"v=spf1 -all"', '"v=STSv1; id=abc123"', '"google-site-verification=xyz"']),
    "chunked": Case(chunked=True),
    "not-covered": Case(body=policy("enforce", "mail.elsewhere.lab.test")),
    "redirect": Case(status="301 Moved Permanently", location="https://www.sts.lab.test/mta-sts.txt"),
    "wildcard": Case(mx="a.b.wildcard.sts.lab.test", body=policy("enforce", "*.wildcard.sts.lab.test")),
    "wildcard-one-label": Case(mx="mail.wildcard-one-label.sts.lab.test",
                               body=policy("enforce", "*.wildcard-one-label.sts.lab.test")),
    "two-records": Case(sts=['"v=STSv1; id=one"', '"v=STSv1; id=two"']),
    "too-big": Case(body=policy("enforce", "mx.too-big.sts.lab.test") + b"# padding\r\n" * 7000),
    "html": Case(content_type="text/html"),
    "bad-rpt": Case(rpt=['"v=TLSRPTv1; rua=tlsrpt@bad-rpt.sts.lab.test"']),
    "no-rpt": Case(rpt=[]),
    "testing-bad-cert": Case(behaviour="tls_wrong_name", body=policy("testing", "mx.testing-bad-cert.sts.lab.test")),
    "enforce-bad-cert": Case(behaviour="tls_expired"),
    "https-wrong-name": Case(certificate="wrong_name"),
    "no-starttls": Case(behaviour="compliant"),
    "slow": Case(slow=True),
    "none": Case(sts=['"v=spf1 -all"'], rpt=[]),
    "dane-no-rpt": Case(sts=[], rpt=[], tlsa=True),
}


def domain(name: str) -> str:
    return "%s.%s" % (name, ZONE)


def mx_host(name: str) -> str:
    return CASES[name].mx or "mx." + domain(name)


def records() -> dict[str, dict[str, list[str]]]:
    """The zone: per case MX, the MX host's A, _mta-sts TXT, _smtp._tls TXT, mta-sts.<domain> A."""
    table: dict[str, dict[str, list[str]]] = {ZONE + ".": {"SOA": ["ns.%s. hostmaster.%s. 1 3600 600 86400 60" % (ZONE, ZONE)]}}
    for index, (name, case) in enumerate(CASES.items(), start=1):
        fqdn = domain(name) + "."
        table[fqdn] = {"MX": ["10 %s." % mx_host(name)]}
        table[mx_host(name) + "."] = {"A": [NET + str(index)]}
        if case.tlsa:
            table["_25._tcp." + mx_host(name) + "."] = {"TLSA": ["3 1 1 " + "ab" * 32]}
        if case.sts:
            table["_mta-sts." + fqdn] = {"TXT": list(case.sts)}
        rpt = [VALID_RPT % domain(name)] if case.rpt is None else case.rpt
        if rpt:
            table["_smtp._tls." + fqdn] = {"TXT": rpt}
        table["mta-sts." + fqdn] = {"A": [POLICY_ADDRESS]}
    return table


def case_of_host(host: str) -> Optional[str]:
    host = host.split(":", 1)[0].rstrip(".").lower()
    for name in CASES:
        if host == "mta-sts." + domain(name):
            return name
    return None


class PolicyServer:
    """HTTPS on one address for every case's mta-sts.<domain>: the certificate by SNI, the answer by Host."""

    def __init__(self, host: str = POLICY_ADDRESS, port: int = 0, policies: Optional[dict[str, bytes]] = None) -> None:
        self.host = host
        self.port = port
        # Policies of other labs' domains, by policy host name (mta-sts.<domain>): a valid certificate, the body as given.
        self.policies = {name.rstrip(".").lower(): body for name, body in (policies or {}).items()}
        self.requests: list[tuple[str, str]] = []   # (Host, request line)
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: set[asyncio.Task] = set()

    def context(self) -> ssl.SSLContext:
        ca = lab_ca()
        default = ca.server_context("mta-sts." + domain("valid"))

        def choose(sslobj: Any, name: Optional[str], _context: Any) -> None:
            case = case_of_host(name or "")
            if case is not None:
                sslobj.context = ca.server_context(name, CASES[case].certificate)
            elif (name or "").rstrip(".").lower() in self.policies:
                sslobj.context = ca.server_context(name, "valid")
            return None

        default.sni_callback = choose
        return default

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self.context(),
                                                  reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
            lines = head.decode("latin-1").split("\r\n")
            host = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("host:")), "")
            self.requests.append((host, lines[0]))
            name = case_of_host(host)
            other = self.policies.get(host.split(":", 1)[0].rstrip(".").lower())
            if name is None and other is not None:
                await self._answer(writer, Case(body=other), "")
            else:
                await self._answer(writer, CASES[name] if name else None, name or "")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError, ssl.SSLError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.transport.abort()

    async def _answer(self, writer: asyncio.StreamWriter, case: Optional[Case], name: str) -> None:
        if case is None:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            return
        body = case.body if case.body is not None else policy("enforce", mx_host(name))
        head = ["HTTP/1.1 %s" % case.status, "Content-Type: %s" % case.content_type, "Connection: close"]
        if case.location:
            head.append("Location: %s" % case.location)
        if case.chunked:
            head.append("Transfer-Encoding: chunked")
            half = len(body) // 2
            payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:])) + b"0\r\n\r\n"
        else:
            head.append("Content-Length: %d" % len(body))
            payload = body
        data = ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + payload
        if case.slow:
            for index in range(len(data)):
                writer.write(data[index:index + 1])
                await writer.drain()
                await asyncio.sleep(0.5)
            return
        writer.write(data)
        await writer.drain()


@dataclass
class RunningSTSLab:
    runner: LabRunner
    dns: Any
    policy: PolicyServer
    smtp_port: int
    servers: dict[str, Any]

    def module_args(self, **extra: Any) -> dict[str, Any]:
        args = {"port": self.smtp_port, "helo_name": "audit.lab.test", "timeout": 2.0,
                "resolver": {"nameservers": ["127.0.0.1"], "port": self.dns.port, "timeout": 1.0},
                "allow_private_addresses": True, "tls_ca_file": lab_ca().ca_file}
        args.update(extra)
        return args

    def stop(self) -> None:
        self.runner.stop()


def start() -> RunningSTSLab:
    """The whole MTA-STS lab on its own runner: DNS (ephemeral port), the policy server, one SMTP server per case."""
    runner = LabRunner()
    try:
        dns = runner.start_dns(records(), "127.0.0.1", 0)
        policy_server = PolicyServer()
        runner.call(policy_server.start())
        runner._servers.append(policy_server)  # pylint: disable=protected-access
        servers: dict[str, Any] = {}
        port = 0
        for index, name in enumerate(CASES, start=1):
            server = runner.start_smtp(CASES[name].behaviour, NET + str(index), port, name=mx_host(name),
                                       options={"domains": [domain(name)]})
            port = server.port
            servers[name] = server
        return RunningSTSLab(runner, dns, policy_server, port, servers)
    except BaseException:
        runner.stop()
        raise
