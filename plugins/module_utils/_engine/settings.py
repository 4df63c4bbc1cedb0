# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""What a run is asked to do beyond the common options: which checks, retries, transcripts, relay probes."""

from __future__ import annotations

from dataclasses import dataclass, field

from .._checks.registry import CHECK_IDS, resolve
from .._options import OptionError
from .._verdict import Policy, PolicyError, parse_policy

TRANSCRIPTS = ('failures', 'all', 'none')
DEFAULT_RELAY_RECIPIENT = 'mxaudit-relay-probe@example.com'


@dataclass
class RunSettings:
    checks: tuple[str, ...] = CHECK_IDS
    retry_4xx: float = 0.0
    transcripts: str = 'all'
    relay_recipient: str = DEFAULT_RELAY_RECIPIENT
    relay_variants: bool = True
    # False when nothing will ever show a passing finding's transcript (no output file, transcripts not 'all'):
    # they are then dropped as soon as a job ends, which keeps a 10,000-domain run small in memory.
    keep_transcripts: bool = True
    # Which failures make a domain noncompliant (the ``policy`` option; a dict is parsed).
    policy: Policy = field(default_factory=Policy)

    def __post_init__(self) -> None:
        if not isinstance(self.policy, Policy):
            try:
                self.policy = parse_policy(self.policy)
            except PolicyError as exc:
                raise OptionError(str(exc))
        if not self.checks:
            raise OptionError('checks: at least one check is required; choose from %s' % ', '.join(CHECK_IDS))
        try:
            self.checks = resolve(self.checks)
        except ValueError as exc:
            raise OptionError('checks: %s' % exc)
        if self.transcripts not in TRANSCRIPTS:
            raise OptionError('transcripts: %r must be one of %s' % (self.transcripts, ', '.join(TRANSCRIPTS)))
        if isinstance(self.retry_4xx, bool) or not isinstance(self.retry_4xx, (int, float)) \
                or not 0 <= self.retry_4xx <= 3600:
            raise OptionError('retry_4xx: %r must be between 0 (off) and 3600 seconds' % (self.retry_4xx,))
