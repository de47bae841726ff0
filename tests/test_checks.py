"""Every exercise has a check; it passes on the solution and says 'not implemented' on a stub."""

import re

import nbformat
import pytest

from dqn_helpers import build, checks

from .conftest import ROOT, namespace, run_check

LABS = sorted(p.name[:2] for p in (ROOT / "solutions").glob("*.ipynb"))


def exercises(lab):
    path = next((ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    return path, build.find_exercises(nbformat.read(path, 4), path.name, int(lab))


ALL = sorted({(lab, ex.base) for lab in LABS for ex in exercises(lab)[1]})


def test_every_registered_check_belongs_to_an_existing_exercise():
    existing = {ex for _, ex in ALL}
    labs = {int(lab) for lab in LABS}
    for exercise in checks.REGISTRY:
        if int(exercise.split(".")[0]) in labs:
            assert exercise in existing, f"check for {exercise} but no such exercise"


@pytest.mark.parametrize("lab, exercise", ALL)
def test_the_cell_after_each_exercise_calls_its_check(lab, exercise):
    path, found = exercises(lab)
    assert exercise in checks.REGISTRY, f"exercise {exercise} has no check in dqn_helpers.checks"
    name = checks.REGISTRY[exercise].__name__
    nb = nbformat.read(path, 4)
    ex = [e for e in found if e.base == exercise][-1]  # the last part of the exercise
    following = [c for c in nb.cells[ex.cell + 1:] if c.cell_type == "code"][0]
    assert re.search(rf"\bchecks\.{name}\(", following.source), (
        f"the code cell after exercise {exercise} should call checks.{name}(...)")


@pytest.mark.parametrize("lab, exercise", ALL)
def test_check_passes_on_the_solution(lab, exercise, capsys):
    run_check(exercise, namespace(next((ROOT / "solutions").glob(f"{lab}_*.ipynb"))))
    assert capsys.readouterr().out.startswith(f"\u2714 Exercise {exercise} passed")


@pytest.mark.parametrize("lab, exercise", ALL)
def test_check_reports_a_stub_as_not_implemented(lab, exercise):
    ns = namespace(next((ROOT / "notebooks").glob(f"{lab}_*.ipynb")))
    with pytest.raises(checks.NotImplementedYet, match=rf"^Exercise {re.escape(exercise)}: not implemented yet"):
        run_check(exercise, ns)


def test_a_layer_that_forward_never_uses_is_named():
    import torch

    from dqn_helpers.checks._core import require_gradients

    class Unused(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.spare = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.body(x)

    net = Unused()
    with pytest.raises(checks.CheckError, match=r"Exercise 9\.9: no gradient reached "
                                                r"\['spare\.weight', 'spare\.bias'\]"):
        require_gradients("9.9", net, net(torch.ones(4, 3)))
    net.zero_grad()
    net.spare = torch.nn.Identity()
    require_gradients("9.9", net, net(torch.ones(4, 3)))  # every parameter reached: no error
