"""The untrusted side of grading: runs one submission's code and reports raw results.

``python -m dqn_helpers.grading`` grades each submission in a worker process, in a scratch
folder holding a copy of the submission, and starts a fresh one for the exercises still to
grade when student code kills it. Workers are forked by a server (``python -m
dqn_helpers.grading.worker serve``, one per grading job) that has imported torch, gymnasium
and the checks once, so a worker starts in milliseconds. The worker

1. reads the hidden scenarios' inputs (``--cases``, plain data the trusted side wrote), then
   enters its sandbox (``sandbox.Sandbox``);
2. loads the submission's definitions one statement at a time, with a time limit, as
   ``notebook.load_definitions`` does (imports, functions, classes and literal assignments,
   never training loops);
3. per exercise: runs the visible check (its status and message, for the student's feedback)
   and, when it passed, the hidden scenario's ``run`` on each input, and writes one JSON line
   per event to ``--result-fd``.

Nothing the worker says grants a point: the trusted side compares the raw results with the
solution's, which it computes in its own process. The worker never holds the solutions, their
results, or anything else that would let it forge a comparison.

Events: ``ready`` (with the protections in force), ``statements``, ``define`` (before each
statement, so the grader knows which one killed the worker), ``loaded``, ``start``,
``results`` (the hidden scenario's results, or why there are none) and ``done`` (the visible
check's status and message).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import faulthandler
import io
import json
import os
import signal
import sys
from types import SimpleNamespace
from typing import Any

from dqn_helpers.grading.sandbox import Sandbox, die_with_parent
from dqn_helpers.notebook import statements

GRADED_NAME = "__notebook__"


class GradingTimeout(BaseException):
    """An exercise ran out of time (a BaseException: ``except Exception`` cannot swallow it)."""


# --- loading the submission ---------------------------------------------------------------

def _names(node: ast.stmt) -> list[str]:
    """The names a top-level statement defines."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def read_cells(path: str) -> list[SimpleNamespace]:
    """A notebook's cells (type and source), read as plain JSON.

    The grader has already checked the file with nbformat and written the scratch copy in
    format 4; the worker does not import nbformat, which costs seconds at every start.
    """
    with open(path, encoding="utf-8") as handle:
        cells = json.load(handle).get("cells", [])
    out = []
    for cell in cells:
        source = cell.get("source", "")
        out.append(SimpleNamespace(cell_type=cell.get("cell_type"),
                                   source="".join(source) if isinstance(source, list)
                                   else str(source)))
    return out


def _compile(node: ast.stmt):
    return compile(ast.Module(body=[node], type_ignores=[]), "<notebook>", "exec",
                   dont_inherit=True)


class _Printed(io.StringIO):
    """What a check prints: keeps its "passed" lines, and at most 20,000 other characters."""

    def __init__(self) -> None:
        super().__init__()
        self.passed: list[str] = []

    def write(self, text: str) -> int:
        if "\u2714 Exercise" in text:
            self.passed.append(text.strip())
        if self.tell() < 20_000:
            super().write(text[: 20_000 - self.tell()])
        return len(text)


def _alarm(seconds: float) -> None:
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, seconds)


def _on_alarm(signum, frame):
    raise GradingTimeout()


# --- grading one exercise -----------------------------------------------------------------

def _outcome(exercise: str, run, timeout: float, memory_mb: int) -> tuple[str, str]:
    """Run a check (or a scenario); return (status, feedback)."""
    from dqn_helpers.checks import CheckError, NotImplementedYet

    printed = _Printed()
    try:
        with contextlib.redirect_stdout(printed):
            run()
    except NotImplementedYet as error:
        status = ("not attempted" if str(error).startswith(f"Exercise {exercise}: not implemented")
                  else "failed")
        return status, str(error)
    except CheckError as error:
        if isinstance(error.__cause__, MemoryError):
            return "error", (f"Exercise {exercise}: your code ran out of memory (the limit is "
                             f"{memory_mb} MB): "
                             f"{str(error).removeprefix(f'Exercise {exercise}: ')}")
        return "failed", str(error)
    except GradingTimeout:
        return "timed out", (f"Exercise {exercise}: stopped after {timeout:g} s: your code did "
                             "not finish in time (an endless loop, or one that never reaches "
                             "its end condition?).")
    except MemoryError:
        return "error", f"Exercise {exercise}: ran out of memory (the limit is {memory_mb} MB)."
    except SystemExit as error:
        return "error", (f"Exercise {exercise}: your code called exit() or sys.exit() "
                         f"({error.code!r}); return a value instead.")
    except BaseException as error:  # noqa: B036 (student code may raise anything)
        # the check's own code failed on what the student's code returned or did
        return "error", (f"Exercise {exercise}: checking your code's result raised "
                         f"{type(error).__name__}: {error} (does it return what the exercise "
                         "asks for?)")
    lines = [line for line in printed.passed if f"Exercise {exercise} passed" in line]
    return "passed", lines[-1] if lines else f"\u2714 Exercise {exercise} passed."


def grade_exercise(exercise: str, namespace: dict, cases: dict[str, list], send,
                   failed_defs: dict[str, str], timeout: float, memory_mb: int,
                   visible: bool = True) -> dict[str, Any]:
    """The visible check, then the hidden scenario's runs (sent as a ``results`` event),
    within one time limit: the visible check's status and feedback. ``visible=False`` (tests
    of a scenario alone) skips the visible check."""
    from dqn_helpers import checks
    from dqn_helpers.grading.scenarios import run_cases, seed

    if exercise not in checks.REGISTRY:
        return {"status": "error", "feedback": f"Exercise {exercise}: the grader has no check "
                "for this exercise (instructor: add one to dqn_helpers/checks)."}
    names = checks.names_for(exercise)
    missing = [name for name in names if name not in namespace]
    if missing:
        broken = [name for name in missing if name in failed_defs]
        if broken:
            return {"status": "error", "missing": missing, "feedback": (
                f"Exercise {exercise}: defining `{broken[0]}` failed: {failed_defs[broken[0]]}")}
        shown = ", ".join(f"`{name}`" for name in missing)
        return {"status": "not attempted", "missing": missing, "feedback": (
            f"Exercise {exercise}: no definition of {shown} was found in the notebook. The "
            "grader looks for it by name, wherever its cell is: keep the name the notebook "
            "gives it.")}
    args = [namespace[name] for name in names]
    seed()
    _alarm(timeout)
    try:
        status, feedback = (_outcome(exercise, lambda: checks.REGISTRY[exercise](*args),
                                     timeout, memory_mb) if visible else ("passed", ""))
        if status == "passed" and exercise in checks.SCENARIOS:
            results: list = []

            def run() -> None:
                results.extend(run_cases(checks.SCENARIOS[exercise], cases.get(exercise, []),
                                         args))

            hidden_status, hidden_feedback = _outcome(exercise, run, timeout, memory_mb)
            _alarm(0)
            if hidden_status == "passed":
                send("results", exercise=exercise, results=results)
            else:
                send("results", exercise=exercise, status=hidden_status,
                     feedback=hidden_feedback[:4000])
    except GradingTimeout:  # the alarm rang between two checks
        status, feedback = "timed out", f"Exercise {exercise}: stopped after {timeout:g} s."
    finally:
        _alarm(0)
    return {"status": status, "feedback": feedback[:4000]}


# --- main ---------------------------------------------------------------------------------

def preload() -> None:
    """Import what grading needs once (the server, before forking): never any solution."""
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    import gymnasium  # noqa: F401

    import dqn_helpers.checks  # noqa: F401
    import dqn_helpers.grading.scenarios  # noqa: F401

    # the first optimiser built imports torch._dynamo (3-4 s): once here, not in a timed check
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    with contextlib.suppress(ImportError):
        import matplotlib.pyplot  # noqa: F401 (builds the font cache once, not per submission)


def read_cases(path: str | None) -> dict[str, list]:
    """The hidden scenarios' inputs, as the trusted side wrote them (plain data)."""
    from dqn_helpers.grading import wire

    if not path:
        return {}
    with open(path, encoding="utf-8") as handle:
        return wire.decode(json.load(handle))


def main(argv: list[str] | None = None) -> int:
    """Grade one submission (run in the scratch folder); see the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.grading.worker")
    parser.add_argument("--notebook", required=True, help="the scratch copy of the submission")
    parser.add_argument("--cases", help="the hidden scenarios' inputs (JSON, from the grader)")
    parser.add_argument("--exercises", required=True, help="comma-separated, e.g. 1.1,1.2")
    parser.add_argument("--skip", default="", help="statement numbers not to run")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per exercise")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--result-fd", type=int, default=1)
    parser.add_argument("--sandbox", choices=["auto", "off"], default="auto")
    args = parser.parse_args(argv)

    out = os.fdopen(args.result_fd, "w", buffering=1, closefd=False)

    def send(event: str, **fields) -> None:
        out.write(json.dumps({"event": event, **fields}) + "\n")
        out.flush()

    faulthandler.enable()
    cases = read_cases(args.cases)            # read before the sandbox hides its folder
    scratch = os.path.realpath(os.getcwd())
    sandbox = Sandbox(scratch, args.memory_mb, args.sandbox == "auto")
    sandbox.enter()
    preload()
    sandbox.seal()
    send("ready", protections=sandbox.protections)

    signal.signal(signal.SIGALRM, _on_alarm)
    skip = {int(i) for i in args.skip.split(",") if i}
    exercises = [e for e in args.exercises.split(",") if e]
    namespace: dict[str, Any] = {"__name__": GRADED_NAME}
    failed_defs: dict[str, str] = {}
    try:
        found = statements(read_cells(args.notebook))
    except Exception as error:  # the grader checked it is a notebook; be safe anyway
        found = []
        failed_defs = {"*": f"the notebook could not be read ({error})"}
    send("statements", items=[[i, cell, line, _names(node)]
                              for i, (cell, line, node) in enumerate(found)])
    for i, (cell, line, node) in enumerate(found):
        if i in skip:
            continue
        send("define", index=i)
        _alarm(args.timeout)
        try:
            exec(_compile(node), namespace)
        except GradingTimeout:
            for name in _names(node):
                failed_defs[name] = f"it took longer than {args.timeout:g} s (cell {cell})."
        except BaseException as error:  # noqa: B036 (as load_definitions, skip what fails)
            for name in _names(node):
                failed_defs[name] = (f"cell {cell}, line {line} raised "
                                     f"{type(error).__name__}: {error}")
        finally:
            _alarm(0)
    send("loaded")

    for exercise in exercises:
        send("start", exercise=exercise)
        result = grade_exercise(exercise, namespace, cases, send, failed_defs, args.timeout,
                                args.memory_mb)
        send("done", exercise=exercise, **result)
    out.flush()
    return 0


# --- the server: one per grading job, forks a fresh worker per request -----------------------

def _child(request: dict[str, Any]) -> None:
    """In a fresh fork of the server: become the worker of one request; never returns."""
    code = 70
    try:
        die_with_parent()
        os.setsid()  # its own process group: the grader kills the group
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile

        tempfile.tempdir = None  # TMPDIR changed
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        sys.stdin = open(os.devnull)
        events = os.open(request["events"], os.O_WRONLY)  # a FIFO the grader reads
        code = main([*request["argv"], "--result-fd", str(events)])
    except BaseException:  # noqa: B036
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # never the server's teardown, nor student objects' __del__


def serve() -> int:
    """Read requests (JSON lines) on stdin; fork a worker for each; report its pid and exit.

    Importing torch and friends takes seconds; a fork of a process that has done it takes
    milliseconds, and every worker starts from the same state.
    """
    die_with_parent()
    here = os.path.realpath(os.getcwd())  # `python -m` put the server's folder on sys.path:
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]  # not for workers
    preload()
    reply = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        reply.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        reply.write(json.dumps({"pid": pid}) + "\n")
        reply.flush()
        _, status = os.waitpid(pid, 0)
        reply.write(json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n")
        reply.flush()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        sys.exit(serve())
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: student objects may hang or crash in it
