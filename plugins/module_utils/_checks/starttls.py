# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The certificates an MX presents after STARTTLS, for the checks that judge them against a policy.

DANE (TLSA records) and MTA-STS (a policy's ``mx`` patterns and the trust
store) both ask one thing of an address: which certificates does it
present, under SNI = the MX host name, when a sender upgrades with
STARTTLS? ``presented`` opens one session, says EHLO, STARTTLS, completes
the handshake without verifying (so the chain is had whatever is wrong
with it) and quits; it never sends MAIL. The tls check has its own,
richer session (injection, bare LF); this one only fetches.

What it found is an outcome, not a verdict: the checks decide what a
missing STARTTLS or a failed handshake means under their policy.
"""

from __future__ import annotations

import asyncio
import typing as t
from dataclasses import dataclass, field

from .. import _protocol as protocol
from .. import _session as smtp
from .. import _tls as tls
from .._findings import INCONCLUSIVE
from .._run_state import Problem
from .probe import ProbeSettings, Target, open_session, session_problem

# What became of the attempt.
UPGRADED = 'upgraded'             # the handshake completed: chain, version and cipher are set
NOT_OFFERED = 'not_offered'       # EHLO did not list STARTTLS
REFUSED = 'refused'               # STARTTLS got a reply other than 220 (``reply``; 4xx decides nothing)
HANDSHAKE_FAILED = 'handshake_failed'   # 220, then the handshake failed (``reason``)
NO_SESSION = 'no_session'         # no greeting, EHLO refused, or the session ended early (``problem``)


@dataclass
class Presented:
    """The outcome at one address, and the session's transcript."""

    outcome: str
    chain: list[bytes] = field(default_factory=list)   # DER, leaf first (the leaf alone where Python cannot show more)
    version: str | None = None
    cipher: str | None = None
    reply: protocol.Reply | None = None
    reason: str = ''
    problem: Problem | None = None
    transcript: list[str] = field(default_factory=list)

    @property
    def upgraded(self) -> bool:
        return self.outcome == UPGRADED

    def why_not(self) -> str:
        """Why there is no certificate, in words for a finding's summary."""
        if self.outcome == NOT_OFFERED:
            return 'STARTTLS is not offered in the EHLO reply'
        if self.outcome == REFUSED and self.reply is not None:
            return 'STARTTLS was answered "%s"' % self.reply.short()
        if self.outcome == HANDSHAKE_FAILED:
            return 'the TLS handshake failed: %s' % self.reason
        if self.problem is not None:
            return self.problem.summary
        return self.reason or 'no certificate'


def server_name(target: Target) -> str | None:
    """The MX host name for SNI, when the target has one that is a domain name."""
    if not target.mx or not protocol.is_domain(target.mx.rstrip('.')):
        return None
    return target.mx.rstrip('.').lower()


async def presented(target: Target, settings: ProbeSettings) -> Presented:
    """One session at ``target.address``: greeting, EHLO, STARTTLS, handshake (SNI = the MX host name), QUIT."""
    known = settings.run.problem(target.address)
    if known is not None:  # backed off by an earlier session of the run: no new connection
        return Presented(NO_SESSION, problem=known)
    session = settings.session(target.address)
    try:
        return await _fetch(session, target, settings)
    finally:
        if session.open:
            await session.quit()  # best effort: never raises
        session.abort()


async def presented_once(target: Target, settings: ProbeSettings) -> Presented:
    """``presented``, once per run for each MX host name and address: every check and domain that asks shares it.

    A host name serving thousands of domains is fetched once, whichever check asks first; the others
    await the same task. The transcript is the one session's.
    """
    key = ('starttls.presented', server_name(target), target.address)
    task = settings.run.shared.get(key)
    if task is None:
        task = asyncio.ensure_future(presented(target, settings))
        settings.run.shared[key] = task
    return await asyncio.shield(task)


async def _fetch(session: smtp.SMTPSession, target: Target, settings: ProbeSettings) -> Presented:
    def ended(outcome: str, **fields: t.Any) -> Presented:
        return Presented(outcome, transcript=list(session.transcript), **fields)

    greeting, problem = await open_session(session, settings.run)
    if problem is not None or greeting is None:
        return ended(NO_SESSION, problem=problem or Problem(INCONCLUSIVE, 'no greeting'))
    try:
        hello = await smtp.hello(session, settings.helo_name)
    except smtp.SessionError as exc:
        return ended(NO_SESSION, problem=session_problem(exc))
    if not hello.accepted:
        return ended(NO_SESSION, problem=Problem(INCONCLUSIVE, 'EHLO/HELO refused: "%s"' % hello.reply.short()))
    if hello.capabilities is None or not hello.capabilities.has('STARTTLS'):
        return ended(NOT_OFFERED)
    try:
        reply = await session.starttls(tls.probe_context(), server_name(target))
    except smtp.TLSHandshakeError as exc:
        return ended(HANDSHAKE_FAILED, reason=exc.message)
    except smtp.SessionError as exc:
        return ended(NO_SESSION, problem=session_problem(exc))
    if reply.code != 220:
        return ended(REFUSED, reply=reply)
    state = session.tls
    if state is None:  # pragma: no cover - starttls returns 220 only after a completed handshake
        return ended(HANDSHAKE_FAILED, reason='no TLS state after the handshake')
    return ended(UPGRADED, chain=tls.peer_chain(state), version=state.version(), cipher=(state.cipher() or (None,))[0])
