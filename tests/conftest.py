import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def solution(name_prefix: str) -> Path:
    """The solution notebook of a lab, e.g. solution("02")."""
    (path,) = sorted((ROOT / "solutions").glob(f"{name_prefix}_*.ipynb"))
    return path


def student(name_prefix: str) -> Path:
    (path,) = sorted((ROOT / "notebooks").glob(f"{name_prefix}_*.ipynb"))
    return path


_namespaces: dict = {}


def namespace(path: Path) -> dict:
    """What a notebook defines (cached: loading runs only definitions, never training)."""
    from dqn_helpers.notebook import load_definitions

    if path not in _namespaces:
        _namespaces[path] = load_definitions(path)
    return _namespaces[path]


def run_check(exercise: str, ns: dict) -> None:
    from dqn_helpers import checks

    check = checks.REGISTRY[exercise]
    check(*[ns[name] for name in checks.names_for(exercise)])


_references: dict = {}


def reference(lab: str):
    """The grader's trusted ``Reference`` of a lab (cached): its scenarios' inputs and results."""
    from dqn_helpers.grading.trusted import Reference

    if lab not in _references:
        _references[lab] = Reference(solution(lab))
    return _references[lab]


def hidden_verdict(lab: str, exercise: str, ns: dict):
    """The grader's verdict on ``ns`` from the hidden scenario alone (the visible check skipped)."""
    from dqn_helpers.grading.trusted import grade_in_process

    return grade_in_process(exercise, ns, reference(lab), visible=False)


def assert_mistake_caught(lab: str, exercise: str, source: str, expected: str,
                          hidden: str | None = None) -> None:
    """Replace a solution's definition by ``source``; assert that the visible check names the
    mistake (``expected`` in its message) and that the hidden scenario, judged by the trusted
    side on its own, fails it naming the mistake too (``hidden``, by default ``expected``).
    ``hidden=""`` only asks the hidden scenario to fail it."""
    import textwrap

    from dqn_helpers import checks

    ns = dict(namespace(solution(lab)))
    exec(textwrap.dedent(source), ns)
    with pytest.raises(checks.CheckError) as caught:
        run_check(exercise, ns)
    assert not isinstance(caught.value, checks.NotImplementedYet)
    message = str(caught.value)
    assert message.startswith(f"Exercise {exercise}: "), message
    assert expected in message, f"expected {expected!r} in the message:\n{message}"
    verdict = hidden_verdict(lab, exercise, ns)
    assert not verdict.passed and verdict.status == "failed", verdict
    want = expected if hidden is None else hidden
    assert want in verdict.feedback, (f"expected {want!r} in the hidden test's "
                                      f"message:\n{verdict.feedback}")


def fill(template: str, defaults: dict, **change: str) -> str:
    """A mistake's source: ``template`` with each ``{NAME}`` replaced; ``defaults`` are right."""
    for key, value in {**defaults, **change}.items():
        template = template.replace("{" + key + "}", value)
    return template
