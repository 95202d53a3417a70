"""Session plumbing for the browser: which workspace, cached reads, and safe actions.

Reads are cached with ``st.cache_data`` keyed on the workspace's revision (newest action id)
and a data version (size and mtime of the database and its WAL), so a re-run after a CLI
``castlist run`` or another tab's edit sees fresh rows while an idle re-render costs nothing.

Every action passes ``base_rev``, the revision the page was rendered from, so an edit made on a
stale page is refused with the workspace's ConflictError instead of overwriting someone else's.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from pipelines.errors import CastlistError, ConflictError
from pipelines.workspace import DB_NAME, Workspace
from ui import view

log = logging.getLogger(__name__)

ENV = "CASTLIST_WORKSPACE"
WHO = "ui"


def workspace_root() -> Path | None:
    """The workspace: session state (tests), then $CASTLIST_WORKSPACE, then the script args."""
    given = st.session_state.get("workspace") or os.environ.get(ENV)
    if given:
        return Path(given)
    for arg in reversed(sys.argv[1:]):  # `streamlit run ui/app.py -- WS`
        if (Path(arg) / DB_NAME).is_file():
            return Path(arg)
    return None


def data_version(root: Path) -> tuple[int, ...]:
    """Changes whenever anything (CLI, another tab, a regroup) writes to the database."""
    out: list[int] = []
    for name in (DB_NAME, DB_NAME + "-wal"):
        try:
            s = (root / name).stat()
            out += [s.st_mtime_ns, s.st_size]
        except FileNotFoundError:
            out += [0, 0]
    return tuple(out)


@st.cache_data(max_entries=4, show_spinner=False)
def _lines(root: str, rev: int, version: tuple[int, ...]) -> pd.DataFrame:
    with Workspace.open(root) as ws:
        df = ws.lines_frame(speech_only=True)
        model = ws.get_meta("voice_model")
        vectors = {}
        if model:
            for ep in ws.episodes():
                vectors[ep.id] = ws.load_vectors(ep.id, "voice", model)
    return view.enrich(df, {k: v for k, v in vectors.items() if v is not None})


@st.cache_data(max_entries=4, show_spinner=False)
def _groups(root: str, rev: int, version: tuple[int, ...]) -> pd.DataFrame:
    return view.group_summary(_lines(root, rev, version))


@st.cache_data(max_entries=4, show_spinner=False)
def _skipped(root: str, rev: int, version: tuple[int, ...]) -> dict[str, int]:
    with Workspace.open(root) as ws:
        total: dict[str, int] = {}
        for ep in ws.episodes():
            for why, n in ws.skipped_counts(ep.id).items():
                total[why] = total.get(why, 0) + n
    return total


@st.cache_data(max_entries=4, show_spinner=False)
def _vectors_2d(root: str, rev: int, version: tuple[int, ...], ids: tuple[str, ...]) -> np.ndarray:
    df = _lines(root, rev, version).set_index("id").loc[list(ids)]
    with Workspace.open(root) as ws:
        model = ws.get_meta("voice_model")
        parts = []
        for ep, rows in df.groupby("episode_id", sort=False):
            V = ws.load_vectors(str(ep), "voice", model) if model else None
            if V is None:
                continue
            parts.append(pd.DataFrame(V[rows["idx"].to_numpy()], index=rows.index))
    if not parts:
        return np.zeros((0, 2))
    X = pd.concat(parts).reindex(list(ids)).fillna(0.0).to_numpy(dtype=np.float64)
    return view.pca2(X)


class Session:
    """What one page render knows: the open workspace, the revision it shows, the cached rows."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.root = str(ws.root)
        self.rev = ws.revision()
        self.version = data_version(ws.root)
        # the revision the *previous* render showed: a button pressed now was pressed there
        self.base_rev = st.session_state.get("rendered_rev", self.rev)
        st.session_state["rendered_rev"] = self.rev

    def lines(self) -> pd.DataFrame:
        return _lines(self.root, self.rev, self.version)

    def groups(self) -> pd.DataFrame:
        return _groups(self.root, self.rev, self.version)

    def skipped(self) -> dict[str, int]:
        return _skipped(self.root, self.rev, self.version)

    def map_points(self, ids: Iterable[str]) -> np.ndarray:
        return _vectors_2d(self.root, self.rev, self.version, tuple(ids))

    # ------------------------------------------------------------------ actions
    def check_group(self, group_id: str, seen: Iterable[str]) -> None:
        """Refuse to act on a group whose lines changed since the page showed it.

        Re-grouping renumbers unnamed groups, so the same id may now hold other lines; the
        workspace only checks lines' labels, so the page checks the membership it showed.
        """
        now = set(self.ws.group_lines(group_id))
        if now != set(seen):
            raise ConflictError(
                f"group {group_id} changed after you loaded the page (it now holds {len(now)} "
                f"lines, you saw {len(set(seen))}); look again and retry"
            )

    def act(self, label: str, do: Callable[[Workspace, int], Any], regroup: bool = True) -> bool:
        """Run one action against the revision this page was rendered from, then re-propagate.

        The outcome is kept for the next render as a flash message; returns True on success.
        """
        try:
            do(self.ws, self.base_rev)
        except ConflictError as exc:
            flash("error", f"Not saved: {exc}")
            return False
        except CastlistError as exc:
            flash("warning", f"Not saved: {exc}")
            return False
        msg = f"{label} — saved as action #{self.ws.revision()}"
        if regroup:
            from pipelines.run import regroup as _regroup

            try:
                _regroup(self.ws)
            except CastlistError as exc:
                flash("warning", f"{msg}; names not re-propagated: {exc}")
                return True
        flash("success", msg)
        return True


def flash(kind: str, message: str) -> None:
    st.session_state.setdefault("flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("flash", []):
        getattr(st, kind)(message)
