# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command line: ``python -m lab serve --state FILE`` and ``python -m lab zones``.

``serve`` writes the state file only once every listener is up, so a
Makefile or CI job can wait for the file instead of sleeping.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any, Optional

from .dns_server import LabDNSServer
from .scenario import DNS_HOST, DNS_PORT, LAB_PORT, default_lab
from .smtp_server import LabSMTPServer


def _write_state(path: str, state: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half a file."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


async def serve(state_path: str, port: int, dns_port: int, reply_delay: float, slow_delay: Optional[float]) -> int:
    """Run the DNS server and every behaviour server until SIGTERM/SIGINT."""
    lab = default_lab(port=port, dns_port=dns_port, slow_delay=slow_delay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    dns = LabDNSServer(lab.records, DNS_HOST, dns_port, servfail=lab.servfail, drop=lab.drop)
    servers = [LabSMTPServer(spec.behaviour, spec.address, port, name=spec.name, reply_delay=reply_delay, options=spec.options)
               for spec in lab.servers]
    started: list[Any] = []
    try:
        # The trust anchor of the STARTTLS servers' certificates, for an audit's tls_ca_file (None without cryptography).
        from .tls import lab_ca  # pylint: disable=import-outside-toplevel
        tls_ca_file: Optional[str] = lab_ca().ca_file
    except ImportError:
        tls_ca_file = None
    try:
        await dns.start()
        started.append(dns)
        for server in servers:
            await server.start()
            started.append(server)
        _write_state(state_path, {
            "pid": os.getpid(),
            "dns": {"host": DNS_HOST, "port": dns.port},
            "smtp_port": port,
            "reply_delay": reply_delay,
            "tls_ca_file": tls_ca_file,
            "servers": [
                {"behaviour": spec.behaviour, "address": spec.address, "port": server.port,
                 "domain": spec.domain, "mx": spec.name}
                for spec, server in zip(lab.servers, servers)
            ],
        })
        print("lab ready: dns %s:%d, %d smtp servers on port %d, state in %s"
              % (DNS_HOST, dns.port, len(servers), port, state_path), file=sys.stderr, flush=True)
        await stop.wait()
    except OSError as exc:
        print("lab: cannot listen: %s" % exc, file=sys.stderr)
        return 1
    finally:
        await asyncio.gather(*(s.stop() for s in started))
        try:
            os.unlink(state_path)
        except FileNotFoundError:
            pass
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    """Parse arguments and run a subcommand."""
    parser = argparse.ArgumentParser(prog="python -m lab", description="mxaudit.smtp local test lab")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the DNS server and all behaviour SMTP servers")
    p_serve.add_argument("--state", required=True, help="JSON file written when the lab is ready (removed on exit)")
    p_serve.add_argument("--port", type=int, default=LAB_PORT, help="SMTP port of every server (default %(default)s)")
    p_serve.add_argument("--dns-port", type=int, default=DNS_PORT, help="DNS port on %s (default %%(default)s)" % DNS_HOST)
    p_serve.add_argument("--reply-delay", type=float, default=0.0, help="seconds before every SMTP reply")
    p_serve.add_argument("--slow-delay", type=float, default=None, help="greeting delay of slow_greeting (default 3.0)")
    sub.add_parser("zones", help="print the lab DNS records as JSON")
    args = parser.parse_args(argv)
    if args.command == "zones":
        json.dump(default_lab().records, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    return asyncio.run(serve(args.state, args.port, args.dns_port, args.reply_delay, args.slow_delay))


if __name__ == "__main__":
    sys.exit(main())
