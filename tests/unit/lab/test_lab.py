# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the lab itself: if a lab server misbehaves in the wrong way, every audit test lies.

Plain synchronous tests: the servers run in a ``LabRunner`` thread and are
driven with raw sockets on ephemeral loopback ports, so they can run in
parallel with a running ``make demo`` lab.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

TESTS_DIR = Path(__file__).resolve().parents[2]


def _import_lab() -> Any:
    """Import tests/lab: as part of the collection if installed so, else from its path.

    The fallback loads it under a private name: with plain pytest, ``lab``
    on sys.path is this test package (tests/unit/lab), not tests/lab.
    """
    try:
        import ansible_collections.mxaudit.smtp.tests.lab as lab_pkg  # pylint: disable=import-outside-toplevel
        return lab_pkg
    except ImportError:
        pass
    name = "mxaudit_smtp_tests_lab"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TESTS_DIR / "lab" / "__init__.py",
                                                  submodule_search_locations=[str(TESTS_DIR / "lab")])
    if spec is None or spec.loader is None:
        raise ImportError("cannot load %s" % (TESTS_DIR / "lab"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


lab = _import_lab()
HOST = "127.0.0.1"
TIMEOUT = 3.0
PIPELINED_GROUP = b"MAIL FROM:<>\r\nRCPT TO:<postmaster@%s>\r\nRSET\r\nQUIT\r\n"
_OPEN_CLIENTS: list[Any] = []


# ---- helpers --------------------------------------------------------------------

class Client:
    """A raw SMTP client: sends bytes, splits replies, nothing clever."""

    def __init__(self, server: Any, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        self.buf = b""
        _OPEN_CLIENTS.append(self)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> Optional[bytes]:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self) -> list[str]:
        """Read one (multiline) reply; [] at EOF."""
        lines: list[str] = []
        while True:
            line = self._line()
            if line is None:
                return lines
            lines.append(line.decode("latin-1"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines

    def cmd(self, line: str) -> list[str]:
        self.send(line.encode("latin-1") + b"\r\n")
        return self.reply()

    def code(self, line: str) -> str:
        return self.cmd(line)[-1][:3]

    def replies_until_close(self) -> list[str]:
        """Every reply line until the server closes (or the timeout fires)."""
        out: list[str] = []
        while True:
            line = self._line()
            if line is None:
                return out
            out.append(line.decode("latin-1"))

    def at_eof(self, timeout: float = 1.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN_CLIENTS:
        _OPEN_CLIENTS.pop().close()


@pytest.fixture(name="runner")
def runner_fixture() -> Iterator[Any]:
    with lab.LabRunner() as run:
        yield run


def _start(runner: Any, behaviour: str, **kw: Any) -> Any:
    return runner.start_smtp(behaviour, HOST, 0, **kw)


def _session(server: Any) -> Client:
    client = Client(server)
    greeting = client.reply()
    assert greeting and greeting[0].startswith("220 "), greeting
    assert client.cmd("EHLO client.lab.test")[-1].startswith("250 ")
    return client


# ---- compliant ------------------------------------------------------------------

def test_compliant_transcript(runner: Any) -> None:
    server = _start(runner, "compliant")
    client = Client(server)
    assert client.reply() == ["220 mx.compliant.lab.test ESMTP mxaudit-lab"]
    assert client.cmd("EHLO client.lab.test") == [
        "250-mx.compliant.lab.test", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME",
        "250-ENHANCEDSTATUSCODES", "250-DSN", "250 SMTPUTF8"]
    assert client.cmd("MAIL FROM:<>") == ["250 2.1.0 Ok"]
    assert client.cmd("RCPT TO:<postmaster@compliant.lab.test>") == ["250 2.1.5 Ok"]
    assert client.cmd("RCPT TO:<Postmaster>") == ["250 2.1.5 Ok"]
    assert client.cmd("rcpt to: <PostMaster@Compliant.Lab.Test> NOTIFY=NEVER") == ["250 2.1.5 Ok"]
    assert client.cmd("RCPT TO:<abuse@compliant.lab.test>") == ["250 2.1.5 Ok"]
    assert client.cmd("RCPT TO:<nosuchuser@compliant.lab.test>") == [
        "550 5.1.1 <nosuchuser@compliant.lab.test>: Recipient address rejected: User unknown"]
    assert client.cmd("RCPT TO:<someone@foreign.example>") == [
        "554 5.7.1 <someone@foreign.example>: Relay access denied"]
    assert client.cmd("RSET") == ["250 2.0.0 Ok"]
    assert client.cmd("RCPT TO:<postmaster@compliant.lab.test>")[0].startswith("503 5.5.1")
    assert client.cmd("QUIT") == ["221 2.0.0 Bye"]
    assert client.at_eof()
    client.close()
    assert server.commands[:3] == ["EHLO client.lab.test", "MAIL FROM:<>", "RCPT TO:<postmaster@compliant.lab.test>"]
    assert server.commands[-1] == "QUIT"
    assert server.connections == 1 and server.max_concurrent == 1 and server.data_commands == 0


def test_compliant_sequencing_and_errors(runner: Any) -> None:
    server = _start(runner, "compliant")
    client = Client(server)
    client.reply()
    assert client.cmd("MAIL FROM:<a@b.example>") == ["503 5.5.1 Error: send HELO/EHLO first"]
    assert client.cmd("EHLO") == ["501 5.5.4 Syntax: EHLO hostname"]
    assert client.cmd("HELO client.lab.test") == ["250 mx.compliant.lab.test"]
    assert client.cmd("MAIL FROM: <a@b.example> SIZE=100 BODY=8BITMIME") == ["250 2.1.0 Ok"]
    assert client.cmd("MAIL FROM:<a@b.example>") == ["503 5.5.1 Error: nested MAIL command"]
    assert client.cmd("RCPT TO:postmaster") == ["501 5.1.3 Bad recipient address syntax"]
    assert client.cmd("RCPT TO:<>") == ["501 5.1.3 Bad recipient address syntax"]
    assert client.cmd("NOOP") == ["250 2.0.0 Ok"]
    assert client.code("VRFY postmaster") == "252"
    assert client.cmd("XYZZY") == ["500 5.5.2 Error: command not recognized"]
    assert client.cmd("RCPT TO:<" + "a" * 600 + "@compliant.lab.test>") == ["500 5.5.0 Error: line too long"]
    assert client.cmd("DATA") == ["554 5.5.1 Error: no valid recipients"]
    assert client.cmd("NOOP") == ["250 2.0.0 Ok"], "still open after 500s"
    assert server.data_commands == 1


@pytest.mark.parametrize("addr", [
    "user%foreign.example@compliant.lab.test",
    "foreign.example!user@compliant.lab.test",
    "foreign.example!user",
    "@compliant.lab.test,@foreign.example:user@foreign.example",
    '"user@foreign.example"@compliant.lab.test',
    "user@foreign.example@compliant.lab.test",
    "user@[192.0.2.1]",
])
def test_compliant_refuses_relay_variants(runner: Any, addr: str) -> None:
    client = _session(_start(runner, "compliant"))
    client.cmd("MAIL FROM:<>")
    assert client.cmd("RCPT TO:<%s>" % addr) == ["554 5.7.1 <%s>: Relay access denied" % addr]


def test_compliant_accepts_lf_only_and_data_is_counted(runner: Any) -> None:
    server = _start(runner, "compliant")
    client = Client(server)
    client.reply()
    client.send(b"EHLO x\nMAIL FROM:<>\nRCPT TO:<info@compliant.lab.test>\nDATA\n")
    assert [client.reply()[-1][:3] for _i in range(4)] == ["250", "250", "250", "354"]
    client.send(b"Subject: t\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    assert client.reply()[0].startswith("250 ")
    assert client.reply() == ["221 2.0.0 Bye"]
    assert server.data_commands == 1 and server.messages == 1 and "body" not in server.commands


def test_pipelined_group_compliant(runner: Any) -> None:
    client = _session(_start(runner, "compliant"))
    client.send(PIPELINED_GROUP % b"compliant.lab.test")
    assert client.replies_until_close() == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.0.0 Ok", "221 2.0.0 Bye"]


# ---- pipelining_loses -----------------------------------------------------------

def test_pipelining_loses_group(runner: Any) -> None:
    server = _start(runner, "pipelining_loses")
    client = _session(server)
    client.send(PIPELINED_GROUP % b"pipelining-loses.lab.test")
    assert client.replies_until_close() == ["250 Sender OK", "221 2.0.0 Bye"]
    assert server.commands[-4:] == ["MAIL FROM:<>", "RCPT TO:<postmaster@pipelining-loses.lab.test>", "RSET", "QUIT"]


def test_pipelining_loses_recovers_when_split_before_quit(runner: Any) -> None:
    client = _session(_start(runner, "pipelining_loses"))
    client.send(b"MAIL FROM:<>\r\nRCPT TO:<postmaster@pipelining-loses.lab.test>\r\nRSET\r\n")
    assert [client.reply() for _i in range(3)] == [["250 Sender OK"], ["250 2.1.5 Ok"], ["250 2.0.0 Ok"]]
    assert client.cmd("QUIT") == ["221 2.0.0 Bye"]


def test_pipelining_loses_stalls_on_noop_group(runner: Any) -> None:
    client = _session(_start(runner, "pipelining_loses"))
    client.send(b"MAIL FROM:<>\r\nRCPT TO:<postmaster@pipelining-loses.lab.test>\r\nNOOP\r\n")
    assert client.reply() == ["250 Sender OK"]
    client.sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        client.reply()


def test_pipelining_loses_unpipelined_is_compliant(runner: Any) -> None:
    client = _session(_start(runner, "pipelining_loses"))
    assert client.cmd("MAIL FROM:<>") == ["250 Sender OK"]
    assert client.code("RCPT TO:<postmaster@pipelining-loses.lab.test>") == "250"
    assert client.code("RSET") == "250"
    assert client.cmd("QUIT") == ["221 2.0.0 Bye"]


# ---- other behaviours -----------------------------------------------------------

def test_never_greets(runner: Any) -> None:
    server = _start(runner, "never_greets")
    client = Client(server)
    client.sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        client.sock.recv(1)
    client.send(b"EHLO x\r\n")
    assert not client.at_eof(0.3)
    assert server.current == 1


def test_endless_reply_keeps_sending(runner: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = _start(runner, "endless_reply")
    client = Client(server)
    client.reply()
    client.send(b"EHLO x\r\n")
    received = 0
    while received < 2_000_000:
        chunk = client.sock.recv(65536)
        assert chunk, "endless_reply stopped sending"
        assert chunk.startswith(b"250-") or received
        received += len(chunk)
    # a client that resets mid-reply must end the session quietly
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    deadline = time.monotonic() + 2.0
    while server.current and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.current == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("behaviour,steps", [
    ("greeting_554", [(None, "554 5.3.2 mx.greeting-554.lab.test No SMTP service here"),
                      ("EHLO x", "503 5.5.1 Error: no service"), ("MAIL FROM:<>", "503 5.5.1 Error: no service"),
                      ("QUIT", "221 2.0.0 Bye")]),
    ("hostile_banner", [(None, '220 mx.hostile-banner.lab.test ESMTP <script>alert(1)</script> & "quotes"')]),
    ("malformed_multiline", [(None, "220"), ("EHLO x", "250-mx.malformed-multiline.lab.test|250-PIPELINING|251 SIZE 1000")]),
    ("vrfy_550", [(None, "220"), ("EHLO x", "250"), ("VRFY postmaster", "550 5.1.1 User unknown")]),
    ("relay_denied_all", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                          ("RCPT TO:<postmaster@relay-denied-all.lab.test>", "550 5.7.1 Relaying is prohibited"),
                          ("RCPT TO:<Postmaster>", "550 5.7.1 Relaying is prohibited")]),
    ("null_sender_501", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "501 5.1.7 Bad sender address syntax"),
                         ("MAIL FROM:<a@b.example>", "250 2.1.0 Ok")]),
    ("percent_relay", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                       ("RCPT TO:<u%foreign.example@percent-relay.lab.test>", "250"),
                       ("RCPT TO:<u%foreign.example@[127.0.1.12]>", "250"),
                       ("RCPT TO:<foreign.example!u@percent-relay.lab.test>", "554"),
                       ("RCPT TO:<u@foreign.example>", "554")]),
    ("open_relay", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"), ("RCPT TO:<u@foreign.example>", "250")]),
    ("accept_all", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                    ("RCPT TO:<zq8x7@accept-all.lab.test>", "250"), ("RCPT TO:<u@foreign.example>", "554")]),
    ("no_postmaster", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                       ("RCPT TO:<postmaster@no-postmaster.lab.test>",
                        "550 5.1.1 <postmaster@no-postmaster.lab.test>: Recipient address rejected: User unknown"),
                       ("RCPT TO:<Postmaster>", "550"), ("RCPT TO:<abuse@no-postmaster.lab.test>", "250")]),
    ("greylist", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                  ("RCPT TO:<postmaster@greylist.lab.test>",
                   "450 4.7.1 <postmaster@greylist.lab.test>: Recipient address rejected: Greylisted, try again later")]),
    ("drops_421", [(None, "220"), ("EHLO x", "250"), ("MAIL FROM:<>", "250"),
                   ("RCPT TO:<postmaster@drops-421.lab.test>",
                    "421 4.7.0 mx.drops-421.lab.test Service not available, closing transmission channel"),
                   ("NOOP", "EOF")]),
    ("closes_on_unknown", [(None, "220"), ("EHLO x", "250"), ("XYZZY", "EOF")]),
    ("slow_greeting", [(None, "220 mx.slow-greeting.lab.test ESMTP mxaudit-lab"), ("EHLO x", "250")]),
])
def test_behaviour_replies(runner: Any, behaviour: str, steps: list[tuple[Optional[str], str]]) -> None:
    server = _start(runner, behaviour, options={"delay": 0.3} if behaviour == "slow_greeting" else None)
    client = Client(server)
    started = time.monotonic()
    for command, expected in steps:
        if command is None:
            reply = client.reply()
        else:
            try:
                reply = client.cmd(command)
            except (BrokenPipeError, ConnectionResetError):
                reply = []
        text = "|".join(reply) if reply else "EOF"
        assert text.startswith(expected), (command, text)
    if behaviour == "slow_greeting":
        assert time.monotonic() - started >= 0.25
    assert server.data_commands == 0


def test_reply_delay_and_name(runner: Any) -> None:
    server = _start(runner, "compliant", name="mx1.example.test", reply_delay=0.05)
    client = Client(server)
    started = time.monotonic()
    assert client.reply() == ["220 mx1.example.test ESMTP mxaudit-lab"]
    client.cmd("NOOP")
    assert time.monotonic() - started >= 0.1


def test_stop_closes_open_connections() -> None:
    runner = lab.LabRunner()
    server = runner.start_smtp("never_greets", HOST, 0)
    clients = [Client(server) for _i in range(3)]
    deadline = time.monotonic() + 2.0
    while server.current < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.max_concurrent == 3 and server.connections == 3
    started = time.monotonic()
    runner.stop()
    assert time.monotonic() - started < 2.5
    for client in clients:
        client.sock.settimeout(1.0)
        try:
            assert client.sock.recv(1) == b""
        except ConnectionResetError:
            pass
    with pytest.raises(OSError):
        socket.create_connection((HOST, server.port), timeout=1.0)


def test_unknown_behaviour_is_an_error() -> None:
    with pytest.raises(ValueError):
        lab.LabSMTPServer("nonesuch", HOST, 0)


# ---- DNS -------------------------------------------------------------------------

@pytest.fixture(name="dns_server")
def dns_server_fixture(runner: Any) -> Any:
    scenario = lab.default_lab()
    return runner.start_dns(scenario.records, HOST, 0, servfail=scenario.servfail, drop=scenario.drop)


def _ask(server: Any, name: str, rdtype: str, tcp: bool = False, timeout: float = TIMEOUT) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, server.host, port=server.port, timeout=timeout)
    return dns.query.udp(query, server.host, port=server.port, timeout=timeout)


def _texts(response: dns.message.Message, rdtype: str) -> list[str]:
    kind = dns.rdatatype.from_text(rdtype)
    return sorted(rr.to_text() for rrset in response.answer if rrset.rdtype == kind for rr in rrset)


def test_dns_mx_and_a(dns_server: Any) -> None:
    response = _ask(dns_server, "compliant.lab.test.", "MX")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert _texts(response, "MX") == ["10 mx.compliant.lab.test."]
    assert _texts(_ask(dns_server, "MX.Compliant.Lab.Test.", "A"), "A") == ["127.0.1.1"]
    assert _texts(_ask(dns_server, "null-mx-mixed.lab.test.", "MX"), "MX") == ["0 .", "10 mx.compliant.lab.test."]
    assert _texts(_ask(dns_server, "mx.ipv6.lab.test.", "AAAA"), "AAAA") == ["::1"]
    assert ("compliant.lab.test.", "MX") in dns_server.queries


def test_dns_cname_chase(dns_server: Any) -> None:
    response = _ask(dns_server, "alias.mx-cname.lab.test.", "A")
    assert _texts(response, "CNAME") == ["mx.compliant.lab.test."]
    assert _texts(response, "A") == ["127.0.1.1"]
    assert _texts(_ask(dns_server, "alias.mx-cname.lab.test.", "CNAME"), "CNAME") == ["mx.compliant.lab.test."]


def test_dns_nxdomain_and_nodata(dns_server: Any) -> None:
    response = _ask(dns_server, "nonesuch.lab.test.", "MX")
    assert response.rcode() == dns.rcode.NXDOMAIN and not response.answer
    assert response.authority and response.authority[0].rdtype == dns.rdatatype.SOA
    response = _ask(dns_server, "no-mail.lab.test.", "MX")
    assert response.rcode() == dns.rcode.NOERROR and not response.answer
    assert response.authority[0].rdtype == dns.rdatatype.SOA
    response = _ask(dns_server, "mx.mx-no-address.lab.test.", "A")
    assert response.rcode() == dns.rcode.NOERROR and not response.answer


def test_dns_servfail_and_drop(dns_server: Any) -> None:
    assert _ask(dns_server, "servfail.lab.test.", "MX").rcode() == dns.rcode.SERVFAIL
    with pytest.raises(dns.exception.Timeout):
        _ask(dns_server, "dns-timeout.lab.test.", "MX", timeout=0.5)
    with pytest.raises(dns.exception.Timeout):
        _ask(dns_server, "dns-timeout.lab.test.", "MX", tcp=True, timeout=0.5)
    assert ("dns-timeout.lab.test.", "MX") in dns_server.queries


def test_dns_tcp(dns_server: Any) -> None:
    response = _ask(dns_server, "backup-mx.lab.test.", "MX", tcp=True)
    assert _texts(response, "MX") == ["10 mx.compliant.lab.test.", "20 mx.relay-denied-all.lab.test."]


def test_dns_truncates_large_udp_answers(runner: Any) -> None:
    big = {"big.lab.test.": {"TXT": ['"%s"' % ("x" * 200 + str(i)) for i in range(10)]}}
    server = runner.start_dns(big, HOST, 0)
    query = dns.message.make_query("big.lab.test.", "TXT", use_edns=False)
    response = dns.query.udp(query, HOST, port=server.port, timeout=TIMEOUT, ignore_trailing=True)
    assert response.flags & dns.flags.TC
    assert len(_texts(_ask(server, "big.lab.test.", "TXT", tcp=True), "TXT")) == 10


# ---- scenario and CLI ------------------------------------------------------------

def test_scenario_layout() -> None:
    scenario = lab.default_lab()
    assert [s.behaviour for s in scenario.servers] == list(lab.BEHAVIOURS) + ["compliant"]
    assert [s.address for s in scenario.servers] == ["127.0.1.%d" % i for i in range(1, len(lab.BEHAVIOURS) + 1)] + ["::1"]
    assert scenario.server("compliant").address == "127.0.1.1"  # the IPv6 twin comes last
    assert [s.address for s in scenario.postfix] == ["127.0.2.%d" % i for i in range(1, 8)]
    assert [(s.behaviour, s.address, s.domain) for s in scenario.exim] == [("exim_default", "127.0.3.1", "exim-default.lab.test")]
    assert "exim-default.lab.test" not in scenario.domains() and "exim-default.lab.test" in scenario.domains(include_exim=True)
    assert scenario.server("open_relay").domain == "open-relay.lab.test"
    assert scenario.server("postfix_null_sender_refused").name == "mx.postfix-null-sender-refused.lab.test"
    for spec in scenario.servers[:-1] + scenario.postfix + scenario.exim:
        assert scenario.records[spec.domain + "."]["MX"] == ["10 %s." % spec.name]
        assert scenario.records[spec.name + "."]["A"] == [spec.address]
    assert scenario.records["mx.ipv6.lab.test."]["AAAA"] == ["::1"]
    domains = scenario.domains(include_exim=True)
    assert len(domains) == len(set(domains)) and "dns-timeout.lab.test" in domains
    assert all(addr.startswith("127.") for node in scenario.records.values() for addr in node.get("A", []))


def test_cli_serve(tmp_path: Path) -> None:
    state = tmp_path / "lab.json"
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "lab", "serve", "--state", str(state), "--port", "0", "--dns-port", "0"],
        cwd=str(TESTS_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10.0
        while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else "no state"
        info = json.loads(state.read_text())
        assert [s["behaviour"] for s in info["servers"]] == list(lab.BEHAVIOURS) + ["compliant"]
        compliant = next(s for s in info["servers"] if s["behaviour"] == "compliant")
        query = dns.message.make_query(compliant["mx"] + ".", "A")
        response = dns.query.udp(query, info["dns"]["host"], port=info["dns"]["port"], timeout=TIMEOUT)
        assert _texts(response, "A") == [compliant["address"]]
        with socket.create_connection((compliant["address"], compliant["port"]), timeout=TIMEOUT) as sock:
            assert sock.recv(100).startswith(b"220 mx.compliant.lab.test ")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in err
        assert not state.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_cli_zones() -> None:
    out = subprocess.run([sys.executable, "-m", "lab", "zones"], cwd=str(TESTS_DIR), check=True, capture_output=True, timeout=30)
    records = json.loads(out.stdout)
    assert records["null-mx.lab.test."] == {"MX": ["0 ."]}
