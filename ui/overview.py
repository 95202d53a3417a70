"""The overview: episodes, labelling progress, the season roster and what needs review."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipelines.review.answers import calibration_note, likely_right_note
from ui import view
from ui.groups import open_group, rename_form
from ui.review_page import pending
from ui.state import Session


def _go(page: str) -> None:
    st.session_state["page"] = page


def overview_page(sess: Session, lines: pd.DataFrame) -> None:
    st.header("Overview")
    counts = view.progress(lines)
    total = max(1, len(lines))
    queue = pending(sess)
    cols = st.columns(6)
    cols[0].metric("speech lines", len(lines))
    cols[1].metric("named by hand", counts["human"])
    cols[2].metric("propagated", counts["propagated"])
    cols[3].metric("unnamed", counts["unnamed"])
    cols[4].metric("ambient", counts["ambient"])
    cols[5].metric("questions to review", "–" if queue is None else len(queue))
    done = (counts["human"] + counts["propagated"] + counts["ambient"]) / total
    st.progress(done, text=f"{done:.0%} of lines have a speaker (by hand, propagated or ambient)")
    for note in (likely_right_note(lines), calibration_note(sess.ws)):
        if note:
            st.caption(note)
    skipped = sess.skipped()
    if skipped:
        st.caption(
            "not speech, not grouped: " + ", ".join(f"{n} {why}" for why, n in skipped.items())
        )

    left, right = st.columns(2)
    with left:
        st.subheader("Episodes")
        st.dataframe(view.episode_table(lines), hide_index=True)
        st.subheader("Needs review")
        if queue is None:
            st.caption("review queue not available")
        else:
            st.button(
                f"Open the review queue ({len(queue)} questions)",
                key="go-review",
                on_click=_go,
                args=("Review",),
                type="primary",
                disabled=not queue,
            )
            # the groups the queue asks about, in its order
            for q in [q for q in queue if q.kind == "group"][:8]:
                c1, c2 = st.columns([4, 1])
                c1.markdown(f"`{q.groups[0]}` · {q.text} ({q.gain})")
                c2.button("Open", key=f"ov-open-{q.id}", on_click=open_group, args=(q.line_id,))
    with right:
        st.subheader("Roster")
        roster = view.roster(lines)
        st.dataframe(roster, hide_index=True)
        if len(roster):
            with st.container(border=True):
                rename_form(sess, roster["name"].tolist())
