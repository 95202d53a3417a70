"""End to end: `castlist ui` in a real server, driven by headless Chromium through selenium.

Renames a group and merges two from the browser, checks the database, then visits the
Review, Overview and History pages, takes a screenshot of each and checks that they say what
they should (issue 9: keys shown once, no 0% answers, "names about N lines", one review count,
History in sentences, "1 line"). Skipped cleanly where chromium, chromedriver or selenium is
missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.store.workspace import Workspace
from tests.ui.conftest import SPEAKERS, build_workspace

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# CASTLIST_SCREENSHOT=PATH keeps the screenshot there (README pictures: benchmarks/screenshots.py);
# by default it goes to the test's tmp folder, so a test run never edits tracked files.
SCREENSHOT_ENV = "CASTLIST_SCREENSHOT"
# CASTLIST_SCREENSHOT_DIR=DIR keeps the Review, Overview and History screenshots there.
SCREENSHOT_DIR_ENV = "CASTLIST_SCREENSHOT_DIR"

webdriver = pytest.importorskip("selenium.webdriver")
if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip("chromium/chromedriver not installed", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"castlist ui exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def server(tmp_path: Path):
    root = build_workspace(tmp_path, SPEAKERS, audio=True)
    with _serving(root) as url:
        yield root, url


@contextlib.contextmanager
def _serving(root: Path) -> Iterator[str]:
    """`castlist ui` on ``root`` in its own process group; yields its address."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", str(root), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def browser(tmp_path: Path):
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1500,1100",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver, text: str, timeout: float = 30) -> None:
    WebDriverWait(driver, timeout).until(
        EC.presence_of_element_located((By.XPATH, f"//*[contains(text(), {text!r})]"))
    )


def _idle(driver, timeout: float = 30) -> None:
    """Wait until Streamlit has finished the current run (no 'running' status widget)."""
    time.sleep(0.4)
    WebDriverWait(driver, timeout).until(
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    )


def _click_text(driver, tag: str, text: str) -> None:
    el = WebDriverWait(driver, 30).until(
        EC.element_to_be_clickable((By.XPATH, f"//{tag}[.//*[contains(text(), {text!r})]]"))
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.click()
    _idle(driver)


def test_rename_and_merge_in_chromium(server, browser, tmp_path) -> None:
    root, url = server
    with Workspace.open(root) as ws:
        df = ws.lines_frame(speech_only=True)
    first_ep = df[df["episode_id"] == df["episode_id"].iloc[0]]
    a, b = first_ep["group_id"].value_counts().index[:2].tolist()
    lines_a = df.loc[df["group_id"] == a, "id"].tolist()
    lines_b = df.loc[df["group_id"] == b, "id"].tolist()

    browser.get(url)
    _wait_text(browser, "speech lines")
    _idle(browser)

    # rename: open the Groups page, sort largest first, tick group a and name it
    _click_text(browser, "label", "Groups")
    _wait_text(browser, "groups match the filters")
    _tick_card(browser, a)
    name_box = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Name selected as"]')
    name_box.send_keys("Alice", Keys.ENTER)
    _idle(browser)
    _click_text(browser, "button", "Name selected")
    _wait_text(browser, "saved as action #1")

    # merge: tick both cards (a is now named Alice and keeps its lines) and merge them
    with Workspace.open(root) as ws:
        a_now = ws.lines_frame().set_index("id").at[lines_a[0], "group_id"]
    _tick_card(browser, a_now)
    _tick_card(browser, b)
    _click_text(browser, "button", "Merge selected")
    _wait_text(browser, "saved as action #2")

    with Workspace.open(root) as ws:
        df = ws.lines_frame(speech_only=True).set_index("id")
        verbs = [x.verb for x in ws.actions.history()]
    assert verbs[:2] == ["merge", "name_group"]
    assert df.loc[lines_a + lines_b, "group_id"].nunique() == 1
    assert (df.loc[lines_a + lines_b, "speaker"] == "Alice").all()
    assert (df.loc[lines_a + lines_b, "source"] == "human").all()

    browser.execute_script("window.scrollTo(0, 0);")
    time.sleep(0.5)
    shot = Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "screenshot_ui.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    shots = Path(os.environ.get(SCREENSHOT_DIR_ENV) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    # Review: the question once, each key once, no 0% answer, the gain in lines
    _click_text(browser, "label", "Review")
    _wait_text(browser, "questions waiting")
    review = _page_text(browser)
    _save(browser, shots / "ui_review.png")
    assert "names about" in review or "names 1 line" in review, review
    assert "saves about" not in review and "operations" not in review
    assert "(0%)" not in review
    assert not re.search(r"\[[1-5YNASU]\]", review), review  # no "[1] 1": the key shows once
    heading = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"] h3').text
    assert review.count(heading) == 1, heading

    # Overview: the count beside the queue is the queue's length
    _click_text(browser, "label", "Overview")
    _wait_text(browser, "questions to review")
    overview = _page_text(browser)
    _save(browser, shots / "ui_overview.png")
    n = re.search(r"Open the review queue \((\d+) questions\)", overview)
    assert n, overview
    metric = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
    values = {
        m.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text: m.find_element(
            By.CSS_SELECTOR, '[data-testid="stMetricValue"]'
        ).text
        for m in metric
    }
    assert values["questions to review"] == n.group(1), values
    assert "groups to review" not in overview
    assert not re.search(r"\b1 lines\b", overview)
    assert re.search(r"likely right: about \d+% of \d+ speech lines", overview), overview

    # History: sentences, not Python dicts
    _click_text(browser, "label", "History")
    WebDriverWait(browser, 30).until(lambda d: "merged groups" in _page_text(d))
    history = _page_text(browser)
    _save(browser, shots / "ui_history.png")
    assert f"named group {a} Alice" in history, history
    assert "{'" not in history and "'lines'" not in history


def test_check_question_in_chromium(browser, tmp_path) -> None:
    """A ``check`` question as a person sees it: the lines with their name pickers and one
    Confirm; correcting one line by typing a new name, then confirming, names them all."""
    from tests.pipelines.conftest import first_check, weak_workspace

    ws, speakers = weak_workspace(tmp_path)
    truth = {ln.id: f"s{s}" for ln, s in zip(ws.lines(), speakers, strict=True)}
    q = first_check(ws)
    name = q.suggestions[0][0]
    ws.close()
    shots = Path(os.environ.get(SCREENSHOT_DIR_ENV) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with _serving(tmp_path / "ws") as url:
        browser.get(url)
        _wait_text(browser, "speech lines")
        _click_text(browser, "label", "Review")
        _wait_text(browser, "Are these")
        page = _page_text(browser)
        _save(browser, shots / "ui_review_check.png")
        assert q.text in page, page
        pickers = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]')
        assert len(pickers) == q.size
        wrong = next(lid for lid in q.lines if truth[lid] != name)
        box = browser.find_element(By.CSS_SELECTOR, f'input[aria-label*="{wrong}"]')
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
        box.send_keys("Zed Newcomer", Keys.ENTER)  # a name nobody has given yet, typed
        _idle(browser)
        _click_text(browser, "button", "Confirm (checks")
        _wait_text(browser, "saved as action")
    with Workspace.open(tmp_path / "ws") as ws:
        assert ws.actions.history(limit=1)[0].verb == "check"
        human = ws.human_labels()
    assert human[wrong] == "Zed Newcomer"
    assert all(human[lid] == name for lid in q.lines if lid != wrong)


def _page_text(driver) -> str:
    _idle(driver)
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def _save(driver, path: Path) -> None:
    driver.execute_script("window.scrollTo(0, 0);")
    time.sleep(0.3)
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000


def _tick_card(driver, group_id: str) -> None:
    """Tick the 'select' box of the card whose title shows ``group_id``."""
    box = WebDriverWait(driver, 30).until(
        EC.element_to_be_clickable(
            (By.XPATH, f"//*[@data-testid='stCheckbox']//label[contains(., 'select {group_id}')]")
        )
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()
    _idle(driver)
