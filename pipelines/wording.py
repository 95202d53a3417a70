"""How castlist words what it prints or shows, the same in the CLI and the browser: counts
("1 line", "12 lines") and logged actions ("named 3 lines Kyon (ep01-0001, ...)")."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["action_sentence", "count", "left_out_sentence", "shown_ids"]


def count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is one (regular English nouns only: line,
    group, episode, character, question)."""
    n = int(n)
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def left_out_sentence(n: int) -> str:
    """What a dataset's confidence floor left out, and the two ways to bring it in."""
    return (
        f"left out {count(n, 'line')} whose machine name is under --min-confidence; "
        "`castlist review` confirms names, `--min-confidence 0` takes every name as it is"
    )


def shown_ids(ids: object, limit: int = 3) -> str:
    """The first ``limit`` ids and how many more ("a, b, c and 4 more")."""
    ids = [str(i) for i in (ids or [])] if isinstance(ids, (list, tuple)) else [str(ids)]
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def action_sentence(verb: str, args: Mapping[str, object]) -> str:
    """One logged action as a sentence ("named 3 lines Kyon (ep01-0001, ...)"): the browser's
    History and the CLI's undo/redo say it alike."""
    args = dict(args or {})
    lines = args.get("lines") or []
    many = count(len(lines), "line") if isinstance(lines, (list, tuple)) else "lines"
    groups = args.get("groups") or []
    name = args.get("name")
    if verb == "name":
        return f"named {many} {name} ({shown_ids(lines)})"
    if verb == "rename":
        return f"renamed {many} to {name}"
    if verb == "ambient":
        return f"marked {many} ambient ({shown_ids(lines)})"
    if verb == "name_group":
        return f"named group {args.get('group')} {name}"
    if verb == "check":
        names = args.get("names") or {}
        others = sum(1 for v in names.values() if v != name) if isinstance(names, dict) else 0
        fixed = f", {others} corrected" if others else ""
        return f"checked {many} named {name}{fixed} ({shown_ids(lines)})"
    if verb == "merge":
        return f"merged groups {shown_ids(groups, 6)}"
    if verb == "separate" and len(groups) == 2:
        return f"said groups {groups[0]} and {groups[1]} are different characters"
    if verb == "split":
        return f"split {many} off into a new group ({shown_ids(lines)})"
    if verb == "move":
        target = args.get("group")
        where = f"to group {target}" if target else "into a new group"
        return f"moved {many} {where} ({shown_ids(lines)})"
    if verb in ("undo", "redo") and "action" in args:
        return f"{'undid' if verb == 'undo' else 'redid'} action #{args['action']}"
    details = "; ".join(
        f"{k} {shown_ids(v, 6) if isinstance(v, (list, tuple)) else v}" for k, v in args.items()
    )
    return f"{verb.replace('_', ' ')}" + (f": {details}" if details else "")
