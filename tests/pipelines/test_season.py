"""The grouping stage on a workspace: every human decision survives every re-run."""

from __future__ import annotations

import numpy as np

from pipelines.records import AMBIENT
from pipelines.run import regroup

SPEAKERS = [0, 1, 2, 0, 1, 2, 0, 1, 0, 2, 1, 0, 3, 0, 1, 2, 0, 1, 2, 0]


def _groups(ws):
    return {ln.id: ln.group for ln in ws.lines()}


def test_unsupervised_groups_follow_the_planted_speakers(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    for s in set(SPEAKERS):
        members = {g for g, t in zip(groups, SPEAKERS) if t == s}
        assert len(members) == 1, f"speaker {s} split over {members}"
    assert len(set(groups)) == len(set(SPEAKERS))


def test_hand_names_propagate_and_survive_reruns(make_ws):
    ws = make_ws([SPEAKERS, SPEAKERS[::-1]])
    regroup(ws)
    lines = ws.lines()
    first = {s: next(ln.id for ln, t in zip(lines, SPEAKERS) if t == s) for s in (0, 1, 2)}
    for s, lid in first.items():
        ws.name_lines([lid], f"char{s}")
    regroup(ws)
    regroup(ws)
    lines = ws.lines()
    truth = SPEAKERS + SPEAKERS[::-1]
    for ln, t in zip(lines, truth):
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
    zero = [ln.id for ln, t in zip(lines, SPEAKERS) if t == 0]
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
    g0 = next(ln.group for ln, t in zip(lines, SPEAKERS) if t == 0)
    g1 = next(ln.group for ln, t in zip(lines, SPEAKERS) if t == 1)
    ws.merge_groups([g0, g1])
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    merged = {g for g, t in zip(groups, SPEAKERS) if t in (0, 1)}
    assert len(merged) == 1
    ws.undo()
    regroup(ws)
    groups = [ln.group for ln in ws.lines()]
    assert {g for g, t in zip(groups, SPEAKERS) if t == 0}.isdisjoint(
        {g for g, t in zip(groups, SPEAKERS) if t == 1}
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
    g2 = next(ln.group for ln, t in zip(lines, SPEAKERS) if t == 2)
    ws.name_group(g2, "Yuki")
    stray = next(ln.id for ln, t in zip(lines, SPEAKERS) if t == 0)
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
