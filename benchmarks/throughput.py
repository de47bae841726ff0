"""Lab 05's speed on this machine: env steps per second, alone and while training.

    python benchmarks/throughput.py --threads 1 2
    python benchmarks/throughput.py --threads 1 --envs 1 2     # and the vectorised path

Breakout has no "steps to solve" within a CPU budget (benchmark.py's measure), so lab 05 is
measured by its throughput instead, with the solution notebook's own code (its definitions are
loaded, nothing is copied):

- **env only**: ``make_breakout`` (the full preprocessing chain) stepped with random actions;
- **training**: the notebook's ``train`` (epsilon-greedy acting through the network, the
  frame-once replay memory, a gradient step on a batch of 32 every 4 env steps, the target
  copy, a checkpoint at the end), timed over its learning phase: the time of a run of
  ``learning_starts + steps`` env steps minus that of a run of ``learning_starts`` steps.

With ``--envs``, the same two figures for the full-run path ``train_vectorised`` with each
number of games given (``AsyncVectorEnv``, one process per game, one batched forward pass to
act for all): **env only** steps the vector env with random actions, **training** times the
notebook's ``train_vectorised`` as above.

Each figure is measured with ``torch.set_num_threads(n)`` for each ``n`` given. The load
average is printed before and after: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from benchmark import ROOT, machine  # benchmarks/benchmark.py: the same machine line

from dqn_helpers.compare import markdown_table
from dqn_helpers.notebook import load_definitions
from dqn_helpers.run import find_lab


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def lab05():
    """The solution notebook's definitions (functions, classes, the Config), as a namespace."""
    return load_definitions(find_lab(ROOT, "05"))


def env_steps_per_second(ns: dict, steps: int, seed: int = 0) -> float:
    env = ns["make_breakout"](seed=seed)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def vector_env_steps_per_second(ns: dict, n_envs: int, steps: int, seed: int = 0) -> float:
    """The vectorised path's env alone: ``make_vector_breakout``, random actions."""
    envs = ns["make_vector_breakout"](replace(ns["Config"](), seed=seed), n_envs, 0)
    rng = np.random.default_rng(seed)
    envs.reset()
    start = time.perf_counter()
    for _ in range(steps // n_envs):  # finished games restart by themselves
        envs.step(rng.integers(4, size=n_envs))
    elapsed = time.perf_counter() - start
    envs.close()
    return steps // n_envs * n_envs / elapsed


def train_seconds(ns: dict, total_steps: int, learning_starts: int,
                  n_envs: int | None = None) -> float:
    """A run of ``train`` (or of ``train_vectorised`` with ``n_envs`` games) from scratch."""
    cfg = replace(ns["Config"](), total_steps=total_steps, learning_starts=learning_starts,
                  buffer_size=max(total_steps, 10_000), checkpoint_every=total_steps)
    with tempfile.TemporaryDirectory() as folder:
        if n_envs is None:
            _, result = ns["train"](cfg, Path(folder), torch.device("cpu"), show=False)
        else:
            _, result = ns["train_vectorised"](cfg, Path(folder), torch.device("cpu"), n_envs,
                                               show=False)
    return result["train_wall_seconds"]


def training_steps_per_second(ns: dict, steps: int, learning_starts: int,
                              n_envs: int | None = None) -> float:
    filling = train_seconds(ns, learning_starts, learning_starts, n_envs)
    full = train_seconds(ns, learning_starts + steps, learning_starts, n_envs)
    return steps / (full - filling)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--env-steps", type=int, default=5_000)
    parser.add_argument("--train-steps", type=int, default=2_000,
                        help="env steps of the learning phase timed (a gradient step every 4)")
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--envs", type=int, nargs="*", default=[],
                        help="also the vectorised path with these numbers of games (1 2 4 ...)")
    parser.add_argument("--no-single", action="store_true",
                        help="skip the single-env loop (train) and measure --envs only")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.threads + args.envs):
        parser.error("--threads and --envs take positive numbers")
    ns = lab05()
    print(f"load average before: {load_average()}", file=sys.stderr)
    rows = []
    paths = ([] if args.no_single else [None]) + args.envs  # None: train, one env
    for threads in args.threads:
        torch.set_num_threads(threads)
        for n_envs in paths:
            if n_envs is None:
                env_rate = env_steps_per_second(ns, args.env_steps)
            else:
                env_rate = vector_env_steps_per_second(ns, n_envs, args.env_steps)
            train_rate = training_steps_per_second(ns, args.train_steps, args.learning_starts,
                                                   n_envs)
            path = "train (1 env)" if n_envs is None else f"train_vectorised, {n_envs} env(s)"
            rows.append((path, threads, env_rate, train_rate))
            print(f"{path}, threads {threads}: env only {env_rate:,.0f} steps/s, training "
                  f"{train_rate:,.1f} steps/s; load average {load_average()}", file=sys.stderr)
    print("\n" + markdown_table([
        {"path": path, "torch threads": threads, "env only, steps/s": f"{env_rate:,.0f}",
         "training, env steps/s": f"{train_rate:,.1f}",
         "10M steps at that rate": f"{10_000_000 / train_rate / 86_400:,.1f} days"}
        for path, threads, env_rate, train_rate in rows]))
    print(f"\nMachine: {machine()}; load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
