"""The browser's read-only summaries, on hand-made frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.records import AMBIENT
from pipelines.wording import action_sentence
from ui import view


def _frame() -> pd.DataFrame:
    rows = [
        # id, ep, idx, group, character, speaker, source, confidence, text
        ("e-0", "e", 0, "e-g0", "C000", "Ann", "human", 1.0, "hello"),
        ("e-1", "e", 1, "e-g0", "C000", "Ann", "propagated", 0.8, "hi there"),
        ("e-2", "e", 2, "e-g0", "C000", None, "cluster", 0.4, "odd one"),
        ("e-3", "e", 3, "e-g1", "C001", None, "cluster", 0.3, "who am I"),
        ("e-4", "e", 4, None, None, AMBIENT, "human", 1.0, "crowd noise"),
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "id",
            "episode_id",
            "idx",
            "group_id",
            "character",
            "speaker",
            "source",
            "confidence",
            "text",
        ],
    )
    return df.assign(start=df["idx"] * 2.0, end=df["idx"] * 2.0 + 1.5, lock=None)


def test_enrich_states_and_similarity() -> None:
    V = np.array([[1, 0], [0.9, 0.1], [-1, 0.2], [0, 1], [0, 0]], dtype=np.float32)
    df = view.enrich(_frame(), {"e": V})
    assert df["state"].tolist() == ["human", "propagated", "unnamed", "unnamed", "ambient"]
    assert df["who"].tolist()[:4] == ["Ann", "Ann", "C000", "C001"]
    sim = df.set_index("id")["sim"]
    assert sim["e-2"] < sim["e-0"] and sim["e-2"] < sim["e-1"]
    assert np.isclose(sim["e-3"], 1.0) and np.isnan(sim["e-4"])
    group = df[df["group_id"] == "e-g0"]
    assert view.least_similar(group, 1) == ["e-2"]
    assert set(view.representatives(group, 2)["id"]) == {"e-0", "e-1"}


def test_summary_progress_roster_filters() -> None:
    df = view.enrich(_frame())
    g = view.group_summary(df).set_index("group_id")
    assert g.at["e-g0", "size"] == 3 and g.at["e-g0", "suggested"] == "Ann"
    assert not g.at["e-g0", "needs_review"] and g.at["e-g1", "needs_review"]
    assert g.at["e-g1", "suggested"] == ""  # C001 is a placeholder, not a name
    assert view.progress(df) == {"human": 1, "propagated": 1, "unnamed": 2, "ambient": 1}
    r = view.roster(df).set_index("name")
    assert r.at["Ann", "lines"] == 2 and r.at["Ann", "human"] == 1
    assert AMBIENT not in r.index
    assert view.filter_lines(df, text="THERE")["id"].tolist() == ["e-1"]
    assert view.filter_lines(df, states=["unnamed"], confidence=(0.35, 1.0))["id"].tolist() == [
        "e-2"
    ]
    assert view.filter_lines(df, characters=["C001"])["id"].tolist() == ["e-3"]


def test_pca2_keeps_the_main_axes() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)) * np.array([5, 3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    P = view.pca2(X)
    assert P.shape == (300, 2)
    assert np.allclose(np.abs(np.corrcoef(P[:, 0], X[:, 0])[0, 1]), 1, atol=0.01)
    assert view.pca2(X[:1]).shape == (1, 2)


def test_counts_and_actions_read_as_words():
    assert view.n_lines(1) == "1 line" and view.n_lines(12) == "12 lines"
    assert action_sentence("name", {"lines": ["e-1"], "name": "Kyon"}) == "named 1 line Kyon (e-1)"
    assert (
        action_sentence("name", {"lines": ["a", "b", "c", "d"], "name": "Kyon"})
        == "named 4 lines Kyon (a, b, c and 1 more)"
    )
    assert action_sentence("name_group", {"group": "ep01-g3", "name": "Haruhi"}) == (
        "named group ep01-g3 Haruhi"
    )
    assert action_sentence("separate", {"groups": ["a", "b"]}) == (
        "said groups a and b are different characters"
    )
    assert action_sentence("move", {"lines": ["x"], "group": None}) == (
        "moved 1 line into a new group (x)"
    )
    assert action_sentence("undo", {"action": 7}) == "undid action #7"
    assert action_sentence("frobnicate", {"k": [1, 2]}) == "frobnicate: k 1, 2"


def test_first_group_is_the_biggest_unnamed():
    groups = pd.DataFrame(
        {"group_id": ["a", "b", "c"], "size": [9, 5, 7], "suggested": ["Ann", "", ""]}
    )
    assert view.first_group(groups) == "c"
    assert view.first_group(groups.assign(suggested="Ann")) == "a"
    assert view.first_group(groups.iloc[:0]) is None
