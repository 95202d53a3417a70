"""``castlist report``: the HTML page per season, read back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

from pipelines.cli import main
from pipelines.errors import WorkspaceError
from pipelines.export.report import histogram, report_table, write_report
from pipelines.io.paths import OutputError
from pipelines.stages.features import run_features
from pipelines.store.workspace import Workspace
from tests.pipelines.downstream_helpers import build_tiny_ws


@pytest.fixture
def ws(tmp_path: Path):
    ws = build_tiny_ws(tmp_path)
    yield ws
    ws.close()


def _row(page: str, name: str) -> str:
    match = re.search(rf"<tr><th>{name}</th>(.*?)</tr>", page, re.S)
    assert match, f"no row for {name}"
    return match.group(1)


def test_histogram_counts_tenths():
    assert histogram([0.05, 0.15, 0.95, 1.0]).tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_report_per_character(ws: Workspace, tmp_path: Path):
    run_features(ws)
    page_path = write_report(ws, tmp_path / "rep")
    assert page_path.name == "tinyseason.html"
    page = page_path.read_text(encoding="utf-8")
    table = report_table(ws)
    assert set(table["speaker"]) == {"Aki", "Ben"}  # every source, never the ambient line
    aki = _row(page, "Aki")
    cells = re.findall(r"<td>(.*?)</td>", aki, re.S)
    assert cells[0] == "4"  # lines: human, 2 propagated, 1 cluster
    assert cells[1] == "6.0"  # 4 x 1.5 s
    assert cells[2].startswith("1: ep01")
    assert "cluster 1" in cells[3] and "human 1" in cells[3] and "propagated 2" in cells[3]
    assert cells[6] == "151"  # F0 median, from the features stage
    audio = re.search(r'<audio[^>]*src="([^"]+)"', aki).group(1)
    samples, sr = sf.read(page_path.parent / audio)
    assert sr == 16000 and len(samples) == pytest.approx(1.5 * sr, abs=20)
    img = re.search(r'<img src="([^"]+)"', aki)
    assert img is None or (page_path.parent / img.group(1)).read_bytes()[:4] == b"\x89PNG"


def test_report_without_features_leaves_prosody_blank(ws: Workspace, tmp_path: Path):
    page = write_report(ws, tmp_path / "rep").read_text(encoding="utf-8")
    cells = re.findall(r"<td>(.*?)</td>", _row(page, "Ben"), re.S)
    assert cells[6] == ""  # no F0 before `castlist features`


def test_report_escapes_names_and_refuses_non_empty_output(ws: Workspace, tmp_path: Path):
    line = ws.lines("ep01")[0].id
    ws.name_lines([line], "<b>Evil</b>")
    out = tmp_path / "rep"
    page = write_report(ws, out).read_text(encoding="utf-8")
    assert "<b>Evil</b>" not in page and "&lt;b&gt;Evil&lt;/b&gt;" in page
    with pytest.raises(OutputError):
        write_report(ws, out)
    write_report(ws, out, force=True)


def test_report_with_nothing_named(tmp_path: Path, make_ws):
    ws = make_ws([[0, 1, 0]])
    with pytest.raises(WorkspaceError, match="no named lines"):
        write_report(ws, tmp_path / "rep")


def test_cli_report_default_folder(ws: Workspace, capsys):
    root = ws.root
    ws.close()
    assert main(["report", str(root)]) == 0
    assert main(["report", str(root)]) == 0  # the default folder is replaced
    assert (root / "report" / "tinyseason.html").is_file()
