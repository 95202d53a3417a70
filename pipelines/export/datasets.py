"""Dataset exports: the labelled lines in the layouts downstream tools train on.

- ``dataset`` (seed 000's layout): ``<season>_dataset.json`` with one record per line,
  ``wavs/<line>.wav`` (16 kHz mono), ``video/<line>.mp4`` (25 fps, with ``--video``),
  ``features/<kind>/<line>.npy`` (``timbre``, ``prosody``; ``emotion`` and ``text`` when
  an emotion model ran), ``faces/<line>.jpg`` where the
  faces stage kept a crop, and ``features/timbre_centroid/<character>.npy``.
- ``speaker-grouping`` (the Chat-Haruhi community's Speaker-Grouping tools): per episode a
  folder with ``meta.jsonl`` (columns ``人物`` speaker, ``人物台词`` text, ``开始时间`` and
  ``结束时间`` as ``HH:MM:SS.mmm``, ``audio_file`` = ``audios/N.wav``, ``screenshot_file`` =
  ``screenshots/N.jpg``), those files, and ``<episode>.parquet`` beside the folder with the same
  columns plus ``audio_feature`` (the voice vector) and ``visual_feature`` (the face vector or
  empty). ``castlist import --lines`` reads it back (a parquet, a meta.jsonl or the folder).
- ``lhotse``: ``recordings.jsonl``, ``supervisions.jsonl`` and ``cuts.jsonl`` (one recording
  per line wav, speaker and text on the supervision, castlist's fields in ``custom``),
  loadable with ``lhotse.load_manifest``.

Every file goes through :mod:`pipelines.io.paths` under the output folder; nothing depends on the
clock or on dict order, so exporting twice gives the same bytes.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import MediaError, WorkspaceError
from pipelines.io.paths import component, safe_join
from pipelines.records import AMBIENT
from pipelines.store.workspace import Workspace

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

SG_SPEAKER, SG_TEXT, SG_START, SG_END = "人物", "人物台词", "开始时间", "结束时间"
SG_AUDIO, SG_SHOT = "audio_file", "screenshot_file"
SG_COLUMNS = (SG_SPEAKER, SG_TEXT, SG_START, SG_END, SG_AUDIO, SG_SHOT)
"""Speaker-Grouping's own columns, in its order; castlist adds episode, line_id,
label_source and confidence after them (their tools ignore extra columns)."""


EMOTION_FOLDERS = {"speech": "emotion", "text": "text"}
"""Feature folder of each optional emotion model, as in seed 000 (audio emotion under
``emotion/``, text emotion under ``text/``)."""


def season_name(ws: Workspace) -> str:
    return component(Path(ws.root).resolve().name or "season")


def sg_time(seconds: float) -> str:
    """Speaker-Grouping's time format, ``HH:MM:SS.mmm`` (millisecond precision)."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def parse_sg_time(value: object) -> float:
    """Seconds from ``HH:MM:SS.mmm``, ``HH:MM:SS,mmm``, ``MM:SS`` or a plain number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip().replace(",", ".")
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"not a time: {value!r}")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    if not math.isfinite(seconds):
        raise ValueError(f"not a time: {value!r}")
    return seconds


def _audio_source(ws: Workspace, episode_id: str, kinds: dict[str, str]) -> Path | None:
    """The episode's 16 kHz audio, or None for imported episodes (they have no media)."""
    from pipelines.io.audio import episode_audio

    if kinds.get(episode_id) == "imported":
        return None
    try:
        return episode_audio(ws, episode_id)
    except MediaError as exc:
        raise MediaError(f"episode {episode_id}: {exc}") from exc


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(array, dtype=np.float32), allow_pickle=False)


def _json_value(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else round(float(value), 4)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


# ------------------------------------------------------------------------------ dataset
def write_dataset(
    ws: Workspace, out_dir: Path, video: bool = False, progress: Progress | None = None
) -> list[Path]:
    """Seed 000's layout from the lines of the last ``castlist features`` run."""
    from pipelines.io.media import write_clip, write_video_clip
    from pipelines.stages.features import (
        PROSODY_COLUMNS,
        PROSODY_MODEL,
        character_timbre,
        emotion_rows,
        features_table,
        stored_emotion,
        stored_selection,
        timbre_vectors,
        voice_model,
    )

    selection = stored_selection(ws)
    table = features_table(ws, selection)
    if table.empty:
        raise WorkspaceError(f"{ws.root}: no lines match the features selection")
    X = timbre_vectors(ws, table)
    episodes = {ep.id: ep for ep in ws.episodes()}
    kinds = {k: ep.kind for k, ep in episodes.items()}
    sources = {ep: _audio_source(ws, ep, kinds) for ep in dict.fromkeys(table["episode_id"])}
    emotions = {k: emotion_rows(ws, table, k) for k in ("speech", "text")}
    chars = character_timbre(table["speaker"].tolist(), table["id"].tolist(), X)
    speech = table.assign(d=table["end"] - table["start"]).groupby("speaker")["d"].sum()
    char_records = []
    for c in chars:
        path = safe_join(out_dir, "features", "timbre_centroid", component(c.name, ".npy"))
        _save_npy(path, c.centroid)
        char_records.append(
            {
                "char_id": c.name,
                "n_lines": c.n_lines,
                "speech_s": round(float(speech[c.name]), 3),
                "spread": round(c.spread, 6),
                "typical_lines": list(c.typical),
                "timbre_centroid": _rel(out_dir, path),
            }
        )
    records = []
    for n, (pos, row) in enumerate(table.iterrows(), 1):
        lid = str(row["id"])
        files: dict[str, str] = {}
        src = sources[row["episode_id"]]
        wav = ""
        if src is not None:
            target = safe_join(out_dir, "wavs", component(lid, ".wav"))
            target.parent.mkdir(parents=True, exist_ok=True)
            write_clip(src, target, float(row["start"]), float(row["end"]))
            wav = _rel(out_dir, target)
        clip = ""
        ep = episodes[row["episode_id"]]
        if video and ep.kind == "video" and Path(ep.media).is_file():
            target = safe_join(out_dir, "video", component(lid, ".mp4"))
            write_video_clip(ep.media, target, float(row["start"]), float(row["end"]))
            clip = _rel(out_dir, target)
        t_path = safe_join(out_dir, "features", "timbre", component(lid, ".npy"))
        _save_npy(t_path, X[pos])
        files["timbre"] = _rel(out_dir, t_path)
        prosody = {c: _json_value(row[c]) for c in PROSODY_COLUMNS[1:]}
        if not math.isnan(float(row["duration_s"])):
            p_path = safe_join(out_dir, "features", "prosody", component(lid, ".npy"))
            _save_npy(p_path, np.array([row[c] for c in PROSODY_COLUMNS[1:]]))
            files["prosody"] = _rel(out_dir, p_path)
        for kind, E in emotions.items():
            if E is not None and np.isfinite(E[pos]).all():
                folder = EMOTION_FOLDERS[kind]
                e_path = safe_join(out_dir, "features", folder, component(lid, ".npy"))
                _save_npy(e_path, E[pos])
                files[folder] = _rel(out_dir, e_path)
        face = ""
        if row["face_crop"]:
            target = safe_join(out_dir, "faces", component(lid, ".jpg"))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(row["face_crop"], target)
            face = _rel(out_dir, target)
        records.append(
            {
                "episode": row["episode_id"],
                "line_id": lid,
                "start": round(float(row["start"]), 3),
                "end": round(float(row["end"]), 3),
                "text": row["text"],
                "char_id": row["speaker"],
                "if_face": bool(row["if_face"]),
                "label_source": row["source"],
                "confidence": round(float(row["confidence"]), 4),
                "wav": wav,
                "video": clip,
                "face": face,
                "features": files,
                "prosody": prosody,
            }
        )
        if progress:
            progress("export dataset", n, len(table))
    doc = {
        "season": season_name(ws),
        "voice_model": voice_model(ws),
        "prosody_model": PROSODY_MODEL,
        "prosody_columns": list(PROSODY_COLUMNS[1:]),
        "selection": {"min_confidence": selection.min_confidence, "sources": selection.sources},
        "emotion_models": {EMOTION_FOLDERS[k]: v for k, v in sorted(stored_emotion(ws).items())},
        "characters": char_records,
        "lines": records,
    }
    path = safe_join(out_dir, component(f"{season_name(ws)}_dataset", ".json"))
    _write_text(path, json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    log.info("dataset: %d lines, %d characters in %s", len(records), len(chars), out_dir)
    return [path]


def _write_text(path: Path, text: str) -> None:
    from pipelines.io.atomic import atomic_text

    with atomic_text(path) as fh:
        fh.write(text)


# ------------------------------------------------------------------------------ speaker-grouping
def _screenshots(media: str, times: list[float]) -> dict[int, np.ndarray]:
    """One frame per time (index -> RGB frame), decoding the episode once."""
    from pipelines.io.frames import iter_frames

    shots: dict[int, np.ndarray] = {}
    for indices, frame in iter_frames(media, times, width=640):
        for i in indices:
            shots[i] = frame
    return shots


def _save_jpg(path: Path, frame: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path, format="JPEG", quality=90)


def write_speaker_grouping(
    ws: Workspace, out_dir: Path, progress: Progress | None = None
) -> list[Path]:
    """Per episode ``<ep>/meta.jsonl``, ``<ep>/audios/N.wav``, ``<ep>/screenshots/N.jpg``
    (video episodes) and ``<ep>.parquet`` with the voice and face vectors. Every speech line
    is written (their tools label the rest); ``人物`` is empty where no one named the line or
    it is ambient."""
    from pipelines.export.tables import labelled_lines
    from pipelines.io.media import write_clip
    from pipelines.stages.faces import FACE, MODEL_META

    df = labelled_lines(ws)
    model = ws.get_meta("voice_model") or ""
    face_model = ws.get_meta(MODEL_META) or ""
    episodes = {ep.id: ep for ep in ws.episodes()}
    kinds = {k: ep.kind for k, ep in episodes.items()}
    idx = {lid: i for lid, i in ws.conn.execute("SELECT id, idx FROM lines")}
    written = []
    for episode_id, rows in df.groupby("episode", sort=False):
        ep_dir = safe_join(out_dir, component(episode_id))
        src = _audio_source(ws, str(episode_id), kinds)
        V = ws.vectors.load(str(episode_id), "voice", model) if model else None
        F = ws.vectors.load(str(episode_id), FACE, face_model) if face_model else None
        media = episodes[str(episode_id)].media
        shots: dict[int, np.ndarray] = {}
        if kinds[str(episode_id)] == "video" and Path(media).is_file():
            mids = [(s + e) / 2 for s, e in zip(rows["start"], rows["end"], strict=True)]
            try:
                shots = _screenshots(media, mids)
            except MediaError as exc:
                log.warning("speaker-grouping: no screenshots for %s: %s", episode_id, exc)
        records = []
        for n, row in enumerate(rows.itertuples()):
            audio = ""
            if src is not None:
                target = safe_join(ep_dir, "audios", f"{n}.wav")
                target.parent.mkdir(parents=True, exist_ok=True)
                write_clip(src, target, row.start, max(row.end, row.start + 0.01))
                audio = f"audios/{n}.wav"
            shot = ""
            if n in shots:
                _save_jpg(safe_join(ep_dir, "screenshots", f"{n}.jpg"), shots[n])
                shot = f"screenshots/{n}.jpg"
            who = row.speaker if row.speaker != AMBIENT else ""
            records.append(
                {
                    SG_SPEAKER: who,
                    SG_TEXT: row.text,
                    SG_START: sg_time(row.start),
                    SG_END: sg_time(row.end),
                    SG_AUDIO: audio,
                    SG_SHOT: shot,
                    "episode": str(episode_id),
                    "line_id": row.line_id,
                    "label_source": row.label_source,
                    "confidence": _json_value(row.confidence),
                }
            )
        meta = safe_join(ep_dir, "meta.jsonl")
        _write_text(meta, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        table = pd.DataFrame(records)
        rows_idx = [idx[lid] for lid in rows["line_id"]]
        table["audio_feature"] = [
            V[i].astype(np.float32).tolist() if V is not None else [] for i in rows_idx
        ]
        table["visual_feature"] = [
            F[i].astype(np.float32).tolist() if F is not None and np.any(F[i]) else []
            for i in rows_idx
        ]
        pq = safe_join(out_dir, component(episode_id, ".parquet"))
        tmp = pq.with_name(f".{pq.name}.tmp")
        try:
            table.to_parquet(tmp, index=False)
            tmp.replace(pq)
        except ImportError as exc:
            from pipelines.errors import ModelError

            tmp.unlink(missing_ok=True)
            raise ModelError(
                "-f speaker-grouping writes parquet: pip install 'castlist[parquet]'"
            ) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        written += [meta, pq]
        if progress:
            progress("export speaker-grouping", len(written) // 2, df["episode"].nunique())
    return written


# ------------------------------------------------------------------------------ lhotse
def write_lhotse(ws: Workspace, out_dir: Path, progress: Progress | None = None) -> list[Path]:
    """lhotse manifests over per-line wavs (``wavs/<line>.wav``); uncompressed JSONL, so the
    bytes do not depend on the time of export. Lines of imported episodes (no audio) are left
    out."""
    try:
        from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    except ImportError as exc:
        from pipelines.errors import ModelError

        raise ModelError(
            "-f lhotse needs the lhotse package: pip install 'castlist[lhotse]'"
        ) from exc
    from pipelines.io.media import write_clip
    from pipelines.stages.features import (
        PROSODY_COLUMNS,
        SELECTION_META,
        Selection,
        features_table,
        select_lines,
    )

    if ws.get_meta(SELECTION_META):
        table = features_table(ws)
    else:  # no features run: the default selection, without prosody
        table = select_lines(ws, Selection()).assign(if_face=False)
    if table.empty:
        raise WorkspaceError(f"{ws.root}: no named lines to export")
    kinds = {ep.id: ep.kind for ep in ws.episodes()}
    sources = {ep: _audio_source(ws, ep, kinds) for ep in dict.fromkeys(table["episode_id"])}
    recordings, supervisions = [], []
    base = Path(out_dir).resolve()
    for n, row in enumerate(table.itertuples(), 1):
        src = sources[row.episode_id]
        if src is None:
            continue
        target = safe_join(out_dir, "wavs", component(row.id, ".wav"))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_clip(src, target, row.start, max(row.end, row.start + 0.01))
        rec = Recording.from_file(base / target.relative_to(out_dir), recording_id=row.id)
        custom = {
            "episode": row.episode_id,
            "start_in_episode": round(float(row.start), 3),
            "end_in_episode": round(float(row.end), 3),
            "label_source": row.source,
            "confidence": round(float(row.confidence), 4),
            "character_id": row.character_id or "",
            "if_face": bool(row.if_face),
        }
        for col in PROSODY_COLUMNS[1:]:
            value = getattr(row, col, None)
            if value is not None and math.isfinite(float(value)):
                custom[col] = round(float(value), 4)
        recordings.append(rec)
        supervisions.append(
            SupervisionSegment(
                id=row.id,
                recording_id=row.id,
                start=0.0,
                duration=rec.duration,
                channel=0,
                text=row.text,
                speaker=row.speaker,
                custom=custom,
            )
        )
        if progress:
            progress("export lhotse", n, len(table))
    if not recordings:
        raise WorkspaceError(f"{ws.root}: no selected line has audio (imported episodes only)")
    rs, ss = RecordingSet.from_recordings(recordings), SupervisionSet.from_segments(supervisions)
    cuts = CutSet.from_manifests(recordings=rs, supervisions=ss)
    paths = []
    for name, manifest in (("recordings", rs), ("supervisions", ss), ("cuts", cuts)):
        path = safe_join(out_dir, f"{name}.jsonl")
        tmp = path.with_name(f".{path.name}.tmp.jsonl")
        manifest.to_file(tmp)
        tmp.replace(path)
        paths.append(path)
    return paths
