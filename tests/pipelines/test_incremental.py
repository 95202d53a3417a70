"""Issue 14 item 3: an episode added to a labelled season is embedded and grouped alone, linked
to the existing characters, and changes nothing that was there; the review asks about it first.

The season goes through ``castlist run`` itself: a counting embedder stands in for CAM++ (it
reads which line a segment is from the audio, so it says which episodes it embedded), and the
audio is synthetic (no media, no model)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pipelines.cli import main
from pipelines.errors import UsageError
from pipelines.io.media import SAMPLE_RATE
from pipelines.review.queue import questions
from pipelines.stages import run as run_module
from pipelines.stages.grouping_state import LAST_RUN, UNREVIEWED
from pipelines.stages.run import regroup, run, status
from pipelines.stages.season import VOICE_EVIDENCE
from pipelines.store.workspace import Workspace
from tests.pipelines.conftest import planted_episode

MODEL = "counting-voice"
NEW_SPEAKER = 7
SEASON = [[0, 1, 2] * 8 + [3] * 6, [0, 1, 2] * 8 + [3] * 4, [1, 2, 0] * 8 + [4] * 5]
EPISODE_4 = [0, 1, 2] * 7 + [NEW_SPEAKER] * 6 + [3] * 3


class CountingEmbedder:
    """Each line's audio holds its code (episode * 10000 + line + 1); the vector is the planted
    one for that line. Records which episodes it was asked to embed."""

    name = MODEL
    dim = 32

    def __init__(self, table: dict[int, np.ndarray]) -> None:
        self.table = table
        self.episodes: list[int] = []

    def __call__(self, segments, progress=None):
        codes = [int(round(float(seg[len(seg) // 2]))) for seg in segments]
        self.episodes += sorted({c // 10000 for c in codes} - set(self.episodes))
        return np.stack([self.table[c] for c in codes])


@pytest.fixture
def season(tmp_path, monkeypatch):
    """A workspace of three episodes, and a function adding episode n from ``speakers``."""
    table: dict[int, np.ndarray] = {}
    audio: dict[str, np.ndarray] = {}
    truth: dict[str, int] = {}
    rng = np.random.default_rng(5)
    ws = Workspace.init(tmp_path / "ws")

    def add(n: int, speakers: list[int]) -> str:
        events, X = planted_episode(rng, speakers)
        media, subs = tmp_path / f"ep{n:02d}.wav", tmp_path / f"ep{n:02d}.srt"
        media.write_bytes(b"x")
        subs.write_text(f"episode {n}")
        ep, _ = ws.add_episode(media, subs, 2.0 * len(speakers) + 5, "audio", events, {})
        wave = np.zeros(int((2.0 * len(speakers) + 5) * SAMPLE_RATE), np.float32)
        for i, ev in enumerate(events):
            code = n * 10000 + i + 1
            wave[int(ev.start * SAMPLE_RATE) : int(ev.end * SAMPLE_RATE)] = code
            table[code] = X[i]
            truth[f"{ep.id}-{i:04d}"] = speakers[i]
        audio[ep.id] = wave
        return ep.id

    monkeypatch.setattr(run_module, "episode_audio", lambda ws, episode_id: audio[episode_id])
    for n, speakers in enumerate(SEASON, 1):
        add(n, speakers)
    yield ws, add, (lambda: CountingEmbedder(table)), truth
    ws.close()


def _label(ws: Workspace, truth: dict[str, int]) -> None:
    """What a person did to the season: named speakers 0-2 in episode 1 (names spread), told
    two groups of episode 2 apart, and named speaker 3 in episode 2."""
    first = {}
    for lid, spk in truth.items():
        first.setdefault((lid[:4], spk), lid)
    for spk, name in [(0, "Ann"), (1, "Ben"), (2, "Cat")]:
        ws.name_lines([first[("ep01", spk)]], name)
    regroup(ws)
    g0, g1 = ws.line(first[("ep02", 0)]).group, ws.line(first[("ep02", 1)]).group
    ws.separate_groups(g0, g1)
    ws.name_lines([first[("ep02", 3)]], "Dan")
    regroup(ws)


def _snapshot(ws: Workspace, episodes: set[str]) -> dict:
    df = ws.lines_frame()
    df = df[df["episode_id"].isin(episodes)]
    cols = ["id", "speaker", "source", "confidence", "group_id", "character", "character_id"]
    return {
        "rows": df[cols].astype(str).to_records(index=False).tolist(),
        "human": ws.human_labels(),
        "cannot": ws.cannot_links(),
        "locks": ws.locks(),
        "history": [(a.id, a.verb, a.state) for a in ws.actions.history()],
    }


def _labelled_season(season):
    ws, add, embedder, truth = season
    first = embedder()
    run(ws, embedder=first)
    assert first.episodes == [1, 2, 3]
    _label(ws, truth)
    return ws, add, embedder, truth


def test_an_added_episode_is_grouped_alone_and_changes_nothing_there(season) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    old = {ep.id for ep in ws.episodes()}
    before = _snapshot(ws, old)
    vector_files = {ep: ws.vectors.path(ep, "voice", MODEL) for ep in old}
    mtimes = {ep: p.stat().st_mtime_ns for ep, p in vector_files.items()}
    old_ids = set(ws.lines_frame()["character_id"].dropna())

    new = add(4, EPISODE_4)
    counting = embedder()
    summary = run(ws, embedder=counting)

    assert counting.episodes == [4]  # only the new episode was embedded
    assert {ep: p.stat().st_mtime_ns for ep, p in vector_files.items()} == mtimes
    assert f"incremental: grouped 1 new episode ({len(EPISODE_4)} lines)" in summary
    assert _snapshot(ws, old) == before  # ids, names, machine labels, human decisions
    assert "incremental: grouped 1 new episode" in status(ws)

    df = ws.lines_frame()
    df = df[df["episode_id"] == new].assign(truth=lambda d: d["id"].map(truth))
    assert df["group_id"].notna().all() and df["group_id"].str.startswith(new + "-").all()
    known = df[df["truth"].isin([0, 1, 2, 3])]
    # the main cast joins the existing characters and takes their names
    assert set(known["character_id"]) <= old_ids
    right = known["speaker"] == known["truth"].map({0: "Ann", 1: "Ben", 2: "Cat", 3: "Dan"})
    assert right.mean() >= 0.9, known[["id", "truth", "speaker", "character"]]
    # a voice the season never had becomes a new character and takes no existing name
    newcomer = df[df["truth"] == NEW_SPEAKER]
    assert newcomer["character_id"].nunique() == 1
    assert not set(newcomer["character_id"]) & old_ids
    assert newcomer["speaker"].isna().all()

    # the review starts with the new episode: who is the newcomer?
    first = questions(ws, limit=5)[0]
    assert first.line_id.startswith(new + "-") and truth[first.line_id] == NEW_SPEAKER
    assert first.fresh


def test_cli_review_marks_the_new_episodes_questions(season, capsys) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    assert main(["review", str(ws.root)]) == 0
    assert "(new episode)" not in capsys.readouterr().out
    add(4, EPISODE_4)
    run(ws, embedder=embedder())
    assert main(["review", str(ws.root), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. (new episode) Who is this")


def test_the_review_answers_and_undo_work_across_an_incremental_run(season) -> None:
    from pipelines.review.queue import answer

    ws, add, embedder, truth = _labelled_season(season)
    new = add(4, EPISODE_4)
    run(ws, embedder=embedder())
    q = questions(ws, limit=1)[0]
    answer(ws, q, "Eve")  # a human action: the season regroups as before
    named = ws.lines_frame().set_index("id")["speaker"]
    newcomer = [lid for lid, spk in truth.items() if spk == NEW_SPEAKER]
    assert (named[newcomer] == "Eve").mean() >= 0.8
    assert ws.human_labels()[q.line_id] == "Eve"
    # undo takes the answer back, then the decisions made before the episode came
    assert ws.actions.undo().verb == "name"
    regroup(ws)
    assert q.line_id not in ws.human_labels()
    assert ws.actions.undo().verb == "name"
    regroup(ws)
    assert "Dan" not in ws.human_labels().values()
    assert ws.actions.undo().verb == "separate"
    regroup(ws)
    assert ws.cannot_links() == []
    assert ws.actions.redo().verb == "separate"
    regroup(ws)
    assert ws.cannot_links()
    assert set(ws.lines_frame()["episode_id"]) == {"ep01", "ep02", "ep03", new}


def test_an_interrupted_incremental_run_resumes(season, monkeypatch, tmp_path) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    add(4, EPISODE_4)
    shutil.copytree(ws.root, tmp_path / "copy")
    state = ws.get_meta("grouping_state")
    evidence = ws.get_meta(VOICE_EVIDENCE)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies while writing

    with monkeypatch.context() as m:
        m.setattr(Workspace, "add_machine_results", killed)
        with pytest.raises(KeyboardInterrupt):
            run(ws, embedder=embedder())
    assert ws.lines_frame(episode_id="ep04")["group_id"].isna().all()
    assert ws.get_meta("grouping_state") == state  # nothing half-written
    assert ws.get_meta(VOICE_EVIDENCE) == evidence and ws.get_meta(UNREVIEWED) is None
    assert ws.stage_done("ep04", "voice", MODEL)  # the embedding is kept
    again = embedder()
    summary = run(ws, embedder=again)
    assert again.episodes == [] and "incremental: grouped 1 new episode" in summary
    with Workspace.open(tmp_path / "copy") as other:
        run(other, embedder=embedder())  # the same run, never interrupted
        expected = _snapshot(other, {"ep01", "ep02", "ep03", "ep04"})["rows"]
    assert _snapshot(ws, {"ep01", "ep02", "ep03", "ep04"})["rows"] == expected


def test_a_full_regroup_killed_while_writing_leaves_its_records_as_they_were(
    season, monkeypatch
) -> None:
    """What the grouping covered, the voice-evidence verdict the next regroup reads, and which
    episodes the review asks about first are written with the groups, or not at all."""
    ws, add, embedder, truth = _labelled_season(season)
    add(4, EPISODE_4)
    before = {k: ws.get_meta(k) for k in ("grouping_state", VOICE_EVIDENCE, UNREVIEWED)}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Workspace, "_insert_machine_labels", killed)  # inside the transaction
        with pytest.raises(KeyboardInterrupt):
            run(ws, embedder=embedder(), regroup_mode="all")
    assert {k: ws.get_meta(k) for k in before} == before
    run(ws, embedder=embedder(), regroup_mode="all")
    assert ws.get_meta(UNREVIEWED) == '["ep04"]'  # the resumed run still asks about it first
    assert "ep04" in ws.get_meta(VOICE_EVIDENCE)
    assert questions(ws, limit=1)[0].fresh


def test_anything_else_changed_regroups_the_whole_season(season) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    add(4, EPISODE_4)
    ws.name_lines(["ep03-0000"], "Ben")  # `label --no-propagate`: not grouped yet
    summary = run(ws, embedder=embedder())
    assert "incremental" not in summary
    assert "human decisions changed" in status(ws)
    # nothing new now: a plain re-run regroups as it always did
    assert "no new episodes" in (run(ws, embedder=embedder()) and status(ws))


def test_regroup_all_is_the_full_regroup_and_the_cli_says_so(tmp_path, make_ws, capsys) -> None:
    with make_ws([[0, 1, 2] * 6, [0, 1, 2] * 6]) as ws:
        ws.conn.execute("UPDATE episodes SET kind='imported'")  # `run` only groups them
        ws.conn.commit()
        run(ws)
        assert "last run regrouped the whole season (first grouping of the season)" in status(ws)
        with pytest.raises(UsageError, match="--regroup new: use one of auto, all"):
            run(ws, regroup_mode="new")
    root = str(tmp_path / "ws")
    assert main(["run", root, "--regroup", "all"]) == 0
    capsys.readouterr()
    assert main(["status", root]) == 0
    out = capsys.readouterr().out
    assert "last run regrouped the whole season (asked for with --regroup all)" in out
    with Workspace.open(root) as ws:
        assert '"mode": "full"' in ws.get_meta(LAST_RUN)
    with pytest.raises(SystemExit):
        main(["run", root, "--regroup", "some"])


def test_run_help_names_the_full_regroup(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--regroup {auto,all}" in capsys.readouterr().out


def test_new_lines_linked_to_existing_characters_keep_the_open_set_rule(season) -> None:
    """A newcomer whose voice sits nearer an unnamed character than any named one stays
    unnamed: names spread into the new episode only where the voice agrees."""
    ws, add, embedder, truth = _labelled_season(season)
    add(4, [0, 1, 2] * 6 + [4] * 6)  # speaker 4 was in episode 3, never named
    run(ws, embedder=embedder())
    df = ws.lines_frame(episode_id="ep04").assign(truth=lambda d: d["id"].map(truth))
    four = df[df["truth"] == 4]
    ep3_four = ws.lines_frame(episode_id="ep03")
    ep3_four = ep3_four[ep3_four["id"].map(truth) == 4]
    assert four["speaker"].isna().all()
    assert set(four["character_id"]) == set(ep3_four["character_id"])  # linked, not new


def test_workspace_without_a_grouping_record_regroups_fully(season) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    ws.conn.execute("DELETE FROM meta WHERE key='grouping_state'")  # an older castlist's
    ws.conn.commit()
    add(4, EPISODE_4)
    assert "incremental" not in run(ws, embedder=embedder())
    assert "not been grouped by this castlist version" in status(ws)


def test_two_added_episodes_link_to_the_season_and_to_each_other(season) -> None:
    ws, add, embedder, truth = _labelled_season(season)
    old_ids = set(ws.lines_frame()["character_id"].dropna())
    add(4, EPISODE_4)
    add(5, [2, 1, 0] * 6 + [NEW_SPEAKER] * 5)
    counting = embedder()
    summary = run(ws, embedder=counting)
    assert counting.episodes == [4, 5]
    assert "incremental: grouped 2 new episodes" in summary
    df = ws.lines_frame().assign(truth=lambda d: d["id"].map(truth))
    newcomer = df[df["truth"] == NEW_SPEAKER]
    assert set(newcomer["episode_id"]) == {"ep04", "ep05"}
    assert newcomer["character_id"].nunique() == 1  # one new character across both
    assert not set(newcomer["character_id"]) & old_ids
