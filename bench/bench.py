# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""make bench: the bulk audit against a lab of N domains over M loopback MX addresses.

``bench/run.sh`` builds and installs the collection, then runs ``bench.py run``:
for each N it starts the bulk lab (tests/lab/bulk.py: M servers and DNS in a
process of their own), runs the ``mxaudit.smtp.audit`` task through
``ansible-playbook`` and the engine directly (``Engine(...).run()`` in a
fresh Python process), and reads from the lab how many replies its servers
sent. On the smallest lab it measures the baselines on samples: the same
audit with ``concurrency: 1``, the single-check modules in an Ansible
``loop:`` and swaks in a shell loop. Then it prints the ratios and writes
the report (bench/RESULTS.md; with ``--quick`` build/bench/RESULTS-quick.md).

Exit status: 0 when the benchmark ran (whether or not the targets are met),
2 when the benchmark itself broke (a lab that does not start, a playbook
that fails, a run that does not cover every domain), 1 on bad arguments.

``bench.py engine ...`` is the engine run (used by ``run``, also by hand).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import math
import os
import platform
import pstats
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / 'bench'
TESTS = ROOT / 'tests'
HELO = 'audit.lab.test'
RELAY_TO = 'relay-probe@foreign.lab.test'
# Single-check modules that open SMTP sessions (mx_info does not): a never-greeting domain costs each one timeout.
LOOP_SMTP_MODULES = 6
SWAKS_PROBES = 2

# Check groups of the breakdown runs: the engine's job kinds (server = null sender + relay; envelope = postmaster
# + recipient, several domains a session), and DNS alone.
BREAKDOWN = (('mx',), ('session',), ('pipelining',), ('null_sender', 'relay'), ('postmaster', 'recipient'))
# The cost runs (at the smallest N, quick too): the conformance checks alone, then with tls and identity added, against
# the engine run of every check (tls, identity, dane and mta_sts added); each difference is the added checks' cost, in the
# same run and lab. The bulk lab publishes no TLSA and no MTA-STS record: what dane and mta_sts cost there is what they
# cost a portfolio where nothing is published (their DNS lookups and findings), the common case.
CONFORMANCE = ('mx', 'session', 'postmaster', 'null_sender', 'relay', 'recipient', 'pipelining')
TLS_COST = (('conformance', CONFORMANCE), ('with_tls', CONFORMANCE + ('tls', 'identity')), ('every', None))

# py-spy (optional): where the CPU samples of the ansible-playbook run fall. First match wins, per process kind.
SPY_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('module: result dicts (Engine.take_result)', ('Engine.take_result (', 'Engine.take_domains (')),
    ('module: the audit (Engine.execute event loop)', ('Engine.execute (', 'Engine.run (')),
    ('module: exit_json remove_values()', ('remove_values (',)),
    ('module: exit_json JSON encoding', ('_record_module_result (',)),
    ('module: the audit (event-loop callbacks whose stack py-spy cut short)', ('AnsiballZ_audit', 'asyncio/')),
    ('module: the audit (event-loop callbacks whose stack py-spy cut short)', ('AnsiballZ_audit', 'session.py:')),
    ('module: the audit (event-loop callbacks whose stack py-spy cut short)', ('AnsiballZ_audit', '_protocol.py:')),
    ('module: the audit (event-loop callbacks whose stack py-spy cut short)', ('AnsiballZ_audit', 'probe.py:')),
    ('module: imports, arguments and the rest', ('AnsiballZ_audit',)),
    ('controller: default callback copies the result (CallbackTaskResult.result)', ('CallbackTaskResult.result (',)),
    ('controller: module_response_deepcopy()', ('module_response_deepcopy (',)),
    ('controller: strip_internal_keys()', ('strip_internal_keys (',)),
    ('controller worker: decoding the module\'s JSON', ('JSONDecoder',)),
    ('controller worker: pickling the result for the main process', ('ForkingPickler.dumps (',)),
    ('controller: idle, waiting for the module (_wait_on_pending_results)', ('_wait_on_pending_results (',)),
    ('controller: start-up and the rest', ('',)),
)
SPY_RATE = 50


def spy_aggregate(raw: Path) -> dict[str, float]:
    """Seconds of py-spy samples per SPY_CATEGORIES step (first match wins; a label may have several entries)."""
    counts: dict[str, float] = {}
    for line in raw.read_text(encoding='utf-8', errors='replace').splitlines():
        stack, _sep, number = line.rpartition(' ')
        if not number.isdigit():
            continue
        for label, needles in SPY_CATEGORIES:
            if all(needle in stack for needle in needles):
                counts[label] = counts.get(label, 0.0) + int(number) / SPY_RATE
                break
    return {key: round(value, 1) for key, value in sorted(counts.items(), key=lambda item: -item[1])}


TARGETS = {
    'wall_1000': 20.0,
    'wall_10000': 180.0,
    'efficiency': 0.5,
    'speedup': 50.0,
    'rss_mb_10000': 300.0,
}


class BenchError(Exception):
    """The benchmark itself broke (not: a target was missed)."""


def log(message: str) -> None:
    print('bench: %s' % message, file=sys.stderr, flush=True)


def _lab_module() -> t.Any:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import lab.bulk  # pylint: disable=import-outside-toplevel,import-error

    return lab.bulk


# ---------------------------------------------------------------------------------------------- processes

def run_measured(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float,
                 log_path: Path, poll_module: str | None = None) -> dict[str, t.Any]:
    """Run a command to completion; wall time, exit code, CPU and peak RSS (KiB) of its process tree.

    The peak RSS comes from wait4(): Linux reports the largest RSS of the
    process and of every descendant it waited for. With ``poll_module``,
    /proc is also polled for a process whose command line contains it, and
    its VmHWM (peak RSS) is kept: a fallback for the module's own process.
    """
    with open(log_path, 'ab') as handle:
        handle.write(('\n$ %s\n' % ' '.join(cmd)).encode())
        handle.flush()
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                stdin=subprocess.DEVNULL, start_new_session=True)
        module_hwm = 0
        module_pid: int | None = None
        next_scan = start
        status = 0
        usage = None
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    break
                now = time.monotonic()
                if now - start > timeout:
                    raise BenchError('%s: still running after %g s, killed (log: %s)' % (cmd[0], timeout, log_path))
                if poll_module:
                    module_pid, module_hwm, next_scan = _poll(poll_module, module_pid, module_hwm, next_scan, now)
                time.sleep(0.02)
        except BaseException:
            # Interrupted or over time: the command and everything it started go too.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            proc.returncode = -9
            raise
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        'wall': wall,
        'rc': proc.returncode,
        'tree_maxrss_kb': usage.ru_maxrss if usage is not None else 0,
        'cpu': (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0,
        'polled_module_hwm_kb': module_hwm or None,
    }


def _poll(needle: str, pid: int | None, hwm: int, next_scan: float, now: float) -> tuple[int | None, int, float]:
    """One step of the /proc fallback: find the module's process, keep its VmHWM."""
    if pid is None and now >= next_scan:
        pid = _find_process(needle)
        next_scan = now + 0.25
    if pid is not None:
        value = _vm_hwm(pid)
        if value is None:
            pid = None
        else:
            hwm = max(hwm, value)
    return pid, hwm, next_scan


def _find_process(needle: str) -> int | None:
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if needle.encode() in handle.read():
                    return int(entry)
        except OSError:
            continue
    return None


def _vm_hwm(pid: int) -> int | None:
    try:
        with open('/proc/%d/status' % pid, encoding='ascii', errors='replace') as handle:
            for line in handle:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class LabProcess:
    """The bulk lab (``python -m lab.bulk serve``) in a process of its own."""

    def __init__(self, python: str, n: int, m: int, reply_delay: float, port: int, out: Path) -> None:
        self.python = python
        self.n = n
        self.m = m
        self.reply_delay = reply_delay
        self.port = port
        self.out = out
        self.state_path = out / ('lab-%d.json' % n)
        self.domains_file = out / ('domains-%d.txt' % n)
        self.log_path = out / ('lab-%d.log' % n)
        self.layout = _lab_module().bulk_lab(n, m, port)
        self.state: dict[str, t.Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: t.Any = None

    def start(self, wait: float = 120.0) -> None:
        if self.state_path.exists():
            self.state_path.unlink()
        self._log = open(self.log_path, 'wb')  # pylint: disable=consider-using-with
        cmd = [self.python, '-m', 'lab.bulk', 'serve', '--domains', str(self.n), '--addresses', str(self.m),
               '--reply-delay', str(self.reply_delay), '--port', str(self.port), '--state', str(self.state_path),
               '--domains-file', str(self.domains_file), '--lifetime', '7200']
        self.proc = subprocess.Popen(cmd, cwd=TESTS, stdout=self._log, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.state_path.exists():
                self.state = json.loads(self.state_path.read_text(encoding='utf-8'))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise BenchError('the bulk lab (N=%d) did not start: see %s:\n%s' % (
            self.n, self.log_path, self.log_path.read_text(encoding='utf-8', errors='replace')[-2000:]))

    def control(self, command: str) -> dict[str, t.Any]:
        try:
            return _lab_module().control(self.state['control']['host'], self.state['control']['port'], command)
        except (OSError, ValueError) as exc:
            raise BenchError('the bulk lab does not answer %r: %s' % (command, exc)) from exc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LabProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------- the engine run

def cmd_engine(args: argparse.Namespace) -> int:
    """Engine(options, settings, domains).run() in this process; a JSON summary to --json-out."""
    sys.path.insert(0, args.collections)
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.mxaudit.smtp.plugins.module_utils import _module_runner, _options
    from ansible_collections.mxaudit.smtp.plugins.module_utils._checks.registry import CHECK_IDS
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.run import Engine
    from ansible_collections.mxaudit.smtp.plugins.module_utils._engine.settings import RunSettings

    state = json.loads(Path(args.state).read_text(encoding='utf-8'))
    with open(args.domains_file, encoding='utf-8') as handle:
        domains = _module_runner.parse_domain_lines(handle)
    if args.limit:
        domains = domains[:args.limit]
    if args.only:
        wanted = set(args.only.split(','))
        domains = [domain for domain in domains if domain in wanted]
    options = _options.parse({
        'port': state['smtp_port'], 'helo_name': HELO, 'timeout': args.timeout,
        'resolver': {'nameservers': [state['dns']['host']], 'port': state['dns']['port'], 'timeout': 5.0},
        'concurrency': args.concurrency, 'per_address': args.per_address,
        'allow_private_addresses': True,  # the bulk lab's MX hosts are on 127.0.0.0/8
        'tls_ca_file': state.get('tls_ca_file'),  # the bulk lab's CA: its compliant servers' certificates validate
    }, require_domain=False)
    checks = tuple(args.checks.split(',')) if args.checks else CHECK_IDS
    settings = RunSettings(checks=checks, transcripts='failures', relay_recipient=RELAY_TO)
    audit = Engine(options, settings, domains)
    profiler = cProfile.Profile() if args.profile else None
    cpu0 = time.process_time()
    start = time.monotonic()
    if profiler is not None:
        profiler.enable()
    result = audit.run()
    if profiler is not None:
        profiler.disable()
    seconds = time.monotonic() - start
    cpu = time.process_time() - cpu0
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = {
        'seconds': seconds,
        'cpu': cpu,
        'maxrss_kb': maxrss_kb,
        'domains': len(result['domains']),
        'stats': {key: value for key, value in result['stats'].items() if key != 'checks'},
        'checks': result['stats'].get('checks'),
        'vantage_point': result['vantage_point'],
    }
    if args.exit_path:
        summary['exit_path'] = exit_path(result)
    if args.result_bytes:
        # The size of the result file (output_file) this run would write: its domains and stats as JSON.
        summary['result_bytes'] = len(json.dumps(result, separators=(',', ':')).encode('utf-8'))
    if profiler is not None:
        profiler.dump_stats(args.profile + '.pstats')
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats('tottime').print_stats(25)
        stats.sort_stats('cumulative').print_stats(40)
        Path(args.profile).write_text(text.getvalue(), encoding='utf-8')
        summary['profile_top'] = _profile_top(profiler)
    Path(args.json_out).write_text(json.dumps(summary, indent=2), encoding='utf-8')
    return 0


def exit_path(result: dict[str, t.Any]) -> dict[str, t.Any]:
    """What AnsibleModule.exit_json() does with this result: remove_values(), then the module JSON encoder.

    Timed here, after the measured run, in the engine's process: the cost of
    handing the result to the controller, which the engine run does not pay.
    """
    # pylint: disable=import-outside-toplevel
    from ansible.module_utils.common import json as ansible_json
    from ansible.module_utils.common.parameters import remove_values

    start = time.monotonic()
    cleaned = remove_values(dict(result, changed=False), set())
    removed = time.monotonic()
    encoder = ansible_json.get_module_encoder('legacy', ansible_json.Direction.MODULE_TO_CONTROLLER)
    text = json.dumps(cleaned, cls=encoder)
    encoded = time.monotonic()
    return {'remove_values': round(removed - start, 2), 'encode': round(encoded - removed, 2), 'bytes': len(text),
            'maxrss_kb_after': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _profile_top(profiler: cProfile.Profile, count: int = 15) -> list[dict[str, t.Any]]:
    """The functions with the most own time: file:line(name), calls, own and cumulative seconds."""
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        for marker in ('ansible_collections/', 'site-packages/'):
            if marker in filename:
                where = filename.split(marker, 1)[1]
                break
        else:
            where = re.sub(r'^.*/python3\.[0-9]+/', '', filename)
        rows.append({'function': '%s:%d(%s)' % (where, line, name), 'calls': calls,
                     'tottime': round(tottime, 3), 'cumtime': round(cumtime, 3)})
    rows.sort(key=lambda row: -row['tottime'])
    return rows[:count]


# ---------------------------------------------------------------------------------------------- the bench run

class Bench:
    """One `make bench` run: the measurements, then the report."""

    def __init__(self, args: argparse.Namespace, fresh: bool = True) -> None:
        self.args = args
        self.python = args.python
        self.venv_bin = Path(args.python).parent
        self.out = Path(args.out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.collections = Path(args.collections).resolve()
        self.log_path = self.out / 'bench.log'
        if fresh:
            self.log_path.write_bytes(b'')
        self.results: dict[str, t.Any] = {'sizes': {}, 'baselines': {}, 'params': {}}
        self.started = time.time()

    # -------------------------------------------------------------- helpers

    def ansible_env(self, rss_file: Path | None = None, stats_file: Path | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            'ANSIBLE_COLLECTIONS_PATH': str(self.collections),
            'ANSIBLE_LOCALHOST_WARNING': 'false',
            'ANSIBLE_INVENTORY_UNPARSED_WARNING': 'false',
            'ANSIBLE_NOCOLOR': '1',
            'ANSIBLE_RETRY_FILES_ENABLED': 'false',
            'ANSIBLE_PYTHON_INTERPRETER': self.python,
            'PATH': '%s:%s' % (self.venv_bin, os.environ.get('PATH', '')),
        })
        if rss_file is not None:
            env['BENCH_PYTHON'] = self.python
            env['BENCH_RSS_FILE'] = str(rss_file)
        if stats_file is not None:
            env['ANSIBLE_CALLBACK_PLUGINS'] = str(BENCH / 'callback_plugins')
            env['ANSIBLE_CALLBACKS_ENABLED'] = 'bench_stats'
            env['BENCH_STATS_FILE'] = str(stats_file)
        return env

    def common_vars(self, lab: LabProcess) -> dict[str, t.Any]:
        return {'bench_smtp_port': lab.state['smtp_port'], 'bench_dns_port': lab.state['dns']['port'],
                'bench_tls_ca_file': lab.state.get('tls_ca_file') or '',
                'bench_timeout': self.args.timeout, 'ansible_python_interpreter': self.python}

    def ideal(self, replies: int) -> float:
        slots = min(self.args.concurrency, self.args.addresses * self.args.per_address)
        return replies * self.args.reply_delay / slots

    def never_greets_added(self, lab_stats: dict[str, t.Any]) -> dict[str, t.Any]:
        """What the never-greeting addresses cost the run, in seconds.

        tail: how far their last connection outlived every other server's
        last reply (wall time they added at the end); slots: the connection
        time they held, spread over the concurrency (wall time they took
        from the others). The target: tail + slots <= one timeout.
        """
        times = lab_stats.get('times') or {}
        window = lab_stats.get('never_greets_window') or {}
        last_reply = times.get('last_reply') or 0.0
        tail = max(0.0, (window.get('last_close') or 0.0) - last_reply)
        slots = (lab_stats.get('never_greets_seconds') or 0.0) / self.args.concurrency
        added = tail + slots
        return {'tail': round(tail, 3), 'slots': round(slots, 3), 'added': round(added, 3),
                'connections': lab_stats.get('never_greets_connections'),
                'max_per_address': lab_stats.get('never_greets_max_per_address'),
                'met': added <= self.args.timeout}

    @staticmethod
    def phases(wall: float, lab_stats: dict[str, t.Any]) -> dict[str, t.Any]:
        """Where the wall time went, from the lab's clock (reset just before the process started)."""
        times = lab_stats.get('times') or {}
        first_dns = times.get('first_dns')
        first_conn = times.get('first_connection')
        last_close = times.get('last_close')
        if first_dns is None or first_conn is None or last_close is None:
            return {}
        smtp = last_close - first_conn
        last_reply = times.get('last_reply') or last_close
        return {
            'waiting_after_last_reply': round(max(last_close - last_reply, 0.0), 2),  # sessions waiting for timeouts
            'startup': round(first_dns, 2),                    # process start, imports, argument parsing
            'dns': round(first_conn - first_dns, 2),           # every MX / A / AAAA lookup, before any SMTP
            'smtp': round(smtp, 2),                            # first connection to last close
            'after': round(max(wall - last_close, 0.0), 2),   # results, JSON, return to the controller, exit
            'mean_connections_open': round(lab_stats['connection_seconds'] / smtp, 1) if smtp > 0 else None,
        }

    # -------------------------------------------------------------- measured runs

    def run_playbook(self, lab: LabProcess) -> dict[str, t.Any]:
        n = lab.n
        stats_file = self.out / ('playbook-stats-%d.json' % n)
        rss_file = self.out / ('playbook-rss-%d.txt' % n)
        for path in (stats_file, rss_file):
            if path.exists():
                path.unlink()
        vars_file = self.out / ('playbook-vars-%d.json' % n)
        # The implicit localhost's interpreter is the controller's Python unless an extra var says otherwise.
        variables = dict(self.common_vars(lab), bench_domains_file=str(lab.domains_file),
                         bench_concurrency=self.args.concurrency, bench_per_address=self.args.per_address,
                         ansible_python_interpreter=str(BENCH / 'python-rss.sh'))
        vars_file.write_text(json.dumps(variables), encoding='utf-8')
        cmd = [str(self.venv_bin / 'ansible-playbook'), str(BENCH / 'audit.yml'), '-e', '@%s' % vars_file]
        lab.control('reset')
        log('N=%d: ansible-playbook bench/audit.yml (one mxaudit.smtp.audit task)' % n)
        gnu_time = os.access('/usr/bin/time', os.X_OK)
        run = run_measured(cmd, env=self.ansible_env(rss_file, stats_file), cwd=ROOT, timeout=self.args.run_timeout,
                           log_path=self.log_path, poll_module=None if gnu_time else 'AnsiballZ_audit')
        lab_stats = lab.control('stats')
        if run['rc'] != 0:
            raise BenchError('N=%d: ansible-playbook exited %d; see %s' % (n, run['rc'], self.log_path))
        try:
            audit = json.loads(stats_file.read_text(encoding='utf-8'))
        except (OSError, ValueError) as exc:
            raise BenchError('N=%d: the playbook wrote no stats (%s); see %s' % (n, exc, self.log_path)) from exc
        if audit['stats'].get('domains') != n:
            raise BenchError('N=%d: the audit covered %r domains' % (n, audit['stats'].get('domains')))
        module_rss = None
        module_seconds = None
        if rss_file.exists():
            for line in rss_file.read_text(encoding='utf-8', errors='replace').splitlines():
                fields = line.split(None, 2)
                if len(fields) == 3 and fields[0].isdigit() and 'AnsiballZ_audit' in fields[2]:
                    module_rss = max(module_rss or 0, int(fields[0]))
                    module_seconds = float(fields[1])
        run.update(module_maxrss_kb=module_rss or run['polled_module_hwm_kb'], module_seconds=module_seconds,
                   module_rss_source='GNU time' if module_rss else '/proc VmHWM polling',
                   audit=audit, lab=lab_stats)
        return run

    def run_engine(self, lab: LabProcess, *, concurrency: int | None = None, only: list[str] | None = None,
                   profile: bool = False, exit_path: bool = False, tag: str = 'engine',
                   checks: tuple[str, ...] = (), result_bytes: bool = False) -> dict[str, t.Any]:
        n = lab.n
        json_out = self.out / ('%s-%d.json' % (tag, n))
        if json_out.exists():
            json_out.unlink()
        cmd = [self.python, str(BENCH / 'bench.py'), 'engine', '--collections', str(self.collections),
               '--state', str(lab.state_path), '--domains-file', str(lab.domains_file), '--json-out', str(json_out),
               '--timeout', str(self.args.timeout), '--concurrency', str(concurrency or self.args.concurrency),
               '--per-address', str(self.args.per_address)]
        if only:
            cmd += ['--only', ','.join(only)]
        if profile:
            cmd += ['--profile', str(self.out / ('profile-%d.txt' % n))]
        if exit_path:
            cmd += ['--exit-path']
        if checks:
            cmd += ['--checks', ','.join(checks)]
        if result_bytes:
            cmd += ['--result-bytes']
        lab.control('reset')
        run = run_measured(cmd, cwd=ROOT, timeout=self.args.run_timeout, log_path=self.log_path)
        lab_stats = lab.control('stats')
        if run['rc'] != 0:
            raise BenchError('N=%d: the engine run (%s) exited %d; see %s' % (n, tag, run['rc'], self.log_path))
        summary = json.loads(json_out.read_text(encoding='utf-8'))
        expected = len(only) if only else n
        if summary['domains'] != expected:
            raise BenchError('N=%d: the engine run (%s) covered %d domains, not %d' % (n, tag, summary['domains'], expected))
        run.update(engine=summary, lab=lab_stats)
        return run

    def run_loop(self, lab: LabProcess, sample: list[tuple[str, str, str]]) -> dict[str, t.Any]:
        vars_file = self.out / 'loop-vars.json'
        vars_file.write_text(json.dumps(dict(self.common_vars(lab), bench_domains=[s[0] for s in sample])),
                             encoding='utf-8')
        cmd = [str(self.venv_bin / 'ansible-playbook'), str(BENCH / 'loop.yml'), '-e', '@%s' % vars_file]
        lab.control('reset')
        run = run_measured(cmd, env=self.ansible_env(), cwd=ROOT, timeout=self.args.run_timeout, log_path=self.log_path)
        run['lab'] = lab.control('stats')
        if run['rc'] != 0:
            raise BenchError('the loop baseline playbook exited %d; see %s' % (run['rc'], self.log_path))
        return run

    def run_swaks(self, lab: LabProcess, sample: list[tuple[str, str, str]]) -> dict[str, t.Any] | None:
        if shutil.which('swaks') is None:
            log('swaks is not installed (apt-get install swaks): the swaks baseline is skipped')
            return None
        pairs = self.out / 'swaks-pairs.txt'
        pairs.write_text(''.join('%s %s\n' % (domain, address) for domain, address, _b in sample), encoding='utf-8')
        swaks_log = self.out / 'swaks.log'
        cmd = ['bash', str(BENCH / 'swaks_loop.sh'), str(pairs), str(lab.state['smtp_port']),
               str(int(math.ceil(self.args.timeout))), str(swaks_log)]
        lab.control('reset')
        run = run_measured(cmd, cwd=ROOT, timeout=self.args.run_timeout, log_path=self.log_path)
        run['lab'] = lab.control('stats')
        text = swaks_log.read_text(encoding='utf-8', errors='replace') if swaks_log.exists() else ''
        probes = text.count('-> RCPT TO:')
        if run['rc'] != 0 or probes < SWAKS_PROBES * len(sample):
            raise BenchError('the swaks baseline ran %d of %d RCPT probes (exit %d); see %s'
                             % (probes, SWAKS_PROBES * len(sample), run['rc'], swaks_log))
        run['probes'] = probes
        return run

    # -------------------------------------------------------------- the whole run

    def run(self) -> int:
        args = self.args
        sizes = sorted(set(args.sizes))
        self.results['params'] = {
            'sizes': sizes, 'addresses': args.addresses, 'reply_delay': args.reply_delay, 'timeout': args.timeout,
            'smtp_port': args.smtp_port,
            'concurrency': args.concurrency, 'per_address': args.per_address, 'quick': args.quick,
            'samples': {'sequential': args.seq_sample, 'loop': args.loop_sample, 'swaks': args.swaks_sample},
        }
        self.results['machine'] = machine()
        for index, n in enumerate(sizes):
            lab = LabProcess(self.python, n, args.addresses, args.reply_delay, args.smtp_port, self.out)
            log('N=%d: starting the bulk lab (%d addresses, reply delay %g s)' % (n, args.addresses, args.reply_delay))
            with lab:
                layout = lab.layout
                entry: dict[str, t.Any] = {'behaviours': layout.counts()}
                entry['playbook'] = self.run_playbook(lab)
                self._report_run(n, 'ansible-playbook', entry['playbook']['wall'], entry['playbook']['lab'])
                log('N=%d: the engine directly (Engine(...).run() in a fresh Python)' % n)
                # Every check (the module's default, as the playbook runs it): the cost runs below take it as their last stage.
                entry['engine'] = self.run_engine(lab, exit_path=True, result_bytes=index == 0)
                self._report_run(n, 'engine', entry['engine']['engine']['seconds'], entry['engine']['lab'])
                if args.py_spy and n == sizes[-1]:
                    log('N=%d: ansible-playbook again under py-spy (not a measurement)' % n)
                    entry['py_spy'] = self.run_py_spy(lab)
                if args.profile and n == sizes[-1]:
                    log('N=%d: the engine again under cProfile (not a measurement: profiling slows it)' % n)
                    entry['profile'] = self.run_engine(lab, profile=True, tag='profile')
                self.results['sizes'][n] = entry
                if index == 0:
                    entry['tls_cost'] = self.run_tls_cost(lab, entry['engine'])
                    if args.breakdown:
                        entry['breakdown'] = self.run_breakdown(lab)
                    self.run_baselines(lab)
        self.finish()
        return 0

    def _report_run(self, n: int, what: str, seconds: float, lab_stats: dict[str, t.Any]) -> None:
        ideal = self.ideal(lab_stats['replies'])
        log('N=%d: %s %.1f s; %d replies, ideal %.1f s, efficiency %.2f' % (
            n, what, seconds, lab_stats['replies'], ideal, ideal / seconds if seconds else 0))

    def run_py_spy(self, lab: LabProcess) -> dict[str, t.Any]:
        """The measured playbook once more under py-spy (not a measurement: sampling slows it); samples by step."""
        raw = self.out / ('py-spy-%d.raw' % lab.n)
        vars_file = self.out / ('playbook-vars-%d.json' % lab.n)
        cmd = [self.args.py_spy, 'record', '--nonblocking', '--subprocesses', '--format', 'raw', '--rate', str(SPY_RATE),
               '-o', str(raw), '--', str(self.venv_bin / 'ansible-playbook'), str(BENCH / 'audit.yml'),
               '-e', '@%s' % vars_file]
        lab.control('reset')
        run = run_measured(cmd, env=self.ansible_env(self.out / 'py-spy-rss.txt', self.out / 'py-spy-stats.json'),
                           cwd=ROOT, timeout=self.args.run_timeout, log_path=self.log_path)
        if run['rc'] != 0 or not raw.exists():
            log('py-spy run failed (exit %d); see %s' % (run['rc'], self.log_path))
            return {'error': 'py-spy exited %d' % run['rc']}
        return {'wall': run['wall'], 'seconds': spy_aggregate(raw), 'raw': str(raw)}

    def run_breakdown(self, lab: LabProcess) -> dict[str, t.Any]:
        """The engine with one group of checks at a time: which checks the round trips (and seconds) belong to."""
        out: dict[str, t.Any] = {}
        for group in BREAKDOWN:
            log('N=%d: breakdown: the engine with checks %s only' % (lab.n, ','.join(group)))
            run = self.run_engine(lab, checks=group, tag='breakdown-' + '-'.join(group))
            out[','.join(group)] = {'seconds': run['engine']['seconds'], 'replies': run['lab']['replies'],
                                    'connections': run['lab']['connections'], 'verbs': run['lab']['verbs'],
                                    'sessions': run['engine']['stats'].get('sessions')}
        return out

    def run_tls_cost(self, lab: LabProcess, every: dict[str, t.Any]) -> dict[str, t.Any]:
        """The conformance checks alone, then with tls and identity, against ``every`` (the engine run of every check,
        just made): what tls and identity add, and what dane and mta_sts add on top, per address and per domain."""
        out: dict[str, t.Any] = {}
        for name, checks in TLS_COST:
            if checks is None:
                run = every
            else:
                log('N=%d: check cost: the engine with %s only' % (lab.n, ','.join(checks)))
                run = self.run_engine(lab, checks=checks, tag='tls-cost-' + name, result_bytes=True)
            engine = run['engine']
            out[name] = {'checks': list(checks) if checks is not None else 'every', 'seconds': engine['seconds'],
                         'cpu': engine['cpu'], 'maxrss_kb': engine['maxrss_kb'], 'result_bytes': engine['result_bytes'],
                         'sessions': engine['stats'].get('sessions'), 'replies': run['lab']['replies'],
                         'connections': run['lab']['connections'], 'connection_seconds': run['lab']['connection_seconds'],
                         'compliant': engine['stats'].get('compliant')}
        out['added'], out['ratios'] = _added(out['conformance'], out['with_tls'], lab.m, lab.n)
        out['added_policies'], out['ratios_policies'] = _added(out['with_tls'], out['every'], lab.m, lab.n)
        out.update(addresses=lab.m, domains=lab.n)
        for label, added, ratios in (('tls+identity', out['added'], out['ratios']),
                                     ('dane+mta_sts', out['added_policies'], out['ratios_policies'])):
            log('N=%d: %s add %.1f ms wall and %.0f ms of connection time per address, %.2f sessions and %.1f '
                'replies per address, %.0f bytes of result per domain (wall x%.2f, sessions x%.2f, result x%.2f)' % (
                    lab.n, label, added['ms_per_address'], added['connection_ms_per_address'], added['sessions_per_address'],
                    added['replies_per_address'], added['result_bytes_per_domain'], ratios['seconds'] or 0,
                    ratios['connections'] or 0, ratios['result_bytes'] or 0))
        return out

    def run_baselines(self, lab: LabProcess) -> None:
        args = self.args
        base = self.results['baselines']
        if args.seq_sample > 0:
            sample = lab.layout.sample(args.seq_sample)
            log('baseline: the same audit with concurrency 1 on %d domains (one per address)' % len(sample))
            run = self.run_engine(lab, concurrency=1, only=[s[0] for s in sample], tag='sequential')
            base['sequential'] = {'sample': sample, 'run': run}
            log('baseline: sequential %.1f s for %d domains (%d replies)' % (
                run['engine']['seconds'], len(sample), run['lab']['replies']))
        if args.loop_sample > 0:
            sample = lab.layout.sample(args.loop_sample)
            log('baseline: Ansible loop over the 7 single-check modules, %d domains' % len(sample))
            run = self.run_loop(lab, sample)
            base['loop'] = {'sample': sample, 'run': run}
            log('baseline: loop %.1f s for %d domains' % (run['wall'], len(sample)))
        if args.swaks_sample > 0:
            sample = lab.layout.sample(args.swaks_sample)
            log('baseline: swaks shell loop (postmaster + relay, --quit-after RCPT), %d domains' % len(sample))
            run = self.run_swaks(lab, sample)
            if run is not None:
                base['swaks'] = {'sample': sample, 'run': run}
                log('baseline: swaks %.1f s for %d domains' % (run['wall'], len(sample)))

    # -------------------------------------------------------------- analysis and report

    def extrapolate(self, n: int) -> dict[str, t.Any]:
        """Each baseline's time for N domains, extrapolated from its sample."""
        args = self.args
        base = self.results['baselines']
        entry = self.results['sizes'][n]
        layout = _lab_module().bulk_lab(n, args.addresses, args.smtp_port)
        never_domains = layout.counts().get('never_greets', {}).get('domains', 0)
        never_addresses = layout.counts().get('never_greets', {}).get('addresses', 0)
        out: dict[str, t.Any] = {}
        if 'sequential' in base:
            run = base['sequential']['run']
            size = len(base['sequential']['sample'])
            seconds = run['engine']['seconds']
            per_reply = seconds / max(run['lab']['replies'], 1)
            replies = entry['engine']['lab']['replies']
            out['sequential'] = {
                'seconds': per_reply * replies + never_addresses * args.timeout,
                'naive_seconds': seconds / size * n,
                'how': ('%.2f s for %d domains on %d addresses (%d replies: %.1f ms each); x the %d replies the '
                        'concurrent engine run needed at N=%d, + %d never-greeting addresses x %g s timeout'
                        % (seconds, size, size, run['lab']['replies'], 1000 * per_reply, replies, n,
                           never_addresses, args.timeout)),
            }
        if 'loop' in base:
            run = base['loop']['run']
            size = len(base['loop']['sample'])
            out['loop'] = {
                'seconds': run['wall'] / size * (n - never_domains) + never_domains * LOOP_SMTP_MODULES * args.timeout,
                'how': ('%.1f s for %d domains x 7 modules (%.2f s a domain) x %d greeting domains, + %d never-greeting '
                        'domains x %d SMTP modules x %g s timeout' % (run['wall'], size, run['wall'] / size,
                                                                      n - never_domains, never_domains,
                                                                      LOOP_SMTP_MODULES, args.timeout)),
            }
        if 'swaks' in base:
            run = base['swaks']['run']
            size = len(base['swaks']['sample'])
            out['swaks'] = {
                'seconds': run['wall'] / size * (n - never_domains) + never_domains * SWAKS_PROBES * args.timeout,
                'how': ('%.1f s for %d domains x 2 probes (%.2f s a domain) x %d greeting domains, + %d never-greeting '
                        'domains x 2 probes x %g s timeout; postmaster and basic relay probes only, no DNS'
                        % (run['wall'], size, run['wall'] / size, n - never_domains, never_domains, args.timeout)),
            }
        return out

    def finish(self) -> None:
        args = self.args
        summary: dict[str, t.Any] = {}
        for n, entry in sorted(self.results['sizes'].items()):
            pb = entry['playbook']
            eng = entry['engine']
            replies = pb['lab']['replies']
            row = {
                'n': n,
                'playbook_wall': pb['wall'],
                'engine_wall': eng['engine']['seconds'],
                'engine_process_wall': eng['wall'],
                'replies': replies,
                'engine_replies': eng['lab']['replies'],
                'ideal': self.ideal(replies),
                'engine_ideal': self.ideal(eng['lab']['replies']),
                'module_rss_mb': (pb['module_maxrss_kb'] or 0) / 1024,
                'tree_rss_mb': pb['tree_maxrss_kb'] / 1024,
                'engine_rss_mb': eng['engine']['maxrss_kb'] / 1024,
                'playbook_cpu': pb['cpu'],
                'engine_cpu': eng['engine']['cpu'],
                'sessions': pb['audit']['stats'].get('sessions'),
                'compliant': pb['audit']['stats'].get('compliant'),
                'result_mb': (eng['engine'].get('exit_path') or {}).get('bytes', 0) / 1e6,
                'exit_path': eng['engine'].get('exit_path'),
                'module_seconds': pb.get('module_seconds'),
                'audit_seconds': pb['audit']['stats'].get('seconds'),
                'lab_playbook': {key: pb['lab'].get(key) for key in (
                    'longest_connections', 'last_closes', 'times', 'connection_seconds', 'never_greets_seconds')},
                'phases_playbook': self.phases(pb['wall'], pb['lab']),
                'phases_engine': self.phases(eng['wall'], eng['lab']),
                'never_greets': self.never_greets_added(pb['lab']),
                'never_greets_engine': self.never_greets_added(eng['lab']),
                'max_per_address': pb['lab']['max_per_address'],
                'max_concurrent': pb['lab']['max_concurrent'],
                'verbs': eng['lab']['verbs'],
                'connections': eng['lab']['connections'],
                'dns_queries': eng['lab']['dns_queries'],
            }
            row['efficiency'] = row['ideal'] / row['playbook_wall']
            row['engine_efficiency'] = row['engine_ideal'] / row['engine_wall']
            row['baselines'] = self.extrapolate(n)
            row['ratios'] = {name: value['seconds'] / row['playbook_wall'] for name, value in row['baselines'].items()}
            if 'breakdown' in entry:
                row['breakdown'] = entry['breakdown']
            if 'tls_cost' in entry:
                row['tls_cost'] = entry['tls_cost']
            if 'py_spy' in entry:
                row['py_spy'] = entry['py_spy']
            if 'profile' in entry:
                row['profile_top'] = entry['profile']['engine'].get('profile_top')
                row['profile_seconds'] = entry['profile']['engine']['seconds']
            summary[n] = row
        self.results['summary'] = summary
        self.results['targets'] = targets = self.judge(summary)
        (self.out / 'results.json').write_text(json.dumps(self.results, indent=2, default=str), encoding='utf-8')
        self.print_summary(summary, targets)
        report = render_report(self.results, args)
        results_path = Path(args.results) if args.results else (
            self.out / 'RESULTS-quick.md' if args.quick else BENCH / 'RESULTS.md')
        results_path.write_text(report, encoding='utf-8')
        log('report written to %s (raw numbers: %s)' % (results_path, self.out / 'results.json'))

    def judge(self, summary: dict[int, dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Every target: measured value, met or not, and why."""
        args = self.args
        out: list[dict[str, t.Any]] = []
        for n, key in ((1000, 'wall_1000'), (10000, 'wall_10000')):
            target = TARGETS[key]
            row = summary.get(n)
            if row is None:
                out.append({'target': 'N = %d through ansible-playbook in <= %g s' % (n, target), 'value': 'not run',
                            'met': None, 'why': 'N = %d was not measured in this run' % n})
                continue
            met = row['playbook_wall'] <= target
            out.append({'target': 'N = %d through ansible-playbook in <= %g s' % (n, target),
                        'value': '%.1f s' % row['playbook_wall'], 'met': met, 'why': wall_reason(row, target, args)})
        for n, row in sorted(summary.items()):
            met = row['efficiency'] >= TARGETS['efficiency']
            out.append({'indicative': n not in (1000, 10000),
                        'target': 'efficiency >= %g at N = %d (ideal / ansible-playbook wall)' % (TARGETS['efficiency'], n),
                        'value': '%.2f (engine alone %.2f)' % (row['efficiency'], row['engine_efficiency']), 'met': met,
                        'why': efficiency_reason(row, args)})
        for n, row in sorted(summary.items()):
            ratio = row['ratios'].get('sequential')
            if ratio is None:
                out.append({'target': '>= %gx faster than the sequential baseline at N = %d' % (TARGETS['speedup'], n),
                            'value': 'not run', 'met': None, 'why': 'no sequential sample in this run'})
                continue
            out.append({'indicative': n not in (1000, 10000),
                        'target': '>= %gx faster than the sequential baseline at N = %d' % (TARGETS['speedup'], n),
                        'value': '%.0fx (naive per-domain extrapolation: %.0fx)' % (
                            ratio, row['baselines']['sequential']['naive_seconds'] / row['playbook_wall']),
                        'met': ratio >= TARGETS['speedup'],
                        'why': 'concurrency %d over %d addresses x %d: the speedup is about efficiency x %d'
                               % (args.concurrency, args.addresses, args.per_address,
                                  min(args.concurrency, args.addresses * args.per_address))})
        row = summary.get(10000)
        if row is None:
            out.append({'target': 'peak RSS <= %g MB at N = 10000' % TARGETS['rss_mb_10000'], 'value': 'not run',
                        'met': None, 'why': 'N = 10000 was not measured in this run'})
        else:
            met = row['module_rss_mb'] <= TARGETS['rss_mb_10000']
            out.append({'target': 'peak RSS <= %g MB at N = 10000 (the module process)' % TARGETS['rss_mb_10000'],
                        'value': '%.0f MB (whole ansible-playbook tree: %.0f MB; engine alone %.0f MB)' % (
                            row['module_rss_mb'], row['tree_rss_mb'], row['engine_rss_mb']),
                        'met': met, 'why': rss_reason(row)})
        for n, row in sorted(summary.items()):
            never = row['never_greets']
            out.append({'indicative': n not in (1000, 10000),
                        'target': 'never-greeting 2 %% add <= one timeout (%g s) at N = %d' % (args.timeout, n),
                        'value': '%.2f s (tail %.2f s + held slots %.2f s; %s connections, <= %s per address)' % (
                            never['added'], never['tail'], never['slots'], never['connections'],
                            never['max_per_address']),
                        'met': never['met'],
                        'why': 'each never-greeting address is tried once per free connection slot, times out once, '
                               'and is backed off for the rest of the run'})
        return out

    def print_summary(self, summary: dict[int, dict[str, t.Any]], targets: list[dict[str, t.Any]]) -> None:
        lines = ['', '== make bench: %s' % ('quick (N=%s)' % ','.join(map(str, summary)) if self.args.quick else 'full')]
        for n, row in sorted(summary.items()):
            lines.append('N=%-6d ansible-playbook %7.1f s  engine %7.1f s  ideal %6.1f s  efficiency %.2f (engine %.2f)  '
                         'module RSS %4.0f MB (tree %4.0f MB, engine %4.0f MB)' % (
                             n, row['playbook_wall'], row['engine_wall'], row['ideal'], row['efficiency'],
                             row['engine_efficiency'], row['module_rss_mb'], row['tree_rss_mb'], row['engine_rss_mb']))
            for name, value in row['baselines'].items():
                lines.append('         %-10s baseline (extrapolated) %9.0f s  -> the audit task is %6.1fx faster' % (
                    name, value['seconds'], row['ratios'][name]))
        lines.append('')
        for item in targets:
            state = 'MET' if item['met'] else ('n/a' if item['met'] is None else 'NOT MET')
            note = ' (indicative only: the targets are for N = 1000 and 10000)' if item.get('indicative') else ''
            lines.append('[%-7s] %s: %s%s' % (state, item['target'], item['value'], note))
        print('\n'.join(lines), flush=True)


def wall_reason(row: dict[str, t.Any], target: float, args: argparse.Namespace) -> str:
    ideal = row['ideal']
    ph = row['phases_playbook']
    per_domain = row['replies'] / row['n']
    parts = ['ideal bound %.1f s (%d replies, %.1f per domain, x %g s / %d slots)' % (
        ideal, row['replies'], per_domain, args.reply_delay, min(args.concurrency, args.addresses * args.per_address))]
    if ph:
        parts.append('measured: start-up %.1f s + DNS %.1f s + SMTP %.1f s (%.0f of %d connections open on average) '
                     '+ after the last SMTP close %.1f s' % (
                         ph['startup'], ph['dns'], ph['smtp'], ph['mean_connections_open'] or 0, args.concurrency,
                         ph['after']))
    if ideal > target:
        parts.append('the round trips alone exceed the target: meeting it needs fewer than %d replies (%.1f per domain)'
                     % (target * min(args.concurrency, args.addresses * args.per_address) / args.reply_delay,
                        target * min(args.concurrency, args.addresses * args.per_address) / args.reply_delay / row['n']))
    elif row['playbook_wall'] > target:
        parts.append('needs efficiency >= %.2f' % (ideal / target))
    return '; '.join(parts)


def efficiency_reason(row: dict[str, t.Any], args: argparse.Namespace) -> str:
    ph = row['phases_playbook']
    if not ph:
        return ''
    smtp_eff = row['ideal'] / ph['smtp'] if ph['smtp'] else 0
    return ('within the SMTP phase alone %.2f; outside it %.1f s (start-up %.1f, DNS %.1f, after %.1f); '
            'CPU of the playbook tree %.1f s, of the engine alone %.1f s for %.1f s wall'
            % (smtp_eff, ph['startup'] + ph['dns'] + ph['after'], ph['startup'], ph['dns'], ph['after'],
               row['playbook_cpu'], row['engine_cpu'], row['engine_wall']))


def rss_reason(row: dict[str, t.Any]) -> str:
    text = 'the engine holds %.0f MB at the end of Engine.run() (interpreter and imports included)' % row['engine_rss_mb']
    exit_info = row.get('exit_path')
    if exit_info:
        text += ('; returning the result as exit_json() does (remove_values() copies it, then a %.1f MB JSON string) '
                 'takes that process to %.0f MB' % (exit_info['bytes'] / 1e6, exit_info['maxrss_kb_after'] / 1024))
    return text


def analysis(results: dict[str, t.Any]) -> list[str]:
    """Plain sentences from the numbers: what limits each result."""
    p = results['params']
    slots = min(p['concurrency'], p['addresses'] * p['per_address'])
    lines = []
    for n, row in sorted(results['summary'].items(), key=lambda item: int(item[0])):
        ph = row['phases_playbook']
        if not ph:
            continue
        floor = row['ideal'] + ph['startup'] + ph['dns'] + ph['after']
        text = ('N = %s: %.1f s through ansible-playbook. With a perfect SMTP phase (the ideal %.1f s) and the same '
                'start-up (%.1f s), DNS (%.1f s) and result handling (%.1f s) it would take %.1f s'
                % (n, row['playbook_wall'], row['ideal'], ph['startup'], ph['dns'], ph['after'], floor))
        target = TARGETS.get('wall_%s' % n)
        if target is not None and floor > target:
            text += ', above the %g s target: the target needs fewer round trips (%.1f replies per domain now)' % (
                target, row['replies'] / int(n))
            if row.get('breakdown'):
                total = sum(item['replies'] for item in row['breakdown'].values()) or 1
                text += ' - by check: %s -, more than %d connections at once, or a shorter L' % (', '.join(
                    '%s %.0f %%' % (group, 100.0 * item['replies'] / total)
                    for group, item in row['breakdown'].items() if item['replies']), slots)
        elif target is not None and row['playbook_wall'] > target:
            margin = target - floor
            text += (', %.1f s under the %g s target: meeting it needs the SMTP phase within %.1f s of the ideal '
                     '(SMTP-phase efficiency >= %.2f)' % (margin, target, margin, row['ideal'] / (row['ideal'] + margin)))
        text += '.'
        waiting = ph.get('waiting_after_last_reply') or 0
        closes = (row.get('lab_playbook') or {}).get('last_closes') or []
        slow = sorted({item['behaviour'] for item in closes if item['seconds'] >= 0.9 * p['timeout']})
        text += (' The SMTP phase took %.1f s against the ideal %.1f s (%.0f of %d connections open on average)'
                 % (ph['smtp'], row['ideal'], ph['mean_connections_open'] or 0, slots))
        lab_pb = row.get('lab_playbook') or {}
        if lab_pb.get('connection_seconds'):
            text += ('; connections were open %.0f connection-seconds, of which %.0f were the lab\'s reply delay '
                     '(replies x L) and %.0f never-greeting timeouts; the other %.0f are TCP set-up, client-side '
                     'processing and other timeouts' % (
                         lab_pb['connection_seconds'], row['replies'] * p['reply_delay'],
                         lab_pb.get('never_greets_seconds') or 0,
                         lab_pb['connection_seconds'] - row['replies'] * p['reply_delay']
                         - (lab_pb.get('never_greets_seconds') or 0)))
            text += ('; %.0f of the %.0f slot-seconds (%d slots x the SMTP phase) had no connection open' % (
                slots * ph['smtp'] - lab_pb['connection_seconds'], slots * ph['smtp'], slots))
        if waiting >= 0.5 and slow:
            text += ('; its last %.1f s were spent waiting for a timeout after the last reply anywhere, on %s '
                     'sessions (a pipelining_loses server stalls the PL-2 group, so its probe waits a full timeout; '
                     'pipelining jobs are the lightest and start last)' % (waiting, ' and '.join(slow)))
        text += '.'
        lines.append(text)
        module = row.get('module_seconds')
        exit_info = row.get('exit_path') or {}
        if module and row.get('audit_seconds') is not None and ph['after'] >= 2:
            lines.append(
                'N = %s: %.1f s pass after the last SMTP close. The module spends %.1f s outside Engine.run() '
                '(result dicts, then exit_json(): remove_values() %.1f s and JSON encoding %.1f s for %.1f MB, timed '
                'in the engine process), and the controller %.1f s (start-up included) decoding that JSON, pickling '
                'it from the worker to the main process, and copying it (module_response_deepcopy, strip_internal_keys, '
                'the callbacks\' result copy) - see the py-spy table. All of it grows with the size of the returned '
                'result, not with the SMTP work.' % (
                    n, ph['after'], module - row['audit_seconds'], exit_info.get('remove_values', 0),
                    exit_info.get('encode', 0), row['result_mb'], row['playbook_wall'] - module))
        if ph['dns'] >= 2:
            lines.append('N = %s: DNS takes %.1f s (%d queries to the lab server, %.2f ms each) and ends before the first '
                         'SMTP connection opens: the engine resolves every domain before it plans any job.' % (
                             n, ph['dns'], row['dns_queries'], 1000.0 * ph['dns'] / max(row['dns_queries'], 1)))
        if row.get('profile_top'):
            top = [item for item in row['profile_top'] if 'poll' not in item['function']]
            lines.append('N = %s: the engine used %.1f s of CPU for %.1f s of Engine.run(): it is not CPU-bound '
                         '(the event loop waits in epoll most of the time); the largest own-time item is `%s` '
                         '(%.1f s for %d calls under cProfile).' % (
                             n, row['engine_cpu'], row['engine_wall'], top[0]['function'] if top else '?',
                             top[0]['tottime'] if top else 0, top[0]['calls'] if top else 0))
    row = results['summary'].get(10000) or results['summary'].get('10000')
    if row is not None and row.get('exit_path'):
        lines.append('Memory at N = 10000: the engine itself peaks at %.0f MB; the module process at %.0f MB, because '
                     'exit_json() copies the whole result (remove_values) and encodes it to one %.1f MB string (the '
                     'same steps in the engine process: %.0f MB). The controller tree peaks at %.0f MB holding the '
                     'decoded result.' % (row['engine_rss_mb'], row['module_rss_mb'], row['result_mb'],
                                          row['exit_path']['maxrss_kb_after'] / 1024, row['tree_rss_mb']))
    return lines


def machine() -> dict[str, t.Any]:
    cpu = ''
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import ansible.release  # pylint: disable=import-outside-toplevel

        ansible_version = ansible.release.__version__
    except ImportError:
        ansible_version = '?'
    commit, dirty = '?', '?'
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True,
                                check=True, timeout=30).stdout.strip()
        changed = subprocess.run(['git', 'status', '--porcelain', '--', 'plugins'], cwd=ROOT, capture_output=True,
                                 text=True, check=True, timeout=30).stdout
        dirty = 'uncommitted changes in plugins/' if changed.strip() else 'plugins/ as committed'
    except (OSError, subprocess.SubprocessError):
        pass
    return {'commit': commit, 'plugins_state': dirty,
            'cpus': os.cpu_count(), 'cpu': cpu, 'loadavg_at_start': [round(v, 2) for v in os.getloadavg()],
            'python': platform.python_version(), 'ansible_core': ansible_version,
            'kernel': platform.release(), 'host': socket.gethostname(),
            'nofile': list(resource.getrlimit(resource.RLIMIT_NOFILE)),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}


def _met(value: bool | None) -> str:
    return 'met' if value else ('n/a' if value is None else '**not met**')


def render_report(results: dict[str, t.Any], args: argparse.Namespace) -> str:
    """bench/RESULTS.md: the measured numbers, the targets, met or not and why."""
    p = results['params']
    mach = results['machine']
    summary = results['summary']
    out = ['# make bench: results', '',
           '<!-- written by bench/run.sh (bench/bench.py); edit the generator, not this file -->', '',
           'Measured %s on %s: %d CPUs (%s), Python %s, ansible-core %s, open-files limit %s, load average at the '
           'start %s. Code: commit %s, %s.' % (
               mach['date'], mach['host'], mach['cpus'] or 0, mach['cpu'], mach['python'], mach['ansible_core'],
               mach['nofile'][0], ' / '.join(map(str, mach['loadavg_at_start'])), mach.get('commit', '?'),
               mach.get('plugins_state', '?')), '',
           'Lab (tests/lab/bulk.py, one separate process): N domains over M = %d loopback MX addresses (127.3.0.0/16), '
           'behaviours per address: 80 %% compliant, 18 %% failures (%s in turn), 2 %% never greet; every SMTP reply '
           'delayed by L = %g s. Auditor: concurrency %d, per_address %d, timeout %g s, every check '
           '(relay variants on), transcripts: failures, lab DNS via `resolver`.' % (
               p['addresses'], ', '.join(_lab_module().FAILURE_BEHAVIOURS), p['reply_delay'], p['concurrency'],
               p['per_address'], p['timeout']), '']
    if p['quick']:
        out += ['**Quick run** (`bench/run.sh --quick`): proves the benchmark works; the targets are for N = 1,000 '
                'and 10,000.', '']
    out += ['## Measured', '',
            '| N | ansible-playbook wall | engine wall | replies (per domain) | ideal bound | efficiency (engine) '
            '| module peak RSS | playbook tree peak RSS | engine peak RSS | sessions | compliant domains |',
            '|---|---|---|---|---|---|---|---|---|---|---|']
    for n, row in sorted(summary.items(), key=lambda item: int(item[0])):
        out.append('| %s | %.1f s | %.1f s | %d (%.1f) | %.1f s | %.2f (%.2f) | %.0f MB | %.0f MB | %.0f MB | %s | %s |' % (
            n, row['playbook_wall'], row['engine_wall'], row['replies'], row['replies'] / int(n), row['ideal'],
            row['efficiency'], row['engine_efficiency'], row['module_rss_mb'], row['tree_rss_mb'],
            row['engine_rss_mb'], row['sessions'], row['compliant']))
    out += ['', 'Ideal bound = replies sent by the lab x L / min(concurrency, M x per_address). Efficiency = ideal / '
            'measured wall. "engine" is `Engine(options, settings, domains).run()` in a fresh Python process (its own '
            'clock); peak RSS from wait4() (the whole ansible-playbook process tree) and GNU time around the module\'s '
            'Python (bench/python-rss.sh).', '']
    out += ['## Baselines (sampled, extrapolated to N)', '',
            '| N | baseline | extrapolated time | the audit task is | how |', '|---|---|---|---|---|']
    for n, row in sorted(summary.items(), key=lambda item: int(item[0])):
        for name, value in row['baselines'].items():
            out.append('| %s | %s | %.0f s (%.1f h) | %.1fx faster | %s |' % (
                n, name, value['seconds'], value['seconds'] / 3600, row['ratios'][name], value['how']))
    base = results['baselines']
    out += ['', 'Samples: domains on distinct addresses, at an even stride through the shuffled address list, '
            'never-greeting ones left out and added at their timeout cost.']
    for name in ('sequential', 'loop', 'swaks'):
        if name in base:
            out.append('- %s: %s' % (name, ', '.join('%s (%s)' % (d, b) for d, _a, b in base[name]['sample'])))
    if 'swaks' not in base:
        out.append('- swaks: not run (swaks not installed, or --swaks-sample 0)')
    out += ['', '## Targets', '', '| target | measured | verdict | why |', '|---|---|---|---|']
    for item in results['targets']:
        verdict = _met(item['met']) + (' (indicative: the targets are for N = 1000 and 10000)'
                                       if item.get('indicative') else '')
        out.append('| %s | %s | %s | %s |' % (item['target'], item['value'], verdict, item['why']))
    out += ['', '## Analysis', '']
    out += ['- %s' % line for line in analysis(results)]
    out += ['', '## Where the time goes', '']
    for n, row in sorted(summary.items(), key=lambda item: int(item[0])):
        ph = row['phases_playbook']
        phe = row['phases_engine']
        out.append('N = %s, ansible-playbook %.1f s: start-up %.1f s, DNS %.1f s (%d queries), SMTP %.1f s '
                   '(%d connections, %.0f open on average of %d allowed), after the last SMTP close %.1f s. '
                   'Engine alone (process %.1f s): start-up %.1f s, DNS %.1f s, SMTP %.1f s, after %.1f s; CPU %.1f s '
                   'for %.1f s of Engine.run().' % (
                       n, row['playbook_wall'], ph.get('startup', 0), ph.get('dns', 0), row['dns_queries'],
                       ph.get('smtp', 0), row['connections'], ph.get('mean_connections_open') or 0, p['concurrency'],
                       ph.get('after', 0), row['engine_process_wall'], phe.get('startup', 0), phe.get('dns', 0),
                       phe.get('smtp', 0), phe.get('after', 0), row['engine_cpu'], row['engine_wall']))
        if row.get('module_seconds') and row.get('audit_seconds') is not None:
            module = row['module_seconds']
            exit_info = row.get('exit_path') or {}
            out.append('')
            out.append('The ansible-playbook wall of N = %s splits into: the module\'s process %.1f s (GNU time) = '
                       'Engine.run() %.1f s + %.1f s outside it (imports and arguments, building the result, '
                       'exit_json(): remove_values() %.1f s and JSON encoding %.1f s of a %.1f MB result, as timed '
                       'in the engine process); and the controller %.1f s (start-up, then decoding the result, '
                       'copying it for the callbacks and the registered variable).' % (
                           n, module, row['audit_seconds'], module - row['audit_seconds'],
                           exit_info.get('remove_values', 0), exit_info.get('encode', 0), row['result_mb'],
                           row['playbook_wall'] - module))
        closes = (row.get('lab_playbook') or {}).get('last_closes') or []
        if closes:
            out.append('')
            out.append('The last connections to close (ansible-playbook run): %s.' % '; '.join(
                '%s at %s, open %.1f s, closed at +%.1f s' % (item['behaviour'], item['address'], item['seconds'],
                                                              item['closed_at']) for item in closes))
        verbs = ', '.join('%s %.1f' % (verb, count / int(n)) for verb, count in sorted(
            row['verbs'].items(), key=lambda item: -item[1]))
        out.append('')
        out.append('Commands per domain (lab count): %s; plus %.2f greetings (connections) per domain. Sessions still '
                   'open after the last reply anywhere (waiting for a timeout): %.1f s.' % (
                       verbs, row['connections'] / int(n), ph.get('waiting_after_last_reply', 0)))
        out.append('')
        if row.get('tls_cost'):
            out += tls_cost_lines(n, row['tls_cost'])
        if row.get('breakdown'):
            total = sum(item['replies'] for item in row['breakdown'].values()) or 1
            out.append('Round trips by check at N = %s (the engine run once per group of checks; a group\'s ideal is '
                       'its replies x L / %d slots):' % (n, min(p['concurrency'], p['addresses'] * p['per_address'])))
            out.append('')
            out.append('| checks | replies | per domain | share | ideal | engine alone | sessions |')
            out.append('|---|---|---|---|---|---|---|')
            for group, item in row['breakdown'].items():
                out.append('| %s | %d | %.1f | %.0f %% | %.1f s | %.1f s | %s |' % (
                    group, item['replies'], item['replies'] / int(n), 100.0 * item['replies'] / total,
                    item['replies'] * p['reply_delay'] / min(p['concurrency'], p['addresses'] * p['per_address']),
                    item['seconds'], item['sessions']))
            out.append('')
        if (row.get('py_spy') or {}).get('seconds'):
            spy = row['py_spy']
            out.append('py-spy of the ansible-playbook run at N = %s (--nonblocking, 50 samples a second, every process; '
                       '%.1f s wall under py-spy), seconds of samples by step:' % (n, spy['wall']))
            out.append('')
            out.append('| step | seconds |')
            out.append('|---|---|')
            for label, seconds in spy['seconds'].items():
                out.append('| %s | %.1f |' % (label, seconds))
            out.append('')
        if row.get('profile_top'):
            out.append('cProfile of the engine at N = %s (%.1f s under the profiler), functions by own time:' % (
                n, row['profile_seconds']))
            out.append('')
            out.append('| function | calls | own s | cumulative s |')
            out.append('|---|---|---|---|')
            for item in row['profile_top']:
                out.append('| `%s` | %d | %.2f | %.2f |' % (
                    item['function'], item['calls'], item['tottime'], item['cumtime']))
            out.append('')
    out += ['## Commands', '',
            '```',
            'make bench                       # bash bench/run.sh: N = 1,000 and 10,000, baselines, this file',
            'make bench ARGS=--quick          # N = 200 over 50 addresses, small samples (what make test runs)',
            'bash bench/run.sh --sizes 1000 --seq-sample 20 --loop-sample 10 --swaks-sample 20',
            'cd tests && python -m lab.bulk serve --domains 10000 --addresses 250 --reply-delay 0.05 --state /tmp/lab.json',
            '```', '',
            'Raw numbers of the run: %s/results.json (lab counters, phases; the commands\' output in bench.log).' % (
                os.path.relpath(os.path.abspath(args.out), ROOT)
                if os.path.abspath(args.out).startswith(str(ROOT) + os.sep) else args.out),
            '']
    return '\n'.join(out)


# ---------------------------------------------------------------------------------------------- main

def _added(base: dict[str, t.Any], more: dict[str, t.Any], m: int, n: int) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    """What the run ``more`` adds to ``base``: per address (M of them) and per domain (N), and the ratios."""
    added = {
        'ms_per_address': 1000.0 * (more['seconds'] - base['seconds']) / m,
        'connection_ms_per_address': 1000.0 * (more['connection_seconds'] - base['connection_seconds']) / m,
        'sessions_per_address': (more['connections'] - base['connections']) / m,
        'replies_per_address': (more['replies'] - base['replies']) / m,
        'cpu_ms_per_address': 1000.0 * (more['cpu'] - base['cpu']) / m,
        'result_bytes_per_domain': (more['result_bytes'] - base['result_bytes']) / n,
    }
    ratios = {key: (more[key] / base[key]) if base[key] else None
              for key in ('seconds', 'connection_seconds', 'connections', 'replies', 'cpu', 'result_bytes', 'maxrss_kb')}
    return added, ratios


def tls_cost_lines(n: t.Any, cost: dict[str, t.Any]) -> list[str]:
    """The report's table of the cost runs: the conformance checks alone, with tls and identity, then every check."""
    out = ['The added checks\' cost at N = %s over M = %d addresses (the engine in the same lab: the conformance checks '
           'alone, then with tls and identity added, then every check, which adds dane and mta_sts; the compliant '
           'addresses offer STARTTLS with a certificate of the lab CA, passed as tls_ca_file; the lab publishes no TLSA '
           'and no MTA-STS record):' % (n, cost['addresses']), '',
           '| checks | engine wall | CPU | sessions | replies | connection-seconds | result JSON | peak RSS | compliant domains |',
           '|---|---|---|---|---|---|---|---|---|']
    labels = {'conformance': 'conformance', 'with_tls': '+ tls, identity', 'every': '+ dane, mta_sts (every check)'}
    for name in ('conformance', 'with_tls', 'every'):
        item = cost.get(name)
        if item is None:  # a results.json of an older run
            continue
        out.append('| %s | %.1f s | %.1f s | %d | %d | %.0f s | %.2f MB | %.0f MB | %s |' % (
            labels[name], item['seconds'], item['cpu'], item['connections'], item['replies'], item['connection_seconds'],
            item['result_bytes'] / 1e6, item['maxrss_kb'] / 1024.0, item['compliant']))
    out.append('')
    for what, key in (('tls and identity', ''), ('dane and mta_sts', '_policies')):
        added, ratios = cost.get('added' + key), cost.get('ratios' + key)
        if added is None:
            continue
        out += ['The %s checks add per address: %.1f ms of wall (at this concurrency), %.0f ms of connection time, %.2f sessions, '
                '%.1f replies, %.1f ms of CPU; per domain %.0f bytes of result. Ratios to the run without them: wall x%.2f, '
                'connection time x%.2f, sessions x%.2f, replies x%.2f, CPU x%.2f, result x%.2f, peak RSS x%.2f.' % (
                    what, added['ms_per_address'], added['connection_ms_per_address'],
                    added['sessions_per_address'], added['replies_per_address'], added['cpu_ms_per_address'],
                    added['result_bytes_per_domain'], ratios['seconds'] or 0, ratios['connection_seconds'] or 0,
                    ratios['connections'] or 0, ratios['replies'] or 0, ratios['cpu'] or 0, ratios['result_bytes'] or 0,
                    ratios['maxrss_kb'] or 0), '']
    return out


def cmd_report(args: argparse.Namespace) -> int:
    """Write the report again from a run's results.json (after a change to the report, without measuring again)."""
    path = Path(args.results_json)
    results = json.loads(path.read_text(encoding='utf-8'))
    params = results['params']
    run_args = argparse.Namespace(
        python=sys.executable, out=str(path.parent), collections=str(path.parent / 'collections'),
        results=args.output, quick=params['quick'], sizes=params['sizes'], addresses=params['addresses'],
        reply_delay=params['reply_delay'], timeout=params['timeout'], concurrency=params['concurrency'],
        per_address=params['per_address'], smtp_port=params.get('smtp_port', 2530))
    bench = Bench(run_args, fresh=False)
    bench.results = results
    results['sizes'] = {int(n): entry for n, entry in results['sizes'].items()}
    for n, entry in results['sizes'].items():
        raw = Path((entry.get('py_spy') or {}).get('raw') or path.parent / ('py-spy-%d.raw' % n))
        if 'py_spy' in entry and raw.exists():
            entry['py_spy']['seconds'] = spy_aggregate(raw)
    bench.finish()
    return 0


def _terminated(signum: int, _frame: t.Any) -> None:
    """SIGTERM: unwind (the lab and any measured command are stopped on the way out)."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='bench.py', description=__doc__.split('\n', 1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run', help='the whole benchmark (what bench/run.sh runs)')
    run.add_argument('--quick', action='store_true', help='N=200 over 50 addresses, small samples, report in --out')
    run.add_argument('--sizes', help='comma-separated N (default 1000,10000; quick: 200)')
    run.add_argument('--addresses', type=int, help='M (default 250; quick: 50)')
    run.add_argument('--reply-delay', type=float, default=0.05, help='L, seconds before every lab reply')
    run.add_argument('--timeout', type=float, default=5.0, help='the audit\'s per-reply timeout')
    run.add_argument('--concurrency', type=int, default=100)
    run.add_argument('--per-address', type=int, default=2)
    run.add_argument('--seq-sample', type=int, help='domains of the concurrency-1 baseline (default 20; quick 3)')
    run.add_argument('--loop-sample', type=int, help='domains of the Ansible loop baseline (default 10; quick 1)')
    run.add_argument('--swaks-sample', type=int, help='domains of the swaks baseline (default 20; quick 3)')
    run.add_argument('--smtp-port', type=int, default=2530, help='port of the lab servers')
    run.add_argument('--profile', dest='profile', action='store_true', default=None,
                     help='profile the engine at the largest N with cProfile (the default unless --quick)')
    run.add_argument('--no-profile', dest='profile', action='store_false', default=None,
                     help='skip the cProfile run of the engine at the largest N (default: profile unless --quick)')
    run.add_argument('--breakdown', dest='breakdown', action='store_true', default=None,
                     help='run the per-check engine runs at the smallest N (the default unless --quick)')
    run.add_argument('--no-breakdown', dest='breakdown', action='store_false', default=None,
                     help='skip the per-check engine runs at the smallest N (default: run them unless --quick)')
    run.add_argument('--py-spy', help='path of py-spy: also sample the ansible-playbook run at the largest N with it')
    run.add_argument('--run-timeout', type=float, default=1800.0, help='kill a measured command after this long')
    run.add_argument('--python', default=sys.executable, help='the Python of the modules and the engine (the .venv)')
    run.add_argument('--collections', required=True, help='collections path with mxaudit.smtp installed')
    run.add_argument('--out', default=str(ROOT / 'build' / 'bench'), help='work directory (logs, raw results)')
    run.add_argument('--results', help='write the report here (default bench/RESULTS.md; quick: OUT/RESULTS-quick.md)')

    engine = sub.add_parser('engine', help='one engine run: Engine(...).run() in this process')
    engine.add_argument('--collections', required=True)
    engine.add_argument('--state', required=True, help='the bulk lab state file')
    engine.add_argument('--domains-file', required=True)
    engine.add_argument('--json-out', required=True)
    engine.add_argument('--timeout', type=float, default=5.0)
    engine.add_argument('--concurrency', type=int, default=100)
    engine.add_argument('--per-address', type=int, default=2)
    engine.add_argument('--limit', type=int, default=0, help='only the first LIMIT domains')
    engine.add_argument('--only', help='only these domains (comma-separated)')
    engine.add_argument('--checks', help='only these checks (comma-separated; default all)')
    engine.add_argument('--profile', help='run under cProfile; text report here, pstats next to it')
    engine.add_argument('--result-bytes', action='store_true', help='also measure the result as JSON (bytes)')
    engine.add_argument('--exit-path', action='store_true',
                        help='after the run, also time what exit_json() does with the result (remove_values, JSON)')

    report = sub.add_parser('report', help='write the report again from a results.json')
    report.add_argument('results_json', help='results.json of a run (in its --out directory)')
    report.add_argument('--output', help='the report (default bench/RESULTS.md; quick: next to results.json)')

    args = parser.parse_args(argv)
    if args.command == 'engine':
        return cmd_engine(args)
    if args.command == 'report':
        return cmd_report(args)
    quick = args.quick
    args.sizes = [int(item) for item in args.sizes.split(',')] if args.sizes else ([200] if quick else [1000, 10000])
    args.addresses = args.addresses or (50 if quick else 250)
    for name, full, small in (('seq_sample', 20, 3), ('loop_sample', 10, 1), ('swaks_sample', 20, 3)):
        if getattr(args, name) is None:
            setattr(args, name, small if quick else full)
    if args.profile is None:
        args.profile = not quick
    if args.breakdown is None:
        args.breakdown = not quick
    if min(args.sizes) < 1 or args.addresses < 1 or args.concurrency < 1 or args.per_address < 1:
        parser.error('sizes, --addresses, --concurrency and --per-address must be positive')
    signal.signal(signal.SIGTERM, _terminated)
    bench = Bench(args)
    try:
        return bench.run()
    except BenchError as exc:
        log('BROKEN: %s' % exc)
        return 2


if __name__ == '__main__':
    sys.exit(main())
