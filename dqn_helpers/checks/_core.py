"""What every check shares: its errors, calling student code safely, and the registry."""

from __future__ import annotations

import inspect
import os
import re
import sys
import traceback
from typing import Any, Callable

import numpy as np

_OURS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../dqn_helpers
_LIBRARIES = tuple({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def _students(filename: str) -> bool:
    """A frame of the student's own code: not this package, not a library, not Python's."""
    real = os.path.realpath(filename) if os.path.isabs(filename) else filename
    return not (real.startswith(_OURS) or real.startswith(_LIBRARIES) or filename.startswith("<frozen"))


class CheckError(AssertionError):
    """A check found a mistake; the message names the exercise and what is wrong.

    In a notebook (IPython: JupyterLab, Colab, VS Code) it shows as its message alone, plus
    the frames of the student's own code when that code raised, never the checker's source.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for this error instead of a full traceback."""
        lines = []
        cause = self.__cause__
        if cause is not None and cause.__traceback__ is not None:
            frames = [f for f in traceback.extract_tb(cause.__traceback__)
                      if _students(f.filename)]
            if frames:
                lines.append("Your code raised this (the lines of your own code):")
                lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
                lines += [line.rstrip("\n") for line in
                          traceback.format_exception_only(type(cause), cause)]
                lines.append("")
        lines.append(f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}")
        return lines


class NotImplementedYet(CheckError, NotImplementedError):
    """The exercise still raises ``NotImplementedError``: it has not been written yet."""


# exercise id ("2.3") -> the check function. The check's parameter names are the names the
# student defines for that exercise, so the grader knows what to look for in a notebook.
REGISTRY: dict[str, Callable[..., None]] = {}


def register(exercise: str):
    """Record a check as the one for ``exercise`` (used as a decorator)."""
    def decorate(check: Callable[..., None]) -> Callable[..., None]:
        if exercise in REGISTRY:
            raise ValueError(f"two checks for exercise {exercise}")
        check.exercise = exercise
        REGISTRY[exercise] = check
        return check
    return decorate


def names_for(exercise: str) -> list[str]:
    """The names a student defines for ``exercise`` (the check's parameter names)."""
    return [p.name for p in inspect.signature(REGISTRY[exercise]).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]


def fail(exercise: str, message: str) -> None:
    raise CheckError(f"Exercise {exercise}: {message}")


def call(exercise: str, fn: Callable, *args, shown: str | None = None, **kwargs) -> Any:
    """Call the student's ``fn``; report a stub or a crash in the exercise's terms.

    ``shown`` is how the call is written in the message, e.g. ``"discounted_return([1, 2], 0.9)"``.
    """
    shown = shown or f"{getattr(fn, '__name__', 'your function')}(...)"
    if not callable(fn):
        fail(exercise, f"expected a function or class, got {type(fn).__name__} {fn!r}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        other = re.match(r"Exercise (\d+\.\d+)[a-z]?:", str(error))
        if other and other[1] != exercise:
            raise NotImplementedYet(
                f"Exercise {exercise}: {shown} needs exercise {other[1]} first, which is not "
                "implemented yet.") from None
        raise NotImplementedYet(
            f"Exercise {exercise}: not implemented yet. Replace the "
            "`raise NotImplementedError(...)` line between ### YOUR CODE HERE ### and "
            "### END ### with your code, run that cell, then this one.") from None
    except CheckError:
        raise
    except Exception as error:
        raise CheckError(f"Exercise {exercise}: {shown} raised {type(error).__name__}: "
                         f"{error}") from error


def require_gradients(exercise: str, net: Any, out: Any) -> None:
    """Backpropagate ``out.sum()`` through ``net``; fail naming the parameters it never reached."""
    out.sum().backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    if missing:
        fail(exercise, f"no gradient reached {missing}: use every layer in forward().")


def passed(exercise: str, message: str = "") -> None:
    print(f"\u2714 Exercise {exercise} passed" + (f": {message}" if message else "."))


def fmt(value: Any) -> str:
    """A short, readable rendering of a value for a message."""
    if isinstance(value, np.ndarray):
        return np.array2string(value, precision=4, separator=", ", suppress_small=True)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def as_array(exercise: str, value: Any, what: str) -> np.ndarray:
    """Turn a returned value into a float array, or fail saying what came back."""
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        fail(exercise, f"{what} should be numbers (a NumPy array), got {type(value).__name__} "
                       f"{value!r}")


# --- hidden scenarios: what the grader runs for points -------------------------------------

class Scenario:
    """The grader's test of one exercise, on inputs the notebook never shows.

    Grading has two sides. The *untrusted* worker runs student code; the *trusted* grader
    never does. A scenario is split along that line:

    - ``cases(ref)`` (trusted side) makes the inputs, from fixed seeds, as plain data: numbers,
      strings, lists, dicts and NumPy arrays. ``ref`` holds the solution's definitions (for the
      outputs of earlier exercises that this one builds on). Keys that start with ``_`` stay on
      the trusted side: they may hold anything the judge needs (never sent to student code).
    - ``run(case, *definitions)`` runs on both sides: in the worker with the student's
      definitions, in the grader with the solution's. It returns plain data (tensors become
      arrays). It must not compare anything: what it returns is all the grader sees.
    - ``judge(case, got, expected)`` (trusted side) compares the student's results with the
      solution's, and on a mistake calls ``fail`` with a message that names the cause.

    ``definitions`` are the visible check's parameters (``names_for``), in order. A scenario
    is registered with ``@scenario("2.3")``; ``points`` is what the exercise is worth.
    """

    exercise: str = ""
    points: float = 1.0

    def cases(self, ref: Any) -> list[dict]:
        raise NotImplementedError

    def run(self, case: dict, *definitions: Any) -> Any:
        raise NotImplementedError

    def judge(self, case: dict, got: Any, expected: Any) -> None:
        raise NotImplementedError


# exercise id -> its hidden scenario (an instance of a ``Scenario`` subclass)
SCENARIOS: dict[str, Scenario] = {}


def scenario(exercise: str, points: float = 1.0):
    """Register a ``Scenario`` subclass as the hidden scenario of ``exercise``."""
    def decorate(cls: type) -> type:
        if exercise in SCENARIOS:
            raise ValueError(f"two scenarios for exercise {exercise}")
        cls.exercise, cls.points = exercise, float(points)
        SCENARIOS[exercise] = cls()
        return cls
    return decorate


def public(case: dict) -> dict:
    """What of a case is sent to the worker: every key that does not start with ``_``."""
    return {k: v for k, v in case.items() if not k.startswith("_")}


class standins:
    """Swap names in the module-level namespace that ``code`` reads, for a ``with`` block.

    An exercise that builds on an earlier one is checked with the earlier piece replaced by
    a stand-in, so that one mistake costs only the exercise it is in:

        with standins(learn_step, td_target=lambda *args: targets):
            learn_step(...)

    ``code`` is a function or a class (its methods' namespace); names are restored after.
    """

    def __init__(self, code: Any, **replacements: Any):
        self.namespace = _namespace_of(code)
        self.replacements = replacements
        self.saved: dict[str, Any] = {}

    def __enter__(self) -> "standins":
        for name, value in self.replacements.items():
            self.saved[name] = self.namespace.get(name, _MISSING)
            self.namespace[name] = value
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, value in self.saved.items():
            if value is _MISSING:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value


_MISSING = object()


def _namespace_of(code: Any) -> dict:
    if inspect.isclass(code):
        for value in vars(code).values():
            if inspect.isfunction(value):
                return value.__globals__
        for base in code.__mro__[1:]:
            if base is not object:
                return _namespace_of(base)
        raise TypeError(f"class {code.__name__} has no methods to find its namespace")
    namespace = getattr(code, "__globals__", None)
    if not isinstance(namespace, dict):
        raise TypeError(f"cannot find the namespace of {code!r}")
    return namespace


def close(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-5) -> bool:
    """Same shape and values within tolerance (for judges: both sides are plain data)."""
    try:
        got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return got.shape == expected.shape and bool(np.allclose(got, expected, atol=atol, rtol=rtol,
                                                            equal_nan=True))
