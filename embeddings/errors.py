"""Errors raised by embedding backends (kept here so ``embeddings`` stays independent)."""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend's library or weights are missing; the message names the extra or path."""
