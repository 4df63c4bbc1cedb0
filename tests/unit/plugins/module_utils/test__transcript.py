# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Transcripts: shared by the sessions of one probe, lines capped."""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.module_utils._transcript import LINE_MAX, Transcript


def test_lines_notes_and_excerpts():
    transcript = Transcript()
    transcript.record('S: 220 mx.example')
    mark = transcript.mark()
    transcript.note('new connection')
    transcript.record('C: ' + 'x' * (LINE_MAX + 100))
    assert transcript[0] == 'S: 220 mx.example'
    assert transcript.since(mark)[0] == '** new connection'
    assert transcript[-1].endswith('... (%d characters)' % (LINE_MAX + 103)) and len(transcript[-1]) < LINE_MAX + 40
