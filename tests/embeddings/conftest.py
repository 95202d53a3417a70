"""Reference implementations for parity tests, loaded at test time from the published wheels.

speechbrain's ECAPA_TDNN.py and features.py are imported straight from its wheel (downloaded
with ``pip download --no-deps``, or given as ``$CASTLIST_SPEECHBRAIN_WHEEL``) without running
the package's ``__init__`` and with torchaudio stubbed out: those two modules never call it.
A few heavy helpers they import (logger, checkpoint decorators, ``length_to_mask``) are replaced
by stand-ins, ``length_to_mask`` by its own source text taken from the wheel. The anime model's
``swap_bn_to_gn`` comes from the ``anime_speaker_embedding`` wheel the same way. Nothing
third-party is committed; tests skip when the wheels cannot be fetched.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

SPEECHBRAIN = ("speechbrain", "1.1.2", "CASTLIST_SPEECHBRAIN_WHEEL")
ANIME = ("anime_speaker_embedding", "0.2.1", "CASTLIST_ANIME_WHEEL")


def _wheel(project: str, version: str, env: str, into: Path) -> Path:
    given = os.environ.get(env)
    if given:
        return Path(given)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           f"{project}=={version}", "-d", str(into), "-q"]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot download the {project} wheel for the parity test: {exc}")
    wheels = sorted(into.glob(f"{project}-{version}-*.whl"))
    if not wheels:
        pytest.skip(f"pip download left no {project} wheel in {into}")
    return wheels[0]


def _function(source_file: Path, name: str, namespace: dict) -> types.FunctionType:
    """Define one top-level function of a source file (its text, not its module)."""
    tree = ast.parse(source_file.read_text())
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module([node], []), str(source_file), "exec"), namespace)
    return namespace[name]


@pytest.fixture(scope="session")
def speechbrain_ref(tmp_path_factory) -> Iterator[types.SimpleNamespace]:
    """speechbrain's ECAPA_TDNN, Fbank and InputNormalization, and the anime swap_bn_to_gn."""
    root = tmp_path_factory.mktemp("reference")
    for project, version, env in (SPEECHBRAIN, ANIME):
        with zipfile.ZipFile(_wheel(project, version, env, root)) as whl:
            whl.extractall(root / project)
    sb = root / "speechbrain" / "speechbrain"
    saved = {
        k: v for k, v in sys.modules.items() if k == "torchaudio" or k.startswith("speechbrain")
    }
    try:
        for sub in ["", "lobes", "lobes.models", "nnet", "processing", "utils", "dataio"]:
            name = "speechbrain" + (f".{sub}" if sub else "")
            package = types.ModuleType(name)
            package.__path__ = [str(sb.joinpath(*sub.split(".")) if sub else sb)]
            sys.modules[name] = package
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
        logger = types.ModuleType("speechbrain.utils.logger")
        logger.get_logger = logging.getLogger
        checkpoints = types.ModuleType("speechbrain.utils.checkpoints")
        checkpoints.register_checkpoint_hooks = lambda cls: cls
        checkpoints.mark_as_saver = checkpoints.mark_as_loader = lambda fn: fn
        checkpoints.mark_as_transfer = lambda fn: fn
        dataio = types.ModuleType("speechbrain.dataio.dataio")
        dataio.torch = torch
        _function(sb / "dataio" / "dataio.py", "length_to_mask", dataio.__dict__)
        for module in (logger, checkpoints, dataio):
            sys.modules[module.__name__] = module
        ecapa = importlib.import_module("speechbrain.lobes.models.ECAPA_TDNN")
        features = importlib.import_module("speechbrain.lobes.features")
        processing = importlib.import_module("speechbrain.processing.features")
        swap = _function(
            root / "anime_speaker_embedding" / "anime_speaker_embedding" / "model.py",
            "swap_bn_to_gn",
            {"nn": torch.nn},
        )
        ref = types.SimpleNamespace(
            ECAPA_TDNN=ecapa.ECAPA_TDNN,
            Fbank=features.Fbank,
            InputNormalization=processing.InputNormalization,
            swap_bn_to_gn=swap,
        )
    finally:
        for name in [k for k in sys.modules if k == "torchaudio" or k.startswith("speechbrain")]:
            del sys.modules[name]
        sys.modules.update(saved)
    # the stubs leave sys.modules before any other test runs: a session-long torchaudio stub
    # (no __spec__) broke lhotse's find_spec("torchaudio") in later tests
    yield ref
