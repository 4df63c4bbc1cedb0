# Copyright (c) mxaudit.smtp contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Postfix lab leaves the system's Postfix alone (issue 8).

/etc/postfix stays byte-identical (contents, modes, owners, times) while the lab runs and
after it stopped, and the system's Postfix instance is neither started nor stopped nor
restarted: its running state and master PID are the same before and after.  The live tests
need root and the postfix package: skipped without them, except under CI=true.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import stat
import sys
import tempfile

import pytest

try:
    from ansible_collections.mxaudit.smtp.tests.lab import postfix as lab_postfix
except ImportError:
    _TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    try:
        if _TESTS_DIR not in sys.path:
            sys.path.insert(0, _TESTS_DIR)
        from lab import postfix as lab_postfix
    except ImportError:
        # tests/lab/__init__.py pulls in the other lab servers; postfix.py needs none of them.
        _SPEC = importlib.util.spec_from_file_location('mxaudit_lab_postfix', os.path.join(_TESTS_DIR, 'lab', 'postfix.py'))
        lab_postfix = importlib.util.module_from_spec(_SPEC)
        _SPEC.loader.exec_module(lab_postfix)


def _entry(path):
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode):
        with open(path, 'rb') as handle:
            content = hashlib.sha256(handle.read()).hexdigest()
    elif stat.S_ISLNK(info.st_mode):
        content = os.readlink(path)
    else:
        content = None
    return stat.filemode(info.st_mode), info.st_uid, info.st_gid, info.st_mtime_ns, content


def tree_snapshot(top):
    """relative path -> (type and mode, uid, gid, mtime, content hash or link target) for top and below."""
    if not os.path.lexists(top):
        return {}
    snapshot = {'.': _entry(top)}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            snapshot[os.path.relpath(path, top)] = _entry(path)
    return snapshot


def system_state():
    """(system Postfix running, its master PID): a stop, start or restart changes it."""
    return lab_postfix.system_postfix_running(), lab_postfix.system_master_pid()


def free_port(addresses, candidates=range(2700, 2800)):
    """A port that every address can bind (for a second lab beside the shared one)."""
    for port in candidates:
        sockets = []
        try:
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((address, port))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError('no free port for a second Postfix lab')


@pytest.fixture()
def postfix_lab(postfix):
    """The shared Postfix fixture of tests/unit/conftest.py (skip or, with CI=true, fail without Postfix)."""
    return postfix


@pytest.fixture()
def private_root():
    """A lab directory the postfix user can reach (pytest's tmp_path is mode 0700)."""
    top = tempfile.mkdtemp(prefix='mxaudit-postfix-test-')
    os.chmod(top, 0o755)
    yield os.path.join(top, 'lab')
    shutil.rmtree(top, ignore_errors=True)


# -- no Postfix needed ------------------------------------------------------------------


def test_tree_snapshot_sees_every_change(tmp_path):
    (tmp_path / 'main.cf').write_text('a = b\n')
    before = tree_snapshot(str(tmp_path))
    assert tree_snapshot(str(tmp_path)) == before
    (tmp_path / 'main.cf').write_text('a = c\n')
    assert tree_snapshot(str(tmp_path)) != before
    before = tree_snapshot(str(tmp_path))
    (tmp_path / 'main.cf.mxaudit-orig').write_text('a = b\n')
    assert tree_snapshot(str(tmp_path)) != before


def test_configure_writes_only_the_lab_directory(tmp_path):
    system = tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR)
    root = tmp_path / 'lab'
    lab = lab_postfix.PostfixLab(root=str(root))
    assert lab.configure() is True
    assert lab.configure() is False
    written = sorted(os.path.relpath(os.path.join(directory, name), str(root))
                     for directory, _dirs, files in os.walk(str(root)) for name in files)
    assert written == sorted([lab_postfix.MARKER, 'config/main.cf', 'config/master.cf']
                             + ['config/' + name for name in lab_postfix.LAB_FILES]
                             + ['config/tls/' + name for name in ('ca.pem', 'cert.pem', 'key.pem')])
    assert stat.S_IMODE(os.stat(str(root / 'queue')).st_mode) == 0o755
    assert tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR) == system


def test_legacy_restore_puts_the_originals_back(tmp_path):
    """What `postfix.py restore` does to an /etc/postfix that an earlier lab version rewrote."""
    etc = tmp_path / 'etc-postfix'
    etc.mkdir()
    originals = {'main.cf': 'myhostname = vm\n', 'master.cf': 'smtp inet n - y - - smtpd\n'}
    for name, text in originals.items():
        (etc / name).write_text(text)
        os.chmod(str(etc / name), 0o640)
    pristine = tree_snapshot(str(etc))
    # The earlier version: copy2 backups, lab blocks in the live files, tables in mxaudit-lab/.
    for name, text in originals.items():
        shutil.copy2(str(etc / name), str(etc / (name + lab_postfix.LEGACY_BACKUP_SUFFIX)))
        (etc / name).write_text(text + lab_postfix.BLOCK_BEGIN + '\nx = y\n' + lab_postfix.BLOCK_END + '\n')
    (etc / lab_postfix.LEGACY_LAB_SUBDIR).mkdir()
    for name, text in lab_postfix.LAB_FILES.items():
        (etc / lab_postfix.LEGACY_LAB_SUBDIR / name).write_text(text)
    assert len(lab_postfix.legacy_leftovers(str(etc))) == 5
    state = system_state()
    messages = []
    assert lab_postfix.restore_system_config(str(etc), legacy_maillog=None, report=messages.append) is True
    # Byte-identical, same modes and times; no backups, no lab directory.
    restored = tree_snapshot(str(etc))
    del restored['.'], pristine['.']  # the directory itself: entries came and went
    assert restored == pristine
    assert lab_postfix.legacy_leftovers(str(etc)) == []
    # Nothing left to do: a second restore changes nothing.
    after = tree_snapshot(str(etc))
    assert lab_postfix.restore_system_config(str(etc), legacy_maillog=None, report=messages.append) is True
    assert tree_snapshot(str(etc)) == after
    # A configuration directory other than the system's: the system Postfix is not stopped and started.
    assert system_state() == state


# -- live Postfix ---------------------------------------------------------------------


def test_shared_lab_is_a_private_instance(postfix_lab):
    assert not postfix_lab.config_dir.startswith(lab_postfix.SYSTEM_CONFIG_DIR + os.sep)
    assert postfix_lab.postconf('config_directory', 'queue_directory', 'data_directory') == [
        postfix_lab.config_dir, postfix_lab.queue_dir, postfix_lab.data_dir]
    with open(os.path.join(postfix_lab.queue_dir, 'pid', 'master.pid'), encoding='ascii') as handle:
        lab_master = int(handle.read().strip())
    assert lab_master != lab_postfix.system_master_pid()
    system = tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR)
    state = system_state()
    assert postfix_lab.ensure_running() is False
    assert tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR) == system
    assert system_state() == state


def test_lab_lifecycle_leaves_system_postfix_alone(postfix_lab, private_root):
    """A second lab, started, used and removed: /etc/postfix and the system Postfix never change."""
    system = tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR)
    state = system_state()
    addresses = [address for address, _domain in lab_postfix.INSTANCES.values()]
    other = lab_postfix.PostfixLab(port=free_port(addresses), root=private_root)
    try:
        assert other.ensure_running(timeout=60) is True
        # While it runs, next to the shared lab.
        for name, line in other.status().items():
            assert line is not None and line.startswith('220 %s ESMTP' % lab_postfix.hostname_of(name)), (name, line)
        assert postfix_lab.running()
        assert tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR) == system
        assert system_state() == state
        other.stop()
        assert not other.running()
        assert set(other.status().values()) == {None}
        assert tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR) == system
        assert system_state() == state
    finally:
        other.remove()
    assert not os.path.exists(private_root)
    assert tree_snapshot(lab_postfix.SYSTEM_CONFIG_DIR) == system
    assert system_state() == state
    assert postfix_lab.running()
