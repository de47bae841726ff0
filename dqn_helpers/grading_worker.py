"""The grader's worker: grades one submission's exercises in a sandbox (instructors only).

``python -m dqn_helpers.grade`` runs one worker per submission, in a scratch folder that
holds a copy of the submission, and a fresh one for the exercises still to grade when student
code kills it. Workers are forked by a server (``python -m dqn_helpers.grading_worker serve
SOLUTION...``, one per grading job) that has imported torch, gymnasium and the checks and
loaded the references (the solution notebooks' definitions) once, so a worker starts in
milliseconds, not seconds. The worker

1. enters its sandbox: as root on Linux, private mount, PID, network, IPC and UTS namespaces,
   a read-only filesystem except the scratch folder, the solutions folder hidden, then it runs
   as ``nobody``; anywhere, resource limits and the scratch folder as home and working folder;
2. loads the submission's definitions one statement at a time, with a time limit, as
   ``notebook.load_definitions`` does (imports, functions, classes and literal assignments,
   never training loops);
3. grades each exercise: the visible check, then the hidden one (``grading_hidden``), with a
   fixed seed and a time limit, and writes one JSON line per event to ``--result-fd``.

Events: ``ready`` (with the protections in force), ``statements``, ``define`` (before each
statement, so the grader knows which one killed the worker), ``loaded``, ``start`` and
``done`` (per exercise, with its status and feedback).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import ctypes
import faulthandler
import io
import json
import os
import random
import resource
import signal
import stat
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dqn_helpers.notebook import statements

NOBODY = 65534
GRADED_NAME = "__notebook__"

# Linux constants (sched.h, sys/mount.h, sys/prctl.h)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 1 << 14, 1 << 18, 1 << 21
KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
              "noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38


class GradingTimeout(BaseException):
    """An exercise ran out of time (a BaseException: ``except Exception`` cannot swallow it)."""


# --- the sandbox --------------------------------------------------------------------------

class _Linux:
    """The few system calls the sandbox needs, through ctypes (no extra dependency)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(ctypes.c_int(flags)), "unshare")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        def enc(text: str | None) -> bytes | None:
            return text.encode() if text is not None else None

        self._check(self.libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                                    enc(data)), f"mount {target}")

    def prctl(self, option: int, value: int) -> None:
        self._check(self.libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0),
                                    ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")

    def drop_capabilities(self) -> None:
        """Empty the bounding set, then the effective, permitted and inheritable sets."""
        for cap in range(64):
            if self.libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0:
                break  # past the last capability this kernel knows

        class Header(ctypes.Structure):
            _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

        class Data(ctypes.Structure):
            _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                        ("inheritable", ctypes.c_uint32)]

        self._check(self.libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()),
                    "capset")


def _wait_and_relay(pid: int) -> None:
    """Wait for ``pid``, then exit the way it did; never returns (a process in the sandbox)."""
    code = 1
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(status)
        if code < 0:  # killed by a signal: exit with 128 + signal, as a shell reports it
            code = 128 - code
        if code > 128 and os.getpid() != 1:  # pid 1 of a namespace cannot kill itself
            os.kill(os.getpid(), code - 128)  # (a handled or ignored signal falls through)
    finally:
        os._exit(code)


def _needed_paths(scratch: str) -> list[str]:
    """What the interpreter must read: its prefixes, sys.path and this package."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)),
             str(Path(__file__).resolve().parents[1])}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    real = {os.path.realpath(p) for p in paths if os.path.isdir(p)}
    return sorted(p for p in real if p != scratch and not p.startswith(scratch + os.sep))


def _others_can(path: str, bits: int) -> bool:
    try:
        return os.stat(path).st_mode & bits == bits
    except OSError:
        return False


def _blocked_ancestor(path: str) -> str | None:
    """The outermost folder above ``path`` that other users cannot enter, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        folder = str(Path(*parts[:i]))
        if not _others_can(folder, stat.S_IXOTH):
            return folder
    return None


def _expose(linux: _Linux, paths: list[str]) -> list[str]:
    """Let ``nobody`` reach ``paths`` behind a closed folder (e.g. a Python under /root).

    The closed folder is covered by an empty tmpfs (which also hides everything else in it)
    into which only the needed paths are bind-mounted back. Returns the covered folders.
    """
    groups: dict[str, list[str]] = {}
    for path in paths:
        blocked = _blocked_ancestor(path)
        if blocked:
            groups.setdefault(blocked, []).append(path)
    for folder, inside in groups.items():
        inside = [p for p in inside if not any(p != q and p.startswith(q + os.sep)
                                               for q in inside)]
        fds = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in inside}
        os.umask(0o022)
        linux.mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
        for path, fd in fds.items():
            os.makedirs(path, mode=0o755, exist_ok=True)
            linux.mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)
    return sorted(groups)


def _mount_points() -> list[tuple[str, set[str]]]:
    out = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # spaces come as \040
            out.append((point, set(fields[5].split(","))))
    return out


def _make_read_only(linux: _Linux, keep_writable: str) -> bool:
    """Remount every mount read-only except ``keep_writable``; True if / is read-only."""
    root_done = False
    for point, options in _mount_points():
        if point == keep_writable:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name, flag in KEPT_FLAGS.items():
            if name in options:
                flags |= flag
        try:
            linux.mount(None, point, None, flags)
            root_done = root_done or point == "/"
        except OSError:
            pass  # a mount hidden under another one; what is visible is covered
    return root_done


class Sandbox:
    """Set up in two steps around loading the reference: ``enter()`` then ``seal()``."""

    def __init__(self, scratch: str, hide: str | None, memory_mb: int, enabled: bool):
        self.scratch, self.hide, self.memory_mb = scratch, hide, memory_mb
        self.enabled = enabled and sys.platform.startswith("linux") and os.geteuid() == 0
        self.protections: list[str] = []
        self.linux: _Linux | None = None
        self.isolated = False

    def enter(self) -> None:
        """Namespaces and a read-only filesystem (root on Linux only); forks twice."""
        if not self.enabled:
            return
        try:
            self.linux = linux = _Linux()
            linux.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                          | CLONE_NEWUTS)
        except (OSError, AttributeError):
            return
        # The first fork's child is pid 1 of the new PID namespace: when it exits, the kernel
        # kills every process left in it. It forks again, so that the worker is an ordinary
        # process (pid 1 ignores the signals it has no handler for, SIGKILL included).
        for _ in range(2):
            pid = os.fork()
            if pid:
                _wait_and_relay(pid)
            linux.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        self.isolated = True
        self.protections.append("private mount, PID, network, IPC and UTS namespaces (no "
                                "network, no other process visible)")
        try:  # nothing below may reach the machine's own mounts: stop if this fails
            linux.mount(None, "/", None, MS_REC | MS_PRIVATE)
        except OSError:
            return
        with contextlib.suppress(OSError):
            linux.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        with contextlib.suppress(OSError):
            covered = _expose(linux, _needed_paths(self.scratch))
            if covered:
                self.protections.append(f"{', '.join(covered)} hidden (only Python's files "
                                        "in it stay visible)")
        with contextlib.suppress(OSError):
            linux.mount(self.scratch, self.scratch, None, MS_BIND)  # stays writable
            if _make_read_only(linux, self.scratch):
                self.protections.append("read-only filesystem except the scratch folder")

    def seal(self) -> None:
        """Hide the solutions, give up root, set the resource limits."""
        linux = self.linux
        if self.isolated and linux is not None:
            needed = _needed_paths(self.scratch)
            if self.hide and os.path.isdir(self.hide) and not any(
                    p == self.hide or p.startswith(self.hide + os.sep) for p in needed):
                with contextlib.suppress(OSError):
                    linux.mount("tmpfs", self.hide, "tmpfs",
                                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k")
                    self.protections.append("the solutions folder hidden")
            if all(_others_can(p, stat.S_IROTH | stat.S_IXOTH) and not _blocked_ancestor(p)
                   for p in needed):
                for folder, _, files in os.walk(self.scratch):
                    for name in [folder, *(os.path.join(folder, f) for f in files)]:
                        os.chown(name, NOBODY, NOBODY)
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
                self.protections.append(f"runs as user nobody (uid {NOBODY})")
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
            else:
                linux.drop_capabilities()
                self.protections.append("runs as root without any capability")
            linux.prctl(PR_SET_NO_NEW_PRIVS, 1)
        limits = [(resource.RLIMIT_AS, self.memory_mb * 2**20),
                  (resource.RLIMIT_FSIZE, 64 * 2**20), (resource.RLIMIT_CORE, 0)]
        for which, value in limits:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (value, value))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big file fails to write instead
        self.protections.append(f"memory limit {self.memory_mb} MB, files up to 64 MB")
        self.protections.append("the scratch copy of the submission as working folder, HOME "
                                "and TMPDIR; a minimal environment")


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


def load_reference(path: str) -> dict[str, Any]:
    """The solution notebook's definitions (trusted code), as ``load_definitions`` loads them."""
    namespace: dict[str, Any] = {"__name__": GRADED_NAME}
    for _, _, node in statements(read_cells(path)):
        try:
            exec(_compile(node), namespace)
        except Exception:
            continue
    return namespace


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


def _seed(seed: int = 0) -> None:
    random.seed(seed)
    import numpy as np
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)


# --- grading one exercise -----------------------------------------------------------------

def _outcome(exercise: str, run, timeout: float, memory_mb: int) -> tuple[str, str]:
    """Run one check; return (status, feedback)."""
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


def grade_exercise(exercise: str, namespace: dict, ref, failed_defs: dict[str, str],
                   timeout: float, memory_mb: int) -> dict[str, Any]:
    """The visible check, then the hidden one, within one time limit: status and feedback."""
    from dqn_helpers import checks
    from dqn_helpers.grading_hidden import HIDDEN

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
    _seed()
    _alarm(timeout)
    try:
        status, feedback = _outcome(exercise, lambda: checks.REGISTRY[exercise](*args),
                                    timeout, memory_mb)
        if status == "passed" and exercise in HIDDEN:
            _seed()
            hidden_status, hidden_feedback = _outcome(
                exercise, lambda: HIDDEN[exercise](ref, *args), timeout, memory_mb)
            if hidden_status != "passed":
                status = "failed" if hidden_status == "not attempted" else hidden_status
                feedback = (f"Exercise {exercise}: the notebook's check passes, but the "
                            "hidden test, on inputs the notebook does not show, does not: "
                            f"{hidden_feedback.removeprefix(f'Exercise {exercise}: ')}")
    except GradingTimeout:  # the alarm rang between two checks
        status, feedback = "timed out", f"Exercise {exercise}: stopped after {timeout:g} s."
    finally:
        _alarm(0)
    return {"status": status, "feedback": feedback[:4000]}


# --- main ---------------------------------------------------------------------------------

_REFERENCES: dict[str, dict[str, Any]] = {}  # solution path -> its definitions (the server's)


def preload(solutions: list[str]) -> None:
    """Import what grading needs and load the references once (the server, before forking)."""
    import numpy  # noqa: F401
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    import dqn_helpers.grading_hidden  # noqa: F401 (gymnasium, the checks)

    # the first optimiser built imports torch._dynamo (3-4 s): once here, not in a timed check
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    with contextlib.suppress(ImportError):
        import matplotlib.pyplot  # noqa: F401 (builds the font cache once, not per submission)
    for path in solutions:
        _REFERENCES[os.path.realpath(path)] = load_reference(path)


def main(argv: list[str] | None = None) -> int:
    """Grade one submission (run in the scratch folder); see the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.grading_worker")
    parser.add_argument("--notebook", required=True, help="the scratch copy of the submission")
    parser.add_argument("--solution", required=True, help="the lab's solution notebook")
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
    scratch = os.path.realpath(os.getcwd())
    solution = os.path.realpath(args.solution)
    sandbox = Sandbox(scratch, os.path.dirname(solution), args.memory_mb, args.sandbox == "auto")
    sandbox.enter()
    preload([] if solution in _REFERENCES else [solution])
    from dqn_helpers.grading_hidden import reference

    ref = reference(_REFERENCES[solution])
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
        result = grade_exercise(exercise, namespace, ref, failed_defs, args.timeout,
                                args.memory_mb)
        send("done", exercise=exercise, **result)
    out.flush()
    return 0


# --- the server: one per grading job, forks a fresh worker per request -----------------------

def _die_with_parent() -> None:
    """Be killed when the parent process dies (Linux), so nothing outlives the grader."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            _Linux().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(request: dict[str, Any]) -> None:
    """In a fresh fork of the server: become the worker of one request; never returns."""
    code = 70
    try:
        _die_with_parent()
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


def serve(solutions: list[str]) -> int:
    """Read requests (JSON lines) on stdin; fork a worker for each; report its pid and exit.

    Importing torch and friends takes seconds; a fork of a process that has done it takes
    milliseconds, and every worker starts from the same state.
    """
    _die_with_parent()
    here = os.path.realpath(os.getcwd())  # `python -m` put the server's folder on sys.path:
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != here]  # not for workers
    preload(solutions)
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
        sys.exit(serve(sys.argv[2:]))
    code = main()
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown: student objects may hang or crash in it
