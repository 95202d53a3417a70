"""Flat, frozen records, in the spirit of lhotse's ``SupervisionSegment``.

A line is one subtitle event. Arrays (vectors) never live in a record: they are stored beside
the database, keyed by the line's row order within its episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class LabelSource(str, Enum):
    """Provenance of a line's speaker, strongest first: a machine never overwrites a human."""

    HUMAN = "human"
    PROPAGATED = "propagated"
    CLUSTER = "cluster"


SURE = 0.5
"""A machine's name at least this probable counts as sure where castlist reports how sure the
names are (``castlist status``, the features summary); a person's name always does."""

NAME_CALIBRATION = "name_calibration"
"""Workspace meta: how sure the machine's names are, as the answers about them say
(``grouping.name_calibration.NameCalibration.to_dict``). A machine name's stored probability is
the voice model's own (its ``score``); its ``confidence`` is that score through this map."""

AMBIENT = "<ambient>"
"""Speaker value for lines a person marked as crowd, passers-by, songs or narration."""


@dataclass(frozen=True)
class SubtitleEvent:
    """One event as read from a subtitle file, before it belongs to a workspace."""

    start: float
    end: float
    text: str
    name_hint: str = ""
    style: str = ""
    skip_reason: str = ""  # non-empty: not speech (song, sign, karaoke, empty text, ...)


@dataclass(frozen=True)
class Line:
    id: str
    episode_id: str
    idx: int
    start: float
    end: float
    text: str
    name_hint: str = ""
    skip_reason: str = ""
    speaker: str | None = None
    label_source: str | None = None
    confidence: float | None = None
    group: str | None = None
    score: float | None = None  # a machine name's probability as the voice model gave it

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Episode:
    id: str
    idx: int
    media: str
    subs: str
    duration: float
    kind: str = "video"  # "video" or "audio"


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: how stages report long work; the CLI prints it, the browser
and tests pass their own."""
