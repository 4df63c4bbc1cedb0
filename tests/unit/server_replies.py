# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Server replies for the judges' tests, built by the collection's own parser from the text a transcript shows."""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol


def reply(text: str | None) -> protocol.Reply | None:
    """The reply ``text`` (lines separated by LF) as the parser reads it; None stays None (no reply)."""
    if text is None:
        return None
    return protocol.ReplyParser().feed(text.replace('\n', '\r\n').encode() + b'\r\n')[-1]
