"""`castlist run --voice NAME --voice-weights PATH`: parsing, errors, and weights remembered."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pipelines.stages.run as run_module
from pipelines.cli import build_parser, main
from pipelines.errors import ModelError, UsageError
from pipelines.io.vectorfiles import LINE_FEATURES, LINEFEAT
from pipelines.stages.run import run, voice_embedder, voice_weights_arg
from tests.pipelines.conftest import MODEL


class _Fake:
    name, dim = MODEL, 32

    def __call__(self, waves, sample_rate=16000, progress=None):
        return np.ones((len(waves), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def test_run_parser_takes_voice_and_weights():
    args = build_parser().parse_args(
        ["run", "ws", "--voice", "campplus+anime:2", "--voice-weights", "anime=/m/a.pth",
         "--voice-weights", "campplus=/m/c.pt"]
    )  # fmt: skip
    assert args.voice == "campplus+anime:2"
    assert args.voice_weights == ["anime=/m/a.pth", "campplus=/m/c.pt"]
    assert build_parser().parse_args(["run", "ws"]).voice_weights is None


def test_voice_weights_arg(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert voice_weights_arg(None) is None and voice_weights_arg([]) is None
    assert voice_weights_arg(["w.pth"]) == str(tmp_path / "w.pth")
    assert voice_weights_arg(["anime=a.pth", "campplus=/c.pt"]) == {
        "anime": str(tmp_path / "a.pth"),
        "campplus": "/c.pt",
    }
    assert voice_weights_arg(["odd=name.pth"]) == str(tmp_path / "odd=name.pth")  # not a model
    with pytest.raises(UsageError, match="NAME=PATH"):
        voice_weights_arg(["a.pth", "b.pth"])
    with pytest.raises(UsageError, match="NAME=PATH"):
        voice_weights_arg(["a.pth", "anime=b.pth"])


def test_voice_embedder_errors_are_castlist_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown voice backend 'nope'"):
        voice_embedder("nope")
    with pytest.raises(UsageError, match="twice"):
        voice_embedder("anime+anime")
    missing = tmp_path / "missing.pth"
    with pytest.raises(ModelError, match=f"voice model 'anime': .*{missing}.*--voice-weights"):
        voice_embedder("anime", str(missing))


def test_cli_run_reports_a_missing_model_in_one_line(make_ws, tmp_path, capsys):
    ws = make_ws([[0, 1, 0, 1]])
    root = ws.root
    ws.close()
    missing = tmp_path / "nope.pth"
    code = main(["run", str(root), "--voice", "anime", "--voice-weights", str(missing)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert str(missing) in err and "CASTLIST_ANIME_WEIGHTS" in err


def test_weights_are_remembered_for_the_same_voice(make_ws, tmp_path, monkeypatch):
    ws = make_ws([[0, 1, 0, 1, 2, 2]])
    for episode in ws.episodes():  # the voice stage as it leaves an episode: both files, marked
        n = ws.line_count(episode.id)
        ws.vectors.save(episode.id, *LINEFEAT, np.zeros((n, len(LINE_FEATURES)), np.float32))
        ws.mark_stage(episode.id, "voice", MODEL)
    ws.set_meta("face_style", "off")
    weights = tmp_path / "embedding_model.pth"
    run(ws, voice="anime", embedder=_Fake(), voice_weights=[str(weights)])
    assert ws.get_meta("voice_backend") == "anime"
    assert json.loads(ws.get_meta("voice_weights")) == str(weights)

    asked = []

    def fake_embedder(name, weights=None, device="cpu"):
        asked.append((name, weights))
        return _Fake()

    monkeypatch.setattr(run_module, "voice_embedder", fake_embedder)
    run(ws)  # a plain re-run uses the same model and file
    run(ws, voice="campplus")  # another model does not inherit the file
    assert asked == [("anime", str(weights)), ("campplus", None)]
    assert ws.get_meta("voice_weights") == "null"
