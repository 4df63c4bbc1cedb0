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


# ---------------------------------------------------------------- relay_recipient and its variants (issue 9)

from ansible_collections.mxaudit.smtp.plugins.module_utils import _protocol as protocol  # noqa: E402
from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.relay import build_variants  # noqa: E402


def relay_settings(recipient, variants=True, domains=('example.net',)):
    return runner.MODULES['relay_check'].settings({'relay_recipient': recipient, 'relay_variants': variants},
                                                  list(domains))


@pytest.mark.parametrize('recipient', ['"x y"@example.com', '"a@b"@example.com', '""@example.com'])
def test_a_recipient_whose_relay_variants_cannot_be_sent_is_refused(recipient):
    with pytest.raises(OptionError) as info:
        relay_settings(recipient)
    message = str(info.value)
    assert message.startswith('relay_recipient: ') and 'relay variant' in message and 'relay_variants' in message


def test_without_variants_a_quoted_recipient_is_only_the_plain_probe():
    assert relay_settings('"x y"@example.com', variants=False)['relay_recipient'] == '"x y"@example.com'


def test_a_foreign_domain_too_long_for_the_percent_hack_is_refused():
    with pytest.raises(OptionError, match='percent hack'):
        relay_settings('x@' + 'a' * 63 + '.example')  # x%aaa...example is a local part over 64 octets


@pytest.mark.parametrize('recipient', ['relay-probe@example.com', 'x.y-z@foreign.example', 'a!b@c.example',
                                       'u%v@w.example', 'x@' + 'a' * 40 + '.example'])
@pytest.mark.parametrize('domain, banner, literal', [
    ('example.org', 'mx.example.org', '[192.0.2.1]'),
    ('xn--bcher-kva.example', None, '[IPv6:2001:db8::25]'),
    ('d.example', 'd.example', '[IPv6:2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]'),
])
def test_every_variant_of_an_accepted_recipient_can_be_sent(recipient, domain, banner, literal):
    accepted = relay_settings(recipient)['relay_recipient']
    for variant in build_variants(domain, banner, literal, accepted):
        if variant.sender is not None:
            protocol.mail_from(variant.sender)
        protocol.rcpt_to(variant.recipient, allow_malformed=variant.malformed)


# ---------------------------------------------------------------- the audit module's files (issue 9)

import errno  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402

from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.run import Engine  # noqa: E402
from ansible_collections.mxaudit.smtp.plugins.modules import audit  # noqa: E402
from ansible_collections.mxaudit.smtp.tests.unit.module_call import run_module  # noqa: E402

AUDIT_ARGS = {'domain': 'example.org', 'helo_name': 'audit.example.net', 'checks': ['mx']}


@pytest.fixture
def no_run(monkeypatch):
    """The Engine never runs: a test that reaches it has let the run start (no packet is ever sent here)."""
    def refuse(self):
        raise AssertionError('the run started')
    monkeypatch.setattr(Engine, 'execute', refuse)


@pytest.mark.parametrize('where, words', [
    ('.', 'is a directory'),
    ('missing/out.json', 'does not exist'),
    ('a-file/out.json', 'does not exist'),
])
def test_an_unwritable_output_file_fails_before_the_run(tmp_path, capsys, no_run, where, words):
    (tmp_path / 'a-file').write_text('x')
    code, result = run_module(audit, dict(AUDIT_ARGS, output_file=str(tmp_path / where)), capsys)
    assert code == 1 and result['msg'].startswith('Invalid option: output_file: ') and words in result['msg']


def test_an_output_file_that_is_a_device_is_refused(capsys, no_run):
    code, result = run_module(audit, dict(AUDIT_ARGS, output_file='/dev/null'), capsys)
    assert code == 1 and 'not a regular file' in result['msg']


def test_a_failed_write_keeps_the_result_and_the_check_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    def disk_full(self, path):
        raise OSError(errno.ENOSPC, 'No space left')

    monkeypatch.setattr(Engine, 'execute', lambda self: None)
    monkeypatch.setattr(Engine, 'write', disk_full)
    code, result = run_module(audit, dict(AUDIT_ARGS, output_file=str(tmp_path / 'out.json')), capsys)
    assert os.listdir(str(tmp_path)) == []
    assert code == 0 and result['changed'] is False
    assert 'No space left' in result['output_file_error'] and 'output_file' not in result
    assert 'No space left' in json.dumps(result['warnings'])
    assert [domain['domain'] for domain in result['domains']] == ['example.org']


def test_check_mode_checks_output_file_without_creating_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Engine, 'execute', lambda self: None)
    code, result = run_module(audit, dict(AUDIT_ARGS, output_file=str(tmp_path / 'out.json')), capsys, check_mode=True)
    assert code == 0 and os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize('path', ['/dev/zero', '/dev/stdin', '.'])
def test_domains_file_that_is_not_a_regular_file_is_refused(tmp_path, path):
    with pytest.raises(OptionError, match='not a regular file'):
        runner.read_domains_file(str(tmp_path / path) if path == '.' else path)


def test_domains_file_that_is_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = str(tmp_path / 'fifo')
    os.mkfifo(fifo)

    def writer():  # were the reader waiting for a writer, this one lets it go on after a second
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return
        os.close(descriptor)

    timer = threading.Timer(1.0, writer)
    timer.start()
    try:
        with pytest.raises(OptionError, match='not a regular file'):
            runner.read_domains_file(fifo)
    finally:
        timer.cancel()


def test_domains_file_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / 'domains.txt'
    path.write_text('a.example\n' * 20)
    monkeypatch.setattr(runner, 'DOMAINS_FILE_MAX_BYTES', 100)
    monkeypatch.setattr(os, 'read', lambda *args: pytest.fail('the file was read'))
    with pytest.raises(OptionError, match='larger than 100 bytes'):
        runner.read_domains_file(str(path))


def test_domains_file_not_utf8_names_the_line_and_the_byte(tmp_path):
    path = tmp_path / 'domains.txt'
    path.write_bytes(b'a.example\nb.example\n\xff.example\n')
    with pytest.raises(OptionError, match=r'line 3 is not UTF-8 \(invalid start byte at byte 1 of the line\)'):
        runner.read_domains_file(str(path))


def test_domains_file_read_in_chunks(tmp_path, monkeypatch):
    path = tmp_path / 'domains.txt'
    path.write_text(''.join('d%d.example\n' % index for index in range(1000)))
    monkeypatch.setattr(runner, 'DOMAINS_FILE_CHUNK', 100)
    domains = runner.read_domains_file(str(path))
    assert len(domains) == 1000 and domains[-1] == 'd999.example'


# ---------------------------------------------------------------- open files (issue 9)

resource = pytest.importorskip('resource')


@pytest.fixture
def open_files_limit():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    yield before
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def test_the_open_files_limit_is_raised_to_the_hard_limit(open_files_limit):
    soft, hard = open_files_limit
    lowered = 256 if hard == resource.RLIM_INFINITY else min(256, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    raised = runner.raise_open_files_limit()
    assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert raised == hard or hard == resource.RLIM_INFINITY and raised >= lowered


def test_concurrency_is_capped_by_the_open_files_limit():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._options import parse
    options = parse({'helo_name': 'audit.example.net', 'concurrency': 1000}, require_domain=False)
    warning = runner.cap_concurrency(options, 1024)
    assert options.concurrency == (1024 - runner.RESERVED_FILES) // 2 and 'RLIMIT_NOFILE' in warning
    assert runner.cap_concurrency(options, None) is None and runner.cap_concurrency(options, 100000) is None
    assert runner.cap_concurrency(options, 10) is not None and options.concurrency == 1


def test_a_module_warns_when_concurrency_is_lowered(capsys, monkeypatch):
    monkeypatch.setattr(Engine, 'execute', lambda self: None)
    monkeypatch.setattr(runner, 'raise_open_files_limit', lambda: 300)
    code, result = run_module(audit, dict(AUDIT_ARGS, concurrency=500), capsys)
    assert code == 0 and 'concurrency lowered from 500 to 93' in json.dumps(result['warnings'])


# ---------------------------------------------------------------- 40,000 domains (issue 9)

import gc  # noqa: E402
import time  # noqa: E402


def audit_params(names, **extra):
    params = {'domain': None, 'domains': names, 'domains_file': None, 'checks': ['mx'], 'retry_4xx': 0,
              'transcripts': 'failures', 'output_file': None, 'relay_recipient': 'x@foreign.example',
              'relay_variants': True, 'helo_name': 'audit.example.net', 'addresses': None,
              'resolver': {'nameservers': ['127.0.0.1'], 'port': 9, 'timeout': 1.0}}
    params.update(extra)
    return params


def listed(tmp_path, names):
    """A domains_file: bad names in it are reported per domain (given as options they would be an error)."""
    path = tmp_path / ('domains-%d.txt' % len(names))
    path.write_text('\n'.join(names) + '\n', encoding='utf-8')
    return audit_params(None, domains_file=str(path))


def test_each_name_is_converted_once(monkeypatch, tmp_path):
    names = ['d%d.example' % index for index in range(2000)]
    seen = []
    is_domain = protocol.is_domain
    monkeypatch.setattr(protocol, 'is_domain', lambda name: seen.append(name) or is_domain(name))
    engine, _raw = runner.audit_engine(listed(tmp_path, names + ['bad name']), False)
    converted = [name for name in seen if name.startswith('d') and name.endswith('.example')]
    assert sorted(converted) == sorted(names)
    assert list(engine.results)[-1] == 'bad name' and len(engine.results) == 2001


def test_forty_thousand_domains_parse_in_linear_time(tmp_path):
    def names(count):
        # ASCII, IDN (the slow path) and invalid names, as a real portfolio file has them
        return ['d%d.example' % index if index % 3 else 'bücher-%d.example' % index if index % 2 else 'bad name %d' % index
                for index in range(count)]

    def seconds(count):
        listing = names(count)
        gc.collect()
        gc.disable()  # the collector's passes come at moments of their own: noise, not the cost of parsing
        try:
            started = time.process_time()
            engine, _raw = runner.audit_engine(listed(tmp_path, listing), False)
            spent = time.process_time() - started
        finally:
            gc.enable()
        assert len(engine.results) == count
        return spent

    # Four times the names: linear is a ratio of 4, quadratic 16. Caches and a shared machine push a
    # linear run to about 5.5 at times, hence 8.
    small = min(seconds(10000) for _attempt in range(3))
    large = min(seconds(40000) for _attempt in range(3))
    assert large / small < 8, (small, large)


def test_a_bad_name_given_as_an_option_is_an_error_naming_it():
    with pytest.raises(OptionError, match=r"domains\[1\]: 'bad name'"):
        runner.audit_engine(audit_params(['ok.example', 'bad name']), False)
    with pytest.raises(OptionError, match=r"^domain: 'bad name'"):
        runner.audit_engine(audit_params(None, domain='bad name'), False)


def test_smtp_info_sessions_are_the_session_check_records_only():
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.probe import Target
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.targets import DomainResult

    class Record:
        def __init__(self, name):
            self.name = name

        def to_dict(self, target):
            return {'record': self.name, 'address': target.address}

    result = DomainResult('a.example')
    target = Target('a.example', 'mx.a.example', '192.0.2.1')
    result.records = {'session': [(target, Record('session'))], 'tls': [(target, Record('tls'))]}
    assert runner._session_fields(result) == {'sessions': [{'record': 'session', 'address': '192.0.2.1'}]}
    assert runner._session_fields(DomainResult('b.example')) == {'sessions': []}
