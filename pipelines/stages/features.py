"""``castlist features``: the downstream feature stage on labelled lines.

A dubbing or voice-cloning pipeline trains on lines whose speaker is known. For every named,
non-ambient speech line that passes the selection (label sources, minimum confidence) this
stage provides:

- **timbre**: the line's vector from the workspace's voice model (already stored by the voice
  stage), and per character a centroid, a spread and the most typical lines: the reference a
  TTS or voice-conversion model clones from;
- **prosody**: F0 median and 5-95 % range on voiced frames (librosa's probabilistic YIN,
  ``pyin``), loudness, duration and speaking rate in characters and in morae per second;
- **face**: whether the speaker's face is on screen (the faces stage's metadata) and the path of
  its face crop where that stage stored one.

Prosody is stored like the vectors: one row per line of the episode under the modality
``prosody`` and the model :data:`PROSODY_MODEL`, with a ``done`` column, so a re-run computes
only lines it has not seen yet (a new label selects more lines) and a killed run loses at most
one episode. The per-character summary depends on the labels, is cheap, and is rewritten on
every run under ``features/`` in the workspace.
"""

from __future__ import annotations

import json
import logging
import math
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grouping.vectors import normalize_rows
from pipelines.errors import ModelError, UsageError, WorkspaceError
from pipelines.io.atomic import atomic_path
from pipelines.io.paths import component, safe_join
from pipelines.records import AMBIENT, SURE, LabelSource
from pipelines.store.workspace import Workspace
from pipelines.wording import count, left_out_sentence

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

PROSODY = "prosody"
PROSODY_MODEL = "pyin-v1"
"""Name (and version) of the prosody extractor; a changed setting gets a new name, so old and
new rows never mix."""
PROSODY_COLUMNS = (
    "done",  # 1 once the line was analysed (rows of unselected lines stay 0)
    "duration_s",
    "voiced_ratio",  # share of 20 ms frames pyin calls voiced
    "f0_median_hz",  # 0 when no frame is voiced
    "f0_p05_hz",
    "f0_p95_hz",
    "f0_range_st",  # p95/p05 in semitones
    "energy_db",  # RMS level of the line, dBFS
    "energy_range_db",  # 95th - 10th percentile of 20 ms frame levels
    "chars_per_s",
    "morae_per_s",  # 0 when the text has no kana
)
F0_MIN_HZ = 60.0
F0_MAX_HZ = 1000.0
"""pyin's search range: low male voices to high child and anime voices."""
HOP = 320
FRAME = 1024
RESOLUTION = 0.25
"""pyin settings at 16 kHz: 20 ms hop, 64 ms window, quarter-semitone pitch bins. The library
defaults (10 ms, 0.1 semitone) are ~15x slower and move the median by well under a semitone."""
TYPICAL_LINES = 5
SELECTION_META = "features_selection"
DEFAULT_SOURCES = (LabelSource.HUMAN.value, LabelSource.PROPAGATED.value)


@dataclass(frozen=True)
class Selection:
    """Which labelled lines get features (and are exported as a dataset).

    By default a machine's name must be at least :data:`SURE`: where the voices sit close
    (acted voices) every line carries its best guess, and with one character named on an acted
    episode 92-136 lines of other voices carried that name, 0-3 of them at ``SURE`` or more
    (``benchmarks/bench_review.py --acted ... --precision``); a dataset of them would teach a
    model the wrong voices. ``0`` takes every name as it is."""

    min_confidence: float = SURE
    sources: tuple[str, ...] = DEFAULT_SOURCES

    @classmethod
    def parse(cls, min_confidence: float | None, sources: str | None) -> Selection:
        """From the CLI options; unknown sources and confidences outside [0, 1] are refused."""
        conf = SURE if min_confidence is None else float(min_confidence)
        if not 0.0 <= conf <= 1.0 or math.isnan(conf):
            raise UsageError(f"--min-confidence {min_confidence}: give a number from 0 to 1")
        names = DEFAULT_SOURCES if not sources else tuple(s.strip() for s in sources.split(","))
        known = {s.value for s in LabelSource}
        bad = [s for s in names if s not in known]
        if bad or not names:
            raise UsageError(
                f"--sources {sources!r}: choose from {', '.join(sorted(known))} (comma-separated)"
            )
        return cls(conf, tuple(dict.fromkeys(names)))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Selection:
        data = json.loads(text)
        return cls(float(data["min_confidence"]), tuple(data["sources"]))


# ------------------------------------------------------------------------------ selection
def select_lines(ws: Workspace, selection: Selection) -> pd.DataFrame:
    """The named, non-ambient speech lines that pass ``selection``, in season order.

    Columns: the workspace's ``lines_frame`` columns. A human label counts with confidence 1.
    """
    df = ws.lines_frame(speech_only=True)
    if df.empty:
        return df
    conf = pd.to_numeric(df["confidence"], errors="coerce").fillna(0.0)
    conf = conf.where(df["source"] != LabelSource.HUMAN.value, 1.0)
    keep = (
        df["speaker"].notna()
        & (df["speaker"].fillna("").str.strip() != "")
        & (df["speaker"] != AMBIENT)
        & df["source"].isin(selection.sources)
        & (conf >= selection.min_confidence)
    )
    return df[keep].assign(confidence=conf[keep]).reset_index(drop=True)


# ------------------------------------------------------------------------------ text rate
_SMALL_KANA = set("ゃゅょぁぃぅぇぉゎャュョァィゥェォヮ")


def count_morae(text: str) -> int:
    """Morae of the kana in ``text``: each kana is one, except small ya/yu/yo and small vowels
    (they merge with the kana before); the small tsu and the long-vowel mark count.

    Kanji have no fixed mora count without a dictionary, so a line with kanji counts only its
    kana: compare rates within one show, not across writing styles."""
    n = 0
    for ch in unicodedata.normalize("NFKC", text):
        code = ord(ch)
        kana = 0x3041 <= code <= 0x3096 or 0x30A1 <= code <= 0x30FA or ch == "ー"
        if kana and ch not in _SMALL_KANA:
            n += 1
    return n


def count_chars(text: str) -> int:
    """Letters, digits and CJK characters: what is spoken, without spaces and punctuation."""
    return sum(1 for ch in text if unicodedata.category(ch)[0] in ("L", "N"))


# ------------------------------------------------------------------------------ prosody
def prosody_of(segment: np.ndarray, text: str, sample_rate: int = 16000) -> np.ndarray:
    """One row of :data:`PROSODY_COLUMNS` for a line's samples and text (``done`` = 1)."""
    import librosa

    duration = segment.size / sample_rate
    row = dict.fromkeys(PROSODY_COLUMNS, 0.0)
    row["done"] = 1.0
    row["duration_s"] = duration
    if duration > 0:
        row["chars_per_s"] = count_chars(text) / duration
        row["morae_per_s"] = count_morae(text) / duration
    x = segment.astype(np.float32)
    if x.size >= FRAME:
        f0, voiced, _ = librosa.pyin(
            x,
            fmin=F0_MIN_HZ,
            fmax=F0_MAX_HZ,
            sr=sample_rate,
            frame_length=FRAME,
            hop_length=HOP,
            resolution=RESOLUTION,
        )
        pitched = f0[voiced & np.isfinite(f0)]
        row["voiced_ratio"] = float(np.mean(voiced)) if voiced.size else 0.0
        if pitched.size:
            lo, med, hi = np.percentile(pitched, [5, 50, 95])
            row["f0_median_hz"], row["f0_p05_hz"], row["f0_p95_hz"] = med, lo, hi
            row["f0_range_st"] = 12 * math.log2(hi / lo) if lo > 0 else 0.0
    if x.size:
        row["energy_db"] = 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)) + 1e-12)
        n = max(1, x.size // HOP)
        frames = x[: n * HOP].reshape(n, -1) if x.size >= HOP else x[None, :]
        levels = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        row["energy_range_db"] = float(np.percentile(levels, 95) - np.percentile(levels, 10))
    return np.array([row[c] for c in PROSODY_COLUMNS], dtype=np.float32)


def require_librosa() -> None:
    """Fail before any work when the pitch tracker is missing, naming the extra."""
    try:
        import librosa  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            "castlist features needs librosa for pitch tracking: pip install 'castlist[features]'"
        ) from exc


def load_prosody(ws: Workspace, episode_id: str) -> np.ndarray | None:
    """The stored prosody rows of an episode (one per line), or None before the first run.

    A file whose stage mark is gone is ignored: re-added subtitles (new lines) clear the
    episode's marks, and its old rows belong to lines that no longer exist."""
    if not ws.stage_done(episode_id, PROSODY, PROSODY_MODEL):
        return None
    X = ws.vectors.load(episode_id, PROSODY, PROSODY_MODEL)
    if X is not None and X.shape[1] != len(PROSODY_COLUMNS):
        raise WorkspaceError(
            f"{ws.vectors.path(episode_id, PROSODY, PROSODY_MODEL)}: {X.shape[1]} columns, "
            f"expected {len(PROSODY_COLUMNS)}; delete it and run `castlist features` again"
        )
    return X


def prosody_episode(
    ws: Workspace, episode_id: str, line_ids: Sequence[str], progress: Progress | None = None
) -> tuple[int, float]:
    """Analyse the given lines of one episode that are not analysed yet; returns (lines
    analysed now, seconds of speech analysed now). Saved once per episode (atomic)."""
    from pipelines.io.audio import episode_audio
    from pipelines.io.media import SAMPLE_RATE, cut, load_audio

    stored = load_prosody(ws, episode_id)
    X = (
        stored.copy()
        if stored is not None
        else np.zeros((ws.line_count(episode_id), len(PROSODY_COLUMNS)), dtype=np.float32)
    )
    wanted = set(line_ids)
    todo = [ln for ln in ws.lines(episode_id) if ln.id in wanted and X[ln.idx, 0] < 1]
    if not todo:
        return 0, 0.0
    require_librosa()
    audio = load_audio(episode_audio(ws, episode_id))
    seconds = 0.0
    for n, ln in enumerate(todo, 1):
        segment = cut(audio, SAMPLE_RATE, ln.start, ln.end)
        X[ln.idx] = prosody_of(segment, ln.text, SAMPLE_RATE)
        seconds += segment.size / SAMPLE_RATE
        if progress:
            progress(f"prosody {episode_id}", n, len(todo))
    ws.vectors.save(episode_id, PROSODY, PROSODY_MODEL, X)
    ws.mark_stage(episode_id, PROSODY, PROSODY_MODEL)
    return len(todo), seconds


# ------------------------------------------------------------------------------ emotion
EMOTION_META = "features_emotion"
EMOTION_KINDS = ("speech", "text")


def emotion_modality(kind: str) -> str:
    return f"emotion_{kind}"


def emotion_episode(
    ws: Workspace,
    episode_id: str,
    kind: str,
    model: Any,
    line_ids: Sequence[str],
    progress: Progress | None = None,
) -> int:
    """Run an optional emotion model (:mod:`embeddings.emotion`) on the given lines of one
    episode that it has not seen; stored like prosody: ``[done, p_1..p_dim]`` per line."""
    from pipelines.io.audio import episode_audio
    from pipelines.io.media import SAMPLE_RATE, cut, load_audio

    modality = emotion_modality(kind)
    done = ws.stage_done(episode_id, modality, model.name)
    stored = ws.vectors.load(episode_id, modality, model.name) if done else None
    X = (
        stored.copy()
        if stored is not None
        else np.zeros((ws.line_count(episode_id), 1 + model.dim), dtype=np.float32)
    )
    wanted = set(line_ids)
    todo = [ln for ln in ws.lines(episode_id) if ln.id in wanted and X[ln.idx, 0] < 1]
    if not todo:
        return 0
    if kind == "speech":
        audio = load_audio(episode_audio(ws, episode_id))
        items: list[Any] = [cut(audio, SAMPLE_RATE, ln.start, ln.end) for ln in todo]
    else:
        items = [ln.text for ln in todo]
    label = f"{kind} emotion {episode_id}"
    hook = (lambda done, total: progress(label, done, total)) if progress else None
    probs = model(items, progress=hook)
    rows = [ln.idx for ln in todo]
    X[rows, 0] = 1.0
    X[rows, 1:] = probs
    ws.vectors.save(episode_id, modality, model.name, X)
    ws.mark_stage(episode_id, modality, model.name)
    return len(todo)


def stored_emotion(ws: Workspace) -> dict[str, dict]:
    """kind -> {"name", "labels"} of the emotion models of the last features run."""
    return json.loads(ws.get_meta(EMOTION_META) or "{}")


def emotion_rows(ws: Workspace, table: pd.DataFrame, kind: str) -> np.ndarray | None:
    """The stored probabilities of ``kind`` per row of ``table`` (NaN rows where the model
    could not run: speech emotion on imported episodes), or None when no model ran."""
    info = stored_emotion(ws).get(kind)
    if not info:
        return None
    out = np.full((len(table), len(info["labels"])), np.nan, dtype=np.float32)
    for episode_id, rows in table.groupby("episode_id", sort=False):
        modality = emotion_modality(kind)
        if not ws.stage_done(str(episode_id), modality, info["name"]):
            continue
        X = ws.vectors.load(str(episode_id), modality, info["name"])
        if X is None:
            continue
        got = X[rows["idx"].to_numpy()]
        ok = got[:, 0] >= 1
        out[rows.index.to_numpy()[ok]] = got[ok, 1:]
    return out


# ------------------------------------------------------------------------------ timbre
def voice_model(ws: Workspace) -> str:
    model = ws.get_meta("voice_model")
    if not model:
        raise WorkspaceError(f"{ws.root}: no voice vectors yet; run `castlist run {ws.root}` first")
    return model


def timbre_vectors(ws: Workspace, table: pd.DataFrame) -> np.ndarray:
    """The voice vector of each row of ``table`` (a :func:`select_lines` frame), in order."""
    model = voice_model(ws)
    out = np.zeros((len(table), 0), dtype=np.float32)
    for episode_id, rows in table.groupby("episode_id", sort=False):
        V = ws.vectors.load(str(episode_id), "voice", model)
        if V is None:
            raise WorkspaceError(
                f"{ws.root}: episode {episode_id} has no {model} voice vectors; run "
                f"`castlist run {ws.root}` first"
            )
        if out.shape[1] == 0:
            out = np.zeros((len(table), V.shape[1]), dtype=np.float32)
        out[rows.index.to_numpy()] = V[rows["idx"].to_numpy()]
    return out


@dataclass(frozen=True)
class CharacterTimbre:
    """A character's voice reference: the mean direction of its lines' vectors."""

    name: str
    n_lines: int
    centroid: np.ndarray
    spread: float
    """Mean cosine distance of its lines to the centroid: small is one consistent voice; large
    is a mixed or mislabelled character, worth a look before training."""
    typical: tuple[str, ...]
    """Line ids closest to the centroid, best first: the cleanest reference clips."""


def character_timbre(
    names: Sequence[str], line_ids: Sequence[str], X: np.ndarray, k: int = TYPICAL_LINES
) -> list[CharacterTimbre]:
    """Per character (sorted by name): centroid of the unit vectors, spread, typical lines."""
    names = np.asarray(names, dtype=object)
    U = normalize_rows(X, dtype=np.float64)
    out = []
    for name in sorted(set(names)):
        rows = np.flatnonzero(names == name)
        c = normalize_rows(U[rows].mean(axis=0), dtype=None)
        sims = U[rows] @ c
        order = np.argsort(-sims, kind="stable")[:k]
        out.append(
            CharacterTimbre(
                name=str(name),
                n_lines=len(rows),
                centroid=c.astype(np.float32),
                spread=float(np.mean(1 - sims)),
                typical=tuple(str(line_ids[rows[i]]) for i in order),
            )
        )
    return out


def nearest_centroid_accuracy(
    names: Sequence[str], X: np.ndarray, held_out: float = 0.3, seed: int = 0
) -> tuple[float, int]:
    """Accuracy of naming held-back lines by their nearest character centroid (cosine), the
    centroids built from the other lines; (accuracy, number of held-back lines). Characters
    with fewer than 2 lines are left out (nothing to hold back)."""
    names = np.asarray(names, dtype=object)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for name in sorted(set(names)):
        rows = rng.permutation(np.flatnonzero(names == name))
        if len(rows) < 2:
            continue
        n_test = max(1, int(round(held_out * len(rows))))
        test += list(rows[:n_test])
        train += list(rows[n_test:])
    if not test:
        return float("nan"), 0
    train_idx, test_idx = np.array(train), np.array(test)
    chars = character_timbre(names[train_idx], [str(i) for i in train_idx], X[train_idx])
    C = np.stack([c.centroid for c in chars])
    guess = np.array([c.name for c in chars], dtype=object)[
        np.argmax(normalize_rows(X[test_idx], dtype=None) @ C.T, axis=1)
    ]
    return float(np.mean(guess == names[test_idx])), len(test_idx)


# ------------------------------------------------------------------------------ face
def face_flags(ws: Workspace, table: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """(on screen per row, face crop path or "" per row) from the faces stage's metadata;
    all False when the faces stage did not run (audio-only episodes, faces off)."""
    from pipelines.stages.faces import FACEMETA, FACEMETA_COLUMNS, MODEL_META, thumb_path

    model = ws.get_meta(MODEL_META) or ""
    on = np.zeros(len(table), dtype=bool)
    crops = [""] * len(table)
    if not model:
        return on, crops
    col = FACEMETA_COLUMNS.index("on_screen")
    for episode_id, rows in table.groupby("episode_id", sort=False):
        meta = ws.vectors.load(str(episode_id), FACEMETA, model)
        if meta is None:
            continue
        for pos, idx, lid in zip(rows.index, rows["idx"], rows["id"], strict=True):
            on[pos] = bool(meta[idx, col] > 0.5)
            thumb = thumb_path(ws, lid)
            if on[pos] and thumb.is_file():
                crops[pos] = str(thumb)
    return on, crops


# ------------------------------------------------------------------------------ the stage
def features_dir(ws: Workspace) -> Path:
    return ws.root / "features"


def characters_path(ws: Workspace, model: str, suffix: str) -> Path:
    return safe_join(features_dir(ws), component(f"characters__{model}", suffix))


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=path.suffix) as tmp:
        write(tmp)


def save_characters(ws: Workspace, model: str, chars: Sequence[CharacterTimbre]) -> Path:
    """``features/characters__<model>.json`` (names, counts, spread, typical lines) beside
    ``.npy`` centroids (row i = character i of the json)."""
    js = characters_path(ws, model, ".json")
    records = [
        {"name": c.name, "n_lines": c.n_lines, "spread": round(c.spread, 6), "typical": c.typical}
        for c in chars
    ]
    dim = chars[0].centroid.size if chars else 0
    C = np.stack([c.centroid for c in chars]) if chars else np.zeros((0, dim), np.float32)
    _write_atomic(characters_path(ws, model, ".npy"), lambda p: np.save(p, C))
    _write_atomic(
        js,
        lambda p: p.write_text(
            json.dumps({"voice_model": model, "characters": records}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        ),
    )
    return js


def load_characters(ws: Workspace) -> tuple[list[dict], np.ndarray]:
    """The per-character summary of the last ``castlist features`` run and its centroids."""
    model = voice_model(ws)
    js = characters_path(ws, model, ".json")
    if not js.is_file():
        raise WorkspaceError(f"{ws.root}: no features yet; run `castlist features {ws.root}`")
    records = json.loads(js.read_text(encoding="utf-8"))["characters"]
    return records, np.load(characters_path(ws, model, ".npy"), allow_pickle=False)


@dataclass(frozen=True)
class FeaturesRun:
    lines: int
    characters: int
    analysed_now: int
    seconds_now: float
    skipped_episodes: tuple[str, ...]
    unsure: int = 0  # selected lines whose machine name is under SURE
    left_out: int = 0  # named lines the selection's min_confidence left out

    def __str__(self) -> str:
        text = (
            f"features: {count(self.lines, 'line')} of {count(self.characters, 'character')} "
            f"({self.analysed_now} analysed now, {self.seconds_now:.0f} s of speech; "
            f"the rest were cached)"
        )
        if self.left_out:
            text += "\n" + left_out_sentence(self.left_out)
        if self.unsure:
            text += (
                f"\n{self.unsure} of these lines carry a machine's name under {SURE:.0%} sure "
                f"(weak voice evidence names every line): `--min-confidence {SURE}` leaves "
                "them out, `castlist review` confirms them"
            )
        if self.skipped_episodes:
            text += (
                f"\nno prosody for {', '.join(self.skipped_episodes)}: imported episodes have "
                "no audio (timbre only)"
            )
        return text


def run_features(
    ws: Workspace,
    selection: Selection | None = None,
    progress: Progress | None = None,
    emotion: dict[str, Any] | None = None,
) -> FeaturesRun:
    """Compute what is missing for the selected lines and rewrite the character summary.

    ``emotion`` maps "speech"/"text" to an optional model (:func:`embeddings.emotion.
    load_emotion`); without it no emotion is computed and earlier emotion rows stay stored.
    Resumable: each episode's prosody is saved and marked before the next starts; lines
    analysed before (under any selection) are not analysed again."""
    emotion = emotion or {}
    bad = sorted(set(emotion) - set(EMOTION_KINDS))
    if bad:
        raise UsageError(f"unknown emotion kind {bad[0]!r}; use speech or text")
    selection = selection or Selection()
    every = select_lines(ws, replace(selection, min_confidence=0.0))
    sure = every["confidence"] >= selection.min_confidence
    table, left_out = every[sure].reset_index(drop=True), int((~sure).sum())
    if table.empty:
        hint = (
            left_out_sentence(left_out)
            if left_out
            else f"name lines with `castlist label` and run `castlist run {ws.root}` first"
        )
        raise WorkspaceError(
            f"{ws.root}: no named lines match (sources {','.join(selection.sources)}, "
            f"confidence >= {selection.min_confidence}); {hint}"
        )
    model = voice_model(ws)
    X = timbre_vectors(ws, table)  # fails early, before any slow work, when vectors are missing
    kinds = {ep.id: ep.kind for ep in ws.episodes()}
    episodes = list(dict.fromkeys(table["episode_id"]))
    analysed, seconds, skipped = 0, 0.0, []
    for n, episode_id in enumerate(episodes):
        if progress:
            progress("features: episodes", n, len(episodes))
        ids = table.loc[table["episode_id"] == episode_id, "id"].tolist()
        if "text" in emotion:
            emotion_episode(ws, episode_id, "text", emotion["text"], ids, progress)
        if kinds.get(episode_id) == "imported":
            skipped.append(episode_id)
            continue
        if "speech" in emotion:
            emotion_episode(ws, episode_id, "speech", emotion["speech"], ids, progress)
        a, s = prosody_episode(ws, episode_id, ids, progress)
        analysed, seconds = analysed + a, seconds + s
    if progress:
        progress("features: episodes", len(episodes), len(episodes))
    chars = character_timbre(table["speaker"].tolist(), table["id"].tolist(), X)
    save_characters(ws, model, chars)
    ws.set_meta(SELECTION_META, selection.to_json())
    if emotion:
        info = stored_emotion(ws)
        info.update({k: {"name": m.name, "labels": list(m.labels)} for k, m in emotion.items()})
        ws.set_meta(EMOTION_META, json.dumps(info, sort_keys=True))
    log.info("features: %d lines, %d analysed now", len(table), analysed)
    unsure = int((table["confidence"] < SURE).sum())
    return FeaturesRun(len(table), len(chars), analysed, seconds, tuple(skipped), unsure, left_out)


def stored_selection(ws: Workspace) -> Selection:
    text = ws.get_meta(SELECTION_META)
    if not text:
        raise WorkspaceError(f"{ws.root}: no features yet; run `castlist features {ws.root}`")
    return Selection.from_json(text)


def features_table(ws: Workspace, selection: Selection | None = None) -> pd.DataFrame:
    """The lines of the last features run (or of ``selection``) with everything the exports
    and the report read: prosody columns (NaN where not analysed), ``if_face``, ``face_crop``.

    :class:`WorkspaceError` when a selected line of an episode with audio has no prosody yet
    (labels changed since the last run): run ``castlist features`` again."""
    selection = selection or stored_selection(ws)
    table = select_lines(ws, selection)
    pros = np.full((len(table), len(PROSODY_COLUMNS)), np.nan, dtype=np.float64)
    kinds = {ep.id: ep.kind for ep in ws.episodes()}
    missing: list[str] = []
    for episode_id, rows in table.groupby("episode_id", sort=False):
        if kinds.get(str(episode_id)) == "imported":
            continue
        P = load_prosody(ws, str(episode_id))
        got = P[rows["idx"].to_numpy()] if P is not None else None
        if got is None or (got[:, 0] < 1).any():
            missing += rows["id"].tolist() if got is None else rows["id"][got[:, 0] < 1].tolist()
            continue
        pros[rows.index.to_numpy()] = got
    if missing:
        raise WorkspaceError(
            f"{ws.root}: {len(missing)} selected lines (e.g. {missing[0]}) have no features "
            f"yet (labels changed since the last run); run `castlist features {ws.root}`"
        )
    on, crops = face_flags(ws, table)
    extra = pd.DataFrame(pros[:, 1:], columns=list(PROSODY_COLUMNS[1:]), index=table.index)
    return pd.concat([table, extra], axis=1).assign(if_face=on, face_crop=crops)
