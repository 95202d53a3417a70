"""`castlist demo`, the README's first command, end to end: what it prints and what it leaves."""

from __future__ import annotations

import re

from pipelines.cli import main


def test_the_demo_finds_the_voices_and_names_every_line(tmp_path, capsys):
    root = tmp_path / "demo"
    assert main(["demo", "--dir", str(root)]) == 0
    out = capsys.readouterr().out
    f1 = [float(x) for x in re.findall(r"edge P / R / F1\s+[\d.]+ / [\d.]+ / ([\d.]+)", out)]
    assert len(f1) == 2 and f1[0] >= 0.9 and f1[1] == 1.0
    assert "100.0% covered, 100.0% correct" in out
    # every character was named by hand on one of its lines: none is shown as a machine's
    # guess (the one-line Shopkeeper, whose only line is too short to be trusted, was)
    assert main(["status", str(root / "workspace")]) == 0
    status = capsys.readouterr().out
    characters = re.findall(r"^  (C\d+) (\S+)", status, flags=re.M)
    assert len(characters) == 8 and not any(name.startswith("~") for _, name in characters)


def test_a_character_of_hand_named_lines_only_takes_their_name():
    import numpy as np

    from pipelines.stages.season import character_vote

    trusted, loose = np.array([True, True, False]), np.array([False])
    assert character_vote(np.array([2, 2, 1]), trusted) == 2  # the trusted majority
    assert character_vote(np.array([1]), loose) == 1  # one loose hand-named line, alone
    assert character_vote(np.array([1, -1]), np.array([False, True])) == -1  # not with others
    assert character_vote(np.array([-1, -1]), np.array([True, True])) == -1
