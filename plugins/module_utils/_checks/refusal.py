# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""Why did the server refuse? The cause of a 5xx, as far as the reply tells.

A refusal means different things to different rules: "user unknown" for a
random local part is the pass of recipient validation, "relaying denied" for
the server's own domain is the failure of the source documents, and "your
address is on a block list" says nothing about the server's conformance at
all. The checks never match one product's wording: the RFC 3463 enhanced
status code decides where there is one, and a few words every MTA uses for
the same meaning ("relay", "block list") decide only between causes the
code leaves open. Everything else is UNKNOWN, and the checks then ask for
corroborating evidence before they fail anything.

A refusal of the envelope sender (SENDER: X.1.7, X.1.8, or the words of
sender verification) is a refusal of the auditor's own ``mail_from``, not
of the recipient: servers that verify senders call the sender's domain
back, and a ``mail_from`` whose domain does not accept that call-back gets
refused everywhere. The checks repeat such a probe with the null sender
where their rule allows, and say so (``sender_hint``) where it does not.
"""

from __future__ import annotations

import re

from .._protocol import Reply

MAILBOX = 'mailbox'    # the mailbox does not exist or cannot take mail (X.1.1, X.2.x)
DOMAIN = 'domain'      # the destination domain is bad or accepts no mail (X.1.2, X.1.10)
RELAY = 'relay'        # the server does not relay to that domain for this client
CLIENT = 'client'      # the server refuses this client: block list, reputation, authentication (X.7.x)
SYNTAX = 'syntax'      # the address or command was not understood (X.1.3, X.5.x, 501, 553)
SENDER = 'sender'      # the envelope sender is refused: unverified or bad mailbox (X.1.7), bad system (X.1.8)
UNKNOWN = 'unknown'

_RELAY_WORDS = re.compile(r'\brelay(?:ing|ed)?\b|\bunable to relay\b|\bnot (?:a )?(?:local|our) (?:domain|host)\b|'
                          r'\bnot permitted to relay\b|\bdomain isn.t in my list\b|\bnot in my list of allowed rcpthosts\b',
                          re.IGNORECASE)
_CLIENT_WORDS = re.compile(r'\bblock ?list|\bblack ?list|\bblocked\b|\bdnsbl\b|\brbl\b|\blisted\b|\breputation\b|'
                           r'\bspamhaus\b|\bspamcop\b|\bbarracuda\b|\bclient host\b|\byour (?:ip|address|host)\b|'
                           r'\bauthentication required\b|\bmust (?:authenticate|login)\b|\btoo many\b|\brate limit',
                           re.IGNORECASE)
# Refusals of the sender as several MTAs word them ("Sender verify failed", "sender verification failed",
# "Sender address rejected: ...", "unverified sender"); they decide only where the code leaves the cause open.
_SENDER_WORDS = re.compile(r'\bsender (?:address )?(?:verif(?:y|ication|ied)|rejected|refused|denied)\b|'
                           r'\bunverified (?:sender|address)\b|\bverification failed for\b',
                           re.IGNORECASE)


def cause(reply: Reply) -> str:
    """The cause of a refusal (a 5xx or 4xx reply); UNKNOWN when the reply does not tell."""
    enhanced = reply.enhanced
    text = reply.text
    if enhanced is not None:
        subject, detail = enhanced.split('.')[1:]
        if subject == '1':
            if detail in ('1', '6'):
                return MAILBOX
            if detail in ('2', '10'):
                return DOMAIN
            if detail == '3':
                return SYNTAX
            if detail in ('7', '8'):
                return SENDER
        if subject == '2':
            return MAILBOX
        if subject == '5':
            return SYNTAX
        if subject == '7':
            # X.7.1 "delivery not authorized" covers relay denial and client refusal alike: the words decide.
            if _CLIENT_WORDS.search(text):
                return CLIENT
            if _RELAY_WORDS.search(text):
                return RELAY
            if _SENDER_WORDS.search(text):
                return SENDER
            return CLIENT if detail != '1' else UNKNOWN
    if reply.code == 530:
        return CLIENT
    if _CLIENT_WORDS.search(text):
        return CLIENT
    if _RELAY_WORDS.search(text):
        return RELAY
    if _SENDER_WORDS.search(text):
        return SENDER
    if reply.code in (501, 553, 555):
        return SYNTAX
    return UNKNOWN


def same_refusal(first: Reply, second: Reply) -> bool:
    """The same answer to two different addresses: same code, same enhanced code, same text once addresses go."""
    return (first.code == second.code and first.enhanced == second.enhanced
            and _without_addresses(first.text) == _without_addresses(second.text))


def _without_addresses(text: str) -> str:
    return re.sub(r'<[^>]*>|\S+@\S+', '<>', text).strip().lower()


def is_sender_refusal(reply: Reply | None) -> bool:
    """A 4xx or 5xx whose cause is the envelope sender."""
    return reply is not None and reply.code_class in (4, 5) and cause(reply) == SENDER


def sender_hint(sender: str) -> str:
    """What to do when the server refuses the auditor's sender: let its domain take the null-sender call-back."""
    domain = sender.rpartition('@')[2] or sender
    return ('the server verifies senders by calling them back (MAIL FROM:<> RCPT TO:<%s> at the MX of %s): set mail_from '
            'to a mailbox whose domain accepts that null-sender call-back' % (sender, domain))
