"""The trusted side of grading: the reference results, the comparison, and the points.

Student code never runs in the process that uses this module (except ``grade_in_process``,
which tests use on known code). For each lab, ``Reference`` loads the solution notebook's
definitions, makes every hidden scenario's inputs (``Scenario.cases``) and runs the scenarios
on the solution. ``decide`` turns what a worker reported for one exercise into a status, a
feedback text and the points: a point needs the visible check to have passed in the worker
*and* the worker's raw results to match the reference here. Nothing the worker sends is
executed or unpickled (``wire.decode``), and its words never grant anything.

A student who hard-codes the answers of the notebook's check passes that check, but not the
hidden scenario (``grade_in_process`` runs both sides here, as the tests do):

>>> reference = Reference(Path(__file__).parents[2] / "solutions" / "00_mdp_basics.ipynb")
>>> answers = {((1.0, 1.0, 1.0), 0.9): 2.71, ((0.0, 0.0, 10.0), 0.5): 2.5, ((5.0,), 0.99): 5.0,
...            ((), 0.9): 0.0, ((1.0, -2.0, 3.0, 4.0), 1.0): 6.0}
>>> def discounted_return(rewards, gamma):  # the visible check's answers, looked up
...     return answers.get((tuple(rewards), gamma), 0.0)
>>> grade_in_process("0.1", {"discounted_return": discounted_return}, reference).feedback
"Exercise 0.1: the notebook's check passes, but the hidden test, ... returned 0, expected ..."
>>> def discounted_return(rewards, gamma):
...     return sum(gamma ** k * reward for k, reward in enumerate(rewards))
>>> grade_in_process("0.1", {"discounted_return": discounted_return}, reference).passed
True

Adding the hidden scenario of an exercise is one class beside its visible check, in the lab's
checks module (``checks.Scenario`` says what its three methods do; lab 00's
``DiscountedReturnScenario`` is a short one).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dqn_helpers.grading import wire
from dqn_helpers.grading.scenarios import run_cases


class ScenarioBroken(Exception):
    """A hidden scenario fails on the solution itself: the course's bug, not the student's."""


@dataclass
class Verdict:
    status: str
    feedback: str
    passed: bool


class Reference:
    """One lab's solution and, per exercise, the hidden scenario's inputs and results."""

    def __init__(self, solution: Path):
        from dqn_helpers import checks
        from dqn_helpers.notebook import load_definitions

        self.solution = Path(solution)
        self.lab = int(self.solution.name[:2])
        self.namespace = load_definitions(self.solution)
        self.ref = SimpleNamespace(**{k: v for k, v in self.namespace.items()
                                      if not k.startswith("__")})
        self.cases: dict[str, list[dict]] = {}        # with the trusted-only keys
        self.sent: dict[str, list[Any]] = {}          # what the worker gets (wire-encoded)
        self.expected: dict[str, list[Any]] = {}      # the solution's results (decoded)
        # As the worker computes the student's results (worker.preload): one torch thread and
        # torch's default of keeping subnormal floats. A convolution's sums are split differently
        # over 1 or 2 threads and, on some CPUs (an AMD EPYC here), round differently: the
        # reference must not depend on the caller's settings.
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        torch.set_flush_denormal(False)
        try:
            self._run_scenarios(checks)
        finally:
            torch.set_num_threads(threads)

    def _run_scenarios(self, checks) -> None:
        for exercise, sc in checks.SCENARIOS.items():
            if int(exercise.split(".")[0]) != self.lab:
                continue
            try:
                cases = sc.cases(self.ref)
                self.sent[exercise] = [wire.encode(checks.public(c)) for c in cases]
                received = [wire.decode(c) for c in self.sent[exercise]]
                names = checks.names_for(exercise)
                results = run_cases(sc, received, [self.namespace[n] for n in names])
                self.expected[exercise] = [wire.decode(r) for r in results]
            except Exception as error:
                raise ScenarioBroken(f"the hidden scenario of exercise {exercise} fails on "
                                     f"{self.solution.name}: {type(error).__name__}: "
                                     f"{error}") from error
            self.cases[exercise] = cases

    def write_cases(self, path: Path) -> Path:
        """The inputs the worker reads (plain data only: no reference result is in it)."""
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(self.sent), encoding="utf-8")
        os.replace(tmp, path)
        return path


def _hidden_says(exercise: str, text: str) -> str:
    return (f"Exercise {exercise}: the notebook's check passes, but the hidden test, on inputs "
            f"the notebook does not show, does not: "
            f"{text.removeprefix(f'Exercise {exercise}: ')}")


def decide(exercise: str, reference: Reference, visible: tuple[str, str],
           hidden: dict | None) -> Verdict:
    """The verdict on one exercise, from the worker's report (untrusted) and the reference.

    ``visible`` is the (status, feedback) the worker reported for the notebook's check;
    ``hidden`` its ``results`` event (or None). Points need both the visible check and the
    comparison here to pass; the worker can only ever lose points by what it says.
    """
    from dqn_helpers import checks

    status, feedback = visible
    if status != "passed":
        return Verdict(status, feedback, False)
    if exercise not in reference.expected:
        return Verdict("error", f"Exercise {exercise}: the grader has no hidden scenario for "
                       "this exercise (instructor: add one to its lab's checks module).", False)
    if not isinstance(hidden, dict):
        return Verdict("error", f"Exercise {exercise}: the grading process did not report the "
                       "hidden test's results.", False)
    if "results" not in hidden:
        worker_status = hidden.get("status")
        worker_status = worker_status if worker_status in (
            "failed", "error", "timed out") else "failed"
        return Verdict(worker_status, _hidden_says(exercise, str(hidden.get("feedback", ""))),
                       False)
    results = hidden["results"]
    expected = reference.expected[exercise]
    if not isinstance(results, list) or len(results) != len(expected):
        return Verdict("failed", f"Exercise {exercise}: the hidden test's results are "
                       "incomplete.", False)
    sc = checks.SCENARIOS[exercise]
    for case, got, want in zip(reference.cases[exercise], results, expected):
        try:
            got = wire.decode(got)
        except (ValueError, TypeError, RecursionError) as error:
            return Verdict("failed", _hidden_says(exercise, f"your code returned something "
                           f"the grader cannot read ({error})."), False)
        try:
            sc.judge(case, got, want)
        except checks.CheckError as error:
            return Verdict("failed", _hidden_says(exercise, str(error)), False)
        except Exception as error:  # the results have a form the judge did not expect
            return Verdict("failed", _hidden_says(
                exercise, f"your code's results have an unexpected form ({type(error).__name__}"
                f": {error}); does it return what the exercise asks for?"), False)
    return Verdict("passed", f"\u2714 Exercise {exercise} passed: the notebook's check and the "
                   "hidden test.", True)


def grade_in_process(exercise: str, namespace: dict, reference: Reference,
                     timeout: float = 20.0, visible: bool = True) -> Verdict:
    """Grade one exercise of ``namespace`` here, without a worker (tests only: the code in
    ``namespace`` runs in this process, so use it on known code, never on a submission).
    ``visible=False`` judges the hidden scenario alone, as if the visible check had passed."""
    import signal

    from dqn_helpers.grading import worker

    events: list[tuple[str, dict]] = []
    previous = signal.signal(signal.SIGALRM, worker._on_alarm)
    try:
        visible = worker.grade_exercise(exercise, namespace, {exercise: [
            wire.decode(c) for c in reference.sent.get(exercise, [])]},
            lambda event, **fields: events.append((event, fields)), {}, timeout, 4096,
            visible)
    finally:
        signal.signal(signal.SIGALRM, previous)
    hidden = next((f for e, f in events if e == "results" and f.get("exercise") == exercise),
                  None)
    if hidden is not None:
        hidden = json.loads(json.dumps(hidden))  # what crossing the pipe would do
    return decide(exercise, reference, (visible["status"], visible["feedback"]), hidden)
