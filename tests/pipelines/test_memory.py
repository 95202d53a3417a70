"""The heap policy of the heavy stages: freed tensor memory goes back to the system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.stages import memory

glibc = pytest.mark.skipif(memory._glibc() is None, reason="needs glibc's mallopt/malloc_trim")


@glibc
def test_freed_big_blocks_leave_the_process():
    """In a fresh interpreter, blocks of 8-20 MB of changing sizes are allocated and freed
    between small survivors (as the voice model's activations are): with the policy they leave
    the process when freed; with glibc's default growing threshold they stay on the heap."""
    code = """
import numpy as np, psutil, sys
from pipelines.stages import memory
if sys.argv[1] == "on":
    assert memory.bound_heap()
p = psutil.Process()
base = p.memory_info().rss
keep = []
for i in range(40):
    a = np.ones(5_000_000 + 1000 * i, np.float32)
    b = np.ones(2_000_000 + 1000 * i, np.float32)
    keep.append(np.ones(1000, np.float32))
    del a
    keep.append(b[:10].copy())
    del b
print((p.memory_info().rss - base) / 2**20)
"""
    grown = {
        mode: float(subprocess.run([sys.executable, "-c", code, mode], capture_output=True,
                                   text=True, check=True).stdout)
        for mode in ("on", "off")
    }  # fmt: skip
    assert grown["on"] < 15 < grown["off"], grown


@glibc
def test_bound_heap_is_idempotent():
    assert memory.bound_heap() is True
    assert memory.bound_heap() is True
