"""Undo, redo and the action log: every edit, by whom and when, in order, across reloads."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pipelines.errors import UsageError
from ui.state import WHO, Session


def _require(result: Any, message: str) -> Any:
    if result is None:
        raise UsageError(message)
    return result


def undo_button(
    sess: Session, where: Any, label: str = "↶ Undo", key: str = "undo", **kw: Any
) -> None:
    """Undo the newest action still in effect (the log survives reloads) and re-propagate."""
    sess.button(
        where,
        label,
        lambda ws, rev: _require(ws.undo(who=WHO), "nothing to undo"),
        key=key,
        message="undone",
        **kw,
    )


def redo_button(
    sess: Session, where: Any, label: str = "↷ Redo", key: str = "redo", **kw: Any
) -> None:
    sess.button(
        where,
        label,
        lambda ws, rev: _require(ws.redo(who=WHO), "nothing to redo"),
        key=key,
        message="redone",
        **kw,
    )


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
                    "action": a.verb,
                    "state": a.state,
                    "details": str(a.args),
                }
                for a in actions
            ]
        ),
        hide_index=True,
    )
