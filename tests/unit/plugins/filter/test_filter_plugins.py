# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter plugin files: several filters a file, each documented in plugins/filter/<name>.yml.

Templates and playbooks call the filters as mxaudit.smtp.<name>, so a name that goes missing,
or is defined in two files (one would shadow the other), breaks users; a filter without its
YAML file has no ansible-doc page.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

FILTER_DIR = Path(__file__).resolve().parents[4] / 'plugins' / 'filter'
# Every name the collection has published (changelogs/fragments/5-report.yml).
PUBLISHED = {'findings_csv', 'group_findings', 'junit_cases', 'markdown_code', 'markdown_escape', 'merge_results',
             'rollup', 'status_counts', 'worst_status'}
# And those added since (issue 9: visible_text, for the HTML report; issue 11: tls_rows and tls_csv, the TLS section;
# issue 12: policy_rows and policy_csv, the DANE and MTA-STS section).
NAMES = PUBLISHED | {'visible_text', 'tls_rows', 'tls_csv', 'policy_rows', 'policy_csv'}


def plugin_files() -> dict[str, dict[str, object]]:
    """File stem -> its filters, as Ansible's loader sees them (FilterModule().filters())."""
    files = {}
    for path in sorted(FILTER_DIR.glob('*.py')):
        module = importlib.import_module('ansible_collections.mxaudit.smtp.plugins.filter.' + path.stem)
        files[path.stem] = module.FilterModule().filters()
    return files


def all_filters() -> dict[str, object]:
    return {name: function for filters in plugin_files().values() for name, function in filters.items()}


def documentation(name: str) -> dict[str, object]:
    return yaml.safe_load((FILTER_DIR / ('%s.yml' % name)).read_text())


def test_every_published_name_is_still_a_filter():
    assert PUBLISHED <= set(all_filters())


def test_every_filter_is_known_here():
    # A new filter gets its documentation checked below only once it is named in NAMES.
    assert set(all_filters()) == NAMES


def test_no_name_is_defined_in_two_files():
    seen: dict[str, str] = {}
    for stem, filters in plugin_files().items():
        for name in filters:
            assert name not in seen, '%s is defined in %s.py and %s.py' % (name, seen.get(name), stem)
            seen[name] = stem


def test_no_file_is_named_after_a_filter_of_another_file():
    # Ansible looks for <name>.py first; a file named after a filter it does not define would hide that filter.
    names = all_filters()
    for stem, filters in plugin_files().items():
        assert stem not in names or stem in filters


@pytest.mark.parametrize('name', sorted(NAMES))
def test_every_filter_has_its_documentation_file(name):
    docs = documentation(name)
    assert set(docs) == {'DOCUMENTATION', 'EXAMPLES', 'RETURN'}
    assert docs['DOCUMENTATION']['name'] == name
    assert '_input' in docs['DOCUMENTATION']['options']
    assert '_value' in docs['RETURN']
    assert 'mxaudit.smtp.%s' % name in docs['EXAMPLES']
    assert isinstance(yaml.safe_load(docs['EXAMPLES']), list)


def test_no_documentation_file_without_a_filter():
    assert {path.stem for path in FILTER_DIR.glob('*.yml')} == set(all_filters())


@pytest.mark.parametrize('name', sorted(NAMES))
def test_the_documented_options_are_the_parameters(name):
    function = all_filters()[name]
    parameters = list(inspect.signature(function).parameters)
    documented = [option for option in documentation(name)['DOCUMENTATION']['options'] if option != '_input']
    assert parameters[1:] == documented


@pytest.mark.parametrize('name, bad', [
    ('status_counts', 'fail'),
    ('worst_status', [{'status': 'broken'}]),
    ('group_findings', {'status': 'pass'}),
    ('merge_results', {'host': 'vp'}),
    ('rollup', []),
    ('findings_csv', []),
    ('junit_cases', {'stats': {}}),
])
def test_a_bad_input_is_a_filter_error_that_names_the_filter(name, bad):
    with pytest.raises(AnsibleFilterError, match='^mxaudit\\.smtp\\.%s: ' % name):
        all_filters()[name](bad)


def test_merge_results_says_what_generated_must_be():
    with pytest.raises(AnsibleFilterError) as raised:
        all_filters()['merge_results']([], 1700000000)
    assert str(raised.value).startswith('mxaudit.smtp.merge_results: generated must be a string (ISO 8601), got int')
