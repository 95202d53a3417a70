"""Every page of the browser and every action, driven through AppTest; each test checks the
workspace's state afterwards, not only that the page rendered."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.records import AMBIENT
from pipelines.review.queue import questions
from pipelines.store.workspace import Workspace
from ui.review_page import QUEUE_LIMIT


def by_label(widgets, label: str):
    found = [w for w in widgets if w.label == label]
    assert found, f"no widget {label!r} among {[w.label for w in widgets]}"
    return found[0]


def frame(path: Path) -> pd.DataFrame:
    with Workspace.open(path) as ws:
        return ws.lines_frame(speech_only=True)


def biggest_groups(path: Path, n: int = 2) -> list[str]:
    """The ``n`` biggest groups of the first episode (merges join groups within an episode;
    across episodes they link characters)."""
    df = frame(path)
    df = df[df["episode_id"] == df["episode_id"].iloc[0]]
    return df["group_id"].value_counts().index[:n].tolist()


def group_ids(path: Path, group: str) -> list[str]:
    with Workspace.open(path) as ws:
        return ws.group_lines(group)


def messages(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.success, *at.error, *at.warning])


HEADERS = {
    "Overview": "Overview",
    "Groups": "Groups",
    "Group": "(unnamed)",
    "Review": "Review queue",
    "Map": "Cluster map",
    "History": "History",
}


@pytest.mark.parametrize("page", list(HEADERS))
def test_every_page_renders(app, page: str) -> None:
    at = app(page)
    assert at.header[0].value.startswith(HEADERS[page])


def test_overview_counts_match_workspace(app, ws_path: Path) -> None:
    at = app("Overview")
    metrics = {m.label: m.value for m in at.metric}
    df = frame(ws_path)
    assert metrics["speech lines"] == str(len(df))
    assert metrics["named by hand"] == "0"
    with Workspace.open(ws_path) as ws:
        queue = questions(ws, limit=QUEUE_LIMIT)
    # one number: the metric and the button both count the review queue
    assert metrics["questions to review"] == str(len(queue)) != "0"
    assert any(b.label == f"Open the review queue ({len(queue)} questions)" for b in at.button)
    assert "groups to review" not in metrics


def test_name_group(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    at = app("Group", open_anchor=members[0])
    by_label(at.text_input, "Name this group").input("Alice")
    by_label(at.button, "Name group").click().run()
    assert "saved as action #1" in messages(at)
    df = frame(ws_path).set_index("id")
    assert (df.loc[members, "speaker"] == "Alice").all()
    assert (df.loc[members, "source"] == "human").all()
    # the page follows the (renamed) group and shows the name
    assert at.header[0].value.startswith("Alice")


def test_merge_selected_cards(app, ws_path: Path) -> None:
    a, b = biggest_groups(ws_path, 2)
    lines_a, lines_b = group_ids(ws_path, a), group_ids(ws_path, b)
    at = app("Groups", group_sort="largest first")
    for g in (a, b):
        at.checkbox(key=f"pick-{g}-0").check().run()
    by_label(at.button, "Merge selected").click().run()
    assert "merged 2 groups" in messages(at)
    df = frame(ws_path).set_index("id")
    assert df.loc[lines_a + lines_b, "group_id"].nunique() == 1
    with Workspace.open(ws_path) as ws:
        assert ws.actions.history()[0].verb == "merge"


def test_merge_from_group_page(app, ws_path: Path) -> None:
    a, b = biggest_groups(ws_path, 2)
    lines_a, lines_b = group_ids(ws_path, a), group_ids(ws_path, b)
    at = app("Group", open_anchor=lines_a[0])
    by_label(at.multiselect, "Merge with").select(b).run()
    by_label(at.button, "Merge").click().run()
    df = frame(ws_path).set_index("id")
    assert df.loc[lines_a + lines_b, "group_id"].nunique() == 1


def test_split_selected_lines(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    off = members[:2]
    at = app("Group", open_anchor=members[-1])
    sel = by_label(at.multiselect, "Selected lines (tick rows in the table or pick here)")
    sel.set_value(off).run()
    by_label(at.button, "Split off").click().run()
    df = frame(ws_path).set_index("id")
    assert df.loc[off, "group_id"].nunique() == 1
    assert df.at[off[0], "group_id"] != df.at[members[-1], "group_id"]
    with Workspace.open(ws_path) as ws:
        cannot = set(ws.cannot_links())
    assert tuple(sorted((off[0], members[-1]))) in cannot


def test_split_least_similar(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    at = app("Group", open_anchor=members[0])
    by_label(at.number_input, "Least-like lines").set_value(2).run()
    by_label(at.button, "Split them off").click().run()
    with Workspace.open(ws_path) as ws:
        action = ws.actions.history()[0]
    assert action.verb == "split" and len(action.args["lines"]) == 2
    df = frame(ws_path).set_index("id")
    split = action.args["lines"]
    rest = [m for m in members if m not in split]
    assert df.loc[split, "group_id"].nunique() == 1
    assert df.at[split[0], "group_id"] not in set(df.loc[rest, "group_id"])


def test_move_lines(app, ws_path: Path) -> None:
    a, b = biggest_groups(ws_path, 2)
    lines_a, lines_b = group_ids(ws_path, a), group_ids(ws_path, b)
    moving = lines_a[:1]
    at = app("Group", open_anchor=lines_a[-1])
    by_label(at.multiselect, "Selected lines (tick rows in the table or pick here)").set_value(
        moving
    ).run()
    by_label(at.selectbox, "Move to group").set_value(b).run()
    by_label(at.button, "Move").click().run()
    df = frame(ws_path).set_index("id")
    assert df.at[moving[0], "group_id"] == df.at[lines_b[0], "group_id"]
    assert df.at[moving[0], "group_id"] != df.at[lines_a[-1], "group_id"]


def test_group_ambient_and_lines_named(app, ws_path: Path) -> None:
    a, b = biggest_groups(ws_path, 2)
    lines_a, lines_b = group_ids(ws_path, a), group_ids(ws_path, b)
    at = app("Group", open_anchor=lines_a[0])
    by_label(at.button, "Whole group ambient").click().run()
    df = frame(ws_path).set_index("id")
    assert (df.loc[lines_a, "speaker"] == AMBIENT).all()
    at = app("Group", open_anchor=lines_b[0])
    by_label(at.multiselect, "Selected lines (tick rows in the table or pick here)").set_value(
        lines_b[:2]
    ).run()
    by_label(at.text_input, "Name lines as").input("Bob").run()
    by_label(at.button, "Name lines").click().run()
    df = frame(ws_path).set_index("id")
    assert (df.loc[lines_b[:2], "speaker"] == "Bob").all()


def test_bulk_ambient_and_name(app, ws_path: Path) -> None:
    a, b = biggest_groups(ws_path, 2)
    lines_a = group_ids(ws_path, a)
    at = app("Groups", group_sort="largest first")
    at.checkbox(key=f"pick-{a}-0").check().run()
    by_label(at.text_input, "Name selected as").input("Cara").run()
    by_label(at.button, "Name selected").click().run()
    assert (frame(ws_path).set_index("id").loc[lines_a, "speaker"] == "Cara").all()


def test_undo_redo_across_reloads(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    at = app("Group", open_anchor=members[0])
    by_label(at.text_input, "Name this group").input("Alice")
    by_label(at.button, "Name group").click().run()
    at = app("History")  # a reload: a new session, the log is in the workspace
    by_label(at.button, "↶ Undo").click().run()
    df = frame(ws_path).set_index("id")
    assert (df.loc[members, "source"] != "human").all()
    assert not (df.loc[members, "speaker"] == "Alice").any()
    by_label(at.button, "↷ Redo").click().run()
    df = frame(ws_path).set_index("id")
    assert (df.loc[members, "speaker"] == "Alice").all()
    by_label(at.button, "↷ Redo").click().run()
    assert "nothing to redo" in messages(at)
    with Workspace.open(ws_path) as ws:
        verbs = [a.verb for a in ws.actions.history()]
    assert verbs[:3] == ["redo", "undo", "name_group"]


def test_conflict_from_another_tab(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    at = app("Group", open_anchor=members[0])  # tab 1 renders the group
    with Workspace.open(ws_path) as ws:  # tab 2 names a line of it meanwhile
        ws.name_lines(members[:1], "Zed", who="tab2")
    by_label(at.text_input, "Name this group").input("Alice")
    by_label(at.button, "Name group").click().run()
    assert at.error and "Not saved" in at.error[0].value
    df = frame(ws_path).set_index("id")
    assert df.at[members[0], "speaker"] == "Zed"
    assert not (df["speaker"] == "Alice").any()


def test_rename_character(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    with Workspace.open(ws_path) as ws:
        ws.name_group(gid, "Alice")
    at = app("Overview")
    by_label(at.selectbox, "Rename character").set_value("Alice")
    by_label(at.text_input, "New name").input("Alicia")
    at.button[[b.label for b in at.button].index("Rename")].click().run()
    df = frame(ws_path).set_index("id")
    assert (df.loc[members, "speaker"] == "Alicia").all()
    assert not (df["speaker"] == "Alice").any()


def test_filters_narrow_the_cards(app, ws_path: Path) -> None:
    at = app("Groups")
    before = [c.value for c in at.caption if "groups match" in c.value][0]
    at.text_input(key="f_text").input("where is it").run()
    after = [c.value for c in at.caption if "groups match" in c.value][0]
    n_before, n_after = int(before.split()[0]), int(after.split()[0])
    assert 0 < n_after < n_before
    df = frame(ws_path)
    expected = df[df["text"].str.contains("where is it")]["group_id"].nunique()
    assert n_after == expected


def test_review_answers(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    with Workspace.open(ws_path) as ws:
        ws.name_group(gid, "Alice")
    from ui.review_page import _questions  # noqa: F401  (the page's cached reader)

    at = app("Review")
    buttons = [b.label for b in at.button]
    with Workspace.open(ws_path) as ws:
        rev = ws.actions.revision()
    # answer with the first real button of the question shown
    first = next(
        b
        for b in at.button
        if b.label not in ("Skip", "Name it", "↶ Undo", "↷ Redo", "Undo last answer")
    )
    first.click().run()
    assert not at.exception
    with Workspace.open(ws_path) as ws:
        assert ws.actions.revision() == rev + 1, buttons
        action = ws.actions.history()[0]
    assert action.who == "ui" and action.verb in {"merge", "separate", "name", "ambient"}
    # Skip dismisses: the question shown changes without a new action
    shown = at.subheader[0].value
    by_label(at.button, "Skip").click().run()
    with Workspace.open(ws_path) as ws:
        assert ws.actions.revision() == rev + 1
    assert not at.subheader or at.subheader[0].value != shown
    by_label(at.button, "Undo last answer").click().run()
    with Workspace.open(ws_path) as ws:
        assert ws.actions.history()[0].verb == "undo"


def test_map_and_truth_table(app, ws_path: Path, tmp_path: Path) -> None:
    from tests.ui.conftest import SPEAKERS

    df = frame(ws_path)
    truth_of = {}
    for n, speakers in enumerate(SPEAKERS):
        for i, s in enumerate(speakers):
            truth_of[f"ep{n + 1:02d}-{i:04d}"] = f"spk{s}"
    truth = ws_path / "truth.csv"  # the browser reads typed paths inside the workspace only
    pd.DataFrame({"line_id": df["id"], "speaker": df["id"].map(truth_of)}).to_csv(truth)
    at = app("Map", truth_path=str(truth))
    assert any("Confusion" in s.value for s in at.subheader)
    table = at.dataframe[-1].value
    assert set(table.columns) == {"spk0", "spk1", "spk2"}
    assert int(table.to_numpy().sum()) == len(df)


def test_review_page_says_it_plainly(app, ws_path: Path) -> None:
    """Issue 9: each key once, the question not repeated, no 0% answers, "names about N
    lines" rather than "saves about 0.2 operations"."""
    gid = biggest_groups(ws_path, 1)[0]
    with Workspace.open(ws_path) as ws:
        ws.name_group(gid, "Alice")
    at = app("Review")
    caption = at.caption[0].value
    assert "names about" in caption or "names 1 line" in caption, caption
    assert "operations" not in caption
    labels = [b.label for b in at.button]
    assert not any("[" in lab for lab in labels), labels  # Streamlit shows the key itself
    assert not any("(0%)" in lab for lab in labels), labels
    question = at.subheader[0].value
    shown = [m.value for m in at.markdown]
    assert all(question not in m for m in shown), (question, shown)
    assert question.startswith(("Who is this", "Is this", "Who says this line?"))


def test_history_reads_as_sentences(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    with Workspace.open(ws_path) as ws:
        ws.name_group(gid, "Alice")
        ws.mark_ambient(members[:1])
        ws.actions.undo()
    at = app("History")
    items = [m.value for m in at.markdown if m.value.startswith("- #")][0].split("\n")
    what = [item.split(" · ")[-1] for item in items]
    assert what[:3] == [
        "undid action #2",
        f"marked 1 line ambient ({members[0]}) (undone)",
        f"named group {gid} Alice",
    ]
    assert items[-1].startswith("- #1 · ") and " · cli · " in items[-1]
    assert not any("{" in w or "'" in w for w in what)


def test_cards_count_lines_in_words(app, ws_path: Path) -> None:
    gid = biggest_groups(ws_path, 1)[0]
    members = group_ids(ws_path, gid)
    with Workspace.open(ws_path) as ws:
        ws.split_lines(members[:1])
    from pipelines.stages.run import regroup

    with Workspace.open(ws_path) as ws:
        regroup(ws)
    at = app("Groups")
    cards = [m.value for m in at.markdown if m.value.startswith("**")]
    assert any(c.endswith("· 1 line") for c in cards), cards
    assert not any(c.endswith(" 1 lines") for c in cards)


def test_group_page_opens_on_the_biggest_unnamed_group(app, ws_path: Path) -> None:
    first = biggest_groups(ws_path, 1)[0]
    with Workspace.open(ws_path) as ws:
        ws.name_group(first, "Alice")
    df = frame(ws_path)
    unnamed = df[df["speaker"].isna()]
    expected = unnamed["group_id"].value_counts()
    expected = sorted(g for g, n in expected.items() if n == expected.max())[0]
    at = app("Group")
    assert at.header[0].value.endswith(expected), (at.header[0].value, expected)
    # coming from a card opens that card's group instead
    anchor = frame(ws_path).set_index("id").loc[group_ids(ws_path, first)[0]]
    at = app("Group", open_anchor=anchor.name)
    assert at.header[0].value == f"Alice · {anchor['group_id']}"


def test_review_page_says_when_a_question_is_about_an_added_episode(app, ws_path: Path) -> None:
    """Issue 14 item 3: after `castlist run` added an episode, its questions come first."""
    import json

    from pipelines.stages.grouping_state import UNREVIEWED

    assert "newly added episode" not in app("Review").caption[0].value
    with Workspace.open(ws_path) as ws:
        last = ws.episodes()[-1].id
        ws.set_meta(UNREVIEWED, json.dumps([last]))
        first = questions(ws, limit=1)[0]
    assert first.fresh
    assert "about a newly added episode" in app("Review").caption[0].value


def test_review_page_checks_several_lines_in_one_answer(tmp_path: Path) -> None:
    """A ``check`` question: every line with its player and a name picker; the annotator
    changes the wrong ones and one press names all of them (one action)."""
    from tests.pipelines.conftest import first_check, weak_workspace
    from tests.ui.conftest import open_app

    ws, speakers = weak_workspace(tmp_path)
    truth = {ln.id: f"s{s}" for ln, s in zip(ws.lines(), speakers, strict=True)}
    q = first_check(ws)
    assert questions(ws, limit=QUEUE_LIMIT)[0] == q
    name = q.suggestions[0][0]
    rev = ws.actions.revision()
    ws.close()
    at = open_app(tmp_path / "ws", "Review")
    assert at.subheader[0].value == q.text
    pickers = {s.label.removeprefix("who says "): s for s in at.selectbox}
    assert set(pickers) == set(q.lines)
    assert all(p.value == name for p in pickers.values())  # the machine's name, to confirm
    for lid in q.lines:
        if truth[lid] != name:
            pickers[lid].set_value(truth[lid])
    at.run()
    by_label(at.button, f"Confirm ({q.gain})").click().run()
    assert not at.exception
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.actions.revision() == rev + 1
        assert ws.actions.history(limit=1)[0].verb == "check"
        assert {lid: ws.human_labels()[lid] for lid in q.lines} == {
            lid: truth[lid] for lid in q.lines
        }
    fixed = sum(truth[lid] != name for lid in q.lines)
    history = open_app(tmp_path / "ws", "History")
    latest = [m.value for m in history.markdown if m.value.startswith("- #")][0].split("\n")[0]
    corrected = f", {fixed} corrected" if fixed else ""
    assert f"checked {len(q.lines)} lines named {name}{corrected} ({q.lines[0]}" in latest, latest


def test_a_machine_guess_is_shown_as_one(tmp_path: Path) -> None:
    """Weak voice evidence names every line after the one known name; a group nobody named
    whose names are unsure reads "~NAME" on its card, as `castlist status` writes it."""
    from pipelines.stages.run import regroup
    from tests.pipelines.conftest import weak_workspace
    from tests.ui.conftest import open_app

    ws, _ = weak_workspace(tmp_path)
    for _ in range(3):  # one name known
        ws.actions.undo()
    regroup(ws)
    ws.close()
    at = open_app(tmp_path / "ws", "Groups")
    titles = [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**")]
    named = [t for t in titles if not t.startswith("~")]
    assert len(named) == 1, titles  # the group whose line a person named
    assert sorted(titles) == sorted(named + [f"~{named[0]}"] * (len(titles) - 1)), titles


def test_overview_says_how_far_the_answers_moved_the_names_confidence(app, ws_path: Path) -> None:
    """Once people's answers about machine names recalibrate the confidence the pages show,
    the overview says so, in the words of `castlist status`."""
    from pipelines.cli import main
    from pipelines.review.answers import calibration_note

    assert "name confidence" not in " ".join(c.value for c in app("Overview").caption)
    for gid in biggest_groups(ws_path, 2):
        assert (
            main(["label", str(ws_path), "--line", group_ids(ws_path, gid)[0], "--name", gid]) == 0
        )
    df = frame(ws_path)
    machine = df[df["source"] == "propagated"].head(12)
    assert len(machine) == 12
    for i, (lid, name) in enumerate(zip(machine["id"], machine["speaker"], strict=True)):
        assert main(["label", str(ws_path), "--line", lid, "--name", name if i % 3 else "Eve"]) == 0
    with Workspace.open(ws_path) as ws:
        note = calibration_note(ws)
    assert note is not None and note.startswith("name confidence: from 12 answers")
    captions = [c.value for c in app("Overview").caption]
    assert note in captions
    assert any(c.startswith("likely right: about ") for c in captions)
