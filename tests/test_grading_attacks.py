"""Every attack route of ``tests/attacks.py`` scores 0, and honest submissions graded in the
same run keep their grades; no solution text reaches the feedback.

The sandbox's part (a root without the solutions or ``.git``, a PID namespace) needs root on
Linux; without it these tests are skipped: the README says what the grader then guarantees.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

import nbformat
import pytest

from dqn_helpers import checks

from .attacks import ATTACKS
from .submissions import insert_code, replace, solution, student
from .test_grade import run_grader

pytestmark = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and os.geteuid() == 0),
    reason="the grader's sandbox needs root on Linux")

# lab 00's exercises, from the registry: an exercise added to the lab is covered too
EXERCISES = sorted((e for e in checks.REGISTRY if e.split(".")[0] == "0"),
                   key=lambda e: [int(n) for n in e.split(".")])


def attack_notebook(source: str):
    """The student notebook, its stubs replaced where the attack defines them, plus the
    attack's class bodies in a cell of their own near the top."""
    nb = replace(student("00"), source)
    return insert_code(nb, 2, "import numpy as np\n")


def solution_lines() -> set[str]:
    """Lines of the solution's code that the student notebook lacks (the answers): text that
    must never reach the feedback."""
    def code(nb) -> set[str]:
        return {line.strip() for cell in nb.cells if cell.cell_type == "code"
                for line in cell.source.splitlines() if len(line.strip()) > 20}

    return code(solution("00")) - code(student("00"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("attacks")
    folder = tmp / "submissions"
    folder.mkdir()
    for name, source in ATTACKS.items():
        nbformat.write(attack_notebook(source), folder / f"attack_{name}.ipynb")
    nbformat.write(solution("00"), folder / "honest_00_solution.ipynb")
    nbformat.write(student("00"), folder / "honest_00_student.ipynb")
    nbformat.write(solution("01"), folder / "honest_01_solution.ipynb")
    result = run_grader(folder, "--out", tmp / "out", "--jobs", "2", "--timeout-exercise", "10",
                        "--timeout-submission", "120")
    with open(tmp / "out" / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {(Path(r["submission"]).stem, r["exercise"]): r for r in csv.DictReader(handle)}
    yield {"result": result, "rows": rows, "out": tmp / "out"}


def test_the_grader_finishes_cleanly(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "no solutions, .git" in result.stdout, result.stdout  # the sandbox was in force


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_every_attack_scores_zero(graded, name):
    rows = graded["rows"]
    for exercise in EXERCISES:
        row = rows[(f"attack_{name}", exercise)]
        assert row["points"] == "0" and row["status"] != "passed", row


def test_honest_submissions_keep_their_grades(graded):
    rows = graded["rows"]
    for exercise in EXERCISES:
        assert rows[("honest_00_solution", exercise)]["status"] == "passed"
        assert rows[("honest_00_solution", exercise)]["points"] == "1"
        assert rows[("honest_00_student", exercise)]["status"] == "not attempted"
    ones = [r for (name, _), r in rows.items() if name == "honest_01_solution"]
    assert ones and all(r["status"] == "passed" for r in ones), ones


def test_no_solution_text_reaches_the_feedback(graded):
    lines = solution_lines()
    assert lines, "found no solution lines to look for"
    texts = [p.read_text() for p in (graded["out"] / "feedback").iterdir()]
    texts.append((graded["out"] / "grades.csv").read_text())
    for text in texts:
        leaked = [line for line in lines if line in text]
        assert not leaked, f"solution text in the feedback: {leaked[:3]}"


def test_reading_the_git_history_finds_nothing(graded):
    feedback = graded["rows"][("attack_git_history", "0.1")]["feedback"]
    assert "raised RuntimeError" in feedback, feedback
    assert "cells" not in feedback and "ref: refs/heads" not in feedback, feedback
