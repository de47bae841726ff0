"""The README's commands, CI and lint stay true."""

import re
import subprocess
import sys

from .conftest import ROOT


def readme_commands():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, re.S)
    return [line for block in blocks for line in block.splitlines()
            if line.startswith("python3 -m venv")]


def test_readme_gives_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert "dqn_helpers.run" in main_job and "torch==2.13.0" in main_job
    assert "pytest" in tests and "torch==2.13.0" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_readme_lists_every_lab_with_its_colab_badge():
    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"blob/main/notebooks/{path.name})" in readme, f"{path.name} is not in the README"


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
