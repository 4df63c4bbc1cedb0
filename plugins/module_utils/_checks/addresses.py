# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# NOTE: This is a private module_utils file of mxaudit.smtp. Its API may change at any time.

"""Addresses the probes use that no real mailbox has."""

from __future__ import annotations

import secrets


def random_local_part() -> str:
    """A local part that cannot exist: unknown-recipient and VRFY probes."""
    return 'mxaudit-nosuchuser-' + secrets.token_hex(6)
