"""Lab 06's full comparison: vanilla DQN, Double, Dueling, PER and all three, over 5 seeds.

    python benchmarks/improvements.py --seeds 0 1 2 3 4 --steps 30000 --out runs/bench06

It runs the comparison that lab 06's solution notebook runs at a small size (section 9), with
the notebook's own code: ``compare_variants`` and ``summarize``, loaded from
``solutions/06_dqn_improvements.ipynb`` (its definitions only; nothing else of the notebook
runs). The runs go one per core (``--jobs N``: N at a time; ``--jobs 1``: one after another,
here), or to a Dask cluster with ``--dask ADDRESS``; each run's figures other than its seconds
are the same whatever ``--jobs`` (each run is deterministic for its seed, on one torch thread).
The records are written to ``OUT/records.json`` when the runs end; ``--reuse`` keeps the seeds
already there and runs only the others. It prints a markdown table per variant (seeds solved,
median steps to solve, mean return over training, final greedy mean, overestimation gap, train
seconds) and one row per run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from dqn_helpers import parallel
from dqn_helpers.compare import markdown_table
from dqn_helpers.notebook import load_definitions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "06_dqn_improvements.ipynb"


def load_lab() -> dict:
    """The solution notebook's definitions (functions, classes, literal assignments)."""
    ns = load_definitions(NOTEBOOK)
    missing = [n for n in ("Config", "compare_variants", "summarize", "VARIANTS") if n not in ns]
    if missing:
        raise SystemExit(f"error: {NOTEBOOK.name} does not define {', '.join(missing)}")
    return ns


def run_rows(records: list[dict], variants: list[str]) -> list[dict]:
    """One row per run, in the order of ``variants`` and then by seed."""
    def fmt_steps(steps):
        return "-" if steps is None else f"{steps:,}"
    return [{"variant": r["variant"], "seed": r["seed"],
             "steps to solve": fmt_steps(r["steps_to_solve"]),
             "mean return over training": f"{r['mean_return']:.1f}",
             "final greedy mean (20 ep.)": f"{r['final_mean']:.1f}",
             "overestimation gap": f"{r['gap']:+.1f}", "train s": f"{r['wall_seconds']:.0f}"}
            for r in sorted(records, key=lambda r: (variants.index(r["variant"]), r["seed"]))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=30_000, help="env steps of each run")
    parser.add_argument("--eval-every", type=int, default=2_500,
                        help="env steps between greedy evaluations (steps to solve)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench06"))
    parser.add_argument("--reuse", action="store_true",
                        help="keep the seeds already in OUT/records.json, run only the others")
    parallel.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.steps <= 0 or args.eval_every < 0:
        parser.error("--steps must be positive and --eval-every at least 0")

    torch.set_num_threads(1)
    ns = load_lab()
    path = args.out / "records.json"
    records = json.loads(path.read_text())["records"] if args.reuse and path.exists() else []
    records = [r for r in records if r["seed"] in args.seeds]
    todo = [seed for seed in args.seeds if seed not in {r["seed"] for r in records}]
    base = replace(ns["Config"](), total_steps=args.steps)
    args.out.mkdir(parents=True, exist_ok=True)
    if todo:
        start = time.perf_counter()
        with parallel.configured(args.jobs, args.dask):
            _, new = ns["compare_variants"](base, todo, args.eval_every)
        records += [{k: v for k, v in r.items() if k != "gap_curve"} for r in new]
        path.write_text(json.dumps({"steps": args.steps, "eval_every": args.eval_every,
                                    "records": records}, indent=1))
        print(f"seeds {todo}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    print(f"Lab 06, CartPole-v1: {len(args.seeds)} seeds x {len(ns['VARIANTS'])} variants, "
          f"{args.steps:,} env steps each, greedy evaluation every {args.eval_every:,} steps.\n")
    print(markdown_table(ns["summarize"](records)))
    print()
    print(markdown_table(run_rows(records, list(ns["VARIANTS"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
