#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make bench, baseline: swaks in a shell loop, the postmaster and the relay probe for each domain.
#
#   bench/swaks_loop.sh PAIRS PORT TIMEOUT LOG
#
# PAIRS has one "domain address" per line (the bench gives the MX address, so swaks does no DNS).
# Every probe stops after RCPT (--quit-after RCPT): no DATA, no mail.  swaks exits non-zero when
# a recipient is refused, which is an answer here, not an error; only a missing swaks stops the loop.
set -u
pairs=$1
port=$2
timeout=$3
log=$4
command -v swaks >/dev/null 2>&1 || { echo "swaks_loop.sh: swaks is not installed" >&2; exit 127; }
: >"$log"
while read -r domain address; do
    [ -n "$domain" ] || continue
    for rcpt in "postmaster@$domain" "relay-probe@foreign.lab.test"; do
        swaks --server "$address" --port "$port" --helo audit.lab.test --from postmaster@audit.lab.test \
            --to "$rcpt" --quit-after RCPT --timeout "$timeout" >>"$log" 2>&1
        echo "== swaks_loop: $domain $rcpt exit $?" >>"$log"
    done
done <"$pairs"
