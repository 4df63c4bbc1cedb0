# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the modules share: the domains_file reader and the module table."""

from __future__ import annotations

import pytest

from ansible_collections.mxaudit.smtp.plugins.module_utils import _module_runner as runner
from ansible_collections.mxaudit.smtp.plugins.module_utils._options import OptionError


def test_domains_file_lines(tmp_path):
    path = tmp_path / 'domains.txt'
    path.write_text('# portfolio\n\nexample.org\n  Bücher.example  # IDN\nexample.org\nbad domain\n', encoding='utf-8')
    assert runner.read_domains_file(str(path)) == ['example.org', 'Bücher.example', 'example.org', 'bad domain']
    assert runner.parse_domain_lines(['a.example # x', '#', ' ']) == ['a.example']


def test_domains_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / 'domains.txt'
    path.write_bytes(b'example.org\nb\xfccher.example\n')
    with pytest.raises(OptionError, match='line 2 is not UTF-8'):
        runner.read_domains_file(str(path))


def test_domains_file_is_capped(tmp_path, monkeypatch):
    path = tmp_path / 'domains.txt'
    path.write_text('a.example\n' * 20)
    monkeypatch.setattr(runner, 'DOMAINS_FILE_MAX_LINES', 10)
    with pytest.raises(OptionError, match='more than 10 lines'):
        runner.read_domains_file(str(path))
    monkeypatch.setattr(runner, 'DOMAINS_FILE_MAX_BYTES', 100)
    with pytest.raises(OptionError, match='larger than 100 bytes'):
        runner.read_domains_file(str(path))


@pytest.mark.parametrize('name, kind', sorted(runner.MODULES.items()))
def test_every_module_runs_registered_checks(name, kind):
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECK_IDS
    assert kind.checks and set(kind.checks) <= set(CHECK_IDS), name
