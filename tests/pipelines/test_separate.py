"""The separate stage end to end on a tiny random-weight MDX model in audio-separator's own
on-disk format (an ONNX file plus the UVR index files it reads), offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from pipelines.errors import ModelError
from pipelines.records import SubtitleEvent
from pipelines.store.workspace import Workspace

pytest.importorskip("onnx")

from benchmarks.tiny_separator import MODEL, make_mdx_model_dir

DEMO = Path(__file__).resolve().parents[2] / "pipelines" / "demo" / "data"


@pytest.fixture
def audio_ws(tmp_path):
    a, _ = sf.read(DEMO / "1688-142285-0000.flac", dtype="float32")
    a = a[: 16000 * 6]
    t = np.arange(len(a)) / 16000
    music = 0.05 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    wav = tmp_path / "ep01.wav"
    sf.write(wav, a + music, 16000)
    subs = tmp_path / "ep01.srt"
    subs.write_text("x")
    ws = Workspace.init(tmp_path / "ws")
    events = [SubtitleEvent(0.5, 3.0, "a"), SubtitleEvent(3.5, 5.5, "b")]
    ws.add_episode(wav, subs, len(a) / 16000, "audio", events, {})
    yield ws
    ws.close()


@pytest.mark.slow
def test_separate_stage_end_to_end_on_a_tiny_mdx_model(audio_ws, tmp_path):
    pytest.importorskip("audio_separator")
    from pipelines.io.audio import SEPARATE_META_KEY, episode_audio, separated_path
    from pipelines.stages.separate import SeparatedEmbedder, prepare

    model = make_mdx_model_dir(tmp_path / "models")

    class Fake:
        name, dim = "fake-voice", 4

        def __call__(self, items, **kw):
            return np.ones((len(items), 4), np.float32)

    ep = audio_ws.episodes()[0].id
    before = episode_audio(audio_ws, ep)
    emb = prepare(audio_ws, str(model), Fake())
    assert isinstance(emb, SeparatedEmbedder) and emb.name == "fake-voice+sep-UVR_MDX_NET_Voc_FT"
    out = separated_path(audio_ws, ep, str(model))
    info = sf.info(str(out))
    assert info.samplerate == 16000 and info.channels == 1
    assert abs(info.duration - sf.info(str(before)).duration) < 0.1
    vocals, _ = sf.read(out, dtype="float32")
    assert np.abs(vocals).max() > 0.01  # the model's output, not silence
    # the voice stage and the clips now read the vocals
    assert episode_audio(audio_ws, ep) == out
    assert audio_ws.stage_done(ep, "separate", "UVR_MDX_NET_Voc_FT")
    # the separate stage writes no vectors file, so the vectors check must not clear its mark
    # (it did: every later `castlist run` separated the whole season again)
    from pipelines.store.doctor import bad_stages, repair_vectors

    assert bad_stages(audio_ws) == [] and repair_vectors(audio_ws) == []
    assert audio_ws.stage_done(ep, "separate", "UVR_MDX_NET_Voc_FT")
    # cached: a second run does not separate again (no model file needed any more)
    model.unlink()
    assert prepare(audio_ws, None, Fake()).name == emb.name
    # off again: the plain audio, plain vector keys
    assert prepare(audio_ws, "off", Fake()).name == "fake-voice"
    assert audio_ws.get_meta(SEPARATE_META_KEY) == "" and episode_audio(audio_ws, ep) == before


def test_missing_model_and_missing_index_are_model_errors(audio_ws, tmp_path):
    pytest.importorskip("audio_separator")
    from pipelines.stages.separate import prepare

    with pytest.raises(ModelError, match="not found in"):
        prepare(audio_ws, str(tmp_path / "nowhere" / MODEL), None)
    model = make_mdx_model_dir(tmp_path / "m2")
    (model.parent / "mdx_model_data.json").write_text("{}")  # this model's parameters unknown
    with pytest.raises(ModelError, match="index files"):
        prepare(audio_ws, str(model), None)
