"""``castlist report``: one HTML page per season that a dataset builder reads before training.

Per character: lines, total speech seconds, episodes present, label sources, a confidence
histogram (PNG via matplotlib when installed, inline SVG otherwise), the prosody summary (from
``castlist features``; blank for lines it has not analysed) and a playable typical line (the
line whose voice is closest to the character's centroid). Every named, non-ambient speech line
counts, whatever its source: the page shows how much of each character rests on machine
labels. Written as ``<season>.html`` with ``audio/`` and ``img/`` beside it, all through
:mod:`pipelines.io.paths`.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import WorkspaceError
from pipelines.io.paths import component, safe_join
from pipelines.records import LabelSource
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

BINS = np.linspace(0.0, 1.0, 11)
"""Confidence histogram bins: tenths."""
PROSODY_SHOWN = (
    ("f0_median_hz", "F0 median (Hz)", "{:.0f}"),
    ("f0_range_st", "F0 range (st)", "{:.1f}"),
    ("energy_db", "level (dBFS)", "{:.1f}"),
    ("chars_per_s", "chars/s", "{:.1f}"),
    ("morae_per_s", "morae/s", "{:.1f}"),
)


def report_table(ws: Workspace) -> pd.DataFrame:
    """Every named, non-ambient speech line with its prosody (NaN where not analysed)."""
    from pipelines.stages.features import PROSODY_COLUMNS, Selection, load_prosody, select_lines

    table = select_lines(ws, Selection(0.0, tuple(s.value for s in LabelSource)))
    pros = np.full((len(table), len(PROSODY_COLUMNS)), np.nan)
    for episode_id, rows in table.groupby("episode_id", sort=False):
        P = load_prosody(ws, str(episode_id))
        if P is None:
            continue
        got = P[rows["idx"].to_numpy()].astype(np.float64)
        got[got[:, 0] < 1] = np.nan  # a row the stage has not analysed
        pros[rows.index.to_numpy()] = got
    extra = pd.DataFrame(pros[:, 1:], columns=list(PROSODY_COLUMNS[1:]), index=table.index)
    return pd.concat([table, extra], axis=1)


def histogram(conf: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.clip(conf, 0.0, 1.0), bins=BINS)
    return counts


def _svg(counts: np.ndarray, width: int = 220, height: int = 60) -> str:
    top = max(1, int(counts.max()))
    bar = width / len(counts)
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - height * c / top:.1f}" width="{bar - 2:.1f}" '
        f'height="{height * c / top:.1f}" fill="#4a7"><title>{BINS[i]:.1f}-{BINS[i + 1]:.1f}: '
        f"{c}</title></rect>"
        for i, c in enumerate(counts)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="confidence histogram">{rects}</svg>'
    )


def _png(counts: np.ndarray, path: Path) -> bool:
    """A small bar chart; False when matplotlib is not installed (the page uses SVG then)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(3, 1.2), dpi=80)
    ax.bar(BINS[:-1] + 0.05, counts, width=0.09, color="#4a7")
    ax.set_xlim(0, 1)
    ax.set_xlabel("confidence", fontsize=7)
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    return True


def _fmt(value: float, spec: str) -> str:
    return "" if not np.isfinite(value) else spec.format(value)


def write_report(ws: Workspace, out: Path, force: bool = False) -> Path:
    """Write the season's page into ``out``; returns the page's path."""
    from pipelines.export.datasets import season_name
    from pipelines.export.tables import output_folder
    from pipelines.io.media import write_clip
    from pipelines.stages.features import character_timbre, timbre_vectors

    table = report_table(ws)
    if table.empty:
        raise WorkspaceError(
            f"{ws.root}: no named lines yet; name lines with `castlist label` and run "
            f"`castlist run {ws.root}`"
        )
    folder = output_folder(out, "report", force)
    X = timbre_vectors(ws, table)
    chars = {c.name: c for c in character_timbre(table["speaker"].tolist(), table["id"], X)}
    season = season_name(ws)
    episodes = {ep.id: ep for ep in ws.episodes()}
    sections = []
    order = table.assign(d=table["end"] - table["start"]).groupby("speaker")["d"].sum()
    for name in order.sort_values(ascending=False, kind="stable").index:
        rows = table[table["speaker"] == name]
        c = chars[name]
        counts = histogram(rows["confidence"].to_numpy(dtype=float))
        img = safe_join(folder, "img", component(name, ".png"))
        chart = (
            f'<img src="{html.escape(img.relative_to(folder).as_posix())}" alt="confidence">'
            if _png(counts, img)
            else _svg(counts)
        )
        typical = c.typical[0]
        line = rows[rows["id"] == typical].iloc[0]
        audio = ""
        if episodes[line["episode_id"]].kind != "imported":
            from pipelines.io.audio import episode_audio

            wav = safe_join(folder, "audio", component(typical, ".wav"))
            wav.parent.mkdir(parents=True, exist_ok=True)
            write_clip(episode_audio(ws, line["episode_id"]), wav, line["start"], line["end"])
            audio = (
                f'<audio controls preload="none" src="{html.escape(wav.relative_to(folder).as_posix())}">'
                "</audio>"
            )
        sources = rows["source"].value_counts()
        src_text = ", ".join(f"{s} {int(sources.get(s, 0))}" for s in sources.index.sort_values())
        eps = list(dict.fromkeys(rows["episode_id"]))
        pros = "".join(
            f"<td>{_fmt(float(rows[col].median()), spec)}</td>" for col, _, spec in PROSODY_SHOWN
        )
        sections.append(
            f"<tr><th>{html.escape(name)}</th><td>{len(rows)}</td>"
            f"<td>{order[name]:.1f}</td><td>{len(eps)}: {html.escape(', '.join(eps[:6]))}"
            f"{' ...' if len(eps) > 6 else ''}</td><td>{html.escape(src_text)}</td>"
            f"<td>{chart}</td><td>{c.spread:.3f}</td>{pros}"
            f"<td>{audio}<br><small>{html.escape(typical)}: {html.escape(str(line['text']))}"
            f"</small></td></tr>"
        )
    head = "".join(f"<th>{label}</th>" for _, label, _ in PROSODY_SHOWN)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(season)}: cast report</title>
<style>body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px}}</style></head>
<body><h1>{html.escape(season)}</h1>
<p>{len(table)} named lines, {len(chars)} characters, {len(episodes)} episodes.
Prosody: medians over the character's analysed lines (`castlist features`); spread: mean cosine
distance of its voice vectors to their centroid (large = mixed or mislabelled).</p>
<table><thead><tr><th>character</th><th>lines</th><th>speech s</th><th>episodes</th>
<th>label sources</th><th>confidence</th><th>timbre spread</th>{head}<th>typical line</th>
</tr></thead><tbody>
{chr(10).join(sections)}
</tbody></table></body></html>
"""
    path = safe_join(folder, component(season, ".html"))
    from pipelines.export.datasets import _write_text

    _write_text(path, page)
    log.info("report: %d characters in %s", len(chars), path)
    return path
