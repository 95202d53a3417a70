# %% [markdown]
# # castlist quickstart, from Python
#
# The same steps as `castlist demo`, through the library API: build a small episode from the
# bundled voices, add it to a workspace, run, name one line per character, and look at the
# result as a table and as a cluster map. Runs as a script (`python notebooks/quickstart.py`)
# or cell by cell in Jupyter (`quickstart.ipynb`, paired with this file by jupytext). Everything
# it makes lands in `castlist-quickstart/` under the current folder.

# %%
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipelines.demo.episodes import build_episode, demo_pool, synthetic_turns
from pipelines.demo.walkthrough import label_one_line_per_character
from pipelines.export.evaluate import evaluate, format_report
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import regroup, run
from pipelines.store.workspace import Workspace

out = Path("castlist-quickstart").resolve()
shutil.rmtree(out, ignore_errors=True)
turns = synthetic_turns(n_lines=40, n_main=4, n_minor=1, seed=3, duration_s=90.0)
episode = build_episode(turns, demo_pool(), out / "media", "ep01", seed=3, snr_db=15.0, video=True)
truth = pd.DataFrame([t.__dict__ for t in episode.truth])

# %% Add and run: ingest, CAM++ voice vectors, groups, roster
ws = Workspace.init(out / "workspace")
add_episode(ws, episode.media, episode.srt)
print(run(ws))
print(format_report(evaluate(ws, truth)))

# %% Name one line per character; names spread to the rest
label_one_line_per_character(ws, truth)
regroup(ws)
lines = ws.lines_frame()
print(lines[["id", "start", "text", "speaker", "source", "group_id"]].head(12).to_string())
print(format_report(evaluate(ws, truth)))

# %% A cluster map: the lines' voice vectors in 2-D, coloured by the name castlist gave them
X = ws.vectors.load("ep01", "voice", ws.get_meta("voice_model"))[lines["idx"]]
X = X - X.mean(axis=0)
xy = X @ np.linalg.svd(X, full_matrices=False)[2][:2].T
fig, ax = plt.subplots(figsize=(6, 5))
for name, rows in lines.assign(x=xy[:, 0], y=xy[:, 1]).groupby(lines["speaker"].fillna("?")):
    ax.scatter(rows["x"], rows["y"], label=name, s=25)
ax.legend(fontsize=7)
ax.set_title("voice vectors (PCA), coloured by castlist's names")
fig.savefig(out / "cluster_map.png", dpi=100)
print(f"cluster map: {out / 'cluster_map.png'}")
ws.close()
