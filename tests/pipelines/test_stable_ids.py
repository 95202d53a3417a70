"""Issue 9, items 1, 4 and 7: ids a user reads keep naming the same lines, an id that is gone
says what happened to it, and every labelling command says what it changed."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd

from pipelines.review.outcome import describe
from pipelines.stages.season import SeasonResult
from pipelines.store.actions import Action
from pipelines.store.ids import match_ids, retired_ids
from pipelines.store.workspace import Workspace
from tests.pipelines.trust_helpers import castlist, exported, import_season, lines_of

SPEAKERS = [0, 1, 2, 3, 0, 0, 1, 2] * 5  # char0 biggest, char3 smallest


def _group_of_speaker(rows, speaker: str) -> str:
    return Counter(r["group"] for r in rows if r["name_hint"] == speaker).most_common(1)[0][0]


# ---------------------------------------------------------------------------- the id rule
def test_a_group_keeps_its_id_where_most_of_its_lines_stay_together():
    previous = {"a": "g0", "b": "g0", "c": "g0", "d": "g1", "e": "g1", "f": "g2", "h": "g2"}
    # g0 loses one line; g1 and g2 end up in one group (g1... no: g2 holds the bigger overlap
    # only by id order, both have 2 lines); a fresh line joins nobody
    clusters = [["a", "b"], ["c"], ["d", "e", "f", "h"], ["new"]]
    kept, spread = match_ids(previous, clusters)
    assert kept[0] == "g0" and kept[1] is None and kept[3] is None
    assert kept[2] == "g1"  # ties go to the smaller id, deterministically
    ids = [k or f"fresh{i}" for i, k in enumerate(kept)]
    (gone,) = retired_ids(previous, ids, spread)
    assert (gone.id, gone.successor, gone.merged) == ("g2", "g1", True)


def test_a_group_split_evenly_keeps_no_id_and_is_retired_as_split():
    previous = {"a": "g0", "b": "g0", "c": "g0", "d": "g0"}
    kept, spread = match_ids(previous, [["a", "b"], ["c", "d"]])
    assert kept == [None, None]
    (gone,) = retired_ids(previous, ["x", "y"], spread)
    assert gone.id == "g0" and not gone.merged and gone.successor in {"x", "y"}


# ---------------------------------------------------------------------------- item 1
def test_ids_from_export_still_name_the_intended_lines_after_other_actions(tmp_path, capsys):
    """The user's chain: read ids in `export`, act on one group, then use the other ids."""
    ws = import_season(tmp_path, SPEAKERS)
    first = exported(capsys, ws, tmp_path, "first.csv")
    g = {s: _group_of_speaker(first, s) for s in ("char0", "char1", "char2", "char3")}
    char3 = next(r["character"] for r in first if r["group"] == g["char3"])
    assert castlist(capsys, "label", ws, "--group", g["char0"], "--name", "Kyon")[0] == 0
    assert castlist(capsys, "split", ws, "--line", "ep01-0001")[0] == 0  # another action
    code, out, err = castlist(capsys, "label", ws, "--group", g["char1"], "--name", "Haruhi")
    assert code == 0, err
    code, _, err = castlist(capsys, "label", ws, "--character", char3, "--name", "Yuki")
    assert code == 0, err
    rows = exported(capsys, ws, tmp_path, "after.csv")
    hand = {r["line_id"]: r["speaker"] for r in rows if r["label_source"] == "human"}
    assert {lid for lid, n in hand.items() if n == "Haruhi"} == lines_of(
        first, "group", g["char1"]
    ) - {"ep01-0001"}
    assert {lid for lid, n in hand.items() if n == "Yuki"} == lines_of(first, "group", g["char3"])
    assert {lid for lid, n in hand.items() if n == "Kyon"} == lines_of(first, "group", g["char0"])
    # every untouched group kept its id; naming did not rename anything
    for s in ("char0", "char2", "char3"):
        assert lines_of(rows, "group", g[s]) == lines_of(first, "group", g[s])
    # the character id shown before naming is still accepted, as is the name it shows now
    assert castlist(capsys, "label", ws, "--character", char3, "--name", "Yuki2")[0] == 0
    assert castlist(capsys, "label", ws, "--character", "Yuki2", "--name", "Yuki")[0] == 0


def test_ids_shown_by_status_are_accepted_by_the_commands(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    castlist(capsys, "label", ws, "--group", "ep01-g0", "--name", "Kyon")
    code, out, _ = castlist(capsys, "status", ws)
    assert code == 0
    groups = re.findall(r"^  (ep01-\w+) +(\d+) lines? ", out, re.M)
    assert len(groups) == 4 and sum(int(n) for _, n in groups) == len(SPEAKERS)
    assert re.search(r"^  ep01-g0 +\d+ lines +Kyon \(C\d+\) +100% named", out, re.M)
    chars = re.findall(r"^  (C\d{3})\b", out, re.M)
    assert len(chars) == 4
    for cid in chars:
        assert castlist(capsys, "label", ws, "--character", cid, "--name", f"n{cid}")[0] == 0
    for gid, _ in groups:
        assert castlist(capsys, "label", ws, "--group", gid, "--name", f"n{gid}")[0] == 0


def test_an_id_that_is_gone_is_refused_with_what_happened(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    code, out, _ = castlist(capsys, "merge", ws, "ep01-g1", "ep01-g3")
    assert code == 0 and "merged ep01-g3 into ep01-g1" in out
    before = Workspace.open(ws).human_labels()
    for argv in (
        ["label", ws, "--group", "ep01-g3", "--name", "Kyon"],
        ["move", ws, "--line", "ep01-0000", "--to", "ep01-g3"],
        ["merge", ws, "ep01-g0", "ep01-g3"],
        ["separate", ws, "ep01-g0", "ep01-g3"],
    ):
        code, _, err = castlist(capsys, *argv)
        assert code == 2
        assert "group ep01-g3 was merged into ep01-g1 by action #1 (merge)" in err
        assert "castlist status" in err and "Traceback" not in err
    assert Workspace.open(ws).human_labels() == before
    code, _, err = castlist(capsys, "label", ws, "--group", "ep01-g99", "--name", "Kyon")
    assert code == 2 and "no group 'ep01-g99'" in err
    # undo brings the merged group back under its own id
    assert castlist(capsys, "undo", ws)[0] == 0
    assert castlist(capsys, "label", ws, "--group", "ep01-g3", "--name", "Yuki")[0] == 0


def test_fresh_ids_are_never_reused(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    for line in ("ep01-0000", "ep01-0004", "ep01-0005"):
        castlist(capsys, "split", ws, "--line", line)
        castlist(capsys, "undo", ws)
        now = set(Workspace.open(ws).lines_frame()["group_id"])
        assert now == {"ep01-g0", "ep01-g1", "ep01-g2", "ep01-g3"}
    castlist(capsys, "split", ws, "--line", "ep01-0000")
    new = set(Workspace.open(ws).lines_frame()["group_id"]) - {f"ep01-g{i}" for i in range(4)}
    assert new == {"ep01-g7"}  # the three undone splits used g4, g5 and g6


# ---------------------------------------------------------------------------- item 4
def test_label_says_what_it_named_and_how_far_it_spread(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    n0 = SPEAKERS.count(0)
    code, out, _ = castlist(capsys, "label", ws, "--group", "ep01-g0", "--name", "Kyon")
    assert code == 0
    assert f"action #1: named group ep01-g0 ({n0} lines) Kyon" in out
    assert "more lines propagated" in out or "no more lines propagated" in out
    assert f"names now: {n0} lines by hand" in out
    code, out, _ = castlist(capsys, "label", ws, "--line", "ep01-0001", "--name", "Haruhi")
    assert "named 1 line Haruhi (ep01-0001)" in out
    assert f"{SPEAKERS.count(1) - 1} more lines propagated" in out


def test_naming_a_loosely_placed_first_line_names_its_group(tmp_path, capsys):
    """The 0.5 s "eh..." case of item 4: the line joined its group only loosely, yet nothing
    contradicts it, so its name reaches the whole group and the output says how far."""
    ws = import_season(tmp_path, SPEAKERS, loose={0: 0})
    group = Workspace.open(ws).line("ep01-0000").group
    size = (Workspace.open(ws).lines_frame()["group_id"] == group).sum()
    code, out, _ = castlist(capsys, "label", ws, "--line", "ep01-0000", "--name", "Kyon")
    assert code == 0
    assert f"named 1 line Kyon (ep01-0000); {size - 1} more lines propagated" in out
    assert "note:" not in out
    assert "unsure" not in out  # clear voices: the spread names are sure
    frame = Workspace.open(ws).lines_frame()
    assert (frame.loc[frame["group_id"] == group, "speaker"] == "Kyon").all()


def _lone_line(ws) -> tuple[str, str, str]:
    """(id, group) of "line 0", kept out of char0's group by its overlap with "line 4", and
    the group of "line 4"."""
    with Workspace.open(ws) as w:
        frame = w.lines_frame().set_index("text")
    lid, alone, big = (
        frame.at["line 0", "id"],
        frame.at["line 0", "group_id"],
        frame.at["line 4", "group_id"],
    )
    assert alone != big and (frame["group_id"] == alone).sum() == 1
    return lid, alone, big


def test_a_first_line_standing_alone_names_the_group_its_voice_matches(tmp_path, capsys):
    """A line overlapping another line of its speaker is kept out of that speaker's group (an
    overlap is a cannot-link), so it stands alone; its voice still clearly matches the group,
    so naming it names the group, and the output says why (on a pseudo-episode of
    Gakkougurashi! the first line of a 27-line character left 25 of them unnamed)."""
    ws = import_season(tmp_path, SPEAKERS, times={0: (8.1, 9.0)})  # overlaps line 4 (char0)
    lid, alone, big = _lone_line(ws)
    code, out, _ = castlist(capsys, "label", ws, "--line", lid, "--name", "Kyon")
    assert code == 0
    assert f"note: {lid} stands in a group of its own, but its voice matches group {big}" in out
    with Workspace.open(ws) as w:
        frame = w.lines_frame()
    assert (frame.loc[frame["group_id"] == big, "speaker"] == "Kyon").all()
    rest = frame[~frame["group_id"].isin([alone, big])]
    assert not (rest["speaker"] == "Kyon").any()


def test_a_lone_line_does_not_name_a_group_a_person_kept_it_from(tmp_path, capsys):
    """The same lone line after a person said it is not that group's voice (``separate``):
    its name stays on the line, and the group stays unnamed."""
    ws = import_season(tmp_path, SPEAKERS, times={0: (8.1, 9.0)})
    lid, alone, big = _lone_line(ws)
    assert castlist(capsys, "separate", ws, alone, big)[0] == 0
    code, out, _ = castlist(capsys, "label", ws, "--line", lid, "--name", "Kyon")
    assert code == 0 and "voice matches group" not in out
    with Workspace.open(ws) as w:
        frame = w.lines_frame()
    assert not (frame.loc[frame["group_id"] == big, "speaker"] == "Kyon").any()


def _five_and_one(lone_group: str) -> pd.DataFrame:
    """Lines as `describe` reads them: a 5-line group ep01-g0 and one line in ``lone_group``,
    nothing named."""
    return pd.DataFrame(
        {
            "group_id": ["ep01-g0"] * 5 + [lone_group],
            "character_id": ["C001"] * 5 + ["C002"],
            "character": ["C001"] * 5 + ["C002"],
            "speaker": [None] * 6,
            "source": ["cluster"] * 6,
        },
        index=pd.Index([f"ep01-{i:04d}" for i in range(6)], name="id"),
    )


def test_a_loose_line_whose_name_did_not_spread_says_so_and_offers_the_group_command():
    """When the regroup reports a hand-named line as loose (its name did not reach its
    group), the output says so and prints the exact command that names the group."""
    base = _five_and_one("ep01-g1")
    lines = base.index.tolist()
    after = base.copy()
    after.loc["ep01-0000", ["speaker", "source"]] = ["Kyon", "human"]
    result = SeasonResult(loose={"ep01-0000"})
    action = Action(1, "now", "me", "name", {"lines": ["ep01-0000"], "name": "Kyon"}, "done")
    out = describe(action, base, after, result, "my ws")
    assert out[0].startswith("action #1: named 1 line Kyon (ep01-0000)")
    assert "4 lines of that character left unnamed" in out[0]
    assert out[1].startswith("note: ep01-0000 only loosely belongs to group ep01-g0 (5 lines")
    assert out[1].endswith("castlist label 'my ws' --group ep01-g0 --name Kyon")
    # once the group carries the name, there is nothing to offer
    after.loc[lines[:5], "speaker"] = "Kyon"
    assert not any("note:" in line for line in describe(action, base, after, result, "ws"))


def test_a_named_line_that_stands_alone_says_so_and_points_to_the_review():
    """A first line whose voice matched no group (Kushieda's first line on a pseudo-episode
    sat nearer another character's group than her own) names only itself: say so."""
    base = _five_and_one("ep01-u1")
    after = base.copy()
    after.loc["ep01-0005", ["speaker", "source"]] = ["Kushieda", "human"]
    action = Action(1, "now", "me", "name", {"lines": ["ep01-0005"], "name": "Kushieda"}, "done")
    out = describe(action, base, after, SeasonResult(loose={"ep01-0005"}), "ws")
    assert out[1].startswith("note: ep01-0005 stands alone (its voice matched no group)")
    assert out[1].endswith("castlist review ws asks about the unnamed groups next")


# ---------------------------------------------------------------------------- item 7
def test_naming_a_named_group_again_renames_it(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    castlist(capsys, "label", ws, "--group", "ep01-g1", "--name", "Haruhi")
    castlist(capsys, "label", ws, "--line", "ep01-0000", "--name", "Kyon")  # another's line
    code, out, _ = castlist(capsys, "label", ws, "--group", "ep01-g1", "--name", "Mikuru")
    n1 = SPEAKERS.count(1)
    assert code == 0 and f"renamed group ep01-g1 ({n1} lines) from Haruhi to Mikuru" in out
    human = Workspace.open(ws).human_labels()
    assert Counter(human.values()) == {"Mikuru": n1, "Kyon": 1}


def test_naming_a_group_says_which_hand_named_lines_keep_their_name(tmp_path, capsys):
    """One line named Haruhi by hand, then her group named "Haruhi Suzumiya": a group is
    renamed only where most of it carries the hand name, so the line keeps "Haruhi" and would
    become a character of its own. The command says so, with the command that renames it, and
    that command (copied as printed) does."""
    import shlex

    ws = import_season(tmp_path, SPEAKERS)
    castlist(capsys, "label", ws, "--line", "ep01-0001", "--name", "Haruhi")
    code, out, _ = castlist(capsys, "label", ws, "--group", "ep01-g1", "--name", "Haruhi Suzumiya")
    n1 = SPEAKERS.count(1)
    # the line a person named keeps its name, and with it stands apart from the group
    assert code == 0 and f"named group ep01-g1 ({n1 - 1} lines) Haruhi Suzumiya" in out
    note = next(line for line in out.splitlines() if line.startswith("note:"))
    assert "1 line of the group keeps the name a person gave it: ep01-0001 (Haruhi)" in note
    suggested = shlex.split(note.split(" too: castlist ", 1)[1])
    assert suggested[:2] == ["label", str(ws)]
    code, out, _ = castlist(capsys, *suggested)
    assert code == 0 and "was Haruhi by hand" in out
    human = Workspace.open(ws).human_labels()
    assert Counter(human.values()) == {"Haruhi Suzumiya": n1}


def test_eval_matches_times_within_5ms_and_counts_what_did_not_match(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    truth = pd.read_csv(ws / "imported_truth.csv")
    truth["start"] += 0.005
    truth["end"] -= 0.004
    truth.loc[0, "start"] += 1.0  # this row matches no line
    truth.to_csv(tmp_path / "truth.csv", index=False)
    code, out, _ = castlist(capsys, "eval", ws, "--truth", tmp_path / "truth.csv")
    assert code == 0
    assert re.search(rf"lines scored +{len(SPEAKERS) - 1}\n", out)
    assert "1 matched no line" in out
    assert "nothing named yet" in out and "0.0% covered" not in out
    castlist(capsys, "label", ws, "--group", "ep01-g0", "--name", "char0")
    code, out, _ = castlist(capsys, "eval", ws, "--truth", tmp_path / "truth.csv")
    assert re.search(r"named lines +\d+\.\d% covered, 100\.0% correct", out)


def test_renaming_a_hand_named_line_says_which_name_it_replaced(tmp_path, capsys):
    ws = import_season(tmp_path, SPEAKERS)
    assert castlist(capsys, "label", ws, "--line", "ep01-0001", "--name", "Kyon")[0] == 0
    code, out, _ = castlist(capsys, "label", ws, "--line", "ep01-0001", "--name", "Haruhi")
    assert code == 0
    assert "named 1 line Haruhi (ep01-0001; was Kyon by hand)" in out, out
    code, out, _ = castlist(capsys, "label", ws, "--line", "ep01-0002", "--name", "Mikuru")
    assert "named 1 line Mikuru (ep01-0002)" in out, out  # nobody had named it
