"""Session plumbing for the browser: which workspace, cached reads, and safe actions.

Reads are cached with ``st.cache_data`` keyed on the workspace's revision (newest action id)
and a fingerprint of the machine's rows (:func:`data_version`), so a re-run after a CLI
``castlist run`` or another tab's edit sees fresh rows while an idle re-render costs nothing.

Actions are button callbacks bound, at render time, to the revision the page shows and to the
lines and human labels of the groups it shows: an edit made on a stale page is refused with a
ConflictError (from the workspace or from :func:`check_expected`) instead of overwriting
someone else's work or silently doing less than it says.
"""

from __future__ import annotations

import inspect
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
from pipelines.store.workspace import DB_NAME, Workspace
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


def data_version(ws: Workspace) -> tuple:
    """The cache key: the newest action and the version of the machine's results (every
    ``castlist run`` or regroup bumps it), so no file mtime is needed."""
    return ws.data_version()


@st.cache_data(max_entries=4, show_spinner=False)
def _lines(root: str, rev: int, version: tuple) -> pd.DataFrame:
    with Workspace.open(root) as ws:
        df = ws.lines_frame(speech_only=True)
        model = ws.get_meta("voice_model")
        vectors = {}
        if model:
            for ep in ws.episodes():
                vectors[ep.id] = ws.vectors.load(ep.id, "voice", model)
    return view.enrich(df, {k: v for k, v in vectors.items() if v is not None})


@st.cache_data(max_entries=4, show_spinner=False)
def _groups(root: str, rev: int, version: tuple) -> pd.DataFrame:
    return view.group_summary(_lines(root, rev, version))


@st.cache_data(max_entries=4, show_spinner=False)
def _skipped(root: str, rev: int, version: tuple) -> dict[str, int]:
    with Workspace.open(root) as ws:
        total: dict[str, int] = {}
        for ep in ws.episodes():
            for why, n in ws.skipped_counts(ep.id).items():
                total[why] = total.get(why, 0) + n
    return total


@st.cache_data(max_entries=4, show_spinner=False)
def _vectors_2d(root: str, rev: int, version: tuple, ids: tuple[str, ...]) -> np.ndarray:
    df = _lines(root, rev, version).set_index("id").loc[list(ids)]
    with Workspace.open(root) as ws:
        model = ws.get_meta("voice_model")
        parts = []
        for ep, rows in df.groupby("episode_id", sort=False):
            V = ws.vectors.load(str(ep), "voice", model) if model else None
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
        self.rev = ws.actions.revision()
        self.version = data_version(ws)

    def lines(self) -> pd.DataFrame:
        return _lines(self.root, self.rev, self.version)

    def groups(self) -> pd.DataFrame:
        return _groups(self.root, self.rev, self.version)

    def skipped(self) -> dict[str, int]:
        return _skipped(self.root, self.rev, self.version)

    def map_points(self, ids: Iterable[str]) -> np.ndarray:
        return _vectors_2d(self.root, self.rev, self.version, tuple(ids))

    # ------------------------------------------------------------------ actions
    def expect(self, lines: pd.DataFrame, group_ids: Iterable[str]) -> dict[str, dict]:
        """What the page shows of these groups: their lines and each line's human label/lock."""
        part = lines[lines["group_id"].isin(list(group_ids))]
        human = part["speaker"].where(part["source"] == "human")
        snap = zip(part["group_id"], part["id"], human, part["lock"], strict=True)
        out: dict[str, dict] = {g: {} for g in group_ids}
        for gid, lid, name, lock in snap:
            out[gid][lid] = (_none(name), _none(lock))
        return out

    def button(
        self,
        where: Any,
        label: str,
        do: Callable[[Workspace, int], Any],
        *,
        key: str,
        message: str,
        expect: dict[str, dict] | None = None,
        regroup: bool = True,
        shortcut: str | None = None,
        after: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """A button whose action runs (as a callback, before the next render) against what
        this render showed: its revision and, for ``expect``ed groups, their lines."""
        if shortcut and _HAS_SHORTCUT:
            kwargs["shortcut"] = shortcut  # Streamlit shows the key on the button itself
        where.button(
            label,
            key=key,
            on_click=execute,
            args=(self.root, self.rev, message, do, expect or {}, regroup, after),
            **kwargs,
        )


_HAS_SHORTCUT = "shortcut" in inspect.signature(st.button).parameters


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def check_expected(ws: Workspace, expect: dict[str, dict]) -> None:
    """Refuse to act on a group whose lines or human decisions changed since the page showed it.

    Re-grouping renumbers unnamed groups, so the same id may now hold other lines, and an
    action skips lines people named otherwise, so a stale page could silently do less than it
    says; the page therefore checks what it showed before the workspace checks revisions.
    """
    if not expect:
        return
    human, locks = ws.human_labels(), ws.locks()
    for gid, shown in expect.items():
        try:
            now = set(ws.group_lines(gid))
        except CastlistError:
            now = set()
        changed = now != set(shown) or any(
            (human.get(lid), locks.get(lid)) != tuple(seen) for lid, seen in shown.items()
        )
        if changed:
            raise ConflictError(
                f"group {gid} was changed (in another tab or by the CLI) after this page was "
                "loaded; nothing was saved: look at it again and retry"
            )


def execute(
    root: str,
    base_rev: int,
    message: str,
    do: Callable[[Workspace, int], Any],
    expect: dict[str, dict],
    regroup: bool = True,
    after: Callable[[], None] | None = None,
) -> bool:
    """Run one action against the revision the page was rendered from, then re-propagate.

    The outcome is kept for the next render as a flash message; returns True on success.
    """
    with Workspace.open(root) as ws:
        try:
            check_expected(ws, expect)
            do(ws, base_rev)
        except ConflictError as exc:
            flash("error", f"Not saved: {exc}")
            return False
        except CastlistError as exc:
            flash("warning", f"Not saved: {exc}")
            return False
        msg = f"{message} — saved as action #{ws.actions.revision()}"
        if after is not None:
            after()
        if regroup:
            from pipelines.stages.run import regroup as _regroup

            try:
                _regroup(ws)
            except CastlistError as exc:
                flash("warning", f"{msg}; names not re-propagated: {exc}")
                return True
        flash("success", msg)
        log.info("ui: %s", msg)
        return True


def flash(kind: str, message: str) -> None:
    st.session_state.setdefault("flash", []).append((kind, message))


def show_flash() -> None:
    for kind, message in st.session_state.pop("flash", []):
        getattr(st, kind)(message)
