"""What every check shares: its errors, calling student code safely, and the registry."""

from __future__ import annotations

import inspect
import re
from typing import Any, Callable

import numpy as np


class CheckError(AssertionError):
    """A check found a mistake; the message names the exercise and what is wrong."""


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
