"""Undo, redo and the action log: every edit, by whom and when, in order, across reloads."""

from __future__ import annotations

from typing import Any

import streamlit as st

from pipelines.errors import UsageError
from pipelines.wording import action_sentence
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
        lambda ws, rev: _require(getattr(ws.actions, verb)(who=WHO), f"nothing to {verb}"),
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
    actions = sess.ws.actions.history(limit=200)
    if not actions:
        st.caption("No actions yet.")
        return
    # one sentence per action, newest first (plain text: readable, searchable, copyable)
    st.markdown("\n".join(f"- {sentence(a)}" for a in actions))


def sentence(a: Any) -> str:
    """'#3 · 2026-11-29 08:30 · ui · named group ep01-g3 Kyon' (+ '(undone)')."""
    when = str(a.at).replace("T", " ")[:16]
    state = "" if a.state in ("done", "", None) else f" ({a.state})"
    return f"#{a.id} · {when} · {a.who} · {action_sentence(a.verb, a.args)}{state}"
