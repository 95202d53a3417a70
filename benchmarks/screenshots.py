"""Screenshots of the cluster browser on the built-in demo, for the README.

    python benchmarks/screenshots.py            # writes docs/ui_groups.png and docs/ui_review.png

Builds the demo episode, names the two biggest groups as a person would, starts `castlist ui`
and photographs the Groups and Review pages in Debian's headless Chromium (selenium).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from pipelines.demo.episodes import build_demo
from pipelines.export.evaluate import align
from pipelines.stages.ingest import add_episode
from pipelines.stages.run import regroup, run
from pipelines.store.workspace import Workspace

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1500,1000"]  # fmt: skip


def main() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    tmp = Path(tempfile.mkdtemp())
    episode = build_demo(tmp / "media")
    truth = pd.DataFrame([t.__dict__ for t in episode.truth])
    ws = Workspace.init(tmp / "ws")
    add_episode(ws, episode.media, episode.srt)
    run(ws)
    df = align(ws, truth)
    for group in df["group_id"].value_counts().index[:2]:
        ws.name_group(group, df[df["group_id"] == group]["truth"].mode()[0], who="screenshot")
    regroup(ws)
    ws.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "ui", str(tmp / "ws"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for flag in [*FLAGS, f"--user-data-dir={tmp / 'profile'}"]:
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        try:
            driver.get(f"http://127.0.0.1:{port}")
            for page, name in (("Groups", "ui_groups.png"), ("Review", "ui_review.png")):
                time.sleep(4)
                driver.find_element(By.XPATH, f"//label[.//p[text()='{page}']]").click()
                time.sleep(5)
                driver.save_screenshot(str(docs / name))
                print(docs / name)
        finally:
            driver.quit()
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
