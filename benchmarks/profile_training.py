"""Where one training run of lab 02, 03 or 04 spends its time: a profile, not a benchmark.

    python benchmarks/profile_training.py --lab 02 --seed 1
    python benchmarks/profile_training.py --lab 03 --seed 0 --steps 30000 --cprofile

Runs the solution notebook's own ``train`` (its definitions loaded with ``load_definitions``;
nothing else of the notebook runs), headless, one torch thread as the notebook sets, and times
each part of the loop by wrapping the notebook's functions: acting (``select_action``), the env
step with the store (``play_step`` less ``ReplayMemory.add``), the store, replay sampling, the
gradient step (``learn_step``), the target update, the periodic greedy evaluation
(``TrainingLog.evaluate``), the bookkeeping (``TrainingLog.add``, ``learned``) and, as the rest,
the loop's own Python. The wrappers cost about a microsecond a call, so the parts add up to a
little more than an unwrapped run. ``--cprofile`` prints cProfile's top functions instead
(its overhead inflates Python-heavy parts more).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import torch
from tune import training_run  # benchmarks/tune.py

from dqn_helpers.notebook import load_definitions
from dqn_helpers.training import TrainingLog

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"02": "02_dqn_cartpole.ipynb", "03": "03_dqn_lunarlander.ipynb",
             "04": "04_dqn_pixels_cartpole.ipynb"}
# (what the table calls it, the notebook's name for it); methods as "Class.method"
PARTS = [("act: select_action", "select_action"), ("env step + store: play_step", "play_step"),
         ("  of which store: ReplayMemory.add", "ReplayMemory.add"),
         ("replay sampling: ReplayMemory.sample", "ReplayMemory.sample"),
         ("gradient step: learn_step", "learn_step"), ("target update", "soft_update"),
         ("target update (lab 03)", "update_target"), ("epsilon_at", "epsilon_at")]


def _timed(function, name, totals, counts):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start
            counts[name] += 1
    return wrapper


def profile(lab: str, seed: int, steps: int | None, use_cprofile: bool) -> None:
    torch.set_num_threads(1)  # as the notebooks
    ns = load_definitions(ROOT / "solutions" / NOTEBOOKS[lab])
    cfg = replace(ns["Config"](), seed=seed)
    if steps is not None:
        cfg = replace(cfg, total_steps=steps)
    totals, counts = defaultdict(float), defaultdict(int)
    patched = []  # (owner, attribute, original): undone at the end
    if not use_cprofile:
        for _, name in PARTS:
            if name == "update_target" and lab == "03":  # it calls soft_update: count once
                continue
            owner, attribute = (ns, name) if "." not in name else (ns[name.split(".")[0]],
                                                                    name.split(".")[1])
            if isinstance(owner, dict):
                if name in owner:
                    owner[name] = _timed(owner[name], name, totals, counts)
            else:
                original = getattr(owner, attribute)
                setattr(owner, attribute, _timed(original, name, totals, counts))
        if lab == "03":
            ns["update_target"] = _timed(ns["update_target"], "update_target", totals, counts)
            ns["soft_update"] = ns["soft_update"].__wrapped__  # counted in update_target
        for method in ("evaluate", "add", "learned"):
            original = getattr(TrainingLog, method)
            patched.append((TrainingLog, method, original))
            setattr(TrainingLog, method, _timed(original, f"TrainingLog.{method}", totals, counts))
    run, _ = training_run(lab, ns, cfg)  # tune.py's: how each lab's train is called
    start = time.perf_counter()
    try:
        if use_cprofile:
            profiler = cProfile.Profile()
            profiler.enable()
            _, result = run(show=False)
            profiler.disable()
        else:
            _, result = run(show=False)
    finally:
        for owner, attribute, original in patched:
            setattr(owner, attribute, original)
    wall = time.perf_counter() - start
    print(f"lab {lab}, seed {seed}: {result['env_steps']:,} env steps, solved at "
          f"{result['steps_to_solve']}, {wall:.1f} s in train "
          f"(train_wall_seconds {result['train_wall_seconds']:.1f}), "
          f"{len(result['evals'])} evaluations")
    if use_cprofile:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    rows = [(label, name) for label, name in PARTS if name in totals]
    rows += [("periodic evaluation: TrainingLog.evaluate", "TrainingLog.evaluate"),
             ("bookkeeping: TrainingLog.add", "TrainingLog.add"),
             ("bookkeeping: TrainingLog.learned", "TrainingLog.learned")]
    print("\n| part | seconds | share | calls | µs per call |\n|---|---|---|---|---|")
    counted = 0.0
    for label, name in rows:
        seconds = totals[name]
        if not label.startswith("  "):
            counted += seconds
        print(f"| {label} | {seconds:.2f} | {seconds / wall:.0%} | {counts[name]:,} | "
              f"{1e6 * seconds / max(counts[name], 1):.0f} |")
    print(f"| the rest (the loop's own Python, setup) | {wall - counted:.2f} | "
          f"{(wall - counted) / wall:.0%} | | |")
    print(f"| total | {wall:.2f} | 100% | | |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", choices=sorted(NOTEBOOKS), default="02")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None,
                        help="env step budget (default: the lab's, stopping when solved)")
    parser.add_argument("--cprofile", action="store_true", help="cProfile's top functions")
    args = parser.parse_args(argv)
    profile(args.lab, args.seed, args.steps, args.cprofile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
