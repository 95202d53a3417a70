# %% [markdown]
# # Bring your own embeddings
#
# castlist's grouping, review queue, names and exports work on vectors computed elsewhere
# (another speaker model, Speaker-Grouping's features, a face pipeline). You hand castlist a
# lines table and one matrix per modality, row i of the matrix = row i of the table; the format
# is in `docs/import_format.md`. Here the "other tool" is played by a few planted voices in a
# 64-d space; swap in your own table and `.npy` file. Everything lands in
# `castlist-byo/` under the current folder.

# %%
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.export.evaluate import evaluate, format_report, read_truth
from pipelines.review.queue import questions
from pipelines.stages.importer import import_lines
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace

out = Path("castlist-byo").resolve()
shutil.rmtree(out, ignore_errors=True)
out.mkdir()

# %% [markdown]
# ## A lines table and a voice matrix from "your" tool
# Two episodes, five characters; the `speaker` column is optional: castlist keeps it as a hint
# and as ground truth for `castlist eval`, never as a human label.

# %%
rng = np.random.default_rng(7)
cast = ["Haruhi", "Kyon", "Yuki", "Mikuru", "Itsuki"]
voices = rng.normal(size=(len(cast), 64))
rows, vectors = [], []
for episode in ("ep01", "ep02"):
    t = 0.0
    for _ in range(60):
        who = int(rng.choice(len(cast), p=[0.3, 0.3, 0.15, 0.15, 0.1]))
        dur = float(rng.uniform(0.8, 4.0))
        rows.append(
            {
                "episode": episode,
                "start": t,
                "end": t + dur,
                "text": f"line by {cast[who]}",
                "speaker": cast[who],
            }
        )
        vectors.append(voices[who] + 0.45 * rng.normal(size=64))
        t += dur + float(rng.uniform(0.2, 1.5))
table = pd.DataFrame(rows)
table.to_csv(out / "lines.csv", index=False)
np.save(out / "voice.npy", np.asarray(vectors, dtype=np.float32))
table.head()

# %% [markdown]
# ## Import: castlist groups the season at once

# %%
ws = Workspace.init(out / "workspace")
print(import_lines(ws, out / "lines.csv", {"voice": out / "voice.npy"}))
truth = read_truth(out / "workspace" / "imported_truth.csv")
print(format_report(evaluate(ws, truth)))

# %% [markdown]
# ## The review queue, then one name per character
# Answering the queue's questions is the cheapest way to name a season; here we simply name
# the first line of each character, as someone watching from the start would.

# %%
for q in questions(ws, limit=5):
    print(q.text)
lines = ws.lines_frame().merge(
    table.assign(id=ws.lines_frame()["id"])[["id", "speaker"]], on="id", suffixes=("", "_true")
)
for name, first in lines.groupby("speaker_true")["id"].first().items():
    ws.name_lines([first], name)
print(regroup(ws))
print(format_report(evaluate(ws, truth)))

# %% [markdown]
# ## Export for the next stage

# %%
from pipelines.export.tables import export  # noqa: E402

for path in export(ws, "csv", out / "lines_named.csv"):
    print(path)
print(pd.read_csv(out / "lines_named.csv")[["line_id", "speaker", "label_source"]].head(8))
ws.close()
