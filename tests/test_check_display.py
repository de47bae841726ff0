"""A failed check reads as one message in a notebook: no checker source, only the student's
own frames when their code raised (IPython renders ``CheckError._render_traceback_``)."""

from __future__ import annotations

import contextlib
import io

import pytest

IPython = pytest.importorskip("IPython")


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("from dqn_helpers import checks")
    yield shell
    InteractiveShell.clear_instance()  # later tests must not find a running IPython


def shown(shell, source: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        result = shell.run_cell(source)
    assert result.error_in_exec is not None, "the check should have failed"
    return out.getvalue()


def test_a_wrong_answer_shows_the_message_alone(shell):
    text = shown(shell, "def epsilon_at(step, start, end, decay_steps):\n    return start\n"
                        "checks.check_epsilon_at(epsilon_at)")
    assert "CheckError" in text and "returned 1, expected 0.525" in text
    assert "dqn_helpers" not in text and "def check_epsilon_at" not in text
    assert len(text.strip().splitlines()) == 1, text


def test_a_crash_shows_the_students_own_lines_only(shell):
    text = shown(shell, "def epsilon_at(step, start, end, decay_steps):\n    steps = [1]\n"
                        "    return steps[step]\ncheckers_call = checks.check_epsilon_at\n"
                        "checkers_call(epsilon_at)")
    assert "return steps[step]" in text and "IndexError: list index out of range" in text
    assert "dqn_helpers" not in text and "_core.py" not in text, text
    assert text.strip().splitlines()[-1].startswith(("CheckError", "\x1b[0;31mCheckError")), text


def test_a_stub_says_not_implemented_yet(shell):
    text = shown(shell, "def epsilon_at(step, start, end, decay_steps):\n"
                        "    raise NotImplementedError('Exercise 2.3: interpolate')\n"
                        "checks.check_epsilon_at(epsilon_at)")
    assert "NotImplementedYet" in text and "not implemented yet" in text
    assert len(text.strip().splitlines()) == 1, text
