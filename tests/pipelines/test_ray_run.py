"""``castlist run --ray``: the same groups and vectors as the in-process run, on a local Ray
cluster and on a head plus a worker node started with ``ray start``; a killed worker is
retried, a killed driver resumes without recomputing the episodes it recorded.

Ray is an optional extra: without it these tests skip (CI installs it)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.errors import MediaError
from pipelines.stages.distributed import run_on_ray
from pipelines.stages.episode_task import StageSpec
from pipelines.stages.run import run
from pipelines.store.workspace import Workspace
from tests.pipelines.season_helpers import assert_same_result, copy_workspace, season_workspace

ray = pytest.importorskip(
    "ray", reason="Ray is an optional extra: pip install -e '.[ray]' to run the Ray tests"
)
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")

REPO = Path(__file__).resolve().parents[2]
N_EPISODES = 4
OBJECT_STORE = 100 * 2**20  # tasks return marks, vectors go to files: a small store is plenty


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    return season_workspace(tmp_path_factory.mktemp("season"), n_episodes=N_EPISODES)


@pytest.fixture(scope="module")
def reference(season, tmp_path_factory) -> Path:
    """The in-process run of the same season."""
    ws_dir = copy_workspace(season, tmp_path_factory.mktemp("reference") / "ws")
    with Workspace.open(ws_dir) as ws:
        run(ws)
    return ws_dir


# ------------------------------------------------------------------ a local cluster (ray.init)


@pytest.fixture
def local_cluster() -> Iterator[None]:
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=OBJECT_STORE,
        logging_level="ERROR",
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_local_cluster_gives_the_in_process_groups(season, reference, local_cluster, tmp_path):
    ws_dir = copy_workspace(season, tmp_path / "ws")
    seen: list[tuple[str, int, int]] = []
    with Workspace.open(ws_dir) as ws:
        summary = run(ws, ray="auto", progress=lambda what, d, t: seen.append((what, d, t)))
        assert "season characters" in summary
        # progress counts episodes finished across the cluster, up to all of them
        ray_steps = [(d, t) for what, d, t in seen if what == "episodes (ray)"]
        assert ray_steps[0] == (0, N_EPISODES) and ray_steps[-1] == (N_EPISODES, N_EPISODES)
        assert [d for d, _ in ray_steps] == sorted(d for d, _ in ray_steps)
        model = ws.get_meta("voice_model")
        # every episode recorded: a rerun sends no task at all
        assert run_on_ray(ws, "auto", StageSpec("campplus", None), model, None) == []
    assert_same_result(reference, ws_dir)


@pytest.mark.slow
def test_a_broken_episode_fails_with_its_own_error_after_the_others_are_recorded(
    season, local_cluster, tmp_path
):
    ws_dir = copy_workspace(season, tmp_path / "ws")
    with Workspace.open(ws_dir) as ws:
        broken = ws.episodes()[1]
        Path(broken.media).rename(Path(broken.media).with_suffix(".gone"))
        try:
            with pytest.raises(MediaError, match=Path(broken.media).name):
                run(ws, ray="auto")
        finally:
            Path(broken.media).with_suffix(".gone").rename(broken.media)
        done = {e for e, stage, _ in ws.stage_rows() if stage == "voice"}
        assert done == {e.id for e in ws.episodes()} - {broken.id}


# ------------------------------------------------------- a head and a worker node (ray start)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_env() -> dict[str, str]:
    """The environment of every process of the test cluster: this checkout's code, and one
    token of its own (Ray 2.60 turns token authentication on once ~/.ray holds a token)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    return env


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop the nodes this test started, and only those: each ``ray start --block`` runs in
    its own session and stops its node's processes on SIGTERM; whatever is left of its
    process group is killed."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    probe = (
        f"import ray; ray.init(address={address!r}, logging_level='ERROR'); "
        "print(sum(n['Alive'] for n in ray.nodes()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else 0


@pytest.fixture
def two_nodes(tmp_path) -> Iterator[tuple[str, dict[str, str]]]:
    """A head and a worker node on this machine, one CPU each, with a session folder of their
    own: the address file ``ray start`` leaves goes there, not to /tmp/ray, so a later
    ``--ray auto`` on this machine never finds this cluster once it is stopped."""
    env = _ray_env()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ray_cli = str(Path(sys.executable).parent / "ray")
    common = ["--block", "--num-cpus=1", f"--object-store-memory={OBJECT_STORE}"]
    common += ["--node-ip-address=127.0.0.1", "--disable-usage-stats", f"--temp-dir={temp}"]
    procs: list[subprocess.Popen] = []
    try:
        for n, args in enumerate(
            [["--head", f"--port={port}", "--include-dashboard=false"], [f"--address={address}"]]
        ):
            log = (tmp_path / f"node{n}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [ray_cli, "start", *args, *common],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            deadline = time.monotonic() + 90
            while _alive_nodes(address, env) < n + 1:
                assert procs[-1].poll() is None, (tmp_path / f"node{n}.log").read_text()
                assert time.monotonic() < deadline, "Ray node did not come up in 90 s"
                time.sleep(1)
        yield address, env
    finally:
        _stop(procs)
        shutil.rmtree(temp, ignore_errors=True)


def _driver(ws_dir: Path, address: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipelines.cli", "-v", "run", str(ws_dir), "--ray", address]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _task_workers() -> list[int]:
    """Processes running an episode task right now (Ray titles them ray::<function>)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"ray::run_episode"):
                found.append(int(proc.name))
    return found


def _done(ws_dir: Path) -> dict[str, str]:
    """episode -> when its voice stage was recorded (read-only: the driver is the writer)."""
    uri = f"file:{ws_dir / 'castlist.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT episode_id, done_at FROM stages WHERE stage='voice'")
        return dict(rows.fetchall())


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        assert proc.poll() is None, f"the run ended before {what}:\n{log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s:\n{log.read_text()}")


@pytest.mark.slow
def test_killed_worker_is_retried_and_killed_driver_resumes(season, reference, two_nodes, tmp_path):
    address, env = two_nodes

    # 1. a worker process killed in the middle of an episode: Ray reruns that episode
    ws_dir = copy_workspace(season, tmp_path / "ws1")
    log = tmp_path / "run1.log"
    driver = _driver(ws_dir, address, env, log)
    victim = _wait(_task_workers, 180, "a running episode task", driver, log)[0]
    os.kill(victim, signal.SIGKILL)
    assert driver.wait(timeout=300) == 0, log.read_text()
    text = log.read_text()
    assert "will be retried" in text, text  # Ray saw the worker die and reran its episode
    assert f"(pid {victim}," not in text  # the killed worker finished nothing
    assert len(_done(ws_dir)) == N_EPISODES
    assert_same_result(reference, ws_dir)

    # 2. the driver killed once some episodes are recorded: the rerun keeps them as they are
    ws_dir = copy_workspace(season, tmp_path / "ws2")
    log = tmp_path / "run2.log"
    driver = _driver(ws_dir, address, env, log)
    _wait(lambda: _done(ws_dir), 300, "a recorded episode", driver, log)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = _done(ws_dir)
    assert 0 < len(before) <= N_EPISODES
    with Workspace.open(ws_dir) as ws:
        model = ws.get_meta("voice_model") or "campplus-zh_en-v1"
        files = {e: ws.vectors.path(e, "voice", model) for e in before}
    stamps = {e: path.stat().st_mtime_ns for e, path in files.items()}
    log = tmp_path / "run3.log"
    driver = _driver(ws_dir, address, env, log)
    assert driver.wait(timeout=300) == 0, log.read_text()
    after = _done(ws_dir)
    assert len(after) == N_EPISODES
    assert {e: after[e] for e in before} == before  # not recomputed, not re-recorded
    assert {e: path.stat().st_mtime_ns for e, path in files.items()} == stamps
    assert_same_result(reference, ws_dir)
