"""Issue 8 items 10, 11: a full disk, a read-only workspace, a permission problem and a
symlink loop each get one line that names the real cause (exit 2, no traceback), and
commands that only read work on a read-only workspace."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipelines import faults
from pipelines.cli import main
from pipelines.errors import AccessError, DiskFullError, ReadOnlyError, WorkspaceError
from pipelines.store import database, lock
from pipelines.store.workspace import Workspace
from tests.reliability.store_fixtures import first_group, make_workspace


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only_view(src: Path, dst: Path):
    dst.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount("--bind", str(src), str(dst)):
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        if not _mount("-o", "remount,bind,ro", str(dst)):
            pytest.skip("cannot remount read-only")
        yield dst
    finally:
        subprocess.run(["umount", "-l", str(dst)], capture_output=True)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` until about ``leave`` bytes are free."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    free = faults.free_bytes(folder) or 0
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - max(0, leave - free)))
    return filler


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


# --------------------------------------------------------------------------- disk full
@pytest.mark.parametrize("backups", ["10", "0"])  # 0: the label's own write hits the wall
def test_full_disk_on_tmpfs_says_disk_full_and_loses_nothing(
    tmp_path, capsys, monkeypatch, backups
) -> None:
    monkeypatch.setenv("CASTLIST_BACKUPS", backups)
    with tmpfs(tmp_path / "small", "3m") as mnt:
        root = make_workspace(mnt / "ws")
        line = ["--line", "ep01-0000"]
        assert main(["label", str(root), *line, "--name", "Mio"]) == 0
        capsys.readouterr()
        filler = fill(mnt, leave=4096)
        code = main(["label", str(root), *line, "--name", "Ritsu"])
        err = one_line_error(capsys)
        assert code == 2 and "disk full" in err
        assert "restore" not in err and "damaged" not in err and "unreadable" not in err
        filler.unlink()
        with Workspace.open(root) as ws:  # intact: the first label is there
            assert set(ws.human_labels().values()) == {"Mio"}
        assert main(["label", str(root), *line, "--name", "Ritsu"]) == 0
        with Workspace.open(root) as ws:
            assert set(ws.human_labels().values()) == {"Ritsu"}


def test_init_on_a_full_disk_says_disk_full(tmp_path, capsys) -> None:
    with tmpfs(tmp_path / "small", "1m") as mnt:
        fill(mnt, leave=2048)
        code = main(["init", str(mnt / "ws")])
        err = one_line_error(capsys)
        assert code == 2 and "disk full" in err


def test_sqlite_disk_full_is_not_reported_as_damage(tmp_path, capsys, monkeypatch) -> None:
    root = make_workspace(tmp_path / "ws")

    def full(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Workspace, "name_group", full)
    code = main(["label", str(root), "--group", first_group(root), "--name", "Mio"])
    err = one_line_error(capsys)
    assert code == 2 and "disk full" in err and "restore" not in err


def test_enospc_anywhere_is_disk_full(tmp_path, capsys, monkeypatch) -> None:
    root = make_workspace(tmp_path / "ws")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / "cache" / "x.wav"))

    monkeypatch.setattr(Workspace, "name_group", full)
    code = main(["label", str(root), "--group", first_group(root), "--name", "Mio"])
    err = one_line_error(capsys)
    assert code == 2 and "disk full" in err and "x.wav" in err


def test_full_disk_during_audio_extraction_is_not_corrupt_media(tmp_path, monkeypatch) -> None:
    from pipelines.io import media

    class Proc:
        returncode = 1
        stderr = "Error writing trailer of out.wav: No space left on device"

    monkeypatch.setattr(media.subprocess, "run", lambda *a, **k: Proc())
    monkeypatch.setattr(media, "find_tool", lambda name: name)
    tmp = tmp_path / "a.partial.wav"
    tmp.write_bytes(b"")
    with pytest.raises(DiskFullError, match="disk full"):
        media._run_ffmpeg(["-i", "x.mkv"], tmp_path / "x.mkv", tmp, None)
    assert not tmp.exists()


def test_full_disk_during_real_audio_extraction(tmp_path) -> None:
    import shutil

    from pipelines.io import media

    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    src = tmp_path / "tone.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=30", str(src)], check=True
    )
    with tmpfs(tmp_path / "small", "256k") as mnt:
        with pytest.raises(DiskFullError, match="disk full"):
            media.extract_audio(src, mnt / "cache" / "tone16k.wav")
        assert list((mnt / "cache").iterdir()) == []  # no partial file left


# --------------------------------------------------------------------------- read-only
def test_read_only_mount_reads_work_and_writes_say_read_only(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    assert main(["label", str(root), "--group", first_group(root), "--name", "Mio"]) == 0
    capsys.readouterr()
    truth = tmp_path / "truth.csv"
    with Workspace.open(root) as ws:
        truth.write_text(
            "line_id,speaker\n" + "".join(f"{ln.id},S{i % 3}\n" for i, ln in enumerate(ws.lines()))
        )
    with read_only_view(root, tmp_path / "ro") as ro:
        assert main(["status", str(ro)]) == 0
        assert "2 episodes" in capsys.readouterr().out
        out = tmp_path / "out.csv"
        assert main(["export", str(ro), "-f", "csv", "-o", str(out)]) == 0
        assert "Mio" in out.read_text()
        assert main(["eval", str(ro), "--truth", str(truth)]) == 0
        assert main(["review", str(ro)]) == 0
        capsys.readouterr()
        for argv in (
            ["label", str(ro), "--group", first_group(root), "--name", "X"],
            ["run", str(ro)],
        ):
            code = main(argv)
            err = one_line_error(capsys)
            assert code == 2 and "read-only" in err and "restore" not in err
        assert sorted(p.name for p in ro.iterdir()) == sorted(p.name for p in root.iterdir())


def test_unwritable_database_opens_read_only_by_trying(tmp_path, capsys, monkeypatch) -> None:
    """What a non-root user sees on a chmod'ed workspace, made to happen for root too."""
    root = make_workspace(tmp_path / "ws")
    real = database.connect

    def connect(path, mode=database.READ_WRITE):
        if mode == database.READ_WRITE:
            raise sqlite3.OperationalError("unable to open database file")
        return real(path, mode)

    monkeypatch.setattr(database, "connect", connect)
    with Workspace.open(root) as ws:
        assert ws.read_only
        assert len(ws.lines()) == 48
    assert main(["status", str(root)]) == 0
    capsys.readouterr()
    code = main(["label", str(root), "--group", first_group(root), "--name", "X"])
    err = one_line_error(capsys)
    assert code == 2 and "read-only" in err


def test_read_only_workspace_folder_for_the_lock(tmp_path, capsys, monkeypatch) -> None:
    root = make_workspace(tmp_path / "ws")
    real_open = os.open

    def refuse(path, flags, *args):
        if str(path).endswith(lock.LOCK_NAME):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(lock.os, "open", refuse)
    code = main(["run", str(root)])
    err = one_line_error(capsys)
    assert code == 2 and "read-only" in err and "copy it to a writable disk" in err


# --------------------------------------------------------------------------- permission
def test_permission_denied_names_the_file(tmp_path, capsys, monkeypatch) -> None:
    root = make_workspace(tmp_path / "ws")
    real_open = os.open

    def refuse(path, flags, *args):
        if str(path).endswith(lock.LOCK_NAME):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(lock.os, "open", refuse)
    code = main(["undo", str(root)])
    err = one_line_error(capsys)
    assert code == 2 and "permission denied" in err and lock.LOCK_NAME in err


def test_permission_denied_as_a_real_user(tmp_path) -> None:
    if os.geteuid() != 0 or subprocess.run(["which", "setpriv"], capture_output=True).returncode:
        pytest.skip("needs root and setpriv to run as another user")
    root = make_workspace(tmp_path / "ws")
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o700)  # the workspace belongs to root alone
    py = Path(os.sys.executable)
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(py), "-m",
         "pipelines.cli", "status", str(root)],
        capture_output=True, text=True, cwd=repo, env={**os.environ, "HOME": "/tmp"},
    )  # fmt: skip
    if "No module named" in proc.stderr or "Permission denied: '/" in proc.stderr[:200]:
        pytest.skip("the venv is not readable by nobody")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "permission denied" in proc.stderr


# --------------------------------------------------------------------------- symlink loop
@pytest.mark.parametrize("target", ["loop", "loop/sub", "dangling"])
def test_init_on_a_symlink_loop(tmp_path, capsys, target) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    code = main(["init", str(tmp_path / target)])
    err = one_line_error(capsys)
    assert code == 2
    assert ("symlink loop" in err) if target != "dangling" else ("missing folder" in err)


# --------------------------------------------------------------------------- the mapping
@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (errno.ENOSPC, DiskFullError, "disk full"),
        (errno.EDQUOT, DiskFullError, "disk full"),
        (errno.EROFS, ReadOnlyError, "read-only"),
        (errno.EACCES, AccessError, "permission denied"),
        (errno.EPERM, AccessError, "permission denied"),
        (errno.ELOOP, WorkspaceError, "symlink loop"),
    ],
)
def test_os_errors_map_to_the_one_tree(tmp_path, code, kind, words) -> None:
    err = faults.explain_os_error(OSError(code, os.strerror(code), str(tmp_path / "f")))
    assert isinstance(err, kind) and words in str(err) and str(tmp_path / "f") in str(err)


def test_vectors_of_a_read_only_workspace_still_load(tmp_path) -> None:
    root = make_workspace(tmp_path / "ws")
    with read_only_view(root, tmp_path / "ro") as ro, Workspace.open(ro) as ws:
        assert ws.read_only
        assert np.isfinite(ws.vectors.load("ep01", "voice", "test-voice-v1")).all()
