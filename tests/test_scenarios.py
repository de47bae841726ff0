"""Every exercise's hidden scenario: it exists, passes on the solution, reports the stub, is
deterministic, and keeps the trusted side's keys to itself."""

from __future__ import annotations

import json

import pytest

from dqn_helpers import checks
from dqn_helpers.grading.trusted import Reference, grade_in_process

from .conftest import namespace, reference, solution, student
from .submissions import LABS

EXERCISES = [(lab, e) for lab in LABS for e in sorted(checks.REGISTRY)
             if int(e.split(".")[0]) == int(lab)]


@pytest.mark.parametrize("lab, exercise", EXERCISES, ids=[e for _, e in EXERCISES])
def test_every_exercise_has_a_scenario_that_passes_on_the_solution(lab, exercise):
    assert exercise in checks.SCENARIOS, (
        f"exercise {exercise} has no hidden scenario: add one to dqn_helpers/checks/lab{lab}.py")
    verdict = grade_in_process(exercise, dict(namespace(solution(lab))), reference(lab))
    assert verdict.passed and verdict.status == "passed", verdict


@pytest.mark.parametrize("lab, exercise", EXERCISES, ids=[e for _, e in EXERCISES])
def test_the_stub_is_not_attempted(lab, exercise):
    verdict = grade_in_process(exercise, dict(namespace(student(lab))), reference(lab))
    assert verdict.status == "not attempted" and not verdict.passed, verdict
    alone = grade_in_process(exercise, dict(namespace(student(lab))), reference(lab),
                             visible=False)
    assert not alone.passed and "not implemented" in alone.feedback, alone


@pytest.mark.parametrize("lab", LABS)
def test_scenarios_are_deterministic_and_send_no_private_key(lab):
    first, again = reference(lab), Reference(solution(lab))
    assert json.dumps(first.sent, sort_keys=True) == json.dumps(again.sent, sort_keys=True)
    for exercise, sent in first.sent.items():
        assert sent, f"exercise {exercise}'s scenario has no case"
        for case in sent:
            assert not [k for k in case if k.startswith("_")], (exercise, list(case))
        for got, want in zip(again.expected[exercise], first.expected[exercise]):
            assert json.dumps(_plain(got)) == json.dumps(_plain(want)), exercise


def _plain(value):
    from dqn_helpers.grading import wire

    return wire.encode(value)
