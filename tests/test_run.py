"""The headless runner: parameters, errors, and what a DQN run writes."""

import io
import json
import os
import re
import subprocess
import sys

import nbformat
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
    # What the terminal shows: each section as it starts, what the notebook prints, and not
    # the kernel's own warnings.
    assert "Kernel is running over TCP" not in result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    sections = re.findall(r"^\[lab 02 \d+:\d\d\] (.+)$", result.stderr, re.M)
    assert sections[:3] == ["Lab 02: Deep Q-learning on CartPole-v1", "1. The idea",
                            "2. Hyperparameters"], result.stderr
    assert "7. Training" in sections and "8. How good is it?" in sections
    assert "100 greedy episodes: mean" in result.stdout
    assert result.stdout.index("100 greedy episodes") < result.stdout.index("lab 02: wrote")


def probe_course(tmp_path, parameters: str = 'SEED = 0\nOUT_DIR = "."'):
    """A course folder whose only lab, 07, reports its kernel's environment."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Lab 07: a probe"),
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## 1. The environment\n\nText.\n### Not a section"),
        nbformat.v4.new_code_cell(
            "import os, sys\nfrom pathlib import Path\n"
            "Path(OUT_DIR, 'headless.txt').write_text(os.environ.get('DQN_LABS_HEADLESS', 'unset'))\n"
            "print('probe says hello')\nprint('probe progress line', file=sys.stderr)"),
        nbformat.v4.new_markdown_cell("## 2. The end"),
    ]
    (tmp_path / "solutions").mkdir()
    nbformat.write(nb, tmp_path / "solutions" / "07_probe.ipynb")
    return tmp_path


def test_the_kernel_runs_headless_and_its_output_reaches_the_terminal(tmp_path, capfd,
                                                                      monkeypatch):
    monkeypatch.delenv(runner.HEADLESS, raising=False)
    course = probe_course(tmp_path)
    out = runner.run("07", out=tmp_path / "run", root=course)
    assert (out / "headless.txt").read_text() == "1"  # DQN_LABS_HEADLESS=1 in the kernel
    assert runner.HEADLESS not in os.environ  # and only there
    stdout, stderr = capfd.readouterr()
    assert "probe says hello" in stdout
    assert "Kernel is running over TCP" not in stdout + stderr  # the kernel's own stderr too
    assert re.findall(r"^\[lab 07 \d+:\d\d\] (.+)$", stderr, re.M) == [
        "Lab 07: a probe", "1. The environment", "2. The end"]
    assert stderr.index("1. The environment") < stderr.index("probe progress line") \
        < stderr.index("2. The end")


def test_several_labs_each_run_in_their_own_folder_under_out(tmp_path):
    out = tmp_path / "runs"
    result = subprocess.run([sys.executable, "-m", "dqn_helpers.run", "00", "01", "--seed", "2",
                             "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("00_mdp_basics", "01_random_agent"):
        folder = out / name / "seed2"
        assert (folder / f"{name}.ipynb").exists()
        assert f"lab {name[:2]}: wrote {folder}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["00_mdp_basics", "01_random_agent"]


def test_track_is_the_TRACK_parameter(tmp_path):
    for value in ("off", "tensorboard", "wandb"):
        args, params = runner.parse_args(["02", "--track", value, "-p", "TOTAL_STEPS", "10"])
        assert params == {"TOTAL_STEPS": 10, "TRACK": value}
    assert runner.parse_args(["02", "-p", "TRACK", "wandb", "--track", "wandb"])[1] == {
        "TRACK": "wandb"}
    assert "TRACK" not in runner.parse_args(["02"])[1]
    with pytest.raises(SystemExit):
        runner.parse_args(["02", "--track", "mlflow"])
    with pytest.raises(SystemExit):
        runner.parse_args(["02", "-p", "TRACK", "wandb", "--track", "off"])
    # A lab without a TRACK parameter refuses it, as any unknown parameter, before running.
    course = probe_course(tmp_path)
    with pytest.raises(SystemExit, match=r"unknown parameter\(s\) TRACK for 07_probe.ipynb"):
        runner.main(["07", "--track", "tensorboard", "--root", str(course)])
    assert not (course / "runs").exists()


def test_help_says_where_several_labs_write(capsys):
    with pytest.raises(SystemExit):
        runner.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "DIR/NN_name/seedS" in text and "--track {off,tensorboard,wandb}" in text


def test_output_the_terminal_cannot_encode_does_not_stop_a_run():
    terminal = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    echo = runner._Echo(terminal)
    echo.write("✔ Exercise 2.1 passed\n")
    echo.flush()
    assert terminal.buffer.getvalue() == b"? Exercise 2.1 passed\n"
