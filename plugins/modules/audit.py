#!/usr/bin/python
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: audit
short_description: Audit the mail exchangers of many domains at once
version_added: 0.1.0
description:
  - Runs every check of the collection (or the O(checks) listed) over all O(domains) concurrently, in one module call; looping a
    task over domains costs about a second per item, this costs the round trips.
  - DNS is resolved once per run (MX hosts shared by many domains are looked up once). What belongs to a server rather than to a
    domain - session conformance, pipelining, relaying, the null sender - is probed once per MX address and reported for every
    domain it serves; postmaster and recipient validation run per domain, several domains per SMTP session, RSET between them.
    Pipelining always gets sessions of its own.
  - At most O(per_address) connections to one address and O(concurrency) in all. An address that refuses the connection, cannot be
    reached, never greets, or answers C(421) is backed off for the rest of the run. After O(deadline) seconds everything unfinished is
    V(inconclusive), with the reason.
  - When every connection of the run fails, RV(vantage_point) says so once ("this host cannot reach TCP port 25") instead of
    leaving thousands of domains to explain it.
  - "The findings are those of the single-check modules: M(mxaudit.smtp.mx_info), M(mxaudit.smtp.smtp_info),
    M(mxaudit.smtp.postmaster_check), M(mxaudit.smtp.null_sender_check), M(mxaudit.smtp.recipient_check),
    M(mxaudit.smtp.relay_check), M(mxaudit.smtp.pipelining_check)."
  - Never sends DATA; no mail is ever delivered.
author:
  - mxaudit.smtp contributors (@mxaudit)
extends_documentation_fragment:
  - mxaudit.smtp.common
  - mxaudit.smtp.common.attributes
options:
  domains_file:
    description:
      - A file on the managed host with one domain per line; blank lines and C(#) comments are ignored.
      - Read in addition to O(domain) or O(domains). Duplicates are dropped; invalid names are reported per domain
        (a V(MX-1) finding with status V(error), and the domain V(unverified)) without stopping the run.
      - An invalid name given with O(domain) or O(domains) is an error naming it, as in every module.
      - It must be a regular file (not a directory, a device such as C(/dev/zero), a FIFO or C(/dev/stdin)) of at most
        64 MiB and 1,000,000 lines, in UTF-8; otherwise the module fails before any query, naming the cap, or the line
        and byte that is not UTF-8.
    type: path
  checks:
    description:
      - The checks to run.
      - V(mx) reports every DNS finding (without it, only the DNS findings that explain a domain not probed are kept).
      - V(session) is M(mxaudit.smtp.smtp_info)'s greeting, EHLO and command rules (V(GR-1) to V(CMD-3)).
      - V(postmaster) includes V(RL-3), whether each MX accepts its own domain.
      - V(tls) is STARTTLS, the protocol versions and the server certificate (V(TLS-1) to V(TLS-8)), and V(LF-1) (a bare LF),
        in one extra session per MX address, and one short session more for TLS 1.0/1.1; O(tls_ca_file) sets the trust anchors.
      - V(identity) is reverse DNS and the server's own name (V(ID-1), V(ID-2)), judged from DNS and the greeting of a
        session shared with V(null_sender) and V(relay).
      - V(dane) is DANE for SMTP (V(DANE-1) to V(DANE-3), RFC 7672) at every address of each MX host - the TLSA records at
        C(_25._tcp.<MX host>) asked with DNSSEC OK through the configured resolver (its AD bit is the DNSSEC status), the
        domain's MX RRset, and, when usable TLSA records exist, the certificate presented after STARTTLS (one short session
        per MX host name and address, shared with other policy checks). No TLSA - no session, and the rules are V(skipped)
        as not applicable. A resolver that does not validate DNSSEC gives V(inconclusive), never V(fail).
      - V(mta_sts) is MTA-STS (RFC 8461) and TLS reporting (RFC 8460) per domain (V(STS-1) to V(STS-3), V(RPT-1)) - the
        C(_mta-sts) and C(_smtp._tls) TXT records, the policy fetched over HTTPS from C(mta-sts.<domain>) (port 443, no
        redirect followed, at most 64 KiB, verified against O(tls_ca_file) or the system store), the MX hosts against its
        C(mx) patterns and the certificate each MX address presents after STARTTLS (one session per MX host and address,
        shared with other checks). A domain without an C(_mta-sts) record costs one TXT lookup (and the TLSA lookups of
        its MX hosts, cached) and gets these rules V(skipped) as not applicable. Its DNS and HTTPS work runs alongside the
        SMTP sessions, its own STARTTLS sessions after them, within O(deadline).
      - Every finding's C(check) is one of these values. The older names V(greeting) and V(ehlo) (for V(session))
        and V(domain_acceptance) (for V(postmaster)) are accepted as aliases.
      - An empty list is refused.
    type: list
    elements: str
    choices: [mx, session, postmaster, null_sender, relay, recipient, pipelining, tls, identity, dane, mta_sts, domain_acceptance,
              ehlo, greeting]
    default: [mx, session, postmaster, null_sender, relay, recipient, pipelining, tls, identity, dane, mta_sts]
  retry_4xx:
    description:
      - Seconds to wait before trying once more, in new sessions, the probes that met a temporary (4xx) reply and left a rule
        undecided - greylisting, or a first-contact deferral such as Postfix postscreen's C(450 4.3.2) to every RCPT of a new
        client's first session. V(0) turns retries off. One pause for the whole run, after every session has ended.
      - A postscreen-style deferral passes with a few seconds; greylisting needs the greylist delay, often 300 seconds.
      - The retry runs only if the pause ends before O(deadline). A rule the first try decided keeps that verdict; a rule still
        undecided after the retry stays V(inconclusive) and its summary says it was retried.
    type: float
    default: 0
  transcripts:
    description:
      - Which findings keep their transcript in the result returned to the controller.
      - V(failures) keeps the result of a large run small; O(output_file) always gets every transcript.
      - With V(failures), a server-level finding (session, pipelining, relay, null sender) keeps its transcript once per MX address,
        in the first domain that address serves; the same finding in the other domains has an empty transcript.
    type: str
    choices: [failures, all, none]
    default: failures
  output_file:
    description:
      - Write the complete result, every transcript included, as JSON to this path on the managed host.
      - Checked before the run starts - the path is not a directory or a device, and its directory exists and takes a
        new file (a temporary one is created and removed) - so a bad path fails at once instead of after the run.
      - Written at the end to a temporary file beside it, then renamed. Should that fail (a full disk), the result is
        returned all the same, with RV(output_file_error) and a warning, and C(changed=false).
      - Not written in check mode (then only checked, without creating anything).
    type: path
  relay_recipient:
    description:
      - The foreign mailbox of the relay probes (see M(mxaudit.smtp.relay_check)); it must not be at an audited domain.
      - With O(relay_variants), every relay form built from it must be sendable, which a quoted local part (C("x y"@example.com))
        or a very long foreign domain is not; such a value is refused before any query, naming the form.
    type: str
    default: mxaudit-relay-probe@example.com
  relay_variants:
    description:
      - Also try the relay tricks of rule V(RL-2).
    type: bool
    default: true
notes:
  - One task for the whole portfolio; with several vantage points use the C(mxaudit.smtp.audit) role, which shards the domains.
seealso:
  - module: mxaudit.smtp.smtp_info
  - module: mxaudit.smtp.relay_check
"""

EXAMPLES = r"""
- name: Audit the whole portfolio from one task
  mxaudit.smtp.audit:
    domains_file: /etc/mxaudit/domains.txt
    helo_name: audit.example.net
    relay_recipient: relay-test@example.net
    concurrency: 100
    per_address: 2
    output_file: /var/tmp/mxaudit-result.json
  register: audit

- name: Show the roll-up
  ansible.builtin.debug:
    var: audit.stats

- name: Only the postmaster and relay checks, with greylisting retries
  mxaudit.smtp.audit:
    domains:
      - example.org
      - example.net
    checks: [postmaster, relay]
    retry_4xx: 300
    helo_name: audit.example.net
  register: quick
"""

RETURN = r"""
domains:
  description: One entry per domain, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    domain:
      description: The domain as A-labels (as given, when it is not a valid name).
      type: str
    mx:
      description: The MX hosts (preference, host, addresses, cname), as M(mxaudit.smtp.mx_info) returns them.
      type: list
      elements: dict
    findings:
      description:
        - The findings of this domain in catalogue order, each with C(check), C(rule), C(status), C(level), C(severity), C(rfc), C(domain),
          C(mx), C(address), C(summary) and C(transcript) (see M(mxaudit.smtp.smtp_info) for the fields).
        - Server-level findings (session, pipelining, relay, null sender) come from one probe per MX address and appear in every
          domain that address serves.
      type: list
      elements: dict
    verdict:
      description:
        - V(compliant), V(noncompliant) (a failed finding violates O(policy)) or V(unverified) (a rule O(policy) counts was
          decided at no address of this domain - DNS failed, no server answered, every reply was a 4xx).
      type: str
      version_added: 0.2.0
    compliant:
      description: True only when RV(domains[].verdict) is V(compliant).
      type: bool
    coverage:
      description: How much was decided - rule-address cells with a decided finding (pass, fail, warn, or skipped because the
        rule does not apply), cells with any finding, and the percentage.
      type: dict
      version_added: 0.2.0
      sample: {decided: 10, probed: 12, percent: 83.3}
    undecided_rules:
      description: The rules O(policy) counts that were decided at no address (why the domain is V(unverified)).
      type: list
      elements: str
      returned: when some were not decided
      version_added: 0.2.0
    tls:
      description:
        - What the V(tls) check learnt at each MX address of the domain, in MX order (preference, then address), one entry per
          MX host and address it probed (none for an address the run's deadline left unprobed).
        - A field is V(null) when it was not learnt (no STARTTLS, a failed handshake, no certificate, no C(cryptography) on the
          host running the audit); nothing is guessed. Server-controlled text (subject, issuer, names) is kept as received.
      returned: when the V(tls) check ran
      type: list
      elements: dict
      version_added: 0.2.0
      contains:
        mx:
          description: The MX host name.
          type: str
        address:
          description: The address probed.
          type: str
        starttls:
          description: STARTTLS was offered in the EHLO reply (V(null) when the session got no reply to EHLO).
          type: bool
        protocol:
          description: The TLS version the handshake negotiated (it offers TLS 1.2 and 1.3), for example V(TLSv1.3).
          type: str
        cipher:
          description: The cipher suite of that handshake, for example V(TLS_AES_256_GCM_SHA384).
          type: str
        subject:
          description: The leaf certificate's subject as an RFC 4514 string, cut at 256 characters (ending in C(...)).
          type: str
        issuer:
          description: The leaf certificate's issuer, the same way.
          type: str
        not_before:
          description: Start of the certificate's validity, ISO 8601 UTC (C(2026-01-01T00:00:00Z)).
          type: str
        not_after:
          description: End of the certificate's validity (its expiry), ISO 8601 UTC.
          type: str
        dns_names:
          description: The subjectAltName dNSNames of the certificate (at most the first 20).
          type: list
          elements: str
        trusted:
          description: The chain validated against the trust anchors (O(tls_ca_file) or the system store) - the V(TLS-4) verdict.
          type: bool
      sample:
        - mx: mx1.example.org
          address: 192.0.2.10
          starttls: true
          protocol: TLSv1.3
          cipher: TLS_AES_256_GCM_SHA384
          subject: CN=mx1.example.org
          issuer: CN=R11,O=Let's Encrypt,C=US
          not_before: "2026-05-01T00:00:00Z"
          not_after: "2026-07-30T00:00:00Z"
          dns_names: [mx1.example.org]
          trusted: true
    dane:
      description:
        - What the V(dane) check learnt at each address of each MX host of the domain, in MX order; none for an address the
          run's deadline left unjudged, or without an MX host name or resolver.
        - Without TLSA records only C(mx), C(address), C(published) (V(false)) and C(dnssec); the TLSA fields come with
          published records. Facts of the DNS answers, never parsed back from a summary.
      returned: when the V(dane) check ran
      type: list
      elements: dict
      version_added: 0.2.0
      contains:
        mx:
          description: The MX host name.
          type: str
        address:
          description: The address judged.
          type: str
        published:
          description: Some TLSA record is published at C(_25._tcp.<mx host>).
          type: bool
        dnssec:
          description:
            - The DNSSEC status of the TLSA answer - V(secure) (AD), V(insecure) (no AD from a resolver that validates),
              V(bogus), or V(unknown) (the lookup failed, or no AD and the resolver's validation was not established - it is
              asked only when records exist).
          type: str
        tlsa:
          description: The TLSA records as text (C(usage selector type data), the data cut at 12 hex digits), at most 8, each at
            most 160 characters.
          type: list
          elements: str
          returned: when published
        tlsa_total:
          description: How many TLSA records there are (RV(domains[].dane[].tlsa) is capped).
          type: int
          returned: when published
        matched:
          description: The usable record that matched the certificate presented after STARTTLS, as in RV(domains[].dane[].tlsa);
            V(null) when none matched or nothing was matched (insecure, bogus, no usable record, no TLS).
          type: str
          returned: when published
      sample:
        - {mx: mx1.example.org, address: 192.0.2.10, published: true, dnssec: secure, tlsa: [3 1 1 0123456789ab...],
           tlsa_total: 1, matched: 3 1 1 0123456789ab...}
        - {mx: mx2.example.org, address: 192.0.2.20, published: false, dnssec: unknown}
    mta_sts:
      description:
        - What the V(mta_sts) check learnt of the domain - MTA-STS (RFC 8461) and TLS-RPT (RFC 8460).
        - Only C(published) (V(false)) when the domain publishes no MTA-STS and C(_smtp._tls) was not looked up (no DANE
          either) - a bulk run adds one small field per domain. Absent when the check looked nothing up (a failed or null MX,
          no resolver, the run's deadline).
        - The TXT record and the policy file are the domain's text, kept as received (bounded).
      returned: when the V(mta_sts) check looked the domain up
      type: dict
      version_added: 0.2.0
      contains:
        published:
          description: Some C(_mta-sts) TXT record begins with C(v=STSv1); V(null) when that lookup failed.
          type: bool
        id:
          description: The C(id) of the one valid record; V(null) when there is none (several, or invalid).
          type: str
          returned: unless published is false
        fetched:
          description: A policy file was read from C(https://mta-sts.<domain>/.well-known/mta-sts.txt) and parsed (it may
            still be invalid - see V(STS-2)).
          type: bool
          returned: unless published is false
        mode:
          description: The policy's C(mode) (V(enforce), V(testing), V(none), or what it said), V(null) when not fetched.
          type: str
          returned: unless published is false
        max_age:
          description: The policy's C(max_age) in seconds, V(null) when not fetched or not a number.
          type: int
          returned: unless published is false
        mx:
          description: The policy's valid C(mx) patterns, at most 20, each at most 256 characters.
          type: list
          elements: str
          returned: unless published is false
        mx_total:
          description: How many valid C(mx) patterns the policy has.
          type: int
          returned: unless published is false
        rua:
          description: The C(rua) URIs of the one valid C(v=TLSRPTv1) record at C(_smtp._tls) (at most 20, each at most 256
            characters); empty when there is no valid record.
          type: list
          elements: str
          returned: when C(_smtp._tls) was looked up (MTA-STS or DANE published) and answered
        rua_total:
          description: How many C(rua) URIs the record has.
          type: int
          returned: with rua
      sample: {published: true, id: "20250601", fetched: true, mode: enforce, max_age: 604800, mx: [mx1.example.org],
               mx_total: 1, rua: ["mailto:tlsrpt@example.org"], rua_total: 1}
stats:
  description: The roll-up of the run.
  returned: always
  type: dict
  contains:
    domains:
      description: Domains audited.
      type: int
    invalid:
      description: Domains not audited because the name is invalid.
      type: int
    dns_errors:
      description: Domains whose MX lookup failed (SERVFAIL, timeout, NXDOMAIN).
      type: int
    implicit_mx:
      description: Domains without MX whose own address is the implicit MX.
      type: int
    no_mx:
      description: Domains with neither MX nor address.
      type: int
    null_mx:
      description: Domains with a null MX (not probed).
      type: int
    addresses:
      description: Distinct MX addresses.
      type: int
    connect_errors:
      description: Addresses that refused the connection or could not be reached.
      type: int
    sessions:
      description: SMTP connections made.
      type: int
    refused_at:
      description:
        - Refusals by stage. C(greeting) - sessions greeted with 5xx; C(ehlo) - sessions where EHLO and HELO were refused;
          C(mail) - transactions where no sender (neither O(mail_from) nor C(<>)) was accepted; C(rcpt) - postmaster probes
          (C(RCPT TO:<postmaster@domain>), one per domain and MX address) refused with 5xx.
        - The relay and unknown-recipient probes are refused on purpose and are not counted.
      type: dict
    refused_at_percent:
      description: The same as percentages of sessions (greeting, ehlo), transactions (mail) and postmaster probes (rcpt).
      type: dict
    reply_421:
      description: Sessions a server ended with C(421).
      type: int
    local_errors:
      description: Connections this host could not attempt for lack of its own resources (open files, memory); not a fault of the
        servers and not counted as unreachable.
      type: int
      version_added: 0.2.0
    transactions:
      description: Transactions started (MAIL FROM sent), the base of C(refused_at_percent.mail).
      type: int
    postmaster_probes:
      description: Postmaster probes made (one per domain and MX address), the base of C(refused_at_percent.rcpt).
      type: int
    compliant:
      description: Domains whose verdict is V(compliant).
      type: int
    verdicts:
      description: The number of domains of each verdict (V(compliant), V(unverified), V(noncompliant)).
      type: dict
      version_added: 0.2.0
    compliant_percent:
      description: The same as a percentage of the domains.
      type: float
    checks:
      description: Per check id, the number of findings of each status, their C(total), and C(percent) per status.
      type: dict
    seconds:
      description: Wall time of the run.
      type: float
  sample:
    domains: 3000
    invalid: 2
    dns_errors: 11
    implicit_mx: 4
    no_mx: 1
    null_mx: 20
    addresses: 410
    connect_errors: 3
    sessions: 1500
    refused_at: {greeting: 2, ehlo: 0, mail: 30, rcpt: 62}
    refused_at_percent: {greeting: 0.1, ehlo: 0.0, mail: 0.5, rcpt: 0.7}
    reply_421: 1
    compliant: 2901
    verdicts: {compliant: 2901, unverified: 61, noncompliant: 38}
    compliant_percent: 96.7
    checks: {postmaster: {pass: 8800, fail: 12, warn: 0, inconclusive: 30, error: 3, skipped: 0, total: 8845}}
    seconds: 84.2
vantage_point:
  description: Whether this host could reach the MX hosts at all.
  returned: always
  type: dict
  contains:
    blocked:
      description: True when every connection of the run failed, at several addresses.
      type: bool
    message:
      description: The one sentence that explains a blocked vantage point, or null.
      type: str
    addresses_reached:
      description: Addresses that answered the TCP connection.
      type: int
    addresses_unreachable:
      description: Addresses that refused the connection or could not be reached.
      type: int
verdict:
  description:
    - The worst verdict of the domains (V(noncompliant), then V(unverified), then V(compliant)); V(unverified) when no domain
      was audited.
  returned: always
  type: str
  version_added: 0.2.0
compliant:
  description: True only when RV(verdict) is V(compliant); never true when nothing could be audited.
  returned: always
  type: bool
output_file:
  description: The path of the result file, when it was written.
  returned: when O(output_file) was written
  type: str
output_file_error:
  description: Why O(output_file) could not be written at the end of the run (the result is returned all the same).
  returned: when writing O(output_file) failed
  type: str
  version_added: 0.2.0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import ALIASES, CHECK_IDS
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import TRANSCRIPTS, RunSettings
from ansible_collections.mxaudit.smtp.plugins.module_utils._module_runner import run_audit
from ansible_collections.mxaudit.smtp.plugins.module_utils._options import COMMON_ARGUMENT_SPEC


def main() -> None:
    defaults = RunSettings()
    module = AnsibleModule(
        argument_spec=dict(
            COMMON_ARGUMENT_SPEC,
            domains_file=dict(type='path'),
            checks=dict(type='list', elements='str', choices=list(CHECK_IDS) + sorted(ALIASES), default=list(CHECK_IDS)),
            retry_4xx=dict(type='float', default=defaults.retry_4xx),
            transcripts=dict(type='str', choices=list(TRANSCRIPTS), default='failures'),
            output_file=dict(type='path'),
            relay_recipient=dict(type='str', default=defaults.relay_recipient),
            relay_variants=dict(type='bool', default=defaults.relay_variants),
        ),
        mutually_exclusive=[('domain', 'domains')],
        required_one_of=[('domain', 'domains', 'domains_file')],
        supports_check_mode=True,
    )
    run_audit(module)


if __name__ == '__main__':
    main()
