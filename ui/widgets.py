"""Small widgets shared by the pages: a line's playable clip and face thumbnails."""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from pipelines.errors import CastlistError
from ui.clips import clip_path, shown_thumb
from ui.state import Session

log = logging.getLogger(__name__)


def play(sess: Session, line_id: str) -> None:
    """The line's audio clip, or a quiet note when the episode has no readable audio."""
    if not st.session_state.get("play_clips", True):
        return
    try:
        path = clip_path(sess.ws, line_id)
    except (CastlistError, OSError) as exc:
        log.debug("no clip for %s: %s", line_id, exc)
        st.caption("(no audio)")
        return
    st.audio(str(path), format="audio/wav")


def thumbs(sess: Session, line_ids: list[str], limit: int = 3) -> None:
    found = [p for lid in line_ids if (p := shown_thumb(sess.ws, lid)) is not None][:limit]
    if found:
        st.image([str(p) for p in found], width=72)


def line_label(row: Any) -> str:
    text = str(row.text).replace("\n", " ")
    return f"{row.id} · {text[:60]}"
