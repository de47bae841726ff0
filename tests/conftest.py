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


def assert_mistake_caught(lab: str, exercise: str, source: str, expected: str) -> None:
    """Replace a solution's definition by ``source`` and assert the check names the mistake."""
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


def fill(template: str, defaults: dict, **change: str) -> str:
    """A mistake's source: ``template`` with each ``{NAME}`` replaced; ``defaults`` are right."""
    for key, value in {**defaults, **change}.items():
        template = template.replace("{" + key + "}", value)
    return template
