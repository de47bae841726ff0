"""The README's commands, CI and lint stay true."""

import re
import subprocess
import sys

from dqn_helpers import BRANCH, REPO
from dqn_helpers.build import badge_source

from .conftest import ROOT


def readme_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    return [line for block in blocks for line in block.splitlines()
            if line.startswith("python3 -m venv")]


def test_readme_gives_three_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 3, commands
    lab, main_job, tests = commands
    assert lab.endswith(".venv/bin/jupyter lab notebooks/") and '-e ".[lab]"' in lab
    assert main_job.endswith(".venv/bin/python -m dqn_helpers.run 02")
    assert tests.endswith(".venv/bin/python -m pytest")
    for command in commands:  # an unpinned torch downloads gigabytes of CUDA packages
        assert " torch==2.13.0 " in command, command
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_readme_clones_and_lists_every_lab_with_its_colab_badge():
    readme = (ROOT / "README.md").read_text()
    assert f"git clone https://github.com/{REPO}.git\ncd {REPO.split('/')[1]}\n" in readme
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert badge_source("notebooks", path.name) in readme, \
            f"README: {path.name} has no Colab badge for {REPO}@{BRANCH}"


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_reports_a_benchmark_for_every_training_lab():
    readme = (ROOT / "README.md").read_text()
    benchmark = readme[readme.index("\n## Benchmark"):]
    benchmark = benchmark[:benchmark.index("\n## ", 1)]
    sections = dict(re.findall(r"\n### Lab (\d\d)\b.*?\n(.*?)(?=\n### |\Z)", benchmark, re.S))
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        if "write_metrics(" not in path.read_text():
            continue  # labs 00 and 01 train nothing
        lab = path.name[:2]
        assert lab in sections, f"README: no '### Lab {lab}' subsection under '## Benchmark'"
        command = re.search(r"```\n(.*\n)*?python benchmarks/", sections[lab])
        assert command, f"README, lab {lab}: no benchmark command"
        assert "| " in sections[lab], f"README, lab {lab}: no measured table"
