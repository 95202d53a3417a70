"""Give freed tensor memory back to the system between and inside the heavy stages.

PyTorch on the CPU allocates through malloc. glibc serves a block under its mmap threshold from
the heap, and that threshold grows up to 32 MB as big blocks come and go, so the voice model's
10-30 MB activations end up on a fragmented heap that is never returned: a 24-minute episode's
voice stage peaked at 1.8 GB RSS for 0.6 GB of live data. With the threshold pinned at 4 MiB, blocks
that size and larger get their own mapping and go back to the system when freed, and trimming
the heap after each episode returns the rest (`benchmarks/bench_memory.py`).

Only glibc has these calls; elsewhere (musl, macOS) both functions do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 4 * 2**20

_libc: ctypes.CDLL | None = None
_bounded = False


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc = libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
        except OSError:
            _libc = None
    return _libc


def bound_heap(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Pin malloc's mmap threshold once per process; True where it took effect."""
    global _bounded
    libc = _glibc()
    if libc is None:
        return False
    if not _bounded:
        _bounded = bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold)))
        log.debug("malloc mmap threshold %d bytes: %s", threshold, _bounded)
    return _bounded


def release_free_memory() -> None:
    """Return the heap's free pages to the system (after a stage has dropped its arrays)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
