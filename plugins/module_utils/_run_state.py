# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""What one run has learnt about its addresses: reachability, back-off, and the counters of the roll-up.

Everything a session tells the run goes through here, so the rules of
politeness are written once: an address that refused the connection, could
not be reached, never greeted, greeted with anything but 220, or said 421
is not tried again in the same run - the probes still to come there get
the same finding at once. That is what keeps a never-greeting server to
one timeout of wall time, and a 421 from being answered with more sessions.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from . import _protocol as protocol
from ._findings import INCONCLUSIVE, SKIPPED

COUNTERS = ('sessions', 'refused_greeting', 'refused_ehlo', 'transactions', 'refused_mail', 'postmaster_probes',
            'refused_rcpt', 'reply_421', 'local_errors')


@dataclass
class Problem:
    """Why the probes at an address could not go on: the status and summary their findings get."""

    status: str
    summary: str
    applies: bool = True    # False: the rules do not apply here (skipped, but decided)


def greeting_problem(greeting: protocol.Reply) -> Problem | None:
    """What a greeting other than 220 means for every probe after it (RFC 5321 3.1, 4.2, 4.3.1)."""
    if greeting.code == 220:
        return None
    if greeting.code == 554:
        return Problem(SKIPPED, 'the server refuses service with a 554 greeting ("%s"), which RFC 5321 3.1 allows; '
                       'nothing else applies' % greeting.short())
    if greeting.is_transient():
        return Problem(INCONCLUSIVE, 'greeting "%s": temporarily unavailable' % greeting.short())
    return Problem(INCONCLUSIVE, 'greeting "%s" is not 220; see smtp_info (GR-1)' % greeting.short())


class RunState:
    """Per address: reached, unreachable (why), or unusable (the Problem later probes get); and the counters."""

    def __init__(self) -> None:
        self.unusable: dict[str, Problem] = {}
        self.unreachable: dict[str, str] = {}   # address -> 'refused' | 'timeout' | 'unreachable'
        self.reached: set[str] = set()
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # What several checks fetch alike within a run (the certificate an MX host presents at an address), by key:
        # the first asker's task, awaited by the others (see _checks/starttls.presented_once).
        self.shared: dict[t.Hashable, t.Any] = {}

    def count(self, name: str) -> None:
        self.counters[name] += 1

    def problem(self, address: str) -> Problem | None:
        """The Problem of an address already backed off in this run, if any."""
        return self.unusable.get(address)

    def back_off(self, address: str, problem: Problem) -> None:
        self.unusable.setdefault(address, Problem(problem.status, problem.summary + ' (not tried again in this run)'))

    def session_started(self) -> None:
        self.count('sessions')

    def not_connected(self, address: str, reason: str, problem: Problem) -> None:
        """No TCP connection (refused, timeout, unreachable): the address is not tried again.

        Reason ``local`` (this host ran out of file descriptors, buffers or memory) says nothing about the
        address: it is neither counted as unreachable (the vantage point is judged on those) nor backed off.
        """
        if reason == 'local':
            self.count('local_errors')
            return
        self.unreachable[address] = reason
        self.back_off(address, problem)

    def no_greeting(self, address: str, problem: Problem) -> None:
        """Connected, but no greeting came (timeout, close, garbage): not counted as reached."""
        self.back_off(address, problem)

    def greeted(self, address: str, greeting: protocol.Reply) -> Problem | None:
        """A greeting came; returns the Problem for the probes when it is not 220 (and backs off)."""
        self.reached.add(address)
        if greeting.is_permanent():
            self.count('refused_greeting')
        if greeting.code == 421:
            self.count('reply_421')
        problem = greeting_problem(greeting)
        if problem is not None:
            self.back_off(address, problem)
        return problem

    def closed_with_421(self, address: str, reply: protocol.Reply) -> Problem:
        problem = Problem(INCONCLUSIVE, 'the server closed the session with "%s"' % reply.short())
        self.count('reply_421')
        self.back_off(address, problem)
        return problem

    def ehlo_refused(self) -> None:
        self.count('refused_ehlo')
