# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The bulk lab of the benchmark: N domains over M loopback MX addresses.

Behaviours belong to addresses (several domains share one MX address): of
the M addresses 80 % are compliant, 2 % never greet and the other 18 % have
one of the failure behaviours of the default lab, in turn. Domain ``j`` has
the MX host of address ``j % M``, so every address serves N / M domains and
the domains' behaviour mix is the addresses'. The layout is deterministic
(a fixed seed), so the benchmark and the lab process build the same one.

``python -m lab.bulk serve --domains N --addresses M --reply-delay 0.05
--state FILE`` runs all M servers and the DNS server in one process (so the
auditor is measured alone) and writes FILE when every listener is up. A
control port (in the state file) answers one-line commands: ``stats`` (a
JSON line: replies sent, command lines received by verb, connections, the
highest number of simultaneous connections per address and in all, DNS
queries, connection-seconds, when the first DNS query, the first connection,
the last reply and the last close came, the never-greeting connections' time
window, the longest and the last connections) and ``reset``. Counters are
plain numbers: nothing per command is kept, whatever N is.

The compliant addresses offer STARTTLS (RFC 3207) with a certificate for their
MX host name from the lab CA of the lab process (tests/lab/tls.py; its file is
``tls_ca_file`` in the state file), so that the tls check does what it does
at a real MX: the handshake, the certificate, the TLS 1.0/1.1 probe.

Addresses are 127.3.0.1 upwards (127.3.0.0/16, away from the default lab's
127.0.1.x and Postfix's 127.0.2.x); DNS listens on 127.0.0.1. Nothing leaves
the loopback.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .dns_server import LabDNSServer
from .scenario import DNS_HOST, ServerSpec
from .smtp_server import BEHAVIOURS, LabSMTPServer, SMTPSession, StartTLS

BULK_PORT = 2530
BULK_NET = "127.3."
BULK_ZONE = "bulk.lab.test"
KEEP = 5                       # connections kept in the "longest" and "last to close" lists
HOSTS_PER_OCTET = 250          # 127.3.0.1-250, 127.3.1.1-250, ...
SEED = 4                       # the number: any fixed seed keeps the layout reproducible
COMPLIANT_SHARE = 0.80
NEVER_GREETS_SHARE = 0.02
FAILURE_BEHAVIOURS = (
    "no_postmaster",
    "relay_denied_all",
    "null_sender_501",
    "accept_all",
    "open_relay",
    "percent_relay",
    "pipelining_loses",
    "greylist",
    "greeting_554",
)


def bulk_address(index: int) -> str:
    """The loopback address of MX number ``index`` (0-based)."""
    if not 0 <= index < HOSTS_PER_OCTET * 256:
        raise ValueError("address index %d out of range" % index)
    return "%s%d.%d" % (BULK_NET, index // HOSTS_PER_OCTET, index % HOSTS_PER_OCTET + 1)


def behaviour_mix(addresses: int, seed: int = SEED) -> list[str]:
    """One behaviour per address: 80 % compliant, 2 % never_greets, the rest failures in turn, shuffled."""
    never = int(round(addresses * NEVER_GREETS_SHARE))
    failing = int(round(addresses * (1 - COMPLIANT_SHARE))) - never
    if addresses >= 2 and never == 0:
        never = 1
        failing = max(failing - 1, 0)
    failing = max(failing, 0)
    compliant = addresses - never - failing
    mix = (["never_greets"] * never
           + [FAILURE_BEHAVIOURS[index % len(FAILURE_BEHAVIOURS)] for index in range(failing)]
           + ["compliant"] * compliant)
    random.Random(seed).shuffle(mix)
    return mix


def _fqdn(name: str) -> str:
    return name if name.endswith(".") else name + "."


@dataclass
class BulkLab:
    """The layout: domains, addresses with their behaviour, MX host names and the DNS table."""

    domains: list[str]
    addresses: list[str]
    behaviours: list[str]
    port: int = BULK_PORT
    dns_host: str = DNS_HOST
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of domains."""
        return len(self.domains)

    @property
    def m(self) -> int:
        """Number of MX addresses."""
        return len(self.addresses)

    @staticmethod
    def mx_host(index: int) -> str:
        """The MX host name of address ``index``."""
        return "mx%d.%s" % (index, BULK_ZONE)

    def address_index(self, domain_index: int) -> int:
        """Which address serves domain number ``domain_index``."""
        return domain_index % self.m

    def served(self, address_index: int) -> list[str]:
        """The domains whose MX is address ``address_index``."""
        return self.domains[address_index::self.m]

    def behaviour_of_domain(self, domain_index: int) -> str:
        """The behaviour a domain meets (that of its MX address)."""
        return self.behaviours[self.address_index(domain_index)]

    def specs(self) -> list[ServerSpec]:
        """One ServerSpec per address, with the domains it serves."""
        return [ServerSpec(behaviour, address, self.mx_host(index), self.served(index)[0] if self.served(index) else "",
                           {"domains": self.served(index) or [BULK_ZONE]})
                for index, (address, behaviour) in enumerate(zip(self.addresses, self.behaviours))]

    def counts(self) -> dict[str, dict[str, int]]:
        """Addresses and domains per behaviour."""
        out: dict[str, dict[str, int]] = {}
        for index, behaviour in enumerate(self.behaviours):
            entry = out.setdefault(behaviour, {"addresses": 0, "domains": 0})
            entry["addresses"] += 1
            entry["domains"] += len(self.served(index))
        return dict(sorted(out.items()))

    def sample(self, size: int, exclude: tuple[str, ...] = ("never_greets",)) -> list[tuple[str, str, str]]:
        """``size`` domains spread over distinct addresses: (domain, address, behaviour), deterministic.

        The addresses are taken at an even stride through the (shuffled)
        address list, skipping the behaviours in ``exclude``; each sampled
        address contributes the first domain it serves.
        """
        candidates = [index for index in range(min(self.m, self.n)) if self.behaviours[index] not in exclude]
        if not candidates or size <= 0:
            return []
        size = min(size, len(candidates))
        picked = [candidates[(position * len(candidates)) // size] for position in range(size)]
        return [(self.domains[index], self.addresses[index], self.behaviours[index]) for index in picked]


def bulk_lab(domains: int, addresses: int = 250, port: int = BULK_PORT, seed: int = SEED) -> BulkLab:
    """Build the layout of ``domains`` domains over ``addresses`` MX addresses."""
    if domains < 1 or addresses < 1:
        raise ValueError("need at least one domain and one address")
    width = max(5, len(str(domains - 1)))
    names = ["d%0*d.%s" % (width, index, BULK_ZONE) for index in range(domains)]
    addrs = [bulk_address(index) for index in range(addresses)]
    lab = BulkLab(names, addrs, behaviour_mix(addresses, seed), port=port)
    records: dict[str, dict[str, list[str]]] = {
        "lab.test.": {"SOA": ["ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60"], "NS": ["ns.lab.test."]},
        "ns.lab.test.": {"A": [DNS_HOST]},
        _fqdn(BULK_ZONE): {"SOA": ["ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60"]},
    }
    for index, address in enumerate(addrs):
        records[_fqdn(lab.mx_host(index))] = {"A": [address]}
    for index, name in enumerate(names):
        records[_fqdn(name)] = {"MX": ["10 %s" % _fqdn(lab.mx_host(index % addresses))]}
    lab.records = records
    return lab


# ---- the servers, with counters ---------------------------------------------------------------------------

class Counters:
    """What the whole lab did since the last reset (plain integers and a few floats)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero everything (peaks restart from the connections open now)."""
        self.replies = 0
        self.commands = 0
        self.connections = 0
        self.max_current = getattr(self, "current", 0)
        self.current = getattr(self, "current", 0)
        self.never_greets_connections = 0
        self.never_greets_first: Optional[float] = None
        self.never_greets_last: Optional[float] = None
        self.last_reply: Optional[float] = None
        self.first_connection: Optional[float] = None
        self.last_close: Optional[float] = None
        self.first_dns: Optional[float] = None
        self.last_dns: Optional[float] = None
        self.connection_seconds = 0.0
        self.never_greets_seconds = 0.0
        self.longest: list[tuple[float, float, str, str]] = []   # (seconds, closed at, behaviour, address), top few
        self.last_closes: list[tuple[float, float, str, str]] = []  # the last few connections to close
        self.verbs: dict[str, int] = {}
        self.reset_at = time.monotonic()


class CountingSession(SMTPSession):
    """Mixed in before a behaviour: counts replies; the served domains come from a precomputed set."""

    server: BulkSMTPServer

    @property
    def domains(self) -> Any:  # a frozenset: membership is all the behaviours ask of it
        return self.server.domain_set

    async def reply(self, text: str) -> None:
        counters = self.server.counters
        counters.replies += 1
        await super().reply(text)
        counters.last_reply = time.monotonic()


class BulkStartTLS(StartTLS):
    """The compliant behaviour with STARTTLS; unlike the default lab's, it keeps no list of the SNI names seen."""

    def server_context(self) -> Any:
        from .tls import lab_ca  # pylint: disable=import-outside-toplevel
        return lab_ca().server_context(self.name, self.certificate_kind)


class BulkSMTPServer(LabSMTPServer):
    """A LabSMTPServer that counts instead of recording command lines."""

    def __init__(self, behaviour: str, host: str, port: int, counters: Counters, **kw: Any) -> None:
        super().__init__(behaviour, host, port, **kw)
        self.counters = counters
        self.domain_set = frozenset(d.lower().rstrip(".") for d in self.options.get("domains") or ())
        base = BulkStartTLS if behaviour == "compliant" else BEHAVIOURS[behaviour]
        self.session_class = type("Counting" + base.__name__, (CountingSession, base), {})

    def record(self, line: str) -> None:
        counters = self.counters
        counters.commands += 1
        verb = line.partition(" ")[0].upper()
        if not verb.isalpha() or len(verb) > 8:
            verb = "(other)"
        counters.verbs[verb] = counters.verbs.get(verb, 0) + 1
        if line.strip(" ").upper() == "DATA":
            self.data_commands += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters = self.counters
        counters.connections += 1
        counters.current += 1
        counters.max_current = max(counters.max_current, counters.current)
        opened = time.monotonic()
        if counters.first_connection is None:
            counters.first_connection = opened
        never = self.behaviour == "never_greets"
        if never:
            counters.never_greets_connections += 1
            if counters.never_greets_first is None:
                counters.never_greets_first = opened
        try:
            await super()._handle(reader, writer)
        finally:
            counters.current -= 1
            closed = time.monotonic()
            counters.last_close = closed
            counters.connection_seconds += closed - opened
            entry = (closed - opened, closed, self.behaviour, self.host)
            counters.last_closes = counters.last_closes[-(KEEP - 1):] + [entry]
            if len(counters.longest) < KEEP or entry[0] > counters.longest[-1][0]:
                counters.longest = sorted(counters.longest + [entry], reverse=True)[:KEEP]
            if never:
                counters.never_greets_last = closed
                counters.never_greets_seconds += closed - opened


class CountingDNSServer(LabDNSServer):
    """A LabDNSServer that notes when the first and the last query came, and keeps no query log."""

    def __init__(self, records: dict, host: str, port: int, counters: Counters) -> None:
        super().__init__(records, host, port)
        self.counters = counters
        self.count = 0

    def resolve(self, query: Any) -> Any:
        now = time.monotonic()
        counters = self.counters
        if counters.first_dns is None:
            counters.first_dns = now
        counters.last_dns = now
        self.count += 1
        response = super().resolve(query)
        self.queries.clear()
        return response


class BulkRunner:
    """All M servers, the DNS server and the control port, on one event loop."""

    def __init__(self, lab: BulkLab, reply_delay: float, dns_port: int = 0) -> None:
        self.lab = lab
        self.counters = Counters()
        self.dns = CountingDNSServer(lab.records, lab.dns_host, dns_port, self.counters)
        self.servers = [BulkSMTPServer(spec.behaviour, spec.address, lab.port, self.counters, name=spec.name,
                                       reply_delay=reply_delay, options=spec.options)
                        for spec in lab.specs()]
        self.reply_delay = reply_delay
        from .tls import lab_ca  # pylint: disable=import-outside-toplevel
        self.tls_ca_file = lab_ca().ca_file  # the CA of the compliant servers' certificates, made now
        self.control_port = 0
        self._control: Optional[asyncio.AbstractServer] = None
        self._started: list[Any] = []

    async def start(self) -> None:
        """Listen everywhere; raises OSError when an address or port is taken."""
        await self.dns.start()
        self._started.append(self.dns)
        for server in self.servers:
            await server.start()
            self._started.append(server)
        self._control = await asyncio.start_server(self._control_client, "127.0.0.1", 0)
        self.control_port = self._control.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every listener and connection."""
        if self._control is not None:
            self._control.close()
            self._control = None
        await asyncio.gather(*(item.stop() for item in self._started), return_exceptions=True)
        self._started = []

    def reset(self) -> None:
        """Zero the counters (between measured runs)."""
        self.counters.reset()
        self.dns.count = 0
        for server in self.servers:
            server.max_concurrent = server.current
            server.connections = 0

    def stats(self) -> dict[str, Any]:
        """The counters since the last reset."""
        c = self.counters
        per_behaviour: dict[str, int] = {}
        for server in self.servers:
            per_behaviour[server.behaviour] = per_behaviour.get(server.behaviour, 0) + server.connections
        window = None
        if c.never_greets_first is not None and c.never_greets_last is not None:
            window = {"first_open": round(c.never_greets_first - c.reset_at, 3),
                      "last_close": round(c.never_greets_last - c.reset_at, 3)}
        never = [server.connections for server in self.servers if server.behaviour == "never_greets"]
        return {
            "replies": c.replies,
            "commands": c.commands,
            "connections": c.connections,
            "connections_by_behaviour": dict(sorted(per_behaviour.items())),
            "open_now": c.current,
            "max_concurrent": c.max_current,
            "max_per_address": max((s.max_concurrent for s in self.servers), default=0),
            "dns_queries": self.dns.count,
            "never_greets_connections": c.never_greets_connections,
            "never_greets_window": window,
            "never_greets_max_per_address": max(never, default=0),
            "times": {name: None if value is None else round(value - c.reset_at, 3) for name, value in (
                ("first_dns", c.first_dns), ("last_dns", c.last_dns), ("first_connection", c.first_connection),
                ("last_reply", c.last_reply), ("last_close", c.last_close))},
            "connection_seconds": round(c.connection_seconds, 3),
            "never_greets_seconds": round(c.never_greets_seconds, 3),
            "verbs": dict(sorted(c.verbs.items())),
            "longest_connections": [self._connection(entry) for entry in c.longest],
            "last_closes": [self._connection(entry) for entry in c.last_closes],
            "data_commands": sum(s.data_commands for s in self.servers),
            "seconds_since_reset": round(time.monotonic() - c.reset_at, 3),
        }

    def _connection(self, entry: tuple[float, float, str, str]) -> dict[str, Any]:
        seconds, closed, behaviour, address = entry
        return {"seconds": round(seconds, 3), "closed_at": round(closed - self.counters.reset_at, 3),
                "behaviour": behaviour, "address": address}

    def state(self) -> dict[str, Any]:
        """What a client needs: ports, layout summary, control port."""
        return {
            "pid": os.getpid(),
            "dns": {"host": self.lab.dns_host, "port": self.dns.port},
            "smtp_port": self.lab.port,
            "control": {"host": "127.0.0.1", "port": self.control_port},
            "reply_delay": self.reply_delay,
            "domains": self.lab.n,
            "addresses": self.lab.m,
            "behaviours": self.lab.counts(),
            "tls_ca_file": self.tls_ca_file,
        }

    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                command = line.decode("ascii", "replace").strip().lower()
                if command == "stats":
                    answer: Any = self.stats()
                elif command == "reset":
                    self.reset()
                    answer = {"ok": True}
                else:
                    answer = {"error": "unknown command %r (stats, reset)" % command}
                writer.write((json.dumps(answer, sort_keys=True) + "\n").encode("ascii"))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def control(host: str, port: int, command: str, timeout: float = 10.0) -> dict[str, Any]:
    """Send one control command to a running bulk lab and return its JSON answer (blocking)."""
    import socket  # pylint: disable=import-outside-toplevel

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(command.encode("ascii") + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data.decode("ascii"))


def _write_state(path: str, state: dict[str, Any]) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


async def serve(lab: BulkLab, state_path: str, reply_delay: float, dns_port: int, lifetime: float) -> int:
    """Run the bulk lab until SIGTERM/SIGINT or ``lifetime`` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = BulkRunner(lab, reply_delay, dns_port)
    try:
        await runner.start()
        _write_state(state_path, runner.state())
        print("bulk lab ready: %d domains over %d addresses (%s...), port %d, dns %s:%d, control %d, state %s"
              % (lab.n, lab.m, lab.addresses[0], lab.port, lab.dns_host, runner.dns.port, runner.control_port,
                 state_path), file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=lifetime)
        except asyncio.TimeoutError:
            print("bulk lab: lifetime of %g s over, stopping" % lifetime, file=sys.stderr)
    except OSError as exc:
        print("bulk lab: cannot listen: %s" % exc, file=sys.stderr)
        return 1
    finally:
        await runner.stop()
        try:
            os.unlink(state_path)
        except FileNotFoundError:
            pass
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """``serve``, ``domains`` (print one domain a line) and ``layout`` (JSON summary)."""
    parser = argparse.ArgumentParser(prog="python -m lab.bulk", description="mxaudit.smtp bulk lab (benchmark)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run the DNS server and all M SMTP servers in this process"),
                       ("domains", "print the lab's domains, one a line"),
                       ("layout", "print the behaviour mix as JSON")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--domains", type=int, required=True, help="N, the number of domains")
        command.add_argument("--addresses", type=int, default=250, help="M, the number of MX addresses (default 250)")
        command.add_argument("--port", type=int, default=BULK_PORT, help="SMTP port of every server (default %(default)s)")
        if name == "serve":
            command.add_argument("--state", required=True, help="JSON file written when the lab is ready (removed on exit)")
            command.add_argument("--reply-delay", type=float, default=0.0, help="seconds before every SMTP reply")
            command.add_argument("--dns-port", type=int, default=0, help="DNS port on %s (default: a free one)" % DNS_HOST)
            command.add_argument("--domains-file", help="also write the domains here, one a line")
            command.add_argument("--lifetime", type=float, default=3600.0, help="stop after this many seconds (default 3600)")
    args = parser.parse_args(argv)
    lab = bulk_lab(args.domains, args.addresses, args.port)
    if args.command == "domains":
        sys.stdout.write("".join(domain + "\n" for domain in lab.domains))
        return 0
    if args.command == "layout":
        json.dump({"domains": lab.n, "addresses": lab.m, "behaviours": lab.counts()}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.domains_file:
        with open(args.domains_file, "w", encoding="utf-8") as handle:
            handle.write("".join(domain + "\n" for domain in lab.domains))
    return asyncio.run(serve(lab, args.state, args.reply_delay, args.dns_port, args.lifetime))


if __name__ == "__main__":
    sys.exit(main())
