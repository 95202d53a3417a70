"""Issue 9, items 2 and 3: undo/redo as in every editor.

Undo restores exactly the human state before the action (hand labels, locks and the
cannot-links that earlier actions made); redo brings back the action undone last; a new action
ends the redo chain. The property test runs random sequences of every action, undo, redo and
regroups in between against a model of the two stacks."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import CastlistError
from pipelines.stages.run import regroup
from pipelines.store.workspace import Workspace
from tests.pipelines.conftest import MODEL, planted_episode
from tests.pipelines.trust_helpers import castlist, import_season


def _workspace(root: Path, episodes: list[list[int]]) -> Workspace:
    ws = Workspace.init(root / "ws")
    rng = np.random.default_rng(0)
    for n, speakers in enumerate(episodes):
        media, subs = root / f"ep{n + 1:02d}.mkv", root / f"ep{n + 1:02d}.srt"
        media.write_bytes(b"x")
        subs.write_text(f"episode {n}")
        events, X = planted_episode(rng, speakers)
        ep, _ = ws.add_episode(media, subs, 2.0 * len(speakers) + 5, "video", events, {})
        ws.vectors.save(ep.id, "voice", MODEL, X)
    ws.set_meta("voice_model", MODEL)
    regroup(ws)
    return ws


def tracked(ws: Workspace) -> tuple:
    """Everything a person decided: hand labels, locks, and each cannot-link row with the
    action that made it."""
    cannot = sorted(tuple(r) for r in ws.conn.execute("SELECT a, b, action_id FROM cannot_link"))
    return ws.human_labels(), ws.locks(), cannot


# ---------------------------------------------------------------------------- item 2
def test_redo_brings_back_the_action_undone_last_not_an_abandoned_one(make_ws):
    ws = make_ws([[0, 1, 0, 1]])
    a, b, c, _ = (ln.id for ln in ws.lines())
    regroup(ws)
    ws.move_lines([c], ws.line(b).group)  # long abandoned below
    ws.actions.undo()
    ws.name_lines([a], "A")
    ws.actions.undo()
    ws.name_lines([a], "B")
    ws.actions.undo()
    assert ws.actions.redo().args["name"] == "B"
    assert ws.human_labels() == {a: "B"}
    assert ws.actions.redo() is None  # neither A nor the move comes back
    assert ws.locks() == {}


def test_cli_redo_after_two_undos(tmp_path, capsys):
    ws = import_season(tmp_path, [0, 1, 2] * 6)
    castlist(capsys, "label", ws, "--line", "ep01-0000", "--name", "A")
    castlist(capsys, "undo", ws)
    castlist(capsys, "label", ws, "--line", "ep01-0000", "--name", "B")
    code, out, _ = castlist(capsys, "undo", ws)
    assert code == 0 and "undid action #3: named 1 line B (ep01-0000)" in out
    code, out, _ = castlist(capsys, "redo", ws)
    assert "redid action #3: named 1 line B" in out
    assert Workspace.open(ws).human_labels() == {"ep01-0000": "B"}
    code, out, _ = castlist(capsys, "redo", ws)
    assert code == 0 and out.strip() == "nothing to redo"


# ---------------------------------------------------------------------------- item 3
def test_undoing_separate_keeps_the_cannot_links_of_an_earlier_split(make_ws):
    ws = make_ws([[0] * 10 + [1] * 6])
    regroup(ws)
    old = ws.line(ws.lines()[3].id).group
    stray = ws.lines()[3].id
    ws.split_lines([stray])
    regroup(ws)
    after_split = (ws.human_labels(), ws.locks(), sorted(ws.cannot_links()))
    n_split = len(ws.cannot_links())
    assert n_split == 9
    new = ws.line(stray).group
    assert new != old
    ws.separate_groups(new, old)
    regroup(ws)
    ws.actions.undo()
    regroup(ws)
    assert (ws.human_labels(), ws.locks(), sorted(ws.cannot_links())) == after_split
    assert len(ws.cannot_links()) == n_split
    assert ws.line(stray).group == new  # the line did not rejoin its old group
    assert [a.state for a in reversed(ws.actions.history())][:2] == ["done", "undone"]


# ---------------------------------------------------------------------------- property
VERBS = ["name", "name_group", "merge", "move", "split", "separate", "ambient"]
OPS = st.lists(
    st.tuples(
        st.sampled_from([*VERBS, "undo", "redo", "regroup"]),
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.sampled_from(["Kyon", "Haruhi", "Yuki"]),
    ),
    min_size=1,
    max_size=10,
)


def _do(ws: Workspace, verb: str, i: int, j: int, name: str) -> None:
    lines = [ln.id for ln in ws.lines()]
    groups = sorted(set(ws.lines_frame()["group_id"].dropna()))
    line, g1, g2 = lines[i % len(lines)], groups[i % len(groups)], groups[j % len(groups)]
    if verb == "name":
        ws.name_lines([line, lines[j % len(lines)]], name)
    elif verb == "name_group":
        ws.name_group(g1, name)
    elif verb == "merge":
        ws.merge_groups([g1, g2])
    elif verb == "move":
        ws.move_lines([line], g2)
    elif verb == "split":
        ws.split_lines([line])
    elif verb == "separate":
        ws.separate_groups(g1, g2)
    else:
        ws.mark_ambient([line])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(ops=OPS)
def test_random_sequences_undo_exactly_and_redo_what_was_undone_last(ops):
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp), [[0, 1, 2, 0, 1, 0, 2, 0], [1, 0, 1, 2, 0, 1]])
        done: list[tuple] = []  # (state before, state after) of each action in effect
        undone: list[tuple] = []
        for verb, i, j, name in ops:
            if verb == "regroup":
                state = tracked(ws)
                regroup(ws)
                assert tracked(ws) == state  # a machine run never changes a human decision
            elif verb == "undo":
                act = ws.actions.undo()
                assert (act is None) == (not done)
                if done:
                    before, after = done.pop()
                    assert tracked(ws) == before
                    undone.append((before, after))
            elif verb == "redo":
                act = ws.actions.redo()
                assert (act is None) == (not undone)
                if undone:
                    before, after = undone.pop()
                    assert tracked(ws) == after
                    done.append((before, after))
            else:
                before = tracked(ws)
                try:
                    _do(ws, verb, i, j, name)
                except CastlistError:
                    assert tracked(ws) == before  # a refused action changes nothing
                    continue
                done.append((before, tracked(ws)))
                undone.clear()  # a new action ends the redo chain
        # and all the way back: every action undone leaves no human decision behind
        while ws.actions.undo() is not None:
            pass
        assert tracked(ws) == ({}, {}, [])
        ws.close()


def test_an_older_workspace_is_migrated_on_open_without_losing_decisions(make_ws):
    """Schema-1 workspaces from before per-action cannot-links and character ids: their
    pairs are credited to the action that made them, and an undone action a newer action
    abandoned can no longer be redone."""
    ws = make_ws([[0] * 6 + [1] * 4])
    regroup(ws)
    a, b = ws.lines()[0].id, ws.lines()[1].id
    ws.split_lines([a])  # action 1: cannot-links
    ws.name_lines([b], "Kyon")  # action 2, undone and then abandoned by action 4
    ws.actions.undo()
    ws.name_lines([b], "Yuki")
    pairs = ws.cannot_links()
    root = ws.root
    # turn it back into the old layout
    ws.conn.executescript(
        "ALTER TABLE groups DROP COLUMN character_id;"
        "DROP TABLE cannot_link; DROP TABLE retired_ids;"
        "CREATE TABLE cannot_link (a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b));"
        "UPDATE actions SET state='undone' WHERE id=2;"
    )
    ws.conn.executemany("INSERT INTO cannot_link(a, b) VALUES (?, ?)", pairs)
    ws.close()
    ws = Workspace.open(root)
    assert ws.cannot_links() == pairs
    assert {r[0] for r in ws.conn.execute("SELECT action_id FROM cannot_link")} == {1}
    assert ws.actions.get(2).state == "abandoned"
    regroup(ws)
    assert ws.lines_frame()["character_id"].notna().all()
    assert ws.actions.undo().id == 4 and ws.actions.undo().id == 1
    assert ws.cannot_links() == [] and ws.actions.redo().id == 1 and ws.cannot_links() == pairs
