"""Writing labelled lines out: CSV and JSONL tables, one RTTM file per episode, and per-line
16 kHz wav clips with a JSONL manifest for the downstream feature pipeline.

Columns are stable and documented in the README; a line nobody could name has an empty
``speaker`` (its machine ``group``/``character`` still tell which lines go together).

Where the output goes (the policy ``castlist export --help`` states):

- ``-o -`` writes CSV, JSONL or RTTM to stdout.
- A new regular file is written under a temporary name and renamed into place, so a killed
  export never leaves half a table that looks complete; no temporary file survives a failure.
- An existing regular file is replaced only with ``--force``.
- Anything else that exists (a FIFO, a terminal, ``/dev/stdout``, a symlink) is written
  through, never renamed over: the rename would replace the link or device with a plain file.
- RTTM and clips write a folder: an existing non-empty folder needs ``--force``, and then
  castlist replaces only the files it writes (``<episode>.rttm``; ``manifest.jsonl`` and
  ``wav/<speaker>/<line>.wav``). Every name becomes a path component through
  :mod:`pipelines.io.paths`, so no speaker or episode name can write outside the folder, and
  distinct names stay distinct.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from pipelines.errors import WorkspaceError
from pipelines.io.atomic import atomic_text
from pipelines.io.paths import OutputError, component, safe_join
from pipelines.records import AMBIENT, SURE, LabelSource
from pipelines.store.workspace import Workspace
from pipelines.wording import left_out_sentence

log = logging.getLogger(__name__)

STDOUT = "-"
FORMATS = ("csv", "jsonl", "rttm", "clips", "dataset", "speaker-grouping", "lhotse")
FOLDER_FORMATS = ("rttm", "clips", "dataset", "speaker-grouping", "lhotse")
DATASET_FORMATS = ("dataset", "speaker-grouping", "lhotse")
"""Written by :mod:`pipelines.export.datasets` (the layouts downstream training tools read)."""
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
    """The export table; :class:`WorkspaceError` when nothing has been grouped or named yet
    (an export then would be every line with an empty speaker, which is never what is meant)."""
    df = ws.lines_frame(speech_only=not include_skipped)
    if df.empty:
        raise WorkspaceError(
            f"{ws.root}: no lines to export; add episodes with `castlist add {ws.root} ep01.mkv`"
        )
    if df["group_id"].isna().all() and df["speaker"].isna().all():
        raise WorkspaceError(
            f"{ws.root}: nothing grouped or named yet; run `castlist run {ws.root}` first"
        )
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
            # lines added after the last run have no confidence yet
            "confidence": pd.to_numeric(df["confidence"], errors="coerce").round(4),
            "skip_reason": df["skip_reason"],
            "name_hint": df["name_hint"],
        }
    )
    return out[COLUMNS]


def speaker_token(name: str) -> str:
    """A speaker name as one token: the RTTM speaker field and the clips folder name are the
    same string, with no whitespace or separators, and distinct names give distinct tokens."""
    return component(name.strip() or "unknown")


# ------------------------------------------------------------------------------ output targets
def _fail(path: object, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def open_output(out: str | Path, force: bool = False) -> Iterator[TextIO]:
    """Open ``out`` for writing a table, following the policy in this module's docstring."""
    if str(out) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(out)
    try:
        st = path.stat()  # follows symlinks: what a write would reach
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _fail(path, exc) from exc
    linked = path.is_symlink()
    if st is None and linked:
        raise OutputError(f"{path} is a symlink to a missing file; give a plain file path")
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path} is a folder; this format writes one file: give a file path")
    regular = st is not None and stat.S_ISREG(st.st_mode)
    if regular and not force and (not linked or st.st_size > 0):
        raise OutputError(f"{path} already exists; add --force to replace it")
    try:
        if st is None or (regular and not linked):
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_text(path) as fh:
                yield fh
        else:  # FIFO, device, /dev/stdout, a symlink: write through, never rename over it
            with path.open("w", encoding="utf-8", newline="") as fh:
                yield fh
    except OSError as exc:
        raise _fail(path, exc) from exc


def output_folder(out: str | Path, fmt: str, force: bool = False) -> Path:
    """The folder ``out`` made ready for ``fmt``; refuses a file and, without ``force``, a
    folder that already holds something."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path} is not a folder; -f {fmt} writes a folder: give a folder path")
    if path.is_dir() and not force and any(path.iterdir()):
        raise OutputError(
            f"{path} is not empty; add --force to write into it (castlist then replaces only "
            f"the files it writes) or give a new folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(path, exc) from exc
    return Path(os.path.realpath(path))


# ------------------------------------------------------------------------------ formats
def _write_table(df: pd.DataFrame, fmt: str, fh: TextIO) -> None:
    if fmt == "csv":
        df.to_csv(fh, index=False)
        return
    for record in df.to_dict(orient="records"):
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _rttm_lines(episode: str, rows: pd.DataFrame) -> Iterator[str]:
    token = component(episode)
    for row in rows.itertuples():
        who = row.speaker or row.character
        if not who or who == AMBIENT or row.skip_reason:
            continue
        yield (
            f"SPEAKER {token} 1 {row.start:.3f} {row.end - row.start:.3f} "
            f"<NA> <NA> {speaker_token(who)} <NA> <NA>\n"
        )


def write_rttm(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One ``<episode>.rttm`` per episode; unnamed lines use their machine character id."""
    paths = []
    for episode, rows in df.groupby("episode", sort=False):
        path = safe_join(out_dir, component(episode, ".rttm"))
        try:
            with atomic_text(path) as fh:
                fh.writelines(_rttm_lines(str(episode), rows))
        except OSError as exc:
            raise _fail(path, exc) from exc
        paths.append(path)
    return paths


def write_clips(
    ws: Workspace, df: pd.DataFrame, out_dir: Path, min_confidence: float = SURE
) -> list[Path]:
    """Per-line 16 kHz mono wavs of every named line at least ``min_confidence`` sure (hand
    labels always), by speaker, plus ``manifest.jsonl``: the input of the downstream feature
    pipeline (ambient and unnamed lines are left out), held to the floor ``castlist
    features`` holds a dataset to."""
    from pipelines.io.audio import episode_audio
    from pipelines.io.media import write_clip

    named = df[(df["speaker"] != "") & (df["speaker"] != AMBIENT) & (df["skip_reason"] == "")]
    sure = (named["label_source"] == LabelSource.HUMAN.value) | (
        named["confidence"].fillna(0.0) >= min_confidence
    )
    if not sure.all():
        log.warning(left_out_sentence(int((~sure).sum())))
    named = named[sure]
    manifest = safe_join(out_dir, "manifest.jsonl")
    try:
        with atomic_text(manifest) as fh:
            for row in named.itertuples():
                folder = speaker_token(row.speaker)
                name = component(row.line_id, ".wav")
                target = safe_join(out_dir, "wav", folder, name)
                target.parent.mkdir(parents=True, exist_ok=True)
                write_clip(episode_audio(ws, row.episode), target, row.start, row.end)
                record = {
                    "audio": f"wav/{folder}/{name}",
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
    except OSError as exc:
        raise _fail(out_dir, exc) from exc
    log.info("wrote %d clips and %s", len(named), manifest)
    return [manifest]


def export(
    ws: Workspace,
    fmt: str,
    out: str | Path,
    include_skipped: bool = False,
    force: bool = False,
    video: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    min_confidence: float = SURE,
) -> list[Path]:
    """Write the workspace's lines as ``fmt`` to ``out`` (a file, a folder for RTTM, clips and
    the dataset formats, or ``-`` for stdout); returns the paths written (none for stdout).
    ``video`` adds 25 fps per-line clips to ``-f dataset``; ``min_confidence`` is the floor
    of ``-f clips`` (the dataset formats read the one ``castlist features`` chose)."""
    if fmt not in FORMATS:
        raise OutputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt in ("clips", *DATASET_FORMATS) and str(out) == STDOUT:
        raise OutputError(f"-f {fmt} writes a folder of files: give a folder, not -")
    if video and fmt != "dataset":
        raise OutputError("--video goes with -f dataset (per-line 25 fps clips)")
    if fmt in DATASET_FORMATS:
        from pipelines.export import datasets

        labelled_lines(ws)  # the same clear errors as every export before touching -o
        folder = output_folder(out, fmt, force)
        if fmt == "dataset":
            return datasets.write_dataset(ws, folder, video=video, progress=progress)
        if fmt == "speaker-grouping":
            return datasets.write_speaker_grouping(ws, folder, progress=progress)
        return datasets.write_lhotse(ws, folder, progress=progress)
    df = labelled_lines(ws, include_skipped)
    if fmt == "rttm" and str(out) != STDOUT:
        return write_rttm(df, output_folder(out, fmt, force))
    if fmt == "clips":
        return write_clips(ws, df, output_folder(out, fmt, force), min_confidence)
    write: Callable[[TextIO], None]
    if fmt == "rttm":  # to stdout: one stream, each line names its episode

        def write(fh: TextIO) -> None:
            for episode, rows in df.groupby("episode", sort=False):
                fh.writelines(_rttm_lines(str(episode), rows))
    else:

        def write(fh: TextIO) -> None:
            _write_table(df, fmt, fh)

    with open_output(out, force) as fh:
        write(fh)
    log.info("wrote %d lines to %s", len(df), "stdout" if str(out) == STDOUT else out)
    return [] if str(out) == STDOUT else [Path(out)]
