# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Planning: jobs per address from the registry - who shares a session, how domains are batched, what starts first."""

from __future__ import annotations

from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import Target
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECK_IDS
from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.plan import DOMAINS_PER_SESSION, plan


def targets(address, count):
    return [Target('d%d.example' % index, 'mx.example', address) for index in range(count)]


def shape(job):
    return ([check.id for check in job.checks], len(job.targets))


def test_every_check_at_one_address():
    jobs = plan({'192.0.2.1': targets('192.0.2.1', 10)}, CHECK_IDS)
    assert [shape(job) for job in jobs] == [
        (['pipelining'], 10), (['session'], 10),                  # sessions of their own, long waits first
        (['postmaster', 'recipient'], DOMAINS_PER_SESSION),       # per domain, a transaction each
        (['null_sender', 'relay', 'identity'], 10),               # once per address, for every domain
        (['postmaster', 'recipient'], 10 - DOMAINS_PER_SESSION),
        (['tls'], 10),                                            # STARTTLS: a short session of its own
        (['dane'], 10),                                           # per MX host name (one here), each domain in turn
    ]
    assert all(job.address == '192.0.2.1' for job in jobs)


def test_host_scope_jobs_are_cut_per_mx_host_name():
    mixed = [Target('a.example', 'mx1.example', '192.0.2.1'), Target('b.example', 'MX1.example.', '192.0.2.1'),
             Target('c.example', 'mx2.example', '192.0.2.1')]
    jobs = plan({'192.0.2.1': mixed}, ('dane',))
    assert sorted([target.domain for target in job.targets] for job in jobs) == [['a.example', 'b.example'], ['c.example']]
    assert all(job.per_host and not job.per_domain for job in jobs)


def test_domain_scope_checks_make_no_jobs():
    assert plan({'192.0.2.1': targets('192.0.2.1', 3)}, ('mx',)) == []


def test_round_robin_over_addresses():
    jobs = plan({'192.0.2.1': targets('192.0.2.1', 1), '192.0.2.2': targets('192.0.2.2', 1)},
                ('session', 'relay'))
    assert [(job.address, job.checks[0].id) for job in jobs] == [
        ('192.0.2.1', 'session'), ('192.0.2.2', 'session'), ('192.0.2.1', 'relay'), ('192.0.2.2', 'relay')]


def test_one_check_alone_gets_its_own_job():
    (job,) = plan({'192.0.2.1': targets('192.0.2.1', 2)}, ('recipient',))
    assert shape(job) == (['recipient'], 2) and job.per_domain
