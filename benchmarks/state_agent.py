"""Lab 04's comparison agent: lab 02's agent on CartPole's state, trained by lab 04's loop to 195.

    python benchmarks/state_agent.py --seeds 0 1 2 3 4

Section 10 of lab 04 trains lab 02's QNetwork with lab 02's hyperparameters (``state_config``,
``state_q_network``) through the same ``train`` as the pixel agent, with the same stopping
rule: a 100-episode greedy mean of 195. This runs that agent alone, with the notebook's own
definitions (loaded from ``solutions/04_dqn_pixels_cartpole.ipynb``; nothing else of the
notebook runs), on each seed, and prints the env steps and training seconds it needed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial

import torch
from benchmark import ROOT, machine  # benchmarks/benchmark.py: the same machine line

from dqn_helpers import make_env
from dqn_helpers.compare import markdown_table
from dqn_helpers.notebook import load_definitions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=int, default=50_000, help="env steps at most")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as the notebook
    ns = load_definitions(ROOT / "solutions" / "04_dqn_pixels_cartpole.ipynb")
    rows = []
    for seed in args.seeds:
        cfg = ns["state_config"](replace(ns["Config"](), seed=seed), total_steps=args.budget)
        _, result = ns["train"](cfg, partial(make_env, "CartPole-v1"), ns["state_q_network"],
                                title=f"state agent, seed {seed}", show=False)
        steps = result["steps_to_solve"]
        rows.append({"seed": seed, "steps to 195": f"{steps:,}" if steps else "not solved",
                     "train wall s": f"{result['train_wall_seconds']:.1f}"})
        print(rows[-1], file=sys.stderr)
    print(markdown_table(rows))
    print(f"\nMachine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
