"""The overview: episodes, labelling progress, the season roster and what needs review."""

from __future__ import annotations

import pandas as pd
import streamlit as st

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
    groups = sess.groups()
    cols = st.columns(6)
    cols[0].metric("speech lines", len(lines))
    cols[1].metric("named by hand", counts["human"])
    cols[2].metric("propagated", counts["propagated"])
    cols[3].metric("unnamed", counts["unnamed"])
    cols[4].metric("ambient", counts["ambient"])
    cols[5].metric("groups to review", int(groups["needs_review"].sum()) if len(groups) else 0)
    done = (counts["human"] + counts["propagated"] + counts["ambient"]) / total
    st.progress(done, text=f"{done:.0%} of lines have a speaker (by hand, propagated or ambient)")
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
        queue = pending(sess)
        if queue is None:
            st.caption("review queue not available")
        else:
            st.button(
                f"Open the review queue ({len(queue)} questions)",
                key="go-review",
                on_click=_go,
                args=("Review",),
                type="primary",
            )
        todo = groups[groups["needs_review"]].sort_values("size", ascending=False).head(8)
        for g in todo.itertuples():
            c1, c2 = st.columns([4, 1])
            c1.markdown(f"`{g.group_id}` · {g.size} lines · {g.suggested or '(unnamed)'}")
            c2.button("Open", key=f"ov-open-{g.group_id}", on_click=open_group, args=(g.anchor,))
    with right:
        st.subheader("Roster")
        roster = view.roster(lines)
        st.dataframe(roster, hide_index=True)
        if len(roster):
            with st.container(border=True):
                rename_form(sess, roster["name"].tolist())
