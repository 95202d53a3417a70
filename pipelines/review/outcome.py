"""What a labelling or editing command changed, in words the user can act on.

A command that only prints "action #2: name 1" leaves the user guessing whether one line or
a whole character got named. The CLI takes the lines before the action and after the regroup
that follows it, and this module turns the difference (plus what the regroup reported in its
:class:`~pipelines.stages.season.SeasonResult`) into a few plain lines: what was named, merged or
moved, how many more lines the names reached, what stayed unnamed, and, when a hand-named line
only loosely belongs to its group, the exact command that names the whole group.
"""

from __future__ import annotations

import shlex
from typing import Any

import pandas as pd

from pipelines.records import AMBIENT, SURE, LabelSource
from pipelines.stages.hints import HINT_SOURCE
from pipelines.stages.season import SeasonResult
from pipelines.store.actions import Action
from pipelines.wording import action_sentence, count, shown_ids

Frame = pd.DataFrame

_HUMAN = LabelSource.HUMAN.value


_FRAME_COLUMNS = (
    "id", "group_id", "character_id", "character", "speaker", "source", "confidence", "score",
)  # fmt: skip


def frame(ws: Any) -> Frame:
    """The speech lines with the columns :func:`describe` compares, indexed by line id."""
    return ws.lines_frame(speech_only=True)[list(_FRAME_COLUMNS)].set_index("id")


def _size(after: Frame, group: str | None) -> int:
    return int((after["group_id"] == group).sum()) if group else 0


def _group_size(after: Frame, group: str, now: str = "") -> str:
    """ "ep01-g7 (1 line)": a group id with its size, in words that agree in number."""
    return f"{group} ({now}{count(_size(after, group), 'line')})"


def _newly_human(before: Frame, after: Frame, name: str) -> pd.Index:
    now = after.index[(after["source"] == _HUMAN) & (after["speaker"] == name)]
    was = before.reindex(now)
    return now[~((was["source"] == _HUMAN) & (was["speaker"] == name)).to_numpy()]


def _unsure(name: str, after: Frame) -> str:
    """ " (150 of the 182 lines propagated as NAME unsure ...)" where most of the name's
    propagated lines are under ``SURE`` (weak voice evidence names every line), so "182 more
    lines propagated" is not read as 182 lines done, nor as 182 lines for the dataset."""
    mine = after[(after["speaker"] == name) & (after["source"] == LabelSource.PROPAGATED.value)]
    unsure = int((pd.to_numeric(mine["confidence"], errors="coerce").fillna(0.0) < SURE).sum())
    if not len(mine) or unsure * 2 <= len(mine):
        return ""
    share = "the line" if len(mine) == 1 else f"{unsure} of the {len(mine)} lines"
    return (
        f" ({share} propagated as {name} unsure: the voices sit close;"
        " `castlist review` checks them; until then `castlist features` leaves them out)"
    )


def _spread(
    name: str, after: Frame, characters: set, result: SeasonResult | None, why: str = ""
) -> list[str]:
    """How far a name reached by propagation, and what the named character left unnamed."""
    out = []
    if result is not None:
        delta = result.propagated[name] - result.propagated_before[name]
        if delta > 0:
            out.append(f"{count(delta, 'more line')} propagated{_unsure(name, after)}")
        elif delta < 0:
            out.append(f"{count(-delta, 'fewer line')} named {name} by propagation")
        else:
            out.append("no more lines propagated")
    if characters:
        mine = after[after["character_id"].isin(list(characters))]
        unnamed = int(mine["speaker"].isna().sum())
        if unnamed:
            out.append(f"{count(unnamed, 'line')} of that character left unnamed{why}")
    return out


def _describe_name_group(
    action: Action, before: Frame, after: Frame, result: SeasonResult | None, ws_arg: str
) -> list[str]:
    group, name = action.args["group"], action.args["name"]
    changed = _newly_human(before, after, name)
    renamed = before.reindex(changed)
    old = renamed["speaker"][renamed["source"] == _HUMAN].dropna()
    size = _size(after, group)
    if len(old):
        head = (
            f"renamed group {group} ({count(size, 'line')}) from {old.mode().iloc[0]} to {name} "
            f"({count(len(old), 'line')} renamed, {len(changed) - len(old)} newly named)"
        )
    elif len(changed):
        head = f"named group {group} ({count(size, 'line')}) {name}"
    else:
        head = f"group {group} ({count(size, 'line')}) was already named {name}; nothing changed"
    chars = set(after.loc[after["group_id"] == group, "character_id"].dropna())
    out = ["; ".join([head, *_spread(name, after, chars, result, " (weak voice match)")])]
    # lines of the group a person named otherwise keep their names (a group is renamed only
    # where most of it carries one hand name); say so, or the user takes it for a rename
    mine = before[(before["group_id"] == group) & (before["source"] == _HUMAN)]
    kept = mine[mine["speaker"].notna() & ~mine["speaker"].isin([name, AMBIENT])]
    kept = kept[~kept.index.isin(changed)]
    if len(kept):
        names = shown_ids([f"{lid} ({who})" for lid, who in kept["speaker"].items()], 5)
        lines = " ".join(f"--line {lid}" for lid in kept.index)
        one = len(kept) == 1
        out.append(
            f"note: {count(len(kept), 'line')} of the group {'keeps' if one else 'keep'} the "
            f"name a person gave {'it' if one else 'them'}: {names}. If "
            f"{'it is' if one else 'they are'} {name} too: castlist label "
            f"{shlex.quote(ws_arg)} {lines} --name {shlex.quote(name)}"
        )
    return out


def _describe_name_lines(
    action: Action, before: Frame, after: Frame, result: SeasonResult | None, ws_arg: str
) -> list[str]:
    name, lines = action.args["name"], action.args["lines"]
    shown = shown_ids(lines, 5)
    if name == AMBIENT:
        return [f"marked {count(len(lines), 'line')} ambient, left out of grouping ({shown})"]
    was = before.reindex(lines)
    renamed = was[(was["source"] == _HUMAN) & was["speaker"].notna() & (was["speaker"] != name)]
    before_names = sorted(set(renamed["speaker"]))
    replaced = f"; was {', '.join(before_names)} by hand" if before_names else ""
    out = [f"named {count(len(lines), 'line')} {name} ({shown}{replaced})"]
    chars = set(after.reindex(lines)["character_id"].dropna())
    out[0] = "; ".join([out[0], *_spread(name, after, chars, result)])
    adopted = {} if result is None else result.adopted
    present = set(after["group_id"])
    for lid in lines:
        group = adopted.get(lid)
        if group is not None and group in present:
            out.append(
                f"note: {lid} stands in a group of its own, but its voice matches group "
                f"{_group_size(after, group)}, so {name} spread there"
            )
    loose = [lid for lid in lines if result is not None and lid in result.loose]
    for group in dict.fromkeys(after.reindex(loose)["group_id"].dropna()):
        members = after[after["group_id"] == group]
        here = [lid for lid in loose if after.at[lid, "group_id"] == group]
        if len(members) == len(here):
            out.append(
                f"note: {', '.join(here)} stands alone (its voice matched no group), so the "
                f"name named only {'this line' if len(here) == 1 else 'these lines'}. "
                f"castlist review {shlex.quote(ws_arg)} asks about the unnamed groups next"
            )
            continue
        if (members["speaker"] == name).sum() * 2 > len(members):
            continue  # the group carries the name anyway
        out.append(
            f"note: {', '.join(here)} only loosely belongs to group {group} "
            f"({len(members)} lines; weak voice match), so the name did not spread to the "
            f"group. If the whole group is {name}: castlist label {shlex.quote(ws_arg)} "
            f"--group {group} --name {shlex.quote(name)}"
        )
    return out


def describe(
    action: Action,
    before: Frame,
    after: Frame,
    result: SeasonResult | None,
    ws_arg: str,
    verb: str | None = None,
) -> list[str]:
    """Lines to print after ``action`` (``verb``: "undo"/"redo" when it was replayed)."""
    if verb in ("undo", "redo"):
        done = "undid" if verb == "undo" else "redid"
        out = [f"{done} action #{action.id}: {action_sentence(action.verb, action.args)}"]
    elif action.verb == "name_group":
        out = _describe_name_group(action, before, after, result, ws_arg)
    elif action.verb in ("name", "ambient"):
        out = _describe_name_lines(action, before, after, result, ws_arg)
    elif action.verb == "merge":
        target, *rest = action.args["groups"]
        out = [
            f"merged {', '.join(rest)} into {target} (now {count(_size(after, target), 'line')})"
        ]
    elif action.verb == "move":
        group, lines = action.args["group"], action.args["lines"]
        out = [f"moved {count(len(lines), 'line')} into {_group_size(after, group, 'now ')}"]
    elif action.verb == "split":
        lines = action.args["lines"]
        left = sorted(set(before.reindex(lines)["group_id"].dropna()))
        into = sorted(set(after.reindex(lines)["group_id"].dropna()))
        out = [
            f"split {count(len(lines), 'line')} off {', '.join(left) or 'their group'} into "
            f"{', '.join(_group_size(after, g) for g in into)}; "
            "they will not rejoin the lines they left"
        ]
    elif action.verb == "separate":
        a, b = action.args["groups"]
        out = [f"{a} and {b} are different characters from now on: never grouped or linked"]
    else:
        out = [action_sentence(action.verb, action.args)]
    if verb not in ("undo", "redo"):
        out[0] = f"action #{action.id}: {out[0]}"
    out += _totals(before, after, result)
    return out


def _totals(before: Frame, after: Frame, result: SeasonResult | None) -> list[str]:
    """The season-wide effect: named lines before -> after, and ids that went away."""

    def counts(df: Frame) -> tuple[int, int, int, int]:
        speech = df[df["speaker"] != AMBIENT]
        named = speech["speaker"].notna()
        human = int((speech["source"] == _HUMAN).sum())
        hint = int((named & (speech["source"] == HINT_SOURCE)).sum())
        return human, int(named.sum()) - human - hint, hint, int((~named).sum())

    h0, p0, s0, u0 = counts(before)
    h1, p1, s1, u1 = counts(after)
    hints = f", {s1} from subtitle names" if s0 or s1 else ""
    hints_before = f" / {s0}" if s0 or s1 else ""
    out = [
        f"names now: {count(h1, 'line')} by hand, {p1} propagated{hints}, {u1} unnamed "
        f"(before: {h0} / {p0}{hints_before} / {u0})"
    ]
    if result is not None and result.retired:
        gone = [
            f"{rid} ({'merged into ' + s if why == 'merged' and s else why})"
            for rid, (s, why) in sorted(result.retired.items())
        ]
        out.append("ids no longer in use: " + ", ".join(gone[:10]))
    return out
