"""`castlist import`: a lines table plus per-modality matrices become a groupable workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import InputError
from pipelines.export.evaluate import evaluate, read_truth
from pipelines.stages.importer import import_lines
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace


def _table(tmp_path, n_per_ep=(12, 9), dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim))
    rows, vecs = [], []
    for e, n in enumerate(n_per_ep):
        for i in range(n):
            spk = i % 3
            rows.append((f"ep{e + 1}", 2.0 * i, 2.0 * i + 1.5, f"line {i}", f"char{spk}"))
            vecs.append(centres[spk] + 0.1 * rng.normal(size=dim))
    df = pd.DataFrame(rows, columns=["episode", "start", "end", "text", "speaker"])
    return df, np.asarray(vecs, dtype=np.float32)


def test_import_then_group_and_eval(tmp_path):
    df, X = _table(tmp_path)
    df.to_csv(tmp_path / "lines.csv", index=False)
    np.save(tmp_path / "voice.npy", X)
    ws = Workspace.init(tmp_path / "ws")
    summary = import_lines(ws, tmp_path / "lines.csv", {"voice": tmp_path / "voice.npy"})
    assert "21 lines in 2 episodes" in summary
    assert [e.id for e in ws.episodes()] == ["ep1", "ep2"]
    assert {e.kind for e in ws.episodes()} == {"imported"}
    assert ws.episode("ep1").duration == pytest.approx(df[df.episode == "ep1"]["end"].max())
    model = ws.get_meta("voice_model")
    assert model.startswith("imported-voice-")
    assert ws.vectors.load("ep2", "voice", model).shape == (9, 16)
    # the speaker column is a hint, never a human label
    assert ws.human_labels() == {}
    assert {ln.name_hint for ln in ws.lines()} == {"char0", "char1", "char2"}
    truth_path = tmp_path / "ws" / "imported_truth.csv"
    assert str(truth_path) in summary
    regroup(ws)
    scores = evaluate(ws, read_truth(truth_path))
    assert scores["lines"] == 21
    assert scores["edge_f1"] == pytest.approx(1.0)


def test_parquet_and_reimport_is_a_noop(tmp_path):
    pytest.importorskip("pyarrow")
    df, X = _table(tmp_path, n_per_ep=(6,))
    df = df.drop(columns="speaker")
    df.to_parquet(tmp_path / "lines.parquet")
    np.save(tmp_path / "v.npy", X)
    ws = Workspace.init(tmp_path / "ws")
    import_lines(ws, tmp_path / "lines.parquet", {"voice": tmp_path / "v.npy"})
    again = import_lines(ws, tmp_path / "lines.parquet", {"voice": tmp_path / "v.npy"})
    assert "unchanged" in again
    assert len(ws.lines()) == 6
    assert not (tmp_path / "ws" / "imported_truth.csv").exists()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda df, X: (df.drop(columns="end"), X), "missing column"),
        (lambda df, X: (df, X[:-1]), "rows but"),
        (lambda df, X: (df, np.where(np.arange(len(X))[:, None] == 2, np.nan, X)), "NaN"),
        (lambda df, X: (df.assign(start=["x"] + list(df.start[1:])), X), "finite number"),
    ],
)
def test_bad_inputs_name_the_file(tmp_path, mutate, message):
    df, X = _table(tmp_path, n_per_ep=(6,))
    df, X = mutate(df, X)
    df.to_csv(tmp_path / "lines.csv", index=False)
    np.save(tmp_path / "v.npy", X)
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(InputError, match=message) as err:
        import_lines(ws, tmp_path / "lines.csv", {"voice": tmp_path / "v.npy"})
    assert "lines.csv" in str(err.value) or "v.npy" in str(err.value)
    assert ws.episodes() == []


def test_cli_import_then_run_label_and_eval(tmp_path, capsys):
    from pipelines.cli import main

    df, X = _table(tmp_path)
    df.to_csv(tmp_path / "lines.csv", index=False)
    np.save(tmp_path / "voice.npy", X)
    ws = tmp_path / "ws"
    assert (
        main(
            [
                "import",
                str(ws),
                "--lines",
                str(tmp_path / "lines.csv"),
                "--vectors",
                f"voice={tmp_path / 'voice.npy'}",
            ]
        )
        == 0
    )
    assert main(["run", str(ws)]) == 0  # nothing to embed: regroups with the imported vectors
    assert main(["label", str(ws), "--line", "ep1-0000", "--name", "char0"]) == 0
    capsys.readouterr()
    assert main(["eval", str(ws), "--truth", str(ws / "imported_truth.csv"), "--json"]) == 0
    import json

    scores = json.loads(capsys.readouterr().out)
    assert scores["edge_f1"] == pytest.approx(1.0) and scores["name_coverage"] > 0.2
    assert (
        main(["import", str(ws), "--lines", str(tmp_path / "lines.csv"), "--vectors", "voice"]) == 2
    )


def test_importing_another_episode_later_joins_the_season_incrementally(tmp_path):
    """Issue 14 item 3 for imported vectors: episode 3 from a second file is grouped alone
    with the season's voice space; the first two episodes keep their groups and names."""
    df, X = _table(tmp_path, n_per_ep=(12, 9, 9))
    first = df["episode"] != "ep3"
    df[first].to_csv(tmp_path / "lines.csv", index=False)
    np.save(tmp_path / "voice.npy", X[first.to_numpy()])
    df[~first].to_csv(tmp_path / "ep3.csv", index=False)
    np.save(tmp_path / "ep3.npy", X[~first.to_numpy()])
    ws = Workspace.init(tmp_path / "ws")
    import_lines(ws, tmp_path / "lines.csv", {"voice": tmp_path / "voice.npy"})
    model = ws.get_meta("voice_model")
    ws.name_lines(["ep1-0000"], "Ann")
    regroup(ws)
    before = ws.lines_frame()
    summary = import_lines(ws, tmp_path / "ep3.csv", {"voice": tmp_path / "ep3.npy"})
    assert "incremental: grouped 1 new episode (9 lines), linked to 3 existing" in summary
    assert ws.get_meta("voice_model") == model  # one voice space for the season
    after = ws.lines_frame()
    assert after[after["episode_id"] != "ep3"].equals(before)
    ep3 = after[after["episode_id"] == "ep3"]
    assert (ep3.loc[ep3["name_hint"] == "char0", "speaker"] == "Ann").all()
    assert set(read_truth(tmp_path / "ws" / "imported_truth.csv")["episode"]) == {
        "ep1", "ep2", "ep3"
    }  # fmt: skip
    np.save(tmp_path / "other.npy", np.zeros((9, 8), np.float32) + 1)
    df[~first].assign(episode="ep4").to_csv(tmp_path / "ep4.csv", index=False)
    with pytest.raises(InputError, match="8-d but .* holds 16-d voice vectors"):
        import_lines(ws, tmp_path / "ep4.csv", {"voice": tmp_path / "other.npy"})
