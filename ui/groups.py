"""The group cards page and the page of one group (all its lines, every action on them)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import view
from ui.state import WHO, Session
from ui.widgets import line_label, play, thumbs

PAGE_SIZE = 12
SORTS = {
    "needs review first": (["needs_review", "size"], [False, False]),
    "largest first": (["size"], [False]),
    "least confident first": (["confidence"], [True]),
    "least cohesive first": (["cohesion"], [True]),
    "episode order": (["episode_id", "start"], [True, True]),
}


def open_group(anchor: str) -> None:
    """Callback: show the group holding ``anchor`` (a line id: group ids change on regroup)."""
    st.session_state["open_anchor"] = anchor
    st.session_state["page"] = "Group"


def _toggle_pick(group_id: str, key: str) -> None:
    picked: set[str] = st.session_state.setdefault("picked_groups", set())
    if st.session_state.get(key):
        picked.add(group_id)
    else:
        picked.discard(group_id)


def _group_lines(lines: pd.DataFrame, group_id: str) -> pd.DataFrame:
    return lines[lines["group_id"] == group_id]


def card(sess: Session, g: pd.Series, members: pd.DataFrame, n_reps: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{view.title(g)}** · `{g['group_id']}` · {view.n_lines(g['size'])}")
        conf = "–" if pd.isna(g["confidence"]) else f"{g['confidence']:.2f}"
        coh = "–" if pd.isna(g["cohesion"]) else f"{g['cohesion']:.2f}"
        st.caption(
            f"{g['episode_id']} · confidence {conf} · cohesion {coh} · "
            f"{int(g['human'])} by hand, {int(g['propagated'])} propagated, "
            f"{int(g['unnamed'])} unnamed"
        )
        reps = view.representatives(members, n_reps)
        thumbs(sess, members["id"].head(20).tolist())
        for row in reps.itertuples():
            st.markdown(f"> {row.text}")
            play(sess, row.id)
        key = f"pick-{g['group_id']}-{sess.rev}"
        c1, c2 = st.columns(2)
        c1.checkbox(
            f"select {g['group_id']}",
            key=key,
            value=g["group_id"] in st.session_state.get("picked_groups", set()),
            on_change=_toggle_pick,
            args=(g["group_id"], key),
        )
        c2.button("Open", key=f"open-{g['group_id']}", on_click=open_group, args=(g["anchor"],))


def groups_page(sess: Session, lines: pd.DataFrame, filtered: pd.DataFrame) -> None:
    st.header("Groups")
    groups = sess.groups()
    shown = groups[groups["group_id"].isin(filtered["group_id"].dropna().unique())]
    c1, c2, c3 = st.columns([2, 1, 1])
    sort = c1.selectbox("Sort", list(SORTS), key="group_sort")
    n_reps = c2.number_input("Lines per card", 3, 5, 3, key="reps")
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    page = c3.number_input(f"Page (of {pages})", 1, pages, 1, key="group_page")
    by, asc = SORTS[sort]
    shown = shown.sort_values(by, ascending=asc, na_position="first")
    st.caption(f"{len(shown)} groups match the filters ({len(groups)} in all)")

    picked = sorted(st.session_state.get("picked_groups", set()) & set(groups["group_id"]))
    bulk_actions(sess, lines, picked)

    chunk = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    by_group = dict(tuple(lines[lines["group_id"].isin(chunk["group_id"])].groupby("group_id")))
    cols = st.columns(3)
    for i, g in enumerate(chunk.itertuples(index=False)):
        row = pd.Series(g._asdict())
        with cols[i % 3]:
            card(sess, row, by_group.get(row["group_id"], lines.iloc[:0]), int(n_reps))


def _clear_picks() -> None:
    """After an action the group ids change (regroup): forget ticked cards."""
    st.session_state["picked_groups"] = set()


def _text(key: str) -> str:
    return str(st.session_state.get(key) or "").strip()


def bulk_actions(sess: Session, lines: pd.DataFrame, picked: list[str]) -> None:
    """Actions on the groups ticked on the cards (kept across card pages)."""
    if not picked:
        st.caption("Tick cards to merge, name or mark several groups at once. ~NAME: a "
                   "machine's guess nobody has confirmed.")  # fmt: skip
        return
    expect = sess.expect(lines, picked)
    ids = [lid for g in picked for lid in expect[g]]
    with st.container(border=True):
        st.markdown(f"**{len(picked)} selected:** " + ", ".join(f"`{g}`" for g in picked))
        c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
        sess.button(
            c1,
            "Merge selected",
            lambda ws, rev: ws.merge_groups(picked, who=WHO, base_rev=rev),
            key="bulk-merge",
            message=f"merged {len(picked)} groups",
            expect=expect,
            after=_clear_picks,
            disabled=len(picked) < 2,
        )
        sess.button(
            c2,
            "Mark ambient",
            lambda ws, rev: ws.mark_ambient(ids, who=WHO, base_rev=rev),
            key="bulk-ambient",
            message=f"{len(ids)} lines marked ambient",
            expect=expect,
            after=_clear_picks,
        )
        c3.text_input(
            "Name selected as",
            key="bulk-name",
            label_visibility="collapsed",
            placeholder="name for the selected groups",
        )

        def name_all(ws, rev):
            for g in picked:
                ws.name_group(g, _text("bulk-name"), who=WHO, base_rev=rev)

        sess.button(
            c4,
            "Name selected",
            name_all,
            key="bulk-name-go",
            message=f"named {len(picked)} groups",
            expect=expect,
            after=_clear_picks,
        )


# ---------------------------------------------------------------------------------- one group
LINE_SORTS = {
    "time": (["episode_id", "start"], [True, True]),
    "confidence (low first)": (["confidence"], [True]),
    "confidence (high first)": (["confidence"], [False]),
    "least like the group first": (["sim"], [True]),
}


def group_page(sess: Session, lines: pd.DataFrame) -> None:
    groups = sess.groups()
    if groups.empty:
        st.info("No groups yet: run `castlist run WS` first.")
        return
    anchor = st.session_state.get("open_anchor")
    current = lines.loc[lines["id"] == anchor, "group_id"]
    gid = current.iloc[0] if len(current) and pd.notna(current.iloc[0]) else None
    if gid is None:  # not come from a card or a question: the biggest group still unnamed
        gid = view.first_group(groups)
    options = groups.sort_values(["episode_id", "start"])["group_id"].tolist()
    labels = dict(zip(groups["group_id"], groups["suggested"], strict=True))
    chosen = st.selectbox(
        "Group",
        options,
        index=options.index(gid) if gid in options else 0,
        format_func=lambda g: f"{g} · {labels.get(g) or '(unnamed)'}",
        key=f"group-pick-{gid}-{sess.rev}",
    )
    if chosen != gid:
        st.session_state["open_anchor"] = groups.set_index("group_id").at[chosen, "anchor"]
        gid = chosen
    g = groups.set_index("group_id").loc[gid]
    members = _group_lines(lines, gid)
    seen = members["id"].tolist()
    expect = sess.expect(lines, [gid])
    st.header(f"{view.title(g)} · {gid}")
    st.caption(
        f"{view.n_lines(g['size'])} · {int(g['human'])} by hand, {int(g['propagated'])} propagated, "
        f"{int(g['unnamed'])} unnamed · character {g['character']}"
    )
    thumbs(sess, seen[:30], limit=5)
    k = f"{gid}-{sess.rev}"

    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.text_input("Name this group", value=g["suggested"] or "", key=f"name-{k}")
        sess.button(
            c2,
            "Name group",
            lambda ws, rev: ws.name_group(gid, _text(f"name-{k}"), who=WHO, base_rev=rev),
            key=f"name-go-{k}",
            message=f"named {gid}",
            expect=expect,
            type="primary",
        )
        sess.button(
            c3,
            "Whole group ambient",
            lambda ws, rev: ws.mark_ambient(seen, who=WHO, base_rev=rev),
            key=f"amb-{k}",
            message=f"{gid} marked ambient",
            expect=expect,
        )
        c1, c2, c3 = st.columns([2, 1, 1])
        others = [o for o in options if o != gid]
        into = c1.multiselect(
            "Merge with",
            others,
            format_func=lambda o: f"{o} · {labels.get(o) or '(unnamed)'}",
            key=f"merge-{k}",
        )
        sess.button(
            c2,
            "Merge",
            lambda ws, rev: ws.merge_groups([gid, *into], who=WHO, base_rev=rev),
            key=f"merge-go-{k}",
            message=f"merged {', '.join(into)} into {gid}",
            expect=sess.expect(lines, [gid, *into]),
            disabled=not into,
        )
        n_off = c3.number_input(
            "Least-like lines", 1, max(1, len(seen) - 1), max(1, len(seen) // 10), key=f"k-{k}"
        )
        off = view.least_similar(members, int(n_off))
        sess.button(
            c3,
            "Split them off",
            lambda ws, rev: ws.split_lines(off, who=WHO, base_rev=rev),
            key=f"split-least-{k}",
            message=f"split {len(off)} lines off {gid}",
            expect=expect,
            disabled=len(seen) < 2 or not off,
        )

    sort = st.selectbox("Sort lines by", list(LINE_SORTS), key="line_sort")
    by, asc = LINE_SORTS[sort]
    table = members.sort_values(by, ascending=asc, na_position="first")
    event = st.dataframe(
        table[["id", "start", "end", "text", "who", "state", "confidence", "sim"]],
        hide_index=True,
        on_select="rerun",
        selection_mode="multi-row",
        key=f"table-{k}",
        column_config={
            "confidence": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0),
            "sim": st.column_config.NumberColumn("like group", format="%.2f"),
        },
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    from_table = table["id"].iloc[rows].tolist() if rows else []
    line_text = dict(zip(table["id"], table.itertuples(), strict=True))
    picked = st.multiselect(
        "Selected lines (tick rows in the table or pick here)",
        table["id"].tolist(),
        format_func=lambda lid: line_label(line_text[lid]),
        key=f"lines-{k}",
    )
    selected = list(dict.fromkeys([*from_table, *picked]))
    line_actions(sess, lines, gid, expect, selected, options, labels, k)

    st.subheader("Listen")
    for row in table.head(5).itertuples():
        st.markdown(f"`{row.id}` {row.text}")
        play(sess, row.id)


def line_actions(
    sess: Session,
    lines: pd.DataFrame,
    gid: str,
    expect: dict[str, dict],
    selected: list[str],
    options: list[str],
    labels: dict[str, str],
    k: str,
) -> None:
    with st.container(border=True):
        st.markdown(f"**{len(selected)} lines selected**")
        c1, c2, c3, c4 = st.columns(4)
        none = not selected
        sess.button(
            c1,
            "Split off",
            lambda ws, rev: ws.split_lines(selected, who=WHO, base_rev=rev),
            key=f"split-{k}",
            message=f"split {len(selected)} lines off {gid}",
            expect=expect,
            disabled=none,
        )
        sess.button(
            c2,
            "Mark ambient",
            lambda ws, rev: ws.mark_ambient(selected, who=WHO, base_rev=rev),
            key=f"amb-lines-{k}",
            message=f"{len(selected)} lines marked ambient",
            expect=expect,
            disabled=none,
        )
        target = c3.selectbox(
            "Move to group",
            [o for o in options if o != gid],
            format_func=lambda o: f"{o} · {labels.get(o) or '(unnamed)'}",
            key=f"move-to-{k}",
        )
        sess.button(
            c3,
            "Move",
            lambda ws, rev: ws.move_lines(selected, target, who=WHO, base_rev=rev),
            key=f"move-{k}",
            message=f"moved {len(selected)} lines to {target}",
            expect={**expect, **sess.expect(lines, [target] if target else [])},
            disabled=none or target is None,
        )
        c4.text_input("Name lines as", key=f"as-{k}")
        sess.button(
            c4,
            "Name lines",
            lambda ws, rev: ws.name_lines(selected, _text(f"as-{k}"), who=WHO, base_rev=rev),
            key=f"name-lines-{k}",
            message=f"{len(selected)} lines named",
            expect=expect,
            disabled=none,
        )


def rename_form(sess: Session, names: list[str]) -> None:
    """Rename a character: the lines people named it get the new name; propagation follows."""
    old = st.selectbox("Rename character", names, key="ren-old")
    st.text_input("New name", key="ren-new")
    lines = sess.lines()
    ids = lines.loc[(lines["speaker"] == old) & (lines["state"] == "human"), "id"].tolist()
    sess.button(
        st,
        "Rename",
        lambda ws, rev: ws.name_lines(ids, _text("ren-new"), who=WHO, base_rev=rev, verb="rename"),
        key="ren-go",
        message=f"renamed {old!r} ({len(ids)} lines named by hand)",
        disabled=not ids,
    )
