# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The mxaudit.smtp test lab: a loopback DNS server and misbehaving SMTP servers."""
from __future__ import annotations

from .dns_server import LabDNSServer
from .scenario import DNS_HOST, DNS_PORT, LAB_PORT, Lab, ServerSpec, default_lab
from .smtp_server import BEHAVIOURS, LabRunner, LabSMTPServer, SMTPSession, lab_domain

__all__ = [
    "BEHAVIOURS", "DNS_HOST", "DNS_PORT", "LAB_PORT", "Lab", "LabDNSServer", "LabRunner",
    "LabSMTPServer", "SMTPSession", "ServerSpec", "default_lab", "lab_domain",
]
