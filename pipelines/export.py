"""Writing labelled lines out: CSV and JSONL tables, one RTTM file per episode, and per-line
16 kHz wav clips with a JSONL manifest for the downstream feature pipeline.

Columns are stable and documented in the README; a line nobody could name has an empty
``speaker`` (its machine ``group``/``character`` still tell which lines go together).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd

from pipelines.records import AMBIENT
from pipelines.workspace import Workspace

log = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "rttm", "clips")
COLUMNS = [
    "episode",
    "line_id",
    "start",
    "end",
    "text",
    "speaker",
    "group",
    "character",
    "label_source",
    "confidence",
    "skip_reason",
    "name_hint",
]


def labelled_lines(ws: Workspace, include_skipped: bool = False) -> pd.DataFrame:
    df = ws.lines_frame(speech_only=not include_skipped)
    out = pd.DataFrame(
        {
            "episode": df["episode_id"],
            "line_id": df["id"],
            "start": df["start"].round(3),
            "end": df["end"].round(3),
            "text": df["text"],
            "speaker": df["speaker"].fillna(""),
            "group": df["group_id"].fillna(""),
            "character": df["character"].fillna(""),
            "label_source": df["source"].fillna(""),
            "confidence": df["confidence"].round(4),
            "skip_reason": df["skip_reason"],
            "name_hint": df["name_hint"],
        }
    )
    return out[COLUMNS]


def _rttm_name(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip()) or "unknown"


def write_rttm(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One ``<episode>.rttm`` per episode; unnamed lines use their machine character id."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for episode, rows in df.groupby("episode", sort=False):
        path = out_dir / f"{episode}.rttm"
        with path.open("w", encoding="utf-8") as fh:
            for row in rows.itertuples():
                who = row.speaker or row.character
                if not who or who == AMBIENT or row.skip_reason:
                    continue
                fh.write(
                    f"SPEAKER {episode} 1 {row.start:.3f} {row.end - row.start:.3f} "
                    f"<NA> <NA> {_rttm_name(who)} <NA> <NA>\n"
                )
        paths.append(path)
    return paths


def write_clips(ws: Workspace, df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Per-line 16 kHz mono wavs of every named line, by speaker, plus ``manifest.jsonl``:
    the input of the downstream feature pipeline (ambient and unnamed lines are left out)."""
    from pipelines.clips import episode_audio
    from pipelines.media import write_clip

    named = df[(df["speaker"] != "") & (df["speaker"] != AMBIENT) & (df["skip_reason"] == "")]
    manifest = out_dir / "manifest.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(manifest.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in named.itertuples():
            rel = Path("wav") / _rttm_name(row.speaker) / f"{row.line_id}.wav"
            if not (out_dir / rel).is_file():
                (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                write_clip(episode_audio(ws, row.episode), out_dir / rel, row.start, row.end)
            record = {
                "audio": rel.as_posix(),
                "episode": row.episode,
                "line_id": row.line_id,
                "start": row.start,
                "end": row.end,
                "text": row.text,
                "speaker": row.speaker,
                "label_source": row.label_source,
                "confidence": row.confidence,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(manifest)
    log.info("wrote %d clips and %s", len(named), manifest)
    return [manifest]


def export(ws: Workspace, fmt: str, out: Path, include_skipped: bool = False) -> list[Path]:
    """Write the workspace's lines as ``fmt`` to ``out`` (a file, or a folder for RTTM)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    df = labelled_lines(ws, include_skipped)
    out = Path(out)
    if fmt == "rttm":
        return write_rttm(df, out)
    if fmt == "clips":
        return write_clips(ws, df, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if fmt == "csv":
        df.to_csv(tmp, index=False)
    else:
        with tmp.open("w", encoding="utf-8") as fh:
            for record in df.to_dict(orient="records"):
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    tmp.replace(out)
    log.info("wrote %d lines to %s", len(df), out)
    return [out]
