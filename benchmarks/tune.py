"""Try a lab's hyperparameters on tuning seeds (never the benchmark's 0-4), two runs at a time.

    python benchmarks/tune.py --lab 02 --seeds 5 6 7 8 9
    python benchmarks/tune.py --lab 02 --seeds 5 6 7 8 9 --set hidden=64 tau=0.02
    python benchmarks/tune.py --lab 05 --seeds 5 6 7 --set total_steps=300000 n_steps=1

Each run is the solution notebook's own ``train`` (its definitions loaded with
``load_definitions``), headless, one torch thread, with the lab's ``Config`` as shipped except
the ``--set`` fields, stopping by the lab's rule; then 100 fresh greedy episodes (seeds from
1,000,000, as the notebook's final evaluation). Lab 05 is its Part 1, MinAtar Breakout
(``MinAtarConfig``, ``train_minatar``): no threshold, a time budget (``max_train_minutes``, set
it high to compare by env steps, whatever the machine's load) and the network of the best
periodic evaluation. ``--jobs`` runs that many seeds at once, one
process each: on 2 cores, 2 (the times then include the other run's share of the machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# lab: (solution notebook, its Config class, its training function, its env factory
# cfg -> env, or None for gym.make(cfg.env_id))
LABS = {"02": ("02_dqn_cartpole.ipynb", "Config", "train", None),
        "03": ("03_dqn_lunarlander.ipynb", "Config", "train", None),
        "04": ("04_dqn_pixels_cartpole.ipynb", "Config", "train", "make_pixel_env"),
        "05": ("05_dqn_breakout.ipynb", "MinAtarConfig", "train_minatar", "minatar_game")}


def training_run(lab: str, ns: dict, cfg) -> tuple:
    """(the lab's training function with its arguments, awaiting ``show=``; the env factory or
    id its network plays on), from the notebook's definitions ``ns``. Lab 04's ``train`` takes
    the env factory and the network, passed as the notebook passes them."""
    _, _, train, make_env = LABS[lab]
    if lab == "04":
        env = partial(ns[make_env], cfg.frames)
        return partial(ns[train], cfg, env, partial(ns["PixelQNetwork"], hidden=cfg.hidden),
                       title="lab 04 pixels"), env
    env = cfg.env_id if make_env is None else partial(ns[make_env], cfg)
    return partial(ns[train], cfg), env


def one_run(lab: str, seed: int, overrides: dict) -> dict:
    import torch

    from dqn_helpers import evaluate
    from dqn_helpers.notebook import load_definitions
    from dqn_helpers.run import parse_value

    torch.set_num_threads(1)  # as the notebooks
    notebook, config, _, _ = LABS[lab]
    ns = load_definitions(ROOT / "solutions" / notebook)
    cfg = replace(ns[config](), seed=seed,
                  **{key: parse_value(value) for key, value in overrides.items()})
    run, env = training_run(lab, ns, cfg)
    start = time.perf_counter()
    q_network, result = run(show=False)
    wall = time.perf_counter() - start
    final = evaluate(q_network, env, episodes=100, seed=1_000_000)
    return {"seed": seed, "steps_to_solve": result["steps_to_solve"],
            "env_steps": result["env_steps"],
            "train_wall_seconds": round(result["train_wall_seconds"], 1),
            "wall_seconds": round(wall, 1), "final_mean": round(float(final.mean()), 2),
            "solved_at": getattr(cfg, "solved_at", None),
            "evals": [(step, round(mean, 1)) for step, mean in result["evals"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", choices=sorted(LABS), default="02")
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8, 9])
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="Config fields to change")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    if set(args.seeds) & {0, 1, 2, 3, 4}:
        parser.error("seeds 0-4 are the benchmark's: tune on others")
    overrides = dict(item.split("=", 1) for item in args.set)
    with ProcessPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one_run, [args.lab] * len(args.seeds), args.seeds,
                             [overrides] * len(args.seeds)))
    for run in runs:
        print(run)
    if runs[0]["solved_at"] is None:  # no threshold (lab 05): the final means
        finals = [r["final_mean"] for r in runs]
        print(f"lab 05 {overrides or 'as shipped'}: final means {finals}, median "
              f"{statistics.median(finals)}, worst {min(finals)}, median env steps "
              f"{statistics.median(r['env_steps'] for r in runs):,.0f}")
        return 0
    steps = [r["steps_to_solve"] for r in runs if r["steps_to_solve"] is not None]
    ok = sum(r["final_mean"] >= r["solved_at"] for r in runs)
    print(f"lab {args.lab} {overrides or 'as shipped'}: solved {len(steps)}/{len(runs)}, final "
          f"mean >= threshold {ok}/{len(runs)}, median steps "
          f"{statistics.median(steps) if steps else None}, median train s "
          f"{statistics.median(r['train_wall_seconds'] for r in runs):.1f}, "
          f"worst final mean {min(r['final_mean'] for r in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
