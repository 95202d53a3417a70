"""``castlist``: the command line. A thin layer: parse, call the pipelines, print.

Every user error is a :class:`CastlistError` and comes out as one line on stderr with a
non-zero exit code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipelines.errors import CastlistError

log = logging.getLogger("castlist")

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class ProgressPrinter:
    """Progress on stderr: a rewritten line on a terminal, a line every 10% otherwise."""

    def __init__(self, stream=None) -> None:  # noqa: ANN001
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last: dict[str, int] = {}
        self._t0 = time.monotonic()

    def __call__(self, what: str, done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        elapsed = time.monotonic() - self._t0
        text = f"[{elapsed:6.1f}s] {what}: {done}/{total} ({pct}%)"
        if self.tty:
            self.stream.write("\r" + text.ljust(70) + ("\n" if done >= total else ""))
            self.stream.flush()
        elif pct // 10 != self._last.get(what, -1) or done >= total:
            self._last[what] = pct // 10
            print(text, file=self.stream)


# ---------------------------------------------------------------------------------- commands
def cmd_init(args: argparse.Namespace) -> int:
    from pipelines.workspace import Workspace

    with Workspace.init(args.workspace) as ws:
        print(f"workspace ready: {ws.root}")
    return 0


def _ask(question: str) -> bool:
    """A yes/no question on a terminal; False (no) when nobody is there to answer."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def cmd_add(args: argparse.Namespace) -> int:
    from pipelines.ingest import NoSubtitles, add_episode
    from pipelines.workspace import Workspace

    if args.subs and len(args.media) > 1:
        raise CastlistError("--subs names one subtitle file, so give one media file with it")
    with Workspace.open(args.workspace) as ws:
        for media in args.media:
            try:
                added = add_episode(
                    ws, media, args.subs, args.subs_lang, args.subs_track, args.asr, args.asr_model
                )
            except NoSubtitles:
                if args.asr is not None or not _ask(f"{media}: no subtitles; transcribe it?"):
                    raise
                added = add_episode(ws, media, asr="on", asr_model=args.asr_model)
            state = "added" if added.created else "already there, unchanged"
            print(f"{added.episode.id}: {state} ({added.summary})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run import run
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        if args.faces:
            ws.set_meta("face_style", args.faces)
        summary = run(
            ws, voice=args.voice, progress=ProgressPrinter(), separate=args.separate
        )
    print(summary)
    return 0


def _selected_lines(ws, args: argparse.Namespace) -> list[str]:  # noqa: ANN001
    ids: list[str] = list(args.line or [])
    for group in args.group or []:
        ids += ws.group_lines(group)
    for character in getattr(args, "character", None) or []:
        ids += ws.character_lines(character)
    if not ids:
        raise CastlistError("say which lines: --line ID, --group G or --character C")
    return list(dict.fromkeys(ids))


def cmd_label(args: argparse.Namespace) -> int:
    from pipelines.run import regroup
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        if args.ambient:
            action = ws.mark_ambient(_selected_lines(ws, args))
        elif not args.name:
            raise CastlistError("give --name NAME (or --ambient)")
        elif args.group and not args.line and not args.character and len(args.group) == 1:
            action = ws.name_group(args.group[0], args.name)
        else:
            action = ws.name_lines(_selected_lines(ws, args), args.name)
        print(
            f"action #{action.id}: {action.verb} {len(action.args.get('lines', [])) or ''}".rstrip()
        )
        if not args.no_propagate:
            print(regroup(ws))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    """merge / split / move / undo / redo share their shape: act, then re-propagate."""
    from pipelines.run import regroup
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        if args.command == "merge":
            action = ws.merge_groups(args.groups)
        elif args.command == "split":
            action = ws.split_lines(args.line)
        elif args.command == "move":
            action = ws.move_lines(args.line, args.to)
        elif args.command == "separate":
            action = ws.separate_groups(*args.groups)
        elif args.command == "undo":
            action = ws.undo()
        else:
            action = ws.redo()
        if action is None:
            print(f"nothing to {args.command}")
            return 0
        print(f"{args.command}: action #{action.id} ({action.verb})")
        print(regroup(ws))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.export import export
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        for path in export(
            ws, args.format, Path(args.output), include_skipped=args.include_skipped
        ):
            print(path)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.run import status
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        print(status(ws))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from pipelines.evaluate import evaluate, format_report, read_truth
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        scores = evaluate(ws, read_truth(args.truth))
    print(json.dumps(scores, indent=1) if args.json else format_report(scores))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pipelines.importer import import_lines
    from pipelines.workspace import Workspace

    vectors = {}
    for spec in args.vectors or []:
        modality, _, path = spec.partition("=")
        if not path:
            raise CastlistError(
                f"--vectors {spec!r}: write it as MODALITY=FILE.npy, e.g. voice=voice.npy"
            )
        vectors[modality] = Path(path)
    with Workspace.init(args.workspace) as ws:
        if args.speaker_as_hint:  # the speaker column is a guess to check, not truth
            ws.set_meta("speaker_as_hint", "1")
        print(import_lines(ws, Path(args.lines), vectors))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from pipelines.hints import hint_questions
    from pipelines.review import questions
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        for text in hint_questions(ws)[: args.limit]:
            print(f"[subtitles] {text}")
        for q in questions(ws, limit=args.limit):
            print(f"[saves {q.saves:.1f}] {q.text}")
    return 0


def cmd_faces(args: argparse.Namespace) -> int:
    from pipelines.face_roster import cluster_faces
    from pipelines.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        print(cluster_faces(ws))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    import subprocess

    from pipelines.workspace import Workspace

    Workspace.open(args.workspace).close()  # fail here, clearly, if it is not a workspace
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        str(Path(args.workspace).resolve()),
    ]
    print(f"castlist ui: http://localhost:{args.port}  (Ctrl+C to stop)")
    return subprocess.call(cmd)


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    print(run_demo(Path(args.dir) if args.dir else None, progress=ProgressPrinter()))
    return 0


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="castlist",
        description="Label every subtitle line of a season with the character who speaks it.",
        epilog="Typical day: castlist init WS; castlist add WS ep*.mkv; castlist run WS; "
        "castlist label WS --group G --name NAME; castlist run WS; castlist export WS -f csv -o out.csv",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def workspace_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("workspace", help="the workspace folder")

    p = command("init", cmd_init, "create a workspace folder")
    workspace_arg(p)

    p = command("add", cmd_add, "add episodes (video or audio) with their subtitles")
    workspace_arg(p)
    p.add_argument("media", nargs="+", help="video/audio files; subtitles are found beside them")
    p.add_argument("--subs", help="subtitle file (SRT/ASS) for a single media file")
    p.add_argument("--subs-lang", help="use the embedded subtitle track in this language (eng, jpn)")
    p.add_argument("--subs-track", type=int, help="use embedded subtitle track N (from 0)")
    p.add_argument(
        "--asr",
        nargs="?",
        const="on",
        choices=["on", "auto"],
        help="transcribe the audio (faster-whisper) instead of reading subtitles; "
        "'--asr auto' only when no subtitles are found",
    )
    p.add_argument("--asr-model", help="whisper model: a name or a CTranslate2 folder")

    p = command("run", cmd_run, "embed, group and name every line (resumable, cheap to re-run)")
    workspace_arg(p)
    p.add_argument(
        "--voice", default=None, help="voice model: campplus (default, offline) or ecapa"
    )
    p.add_argument(
        "--faces",
        choices=["auto", "live", "anime", "off"],
        help="face backend for video episodes (default: auto, guessed once per workspace)",
    )
    p.add_argument(
        "--separate",
        metavar="MODEL",
        help="remove music before embedding voices with an audio-separator model (file name "
        "or path, e.g. UVR-MDX-NET-Voc_FT.onnx); 'off' turns it off again",
    )

    p = command("label", cmd_label, "name lines, a group or a character by hand")
    workspace_arg(p)
    p.add_argument("--line", action="append", help="line id (repeatable), e.g. ep01-0042")
    p.add_argument("--group", action="append", help="group id (repeatable)")
    p.add_argument("--character", action="append", help="season character id (repeatable)")
    p.add_argument("--name", help="the character's name")
    p.add_argument("--ambient", action="store_true", help="mark as crowd/passers-by/song/narration")
    p.add_argument("--no-propagate", action="store_true", help="do not re-propagate names now")

    p = command("merge", cmd_edit, "the given groups are one character")
    workspace_arg(p)
    p.add_argument("groups", nargs="+", help="group ids; the first one keeps its id")
    p = command("split", cmd_edit, "split lines off into a new group of their own")
    workspace_arg(p)
    p.add_argument("--line", action="append", required=True, help="line id (repeatable)")
    p = command("move", cmd_edit, "move lines into another group")
    workspace_arg(p)
    p.add_argument("--line", action="append", required=True, help="line id (repeatable)")
    p.add_argument("--to", required=True, help="target group id")
    p = command("separate", cmd_edit, "two groups are different characters: never link them")
    workspace_arg(p)
    p.add_argument("groups", nargs=2, help="two group ids")
    for verb in ("undo", "redo"):
        p = command(verb, cmd_edit, f"{verb} the last human action")
        workspace_arg(p)

    p = command(
        "export",
        cmd_export,
        "write labelled lines as CSV, JSONL, RTTM, or per-line wav clips + manifest",
    )
    workspace_arg(p)
    p.add_argument("-f", "--format", choices=("csv", "jsonl", "rttm", "clips"), default="csv")
    p.add_argument(
        "-o", "--output", required=True, help="output file (a folder for rttm and clips)"
    )
    p.add_argument("--include-skipped", action="store_true", help="also export non-speech lines")

    p = command("status", cmd_status, "what the workspace holds and how much is named")
    workspace_arg(p)

    p = command("eval", cmd_eval, "score the workspace against ground truth")
    workspace_arg(p)
    p.add_argument(
        "--truth", required=True, help="CSV/JSONL with speaker and line_id or start,end[,episode]"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("import", cmd_import, "bring your own lines table and embeddings (see README)")
    workspace_arg(p)
    p.add_argument(
        "--lines", required=True, help="CSV or parquet: episode,start,end,text[,speaker]"
    )
    p.add_argument(
        "--vectors", action="append", help="MODALITY=FILE.npy, row i = line i (repeatable)"
    )
    p.add_argument(
        "--speaker-as-hint",
        action="store_true",
        help="treat the speaker column as subtitle name hints (proposed names) instead of truth",
    )

    p = command("review", cmd_review, "the questions that save the most work, best first")
    workspace_arg(p)
    p.add_argument("--limit", type=int, default=20)

    p = command("faces", cmd_faces, "group the season's on-screen faces into faces.png")
    workspace_arg(p)

    p = command("ui", cmd_ui, "open the cluster browser (Streamlit)")
    workspace_arg(p)
    p.add_argument("--port", type=int, default=8501)

    p = command(
        "demo", cmd_demo, "build a small episode from bundled audio and run everything on it"
    )
    p.add_argument("--dir", help="where to leave the demo workspace (default: ./castlist-demo)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except CastlistError as exc:
        print(f"castlist: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("castlist: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
