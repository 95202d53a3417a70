"""Finding a model's weights file: an explicit path, an environment variable, else the hub.

Hub downloads go through ``huggingface_hub`` (the ``castlist[hub]`` extra, imported only when a
download is needed) and land in its cache, so only the first use needs the network. Every
failure says which file is needed, where to download it, and which flag or variable points
castlist at a local copy: machines that cannot reach the hub are the common case here.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from embeddings.errors import BackendUnavailable

log = logging.getLogger(__name__)

HUB_EXTRA = "castlist[hub]"


@dataclass(frozen=True)
class HubFile:
    """One weights file of a model repository on the Hugging Face hub."""

    repo_id: str
    filename: str
    env: str  # the environment variable naming a local copy (a file, or a folder holding it)
    flag: str = "--voice-weights"
    revision: str = "main"

    @property
    def repo_url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}"

    @property
    def file_url(self) -> str:
        return f"{self.repo_url}/resolve/{self.revision}/{self.filename}"

    def how_to_fix(self) -> str:
        return (
            f"download {self.filename} from {self.repo_url} ({self.file_url}) and pass "
            f"{self.flag} /path/to/{self.filename}, or set {self.env}=/path/to/{self.filename}"
        )


def local_file(hub: HubFile, path: str | os.PathLike[str]) -> Path:
    """``path`` itself, or ``path/<filename>`` when it is a folder; an error naming both if absent."""
    candidate = Path(path).expanduser()
    if candidate.is_dir():
        candidate = candidate / hub.filename
    if not candidate.is_file():
        raise BackendUnavailable(f"{hub.filename} not found at {candidate}: {hub.how_to_fix()}")
    return candidate


def resolve_weights(hub: HubFile, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The local weights file: ``explicit``, then ``$env``, then the hub's cached download."""
    given = explicit if explicit is not None else os.environ.get(hub.env) or None
    if given is not None:
        return local_file(hub, given)
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise BackendUnavailable(
            f"{hub.filename} is not here and downloading it from {hub.repo_url} needs "
            f"huggingface_hub (pip install '{HUB_EXTRA}'); or {hub.how_to_fix()}"
        ) from None
    log.info("fetching %s from %s (cached after the first time)", hub.filename, hub.repo_url)
    try:
        path = hf_hub_download(repo_id=hub.repo_id, filename=hub.filename, revision=hub.revision)
    except Exception as exc:  # offline, proxy, 404, disk: all end the same way for the user
        reason = (str(exc).splitlines() or [""])[0][:200]
        raise BackendUnavailable(
            f"cannot fetch {hub.filename} from the model hub ({type(exc).__name__}: {reason}); "
            f"{hub.how_to_fix()}"
        ) from exc
    log.info("using %s from the hub cache: %s", hub.filename, path)
    return Path(path)


def file_tag(path: Path, length: int = 8) -> str:
    """A short content hash, so vectors of different weights files never share a model name."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
