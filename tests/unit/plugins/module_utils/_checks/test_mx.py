# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""MX-1 and MX-2 judged from MX sets: addresses that are not globally routable, and what the caps left out."""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.mx import judge_mx
from ansible_collections.mxaudit.smtp.plugins.module_utils._dns import MXHost, MXSet


def verdicts(findings):
    return [(finding.rule, finding.status) for finding in findings]


def host(addresses, name='mx.example.org', preference=10, **marks):
    return MXHost(preference, name, list(addresses), **marks)


def test_a_plain_mx_passes_with_its_addresses():
    findings = judge_mx(MXSet('example.org', hosts=[host(['192.0.2.1'])]))
    assert verdicts(findings) == [('MX-1', 'pass')] and 'MX 10 mx.example.org (192.0.2.1)' in findings[0].summary


def test_an_mx_only_at_private_addresses_is_a_warning_never_a_fail():
    findings = judge_mx(MXSet('example.org', hosts=[host(['10.0.0.1'], private=['10.0.0.1'])]))
    assert verdicts(findings) == [('MX-1', 'warn')]
    summary = findings[0].summary
    assert 'its address 10.0.0.1 is not globally routable' in summary and 'not probed' in summary
    assert 'allow_private_addresses' in summary and findings[0].mx == 'mx.example.org'


def test_some_private_addresses_are_named_with_the_count():
    findings = judge_mx(MXSet('example.org', hosts=[
        host(['192.0.2.1'], name='mx1.example.org'),
        host(['198.18.0.1', '127.0.0.1', '169.254.0.1'], name='mx2.example.org', preference=20,
             private=['127.0.0.1', '169.254.0.1'])]))
    assert verdicts(findings) == [('MX-1', 'warn')]
    assert '2 of its 3 addresses (127.0.0.1, 169.254.0.1) are not globally routable' in findings[0].summary


def test_an_implicit_mx_at_a_private_address_is_a_warning():
    implicit = host(['10.0.0.7'], name='example.org', preference=0, private=['10.0.0.7'])
    findings = judge_mx(MXSet('example.org', implicit=True, hosts=[implicit]))
    assert verdicts(findings) == [('MX-1', 'warn')] and 'implicit MX' in findings[0].summary


def test_addresses_beyond_the_cap_are_skipped_by_name():
    addresses = ['192.0.2.%d' % index for index in range(1, 101)]
    findings = judge_mx(MXSet('example.org', hosts=[host(addresses, beyond_cap=addresses[4:])]))
    assert verdicts(findings) == [('MX-1', 'pass'), ('MX-1', 'skipped')]
    assert '(192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4)' in findings[0].summary
    assert '96 of its 100 addresses were not probed (max_addresses_per_host)' in findings[1].summary
    assert '192.0.2.5' in findings[1].summary and 'and 86 more' in findings[1].summary


def test_mx_hosts_beyond_the_cap_are_skipped_by_name():
    hosts = [host(['192.0.2.1'], name='mx%04d.example.org' % index) for index in range(10)]
    omitted = [(10, 'mx%04d.example.org' % index) for index in range(10, 1000)]
    findings = judge_mx(MXSet('example.org', hosts=hosts, omitted=omitted))
    assert verdicts(findings) == [('MX-1', 'pass'), ('MX-1', 'skipped')]
    assert findings[1].summary.startswith('990 more MX hosts beyond the first 10 (max_mx_hosts')
    assert 'MX 10 mx0010.example.org' in findings[1].summary and 'and 980 more' in findings[1].summary


def test_a_mixed_null_mx_counts_the_hosts_left_out():
    findings = judge_mx(MXSet('example.org', null_mx=True, null_mx_mixed=True, hosts=[host(['192.0.2.1'])],
                              omitted=[(20, 'mx2.example.org')]))
    assert verdicts(findings)[0] == ('MX-2', 'fail') and 'together with 2 other' in findings[0].summary
