"""``castlist import``: bring your own lines table and embeddings (no media, no model run).

Users of other tools (Speaker-Grouping's parquet features, their own diarisation) hand castlist
a lines table and one matrix per modality; castlist then groups, propagates, reviews and
exports exactly as for its own vectors. Everything is checked before anything is written, so a
bad file never leaves a half-imported workspace. The format is documented in
docs/import_format.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import InputError
from pipelines.io.paths import is_safe_component
from pipelines.records import SubtitleEvent
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

REQUIRED = ("episode", "start", "end", "text")
MAX_ID_BYTES = 64


SPEAKER_GROUPING = {"人物": "speaker", "人物台词": "text", "开始时间": "start", "结束时间": "end"}
"""Speaker-Grouping's column names (meta.jsonl / parquet) and castlist's; its times are
``HH:MM:SS.mmm`` strings. Its ``audio_feature`` column imports as the voice vectors."""
FEATURE_COLUMN = "audio_feature"


def _read_one(path: Path) -> pd.DataFrame:
    """One table file. A Speaker-Grouping table without an ``episode`` column takes its
    episode id from its name (``ep01.parquet``) or its folder (``ep01/meta.jsonl``)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix == ".jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        else:
            df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise InputError(f"{path}: cannot read the lines table ({exc})") from exc
    if SPEAKER_GROUPING.keys() - {"人物"} <= set(df.columns):
        from pipelines.export.datasets import parse_sg_time

        df = df.rename(columns=SPEAKER_GROUPING)
        for col in ("start", "end"):
            try:
                df[col] = [parse_sg_time(v) for v in df[col]]
            except ValueError as exc:
                raise InputError(f"{path}: column {col!r}: {exc} (expected HH:MM:SS.mmm)") from exc
        if "episode" not in df.columns:
            df["episode"] = path.parent.name if suffix == ".jsonl" else path.stem
    return df


def _table_files(path: Path) -> list[Path]:
    """The files a ``--lines`` path stands for: itself, or in a folder (a Speaker-Grouping
    export) every ``*.parquet`` beside the episode folders, else every ``*/meta.jsonl``."""
    if not path.is_dir():
        if not path.is_file():
            raise InputError(f"{path}: lines table not found")
        return [path]
    files = sorted(path.glob("*.parquet")) or sorted(path.glob("*/meta.jsonl"))
    if not files:
        raise InputError(
            f"{path}: a folder of lines tables needs *.parquet files or */meta.jsonl "
            "(a Speaker-Grouping export); or give one CSV/parquet file"
        )
    return files


def read_lines_table(path: Path) -> pd.DataFrame:
    """The lines table with its columns checked (times numeric, finite, end >= start).

    CSV, parquet, JSONL, Speaker-Grouping tables (their column names and time format) and a
    folder of Speaker-Grouping tables are read; see docs/import_format.md."""
    path = Path(path)
    parts = [_read_one(f).assign(_source=str(f)) for f in _table_files(path)]
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {missing}; a lines table needs "
            f"{', '.join(REQUIRED)} (and optionally speaker)"
        )
    if df.empty:
        raise InputError(f"{path}: the lines table has no rows")
    for col in ("start", "end"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = np.flatnonzero(~np.isfinite(values.to_numpy(dtype=float)))
        if bad.size:
            raise InputError(
                f"{path}: column {col!r} is not a finite number in row {int(bad[0])} "
                f"(and {bad.size - 1} more)"
            )
        df[col] = values.astype(float)
    back = np.flatnonzero((df["end"] < df["start"]).to_numpy())
    if back.size:
        raise InputError(f"{path}: row {int(back[0])} ends before it starts")
    df["episode"] = _episode_ids(path, df["episode"])
    df["text"] = df["text"].fillna("").astype(str)
    if "speaker" in df.columns:
        df["speaker"] = df["speaker"].fillna("").astype(str)
    return df


def table_vectors(df: pd.DataFrame, path: Path) -> np.ndarray | None:
    """The voice vectors a Speaker-Grouping parquet carries in ``audio_feature``, or None
    when the table has none (or some rows lack them: their tools leave failed lines empty)."""
    if FEATURE_COLUMN not in df.columns:
        return None
    rows = [np.asarray(v, dtype=np.float32).ravel() for v in df[FEATURE_COLUMN]]
    dims = {r.size for r in rows}
    if len(dims) != 1 or 0 in dims:
        log.warning("%s: audio_feature is empty or ragged in some rows; not imported", path)
        return None
    X = np.stack(rows)
    if not np.isfinite(X).all():
        raise InputError(f"{path}: audio_feature has NaN or infinite values")
    return X


def _episode_ids(path: Path, column: pd.Series) -> pd.Series:
    """Episode ids as strings, each checked: an id names the episode's vector folder, cache
    files and RTTM file, so ``../../x`` or ``/abs/x`` would write outside the workspace."""
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        raise InputError(
            f"{path}: row {int(missing[0])} has no episode id (and {missing.size - 1} more); "
            "give every row an episode, e.g. ep01"
        )
    ids = column.astype(str)
    seen: set[str] = set()
    for row, episode in enumerate(ids):
        if episode in seen:
            continue
        seen.add(episode)
        if not is_safe_component(episode, MAX_ID_BYTES):
            raise InputError(
                f"{path}: row {row}: episode id {episode[:80]!r} cannot be used: "
                f"episode ids become file names, so use letters, digits, '_', '-' and '.' "
                f"only (no '/', '..', spaces or control characters, not starting with '.' or "
                f"'-', at most {MAX_ID_BYTES} bytes), e.g. ep01; fix the table's episode column"
            )
    return ids


def check_modality(modality: str) -> str:
    """A ``--vectors`` modality name, checked: it becomes part of the vectors' file name."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", modality):
        raise InputError(
            f"--vectors {modality[:80]!r}=...: a modality name becomes part of a file name; "
            "use letters, digits and '_' (starting with a letter, at most 32), e.g. voice"
        )
    return modality


def read_vectors(path: Path, n_rows: int, lines_path: Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: vectors file not found")
    try:
        X = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: not a .npy matrix ({exc})") from exc
    if X.ndim != 2:
        raise InputError(f"{path}: expected a 2-d matrix (lines x dims), got shape {X.shape}")
    if len(X) != n_rows:
        raise InputError(
            f"{path}: {len(X)} rows but {lines_path} has {n_rows} lines (row i must be line i)"
        )
    if not np.issubdtype(X.dtype, np.number):
        raise InputError(f"{path}: dtype {X.dtype} is not numeric")
    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        raise InputError(f"{path}: NaN/inf in row {int(bad[0])} (and {bad.size - 1} more rows)")
    return X.astype(np.float32)


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def import_lines(ws: Workspace, lines_path: Path, vectors: dict[str, Path]) -> str:
    """Import a lines table and per-modality vectors into ``ws``; returns a summary.

    A ``speaker`` column becomes each line's ``name_hint`` (never a human label: it may be a
    tool's guess) and is also written as a truth CSV beside the workspace for ``castlist
    eval``."""
    lines_path = Path(lines_path)
    for modality in vectors:
        check_modality(modality)
    df = read_lines_table(lines_path)
    mats = {m: read_vectors(p, len(df), lines_path) for m, p in vectors.items()}
    models = {m: f"imported-{m}-{_sha(p)}" for m, p in vectors.items()}
    carried = table_vectors(df, lines_path) if "voice" not in vectors else None
    if carried is not None:  # a Speaker-Grouping parquet brings its own voice vectors
        mats["voice"] = carried
        digest = hashlib.sha256(np.ascontiguousarray(carried).tobytes()).hexdigest()[:12]
        models["voice"] = f"imported-voice-{digest}"
    if not mats:
        raise InputError(
            "give at least one --vectors MODALITY=FILE.npy (e.g. voice=voice.npy), or a "
            "Speaker-Grouping parquet with an audio_feature column"
        )
    models = _join_existing_space(ws, mats, models, lines_path)
    has_speaker = "speaker" in df.columns
    df = df.reset_index(drop=True).assign(_row=np.arange(len(df)))
    summary, again = [], []
    for episode, part in df.groupby("episode", sort=False):
        part = part.sort_values(["start", "end", "_row"], kind="stable")
        events = [
            SubtitleEvent(
                float(r.start),
                float(r.end),
                str(r.text),
                name_hint=str(r.speaker) if has_speaker else "",
            )
            for r in part.itertuples()
        ]
        ep, created = _add(ws, lines_path, str(episode), part, events)
        rows = part["_row"].to_numpy()
        for m, X in mats.items():
            ws.vectors.save(ep.id, m, models[m], X[rows])
            ws.mark_stage(ep.id, m, models[m])
        summary.append(f"{ep.id}: {len(events)} lines{'' if created else ' (unchanged)'}")
        if not created:
            again.append(f"{ep.id} (imported again)")
    for m, name in models.items():
        ws.set_meta(f"{m}_model", name)
    out = [f"imported {len(df)} lines in {len(summary)} episodes from {lines_path}"]
    out += ["  " + s for s in summary]
    if "voice" in models:
        # grouped right away: there is nothing for `castlist run` to embed
        from pipelines.stages.incremental import group

        ws.set_meta("voice_backend", "imported")
        # only the added episodes when nothing else changed; vectors imported again for an
        # episode already there may differ, so then the whole season regroups
        out.append("grouped: " + str(group(ws, models["voice"], repaired=again)))
    out.append("vectors: " + ", ".join(f"{m} {mats[m].shape[1]}-d as {models[m]}" for m in mats))
    if has_speaker and (df["speaker"] != "").any():
        truth = ws.root / "imported_truth.csv"
        rows = df.loc[df["speaker"] != "", ["episode", "start", "end", "speaker"]]
        if truth.is_file():  # an earlier import's episodes keep their truth
            earlier = pd.read_csv(truth, keep_default_na=False, dtype={"episode": str})
            rows = pd.concat(
                [earlier[~earlier["episode"].isin(set(df["episode"].astype(str)))], rows]
            )
        rows.to_csv(truth, index=False)
        out.append(
            f"speaker column stored as name hints (not labels); score with "
            f"`castlist eval {ws.root} --truth {truth}`"
        )
    if "voice" not in models:
        out.append("note: no voice vectors; `castlist run` groups by the voice modality")
    return "\n".join(out)


def _join_existing_space(
    ws: Workspace, mats: dict[str, np.ndarray], models: dict[str, str], lines_path: Path
) -> dict[str, str]:
    """Model names for this import: episodes imported into a workspace that already holds
    imported vectors of a modality join that space (the model name of the first import), so
    adding episode 27 later groups it with the season instead of replacing the season's
    vectors by its own. Vectors of another dimension are refused: they come from another
    model, and belong in a workspace of their own."""
    out = dict(models)
    for m, X in mats.items():
        existing = ws.get_meta(f"{m}_model")
        if not existing or existing == models[m] or not existing.startswith(f"imported-{m}-"):
            continue
        dims = {
            stored.shape[1]
            for ep in ws.episodes()
            if (stored := ws.vectors.load(ep.id, m, existing)) is not None
        }
        if not dims:
            continue
        if dims != {X.shape[1]}:
            raise InputError(
                f"{lines_path}: its {m} vectors are {X.shape[1]}-d but {ws.root} holds "
                f"{min(dims)}-d {m} vectors from an earlier import; import vectors of the same "
                "model, or import this table into a new workspace"
            )
        out[m] = existing
    return out


def _add(ws: Workspace, lines_path: Path, episode: str, part: pd.DataFrame, events):
    """One workspace episode per table episode. The workspace keys episodes by media path, so
    each gets a distinct pseudo path ``TABLE#episode`` that never needs to exist."""
    media = Path(f"{lines_path.resolve()}#{episode}")
    source = Path(part["_source"].iloc[0])  # the file the episode came from (a folder's part)
    return ws.add_episode(
        media, source, float(part["end"].max()), "imported", events, {}, episode_id=episode
    )
