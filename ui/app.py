"""castlist's cluster browser: ``castlist ui WS`` runs ``streamlit run ui/app.py -- WS``.

One script, pages chosen in the sidebar. Each render opens the workspace, reads cached rows
keyed on its revision, draws one page, and closes it; every edit goes through the workspace's
actions (logged, undoable, refused when the page was stale) and re-propagates names at once.
"""

from __future__ import annotations

import hmac
import os
import sys
from pathlib import Path

try:
    import ui  # noqa: F401
except ImportError:  # run as a plain script from a checkout without `pip install -e`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from pipelines.cli import UI_PASSWORD_ENV as PASSWORD_ENV
from pipelines.errors import CastlistError
from pipelines.store.workspace import Workspace
from ui import view
from ui.groups import group_page, groups_page
from ui.history import history_page, redo_button, undo_button
from ui.map import map_page
from ui.overview import overview_page
from ui.review_page import review_page
from ui.state import Session, show_flash, workspace_root

PAGES = ("Overview", "Groups", "Group", "Review", "Map", "History")


def sidebar(sess: Session, lines):
    with st.sidebar:
        st.title("castlist")
        st.caption(f"{sess.root} · revision #{sess.rev}")
        st.radio("Page", PAGES, key="page")
        c1, c2 = st.columns(2)
        undo_button(sess, c1)
        redo_button(sess, c2)
        st.subheader("Filters")
        episodes = st.multiselect("Episode", sorted(lines["episode_id"].unique()), key="f_ep")
        who = sorted({w for w in lines["who"].unique() if w})
        characters = st.multiselect("Character", who, key="f_who")
        states = st.multiselect("Label source", list(view.STATES), key="f_state")
        conf = st.slider("Confidence", 0.0, 1.0, (0.0, 1.0), 0.05, key="f_conf")
        text = st.text_input("Text search", key="f_text")
        st.toggle("Play clips", value=True, key="play_clips")
        st.file_uploader(
            "Ground-truth CSV/JSONL (optional)", type=["csv", "jsonl"], key="truth_file"
        )
        st.text_input("…or its path inside the workspace folder", key="truth_path")
    return view.filter_lines(lines, episodes, characters, states, conf, text)


def password_gate() -> bool:
    """True when the browser may be used: no password set, or this session gave it.

    Streamlit has no login of its own. ``castlist ui --password`` (or CASTLIST_UI_PASSWORD)
    hands the password to this process through its environment, never its command line
    (which every local user can read); it is compared in constant time."""
    expected = os.environ.get(PASSWORD_ENV, "")
    if not expected or st.session_state.get("_castlist_auth"):
        return True
    st.title("castlist")
    with st.form("castlist_login"):
        given = st.text_input("Password", type="password", key="_castlist_password")
        sent = st.form_submit_button("Open")
    if sent:
        if hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            st.session_state["_castlist_auth"] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def main() -> None:
    st.set_page_config(page_title="castlist", layout="wide")
    if not password_gate():
        st.stop()
    root = workspace_root()
    if root is None:
        st.error("No workspace given: start the browser with `castlist ui WORKSPACE`.")
        st.stop()
    try:
        ws = Workspace.open(root)
    except CastlistError as exc:
        st.error(str(exc))
        st.stop()
    try:
        sess = Session(ws)
        st.session_state.setdefault("page", "Overview")
        lines = sess.lines()
        filtered = sidebar(sess, lines)
        show_flash()
        page = st.session_state["page"]
        if page == "Overview":
            overview_page(sess, filtered)
        elif page == "Groups":
            groups_page(sess, lines, filtered)
        elif page == "Group":
            group_page(sess, lines)
        elif page == "Review":
            review_page(sess, lines)
        elif page == "Map":
            map_page(sess, filtered)
        else:
            history_page(sess)
    finally:
        ws.close()


main()
