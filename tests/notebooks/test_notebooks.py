"""The notebooks are worked examples that must keep running, and each .ipynb must say what its
paired .py says (the .py is what reviewers read in diffs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("*.py"))
EXPECT = {
    "quickstart": ("edge P / R / F1", "cluster map:"),
    "bring_your_own_embeddings": ("edge P / R / F1", "100.0% covered", "lines_named.csv"),
    "dubbing_dataset": ("myseason_dataset.json", "re-imported unchanged: True", "report:"),
}


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def test_every_notebook_is_paired():
    assert {p.stem for p in PAIRS} == set(EXPECT)
    for py in PAIRS:
        ipynb = py.with_suffix(".ipynb")
        assert ipynb.is_file(), f"{ipynb.name} missing: run `jupytext --sync {py}`"
        assert _code(jupytext.read(py)) == _code(jupytext.read(ipynb)), (
            f"{py.name} and {ipynb.name} differ: run `jupytext --sync {py}`"
        )


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            "quickstart",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
            ],
        ),
        "bring_your_own_embeddings",
        pytest.param(
            "dubbing_dataset",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
            ],
        ),
    ],
)
def test_notebook_runs(name, tmp_path):
    """Executed in a real Jupyter kernel, in a scratch folder (the notebooks write under the
    current folder, so nothing is left in the repo or in /tmp)."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(
        out.get("text", "") + str(out.get("data", {}).get("text/plain", ""))
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    for needle in EXPECT[name]:
        assert needle in text, f"{name}: {needle!r} not in its output"
    if name == "quickstart":
        png = Path(text.split("cluster map: ")[-1].split()[0])
        assert png.is_file() and png.stat().st_size > 5000
        assert png.is_relative_to(tmp_path)
