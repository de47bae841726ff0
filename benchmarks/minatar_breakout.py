"""Lab 05, Part 1: DQN on MinAtar Breakout, the shipped configuration, over several seeds.

    python benchmarks/minatar_breakout.py --seeds 0 1 2 3 4 --jobs 2

Each seed runs the solution notebook's own ``train_minatar`` (its definitions are loaded,
nothing is copied) with the notebook's ``MinAtarConfig`` as shipped: training stops after
``MINATAR_MINUTES`` (10) or ``MINATAR_STEPS``, whichever comes first, and returns the network
of its best periodic greedy evaluation (30 games every 20,000 env steps, saved at the time).
That network then plays 100 fresh greedy games (seeds from 1,000,000, as in the notebook), and
a random agent plays the same 100 games. Each seed runs in a process of its own, with torch on
one thread (the config's), ``--jobs`` at a time: 2 on a 2-core machine, one per core.

The goal (issue 16): a greedy mean of at least 15 over 100 games on 5/5 seeds, each within 10
minutes of training on a 2-core CPU; the floor: 10. Results are written per seed to
``--out``/seedS.json (``--reuse`` reads them back instead of training again).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from benchmark import ROOT, machine  # benchmarks/benchmark.py: the same machine line

from dqn_helpers.compare import markdown_table

GOAL, FLOOR = 15.0, 10.0


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def run_seed(seed: int, out: Path, minutes: float | None) -> dict:
    """Train one seed in this process, evaluate it, write out/seedS.json; return its row."""
    from functools import partial

    from dqn_helpers import evaluate
    from dqn_helpers.notebook import load_definitions
    from dqn_helpers.run import find_lab

    ns = load_definitions(find_lab(ROOT, "05"))
    cfg = replace(ns["MinAtarConfig"](), seed=seed)
    if minutes is not None:
        cfg = replace(cfg, max_train_minutes=minutes)
    load_before = load_average()
    q_network, result = ns["train_minatar"](cfg, show=False)

    make = partial(ns["minatar_game"], cfg)  # the notebook's: the game cfg trained on
    returns = evaluate(q_network, make, episodes=ns["MINATAR_EVAL_EPISODES"], seed=1_000_000)
    rng = np.random.default_rng(seed)
    random_returns = evaluate(lambda obs: int(rng.integers(3)), make,
                              episodes=ns["MINATAR_EVAL_EPISODES"], seed=1_000_000)
    row = {"seed": seed, "env_steps": result["env_steps"],
           "train_wall_seconds": round(result["train_wall_seconds"], 1),
           "best_step": result["best_step"], "best_eval": result["best_eval"],
           "evals": result["evals"], "final_mean": float(returns.mean()),
           "final_std": float(returns.std()), "final_max": float(returns.max()),
           "random_mean": float(random_returns.mean()), "load_before": load_before,
           "load_after": load_average(), "config": asdict(cfg)}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"seed{seed}.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


def table(rows: list[dict]) -> str:
    per_seed = markdown_table([
        {"seed": r["seed"], "env steps": f"{r['env_steps']:,}",
         "train wall s": f"{r['train_wall_seconds']:.0f}",
         "kept (step: its 30-game eval)": f"{r['best_step']:,}: {r['best_eval']:.1f}"
         if r["best_step"] else "last",
         "final mean (100 games)": f"{r['final_mean']:.1f}", "std": f"{r['final_std']:.1f}",
         "random (same games)": f"{r['random_mean']:.2f}",
         "load avg before / after": f"{r['load_before'].split()[0]} / "
                                    f"{r['load_after'].split()[0]}"} for r in rows])
    means = [r["final_mean"] for r in rows]
    summary = (f"\nSeeds at or above {GOAL:g}: {sum(m >= GOAL for m in means)}/{len(means)}; "
               f"at or above {FLOOR:g}: {sum(m >= FLOOR for m in means)}/{len(means)}; "
               f"median {statistics.median(means):.1f}, min {min(means):.1f}, "
               f"max {max(means):.1f}; random play "
               f"{statistics.mean(r['random_mean'] for r in rows):.2f}.")
    return per_seed + "\n" + summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=2, help="seeds trained at a time")
    parser.add_argument("--minutes", type=float, default=None,
                        help="training time budget (default: the notebook's, 10)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmark" / "minatar")
    parser.add_argument("--reuse", action="store_true", help="read seeds already run")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:  # a worker: one seed, in this process
        run_seed(args.one, args.out, args.minutes)
        return 0
    print(f"load average before: {load_average()}", file=sys.stderr)
    todo = [s for s in args.seeds if not (args.reuse and (args.out / f"seed{s}.json").exists())]
    processes: list[subprocess.Popen] = []
    started = time.perf_counter()
    for seed in todo:
        while sum(p.poll() is None for p in processes) >= args.jobs:
            time.sleep(1)
        command = [sys.executable, __file__, "--one", str(seed), "--out", str(args.out)]
        if args.minutes is not None:
            command += ["--minutes", str(args.minutes)]
        print(f"seed {seed}: started at {time.perf_counter() - started:.0f} s, load average "
              f"{load_average()}", file=sys.stderr, flush=True)
        processes.append(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    failed = [p.args for p in processes if p.wait() != 0]
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
        return 1
    rows = [json.loads((args.out / f"seed{s}.json").read_text()) for s in args.seeds]
    print(f"\nLab 05, Part 1: DQN on MinAtar/Breakout-v1, {len(rows)} seeds, training capped at "
          f"{rows[0]['config']['max_train_minutes']:g} minutes; final: 100 greedy games of the "
          "network kept.\n")
    print(table(rows))
    print(f"\nMachine: {machine()}; load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
