"""The notebooks are worked examples that must keep running."""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "edge P / R / F1" in out and "cluster map:" in out
    png = Path(out.split("cluster map: ")[-1].strip())
    assert png.is_file() and png.stat().st_size > 5000
