"""The review queue: one question at a time, answered by one click or one key press.

The queue itself (which questions, in which order, what an answer does) lives in
``pipelines.review.queue``; this page only shows the current question with its evidence (samples
and clips of both groups, the line and its suggestions) and sends the reply.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import streamlit as st

from pipelines.records import AMBIENT
from pipelines.wording import count
from ui import view
from ui.history import undo_button
from ui.state import WHO, Session
from ui.widgets import play

log = logging.getLogger(__name__)

NUMBER_KEYS = ("1", "2", "3", "4", "5")


def _review_module() -> Any:
    try:
        from pipelines.review import queue as review
    except ImportError as exc:  # another engineer's module, optional for the rest of the UI
        log.warning("review queue unavailable: %s", exc)
        return None
    return review


@st.cache_data(max_entries=4, show_spinner=False)
def _questions(root: str, rev: int, version: tuple, limit: int) -> list[Any]:
    from pipelines.store.workspace import Workspace

    review = _review_module()
    with Workspace.open(root) as ws:
        return list(review.questions(ws, limit=limit))


QUEUE_LIMIT = 50
"""Questions read per render: the Overview's count and the Review page's list are one queue."""


def pending(sess: Session, limit: int = QUEUE_LIMIT) -> list[Any] | None:
    """The queue's questions, best first; None when the review module is not installed."""
    if _review_module() is None:
        return None
    return _questions(sess.root, sess.rev, sess.version, limit)


def offered(q: Any, floor: float = 0.05) -> list[tuple[str, float]]:
    """The suggestions worth a button: real names (not C007), each once, at least ``floor``
    likely (a 0% alternative is no answer anyone should be offered)."""
    names: list[tuple[str, float]] = []
    for name, p in q.suggestions:
        if p >= floor and not view.is_placeholder(name) and name not in dict(names):
            names.append((name, p))
    return names


def _answer(
    sess: Session, where: Any, q: Any, label: str, reply: str, shortcut: str | None, **kw: Any
) -> None:
    """A one-click (one-key) answer; ``reply`` may be a callable read when clicked."""
    review = _review_module()

    def do(ws, rev):
        text = reply() if callable(reply) else reply
        return review.answer(ws, q, text, who=WHO, base_rev=rev)

    sess.button(
        where,
        label,
        do,
        key=f"{label}-{q.id}",
        message=f"answered {label!r}: {q.text}",
        regroup=False,  # answer() regroups itself
        shortcut=shortcut,
        **kw,
    )


def _samples(sess: Session, lines: pd.DataFrame, group_id: str, k: int = 3) -> None:
    members = lines[lines["group_id"] == group_id]
    if members.empty:
        st.caption(f"group {group_id} is gone (regrouped); skip this question")
        return
    first = members.iloc[0]
    st.markdown(f"**{first['who'] or '(unnamed)'}** · `{group_id}` · {view.n_lines(len(members))}")
    for row in view.representatives(members, k).itertuples():
        st.markdown(f"> {row.text}")
        play(sess, row.id)


def _line(sess: Session, lines: pd.DataFrame, line_id: str) -> None:
    row = lines[lines["id"] == line_id]
    if not row.empty:
        r = row.iloc[0]
        st.markdown(f"`{line_id}` ({r['start']:.1f}-{r['end']:.1f} s) > {r['text']}")
    play(sess, line_id)


def _name_buttons(sess: Session, q: Any) -> None:
    for (name, p), k in zip(offered(q), NUMBER_KEYS, strict=False):
        _answer(sess, st, q, f"{name} ({p:.0%})", name, k)


def _other_name(sess: Session, q: Any) -> None:
    other_key = f"other-{q.id}"
    st.text_input("Someone else (type a name, then press the button)", key=other_key)
    _answer(sess, st, q, "Name it", lambda: str(st.session_state.get(other_key) or ""), None)


NOT_SURE = "not sure"


def _check(sess: Session, lines: pd.DataFrame, q: Any) -> None:
    """Several lines the machine gave one name: each keeps it unless the annotator picks (or
    types) another, and one press names them all."""
    name = q.suggestions[0][0]
    st.subheader(q.text)
    st.caption(f"Listen; where a line is someone else, pick or type who. Confirm names the "
               f"rest {name}.")  # fmt: skip
    known = sorted(
        n
        for n in lines["speaker"].dropna().unique()
        if n not in (name, AMBIENT) and not view.is_placeholder(n)
    )
    choices = [name, *known, "ambient", NOT_SURE]
    keys = {lid: f"check-{q.id}-{lid}" for lid in q.lines}
    for lid, key in keys.items():
        left, right = st.columns([3, 1], vertical_alignment="center")
        with left:
            _line(sess, lines, lid)
        right.selectbox(
            f"who says {lid}", choices, key=key, accept_new_options=True,
            label_visibility="collapsed",
        )  # fmt: skip

    def reply() -> dict[str, str | None] | str:
        picked = {lid: st.session_state.get(key) or name for lid, key in keys.items()}
        other = {lid: None if v == NOT_SURE else v for lid, v in picked.items() if v != name}
        return other or "yes"

    _answer(sess, st, q, f"Confirm ({q.gain})", reply, "Y", type="primary")


def review_page(sess: Session, lines: pd.DataFrame) -> None:
    st.header("Review queue")
    queue = pending(sess)
    if queue is None:
        st.info("review queue not available (pipelines.review.queue is not installed)")
        return
    if not queue:
        st.success("Nothing to review: every question the engine has is answered.")
        return
    q = queue[0]
    new = " · about a newly added episode" if getattr(q, "fresh", False) else ""
    waiting = count(len(queue), "question")
    st.caption(f"{waiting} waiting · answering this one {q.gain}{new}")
    if q.kind == "same":
        st.subheader(q.text)
        left, right = st.columns(2)
        with left:
            _samples(sess, lines, q.groups[0])
        with right:
            _samples(sess, lines, q.groups[1])
        _answer(sess, st, q, "Yes, same", "yes", "Y", type="primary")
        _answer(sess, st, q, "No, different", "no", "N")
    elif q.kind == "group":
        st.subheader(q.text)
        st.caption("Listen to its most typical lines; the answer names the first one and the "
                   "group follows it.")  # fmt: skip
        for lid in getattr(q, "lines", ()) or ((q.line_id,) if q.line_id else ()):
            _line(sess, lines, lid)
        _name_buttons(sess, q)
        if len(q.groups) > 1:
            _answer(sess, st, q, f"No, not {q.suggestions[0][0]}", "no", "N")
        _answer(sess, st, q, "Ambient (whole group)", "ambient", "A")
        _other_name(sess, q)
    elif q.kind == "check":
        _check(sess, lines, q)
    else:
        st.subheader("Who says this line?" if q.kind == "who" else "Is this line ambient?")
        _line(sess, lines, q.line_id)
        if q.kind == "who":
            hint = q.text.rsplit("?", 1)[-1].strip()
            if hint:
                st.caption(hint)
            _name_buttons(sess, q)
            _answer(sess, st, q, "Ambient", "ambient", "A")
        else:
            st.caption("crowd, passers-by, a song or narration")
            _answer(sess, st, q, "Yes, ambient", "yes", "Y", type="primary")
            _answer(sess, st, q, "No", "no", "N")
        _other_name(sess, q)
    _answer(sess, st, q, "Skip", "skip", "S")
    undo_button(sess, st, "Undo last answer", key="review-undo", shortcut="U")
    with st.expander(f"Next questions ({len(queue) - 1})"):
        st.dataframe(
            pd.DataFrame([{"answer": x.gain, "question": x.text} for x in queue[1:]]),
            hide_index=True,
        )
