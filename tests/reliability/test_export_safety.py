"""Export never writes outside ``-o``, keeps distinct names distinct, and fails with one clear
error (exit 2, no traceback, no ``.tmp`` left) instead of a traceback (issue 8, items 1, 8,
10 and 12)."""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.store.workspace import Workspace
from tests.reliability.paths_helpers import build_ws, listing


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ws(tmp_path_factory.mktemp("export_ws"))


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(template.parent, tmp_path, dirs_exist_ok=True)
    return tmp_path / "ws"


def castlist(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def name_lines(ws: Path, names: list[str]) -> list[str]:
    """Each name on its own line, by hand; returns the line ids in order."""
    with Workspace.open(ws) as w:
        ids = [ln.id for ln in w.lines(speech_only=True)][: len(names)]
        for line_id, name in zip(ids, names, strict=True):
            w.name_lines([line_id], name)
    return ids


def leftovers(folder: Path) -> list[str]:
    return [
        p.name
        for p in folder.rglob("*")
        if p.name.startswith(".castlist-") or p.name.endswith(".tmp") or ".partial" in p.name
    ]


def test_hostile_speaker_names_stay_inside_the_clips_folder(ws: Path, tmp_path, capsys) -> None:
    names = [
        str(tmp_path / "abs_escape"),  # an absolute path (inside tmp_path, so checkable)
        "../../rel_escape",
        "../../../tmp/x",
        "..",
        "a/b",
        "n" * 300,
        "Mary Jane",
        "Mary_Jane",
    ]
    ids = name_lines(ws, names)
    before = listing(tmp_path, skip=("ws", "out"))
    # the shared tmp folder's own entries only: other tests' folders change under it (an
    # unclosed workspace's SQLite -wal/-shm files vanish when it is collected)
    before_parent = set(os.listdir(tmp_path.parent))
    code, out, err = castlist(capsys, "export", ws, "-f", "clips", "-o", tmp_path / "out")
    assert code == 0, err
    assert listing(tmp_path, skip=("ws", "out")) == before
    assert set(os.listdir(tmp_path.parent)) == before_parent
    root = (tmp_path / "out").resolve()
    records = [json.loads(x) for x in (root / "manifest.jsonl").read_text().splitlines()]
    by_line = {r["line_id"]: r for r in records}
    assert set(ids) <= set(by_line)
    folders = {}
    for line_id, name in zip(ids, names, strict=True):
        audio = (root / by_line[line_id]["audio"]).resolve()
        assert audio.is_file() and root in audio.parents
        assert audio.parent.parent == root / "wav"  # exactly one folder level per speaker
        assert by_line[line_id]["speaker"] == name
        folders[name] = audio.parent.name
    assert len(set(folders.values())) == len(names), folders  # Mary Jane != Mary_Jane
    assert leftovers(root) == []


def test_rttm_keeps_distinct_names_and_episode_files_inside(ws: Path, tmp_path, capsys) -> None:
    name_lines(ws, ["Mary Jane", "Mary_Jane"])
    code, _, err = castlist(capsys, "export", ws, "-f", "rttm", "-o", tmp_path / "rttm")
    assert code == 0, err
    rows = (tmp_path / "rttm" / "ep01.rttm").read_text().splitlines()
    fields = [r.split() for r in rows]
    assert all(len(f) == 10 for f in fields)  # no name splits the space-separated format
    assert fields[0][7] != fields[1][7]
    assert fields[1][7] == "Mary_Jane"


def test_imported_episode_ids_are_validated(tmp_path: Path, capsys) -> None:
    import numpy as np
    import pandas as pd

    sibling = tmp_path / "sibling"
    sibling.mkdir()
    for bad in ("../../x", str(tmp_path / "abs" / "x"), "..", "a b"):
        table = tmp_path / "lines.csv"
        rows = [("ep1", 0.0, 1.0, "hi"), (bad, 2.0, 3.0, "there")]
        pd.DataFrame(rows, columns=["episode", "start", "end", "text"]).to_csv(table, index=False)
        np.save(tmp_path / "v.npy", np.eye(2, 4, dtype=np.float32))
        before = listing(tmp_path, skip=("ws",))
        code, _, err = castlist(
            capsys,
            "import",
            tmp_path / "ws",
            "--lines",
            table,
            "--vectors",
            f"voice={tmp_path}/v.npy",
        )
        assert code == 2, err
        assert "row 1" in err and "episode id" in err and str(table) in err
        assert "Traceback" not in err
        assert listing(tmp_path, skip=("ws",)) == before
        assert not list((tmp_path / "ws").glob("vectors/*"))


def test_imported_modality_names_are_validated(tmp_path: Path, capsys) -> None:
    import numpy as np
    import pandas as pd

    table = tmp_path / "lines.csv"
    pd.DataFrame([("ep1", 0.0, 1.0, "hi")], columns=["episode", "start", "end", "text"]).to_csv(
        table, index=False
    )
    np.save(tmp_path / "v.npy", np.eye(1, 4, dtype=np.float32))
    code, _, err = castlist(
        capsys,
        "import",
        tmp_path / "ws",
        "--lines",
        table,
        "--vectors",
        f"../../v={tmp_path}/v.npy",
    )
    assert code == 2 and "modality" in err


def test_export_before_run_is_a_clear_error(tmp_path: Path, capsys) -> None:
    from pipelines.records import SubtitleEvent

    with Workspace.init(tmp_path / "ws") as w:
        media = tmp_path / "ep01.wav"
        media.write_bytes(b"x")
        w.add_episode(media, media, 10.0, "audio", [SubtitleEvent(1.0, 2.0, "hi")], {})
    for fmt in ("csv", "rttm", "clips"):
        code, out, err = castlist(
            capsys, "export", tmp_path / "ws", "-f", fmt, "-o", tmp_path / fmt
        )
        assert code == 2 and "castlist run" in err and "Traceback" not in err
        assert not (tmp_path / fmt).exists()


def test_existing_outputs_need_force(ws: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "lines.csv"
    target.write_text("precious\n")
    code, _, err = castlist(capsys, "export", ws, "-o", target)
    assert code == 2 and "--force" in err and target.read_text() == "precious\n"
    code, _, err = castlist(capsys, "export", ws, "-o", target, "--force")
    assert code == 0 and target.read_text().startswith("episode,line_id")
    # a folder where a file is wanted, and a file where a folder is wanted
    code, _, err = castlist(capsys, "export", ws, "-o", tmp_path / "ws")
    assert code == 2 and "folder" in err
    code, _, err = castlist(capsys, "export", ws, "-f", "rttm", "-o", target)
    assert code == 2 and "not a folder" in err
    folder = tmp_path / "rttm"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep")
    code, _, err = castlist(capsys, "export", ws, "-f", "rttm", "-o", folder)
    assert code == 2 and "--force" in err and sorted(os.listdir(folder)) == ["mine.txt"]
    code, _, err = castlist(capsys, "export", ws, "-f", "rttm", "-o", folder, "--force")
    assert code == 0 and sorted(os.listdir(folder)) == ["ep01.rttm", "mine.txt"]
    assert leftovers(tmp_path) == []


def test_failed_clips_export_leaves_no_tmp(ws: Path, tmp_path: Path, capsys) -> None:
    name_lines(ws, ["Kyon"])
    cached = ws / "cache" / "audio" / "ep01.wav"  # the episode audio clips are cut from
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not a wav")
    code, _, err = castlist(capsys, "export", ws, "-f", "clips", "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert leftovers(tmp_path / "out") == [] and not (tmp_path / "out" / "manifest.jsonl").exists()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "rttm"])
def test_dash_means_stdout(ws: Path, tmp_path: Path, capsys, fmt: str) -> None:
    before = listing(tmp_path)
    code, out, err = castlist(capsys, "export", ws, "-f", fmt, "-o", "-")
    assert code == 0, err
    assert listing(tmp_path) == before and not Path("-").exists()
    with Workspace.open(ws) as w:
        n = len(w.lines(speech_only=True))
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(out)))) == n
    elif fmt == "jsonl":
        assert len([json.loads(x) for x in out.splitlines()]) == n
    else:
        assert out.splitlines() and all(r.startswith("SPEAKER ep01 1 ") for r in out.splitlines())


def test_clips_to_stdout_is_refused(ws: Path, capsys) -> None:
    code, out, err = castlist(capsys, "export", ws, "-f", "clips", "-o", "-")
    assert code == 2 and out == "" and "folder" in err


def test_a_symlinked_fifo_is_written_through_not_replaced(ws: Path, tmp_path: Path, capsys) -> None:
    """The /dev/stdout case without touching the real one: a symlink to a FIFO."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    code, _, err = castlist(capsys, "export", ws, "-f", "jsonl", "-o", link)
    reader.join(timeout=20)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(fifo) and fifo.is_fifo()
    assert (
        got and got[0].count("\n") > 5 and json.loads(got[0].splitlines()[0])["episode"] == "ep01"
    )
    assert leftovers(tmp_path) == []


def test_a_symlink_to_a_file_stays_a_symlink(ws: Path, tmp_path: Path, capsys) -> None:
    real = tmp_path / "real.csv"
    real.write_text("")  # as a shell's `> real.csv` leaves it
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    code, _, err = castlist(capsys, "export", ws, "-o", link)
    assert code == 0, err
    assert link.is_symlink() and real.read_text().startswith("episode,line_id")
    # now it holds data: replacing it needs --force, and the link still survives
    code, _, err = castlist(capsys, "export", ws, "-o", link)
    assert code == 2 and "--force" in err
    assert castlist(capsys, "export", ws, "-o", link, "--force")[0] == 0 and link.is_symlink()
