"""The grouping stage on a workspace: every human decision survives every re-run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from grouping.vectors import normalize_rows
from pipelines.records import AMBIENT
from pipelines.stages.run import regroup

SPEAKERS = [0, 1, 2, 0, 1, 2, 0, 1, 0, 2, 1, 0, 3, 0, 1, 2, 0, 1, 2, 0]


def _groups(ws):
    return {ln.id: ln.group for ln in ws.lines()}


def test_unsupervised_groups_follow_the_planted_speakers(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    for s in set(SPEAKERS):
        members = {g for g, t in zip(groups, SPEAKERS, strict=False) if t == s}
        assert len(members) == 1, f"speaker {s} split over {members}"
    assert len(set(groups)) == len(set(SPEAKERS))


def test_hand_names_propagate_and_survive_reruns(make_ws):
    ws = make_ws([SPEAKERS, SPEAKERS[::-1]])
    regroup(ws)
    lines = ws.lines()
    first = {
        s: next(ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == s) for s in (0, 1, 2)
    }
    for s, lid in first.items():
        ws.name_lines([lid], f"char{s}")
    regroup(ws)
    regroup(ws)
    lines = ws.lines()
    truth = SPEAKERS + SPEAKERS[::-1]
    for ln, t in zip(lines, truth, strict=False):
        if ln.id in first.values():
            assert ln.label_source == "human"
        if t in (0, 1, 2):
            assert ln.speaker == f"char{t}", (ln.id, ln.speaker, t)
            assert ln.label_source in ("human", "propagated")
    assert ws.human_labels() == {lid: f"char{s}" for s, lid in first.items()}


def test_split_lines_never_rejoin_their_old_group(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    zero = [ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0]
    ws.split_lines(zero[:2])  # a person insists these two are someone else
    for _ in range(2):
        regroup(ws)
        groups = _groups(ws)
        assert groups[zero[0]] == groups[zero[1]]
        assert not {groups[z] for z in zero[2:]} & {groups[zero[0]]}


def test_merge_keeps_groups_together_across_reruns(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    g0 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0)
    g1 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 1)
    ws.merge_groups([g0, g1])
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    merged = {g for g, t in zip(groups, SPEAKERS, strict=False) if t in (0, 1)}
    assert len(merged) == 1
    ws.actions.undo()
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    assert {g for g, t in zip(groups, SPEAKERS, strict=False) if t == 0}.isdisjoint(
        {g for g, t in zip(groups, SPEAKERS, strict=False) if t == 1}
    )


def test_ambient_lines_leave_the_groups_and_keep_their_mark(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    odd = ws.lines()[12].id  # the one-off speaker 3
    ws.mark_ambient([odd])
    regroup(ws)
    line = ws.line(odd)
    assert (line.speaker, line.label_source) == (AMBIENT, "human")
    assert line.group is None


def test_moved_line_takes_the_name_of_its_new_group(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    g2 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 2)
    ws.name_group(g2, "Yuki")
    stray = next(ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0)
    ws.move_lines([stray], g2)
    regroup(ws)
    assert ws.line(stray).speaker == "Yuki"
    assert ws.line(stray).group == ws.lines()[2].group  # line 2 is speaker 2
    assert np.all(
        [ws.human_labels()[lid] == "Yuki" for lid in ws.group_lines(ws.line(stray).group)]
    )


def test_separated_groups_never_merge_even_when_linking_wants_to(make_ws):
    ws = make_ws([SPEAKERS, SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    n = len(SPEAKERS)
    g_a, g_b = lines[0].group, lines[n].group  # speaker 0 in episode 1 and in episode 2
    assert ws.line(lines[0].id).group != ws.line(lines[n].id).group
    chars = {ln.id: ln for ln in lines}
    ws.separate_groups(g_a, g_b)
    regroup(ws)
    df = ws.lines_frame().set_index("id")
    assert df.loc[lines[0].id, "character"] != df.loc[lines[n].id, "character"]
    assert chars  # season linking had joined them before (same planted voice)


# ---------------------------------------------------------------- confidence, contradictions


def test_learned_confidence_is_used_when_line_features_exist(make_ws):
    from grouping.confidence import default_confidence
    from pipelines.io.vectorfiles import LINEFEAT

    if default_confidence() is None:
        import pytest

        pytest.skip("no shipped confidence model")
    ws = make_ws([SPEAKERS])
    regroup(ws)
    plain = ws.lines_frame()["reliability"].to_numpy()
    ep = ws.episodes()[0].id
    n = len(SPEAKERS)
    feats = np.column_stack([np.full(n, 1.6), np.full(n, -25.0), np.full(n, 0.9)])
    ws.vectors.save(ep, *LINEFEAT, feats.astype(np.float32))
    regroup(ws)
    learned = ws.lines_frame()["reliability"].to_numpy()
    assert np.all((learned >= 0) & (learned <= 1))
    assert not np.allclose(plain, learned)  # the model, not the duration curve


def test_heuristic_fallback_without_model(make_ws):
    from grouping.confidence import heuristic_reliability
    from pipelines.stages.season import group_season

    ws = make_ws([SPEAKERS])
    group_season(ws, ws.get_meta("voice_model"), confidence=None)
    rel = ws.lines_frame()["reliability"].to_numpy()
    assert np.allclose(rel, heuristic_reliability(np.full(len(SPEAKERS), 1.6)))


def test_contradicting_decisions_do_not_break_regroup(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    g0 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0)
    g1 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 1)
    ws.merge_groups([g0, g1])  # wrong merge: locks both speakers together
    regroup(ws)
    one = next(ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == 1)
    zero = next(ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0)
    ws.name_lines([zero], "Ann")
    ws.name_lines([one], "Ben")  # the finer, newer decision
    regroup(ws)
    assert ws.line(one).group != ws.line(zero).group
    assert ws.human_labels() == {zero: "Ann", one: "Ben"}


def test_overlapping_lines_named_alike_may_share_a_group(make_ws):
    from pipelines.stages.season import episode_constraints

    ws = make_ws([SPEAKERS])
    df = ws.lines_frame(speech_only=True)
    df.loc[1, ["start", "end"]] = [df.loc[0, "start"], df.loc[0, "end"]]  # one line in 2 events
    ids = df["id"].tolist()
    cons = episode_constraints(df, {ids[0]: "Ann", ids[1]: "Ann"}, {}, [])
    cons.check(len(df))  # no must-link/cannot-link conflict left
    plain = episode_constraints(df, {}, {}, [])
    assert len(plain.cannot_link) == 1 and len(cons.cannot_link) == 0


def test_one_label_per_character_names_nearly_every_line(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    for s in set(SPEAKERS):
        ws.name_lines(
            [next(ln.id for ln, t in zip(lines, SPEAKERS, strict=False) if t == s)], f"c{s}"
        )
    regroup(ws)
    named = [ln.speaker == f"c{t}" for ln, t in zip(ws.lines(), SPEAKERS, strict=False)]
    assert np.mean(named) >= 0.95


def test_refine_with_labels_only_recalibrates():
    from grouping.confidence import LineConfidence
    from pipelines.stages.season import refine_with_labels

    rng = np.random.default_rng(0)
    n = 120
    F = rng.normal(size=(n, 3))
    y_rel = (F[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)
    base = LineConfidence().fit(F, y_rel, ["a", "b", "c"])
    X = rng.normal(size=(n, 8))
    y = rng.integers(0, 3, n)
    refined = refine_with_labels(base, F, ["a", "b", "c"], X, y)
    # direction of the weights is kept (Platt scaling: one slope, one offset)
    ratio = refined.coef_ / base.coef_
    assert np.allclose(ratio, ratio[0])
    few = refine_with_labels(base, F[:10], ["a", "b", "c"], X[:10], y[:10])
    assert few is base


def test_weak_voice_evidence_names_every_line_from_the_named_means(make_ws):
    """Acted-like vectors (one character ~0.48, two ~0.36): the read-speech propagator abstains
    on nearly every line; on weak evidence each line takes its nearest named character."""
    from grouping.propagate import NamePropagator
    from pipelines.io.audio import SEPARATE_META_KEY
    from pipelines.stages.run import status
    from pipelines.stages.season import (
        VOICE_EVIDENCE,
        group_season,
        voice_evidence_line,
        weak_season,
    )
    from tests.grouping.test_propagate import acted_like
    from tests.pipelines.conftest import MODEL

    X, truth = acted_like(n_chars=5, per=16, dim=32, seed=4, noise=1.0, common_share=0.8)
    order = np.random.default_rng(0).permutation(len(truth))
    X, truth = X[order].astype(np.float32), truth[order]
    ws, human = _three_named_per_character(make_ws, X, truth)
    ep = ws.episodes()[0]

    def right() -> tuple[float, float]:
        rows = [(ln.speaker, t) for ln, t in zip(ws.lines(), truth, strict=True)]
        rows = [r for r, ln in zip(rows, ws.lines(), strict=True) if ln.id not in human]
        named = np.mean([s is not None for s, _ in rows])
        return float(np.mean([s == f"c{t}" for s, t in rows])), float(named)

    group_season(ws, MODEL, propagator=NamePropagator())  # the read-speech settings
    knn_right, knn_named = right()
    regroup(ws)
    assert voice_evidence_line(ws) is not None
    assert "--separate gaps" in status(ws)  # the lever that needs no weights
    ws.set_meta(SEPARATE_META_KEY, "gaps")
    assert "--separate gaps" not in status(ws)  # already on
    ws.set_meta(SEPARATE_META_KEY, "")
    # the verdict read before the label projection is kept for the next regroup
    stored = json.loads(ws.get_meta(VOICE_EVIDENCE))["per_episode"][ep.id]
    assert stored["raw_voice_evidence"] == "weak" and stored["model"] == MODEL
    weak_right, weak_named = right()
    assert weak_named == 1.0 and knn_named < 0.5
    # measured 0.31 -> 0.40 (the read-speech settings name the lines that built a hand-named
    # group since they are anchored; before that 0.26)
    assert weak_right > knn_right + 0.05
    assert weak_season({"a": {"voice_evidence": "weak"}, "b": {}}, {"a": 3, "b": 2})
    assert not weak_season({"a": {"voice_evidence": "weak"}, "b": {}}, {"a": 2, "b": 2})


def _three_named_per_character(make_ws, X, truth):
    """A one-episode workspace over vectors ``X``, grouped, with the first 3 lines of each
    character named by hand: (workspace, ids of the hand-named lines)."""
    from tests.pipelines.conftest import MODEL

    ws = make_ws([list(truth)])
    ws.vectors.save(ws.episodes()[0].id, "voice", MODEL, X)
    regroup(ws)
    lines = ws.lines()
    for c in np.unique(truth):
        ids = [ln.id for ln, t in zip(lines, truth, strict=True) if t == c][:3]
        ws.name_lines(ids, f"c{c}")
    return ws, set(ws.human_labels())


def test_weak_voice_evidence_leans_on_the_turn_taking(make_ws):
    """Dialogue-like order (a character speaks 2-4 lines in a row, 2 s apart): on weak voice
    evidence the neighbours' names count, so more lines are named right than by the voice
    alone (acted benchmark, 3 labels per character: +0.06-0.09)."""
    from grouping.propagate import NamePropagator
    from pipelines.stages.season import WEAK_PROPAGATION, group_season
    from tests.grouping.test_propagate import acted_like
    from tests.pipelines.conftest import MODEL

    X, truth = acted_like(n_chars=5, per=16, dim=32, seed=5, noise=1.0, common_share=0.8)
    rng = np.random.default_rng(1)
    pools = {c: list(np.flatnonzero(truth == c)) for c in range(5)}
    order: list[int] = []
    while any(pools.values()):
        c = int(rng.choice([k for k, v in pools.items() if v]))
        take = int(rng.integers(2, 5))
        order += pools[c][:take]
        pools[c] = pools[c][take:]
    X, truth = X[order].astype(np.float32), truth[order]
    ws, human = _three_named_per_character(make_ws, X, truth)

    def right() -> float:
        pairs = [(ln.speaker, t) for ln, t in zip(ws.lines(), truth, strict=True)]
        keep = [ln.id not in human for ln in ws.lines()]
        return float(np.mean([s == f"c{t}" for (s, t), k in zip(pairs, keep, strict=True) if k]))

    group_season(ws, MODEL, propagator=NamePropagator(**WEAK_PROPAGATION))  # the voice alone
    voice_only = right()
    regroup(ws)
    assert right() > voice_only + 0.05


ACTED = Path(
    os.environ.get("CASTLIST_ACTED_BENCH", Path(__file__).parents[2] / "bench-out" / "acted")
)


@pytest.mark.skipif(
    not (ACTED / "mixed8_snr15" / "DONE").is_file(),
    reason="needs the acted benchmark's episodes (../shared/data/acted_voices): python "
    "benchmarks/bench_acted.py --work bench-out/acted --models campplus",
)
def test_acted_voices_named_from_one_line_each_beat_a_centroid_classifier(tmp_path):
    """Issue 10 on real vectors: CAM++ vectors of an acted pseudo-episode (8 voices, VTubers
    and game characters, music at 15 dB; built by ``benchmarks/bench_acted.py``, not shipped:
    the voices are copyrighted). A person names the first line of each voice; castlist names
    the other lines right clearly more often than a nearest-centroid classifier built from the
    same labels on the same vectors (before the episode's mean was removed and the softmax
    widened: 0.26 against the classifier's 0.30)."""
    from benchmarks.bench_review import acted_episodes

    ws, truth = next(
        (w, t) for name, w, t in acted_episodes(ACTED, tmp_path) if name == "mixed8_snr15"
    )
    regroup(ws)
    df = ws.lines_frame(speech_only=True).sort_values("start").reset_index(drop=True)
    df["truth"] = df["id"].map(truth)
    first = df.drop_duplicates("truth")
    for r in first.itertuples():
        ws.name_lines([r.id], r.truth, who="test")
    regroup(ws)
    named = ws.lines_frame(speech_only=True).set_index("id")["speaker"]
    other = ~df["id"].isin(first["id"]).to_numpy()
    truth = df["truth"].to_numpy()[other]
    castlist = float(np.mean(named.loc[df["id"][other]].to_numpy() == truth))
    (episode,) = df["episode_id"].unique()
    X = normalize_rows(ws.vectors.load(episode, "voice", ws.get_meta("voice_model")))
    X = X[df["idx"].to_numpy()]
    nearest = (X @ X[first.index.to_numpy()].T).argmax(1)
    centroid = float(np.mean(first["truth"].to_numpy()[nearest][other] == truth))
    assert castlist >= centroid + 0.05, (castlist, centroid)


def _second_line_of_last_voice(speakers: list[int]) -> int:
    return [k for k, s in enumerate(speakers) if s == speakers[-1]][1]


def test_one_answer_re_draws_fewer_weak_guesses_than_without_holding(tmp_path, monkeypatch):
    """On weak voice evidence a hand label used to re-draw the names of lines it says nothing
    about (flat probabilities, so every regroup reshuffled them): the guesses hold their names
    unless another name is clearly more probable (grouping.propagate.hold_guesses)."""
    import pipelines.stages.season as season
    from tests.pipelines.conftest import weak_workspace

    def flips(root: Path, seed: int) -> int:
        ws, speakers = weak_workspace(root, seed=seed)
        lines = ws.lines()
        hand = set(ws.human_labels())
        i = _second_line_of_last_voice(speakers)
        before = {ln.id: ln.speaker for ln in lines}
        ws.name_lines([lines[i].id], f"s{speakers[i]}")
        regroup(ws)
        after = {ln.id: ln.speaker for ln in ws.lines()}
        ws.close()
        return sum(before[k] != after[k] for k in before if k not in hand and k != lines[i].id)

    held = sum(flips(tmp_path / f"held{s}", s) for s in (3, 4, 5))
    real = season.hold_guesses
    monkeypatch.setattr(season, "hold_guesses", lambda *a, **k: real(*a, **k, hold=0.0))
    free = sum(flips(tmp_path / f"free{s}", s) for s in (3, 4, 5))
    assert held < free, (held, free)


def test_undo_and_redo_bring_back_a_weak_season_s_guesses_exactly(tmp_path):
    """Guesses hold the names the season had, so the names depend on the way there; an undo
    (and a redo) must still give back exactly the names of the state it returns to."""
    from tests.pipelines.conftest import weak_workspace

    def names(ws) -> dict:
        return {ln.id: (ln.speaker, ln.confidence) for ln in ws.lines()}

    changed = 0
    for seed in (3, 4, 5):
        ws, speakers = weak_workspace(tmp_path / str(seed), seed=seed)
        lines = ws.lines()
        before = names(ws)
        i = _second_line_of_last_voice(speakers)
        ws.name_lines([lines[i].id], f"s{speakers[(i * 7) % len(speakers)]}")
        regroup(ws)
        done = names(ws)
        changed += sum(before[k] != done[k] for k in before)
        ws.actions.undo()
        regroup(ws)
        assert names(ws) == before
        ws.actions.redo()
        regroup(ws)
        assert names(ws) == done
        regroup(ws)  # a rerun changes nothing
        assert names(ws) == done
        ws.close()
    assert changed > 3  # the answers did move names, so the undo had something to restore
