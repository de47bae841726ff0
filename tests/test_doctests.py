"""Every ``>>>`` example in the package's docstrings runs, so none can go stale.

Each module ``dqn_helpers/**/*.py`` is imported and its examples run with ``doctest``, with
``ELLIPSIS`` (``...`` stands for anything: a traceback, a long list) and
``NORMALIZE_WHITESPACE``. To run one module's examples alone:
``python -m doctest -o ELLIPSIS dqn_helpers/compare.py``.
"""

import doctest
import importlib
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import ROOT

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PACKAGE = ROOT / "dqn_helpers"
FILES = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
         for path in sorted(PACKAGE.rglob("*.py"))}

# The modules students and maintainers open teach with examples; they must keep some.
WITH_EXAMPLES = ["dqn_helpers.checks", "dqn_helpers.checkpoints", "dqn_helpers.compare",
                 "dqn_helpers.envs", "dqn_helpers.evaluation", "dqn_helpers.explorer",
                 "dqn_helpers.grading.trusted", "dqn_helpers.landscape",
                 "dqn_helpers.grading.wire",
                 "dqn_helpers.metrics", "dqn_helpers.notebook", "dqn_helpers.plots",
                 "dqn_helpers.run", "dqn_helpers.tracking", "dqn_helpers.training"]


def prompts(path: Path) -> int:
    """How many examples the file's source holds: lines that start with ``>>>``."""
    return sum(1 for line in path.read_text().splitlines() if re.match(r"\s*>>>", line))


def doctests(name: str) -> list[doctest.DocTest]:
    return [t for t in doctest.DocTestFinder().find(importlib.import_module(name), name)
            if t.examples]


@pytest.fixture
def same_random_state():
    """The examples seed the global generators; the tests that run after them see no change."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(states[0])
    np.random.set_state(states[1])
    torch.set_rng_state(states[2])


@pytest.mark.parametrize("name", FILES)
def test_docstring_examples_run(name, same_random_state):
    tests = doctests(name)
    found = sum(len(t.examples) for t in tests)
    assert found == prompts(FILES[name]), (
        f"{FILES[name].relative_to(ROOT)} has {prompts(FILES[name])} lines starting with >>>, "
        f"but doctest finds {found} examples: an example outside a docstring of the module, "
        "its classes or functions (a nested function, a comment) would never run")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_teaching_modules_have_examples(name):
    assert name in FILES, f"{name} is not a module of dqn_helpers any more: update WITH_EXAMPLES"
    assert doctests(name), f"{name} lost its >>> examples"
