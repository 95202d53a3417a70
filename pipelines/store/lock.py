"""The workspace lock: one writing command at a time per workspace.

Two ``castlist run`` on one workspace used to both recompute everything. A writing command
now holds an exclusive ``flock`` on ``WORKSPACE/.lock`` for its whole duration; the file
records who holds it (pid, command, start time) so a second writer can say whom it waits
for. The kernel drops the lock when the holder dies (kill -9 included), so a stale lock
file never blocks anyone. Readers and the browser's short transactions never take it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from types import TracebackType

from pipelines import faults
from pipelines.errors import BusyError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
DEFAULT_WAIT_S = 5.0
"""How long a second writer waits before saying who holds the lock (``--wait``: forever)."""


class WorkspaceLock:
    """``with WorkspaceLock(root, "run"):`` holds the lock or raises :class:`BusyError`."""

    def __init__(self, root: str | Path, command: str, wait_s: float | None = DEFAULT_WAIT_S):
        self.root = Path(root)
        self.command = command
        self.wait_s = wait_s  # None: wait as long as it takes
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None

    def holder(self) -> dict:
        """What the lock file says about its holder ({} when unreadable)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def _busy(self) -> BusyError:
        info = self.holder()
        since = info.get("since", "")
        try:
            local = _dt.datetime.fromisoformat(since).astimezone().strftime("%H:%M")
        except ValueError:
            local = "?"
        who = f"`castlist {info.get('command', '?')}` (pid {info.get('pid', '?')}) since {local}"
        return BusyError(
            f"workspace busy: {who}; wait for it or stop it "
            f"(or add --wait to queue behind it): {self.root}"
        )

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise faults.explain_os_error(exc, self.root) from exc
        deadline = None if self.wait_s is None else time.monotonic() + self.wait_s
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise faults.explain_os_error(exc, self.path) from exc
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                raise self._busy()
            if not said and deadline is None:  # --wait: say why nothing happens
                log.warning("%s; waiting", str(self._busy()).split(";")[0])
                said = True
            time.sleep(0.2)
        info = {
            "pid": os.getpid(),
            "command": self.command,
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        except OSError as exc:  # a full disk: the lock itself still holds
            log.debug("could not record the lock holder: %s", exc)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WorkspaceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
