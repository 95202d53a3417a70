"""Files that appear whole or not at all.

Every file castlist writes (vectors, audio, clips, thumbnails, subtitles, exports, database
copies) goes through here, so a kill, a full disk or an exception leaves either the old file or
the new one, and never a half-written file or a stray temporary beside it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` when the block ends
    normally and is removed when it raises. ``suffix`` keeps the extension that writers such as
    ``np.save`` or soundfile read the format from. The temporary name is short and hidden, so it
    fits even where ``path``'s own name is near the file-system limit."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".castlist-", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_text(path: str | Path, newline: str = "") -> Iterator[TextIO]:
    """A UTF-8 text file handle whose content appears at ``path`` only once complete."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as fh:
        yield fh


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
