"""Issue 8 item 13a: one writer per workspace. A second writing command waits a short while,
then says who holds the lock; ``--wait`` queues behind it; readers never wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.errors import BusyError
from pipelines.store import lock
from pipelines.store.lock import WorkspaceLock
from tests.reliability.store_fixtures import make_workspace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "DEFAULT_WAIT_S", 0.3)
    return make_workspace(tmp_path / "ws")


def test_second_writer_says_who_holds_the_lock(root, capsys) -> None:
    with WorkspaceLock(root, "run"):
        t0 = time.monotonic()
        code = main(["label", str(root), "--line", "ep01-0000", "--name", "Mio"])
        waited = time.monotonic() - t0
        err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"workspace busy: `castlist run` (pid {os.getpid()}) since " in err
    assert "wait for it or stop it" in err
    assert 0.25 <= waited < 5
    assert main(["label", str(root), "--line", "ep01-0000", "--name", "Mio"]) == 0  # free again


def test_readers_never_take_the_lock(root, capsys) -> None:
    with WorkspaceLock(root, "run"):
        assert main(["status", str(root)]) == 0
        assert main(["review", str(root)]) == 0
        assert main(["doctor", str(root)]) == 0


def test_wait_queues_behind_the_holder(root, capsys) -> None:
    held = WorkspaceLock(root, "run")
    held.acquire()
    threading.Timer(1.0, held.release).start()
    t0 = time.monotonic()
    assert main(["label", str(root), "--line", "ep01-0000", "--name", "Mio", "--wait"]) == 0
    assert time.monotonic() - t0 >= 0.9


def test_lock_file_records_the_holder_and_is_cleared(root) -> None:
    with WorkspaceLock(root, "merge") as held:
        info = held.holder()
        assert info["pid"] == os.getpid() and info["command"] == "merge" and info["since"]
        with pytest.raises(BusyError, match="castlist merge"):
            WorkspaceLock(root, "run", wait_s=0).acquire()
    assert WorkspaceLock(root, "run").holder() == {}


def test_a_killed_holder_never_blocks_the_next_writer(root) -> None:
    code = (
        "import sys, time; from pipelines.store.lock import WorkspaceLock; "
        f"WorkspaceLock({str(root)!r}, 'run').acquire(); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(BusyError, match=f"pid {proc.pid}"):
            WorkspaceLock(root, "label", wait_s=0.2).acquire()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with WorkspaceLock(root, "label", wait_s=2):
            pass
    finally:
        proc.kill()
        proc.wait()
