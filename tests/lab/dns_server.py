# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny authoritative DNS server for the lab zones (dnspython, asyncio).

It answers only from its table and never forwards or recurses, so pointing
the auditor's resolver at it keeps every DNS packet on the loopback.
"""
from __future__ import annotations

import asyncio
import struct
from typing import Any, Iterable, Optional

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

DEFAULT_TTL = 300
MAX_CNAME_CHAIN = 8
_IO_ERRORS = (ConnectionError, OSError, asyncio.IncompleteReadError)
_PARSE_ERRORS = (dns.exception.DNSException, ValueError, IndexError, UnicodeError, struct.error)


def _absolute(name: str) -> str:
    """Normalise an owner name: lowercase, trailing dot."""
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."


class LabDNSServer:
    """Authoritative answers from ``records`` over UDP and TCP on one port.

    ``records`` maps an owner name to ``{rdtype: [rdata text, ...]}``.
    Names in ``servfail`` get SERVFAIL; names in ``drop`` get no answer at all.
    """

    def __init__(self, records: dict, host: str = "127.0.0.1", port: int = 0, *,
                 servfail: Optional[Iterable[str]] = None, drop: Optional[Iterable[str]] = None,
                 ttl: int = DEFAULT_TTL) -> None:
        self.host = host
        self.port = port
        self.ttl = ttl
        self.servfail: set[str] = {_absolute(n) for n in servfail or ()}
        self.drop: set[str] = {_absolute(n) for n in drop or ()}
        self.queries: list[tuple[str, str]] = []
        self.table: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        for owner, rrs in records.items():
            name = dns.name.from_text(_absolute(owner))
            node = self.table.setdefault(name, {})
            for rdtype_text, texts in rrs.items():
                rdtype = dns.rdatatype.from_text(rdtype_text)
                rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
                for text in texts:
                    rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False), ttl)
                node[rdtype] = rrset
        # Every owner and every name above it: a name exists when it is in here (an empty non-terminal
        # included), found in one lookup however large the zone (many-mx.lab.test has 1,000 hosts).
        self._existing: set[dns.name.Name] = set()
        for owner in self.table:
            for depth in range(len(owner.labels)):
                self._existing.add(owner.split(len(owner.labels) - depth)[1])
        self._udp: Optional[asyncio.DatagramTransport] = None
        self._tcp: Optional[asyncio.AbstractServer] = None
        self._tcp_tasks: dict[asyncio.Task, asyncio.StreamWriter] = {}

    # ---- lifecycle ------------------------------------------------------
    async def start(self) -> None:
        """Bind UDP and TCP on the same port (a free one when port is 0)."""
        loop = asyncio.get_running_loop()
        attempts = 20 if self.port == 0 else 1
        for attempt in range(attempts):
            udp, _proto = await loop.create_datagram_endpoint(lambda: _UDPProtocol(self), local_addr=(self.host, self.port))
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._tcp_client, self.host, port, reuse_address=True)
            except OSError:
                udp.close()
                if attempt == attempts - 1:
                    raise
                continue
            self._udp = udp
            self.port = port
            return

    async def stop(self) -> None:
        """Close both sockets and every TCP connection."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task, writer in list(self._tcp_tasks.items()):
            writer.transport.abort()
            task.cancel()
        if self._tcp_tasks:
            await asyncio.wait(list(self._tcp_tasks), timeout=2.0)
        if self._tcp is not None:
            try:
                await asyncio.wait_for(self._tcp.wait_closed(), timeout=2.0)
            except asyncio.TimeoutError:
                pass
            self._tcp = None

    # ---- answering ------------------------------------------------------
    def _exists(self, name: dns.name.Name) -> bool:
        """A name exists if it owns data or is an empty non-terminal."""
        return name in self._existing

    def _soa(self, qname: dns.name.Name) -> dns.rrset.RRset:
        """The SOA for the negative answer: from the table, else a synthetic one."""
        for depth in range(len(qname.labels)):
            apex = qname.split(len(qname.labels) - depth)[1]
            node = self.table.get(apex)
            if node and dns.rdatatype.SOA in node:
                return node[dns.rdatatype.SOA]
        lab = dns.name.from_text("lab.test.")
        apex = lab if qname.is_subdomain(lab) else qname.split(2)[1] if len(qname.labels) > 1 else dns.name.root
        rrset = dns.rrset.RRset(apex, dns.rdataclass.IN, dns.rdatatype.SOA)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA,
                                      "ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60"), 60)
        return rrset

    def resolve(self, query: dns.message.Message) -> Optional[dns.message.Message]:
        """Build the response to a parsed query, or None to stay silent."""
        if query.flags & dns.flags.QR:
            return None                                       # never answer a response
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        qname = question.name.canonicalize()
        qtype = question.rdtype
        self.queries.append((qname.to_text(), dns.rdatatype.to_text(qtype)))
        key = qname.to_text()
        if key in self.drop:
            return None
        if key in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        name = qname
        for _hop in range(MAX_CNAME_CHAIN):
            node = self.table.get(name)
            if node is None:
                if not self._exists(name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(self._soa(name))
                return response
            if qtype == dns.rdatatype.ANY:
                response.answer.extend(node.values())
                return response
            if qtype in node:
                response.answer.append(node[qtype])
                return response
            cname = node.get(dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(self._soa(name))
                return response
            response.answer.append(cname)
            name = cname[0].target.canonicalize()
        return response

    def answer_wire(self, wire: bytes, max_size: int) -> Optional[bytes]:
        """Parse, answer and encode; truncate (TC) what does not fit.

        ``max_size`` is 512 for UDP (raised to the EDNS payload size when the
        query advertises one) and 65535 for TCP.
        """
        try:
            query = dns.message.from_wire(wire)
        except _PARSE_ERRORS:
            if len(wire) < 12 or wire[2] & 0x80:
                return None
            header = bytearray(wire[:12])
            header[2] = 0x80 | (header[2] & 0x79)            # QR, keep opcode and RD
            header[3] = dns.rcode.FORMERR
            return bytes(header[:4]) + b"\0" * 8
        response = self.resolve(query)
        if response is None:
            return None
        if max_size < 65535 and query.edns >= 0:
            max_size = max(512, min(query.payload, 65535))
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tcp_tasks[task] = writer
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                wire = await reader.readexactly(length)
                out = self.answer_wire(wire, 65535)
                if out is not None:
                    writer.write(struct.pack("!H", len(out)) + out)
                    await writer.drain()
        except _IO_ERRORS:
            pass
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            if task is not None:
                self._tcp_tasks.pop(task, None)
            if not writer.transport.is_closing():
                writer.close()


class _UDPProtocol(asyncio.DatagramProtocol):
    """Answers each datagram; at most 512 octets unless the query has EDNS."""

    def __init__(self, server: LabDNSServer) -> None:
        self.server = server
        self.transport: Optional[asyncio.DatagramTransport] = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        out = self.server.answer_wire(data, 512)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors (a client went away) are not the server's problem."""
