"""Benchmark the DQN labs against stable-baselines3, seed by seed, and print a markdown table.

    pip install -e ".[benchmark]"
    python benchmarks/benchmark.py --lab 02 --seeds 0 1 2 3 4

Ours: the lab's solution notebook as shipped, run headless (``dqn_helpers.run``); its
``metrics.json`` gives the figures. stable-baselines3: its DQN with the rl-baselines3-zoo
hyperparameters for the task, stopped by the same rule as ours: every ``eval_every`` env steps a
greedy evaluation (10 screening episodes, then 100 if those reach the threshold, both played by
the same ``dqn_helpers`` code), stopping at the first 100-episode mean at or above the threshold.
The final score of both is the mean of 100 fresh greedy episodes (seeds from 1,000,000).
Wall time counts training and its periodic evaluations only, for both.

The runs (each agent on each seed) go one per core (``--jobs N``: N at a time; ``--jobs 1``:
one after another, here), or to a Dask cluster with ``--dask ADDRESS``. A run's steps to solve
and final scores are the same whatever ``--jobs`` (each run is deterministic for its seed, on
one torch thread); its seconds depend on what else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dqn_helpers import evaluate, parallel
from dqn_helpers.evaluation import solved
from dqn_helpers.metrics import read_metrics, write_metrics
from dqn_helpers.run import run

ROOT = Path(__file__).resolve().parents[1]

LABS = {
    "02": {
        # eval_every: the same as the lab's Config, so that both agents face the same rule
        "env_id": "CartPole-v1", "solved_at": 475.0, "budget": 50_000, "eval_every": 500,
        # rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1
        "sb3": dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                    learning_starts=1_000, gamma=0.99, target_update_interval=10, train_freq=256,
                    gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
                    policy_kwargs=dict(net_arch=[256, 256])),
    },
    "03": {
        "env_id": "LunarLander-v3", "solved_at": 200.0, "budget": 200_000, "eval_every": 5_000,
        # the lab's soft-vs-hard comparison runs after metrics.json is written: keep it short
        "run_params": {"COMPARE_SEEDS": 1, "COMPARE_STEPS": 2_000},
        # rl-baselines3-zoo, hyperparams/dqn.yml, LunarLander, given our step budget. Note that
        # exploration_fraction is a fraction of the budget: 0.12 of 200k decays epsilon over
        # 24k steps (the zoo's 100k budget gives 12k).
        "sb3": dict(learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0,
                    gamma=0.99, target_update_interval=250, train_freq=4, gradient_steps=-1,
                    exploration_fraction=0.12, exploration_final_eps=0.1,
                    policy_kwargs=dict(net_arch=[256, 256])),
    },
    "04": {
        # from pixels (lab 04); the goal is a 100-episode greedy mean of 195 within the lab's
        # 10-minute training budget (MAX_TRAIN_MINUTES), the step budget rarely binds
        "env_id": "CartPole-v1 from pixels", "solved_at": 195.0, "budget": 100_000,
        "eval_every": 5_000,
    },
}


def run_ours(lab: str, seed: int, out: Path) -> dict:
    run(lab, seed=seed, out=out, params=LABS[lab].get("run_params"), root=ROOT)
    return read_metrics(out)


def run_sb3(lab: str, seed: int, out: Path) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    spec = LABS[lab]
    env_id, threshold = spec["env_id"], spec["solved_at"]

    class SameStoppingRule(BaseCallback):
        def __init__(self):
            super().__init__()
            self.evaluations, self.steps_to_solve = 0, None

        def _on_step(self) -> bool:
            if self.num_timesteps % spec["eval_every"] or self.num_timesteps < 1_000:
                return True
            self.evaluations += 1
            is_solved, _ = solved(self.model.q_net, env_id, threshold,
                                  seed=10_000 + 1_000 * self.evaluations)
            if is_solved:
                self.steps_to_solve = self.num_timesteps
            return not is_solved

    torch.set_num_threads(1)
    model = DQN("MlpPolicy", env_id, seed=seed, device="cpu", verbose=0, **spec["sb3"])
    callback = SameStoppingRule()
    start = time.perf_counter()
    model.learn(total_timesteps=spec["budget"], callback=callback)
    wall = time.perf_counter() - start
    returns = evaluate(model.q_net, env_id, episodes=100, seed=1_000_000)
    return write_metrics(out, env_id=env_id, seed=seed, env_steps=model.num_timesteps,
                         train_wall_seconds=wall, steps_to_solve=callback.steps_to_solve,
                         final_eval_returns=returns, agent="stable-baselines3",
                         hyperparameters=repr(spec["sb3"]))


RUNNERS = {"ours": run_ours, "stable-baselines3": run_sb3}


def run_one(lab: str, agent: str, seed: int, out: Path) -> dict:
    return RUNNERS[agent](lab, seed, out)


def run_all(lab: str, seeds: list[int], agents: list[str], out: Path, reuse: bool = False,
            jobs: int | None = None, dask: str | None = None) -> dict[str, dict[int, dict]]:
    """``{agent: {seed: metrics}}``: every agent on every seed, ``jobs`` runs at a time."""
    results: dict[str, dict[int, dict]] = {agent: {} for agent in agents}
    todo = []
    for seed in seeds:
        for agent in agents:
            folder = out / lab / f"{agent}-seed{seed}"
            if reuse and (folder / "metrics.json").exists():
                results[agent][seed] = read_metrics(folder)
            else:
                todo.append((lab, agent, seed, folder))
    with parallel.configured(jobs, dask):
        for i, metrics in parallel.run_all(run_one, todo, [f"{a} seed {s}" for _, a, s, _ in todo]):
            _, agent, seed, _ = todo[i]
            results[agent][seed] = metrics
            print(f"{agent} seed {seed}: {metrics}", file=sys.stderr, flush=True)
    return {agent: dict(sorted(by_seed.items())) for agent, by_seed in results.items()}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "not solved"
    return f"{value:,.{digits}f}"


def table(lab: str, results: dict[str, dict[int, dict]]) -> str:
    spec = LABS[lab]
    lines = [f"Lab {lab}, {spec['env_id']}: solved at a 100-episode greedy mean of "
             f"{spec['solved_at']:g}; budget {spec['budget']:,} env steps.", "",
             "| agent | seed | steps to solve | train wall s | final mean (100 ep.) | std |",
             "|---|---|---|---|---|---|"]
    for agent, by_seed in results.items():
        for seed, m in sorted(by_seed.items()):
            lines.append(f"| {agent} | {seed} | {fmt(m['steps_to_solve'])} | "
                         f"{m['train_wall_seconds']:.1f} | {m['final_eval_mean']:.1f} | "
                         f"{m['final_eval_std']:.1f} |")
    lines += ["", "| agent | seeds solved (final mean >= threshold) | median steps to solve | "
                  "median train wall s |", "|---|---|---|---|"]
    for agent, by_seed in results.items():
        ok = sum(m["final_eval_mean"] >= spec["solved_at"] for m in by_seed.values())
        lines.append(f"| {agent} | {ok}/{len(by_seed)} | "
                     f"{fmt(median([m['steps_to_solve'] for m in by_seed.values()]))} | "
                     f"{fmt(median([m['train_wall_seconds'] for m in by_seed.values()]), 1)} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, numpy {np.__version__}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="02", choices=sorted(LABS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--agents", nargs="+", default=["ours", "stable-baselines3"],
                        choices=["ours", "stable-baselines3"])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "benchmark")
    parser.add_argument("--reuse", action="store_true",
                        help="read a run's metrics.json from OUT/LAB/AGENT-seedS when it exists "
                             "instead of training again (to combine runs made separately)")
    parallel.add_arguments(parser)
    args = parser.parse_args(argv)
    results = run_all(args.lab, args.seeds, args.agents, args.out, args.reuse, args.jobs,
                      args.dask)
    report = table(args.lab, results) + f"\n\nMachine: {machine()}.\n"
    print(report)
    (args.out / f"lab{args.lab}.md").write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
