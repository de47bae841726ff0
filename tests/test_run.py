"""The headless runner: parameters, errors, and what a DQN run writes."""

import json
import subprocess
import sys

import pytest

from dqn_helpers import run as runner
from dqn_helpers.metrics import REQUIRED, read_metrics, write_metrics
from dqn_helpers.video import decode_video

from .conftest import ROOT


def test_unknown_lab_and_unknown_parameter_are_refused():
    with pytest.raises(SystemExit, match=r"no solution notebook for lab 42 .*labs: 00, 01, 02"):
        runner.run("42", root=ROOT)
    with pytest.raises(SystemExit, match=r"unknown parameter\(s\) STEPS .*SEED, TOTAL_STEPS, OUT_DIR"):
        runner.run("02", params={"STEPS": 3}, root=ROOT)
    assert runner.parse_value("3") == 3 and runner.parse_value("runs/x") == "runs/x"


def test_metrics_schema_is_checked(tmp_path):
    with pytest.raises(ValueError, match="steps_to_solve=900 must be in 1..env_steps=800"):
        write_metrics(tmp_path, env_id="X", seed=0, env_steps=800, train_wall_seconds=1.0,
                      steps_to_solve=900, final_eval_returns=[1.0])
    with pytest.raises(ValueError, match="non-empty"):
        write_metrics(tmp_path, env_id="X", seed=0, env_steps=800, train_wall_seconds=1.0,
                      steps_to_solve=None, final_eval_returns=[])
    (tmp_path / "metrics.json").write_text(json.dumps({"env_id": "X"}))
    with pytest.raises(ValueError, match="lacks seed"):
        read_metrics(tmp_path)


def test_headless_lab02_run_writes_metrics_plot_video_and_weights(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "dqn_helpers.run", "02", "--seed", "1",
                             "--out", str(out), "-p", "TOTAL_STEPS", "2500"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(out)
    assert set(REQUIRED) <= set(metrics)
    assert metrics["seed"] == 1 and metrics["env_id"] == "CartPole-v1"
    assert metrics["env_steps"] <= 2500 and metrics["final_eval_episodes"] == 100
    assert metrics["config"]["total_steps"] == 2500
    assert (out / "returns.png").read_bytes()[:4] == b"\x89PNG"
    assert len(decode_video((out / "agent.mp4").read_bytes())) > 1
    assert (out / "q_network.pt").stat().st_size > 0
    assert (out / "02_dqn_cartpole.ipynb").exists()
