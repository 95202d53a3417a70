"""The review queue on a workspace: questions, answers as logged human actions, regroup."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.errors import UsageError
from pipelines.records import AMBIENT
from pipelines.review import Question, answer, questions
from pipelines.run import regroup

SPEAKERS = [0, 1, 2, 0, 1, 2, 0, 1, 0, 2, 1, 0, 3, 0, 1, 2, 0, 1, 2, 0]


def test_question_api_shape(make_ws):
    ws = make_ws([SPEAKERS])
    assert questions(ws) == []  # nothing grouped yet
    regroup(ws)
    qs = questions(ws, limit=5)
    assert 0 < len(qs) <= 5
    assert all(isinstance(q, Question) for q in qs)
    assert [f.name for f in dataclasses.fields(Question)] == [
        "id", "kind", "groups", "line_id", "suggestions", "saves", "text",
    ]  # fmt: skip
    assert [q.saves for q in qs] == sorted((q.saves for q in qs), reverse=True)
    assert len({q.id for q in qs}) == len(qs)
    assert questions(ws, limit=5) == qs  # stable


def test_answering_who_names_the_group_and_is_undoable(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    q = next(q for q in questions(ws, limit=50) if q.kind == "who")
    group = ws.line(q.line_id).group
    answer(ws, q, "Alice", who="test")
    assert ws.human_labels() == {q.line_id: "Alice"}
    assert ws.history(limit=1)[0].verb == "name"
    names = {ln.speaker for ln in ws.lines() if ln.group == group}
    assert names == {"Alice"}  # the answer named the whole group via propagation
    assert all(x.line_id != q.line_id for x in questions(ws, limit=50))
    ws.undo()
    assert ws.human_labels() == {}


def test_same_yes_merges_and_no_separates(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    lines = ws.lines()
    g0 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 0)
    g1 = next(ln.group for ln, t in zip(lines, SPEAKERS, strict=False) if t == 1)
    q = Question("same:x", "same", (g0, g1), None, (), 1.0, "?")
    answer(ws, q, "no")
    assert ws.history(limit=1)[0].verb == "separate"
    assert not any(set(x.groups) == {g0, g1} for x in questions(ws, 100) if x.kind == "same")
    ws.undo()
    regroup(ws)
    answer(ws, q, "yes")
    groups = {ln.group for ln, t in zip(ws.lines(), SPEAKERS, strict=False) if t in (0, 1)}
    assert len(groups) == 1


def test_ambient_skip_and_bad_replies(make_ws):
    ws = make_ws([SPEAKERS])
    regroup(ws)
    line = ws.lines()[12].id
    amb = Question("ambient:" + line, "ambient", (), line, (), 0.5, "?")
    answer(ws, amb, "no")
    assert ws.human_labels() == {}
    who = Question("who:" + line, "who", (), line, (), 0.5, "?")
    with pytest.raises(UsageError):
        answer(ws, who, "yes")
    assert answer(ws, who, "skip") is None
    assert all(q.id != who.id for q in questions(ws, 100))
    answer(ws, amb, "yes")
    assert ws.human_labels() == {line: AMBIENT}
