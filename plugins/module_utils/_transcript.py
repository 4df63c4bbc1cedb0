# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""The evidence of a probe: what was said on the wire, in the form the source documents quote it.

``C:`` lines are what the auditor sent, ``S:`` lines what the server
answered, ``**`` lines events (a new connection, a timeout, a close). One
transcript can span several connections: a probe session hands the same
Transcript to every SMTP session it opens, so nothing is copied or drained
between them, and a probe that shares a session cuts out its own part with
``mark()`` and ``since()``.
"""

from __future__ import annotations

# A transcript line longer than this is cut (a hostile banner must not blow up a report).
LINE_MAX = 1000


class Transcript(list):  # type: ignore[type-arg]
    """A list of transcript lines, with the few operations the probes need."""

    def record(self, line: str) -> None:
        """A ``C:`` or ``S:`` line, capped at LINE_MAX characters."""
        if len(line) > LINE_MAX:
            line = line[:LINE_MAX] + '... (%d characters)' % len(line)
        self.append(line)

    def note(self, text: str) -> None:
        """An event that is neither client nor server text."""
        self.append('** ' + text)

    def mark(self) -> int:
        """Where the transcript stands now."""
        return len(self)

    def since(self, mark: int) -> list[str]:
        return list(self[mark:])
