"""`castlist ui` is private by default (issue 8, items 3 and 13): it listens on 127.0.0.1, asks
for a password when one is set, reads ground truth only from an upload or the workspace, and
its Streamlit child stops with it on SIGTERM and SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pipelines import cli
from pipelines.store.workspace import Workspace
from tests.reliability.paths_helpers import build_ws
from tests.ui.conftest import open_app as ui_app

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "ui" / "app.py")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ws(tmp_path_factory.mktemp("ui_ws"))


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Path:
    import shutil

    shutil.copytree(template, tmp_path / "ws")
    return tmp_path / "ws"


def open_app(ws: Path, page: str = "Overview", **state: object) -> AppTest:
    return ui_app(ws, page, timeout=60, **state)


# ------------------------------------------------------------------ bind address, password env
class FakePopen:
    """Records how cmd_ui starts Streamlit, and exits at once."""

    calls: list[dict] = []

    def __init__(self, cmd: list[str], **kwargs: object) -> None:
        FakePopen.calls.append({"cmd": cmd, **kwargs})
        self.pid = 0
        self.returncode = 0

    def poll(self) -> int:
        return 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


def run_ui(ws: Path, monkeypatch, capsys, *extra: str) -> tuple[dict, str]:
    FakePopen.calls.clear()
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    assert cli.main(["ui", str(ws), "--port", "8999", *extra]) == 0
    return FakePopen.calls[0], capsys.readouterr().err


def arg(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_binds_loopback_by_default_without_warning(ws: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv(cli.UI_PASSWORD_ENV, raising=False)
    call, err = run_ui(ws, monkeypatch, capsys)
    assert arg(call["cmd"], "--server.address") == "127.0.0.1"
    assert "warning" not in err
    assert cli.UI_PASSWORD_ENV not in call["env"]


def test_host_opt_in_warns_and_password_goes_through_env(ws: Path, monkeypatch, capsys) -> None:
    call, err = run_ui(ws, monkeypatch, capsys, "--host", "0.0.0.0")
    assert arg(call["cmd"], "--server.address") == "0.0.0.0"
    assert "warning" in err and "--password" in err
    call, err = run_ui(ws, monkeypatch, capsys, "--host", "0.0.0.0", "--password", "hunter2")
    assert "warning" in err and "--password" not in err
    assert call["env"][cli.UI_PASSWORD_ENV] == "hunter2"
    assert not any("hunter2" in a for a in call["cmd"])  # argv is readable by every user


def test_password_form_gates_every_page(ws: Path, monkeypatch) -> None:
    monkeypatch.setenv(cli.UI_PASSWORD_ENV, "s3cret")
    at = open_app(ws)
    assert not at.header and not at.sidebar.radio  # nothing of the workspace is shown
    assert str(ws) not in " ".join(c.value for c in at.caption)
    at.text_input(key="_castlist_password").input("wrong")
    at.button[0].click().run()
    assert any("Wrong password" in e.value for e in at.error) and not at.header
    at.text_input(key="_castlist_password").input("s3cret")
    at.button[0].click().run()
    assert not at.exception
    assert at.header[0].value.startswith("Overview")


# ------------------------------------------------------------------ ground-truth box
def truth_csv(ws: Path) -> bytes:
    with Workspace.open(ws) as w:
        df = w.lines_frame(speech_only=True)
    return pd.DataFrame({"line_id": df["id"], "speaker": "spk"}).to_csv(index=False).encode()


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_truth_box_refuses_paths_outside_the_workspace(ws: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("user,hash\nroot,x\n")  # exists, readable, no speaker column
    link = ws / "innocent.csv"
    link.symlink_to(secret)
    answers = []
    for typed in (
        str(secret),
        str(tmp_path / "missing.csv"),
        "../secret.csv",
        str(link),
        "/etc/shadow",
    ):
        at = open_app(ws, "Map", truth_path=typed)
        answers.append(errors(at))
        assert not any(s.value.startswith("Confusion") for s in at.subheader)
    # one answer whatever the path: it tells nothing about the file (not even that it exists)
    assert all(a == answers[0] for a in answers) and len(answers[0]) == 1
    assert "speaker" not in answers[0][0] and "secret" not in answers[0][0]


def test_truth_from_upload_or_inside_the_workspace(ws: Path) -> None:
    (ws / "truth.csv").write_bytes(truth_csv(ws))
    at = open_app(ws, "Map", truth_path="truth.csv")
    assert any(s.value.startswith("Confusion") for s in at.subheader), errors(at)
    at = open_app(ws, "Map")
    at.sidebar.file_uploader[0].set_value(("t.csv", truth_csv(ws), "text/csv"))
    at.run()
    assert any(s.value.startswith("Confusion") for s in at.subheader), errors(at)


# ------------------------------------------------------------------ real server, real signals
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> list[str]:
    """Local addresses in LISTEN state on ``port``, read from /proc/net/tcp{,6} (what
    ``ss -ltn`` reads), e.g. ['127.0.0.1']; '0.0.0.0' or '::' would mean every interface."""
    found = []
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            fields = row.split()
            addr, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                found.append(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.append(socket.inet_ntop(socket.AF_INET6, words))
    return found


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    out, todo = set(), [pid]
    while todo:
        kids = [p for p, pp in parents.items() if pp == todo[-1]]
        todo.pop()
        out.update(kids)
        todo += kids
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ui_listens_on_loopback_and_stops_with_its_child(ws: Path, sig: int) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CASTLIST_UI_PASSWORD"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", str(ws), "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not listening(port):
            assert proc.poll() is None, "castlist ui exited early"
            assert time.monotonic() < deadline, "the browser never started listening"
            time.sleep(0.3)
        children.update(descendants(proc.pid))
        assert children  # the Streamlit server
        assert set(listening(port)) == {"127.0.0.1"}
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == 0
        time.sleep(0.5)
        assert not [p for p in children if alive(p)]
        assert listening(port) == []
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:  # never leave a server behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
