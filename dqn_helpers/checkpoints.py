"""Checkpoints that survive a crash mid-write, and resuming from the latest (introduced in lab 05).

A long run (Breakout trains for hours on a GPU, and Colab disconnects) writes a checkpoint every
N steps into a folder the student chooses, and a restarted run resumes from the newest one:

>>> import shutil, tempfile
>>> folder = tempfile.mkdtemp()                 # in Colab, a folder on the mounted Drive
>>> print(latest_checkpoint(folder))            # a fresh run: nothing to resume
None
>>> q_network = torch.nn.Linear(4, 2)
>>> for step in (10_000, 20_000, 30_000):       # training saves every 10,000 steps
...     path = save_checkpoint(folder, step, {"q_network": q_network.state_dict()})
>>> [p.name for p in checkpoints(folder)]       # keep=2: older ones are deleted
['checkpoint_0000020000.pt', 'checkpoint_0000030000.pt']
>>> state = load_checkpoint(folder)             # a restarted run: the newest, with "step"
>>> state["step"], q_network.load_state_dict(state["q_network"])
(30000, <All keys matched successfully>)
>>> shutil.rmtree(folder)

A checkpoint is first written to a temporary file in the same folder, flushed to disk, and
then renamed with ``os.replace``, which is atomic: a reader sees the old file set or the new
one, never a half-written checkpoint. A crash mid-write leaves at most a temporary file, which
``latest_checkpoint`` ignores and the next save removes. Only the newest ``keep`` checkpoints
are kept.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

PREFIX = "checkpoint_"
NAME_RE = re.compile(rf"^{PREFIX}(\d{{10}})\.pt$")
TEMP_SUFFIX = ".partial"


def checkpoint_path(folder: str | Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives: ``folder/checkpoint_0000012345.pt``."""
    return Path(folder) / f"{PREFIX}{step:010d}.pt"


def _check_step(step: Any) -> int:
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 10**10:
        raise ValueError(f"step must be an int in 0..9,999,999,999, got {step!r}")
    return step


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checkpoints(folder: str | Path) -> list[Path]:
    """The complete checkpoints in ``folder``, oldest first (temporary files are not listed)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if NAME_RE.match(p.name) and p.is_file()]
    return sorted(found, key=lambda p: int(NAME_RE.match(p.name)[1]))


def save_checkpoint(folder: str | Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write ``state`` (plus ``"step"``) as the checkpoint of ``step``, atomically; return its path.

    Args:
        folder: created if missing (in Colab, a folder on the mounted Google Drive).
        step: the env step the state belongs to; the file is named after it.
        state: what ``torch.save`` can store and ``torch.load(weights_only=True)`` can read back:
            tensors, ``state_dict()`` of networks and optimisers, numbers, strings, lists and
            dicts of those. Not NumPy arrays (turn them into tensors or lists).
        keep: how many of the newest checkpoints to keep (at least 1); older ones are deleted.
    """
    _check_step(step)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    if not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep must be an int >= 1, got {keep!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f"*{TEMP_SUFFIX}"):  # an earlier crash mid-write
        leftover.unlink(missing_ok=True)
    final = checkpoint_path(folder, step)
    fd, temp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save({**state, "step": step}, file)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temp, final)  # atomic: the old file set or the new one, never half of it
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    for old in checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return final


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest complete checkpoint in ``folder`` (by step), or None if there is none."""
    found = checkpoints(folder)
    return found[-1] if found else None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` (``path`` may be its folder: the newest).

    Tensors are loaded onto ``map_location``; ``weights_only=True`` means a checkpoint can hold
    data only, never code, so loading one from a shared Drive cannot run anything.
    """
    path = Path(path)
    if path.is_dir():
        newest = latest_checkpoint(path)
        if newest is None:
            raise FileNotFoundError(f"no checkpoint ({PREFIX}*.pt) in {path}")
        path = newest
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or "step" not in state:
        raise ValueError(f"{path} is not a checkpoint written by save_checkpoint")
    return state
