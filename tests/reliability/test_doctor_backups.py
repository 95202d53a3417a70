"""Issue 8 item 5: rolling backups before every writing command, and `castlist doctor` to
check, list, restore; a damaged castlist.db names the backup that brings the labels back."""

from __future__ import annotations

import sqlite3

import pytest

from pipelines.cli import main
from pipelines.store import backup
from pipelines.store.workspace import DB_NAME, Workspace
from tests.reliability.store_fixtures import first_group, make_workspace


def label(root, name: str, capsys=None) -> int:
    with Workspace.open(root) as ws:
        line = ws.lines()[0].id
    code = main(["label", str(root), "--line", line, "--name", name])
    if capsys:
        capsys.readouterr()
    return code


def test_writing_commands_back_up_first_and_readers_do_not(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    assert backup.list_backups(root) == []
    assert main(["status", str(root)]) == 0
    assert backup.list_backups(root) == []  # a reader writes nothing
    assert label(root, "Mio", capsys) == 0
    first = backup.list_backups(root)
    assert len(first) == 1 and backup.is_intact(first[0].path)
    with sqlite3.connect(first[0].path) as conn:  # the state before the label
        assert conn.execute("SELECT COUNT(*) FROM labels WHERE source='human'").fetchone() == (0,)
    assert main(["undo", str(root)]) == 0
    assert len(backup.list_backups(root)) == 2
    with sqlite3.connect(backup.list_backups(root)[0].path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM labels WHERE source='human'").fetchone() == (1,)


def test_unchanged_database_is_not_backed_up_twice(tmp_path) -> None:
    root = make_workspace(tmp_path / "ws")
    assert backup.back_up(root) is not None
    assert backup.back_up(root) is None
    with Workspace.open(root) as ws:
        ws.set_meta("face_style", "off")
    assert backup.back_up(root) is not None


def test_only_the_last_n_are_kept(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CASTLIST_BACKUPS", "3")
    root = make_workspace(tmp_path / "ws")
    for n in range(5):
        assert label(root, f"Name{n}", capsys) == 0
    kept = backup.list_backups(root)
    assert len(kept) == 3
    with sqlite3.connect(kept[0].path) as conn:  # the newest holds the 4th name
        names = {r[0] for r in conn.execute("SELECT speaker FROM labels WHERE source='human'")}
    assert names == {"Name3"}


@pytest.mark.parametrize("damage", ["truncate", "scribble"])
def test_damaged_database_names_the_backup_and_restore_brings_labels_back(
    tmp_path, capsys, damage
) -> None:
    root = make_workspace(tmp_path / "ws")
    assert main(["label", str(root), "--group", first_group(root), "--name", "Mio"]) == 0
    assert label(root, "Ritsu", capsys) == 0  # backs up the state that has "Mio"
    newest = backup.list_backups(root)[0]
    db = root / DB_NAME
    data = db.read_bytes()
    if damage == "truncate":
        db.write_bytes(data[: len(data) // 3])
    else:
        db.write_bytes(data[:4096] + b"\xff" * 8192 + data[4096 + 8192 :])
    damaged = db.read_bytes()
    code = main(["status", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert str(db) in err and "damaged" in err
    assert f"castlist doctor {root} --restore {newest.name}" in err

    assert main(["doctor", str(root)]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out or "cannot be opened" in out
    assert newest.name in out

    assert main(["doctor", str(root), "--restore", newest.name]) == 0
    out = capsys.readouterr().out
    assert f"restored {newest.name}" in out and "pre-restore" in out
    with Workspace.open(root) as ws:
        assert "Mio" in set(ws.human_labels().values())
    assert main(["status", str(root)]) == 0
    kept = [b for b in backup.list_backups(root) if b.note == "pre-restore"]
    assert len(kept) == 1 and kept[0].path.read_bytes() == damaged  # kept as it was


def test_doctor_on_a_healthy_workspace(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    label(root, "Mio", capsys)
    assert main(["doctor", str(root)]) == 0
    out = capsys.readouterr().out
    assert "database: ok" in out and "schema: version 1 (current)" in out
    assert "every stage marked done has valid files" in out
    assert "backups (1, newest first)" in out


def test_restore_of_an_unknown_backup_is_a_clear_error(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    assert main(["doctor", str(root), "--restore", "nope.db"]) == 2
    assert "no backup 'nope.db'" in capsys.readouterr().err


def test_restore_discards_the_old_write_ahead_log(tmp_path, capsys) -> None:
    """A crash leaves changes in castlist.db-wal; replayed onto the restored file they would
    corrupt it, so restore removes them (they stay in the pre-restore copy)."""
    import subprocess
    import sys

    root = make_workspace(tmp_path / "ws")
    assert label(root, "Mio", capsys) == 0
    chosen = backup.list_backups(root)[0]  # before "Mio"
    crash = (
        f"import os, sqlite3; c = sqlite3.connect({str(root / DB_NAME)!r}, isolation_level=None); "
        "c.execute('PRAGMA wal_autocheckpoint=0'); "
        "c.execute(\"UPDATE labels SET speaker='Crashed'\"); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", crash], check=True)
    assert (root / f"{DB_NAME}-wal").stat().st_size > 0
    assert main(["doctor", str(root), "--restore", chosen.name]) == 0
    capsys.readouterr()
    assert not (root / f"{DB_NAME}-wal").exists() or (root / f"{DB_NAME}-wal").stat().st_size == 0
    with Workspace.open(root) as ws:
        assert ws.human_labels() == {}
        assert "Crashed" not in set(ws.lines_frame()["speaker"].dropna())
    assert backup.is_intact(root / DB_NAME)


def test_a_deleted_database_points_at_its_backup(tmp_path, capsys) -> None:
    root = make_workspace(tmp_path / "ws")
    assert label(root, "Mio", capsys) == 0
    newest = backup.list_backups(root)[0]
    (root / DB_NAME).unlink()
    assert main(["status", str(root)]) == 2
    assert f"--restore {newest.name}" in capsys.readouterr().err
    assert main(["doctor", str(root)]) == 1
    out = capsys.readouterr().out
    assert "MISSING" in out and f"--restore {newest.name}" in out
    assert main(["doctor", str(root), "--restore", newest.name]) == 0
    assert main(["status", str(root)]) == 0
