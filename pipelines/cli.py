"""``castlist``: the command line. A thin layer: parse, call the pipelines, print.

Every user error is a :class:`CastlistError` and comes out as one line on stderr with a
non-zero exit code; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
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

    def __init__(self, stream=None) -> None:
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
    from pipelines.store.workspace import Workspace

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
    from pipelines.stages.ingest import NoSubtitles, add_episode
    from pipelines.store.workspace import Workspace

    if args.subs and len(args.media) > 1:
        raise CastlistError("--subs names one subtitle file, so give one media file with it")
    with Workspace.open(args.workspace) as ws:
        for media in args.media:
            try:
                added = add_episode(
                    ws,
                    media,
                    args.subs,
                    args.subs_lang,
                    args.subs_track,
                    args.asr,
                    args.asr_model,
                    args.asr_lang,
                )
            except NoSubtitles:
                if args.asr is not None or not _ask(f"{media}: no subtitles; transcribe it?"):
                    raise
                added = add_episode(
                    ws, media, asr="on", asr_model=args.asr_model, asr_lang=args.asr_lang
                )
            state = "added" if added.created else "already there, unchanged"
            print(f"{added.episode.id}: {state} ({added.summary}; from {added.source})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.stages.run import run
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        if args.faces:
            ws.set_meta("face_style", args.faces)
        summary = run(
            ws,
            voice=args.voice,
            progress=ProgressPrinter(),
            voice_weights=args.voice_weights,
            separate=args.separate,
            regroup_mode=args.regroup,
            device=args.device,
            ray=args.ray,
        )
    print(summary)
    return 0


def _selected_lines(ws, args: argparse.Namespace) -> list[str]:
    ids: list[str] = list(args.line or [])
    for group in args.group or []:
        ids += ws.group_lines(group)
    for character in getattr(args, "character", None) or []:
        ids += ws.character_lines(character)
    if not ids:
        raise CastlistError("say which lines: --line ID, --group G or --character C")
    return list(dict.fromkeys(ids))


def cmd_label(args: argparse.Namespace) -> int:
    from pipelines.records import LabelSource
    from pipelines.review.answers import record_answers
    from pipelines.review.outcome import describe, frame
    from pipelines.stages.run import regroup
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        before = frame(ws)
        if args.ambient:
            action = ws.mark_ambient(_selected_lines(ws, args))
        elif not args.name:
            raise CastlistError("give --name NAME (or --ambient)")
        elif args.group and not args.line and not args.character and len(args.group) == 1:
            action = ws.name_group(args.group[0], args.name)
        else:
            ids = _selected_lines(ws, args)
            machine = before.reindex(ids)
            machine = machine[machine["source"] != LabelSource.HUMAN.value]
            said = zip(machine["speaker"], machine["score"], strict=True)
            action = ws.name_lines(ids, args.name)
            record_answers(ws, dict(zip(machine.index, said, strict=True)))  # the queue reads it
        result = None if args.no_propagate else regroup(ws)
        print("\n".join(describe(action, before, frame(ws), result, args.workspace)))
        if result is not None:
            print(result)
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    """merge / split / move / undo / redo share their shape: act, then re-propagate."""
    from pipelines.review.outcome import describe, frame
    from pipelines.stages.run import regroup
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        before = frame(ws)
        if args.command == "merge":
            action = ws.merge_groups(args.groups)
        elif args.command == "split":
            action = ws.split_lines(args.line)
        elif args.command == "move":
            action = ws.move_lines(args.line, args.to)
        elif args.command == "separate":
            action = ws.separate_groups(*args.groups)
        elif args.command == "undo":
            action = ws.actions.undo()
        else:
            action = ws.actions.redo()
        if action is None:
            print(f"nothing to {args.command}")
            return 0
        result = regroup(ws)
        replayed = args.command if args.command in ("undo", "redo") else None
        print("\n".join(describe(action, before, frame(ws), result, args.workspace, replayed)))
        print(result)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pipelines.export.tables import export
    from pipelines.stages.features import Selection
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        paths = export(
            ws,
            args.format,
            args.output,
            include_skipped=args.include_skipped,
            force=args.force,
            video=args.video,
            progress=ProgressPrinter(),
            min_confidence=Selection.parse(args.min_confidence, None).min_confidence,
        )
    for path in paths:  # nothing for `-o -`: stdout carries the data only
        print(path)
    return 0


def cmd_features(args: argparse.Namespace) -> int:
    from pipelines.stages.features import Selection, run_features
    from pipelines.store.workspace import Workspace

    selection = Selection.parse(args.min_confidence, args.sources)
    emotion = {}
    for kind, source in (("speech", args.speech_emotion), ("text", args.text_emotion)):
        if source:
            from embeddings.emotion import load_emotion
            from embeddings.errors import BackendUnavailable
            from pipelines.errors import ModelError

            try:
                emotion[kind] = load_emotion(kind, source)
            except BackendUnavailable as exc:
                raise ModelError(str(exc)) from exc
    with Workspace.open(args.workspace) as ws:
        print(run_features(ws, selection, progress=ProgressPrinter(), emotion=emotion))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipelines.export.report import write_report
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        out = Path(args.output) if args.output else ws.root / "report"
        print(write_report(ws, out, force=args.force or not args.output))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.stages.run import status
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        print(status(ws))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from pipelines.export.evaluate import evaluate, format_report, read_truth
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        scores = evaluate(ws, read_truth(args.truth))
    print(json.dumps(scores, indent=1) if args.json else format_report(scores))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from pipelines.stages.importer import import_lines
    from pipelines.store.workspace import Workspace

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
    from pipelines.review.queue import answer_commands, questions, why_empty
    from pipelines.stages.hints import hint_questions
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        hints = hint_questions(ws)[: args.limit]
        for text in hints:
            print(f"[subtitles] {text}")
        asked = questions(ws, limit=args.limit)
        for n, q in enumerate(asked, 1):
            where = f" (group {q.groups[0]})" if q.kind == "group" else ""
            shown = "lines" if q.kind == "check" else "sample lines"
            samples = f"; {shown} {', '.join(q.lines)}" if q.lines else ""
            new = "(new episode) " if q.fresh else ""
            print(f"{n}. {new}{q.text}{where} [{q.gain}{samples}]")
            for command in answer_commands(q, args.workspace):
                print(f"   {command}")
        if not hints and not asked:
            print(why_empty(ws, args.workspace))
    return 0


def cmd_faces(args: argparse.Namespace) -> int:
    from pipelines.stages.face_roster import cluster_faces
    from pipelines.store.workspace import Workspace

    with Workspace.open(args.workspace) as ws:
        print(cluster_faces(ws))
    return 0


UI_PASSWORD_ENV = "CASTLIST_UI_PASSWORD"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the browser server gets SIGTERM if ``castlist ui`` itself is killed (even -9)."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cmd_ui(args: argparse.Namespace) -> int:
    """Run Streamlit as a child on 127.0.0.1 (``--host`` to open it to a network) and stop it
    on SIGTERM/SIGINT: the child never outlives this command."""
    import contextlib
    import os
    import signal
    import subprocess

    from pipelines.store.workspace import Workspace

    Workspace.open(args.workspace).close()  # fail here, clearly, if it is not a workspace
    host = args.host or "127.0.0.1"
    password = args.password or os.environ.get(UI_PASSWORD_ENV) or ""
    if host not in LOOPBACK:
        print(
            f"castlist ui: warning: listening on {host}: anyone who can reach this machine on "
            f"port {args.port} can read and change the workspace"
            + ("" if password else "; set --password or $" + UI_PASSWORD_ENV),
            file=sys.stderr,
        )
    env = {k: v for k, v in os.environ.items() if k != UI_PASSWORD_ENV}
    if password:  # the environment, not argv: argv is readable by every local user
        env[UI_PASSWORD_ENV] = password
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(args.port),
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
        "--",
        str(Path(args.workspace).resolve()),
    ]
    shown = f"[{host}]" if ":" in host else host
    print(f"castlist ui: http://{shown}:{args.port}  (Ctrl+C to stop)", flush=True)
    linux = sys.platform.startswith("linux")
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent if linux else None)
    stopping: list[float] = []

    def stop(signum: int, frame: object) -> None:
        if not stopping:
            stopping.append(time.monotonic())
        if proc.poll() is None:
            proc.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while proc.poll() is None:
            if stopping and time.monotonic() - stopping[0] > 10:
                proc.kill()  # Streamlit did not stop within 10 s of SIGTERM
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return 0 if stopping else proc.returncode


def cmd_doctor(args: argparse.Namespace) -> int:
    from pipelines.store import doctor

    if args.restore:
        report = doctor.restore(args.workspace, args.restore)
    elif args.repair:
        report = doctor.repair(args.workspace)
    else:
        report = doctor.check(args.workspace)
    print(report)
    return 0 if report.healthy else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.demo.walkthrough import run_demo

    print(run_demo(Path(args.dir) if args.dir else None, progress=ProgressPrinter()))
    return 0


# ---------------------------------------------------------------------------------- parser
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("castlist")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="castlist",
        description="Label every subtitle line of a season with the character who speaks it.",
        epilog="Typical day: castlist init WS; castlist add WS ep*.mkv; castlist run WS; "
        "castlist label WS --group G --name NAME; castlist run WS; castlist export WS -f csv -o out.csv",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--version", action="version", version=f"castlist {_version()}")
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
    p.add_argument(
        "--subs-lang", help="use the embedded subtitle track in this language (eng, jpn)"
    )
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
    p.add_argument(
        "--asr-lang",
        help="spoken language for --asr (ja, en, jpn, ...); detected when not given. "
        "Not English: needs a multilingual --asr-model",
    )

    p = command("run", cmd_run, "embed, group and name every line (resumable, cheap to re-run)")
    workspace_arg(p)
    p.add_argument(
        "--voice",
        default=None,
        help="voice model: campplus (default, offline), anime, anime-va, ecapa, or a fusion "
        "such as campplus+anime (NAME:WEIGHT to weight a part)",
    )
    p.add_argument(
        "--voice-weights",
        action="append",
        metavar="PATH|NAME=PATH",
        help="local weights file of the voice model (instead of the model hub); for a fusion, "
        "NAME=PATH per model (repeatable)",
    )
    p.add_argument(
        "--faces",
        choices=["auto", "live", "anime", "insightface", "off"],
        help="face backend for video episodes (default: auto, guessed once per workspace); "
        "insightface: live action with the buffalo_l pack in $CASTLIST_INSIGHTFACE_DIR",
    )
    p.add_argument(
        "--separate",
        metavar="MODEL",
        help="remove music before embedding voices: 'gaps' (built in, no weights: the music "
        "heard in the subtitle gaps around each line is filtered out) or an audio-separator "
        "model (file name or path, e.g. UVR-MDX-NET-Voc_FT.onnx); 'off' turns it off again",
    )
    p.add_argument(
        "--regroup",
        choices=["auto", "all"],
        default="auto",
        help="auto (default): when episodes were added to a grouped season and nothing else "
        "changed, group only the new episodes and link them to the existing characters "
        "(existing groups, ids and names stay); all: regroup every episode",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="where the voice (and, with a CUDA OpenCV, face) models run: auto (CUDA where "
        "there is a GPU, default), cpu, cuda or cuda:N",
    )
    p.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help="run the per-episode stages as Ray tasks: auto joins the running cluster (or "
        "starts one here), ADDRESS joins that one (`ray start --head` prints it); the "
        "workspace must be on storage every node sees at the same path. Needs castlist[ray]",
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
        "write labelled lines as CSV, JSONL, RTTM, per-line wav clips + manifest, or a "
        "training dataset (dataset, speaker-grouping, lhotse)",
    )
    workspace_arg(p)
    p.add_argument(
        "-f",
        "--format",
        choices=("csv", "jsonl", "rttm", "clips", "dataset", "speaker-grouping", "lhotse"),
        default="csv",
        help="dataset: <season>_dataset.json + wavs/ + features/ (run `castlist features` "
        "first); speaker-grouping: meta.jsonl + parquet per episode; lhotse: manifests",
    )
    p.add_argument(
        "--video", action="store_true", help="-f dataset: also 25 fps per-line video clips"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output file (a folder for rttm and clips); - writes csv/jsonl/rttm to stdout; "
        "a FIFO, device or symlink is written through, never replaced",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace an existing file, or write into a non-empty folder (castlist then "
        "replaces only the files it writes); without it an existing output is refused",
    )
    p.add_argument("--include-skipped", action="store_true", help="also export non-speech lines")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="-f clips: only lines named at least this sure (0-1; hand labels count as 1; "
        "default 0.5, as `castlist features`; 0 takes every name)",
    )

    p = command(
        "features",
        cmd_features,
        "timbre, prosody and face features of the labelled lines (cached per episode, resumable)",
    )
    workspace_arg(p)
    p.add_argument(
        "--min-confidence",
        type=float,
        default=None,
        help="only lines labelled at least this sure (0-1; hand labels count as 1; default "
        "0.5: a machine's name less likely right than wrong is left out, 0 takes every name)",
    )
    p.add_argument(
        "--sources",
        default="human,propagated",
        help="label sources to include, comma-separated: human, propagated, cluster "
        "(default: human,propagated)",
    )
    p.add_argument(
        "--speech-emotion",
        metavar="DIR|HUB_ID",
        help="optional speech emotion model (a transformers audio classifier: a local "
        "save_pretrained folder, or a hub id when online); needs castlist[emotion]",
    )
    p.add_argument(
        "--text-emotion",
        metavar="DIR|HUB_ID",
        help="optional text emotion model (a transformers text classifier), as above",
    )

    p = command("report", cmd_report, "an HTML page per season: per character lines, time, prosody")
    workspace_arg(p)
    p.add_argument("-o", "--output", help="report folder (default: WS/report, replaced)")
    p.add_argument("--force", action="store_true", help="write into a non-empty -o folder")

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
    p.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1, this machine only); e.g. 0.0.0.0 "
        "opens the browser to the network: then set a password",
    )
    p.add_argument(
        "--password",
        help=f"ask for this password before showing anything (or set ${UI_PASSWORD_ENV})",
    )

    p = command(
        "demo", cmd_demo, "build a small episode from bundled audio and run everything on it"
    )
    p.add_argument("--dir", help="where to leave the demo workspace (default: ./castlist-demo)")

    p = command(
        "doctor",
        cmd_doctor,
        "check the database and vectors, list backups, restore one, repair vectors",
    )
    workspace_arg(p)
    p.add_argument(
        "--restore",
        metavar="BACKUP",
        help="put this backup (a name in backups/) back; stop `castlist ui` on it first",
    )
    p.add_argument(
        "--repair", action="store_true", help="clear bad vectors so `run` recomputes them"
    )
    for name in (*WRITING_COMMANDS, "doctor"):
        sub.choices[name].add_argument(
            "--wait",
            action="store_true",
            help="if another command is writing to the workspace, wait for it to finish",
        )
    return parser


# Commands that change the workspace: each takes the workspace lock (one writer at a time)
# and first makes a rolling backup of castlist.db (pipelines/store/backup.py).
WRITING_COMMANDS = (
    "add", "run", "label", "merge", "split", "move", "separate", "undo", "redo", "import",
    "features",
)  # fmt: skip


def _writing(args: argparse.Namespace) -> bool:
    if args.command == "doctor":
        return bool(args.restore or args.repair)
    return args.command in WRITING_COMMANDS


def _run_writing(args: argparse.Namespace) -> int:
    """Run a writing command under the workspace lock, after a backup of its database.

    SIGTERM is turned into the same clean stop as Ctrl+C (the lock is released, the
    command can be resumed); every write is atomic, so a kill -9 loses at most the step in
    flight."""
    import signal

    from pipelines.store.backup import back_up
    from pipelines.store.lock import DEFAULT_WAIT_S, WorkspaceLock
    from pipelines.store.workspace import DB_NAME

    root = Path(args.workspace)
    if not (root / DB_NAME).is_file():  # not a workspace (yet): nothing to lock or back up
        return args.func(args)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    installed = False
    try:
        previous = signal.signal(signal.SIGTERM, stop)
        installed = True
    except ValueError:  # not the main thread (main() called from a thread): leave signals be
        previous = None
    try:
        with WorkspaceLock(root, args.command, None if args.wait else DEFAULT_WAIT_S):
            try:
                if args.command != "doctor":  # doctor --restore keeps its own copy
                    back_up(root)
            except sqlite3.DatabaseError as exc:
                if not _damaged(exc):
                    raise
                log.info("no backup made: %s is damaged (%s)", root, exc)
            return args.func(args)
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


def _damaged(exc: sqlite3.Error) -> bool:
    """A damaged database is reported by the command itself (with the backup to restore);
    a full or read-only disk stops the command here, before it starts."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run_writing(args) if _writing(args) else args.func(args)
    except CastlistError as exc:
        print(f"castlist: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # `castlist doctor WS | head`: the reader left; nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (OSError, sqlite3.Error) as exc:  # a full disk, a read-only or damaged workspace
        from pipelines.faults import explain

        log.debug("%s", exc, exc_info=True)
        print(f"castlist: error: {explain(exc, getattr(args, 'workspace', None))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("castlist: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
