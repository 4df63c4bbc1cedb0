# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""TLS-1, TLS-2, TLS-4 to TLS-8: STARTTLS (RFC 3207) and the server's certificate.

One session per address: greeting, EHLO (TLS-1 STARTTLS offered, TLS-8
AUTH PLAIN/LOGIN offered in plaintext), STARTTLS with NOOP in the same
write (TLS-7, CVE-2011-0411: a reply to that NOOP, before or after the
handshake, means plaintext input survived the upgrade), the handshake with
SNI = the MX host name, EHLO again (TLS-2). When the handshake fails after
the injected NOOP, a second session without it tells a broken TLS from a
server that hangs up on injected input. The handshake does not verify,
so one session yields the certificates whatever is wrong with them; the
chain (TLS-4), the names (TLS-5) and the dates (TLS-6) are judged apart.
A 4xx to STARTTLS (454, 421) decides nothing; never DATA.
"""

from __future__ import annotations

import asyncio
import datetime
import typing as t
from dataclasses import dataclass

from .. import _protocol as protocol
from .. import _session as smtp
from .. import _tls as tls
from .._findings import ERROR, FAIL, INCONCLUSIVE, PASS, SKIPPED, WARN, Finding, Rule, define_rules
from .._run_state import Problem
from . import starttls
from .probe import CheckOutcome, ProbeSettings, Target, open_session, problem_findings, session_problem

CHECK = 'tls'
RULES = define_rules(CHECK, (
    Rule('TLS-1', 'SHOULD', 'high', 'RFC 3207 4, RFC 7435', 'STARTTLS is offered in the EHLO reply'),
    Rule('TLS-2', 'MUST', 'high', 'RFC 3207 4, 4.2',
         'STARTTLS gets 220, the handshake completes (SNI = the MX host name) and EHLO after TLS gets a valid reply'),
    Rule('TLS-3', 'MUST NOT', 'high', 'RFC 8996 5, RFC 7465 2',
         'TLS 1.2 or 1.3 is negotiated, TLS 1.0 and 1.1 are refused, and no weak suite (NULL, anonymous, export, RC4)'),
    Rule('TLS-4', 'BCP', 'medium', 'RFC 8461 4.2, RFC 7672', 'The certificate chain validates against the trust store'),
    Rule('TLS-5', 'BCP', 'medium', 'RFC 6125 6.4, RFC 8461 4.2', 'The certificate names (SAN dNSName) cover the MX host name'),
    Rule('TLS-6', 'BCP', 'medium', 'RFC 5280 4.1.2.5', 'The certificate is valid now and does not expire within 14 days'),
    Rule('TLS-7', 'MUST', 'high', 'RFC 3207 4.2, 5',
         'Commands sent in plaintext with STARTTLS are discarded, not answered (CVE-2011-0411 command injection)'),
    Rule('TLS-8', 'SHOULD NOT', 'medium', 'RFC 4954 4, RFC 4616 6', 'AUTH PLAIN/LOGIN is not offered before STARTTLS'),
    # Not a TLS rule, but it needs a session of its own near the end, and this is the extra session per address.
    Rule('LF-1', 'BCP', 'medium', 'RFC 5321 2.3.8, 4.1.1',
         'A command line ending in a bare LF is not answered as a complete command (SMTP smuggling precondition)'),
))
CERTIFICATE_RULES = ('TLS-4', 'TLS-5', 'TLS-6')
AFTER_STARTTLS = ('TLS-2', 'TLS-3') + CERTIFICATE_RULES + ('TLS-7',)
# Seconds to wait after the handshake for a reply to the injected NOOP (at most the reply timeout).
INJECTION_WAIT = 1.0
# Seconds to wait for a reply to "NOOP<LF>" (at most the reply timeout): a server that takes LF alone as the end
# of a line answers at once, as it answered every other command of the session.
BARE_LF_WAIT = 2.0
EXPIRY_WARNING = datetime.timedelta(days=14)
PLAINTEXT_MECHANISMS = ('PLAIN', 'LOGIN')
# Bounds of what the record keeps of a certificate (a run over thousands of domains keeps one per address): the
# subject and issuer are cut at RECORD_NAME_CHARS characters (ending in '...'), the DNS names after RECORD_DNS_NAMES.
RECORD_NAME_CHARS = 256
RECORD_DNS_NAMES = 20


def _bounded(text: str | None) -> str | None:
    if text is None or len(text) <= RECORD_NAME_CHARS:
        return text
    return text[:RECORD_NAME_CHARS - 3] + '...'


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ') if moment is not None else None


@dataclass
class TLSRecord:
    """What the tls check learnt at one address, for the reports: None where it was not learnt, never a guess."""

    starttls: bool | None = None              # offered in the plaintext EHLO reply (None: the session got no reply to it)
    protocol: str | None = None               # negotiated by the main handshake, e.g. TLSv1.3
    cipher: str | None = None                 # the cipher suite of that handshake
    certificate: tls.CertificateFacts | None = None   # the leaf's facts (cryptography needed)
    trusted: bool | None = None               # TLS-4: the chain validated against the trust anchors
    dns_names_total: int = 0

    def learn_certificate(self, facts: tls.CertificateFacts) -> None:
        self.certificate = facts
        self.dns_names_total = len(facts.dns_names)

    def to_dict(self, target: Target) -> dict[str, t.Any]:
        """One entry of a domain's ``tls`` list: small and flat (no PEM, names and lists bounded)."""
        facts = self.certificate
        return {
            'mx': target.mx,
            'address': target.address,
            'starttls': self.starttls,
            'protocol': self.protocol,
            'cipher': self.cipher,
            'subject': _bounded(facts.subject) if facts is not None else None,
            'issuer': _bounded(facts.issuer) if facts is not None else None,
            'not_before': _iso(facts.not_before) if facts is not None else None,
            'not_after': _iso(facts.not_after) if facts is not None else None,
            'dns_names': [_bounded(name) for name in facts.dns_names[:RECORD_DNS_NAMES]] if facts is not None else None,
            'trusted': self.trusted,
        }


def judge_offered(capabilities: protocol.Capabilities | None) -> tuple[str, str]:
    """TLS-1 from the plaintext EHLO."""
    if capabilities is None:
        return FAIL, 'EHLO is not supported, so STARTTLS cannot be offered (RFC 3207 4 needs the EHLO keyword)'
    if capabilities.has('STARTTLS'):
        return PASS, 'STARTTLS offered in the EHLO reply'
    return FAIL, 'STARTTLS is not offered in the EHLO reply: mail to this server travels in plaintext'


def judge_plaintext_auth(capabilities: protocol.Capabilities | None, port: int) -> tuple[str, str]:
    """TLS-8 from the plaintext EHLO: a password mechanism offered before TLS invites passwords in the clear."""
    if capabilities is None:
        return PASS, 'no EHLO extensions, so no AUTH before STARTTLS'
    offered = [mechanism for mechanism in capabilities.auth if mechanism in PLAINTEXT_MECHANISMS]
    if offered:
        return WARN, 'AUTH %s offered on port %d before STARTTLS: passwords can be sent in plaintext (RFC 4954 4)' % (
            ' '.join(offered), port)
    if capabilities.auth:
        return PASS, 'AUTH offered before STARTTLS without a plaintext password mechanism (%s)' % ' '.join(capabilities.auth)
    return PASS, 'no AUTH offered before STARTTLS'


def judge_starttls_reply(reply: protocol.Reply) -> tuple[str, str] | None:
    """TLS-2 when STARTTLS did not get 220 (None when it did)."""
    if reply.code == 220:
        return None
    if reply.is_transient():
        return INCONCLUSIVE, 'STARTTLS answered "%s": TLS is temporarily unavailable; nothing is shown' % reply.short()
    return FAIL, 'STARTTLS is offered but answered "%s" (RFC 3207 4: 220 to begin TLS)' % reply.short()


def judge_after_tls(hello: smtp.Hello) -> tuple[str, str]:
    """TLS-2 from the EHLO after the handshake (RFC 3207 4.2)."""
    if hello.reply.is_transient():
        return INCONCLUSIVE, 'the handshake completed; EHLO after TLS answered "%s"' % hello.reply.short()
    if not hello.accepted:
        return FAIL, 'the handshake completed but EHLO after TLS was refused: "%s"' % hello.reply.short()
    if hello.capabilities is not None and hello.capabilities.has('STARTTLS'):
        return FAIL, ('the handshake completed, but EHLO after TLS offers STARTTLS again (RFC 3207 4.2: the server '
                      'MUST NOT return the STARTTLS extension after TLS)')
    return PASS, ('STARTTLS got 220, the handshake completed and EHLO after TLS got "%s"; the capabilities learnt '
                  'before TLS were discarded (RFC 3207 4.2)' % hello.reply.short())


def judge_injection(before: t.Sequence[protocol.Reply], after: t.Sequence[protocol.Reply], waited: float) -> tuple[str, str]:
    """TLS-7 from the replies nobody asked for: to the NOOP sent in plaintext in the STARTTLS write."""
    if before:
        return FAIL, ('the NOOP sent in the same write as STARTTLS was answered in plaintext after the 220 ("%s"): the '
                      'server goes on reading plaintext commands across the upgrade (CVE-2011-0411)' % before[0].short())
    if after:
        return FAIL, ('the NOOP sent in plaintext with STARTTLS was answered inside TLS ("%s"): plaintext input was kept '
                      'across the upgrade, so an attacker on the path can inject commands (CVE-2011-0411, RFC 3207 4.2)'
                      % after[0].short())
    return PASS, ('the NOOP sent in plaintext with STARTTLS got no reply, before the handshake or within %g s after it: '
                  'the server discarded it' % waited)


def judge_bare_lf(answer: protocol.Reply | None, error: smtp.SessionError | None, waited: float) -> tuple[str, str]:
    """LF-1 from what came back for "NOOP<LF>" (no CR): a reply means the server ended the line at the bare LF."""
    if answer is not None:
        if answer.code == 421 or answer.is_transient():
            return INCONCLUSIVE, '"NOOP<LF>" answered "%s": a temporary reply shows nothing' % answer.short()
        if answer.is_positive():
            return WARN, ('"NOOP<LF>" without CR was answered "%s" as a complete command: the server ends lines at a '
                          'bare LF, the precondition of SMTP smuggling (RFC 5321 2.3.8: lines end in CRLF)' % answer.short())
        return PASS, '"NOOP<LF>" without CR was refused: "%s"' % answer.short()
    if isinstance(error, smtp.DeadlineExceeded) or isinstance(error, smtp.MalformedReply):
        return INCONCLUSIVE, 'the probe with "NOOP<LF>" could not finish: %s' % error.message
    if isinstance(error, smtp.ServerClosed):
        return PASS, 'the server closed the connection on "NOOP<LF>" without CR'
    return PASS, '"NOOP<LF>" without CR got no reply within %g s: the line was not taken as complete' % waited


def judge_negotiated(version: str | None, suite: str | None) -> tuple[str, str] | None:
    """TLS-3, first part: what the main handshake (which offers TLS 1.2 and 1.3 only) negotiated; None when fine."""
    if suite and tls.weak_suite(suite):
        return FAIL, 'the handshake negotiated %s with %s: %s' % (version, suite, tls.weak_suite(suite))
    if version not in ('TLSv1.2', 'TLSv1.3'):
        return FAIL, 'the handshake negotiated %s (RFC 8996: TLS 1.2 or 1.3)' % version
    return None


def judge_legacy(negotiated: str, accepted: str | None, refused: str | None, unavailable: str | None) -> tuple[str, str]:
    """TLS-3 from the second handshake, which offers only TLS 1.0 and 1.1."""
    weak_suites = ('weak suites were not offered to the server (RC4 and export suites are gone from OpenSSL 3; '
                   'NULL and anonymous suites would need a session each)')
    if unavailable:
        return SKIPPED, '%s; TLS 1.0/1.1 acceptance not probed: %s' % (negotiated, unavailable)
    if accepted:
        return FAIL, ('%s, but the server also accepts %s when a client offers nothing newer (RFC 8996 5: MUST NOT '
                      'negotiate TLS 1.0 or 1.1)' % (negotiated, accepted))
    if refused:
        return PASS, '%s; a handshake offering only TLS 1.0 and 1.1 was refused (%s); %s' % (negotiated, refused, weak_suites)
    return INCONCLUSIVE, '%s; the TLS 1.0/1.1 probe could not run' % negotiated


def judge_dates(facts: tls.CertificateFacts, now: datetime.datetime) -> tuple[str, str]:
    """TLS-6: expired or not yet valid fails; expiring within EXPIRY_WARNING warns."""
    if facts.not_before is None or facts.not_after is None:
        return INCONCLUSIVE, 'the certificate has no readable validity period'
    dates = 'valid from %s to %s' % (facts.not_before.strftime('%Y-%m-%d %H:%M:%SZ'),
                                     facts.not_after.strftime('%Y-%m-%d %H:%M:%SZ'))
    if now > facts.not_after:
        return FAIL, 'the certificate expired (%s): senders that verify refuse to deliver' % dates
    if now < facts.not_before:
        return FAIL, 'the certificate is not yet valid (%s)' % dates
    left = facts.not_after - now
    if left <= EXPIRY_WARNING:
        return WARN, 'the certificate expires in %d days (%s)' % (left.days, dates)
    return PASS, 'the certificate is %s' % dates


def judge_names(facts: tls.CertificateFacts, host: str | None) -> tuple[str, str]:
    """TLS-5: a SAN dNSName (the CN only without a SAN) covers the MX host name."""
    names = facts.dns_names or ([facts.common_name] if facts.common_name else [])
    shown = ', '.join(names[:10]) + (' ...' if len(names) > 10 else '') if names else 'none'
    if host is None:
        return SKIPPED, 'no MX host name to match the certificate against (names: %s)' % shown
    if tls.names_cover(facts, host):
        return PASS, 'the certificate names (%s) cover %s' % (shown, host)
    return WARN, ('the certificate names (%s) do not cover the MX host name %s (RFC 6125 6.4; MTA-STS senders refuse '
                  'it, RFC 8461 4.2)' % (shown, host))


def judge_trust(problem: str | None, facts: tls.CertificateFacts, anchors_from: str) -> tuple[str, str]:
    """TLS-4: the chain leads to a trust anchor of the store."""
    if problem is None:
        return PASS, 'the chain validates against %s' % anchors_from
    self_signed = ' (self-signed: subject = issuer)' if facts.self_issued else ''
    return WARN, 'the chain does not validate against %s%s: %s' % (anchors_from, self_signed, problem)


def _with(rule: str, verdict: tuple[str, str], target: Target, transcript: list[str]) -> Finding:
    return Finding(rule=rule, status=verdict[0], summary=verdict[1], domain=target.domain, mx=target.mx,
                   address=target.address, transcript=list(transcript))


class _Verdicts:
    def __init__(self) -> None:
        self.found: dict[str, tuple[str, str]] = {}
        self.not_applicable: set[str] = set()
        self.negotiated: str | None = None  # the main handshake, when TLS-3 still needs the TLS 1.0/1.1 probe
        self.record = TLSRecord()           # the facts the session learnt, for the reports

    def set(self, rule: str, verdict: tuple[str, str]) -> None:
        self.found.setdefault(rule, verdict)

    def rest(self, rules: t.Iterable[str], verdict: tuple[str, str], applies: bool = True) -> None:
        for rule in rules:
            if rule not in self.found:
                self.found[rule] = verdict
                if not applies:
                    self.not_applicable.add(rule)

    def findings(self, target: Target, transcript: list[str]) -> list[Finding]:
        result = []
        for rule in RULES:
            if rule in self.found:
                item = _with(rule, self.found[rule], target, transcript)
                item.applies = rule not in self.not_applicable
                result.append(item)
        return result


def judge_certificates(chain: list[bytes], host: str | None, ca_file: str | None, now: datetime.datetime,
                       verdicts: _Verdicts) -> None:
    """TLS-4, TLS-5, TLS-6 from the certificates the server sent."""
    if not chain:
        verdicts.rest(CERTIFICATE_RULES, (WARN, 'the server sent no certificate (an anonymous cipher suite)'))
        return
    if tls.CRYPTOGRAPHY_IMPORT_ERROR is not None:
        verdicts.rest(CERTIFICATE_RULES, (SKIPPED, 'not judged: ' + tls.MISSING_CRYPTOGRAPHY))
        return
    try:
        facts = tls.certificate_facts(chain[0])
    except tls.CERTIFICATE_ERRORS as exc:
        # The server's bytes, parsed by a library with many error types (ValueError, DuplicateExtension, ...):
        # each is the server's certificate being unreadable, never a crash of the audit (test__tls_hostile.py).
        verdicts.rest(CERTIFICATE_RULES, (WARN, 'the server certificate cannot be parsed: %s' % exc))
        return
    verdicts.record.learn_certificate(facts)
    anchors_from = 'tls_ca_file %s' % ca_file if ca_file else 'the system trust store'
    try:
        anchors = tls.trust_store(ca_file)
    except (OSError, ValueError) as exc:
        verdicts.set('TLS-4', (ERROR, 'cannot read the trust anchors of %s: %s' % (anchors_from, exc)))
    else:
        try:
            problem = tls.verify_chain(chain, anchors, now)
        except tls.CERTIFICATE_ERRORS as exc:
            problem = 'a certificate of the chain cannot be read: %s' % exc  # the server's bytes, as above
        verdicts.set('TLS-4', judge_trust(problem, facts, anchors_from))
        verdicts.record.trusted = problem is None
    verdicts.set('TLS-5', judge_names(facts, host))
    verdicts.set('TLS-6', judge_dates(facts, now))


async def check_tls(target: Target, settings: ProbeSettings, ca_file: str | None = None,
                    now: datetime.datetime | None = None) -> CheckOutcome:
    """The tls check at one address: one session, a second only when the handshake failed after the injected NOOP.

    The outcome's record is a TLSRecord: what the session that gave the verdicts learnt (empty when none started).
    """
    known = settings.run.problem(target.address)
    if known is not None:  # backed off by an earlier session of the run: no new connection
        return CheckOutcome(problem_findings(RULES, target, known, []), TLSRecord())
    found, transcript, failed_injected = await _tls_session(target, settings, ca_file, now, inject=True)
    if not isinstance(found, _Verdicts):
        return CheckOutcome(found, TLSRecord())
    if not failed_injected:
        await _legacy_probe(target, settings, found, transcript)
        return CheckOutcome(found.findings(target, transcript), found.record)
    # A broken TLS stack, or a server that hangs up when a command follows STARTTLS in the same write?
    if _deadline_passed(settings):
        found.rest(('TLS-3', 'TLS-7'), (INCONCLUSIVE, 'the handshake failed after the injected NOOP, and the deadline came '
                                        'before a session without it'))
        return CheckOutcome(found.findings(target, transcript), found.record)
    transcript.append('** the handshake failed after the injected NOOP: once more without it')
    again, more, failed_plain = await _tls_session(target, settings, ca_file, now, inject=False)
    transcript.extend(more)
    if not isinstance(again, _Verdicts):
        found.rest(('TLS-7',), (INCONCLUSIVE, 'the handshake failed after the injected NOOP, and the session without '
                                'it could not run'))
        return CheckOutcome(found.findings(target, transcript), found.record)
    if 'TLS-7' in found.found:  # a plaintext reply to the NOOP before the failed handshake: already decided
        again.set('TLS-7', found.found['TLS-7'])
    if failed_plain:
        again.set('TLS-7', (INCONCLUSIVE, 'the handshake fails with and without a command after STARTTLS: the '
                            'injection cannot be shown'))
    else:
        again.set('TLS-7', (PASS, 'the server broke off the handshake when a command followed STARTTLS in the same '
                            'write, and completed it without one: it does not keep plaintext input across the upgrade'))
    await _legacy_probe(target, settings, again, transcript)
    return CheckOutcome(again.findings(target, transcript), again.record)


def _deadline_passed(settings: ProbeSettings) -> bool:
    """No time left for another session: opening one would only time out and tell the run the address is unreachable."""
    return settings.deadline is not None and asyncio.get_running_loop().time() >= settings.deadline


async def _legacy_probe(target: Target, settings: ProbeSettings, verdicts: _Verdicts, transcript: list[str]) -> None:
    """TLS-3's second part: a short session whose handshake offers only TLS 1.0 and 1.1 (after a good main one)."""
    if verdicts.negotiated is None or 'TLS-3' in verdicts.found:
        verdicts.rest(('TLS-3',), (INCONCLUSIVE, 'not probed: no TLS handshake completed'))
        return
    if _deadline_passed(settings):
        verdicts.set('TLS-3', (INCONCLUSIVE, '%s; the deadline came before the TLS 1.0/1.1 probe' % verdicts.negotiated))
        return
    context, unavailable = tls.legacy_context()
    if context is None:
        verdicts.set('TLS-3', judge_legacy(verdicts.negotiated, None, None, unavailable))
        return
    transcript.append('** TLS-3: a session whose handshake offers only TLS 1.0 and 1.1')
    session = settings.session(target.address)
    accepted = refused = None
    try:
        greeting, problem = await open_session(session, settings.run)
        if problem is None and greeting is not None:
            hello = await smtp.hello(session, settings.helo_name)
            if hello.accepted and hello.capabilities is not None and hello.capabilities.has('STARTTLS'):
                try:
                    reply = await session.starttls(context, starttls.server_name(target))
                    if reply.code == 220 and session.tls is not None:
                        accepted = session.tls.version()
                except smtp.TLSHandshakeError as exc:
                    refused = exc.reason
    except smtp.SessionError:
        pass
    finally:
        if session.open:
            await session.quit()
        session.abort()
        transcript.extend(session.transcript)
    verdicts.set('TLS-3', judge_legacy(verdicts.negotiated, accepted, refused, None))


async def _tls_session(target: Target, settings: ProbeSettings, ca_file: str | None, now: datetime.datetime | None,
                       inject: bool) -> tuple[t.Any, list[str], bool]:
    """One session: (verdicts or the findings of a session that could not start, transcript, handshake failed)."""
    session = settings.session(target.address)
    verdicts = _Verdicts()
    host = starttls.server_name(target)
    try:
        greeting, problem = await open_session(session, settings.run)
        if problem is not None or greeting is None:
            return problem_findings(RULES, target, problem or Problem(INCONCLUSIVE, 'no greeting'),
                                    list(session.transcript)), list(session.transcript), False
        try:
            hello = await smtp.hello(session, settings.helo_name)
        except smtp.SessionError as exc:
            return problem_findings(RULES, target, session_problem(exc), list(session.transcript)), list(session.transcript), False
        if not hello.accepted:
            return problem_findings(RULES, target, Problem(INCONCLUSIVE, 'EHLO/HELO refused: "%s"' % hello.reply.short()),
                                    list(session.transcript)), list(session.transcript), False
        verdicts.set('TLS-8', judge_plaintext_auth(hello.capabilities, settings.port))
        offered = judge_offered(hello.capabilities)
        verdicts.set('TLS-1', offered)
        verdicts.record.starttls = offered[0] == PASS
        if offered[0] != PASS:
            verdicts.rest(AFTER_STARTTLS, (SKIPPED, 'STARTTLS is not offered (TLS-1)'), applies=False)
            await _bare_lf(session, verdicts, settings)
            return verdicts, list(session.transcript), False
        failed = await _upgrade(session, host, ca_file, now, verdicts, settings, inject)
        await _bare_lf(session, verdicts, settings)
        return verdicts, list(session.transcript), failed
    finally:
        if session.open:
            await session.quit()
        session.abort()


async def _upgrade(session: smtp.SMTPSession, host: str | None, ca_file: str | None,
                   now: datetime.datetime | None, verdicts: _Verdicts, settings: ProbeSettings, inject: bool) -> bool:
    """STARTTLS (with the injected NOOP), the handshake, EHLO again; then the certificates. True: the handshake failed."""
    waited = min(INJECTION_WAIT, settings.timeout)
    extra = [protocol.noop()] if inject else []
    try:
        reply = await session.starttls(tls.probe_context(), host, extra=extra, settle=waited if inject else 0.0)
    except smtp.TLSHandshakeError as exc:
        verdicts.set('TLS-2', (FAIL, 'STARTTLS got 220 but %s' % exc.message))
        verdicts.rest(CERTIFICATE_RULES, (INCONCLUSIVE, 'no certificate: the TLS handshake failed (TLS-2)'))
        verdicts.set('TLS-3', (INCONCLUSIVE, 'no TLS version was negotiated: the handshake failed (TLS-2); a server '
                               'that offers only TLS 1.0 or 1.1 fails it this way, see its reason'))
        if inject and session.replies_after_starttls:
            verdicts.set('TLS-7', judge_injection(session.replies_after_starttls, [], waited))
        return True
    except smtp.SessionError as exc:
        verdicts.rest(AFTER_STARTTLS, (session_problem(exc).status, session_problem(exc).summary))
        return False
    refused = judge_starttls_reply(reply)
    if refused is not None:
        if inject and reply.code != 421:
            # Still plaintext: the NOOP written with STARTTLS is a pipelined command and gets its own reply, which
            # must be read here, or the next probe would take it for its own.
            try:
                await session.read_reply(what='the reply to the NOOP sent with STARTTLS')
            except smtp.SessionError:
                pass
        verdicts.set('TLS-2', refused)
        unshown = INCONCLUSIVE if refused[0] == INCONCLUSIVE else SKIPPED
        verdicts.rest(('TLS-3',) + CERTIFICATE_RULES + ('TLS-7',), (unshown, 'not shown: STARTTLS was answered "%s"' % reply.short()))
        return False
    if inject:
        verdicts.set('TLS-7', judge_injection(session.replies_after_starttls, session.replies_after_handshake, waited))
    state = session.tls
    chain = tls.peer_chain(state) if state is not None else []
    if state is not None:
        verdicts.record.protocol = state.version()
        verdicts.record.cipher = (state.cipher() or (None,))[0]
        negotiated = judge_negotiated(state.version(), (state.cipher() or (None,))[0])
        if negotiated is not None:
            verdicts.set('TLS-3', negotiated)
        else:
            verdicts.negotiated = '%s with %s negotiated' % (state.version(), (state.cipher() or ('?',))[0])
    when = now or datetime.datetime.now(datetime.timezone.utc)
    judge_certificates(chain, host, ca_file, when, verdicts)
    try:
        hello = await smtp.hello(session, settings.helo_name)
    except smtp.SessionError as exc:
        verdicts.set('TLS-2', (INCONCLUSIVE, 'the handshake completed, then EHLO after TLS got no reply: %s' % exc.message))
        return False
    verdicts.set('TLS-2', judge_after_tls(hello))
    return False


async def _bare_lf(session: smtp.SMTPSession, verdicts: _Verdicts, settings: ProbeSettings) -> None:
    """LF-1, last in the session: "NOOP<LF>"; a server may hang up on it (Postfix smtpd_forbid_bare_newline)."""
    if not session.open:
        verdicts.set('LF-1', (INCONCLUSIVE, 'not probed: the session ended before the bare LF probe'))
        return
    waited = min(BARE_LF_WAIT, settings.timeout)
    session.transcript.record('C: NOOP<LF> (no CR)')
    answer = None
    error: smtp.SessionError | None = None
    try:
        # No Command can end in a bare LF (to_bytes adds CRLF): the session's own bounded write, on purpose.
        await session._write(b'NOOP\n')  # pylint: disable=protected-access
        answer = await session.read_reply(waited, what='the reply to NOOP<LF>')
    except smtp.SessionError as exc:
        error = exc
    verdicts.set('LF-1', judge_bare_lf(answer, error, waited))


async def run_tls(target: Target, settings: ProbeSettings) -> CheckOutcome:
    """The registry's entry point. ``tls_ca_file`` comes with the run's settings when the engine passes it."""
    return await check_tls(target, settings, getattr(settings, 'tls_ca_file', None))
