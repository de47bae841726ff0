"""The tuning and profiling scripts run lab 04's own loop (its train takes the env and network)."""

import re
import subprocess
import sys

from .conftest import ROOT


def test_tune_runs_lab04_pixels_on_a_tuning_seed():
    command = [sys.executable, str(ROOT / "benchmarks" / "tune.py"), "--lab", "04", "--seeds", "8",
               "--jobs", "1", "--set", "total_steps=300", "learning_starts=200",
               "eval_every=150", "batch_size=8"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'env_steps': 300" in done.stdout and "'evals': [(300, " in done.stdout  # at 299, past 200
    assert "lab 04 {'total_steps': '300'" in done.stdout and "solved 0/1" in done.stdout


def test_profile_times_the_parts_of_lab04s_loop():
    command = [sys.executable, str(ROOT / "benchmarks" / "profile_training.py"), "--lab", "04",
               "--seed", "8", "--steps", "2010"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "lab 04, seed 8: 2,010 env steps" in done.stdout
    # learning starts at 2,000 env steps: a gradient step on each of the last 10
    assert re.search(r"^\| gradient step: learn_step \| [\d.]+ \| \d+% \| 10 \|", done.stdout, re.M)
    assert re.search(r"^\| env step \+ store: play_step \| [\d.]+ \| \d+% \| 2,010 \|",
                     done.stdout, re.M)
