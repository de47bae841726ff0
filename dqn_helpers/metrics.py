"""What a training run writes, the same for every DQN lab (introduced in lab 02).

``metrics.json`` in the run folder holds ``env_id``, ``seed``, ``env_steps``,
``train_wall_seconds`` (training only, periodic evaluations included; not the final
evaluation or the video), ``steps_to_solve`` (the env step at which the periodic greedy
evaluation first reached the threshold, or null), and ``final_eval_mean``, ``final_eval_std``,
``final_eval_episodes`` of the network the run returned.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REQUIRED = ("env_id", "seed", "env_steps", "train_wall_seconds", "steps_to_solve",
            "final_eval_mean", "final_eval_std", "final_eval_episodes")


def write_metrics(out_dir: str | Path, *, env_id: str, seed: int, env_steps: int,
                  train_wall_seconds: float, steps_to_solve: int | None,
                  final_eval_returns: Sequence[float], **extra: Any) -> dict:
    """Write ``metrics.json`` into ``out_dir`` and return its content.

    >>> import tempfile
    >>> run = tempfile.TemporaryDirectory()
    >>> metrics = write_metrics(run.name, env_id="CartPole-v1", seed=0, env_steps=50_000,
    ...                         train_wall_seconds=61.237, steps_to_solve=31_000,
    ...                         final_eval_returns=[500.0, 480.0])
    >>> metrics["final_eval_mean"], metrics["final_eval_std"], metrics["train_wall_seconds"]
    (490.0, 10.0, 61.24)
    >>> read_metrics(run.name) == metrics  # a run folder, or its metrics.json
    True
    >>> run.cleanup()
    """
    returns = np.asarray(final_eval_returns, dtype=float)
    if returns.ndim != 1 or len(returns) == 0:
        raise ValueError("final_eval_returns must be a non-empty list of episode returns")
    if steps_to_solve is not None and not 0 < steps_to_solve <= env_steps:
        raise ValueError(f"steps_to_solve={steps_to_solve} must be in 1..env_steps={env_steps}")
    if not (math.isfinite(train_wall_seconds) and train_wall_seconds >= 0):
        raise ValueError(f"train_wall_seconds must be a duration, got {train_wall_seconds}")
    metrics = {
        "env_id": env_id, "seed": int(seed), "env_steps": int(env_steps),
        "train_wall_seconds": round(float(train_wall_seconds), 2),
        "steps_to_solve": None if steps_to_solve is None else int(steps_to_solve),
        "final_eval_mean": round(float(returns.mean()), 2),
        "final_eval_std": round(float(returns.std()), 2),
        "final_eval_episodes": int(len(returns)),
        **extra,
    }
    path = Path(out_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def read_metrics(path: str | Path) -> dict:
    """Read a ``metrics.json`` (or the one in a run folder) and check it has every field."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    metrics = json.loads(path.read_text())
    missing = [k for k in REQUIRED if k not in metrics]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}")
    return metrics
