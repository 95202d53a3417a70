"""The vectors store: one ``.npy`` file per (episode, modality, model) under ``vectors/``,
row i being the episode's line i in line order.

A changed model writes a new file and never mixes with the old vectors. A file is written
atomically, and one that should be there (its stage is marked done) but is missing or damaged is
refused with :class:`VectorsError` naming the file and the fix, rather than grouping nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipelines import faults
from pipelines.errors import VectorsError
from pipelines.io.atomic import atomic_path
from pipelines.io.paths import component, safe_join, slug
from pipelines.io.vectorfiles import OPTIONAL_FILES, read_vectors_file, stage_of_file


def model_key(model: str) -> str:
    """A model name as a file-name part. A slug is cut at 40 characters, so two fusions that
    differ only in a late weight ("...spectrum-logmel80-v1x0.5" / "x0.7") would share one file
    and read each other's vectors: a name the slug cuts short gets a hash of the whole name
    (shorter names keep the file names older workspaces hold)."""
    key = slug(model)
    if key == slug(model, limit=None):
        return key
    return f"{key[:31]}_{hashlib.sha1(model.encode('utf-8')).hexdigest()[:8]}"


class VectorStore:
    """The workspace's vectors files; reads the ``stages`` and ``episodes`` tables only to say
    whether a missing file is an error and how to fix it."""

    def __init__(
        self, root: Path, conn: sqlite3.Connection, line_count: Callable[[str], int]
    ) -> None:
        self.root = root
        self.conn = conn
        self.line_count = line_count

    def path(self, episode_id: str, modality: str, model: str) -> Path:
        name = component(f"{modality}__{model_key(model)}", ".npy")
        return safe_join(self.root, "vectors", component(episode_id), name)

    def save(self, episode_id: str, modality: str, model: str, array: np.ndarray) -> Path:
        """Write atomically: a killed run leaves either the old file or the new, never half;
        a failed write (a full disk) leaves no temporary file behind."""
        path = self.path(episode_id, modality, model)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, suffix=".npy") as tmp:
                np.save(tmp, np.asarray(array))
        except OSError as exc:
            raise faults.explain_os_error(exc, path) from exc
        return path

    def load(self, episode_id: str, modality: str, model: str) -> np.ndarray | None:
        """The stored vectors, or None when the stage that makes them has not run yet.

        A file that should be there (its stage is marked done) but is missing, and any file
        that is unreadable, not 2-D, of the wrong row count or not finite raise
        :class:`VectorsError` naming the file and the fix, rather than grouping nothing.
        """
        path = self.path(episode_id, modality, model)
        if not path.is_file():
            optional = (modality, model) in OPTIONAL_FILES
            if not optional and self._stage_of_file_done(episode_id, modality, model):
                raise VectorsError(
                    f"{path} is missing (its stage is marked done); {self._vectors_fix(episode_id)}"
                )
            return None
        X, problem = read_vectors_file(path, self.line_count(episode_id))
        if problem:
            raise VectorsError(f"{path}: {problem}; {self._vectors_fix(episode_id)}")
        return X

    def _vectors_fix(self, episode_id: str) -> str:
        row = self.conn.execute("SELECT kind FROM episodes WHERE id=?", (episode_id,)).fetchone()
        if row is not None and row[0] == "imported":
            return "import the vectors again with `castlist import` (castlist cannot remake them)"
        return (
            f"run `castlist run {self.root}` to recompute it "
            f"(or `castlist doctor {self.root} --repair` first)"
        )

    def _stage_of_file_done(self, episode_id: str, modality: str, model: str) -> bool:
        """Whether the stage that writes this file is marked done for the episode."""
        for stage, key in stage_of_file(modality, model):
            sql = "SELECT 1 FROM stages WHERE episode_id=? AND stage=?"
            args: list[str] = [episode_id, stage]
            if key is not None:
                sql += " AND key=?"
                args.append(key)
            if self.conn.execute(sql + " LIMIT 1", args).fetchone() is not None:
                return True
        return False
