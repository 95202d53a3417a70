"""Small imported workspaces for the id, undo/redo and "say what happened" tests: synthetic
voice vectors through ``castlist import``, so no model runs and every test takes a second."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.cli import main


def castlist(capsys, *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def import_season(
    tmp_path: Path,
    speakers: list[int],
    dim: int = 32,
    noise: float = 0.25,
    loose: dict[int, int] | None = None,
    seed: int = 0,
    times: dict[int, tuple[float, float]] | None = None,
) -> Path:
    """One episode, line i spoken by ``speakers[i]`` (char0, char1, ...), 2 s apart.

    ``loose`` maps line index -> speaker for short (0.4 s) lines whose vector only loosely
    resembles that speaker (cosine ~0.35): they join its group weakly, the way a 0.5 s "eh..."
    does. ``times`` maps line index -> (start, end) where a line should sit elsewhere (an
    overlap)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    centres = basis[:10]
    rows, vecs = [], []
    for i, spk in enumerate(speakers):
        end = 2.0 * i + 1.6
        v = centres[spk] + noise * rng.normal(size=dim) / np.sqrt(dim)
        if loose and i in loose:
            end = 2.0 * i + 0.4
            v = 0.38 * centres[loose[i]] + 0.92 * basis[20 + i % 10]
        start, end = (times or {}).get(i, (2.0 * i, end))
        rows.append(("ep01", start, end, f"line {i}", f"char{spk}"))
        vecs.append(v / np.linalg.norm(v))
    df = pd.DataFrame(rows, columns=["episode", "start", "end", "text", "speaker"])
    df.to_csv(tmp_path / "lines.csv", index=False)
    np.save(tmp_path / "voice.npy", np.asarray(vecs, dtype=np.float32))
    ws = tmp_path / "ws"
    code = main(
        ["import", str(ws), "--lines", str(tmp_path / "lines.csv"), "--vectors",
         f"voice={tmp_path / 'voice.npy'}"]
    )  # fmt: skip
    assert code == 0
    return ws


def exported(capsys, ws: Path, tmp_path: Path, name: str = "out.csv") -> list[dict[str, str]]:
    code, _, err = castlist(capsys, "export", ws, "-f", "csv", "-o", tmp_path / name)
    assert code == 0, err
    with open(tmp_path / name, newline="") as fh:
        return list(csv.DictReader(fh))


def lines_of(rows: list[dict[str, str]], column: str, value: str) -> set[str]:
    return {r["line_id"] for r in rows if r[column] == value}
