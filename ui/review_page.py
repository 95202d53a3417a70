"""The review queue: one question at a time, answered by one click or one key press.

The queue itself (which questions, in which order, what an answer does) lives in
``pipelines.review``; this page only shows the current question with its evidence (samples
and clips of both groups, the line and its suggestions) and sends the reply.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from ui import view
from ui.state import WHO, Session
from ui.history import undo
from ui.widgets import button, play

log = logging.getLogger(__name__)

NUMBER_KEYS = ("1", "2", "3", "4", "5")


def _review_module() -> Any:
    try:
        from pipelines import review
    except ImportError as exc:  # another engineer's module, optional for the rest of the UI
        log.warning("review queue unavailable: %s", exc)
        return None
    return review


@st.cache_data(max_entries=4, show_spinner=False)
def _questions(root: str, rev: int, version: tuple[int, ...], limit: int) -> list[Any]:
    from pipelines.workspace import Workspace

    review = _review_module()
    with Workspace.open(root) as ws:
        return list(review.questions(ws, limit=limit))


def pending(sess: Session, limit: int = 20) -> list[Any] | None:
    """The queue's questions, best first; None when the review module is not installed."""
    if _review_module() is None:
        return None
    return _questions(sess.root, sess.rev, sess.version, limit)


def _reply(sess: Session, question: Any, reply: str) -> None:
    review = _review_module()
    sess.act(
        f"{question.kind} question answered {reply!r}",
        lambda ws, rev: review.answer(ws, question, reply, who=WHO, base_rev=rev),
        regroup=False,  # answer() regroups itself
    )
    st.rerun()


def _samples(sess: Session, lines: pd.DataFrame, group_id: str, k: int = 3) -> None:
    members = lines[lines["group_id"] == group_id]
    if members.empty:
        st.caption(f"group {group_id} is gone (regrouped); skip this question")
        return
    first = members.iloc[0]
    st.markdown(f"**{first['who'] or '(unnamed)'}** · `{group_id}` · {len(members)} lines")
    for row in view.representatives(members, k).itertuples():
        st.markdown(f"> {row.text}")
        play(sess, row.id)


def review_page(sess: Session, lines: pd.DataFrame) -> None:
    st.header("Review queue")
    queue = pending(sess)
    if queue is None:
        st.info("review queue not available (pipelines.review is not installed)")
        return
    if not queue:
        st.success("Nothing to review: every question the engine has is answered.")
        return
    q = queue[0]
    st.caption(f"{len(queue)} questions waiting · this one saves about {q.saves:.1f} operations")
    st.subheader(q.text)
    key = q.id
    if q.kind == "same":
        left, right = st.columns(2)
        with left:
            _samples(sess, lines, q.groups[0])
        with right:
            _samples(sess, lines, q.groups[1])
        c1, c2, c3 = st.columns(3)
        if button("Yes, same", "Y", key=f"yes-{key}", type="primary"):
            _reply(sess, q, "yes")
        if button("No, different", "N", key=f"no-{key}"):
            _reply(sess, q, "no")
        if button("Skip", "S", key=f"skip-{key}"):
            _reply(sess, q, "skip")
    else:
        row = lines[lines["id"] == q.line_id]
        if not row.empty:
            r = row.iloc[0]
            st.markdown(f"`{q.line_id}` ({r['start']:.1f}-{r['end']:.1f} s) > {r['text']}")
        play(sess, q.line_id)
        if q.kind == "who":
            names = [(n, p) for n, p in q.suggestions if not view.is_placeholder(n)]
            for (name, p), k in zip(names, NUMBER_KEYS, strict=False):
                if button(f"{name} ({p:.0%})", k, key=f"who-{key}-{name}"):
                    _reply(sess, q, name)
            if button("Ambient", "A", key=f"amb-{key}"):
                _reply(sess, q, "ambient")
        else:
            if button("Yes, ambient", "Y", key=f"yes-{key}", type="primary"):
                _reply(sess, q, "yes")
            if button("No", "N", key=f"no-{key}"):
                _reply(sess, q, "no")
        if button("Skip", "S", key=f"skip-{key}"):
            _reply(sess, q, "skip")
        other = st.text_input("Someone else (type a name, then press the button)", key=f"o-{key}")
        if st.button("Name it", key=f"name-{key}", disabled=not other.strip()):
            _reply(sess, q, other.strip())
    if button("Undo last answer", "U", key="review-undo"):
        undo(sess)
    with st.expander(f"Next questions ({len(queue) - 1})"):
        st.dataframe(
            pd.DataFrame([{"saves": x.saves, "question": x.text} for x in queue[1:]]),
            hide_index=True,
        )
