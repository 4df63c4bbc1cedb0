#!/usr/bin/env bash
# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make bench: the ansible_python_interpreter of the measured playbook.  It runs the module's Python
# ($BENCH_PYTHON) under GNU time, which appends "peak-RSS-KiB seconds command" to $BENCH_RSS_FILE,
# so the benchmark knows the peak RSS of the module's own process.  Without /usr/bin/time it just
# runs Python (bench.py then falls back to polling /proc).
if [ -x /usr/bin/time ] && [ -n "${BENCH_RSS_FILE:-}" ]; then
    exec /usr/bin/time -a -o "$BENCH_RSS_FILE" -f '%M %e %C' "$BENCH_PYTHON" "$@"
fi
exec "$BENCH_PYTHON" "$@"
