"""The cluster map (voice vectors in 2-D) and, with ground truth, a confusion table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pipelines.errors import CastlistError
from ui.state import Session

MAX_POINTS = 4000


REFUSED = (
    "Only a file uploaded here or a file inside the workspace folder can be read as ground "
    "truth: upload it, or copy it into the workspace."
)
"""The one answer for any path outside the workspace: it says nothing about that path (not
whether it exists, nor what it holds), so the box cannot be used to probe the server."""


class TruthRefused(Exception):
    """A typed ground-truth path the browser will not read (outside the workspace)."""


def truth_file_in_workspace(root: str | Path, typed: str) -> Path:
    """``typed`` (relative to the workspace, or absolute) as a regular file inside the
    workspace folder, symlinks resolved; :class:`TruthRefused` for anything else."""
    base = Path(root).resolve()
    path = (base / Path(typed).expanduser()).resolve()
    if base not in path.parents:
        raise TruthRefused(REFUSED)
    if not path.is_file():
        raise TruthRefused(f"No file {typed!r} inside the workspace folder.")
    return path


def truth_source(root: str | Path) -> tuple[str, bytes] | None:
    """(name, content) of the ground truth the user gave: the uploaded file first, else a typed
    path inside the workspace; None when neither was given."""
    upload = st.session_state.get("truth_file")
    if upload is not None:
        return upload.name, upload.getvalue()
    typed = (st.session_state.get("truth_path") or "").strip()
    if not typed:
        return None
    path = truth_file_in_workspace(root, typed)
    return path.name, path.read_bytes()


@st.cache_data(max_entries=4, show_spinner=False)
def _truth_tables(
    root: str, rev: int, version: tuple, name: str, data: bytes
) -> tuple[pd.DataFrame, dict[str, float]]:
    import tempfile

    from pipelines.export.evaluate import align, evaluate, read_truth
    from pipelines.store.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(name).name or "truth.csv")
        path.write_bytes(data)
        try:
            truth = read_truth(path)
        except CastlistError as exc:
            raise CastlistError(str(exc).replace(str(path), name)) from exc
    with Workspace.open(root) as ws:
        df = align(ws, truth)
        scores = evaluate(ws, truth)
    who = df["speaker"].where(df["speaker"].notna(), df["character"]).fillna("(none)")
    table = pd.crosstab(who.rename("castlist"), df["truth"].astype(str).rename("truth"))
    return table, scores


def map_page(sess: Session, filtered: pd.DataFrame) -> None:
    st.header("Cluster map")
    pts = filtered[filtered["group_id"].notna()]
    if len(pts) > MAX_POINTS:
        pts = pts.sample(MAX_POINTS, random_state=0).sort_index()
        st.caption(f"a random {MAX_POINTS} of the {len(filtered)} lines that match the filters")
    if pts.empty:
        st.info("No grouped lines match the filters.")
    else:
        xy = sess.map_points(pts["id"].tolist())
        if len(xy) != len(pts):
            st.info("No voice vectors stored yet: run `castlist run WS`.")
        else:
            colour = st.radio("Colour by", ["character", "group"], horizontal=True, key="map_by")
            data = pd.DataFrame(
                {
                    "x": xy[:, 0],
                    "y": xy[:, 1],
                    "colour": pts["who"] if colour == "character" else pts["group_id"],
                    "line": pts["id"].to_numpy(),
                }
            )
            st.scatter_chart(data, x="x", y="y", color="colour", height=520)
            st.caption(
                "2-D PCA of the lines' voice vectors: a character split in two shows as "
                "one colour in two places, a polluted group as mixed colours."
            )
    truth_table(sess)


def truth_table(sess: Session) -> None:
    try:
        given = truth_source(sess.root)
    except TruthRefused as exc:
        st.error(str(exc))
        return
    except OSError:
        st.error("Cannot read that file inside the workspace folder.")
        return
    if given is None:
        st.caption(
            "Upload a ground-truth CSV in the sidebar (or give its path inside the workspace) "
            "to see a confusion table."
        )
        return
    try:
        table, scores = _truth_tables(sess.root, sess.rev, sess.version, *given)
    except (CastlistError, OSError, ValueError) as exc:
        st.error(f"Cannot use the truth file: {exc}")
        return
    st.subheader("Confusion: castlist (rows) vs truth (columns)")
    cols = st.columns(4)
    cols[0].metric("edge F1", f"{scores['edge_f1']:.3f}")
    cols[1].metric("B-cubed F1", f"{scores['bcubed_f1']:.3f}")
    cols[2].metric("ops / 100 lines", f"{scores['ops_per_100']:.1f}")
    cols[3].metric("named correctly", f"{scores['name_accuracy']:.1%}")
    st.dataframe(table.loc[table.sum(axis=1).sort_values(ascending=False).index[:40]])
    if len(table):
        purity = table.max(axis=1).sum() / max(1, int(np.asarray(table).sum()))
        st.caption(f"purity of castlist's characters: {purity:.1%}")
