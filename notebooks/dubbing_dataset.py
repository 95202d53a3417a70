# %% [markdown]
# # From a labelled season to a dubbing dataset
#
# What comes after labelling: per-line timbre, prosody and face features
# (`castlist features`), the dataset layouts downstream tools train on (`castlist export -f
# dataset | speaker-grouping | lhotse`) and the per-character report (`castlist report`), through
# the library API. Runs as a script (`python notebooks/dubbing_dataset.py`) or cell by cell in
# Jupyter (`dubbing_dataset.ipynb`, paired by jupytext). Everything lands in
# `castlist-dubbing/` under the current folder.

# %%
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns
from pipelines.demo.walkthrough import label_one_line_per_character
from pipelines.export.report import write_report
from pipelines.export.tables import export
from pipelines.stages.features import Selection, features_table, run_features
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import regroup, run
from pipelines.store.workspace import Workspace

out = Path("castlist-dubbing").resolve()
shutil.rmtree(out, ignore_errors=True)
turns = synthetic_turns(n_lines=30, n_main=3, n_minor=1, seed=5, duration_s=70.0)
episode = build_episode(turns, demo_pool(), out / "media", "ep01", seed=5, snr_db=15.0)
truth = pd.DataFrame([t.__dict__ for t in episode.truth])
ws = Workspace.init(out / "myseason")
add_episode(ws, episode.media, episode.srt)
run(ws)
label_one_line_per_character(ws, truth)  # a person names one line each; names spread
regroup(ws)

# %% Features of the lines named by hand or by propagation, at least 50 % sure
print(run_features(ws, Selection(min_confidence=0.5)))
table = features_table(ws)
cols = ["id", "speaker", "source", "f0_median_hz", "f0_range_st", "chars_per_s", "if_face"]
print(table[cols].head(8).round(2).to_string())
print(table.groupby("speaker")["f0_median_hz"].median().round(0).to_string())

# %% Seed 000's dataset layout: <season>_dataset.json, wavs/, features/<kind>/<line>.npy
(path,) = export(ws, "dataset", out / "dataset")
doc = json.loads(path.read_text(encoding="utf-8"))
first = doc["lines"][0]
print(path.name, len(doc["lines"]), "lines;", first["char_id"], first["features"])
timbre = np.load(out / "dataset" / first["features"]["timbre"])
print("timbre vector:", timbre.shape, "characters:", [c["char_id"] for c in doc["characters"]])

# %% lhotse manifests, read back with lhotse
export(ws, "lhotse", out / "lhotse")
try:
    import lhotse

    cuts = lhotse.load_manifest(out / "lhotse" / "cuts.jsonl")
    cut = next(iter(cuts))
    print("lhotse cuts:", len(cuts), cut.supervisions[0].speaker, cut.load_audio().shape)
except ImportError:
    print("lhotse cuts: install castlist[lhotse] to read them")

# %% Speaker-Grouping's tables, and back into castlist unchanged
export(ws, "speaker-grouping", out / "speaker_grouping")
print(pd.read_json(out / "speaker_grouping" / "ep01" / "meta.jsonl", lines=True).head(3))
from pipelines.stages.importer import import_lines  # noqa: E402

with Workspace.init(out / "reimported") as back:
    import_lines(back, out / "speaker_grouping", {})
    same = back.lines_frame()["text"].tolist() == ws.lines_frame(speech_only=True)["text"].tolist()
    print("re-imported unchanged:", same)

# %% The per-character report a dataset builder reads before training
print("report:", write_report(ws, out / "report"))
ws.close()
