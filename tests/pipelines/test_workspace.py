"""The workspace's rules: idempotent adds, transactional actions, undo/redo, conflicts, and
machines never overwriting people."""

from __future__ import annotations

import pytest

from pipelines.errors import ConflictError, NotFoundError, UsageError, WorkspaceError
from pipelines.records import AMBIENT, SubtitleEvent
from pipelines.store.workspace import Workspace


def test_open_refuses_a_folder_that_is_not_a_workspace(tmp_path):
    with pytest.raises(WorkspaceError, match="castlist init"):
        Workspace.open(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="not empty"):
        Workspace.init(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_readding_unchanged_episode_is_a_noop_and_changed_subs_never_drop_human_labels(
    make_ws, tmp_path
):
    ws = make_ws([[0, 1, 0, 1]])
    ep = ws.episodes()[0]
    events = [SubtitleEvent(0.0, 1.0, "hi")]
    again, created = ws.add_episode(ep.media, ep.subs, 10.0, "video", events, {})
    assert not created and len(ws.lines(ep.id)) == 4
    ws.name_lines([f"{ep.id}-0000"], "Kyon")
    (tmp_path / "ep01.srt").write_text("changed")
    with pytest.raises(WorkspaceError, match="hand labels"):
        ws.add_episode(ep.media, ep.subs, 10.0, "video", events, {})
    assert ws.human_labels() == {f"{ep.id}-0000": "Kyon"}
    assert len(ws.lines(ep.id)) == 4


def test_machine_results_never_overwrite_a_human_label(make_ws):
    ws = make_ws([[0, 1, 0]])
    ids = [ln.id for ln in ws.lines()]
    ws.name_lines([ids[0]], "Haruhi")
    ws.write_machine_results(
        [(lid, "g0", "C000", 1.0) for lid in ids],
        [(lid, "Mikuru", "propagated", 0.9) for lid in ids],
    )
    by_id = {ln.id: ln for ln in ws.lines()}
    assert (by_id[ids[0]].speaker, by_id[ids[0]].label_source) == ("Haruhi", "human")
    assert (by_id[ids[1]].speaker, by_id[ids[1]].label_source) == ("Mikuru", "propagated")


def test_undo_and_redo_replay_actions_in_order(make_ws):
    ws = make_ws([[0, 1, 0]])
    a, b, _ = (ln.id for ln in ws.lines())
    ws.name_lines([a], "Kyon")
    ws.name_lines([a, b], "Itsuki")
    assert ws.human_labels() == {a: "Itsuki", b: "Itsuki"}
    ws.actions.undo()
    assert ws.human_labels() == {a: "Kyon"}
    ws.actions.undo()
    assert ws.human_labels() == {}
    assert ws.actions.undo() is None
    ws.actions.redo()
    assert ws.human_labels() == {a: "Kyon"}
    ws.name_lines([b], "Yuki")  # a new action ends the redo chain
    assert ws.actions.redo() is None
    assert ws.human_labels() == {a: "Kyon", b: "Yuki"}
    verbs = [act.verb for act in reversed(ws.actions.history())]
    assert verbs == ["name", "name", "undo", "undo", "redo", "name"]


def test_undo_survives_reopening_the_workspace(make_ws):
    ws = make_ws([[0, 1]])
    a = ws.lines()[0].id
    ws.mark_ambient([a])
    root = ws.root
    ws.close()
    ws = Workspace.open(root)
    assert ws.human_labels() == {a: AMBIENT}
    ws.actions.undo()
    assert ws.human_labels() == {}


def test_a_stale_tab_gets_a_conflict_not_a_silent_overwrite(make_ws):
    ws = make_ws([[0, 1]])
    a = ws.lines()[0].id
    seen = ws.actions.revision()
    ws.name_lines([a], "Kyon", who="tab1", base_rev=seen)
    with pytest.raises(ConflictError, match="reload"):
        ws.name_lines([a], "Koizumi", who="tab2", base_rev=seen)
    assert ws.human_labels() == {a: "Kyon"}
    assert len(ws.actions.history()) == 1


def test_unknown_ids_and_bad_requests_are_clear_errors(make_ws):
    ws = make_ws([[0, 1]])
    with pytest.raises(NotFoundError, match="ep01-0042"):
        ws.name_lines(["nope"], "Kyon")
    with pytest.raises(UsageError):
        ws.name_lines([ws.lines()[0].id], "  ")
    with pytest.raises(NotFoundError):
        ws.group_lines("missing-group")
    assert ws.actions.history() == []


def test_merging_groups_people_named_differently_is_refused_in_words(make_ws):
    from pipelines.stages.run import regroup

    ws = make_ws([[0, 1, 0, 1, 0, 1]])
    regroup(ws)
    lines = ws.lines()
    a = next(ln for ln in lines if ln.group)
    b = next(ln for ln in lines if ln.group and ln.group != a.group)
    ws.name_lines([a.id], "Mary Jane")
    ws.name_lines([b.id], "Kyon")
    with pytest.raises(ConflictError) as info:
        ws.merge_groups([a.group, b.group])
    message = str(info.value)
    assert "'Kyon', 'Mary Jane'" in message and "[" not in message


def test_models_whose_names_differ_late_keep_their_own_vectors(make_ws):
    """File names cut model names at 40 characters: two fusions that differ only in a late
    weight once shared one file and read each other's vectors."""
    import numpy as np

    ws = make_ws([[0, 1, 0, 1]])
    ep = ws.episodes()[0].id
    a = "fuse-campplus-zh_en-v1x1+spectrum-logmel80-v1x0.5"
    b = "fuse-campplus-zh_en-v1x1+spectrum-logmel80-v1x0.7"
    ws.vectors.save(ep, "voice", a, np.ones((4, 3), np.float32))
    ws.vectors.save(ep, "voice", b, np.zeros((4, 3), np.float32))
    assert ws.vectors.path(ep, "voice", a) != ws.vectors.path(ep, "voice", b)
    assert ws.vectors.load(ep, "voice", a).sum() == 12.0
    # short names keep the file names older workspaces hold
    assert ws.vectors.path(ep, "voice", "campplus-zh_en-v1").name == "voice__campplus_zh_en_v1.npy"
