"""Undo, redo and the action log: every edit, by whom and when, in order, across reloads."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pipelines.errors import UsageError
from ui import view
from ui.state import WHO, Session


def _require(result: Any, message: str) -> Any:
    if result is None:
        raise UsageError(message)
    return result


def _replay_button(sess: Session, where: Any, verb: str, label: str, key: str, **kw: Any) -> None:
    """Undo/redo the newest action the log allows (it survives reloads) and re-propagate."""
    sess.button(
        where,
        label,
        lambda ws, rev: _require(getattr(ws, verb)(who=WHO), f"nothing to {verb}"),
        key=key,
        message={"undo": "undone", "redo": "redone"}[verb],
        **kw,
    )


def undo_button(
    sess: Session, where: Any, label: str = "↶ Undo", key: str = "undo", **kw: Any
) -> None:
    _replay_button(sess, where, "undo", label, key, **kw)


def redo_button(
    sess: Session, where: Any, label: str = "↷ Redo", key: str = "redo", **kw: Any
) -> None:
    _replay_button(sess, where, "redo", label, key, **kw)


def history_page(sess: Session) -> None:
    st.header("History")
    c1, c2, _ = st.columns([1, 1, 4])
    undo_button(sess, c1, "Undo", key="hist-undo")
    redo_button(sess, c2, "Redo", key="hist-redo")
    actions = sess.ws.history(limit=200)
    if not actions:
        st.caption("No actions yet.")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "#": a.id,
                    "at": a.at,
                    "who": a.who,
                    "what": view.describe(a.verb, a.args),
                    "state": a.state,
                }
                for a in actions
            ]
        ),
        hide_index=True,
    )
