"""How long the grader takes on a class: a benchmark, not a test.

    python benchmarks/grading.py --lab 02 --count 30 --jobs 2
    python benchmarks/grading.py --mixed --count 200 --jobs 2

Writes a class of submissions with ``tests/submissions.py`` (solutions, each exercise's first
typical mistake, untouched student notebooks, cycled; most students succeed), grades it with
``python -m dqn_helpers.grading`` in a subprocess, and prints the wall time, the grades'
statuses, the machine and its load average before and after (figures move with the load).
``--mixed`` cycles through every lab (00-06).
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmark import machine  # noqa: E402 (benchmarks/benchmark.py: the same machine line)

from tests.submissions import LABS, write_class  # noqa: E402


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="02", help="the lab of every submission")
    parser.add_argument("--mixed", action="store_true", help="cycle through every lab")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dqn-grading-bench-") as tmp:
        folder = Path(tmp) / "class"
        labs = LABS if args.mixed else [args.lab]
        for i, lab in enumerate(labs):  # spread count over the labs, in sub-folders
            share = args.count // len(labs) + (i < args.count % len(labs))
            write_class(lab, share, folder / f"lab{lab}")
        print(machine())
        print(f"load average before: {load_average()}")
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "dqn_helpers.grading", str(folder),
                                 "--out", str(Path(tmp) / "out"), "--jobs", str(args.jobs)],
                                cwd=ROOT, capture_output=True, text=True)
        seconds = time.monotonic() - started
        print(f"load average after: {load_average()}")
        with open(Path(tmp) / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        statuses = collections.Counter(r["status"] for r in rows)
        submissions = len({r["submission"] for r in rows})
        what = "mixed labs " + ", ".join(labs) if args.mixed else f"lab {args.lab}"
        print(f"{submissions} submissions ({what}), {len(rows)} exercise rows, "
              f"--jobs {args.jobs}: {seconds:.1f} s in all (exit status {result.returncode})")
        print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
        if result.returncode != 0:
            print(result.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
