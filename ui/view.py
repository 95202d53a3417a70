"""Read-only views of the workspace's lines for the browser's pages (pure pandas/numpy).

Nothing here decides anything about labels: it summarises what ``pipelines`` stored (group
sizes, how typical a line is of its group, progress counts) so the pages stay thin and these
summaries are tested without Streamlit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from grouping.vectors import normalize_rows
from pipelines.records import AMBIENT
from pipelines.wording import count

STATES = ("human", "propagated", "unnamed", "ambient")
"""How a line's speaker is known: named by hand, propagated by the machine, not yet, or ambient."""

_AUTO_CHARACTER = re.compile(r"^C\d+$|^Cs\d+$")


def label_state(df: pd.DataFrame) -> pd.Series:
    speaker = df["speaker"]
    state = np.where(
        speaker == AMBIENT,
        "ambient",
        np.where(
            (df["source"] == "human") & speaker.notna(),
            "human",
            np.where((df["source"] == "propagated") & speaker.notna(), "propagated", "unnamed"),
        ),
    )
    return pd.Series(state, index=df.index)


def enrich(df: pd.DataFrame, vectors: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Add ``state``, ``who`` (name or roster id) and ``sim`` (cosine to the group centroid).

    ``vectors`` maps episode id to that episode's voice vectors (one row per line ``idx``);
    lines without a vector get ``sim`` NaN.
    """
    df = df.copy()
    df["state"] = label_state(df)
    df["who"] = df["speaker"].where(df["speaker"].notna(), df["character"]).fillna("")
    df["confidence"] = pd.to_numeric(df["confidence"], errors="coerce")
    df["sim"] = np.nan
    if not vectors or df.empty:
        return df
    dims = {v.shape[1] for v in vectors.values() if v is not None and v.ndim == 2}
    if len(dims) != 1:
        return df
    X = np.zeros((len(df), dims.pop()), dtype=np.float32)
    have = np.zeros(len(df), dtype=bool)
    for ep, rows in df.groupby("episode_id").indices.items():
        V = vectors.get(ep)
        if V is None:
            continue
        idx = df["idx"].to_numpy()[rows]
        ok = idx < len(V)
        X[rows[ok]] = V[idx[ok]]
        have[rows[ok]] = True
    have &= np.any(X != 0, axis=1)
    X = normalize_rows(X)
    grouped = df["group_id"].notna().to_numpy() & have
    if grouped.any():
        codes, _ = pd.factorize(df["group_id"][grouped])
        sums = np.zeros((codes.max() + 1, X.shape[1]), dtype=np.float64)
        np.add.at(sums, codes, X[grouped])
        sums = normalize_rows(sums, dtype=None)
        sim = np.einsum("ij,ij->i", X[grouped], sums[codes])
        df.loc[grouped, "sim"] = sim
    return df


def is_placeholder(name: str) -> bool:
    """The machine's id for a roster entry nobody has named yet (C007), not a name."""
    return bool(_AUTO_CHARACTER.match(name or ""))


def _character_name(character: str) -> str:
    return "" if is_placeholder(character) else (character or "")


def group_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per group: size, label counts, confidence, cohesion and a suggested name."""
    g = df[df["group_id"].notna()]
    cols = [
        "group_id",
        "episode_id",
        "character",
        "size",
        "human",
        "propagated",
        "unnamed",
        "ambient",
        "confidence",
        "cohesion",
        "suggested",
        "needs_review",
        "anchor",
        "start",
    ]
    if g.empty:
        return pd.DataFrame(columns=cols)
    counts = pd.crosstab(g["group_id"], g["state"]).reindex(columns=list(STATES), fill_value=0)
    agg = g.groupby("group_id").agg(
        episode_id=("episode_id", "first"),
        character=("character", "first"),
        size=("id", "size"),
        confidence=("confidence", "mean"),
        cohesion=("sim", "mean"),
        anchor=("id", "first"),
        start=("start", "min"),
    )
    out = agg.join(counts)
    named_speakers = g.loc[
        g["speaker"].notna() & (g["speaker"] != AMBIENT), ["group_id", "speaker"]
    ]
    mode = named_speakers.groupby("group_id")["speaker"].agg(lambda s: s.mode().iloc[0])
    out["suggested"] = [
        mode.get(gid) or _character_name(ch)
        for gid, ch in zip(out.index, out["character"], strict=True)
    ]
    out["needs_review"] = out["human"] == 0
    return out.reset_index()[cols]


def title(group: Mapping[str, object]) -> str:
    """A group's name as a card or page heading shows it: "~Alice" while the name is only the
    machine's guess (nobody named the group's character), as ``castlist status`` writes it;
    "(unnamed)" without one."""
    name = str(group.get("suggested") or "")
    if not name:
        return "(unnamed)"
    guess = is_placeholder(str(group.get("character") or "")) and not group.get("human")
    return f"~{name}" if guess else name


def first_group(groups: pd.DataFrame) -> str | None:
    """The group a person most likely wants to open: the biggest one nobody named yet (by
    hand or by propagation), else the biggest; None without groups."""
    if groups.empty:
        return None
    unnamed = groups[groups["suggested"].fillna("") == ""]
    pool = unnamed if len(unnamed) else groups
    return str(pool.sort_values(["size", "group_id"], ascending=[False, True])["group_id"].iloc[0])


def representatives(lines: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` lines most like their group (highest ``sim``), longest first on ties."""
    dur = lines["end"] - lines["start"]
    order = lines.assign(_d=dur).sort_values(["sim", "_d"], ascending=[False, False])
    return order.head(k).drop(columns="_d")


def least_similar(lines: pd.DataFrame, k: int) -> list[str]:
    """Ids of the ``k`` lines least like the rest of their group (lowest ``sim``)."""
    if k <= 0 or lines["sim"].isna().all():
        return []
    return lines.sort_values("sim").head(k)["id"].tolist()


def progress(df: pd.DataFrame) -> dict[str, int]:
    counts = df["state"].value_counts() if "state" in df else label_state(df).value_counts()
    return {s: int(counts.get(s, 0)) for s in STATES}


def roster(df: pd.DataFrame) -> pd.DataFrame:
    """Every name people gave or the machine propagated, with its line counts."""
    named = df[df["speaker"].notna() & (df["speaker"] != AMBIENT)]
    if named.empty:
        return pd.DataFrame(columns=["name", "lines", "human", "propagated", "episodes"])
    out = named.groupby("speaker").agg(
        lines=("id", "size"),
        human=("state", lambda s: int((s == "human").sum())),
        propagated=("state", lambda s: int((s == "propagated").sum())),
        episodes=("episode_id", "nunique"),
    )
    return out.sort_values("lines", ascending=False).rename_axis("name").reset_index()


def episode_table(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=["episode", "lines", *STATES, "groups"])
    counts = pd.crosstab(df["episode_id"], df["state"]).reindex(columns=list(STATES), fill_value=0)
    counts.insert(0, "lines", counts.sum(axis=1))
    counts["groups"] = df.groupby("episode_id")["group_id"].nunique()
    return counts.rename_axis("episode").reset_index()


def filter_lines(
    df: pd.DataFrame,
    episodes: Iterable[str] = (),
    characters: Iterable[str] = (),
    states: Iterable[str] = (),
    confidence: tuple[float, float] = (0.0, 1.0),
    text: str = "",
) -> pd.DataFrame:
    """Lines matching every filter given (empty filter: no restriction)."""
    keep = np.ones(len(df), dtype=bool)
    episodes, characters, states = list(episodes), list(characters), list(states)
    if episodes:
        keep &= df["episode_id"].isin(episodes).to_numpy()
    if characters:
        keep &= df["who"].isin(characters).to_numpy()
    if states:
        keep &= df["state"].isin(states).to_numpy()
    lo, hi = confidence
    if lo > 0.0 or hi < 1.0:
        conf = df["confidence"].fillna(0.0).to_numpy()
        keep &= (conf >= lo) & (conf <= hi)
    if text.strip():
        keep &= df["text"].str.contains(text.strip(), case=False, regex=False, na=False).to_numpy()
    return df[keep]


def pca2(X: np.ndarray) -> np.ndarray:
    """Two principal components (rows centred); zeros when there are fewer than two rows."""
    if len(X) < 2:
        return np.zeros((len(X), 2))
    Xc = X - X.mean(axis=0, keepdims=True)
    # eigenvectors of the small d x d covariance: no n x d SVD, fast for 10,000 lines
    _, vecs = np.linalg.eigh(Xc.T @ Xc)
    out = Xc @ vecs[:, ::-1][:, :2]
    return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))


def n_lines(n: int) -> str:
    """ "1 line", "12 lines": the count as the cards and questions say it."""
    return count(n, "line")
