"""The instructor's grader: sample submissions of every lab, each with its expected outcome.

One grader run (two jobs, short time limits) grades every sample of ``tests/submissions.py``;
the tests read its grades.csv, feedback files, summary and exit status. A second run, with one
job, grades a few of them again and must give the same results.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from dqn_helpers.grading import command as grade

from .conftest import ROOT, hidden_verdict, run_check
from .submissions import HARDCODED, LABS, replace, samples, solution

LIMITS = ["--timeout-exercise", "4", "--timeout-submission", "90"]


def run_grader(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqn_helpers.grading", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


def read_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == grade.COLUMNS
    return {(Path(r["submission"]).stem, r["exercise"]): r for r in rows}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    folder = tmp / "submissions"
    folder.mkdir()
    escape = [str(folder / "escaped.txt"), f"/tmp/dqn-grade-escape-{uuid.uuid4().hex}.txt",
              f"/dev/shm/dqn-grade-escape-{uuid.uuid4().hex}.txt"]
    made = samples(escape)
    paths = {s.name: s.write(folder) for s in made}
    before = {name: sha256(path) for name, path in paths.items()}
    missing = tmp / "no-such-folder"
    result = run_grader(folder, missing, "--out", tmp / "out", "--jobs", "2", *LIMITS)
    yield {"result": result, "rows": read_rows(tmp / "out"), "out": tmp / "out", "tmp": tmp,
           "samples": made, "paths": paths, "before": before, "escape": escape,
           "missing": missing}
    for path in escape:
        Path(path).unlink(missing_ok=True)


SAMPLES = samples([])


def exercises_of(lab: str) -> list[str]:
    return grade.lab_exercises(lab, ROOT / "solutions", {}).exercises


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.problem is None],
                         ids=lambda s: s.name)
def test_each_sample_gets_its_expected_outcome(graded, sample):
    rows = graded["rows"]
    lab = sample.name[:2]
    for exercise in exercises_of(lab):
        row = rows[(sample.name, exercise)]
        status, text = sample.expected.get(exercise, (sample.others, None))
        if status is not None:
            assert row["status"] == status, f"{sample.name} {exercise}: {row}"
        if text is not None:
            assert text in row["feedback"], f"{sample.name} {exercise}: {row['feedback']}"
        worth = row["max_points"]
        assert row["points"] == (worth if row["status"] == "passed" else "0"), row
        assert row["lab"] == lab


def test_the_solution_gets_full_marks_and_the_student_notebook_zero(graded):
    rows = graded["rows"]
    for lab in LABS:
        exercises = exercises_of(lab)
        assert sum(float(rows[(f"{lab}_solution", e)]["points"]) for e in exercises) == \
            sum(float(rows[(f"{lab}_solution", e)]["max_points"]) for e in exercises) > 0
        assert all(rows[(f"{lab}_student", e)]["points"] == "0" for e in exercises)


def test_problems_are_reported_after_grading_the_rest(graded):
    result = graded["result"]
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{graded['missing']}: no such file or folder" in result.stderr
    for sample in SAMPLES:
        if sample.problem is not None:
            line = next((x for x in result.stderr.splitlines() if f"{sample.name}.ipynb" in x),
                        "")
            assert sample.problem in line, f"{sample.name}: {result.stderr}"
            assert not any(key[0] == sample.name for key in graded["rows"])


def test_the_submitted_files_are_not_modified(graded):
    paths = graded["paths"]
    for name, path in paths.items():
        assert sha256(path) == graded["before"][name], f"{name} was modified"
    folder = next(iter(paths.values())).parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values()), (
        "the grader wrote into the submissions folder")


def test_a_feedback_file_per_submission_and_a_summary(graded):
    out, result = graded["out"], graded["result"]
    graded_names = {key[0] for key in graded["rows"]}
    files = {p.name for p in (out / "feedback").iterdir()}
    assert files == {f"{name}.md" for name in graded_names}
    text = (out / "feedback" / "00_crashes.md").read_text()
    total = len(exercises_of("00"))  # the sample breaks 0.1-0.4; lab 00's others stay right
    assert f"**Score: {total - 4} / {total}**" in text and "## Exercise 0.3: error" in text
    assert "exited with code 3" in text
    for name in graded_names:
        assert any(line.startswith(f"{name}.ipynb ") for line in result.stdout.splitlines())
    for lab in LABS:
        for exercise in exercises_of(lab):
            assert any(line.startswith(f"{exercise} ") and line.endswith("%")
                       for line in result.stdout.splitlines()), exercise
    assert "with a time limit per exercise and per submission" in result.stdout


def test_student_code_cannot_write_outside_its_scratch_folder(graded):
    if "read-only except the scratch folder" not in graded["result"].stdout:
        pytest.skip("the sandbox needs root on Linux; only resource limits were active")
    for path in graded["escape"]:
        assert not Path(path).exists(), f"student code wrote {path}"
    row = graded["rows"][("01_escape", "1.1")]
    assert row["status"] == "passed", row["feedback"]


def test_grading_again_with_one_job_gives_the_same_results(graded):
    """Also: --lab grades a notebook without a lab stamp."""
    tmp, rows = graded["tmp"], graded["rows"]
    names = ["01_solution", "01_killed", "01_mistake_1.1"]
    again = [graded["paths"][name] for name in names] + [graded["paths"]["01_unstamped"]]
    result = run_grader(*again, "--out", tmp / "again", "--jobs", "1", "--lab", "01", *LIMITS)
    assert result.returncode == 0, result.stdout + result.stderr
    second = read_rows(tmp / "again")
    for name in names:
        for exercise in exercises_of("01"):
            first, other = rows[(name, exercise)], second[(name, exercise)]
            assert (first["status"], first["points"], first["feedback"]) == \
                (other["status"], other["points"], other["feedback"])
    assert all(second[("01_unstamped", e)]["status"] == "passed" for e in exercises_of("01"))


def test_grading_on_a_dask_cluster_gives_the_same_results(graded):
    """--dask: each submission is graded by a cluster worker process (trusted side and sandbox
    there), with the same grades as here."""
    distributed = pytest.importorskip("distributed")
    tmp, rows = graded["tmp"], graded["rows"]
    names = ["00_solution", "00_hardcoded", "01_killed", "01_mistake_1.1"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        result = run_grader(*[graded["paths"][n] for n in names], "--out", tmp / "dask",
                            "--dask", cluster.scheduler_address, *LIMITS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "with 2 job(s)" in result.stdout  # the cluster's threads
    second = read_rows(tmp / "dask")
    for name in names:
        for exercise in exercises_of(name[:2]):
            first, other = rows[(name, exercise)], second[(name, exercise)]
            assert (first["status"], first["points"], first["feedback"]) == \
                (other["status"], other["points"], other["feedback"])


# --- fast checks, in this process ---------------------------------------------------------

def test_a_hard_coded_answer_passes_the_visible_check_but_not_the_hidden_one():
    from dqn_helpers.notebook import load_definitions

    ns = load_definitions(replace(solution("00"), HARDCODED))
    for exercise in ["0.1", "0.4"]:
        run_check(exercise, ns)
        verdict = hidden_verdict("00", exercise, ns)
        assert verdict.status == "failed" and "hidden test" in verdict.feedback, verdict


def test_import_dqn_helpers_never_imports_the_grader():
    code = ("import sys, dqn_helpers, dqn_helpers.checks; "
            "print(sorted(m for m in sys.modules if m.startswith('dqn_helpers.grading')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.strip()
    assert out == "[]", out
