"""Names the subtitles already carry, used as evidence and never as truth.

Three sources: the ASS Name/Actor field (read by :mod:`pipelines.io.subtitles`), hearing-impaired
speaker tags at the start of a line (``KYON: ...``, ``(Kyon) ...``, ``[Kyon] ...``,
``- Kyon: ...``, ``キョン（心の声）...``, ``キョン：...``), and speaker-coloured styles (a style
that only ever carries one name). Each becomes the line's ``name_hint``; the tag leaves the text.

After grouping, a season character whose lines mostly carry one hint is *proposed* under that
name (:func:`propose_names`): its unnamed lines get a machine label with source ``"hint"``,
which a hand label always beats and which never becomes a constraint. Hints of imported lines
keep their old meaning (truth for ``eval``) unless the workspace says ``speaker_as_hint``.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipelines.records import AMBIENT, SubtitleEvent

log = logging.getLogger(__name__)

HINT_SOURCE = "hint"
"""Label source of a line named from subtitle hints (weaker than propagated, never human)."""

MIN_SHARE = 0.6
"""Share of a character's hinted lines that must agree on one name before it is proposed."""
MIN_VOTES = 2
"""Hinted lines a character needs before its name is proposed (one tag can be a typo)."""
OWN_HINT_CONFIDENCE = 0.75
"""Confidence of a line named by its own hint where its character's proposal says otherwise
(or there is none): a subtitle naming the speaker is usually right, but typos, shared tags
("Both", "Girls") and fansub nicknames keep it below a group's agreement."""
META_KEY = "hint_proposals"
"""Workspace meta key holding the latest proposals, for the review queue."""
SPEAKER_AS_HINT = "speaker_as_hint"
"""Workspace meta flag: imported ``speaker`` columns are hints too (``import --speaker-as-hint``)."""

_JA = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f々〆ヶー・"
_NOT_NAME_WORDS = (
    "note notes warning look listen wait yes no okay ok well hey so now then and but or "
    "oh ah what why how who where when please sorry thanks thank tl ps p.s narrator title "
    "sign signs song caption text sfx music chorus lyrics all both everyone"
)
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())

# Order matters: the first pattern that matches a line's start wins.
_TAG_RES = (
    # "- Kyon: hi", "-KYON: hi" (dash-introduced speaker, any case)
    re.compile(r"^[-\u2013\u2014]\s*(?P<name>[A-Z][\w.'\u00c0-\u024f]*(?: [A-Z][\w.'\u00c0-\u024f]*){0,2})\s*:\s+(?P<rest>\S.*)$"),
    # "KYON: hi", "MR. SMITH: hi" (HI convention: capitals)
    re.compile(r"^(?P<name>[A-Z][A-Z.'\u00c0-\u00de]+(?: [A-Z][A-Z.'\u00c0-\u00de]*){0,2})\s*:\s+(?P<rest>\S.*)$"),
    # "Kyon: hi", "Haruhi Suzumiya: hi" (capitalised words)
    re.compile(r"^(?P<name>[A-Z][a-z\u00e0-\u024f'.]+(?: [A-Z][a-z\u00e0-\u024f'.]+)?)\s*:\s+(?P<rest>\S.*)$"),
    # "(Kyon) hi", "[Haruhi] hi"
    re.compile(r"^[(\[](?P<name>[A-Z][a-z\u00e0-\u024f'.]+(?: [A-Z][a-z\u00e0-\u024f'.]+)?)[)\]]\s*(?P<rest>\S.*)$"),
    # "キョン（心の声）あ", "キョン(声) あ": name, a parenthetical, then the line
    re.compile(rf"^(?P<name>[{_JA}]{{1,10}})[（(][^）)]{{0,12}}[）)]\s*(?P<rest>\S.*)$"),
    # "（キョン）あ", "［春日］あ"
    re.compile(rf"^[（(［\[](?P<name>[{_JA}]{{1,10}})[）)］\]]\s*(?P<rest>\S.*)$"),
    # "キョン：あ", "春日:あ"
    re.compile(rf"^(?P<name>[{_JA}]{{1,10}})[：:]\s*(?P<rest>\S.*)$"),
)  # fmt: skip
_SECOND_SPEAKER_RE = re.compile(r"\s[-\u2013\u2014]\s*[A-Z][\w.']*(?: [A-Z][\w.']*){0,2}\s*:\s")


def split_tag(text: str) -> tuple[str, str]:
    """``(name, text without the tag)`` for a line opening with a speaker tag, else
    ``("", text)``. A line tagged for two speakers (``- A: hi - B: no``) gives no name."""
    stripped = text.strip()
    for rx in _TAG_RES:
        m = rx.match(stripped)
        if m is None:
            continue
        name, rest = m.group("name").strip(), m.group("rest").strip()
        if name.lower().strip(".") in _NOT_NAMES:
            return "", text
        if _SECOND_SPEAKER_RE.search(" " + rest):
            return "", text
        return canonical(name), rest
    return "", text


def canonical(name: str) -> str:
    """One spelling per name: "KYON", "Kyon" and " kyon " are the same hint."""
    name = " ".join(name.split()).strip(" .:")
    if name.isupper() or name.islower():
        name = name.title()
    return name


def with_tag_hints(events: Sequence[SubtitleEvent]) -> list[SubtitleEvent]:
    """Events with speaker tags moved from the text into ``name_hint``.

    The ASS Name field wins when both are there (it is what the typesetter meant); the tag is
    stripped from the text either way, so voices are matched against what is said.
    """
    out = []
    for ev in events:
        name, rest = split_tag(ev.text) if not ev.skip_reason else ("", ev.text)
        if name:
            ev = replace(ev, text=rest, name_hint=ev.name_hint or name)
        elif ev.name_hint:
            ev = replace(ev, name_hint=canonical(ev.name_hint))
        out.append(ev)
    return out


def style_names(events: Sequence[SubtitleEvent], min_lines: int = 3) -> dict[str, str]:
    """Speaker-coloured styles: a style whose hinted lines (at least ``min_lines``) all carry
    one name, and which no other name uses, maps to that name."""
    by_style: dict[str, Counter] = defaultdict(Counter)
    for ev in events:
        if ev.style and ev.name_hint and not ev.skip_reason:
            by_style[ev.style][ev.name_hint] += 1
    styles_of_name: dict[str, int] = Counter()
    for names in by_style.values():
        for name in names:
            styles_of_name[name] += 1
    out = {}
    for style, names in by_style.items():
        if len(names) == 1:
            (name, n), = names.items()  # fmt: skip
            if n >= min_lines and styles_of_name[name] == 1:
                out[style] = name
    return out


def with_hints(events: Sequence[SubtitleEvent]) -> list[SubtitleEvent]:
    """Every name hint the subtitles carry: Name field, speaker tags, speaker-coloured styles."""
    events = with_tag_hints(events)
    coloured = style_names(events)
    if coloured:
        log.info("speaker-coloured styles: %s", ", ".join(f"{s}={n}" for s, n in coloured.items()))
        events = [
            replace(ev, name_hint=coloured[ev.style])
            if not ev.name_hint and not ev.skip_reason and ev.style in coloured
            else ev
            for ev in events
        ]
    return events


# ---------------------------------------------------------------------------------- proposals
@dataclass(frozen=True)
class Proposal:
    """A season character the subtitles name: ``agree`` of its ``size`` lines say ``name``."""

    character: int
    name: str
    agree: int
    hinted: int
    size: int
    group: str  # its biggest episode group, what the review queue shows

    def question(self) -> str:
        return (
            f"Is group {self.group} {self.name}? (subtitles say so for {self.agree} of its "
            f"{self.size} lines)"
        )


def usable_hints(ws, df: pd.DataFrame) -> np.ndarray:
    """Per row of ``df``, its name hint when hints of its episode count as evidence, else ""."""
    imported = {ep.id for ep in ws.episodes() if ep.kind == "imported"}
    hints = df["name_hint"].fillna("").astype(str).to_numpy()
    if imported and ws.get_meta(SPEAKER_AS_HINT) != "1":
        hints = np.where(df["episode"].isin(imported).to_numpy(), "", hints)
    return hints


def proposals(
    hints: np.ndarray,
    roster: np.ndarray,
    group_of: np.ndarray,
    min_share: float = MIN_SHARE,
    min_votes: int = MIN_VOTES,
) -> list[Proposal]:
    """One proposal per season character whose hinted lines mostly agree on one name.

    Two characters may take one name: when the grouping split one voice in two (close voices,
    a shouted scene), both halves are that character, and the review queue asks about each
    (a yes to both is a merge)."""
    found: list[Proposal] = []
    for r in np.unique(roster):
        rows = roster == r
        votes = Counter(h for h in hints[rows] if h)
        if not votes:
            continue
        name, agree = votes.most_common(1)[0]
        hinted = sum(votes.values())
        if agree < min_votes or agree < min_share * hinted:
            continue
        group = Counter(group_of[rows].tolist()).most_common(1)[0][0]
        found.append(Proposal(int(r), name, agree, hinted, int(rows.sum()), str(group)))
    found.sort(key=lambda p: (-p.agree, p.character))
    return found


def propose_names(
    ws,
    df: pd.DataFrame,
    roster: np.ndarray,
    group_of: np.ndarray,
    label_rows: list[tuple[str, str | None, str, float | None]],
    counts: Counter | None = None,
) -> list[tuple[str, str | None, str, float | None]]:
    """``label_rows`` with unnamed lines named from subtitle hints (source ``"hint"``).

    An unnamed line takes its own hint when it has one (the subtitle says who speaks *this*
    line, which beats what its group's other lines say: groups merge close voices), else its
    character's proposed name. Only lines no one named are open to a hint: a hand label is not
    in ``label_rows`` at all (and the store never overwrites one), and a name propagated from
    hand labels wins. A character whose hand-given or propagated name differs from a hint
    keeps its name, for all its lines: a person has shown that hint wrong for that voice.
    The proposals are saved in the workspace meta for the review queue.
    """
    hints = usable_hints(ws, df)
    found = proposals(hints, roster, group_of) if hints.any() else []
    row_of = {lid: i for i, lid in enumerate(df["id"])}
    machine_names: dict[int, Counter] = defaultdict(Counter)
    # names a person gave (not in label_rows) or that spread from one: a hint never contradicts
    human = [(lid, name) for lid, name in ws.human_labels().items() if name != AMBIENT]
    for lid, speaker in [(r[0], r[1]) for r in label_rows] + human:
        if speaker is not None and lid in row_of:
            machine_names[int(roster[row_of[lid]])][speaker] += 1
    # the review asks only about characters nobody has named: after `label --group G --name
    # Alice` it still asked "Is group G Haruka?"
    open_questions = [p for p in found if not machine_names.get(p.character)]
    if ws.get_meta(META_KEY) is not None or open_questions:
        ws.set_meta(META_KEY, json.dumps([p.__dict__ for p in open_questions]))
    if not hints.any():
        return label_rows
    named_as = {p.character: p for p in found}
    out = []
    for row in label_rows:
        lid, speaker, _, _ = row
        i = row_of.get(lid)
        if speaker is None and i is not None:
            character = int(roster[i])
            p = named_as.get(character)
            taken = machine_names.get(character, Counter())
            # its own hint first, else the character's proposal; never against a person's name
            name = next(
                (n for n in (hints[i], p.name if p else "") if n and not set(taken) - {n}), ""
            )
            if name:
                agreed = p is not None and p.name == name
                conf = p.agree / max(p.hinted, 1) if agreed else OWN_HINT_CONFIDENCE
                row = (lid, name, HINT_SOURCE, round(conf, 3))
                if counts is not None:
                    counts[HINT_SOURCE] += 1
                    counts["unnamed"] -= 1
        out.append(row)
    if counts is not None and counts.get("unnamed", 0) <= 0:
        counts.pop("unnamed", None)
    log.info("subtitle hints name %d characters", len(found))
    return out


def hint_questions(ws) -> list[str]:
    """The review queue's questions about hint-named groups, most supported first."""
    raw = ws.get_meta(META_KEY)
    if not raw:
        return []
    return [Proposal(**p).question() for p in json.loads(raw)]
