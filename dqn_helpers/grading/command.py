"""Grade a class's notebooks, per exercise: ``python -m dqn_helpers.grading SUBMISSIONS --out DIR``.

SUBMISSIONS are notebooks or folders of them (searched recursively). Each notebook's lab is
read from its stamp (the build writes it in the notebook's metadata), or given with ``--lab``.
Every exercise is graded by what the student defined, wherever its cell is: the check the
student saw in the notebook, then a hidden scenario on inputs the notebook never shows (each
lab's checks module holds both). Both must pass for the exercise's points. Training cells
never run: only imports, functions, classes and literal assignments are loaded.

Writes ``DIR/grades.csv`` (one row per submission and exercise: submission, lab, exercise,
points, max_points, status, feedback; status is one of passed, failed, not attempted, error,
timed out) and ``DIR/feedback/<submission>.md`` for each student, and prints a summary.

Student code is untrusted. Each submission is copied to a scratch folder and run there by a
separate process (``grading.worker``), sandboxed as far as the machine allows, with a time
limit per exercise and per submission and a memory limit. A crash, an endless loop or running
out of memory costs the exercise it hits; a fresh process grades the rest. That process only
reports raw results; this one (``grading.trusted``) computes the solution's results itself,
compares, and alone decides the points. The submitted files are only read.

``--jobs N`` grades N submissions at once, each by a thread of this process that drives its
own sandboxed worker (joblib's threading backend). ``--dask ADDRESS`` grades them on a Dask
cluster instead: each submission goes to a cluster worker process, which runs this same
trusted side (it rebuilds each lab's reference from the solution notebook's text) and its own
sandboxed workers; the cluster's machines must be trusted ones, graded as root for the sandbox.

The exit status is 0 whatever the students scored, and 2 when the grader itself could not do
something (a path that does not exist, a file that is not a notebook, an unknown lab), after
grading everything else.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat

STATUSES = ["passed", "failed", "not attempted", "error", "timed out"]
COLUMNS = ["submission", "lab", "exercise", "points", "max_points", "status", "feedback"]
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the checkout: dqn_helpers/ is in it


@dataclass
class Config:
    solutions: Path
    timeout_exercise: float = 20.0
    timeout_submission: float = 180.0
    timeout_startup: float = 120.0
    memory_mb: int = 4096
    sandbox: str = "auto"
    python: str = sys.executable
    cases: dict[str, Path] = field(default_factory=dict)  # lab -> the scenarios' inputs file
    references: dict[str, Any] = field(default_factory=dict)  # lab -> trusted.Reference
    max_events_mb: int = 64       # what one worker may send before it is stopped

    @property
    def grace(self) -> float:
        """How long past its own alarm a worker may stay silent before it is killed."""
        return 2.0 + self.timeout_exercise / 4


@dataclass
class Lab:
    lab: str                      # "01"
    solution: Path
    exercises: list[str]          # "1.1", "1.2", ...
    what: dict[str, str]          # exercise -> what the student writes


@dataclass
class Submission:
    path: Path                    # the submitted file (only ever read)
    name: str                     # as shown in grades.csv: relative to the common folder
    lab: Lab
    notebook: dict                # the notebook, read by nbformat (format 4)


@dataclass
class Row:
    exercise: str
    status: str
    feedback: str
    points: float
    max_points: float


@dataclass
class Graded:
    submission: Submission
    rows: list[Row]
    protections: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problem: str | None = None    # the grader itself failed on it (e.g. a worker cannot start)


class Problem(Exception):
    """Something the grader itself cannot do (reported, then the exit status is 2)."""


# --- finding submissions and labs -------------------------------------------------------

def _exercise_key(exercise: str) -> tuple:
    lab, k = exercise.split(".")
    return int(lab), int("".join(c for c in k if c.isdigit()) or 0), k


def lab_exercises(lab: str, solutions: Path, cache: dict[str, Lab]) -> Lab:
    """The lab's exercises and what each asks for (a ``Lab``), from its solution notebook in
    ``solutions`` and the checks' registry; read once per lab, then taken from ``cache``."""
    if lab in cache:
        return cache[lab]
    from dqn_helpers import build, checks

    paths = sorted(solutions.glob(f"{lab}_*.ipynb"))
    if not paths:
        raise Problem(f"unknown lab {lab}: there is no solutions/{lab}_*.ipynb in {solutions} "
                      f"(pass the course's solutions folder with --solutions)")
    what: dict[str, str] = {}
    try:
        nb = nbformat.read(paths[0], as_version=4)
        regions = build.find_exercises(nb, paths[0].name, int(lab))
    except Exception as error:
        raise Problem(f"the solution {paths[0]} cannot be read: {error}") from error
    for region in regions:
        base = getattr(region, "base", region.id)  # "2.2" for the parts 2.2a, 2.2b, ...
        what[base] = f"{what[base]}; {region.what}" if base in what else region.what
    registered = [e for e in checks.REGISTRY if int(e.split(".")[0]) == int(lab)]
    exercises = sorted(set(what) | set(registered), key=_exercise_key)
    if not exercises:
        raise Problem(f"unknown lab {lab}: {paths[0].name} has no exercises")
    cache[lab] = Lab(lab, paths[0], exercises, what)
    return cache[lab]


def _lab_of(nb, given: str | None) -> str | None:
    if given is not None:
        return given
    stamp = nb.get("metadata", {}).get("dqn_labs", {})
    lab = stamp.get("lab") if isinstance(stamp, dict) else None
    return f"{int(lab):02d}" if isinstance(lab, (str, int)) and str(lab).isdigit() else None


def collect(paths: list[Path], lab: str | None, solutions: Path,
            problems: list[str]) -> list[Submission]:
    """Every notebook named or found in a folder, with its lab; problems are recorded."""
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            problems.append(f"{path}: no such file or folder")
        elif path.is_dir():
            found = [p for p in sorted(path.rglob("*.ipynb"))
                     if ".ipynb_checkpoints" not in p.parts and p.is_file()]
            if not found:
                problems.append(f"{path}: a folder with no notebook (*.ipynb) in it")
            files.extend(found)
        else:
            files.append(path)
    files = sorted({p.resolve() for p in files})
    if not files:
        return []
    common = Path(os.path.commonpath([p.parent for p in files]))
    labs: dict[str, Lab] = {}
    out = []
    for path in files:
        try:
            with open(path, "rb") as handle:  # read-only, once
                data = handle.read()
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("it has no cells")
        except Exception as error:
            problems.append(f"{path}: not a notebook, so not graded ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''})")
            continue
        number = _lab_of(nb, lab)
        if number is None:
            problems.append(f"{path}: cannot tell which lab it is (no dqn_labs stamp in its "
                            "metadata); pass --lab NN")
            continue
        try:
            out.append(Submission(path, str(path.relative_to(common)),
                                  lab_exercises(number, solutions, labs), nb))
        except Problem as problem:
            problems.append(f"{path}: {problem}")
    return out


# --- running the workers ------------------------------------------------------------------

def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (os.kill, a crash, or running out of memory)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {code} (os._exit or sys.exit?)"


def _environment(home: Path) -> dict[str, str]:
    """The whole environment of grading processes: nothing of the instructor's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "TMPDIR": str(home / "tmp"), "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONPATH": str(PACKAGE_ROOT), "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(home / ".matplotlib"),
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "SDL_VIDEODRIVER": "dummy", "PYGAME_HIDE_SUPPORT_PROMPT": "1"}


class _Server:
    """A warm ``grading.worker serve`` process: it has imported torch, gymnasium and the checks
    once (never a solution), and forks a fresh worker per request. It never runs student
    code itself; the grader restarts it if it dies."""

    def __init__(self, cfg: Config, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        self.log_path = home / "server.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [cfg.python, "-m", "dqn_helpers.grading.worker", "serve"], cwd=home, env=_environment(home),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True)
        self.fd = self.proc.stdout.fileno()
        self.buffer = b""
        self.dead = False

    def send(self, request: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            self.dead = True

    def replies(self) -> list[dict]:
        """The replies that have arrived (call when its fd is readable)."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.dead = True
            return []
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class _Servers:
    """One server per job, handed to one submission at a time."""

    def __init__(self, cfg: Config, home: Path, count: int):
        self.cfg, self.home = cfg, home
        self.idle: queue.Queue[_Server] = queue.Queue()
        self.all: list[_Server] = []
        for _ in range(count):
            self.idle.put(self._new())

    def _new(self) -> _Server:
        server = _Server(self.cfg, self.home / f"server{len(self.all)}")
        self.all.append(server)
        return server

    @contextlib.contextmanager
    def server(self):
        server = self.idle.get()
        try:
            yield server
        finally:
            if server.dead:
                server.close()
                server = self._new()
            self.idle.put(server)

    def close(self) -> None:
        for server in self.all:
            server.close()


class _Worker:
    """One worker (forked by a server) and the events it reports, read with a deadline."""

    def __init__(self, server: _Server, sub: Submission, cfg: Config, scratch: Path,
                 exercises: list[str], skip: set[int], number: int):
        self.server, self.pid, self.code = server, None, None
        self.fifo = scratch / f"events{number}"
        os.mkfifo(self.fifo, 0o600)
        self.fd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)  # no EOF before it opens
        self.buffer = b""
        self.received, self.limit = 0, cfg.max_events_mb * 2**20
        self.flooded = False
        argv = ["--notebook", str(scratch / "submission.ipynb"),
                "--cases", str(cfg.cases[sub.lab.lab]), "--exercises", ",".join(exercises),
                "--skip", ",".join(map(str, sorted(skip))), "--timeout", str(cfg.timeout_exercise),
                "--memory-mb", str(cfg.memory_mb), "--sandbox", cfg.sandbox]
        server.send({"cwd": str(scratch), "env": _environment(scratch), "argv": argv,
                     "log": str(scratch / "worker.log"), "events": str(self.fifo)})

    def _read_events(self) -> list[dict]:
        out = []
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.received += len(chunk)
            if self.received > self.limit:
                self.flooded = True
                self.buffer = b""
                return out
            self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):  # untrusted bytes: skip what is not JSON
                continue
            if isinstance(event, dict):
                out.append(event)
        return out

    def _server_replies(self) -> None:
        for reply in self.server.replies():
            if "pid" in reply:
                self.pid = int(reply["pid"])
            elif "exit" in reply:
                self.code = int(reply["exit"])
                self.exited = True

    def events(self, deadline: float, cfg: Config):
        """Yield events until the worker ends; then ``self.ended`` says how."""
        self.ended, self.exited = "exited", False
        last, limit = time.monotonic(), cfg.timeout_startup
        while not self.exited and not self.server.dead:
            if self.flooded:
                self.ended = "flooded"
                return
            wait = min(last + limit, deadline) - time.monotonic()
            if wait <= 0:
                self.ended = "deadline" if deadline <= last + limit else "hung"
                return
            ready, _, _ = select.select([self.fd, self.server.fd], [], [], wait)
            if self.server.fd in ready:
                self._server_replies()
            if self.fd in ready or self.exited:
                for event in self._read_events():
                    last, limit = time.monotonic(), cfg.timeout_exercise + cfg.grace
                    yield event

    def stop(self) -> int | None:
        """Make sure the worker and whatever it started are gone; its exit code."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        until = time.monotonic() + 30
        while not self.exited and not self.server.dead and time.monotonic() < until:
            if select.select([self.server.fd], [], [], until - time.monotonic())[0]:
                self._server_replies()
        if not self.exited:
            self.server.dead = True  # it lost track of its worker: a fresh server next time
        os.close(self.fd)
        os.close(self.keep)
        self.fifo.unlink()
        return self.code


def _log_tail(paths: list[Path], lines: int = 8) -> str:
    """The end of the first of these logs that says something."""
    for path in paths:
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").strip()
            if text:
                return "\n".join(text.splitlines()[-lines:])
    return ""


@dataclass
class _Progress:
    """What the workers of one submission reported so far."""
    pending: list[str]
    results: dict[str, tuple[str, str]] = field(default_factory=dict)   # exercise -> status, text
    missing: dict[str, list[str]] = field(default_factory=dict)         # names not defined
    statements: dict[int, tuple[int, int, list[str]]] = field(default_factory=dict)
    protections: list[str] | None = None  # set when a worker is ready
    define: int | None = None             # the statement being defined, if any
    current: str | None = None            # the exercise being checked, if any

    hidden: dict[str, dict] = field(default_factory=dict)               # results events

    def follow(self, worker: _Worker, deadline: float, cfg: Config, lab: str) -> None:
        """Record one worker's events until it ends. Events are untrusted: a malformed one
        is ignored, and none of them grants a point (``trusted.decide`` does)."""
        self.protections, self.define, self.current = None, None, None
        for event in worker.events(deadline, cfg):
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                self._record(event, cfg, lab)

    def _record(self, event: dict, cfg: Config, lab: str) -> None:
        from dqn_helpers.grading.trusted import decide

        kind = event.get("event")
        if kind == "ready":
            self.protections = [str(p) for p in event.get("protections", [])][:20]
        elif kind == "statements":
            self.statements = {int(i): (int(cell), int(line), [str(n) for n in names])
                               for i, cell, line, names in event.get("items", [])}
        elif kind == "define":
            self.define = int(event.get("index", -1))
        elif kind == "loaded":
            self.define = None
        elif kind == "start":
            self.current = str(event.get("exercise"))
        elif kind == "results" and event.get("exercise") in self.pending:
            self.hidden[event["exercise"]] = event
        elif kind == "done" and event.get("exercise") in self.pending:
            exercise = event["exercise"]
            status = event.get("status") if event.get("status") in STATUSES else "error"
            verdict = decide(exercise, cfg.references[lab],
                             (status, str(event.get("feedback", ""))[:4000]),
                             self.hidden.get(exercise))
            self.results[exercise] = (verdict.status, verdict.feedback)
            self.missing[exercise] = [str(n) for n in event.get("missing", [])]
            self.pending.remove(exercise)
            self.current = None


def grade_submission(sub: Submission, cfg: Config, servers: _Servers) -> Graded:
    """Grade every exercise of one submission, with a fresh worker after each crash.

    When a worker dies or hangs, the exercise it was checking is recorded as an error (or
    timed out) and a new worker grades the rest; when it died while defining something, that
    statement is skipped next time and the exercises needing its names say why.
    """
    from dqn_helpers.checks import SCENARIOS

    started = time.monotonic()
    deadline = started + cfg.timeout_submission
    progress = _Progress(list(sub.lab.exercises))
    skip: set[int] = set()
    broken: dict[str, tuple[str, str]] = {}  # name -> (status, why) of a fatal definition
    protections: list[str] = []
    problem = None
    with tempfile.TemporaryDirectory(prefix="dqn-grade-") as tmp:
        scratch = Path(tmp)
        # the worker reads plain JSON in format 4 (nbformat converts older formats)
        (scratch / "submission.ipynb").write_text(json.dumps(sub.notebook), encoding="utf-8")
        (scratch / "tmp").mkdir()
        attempt = 0
        while progress.pending and time.monotonic() < deadline:
            attempt += 1
            with servers.server() as server:
                worker = _Worker(server, sub, cfg, scratch, progress.pending, skip, attempt)
                progress.follow(worker, deadline, cfg, sub.lab.lab)
                code = worker.stop()
                tail = _log_tail([scratch / "worker.log", server.log_path])
            protections = progress.protections or protections
            if not progress.pending or worker.ended == "deadline":
                break
            if worker.ended == "flooded":
                status, why = "error", (f"sent the grader more than {cfg.max_events_mb} MB "
                                        "(printing to a file descriptor it inherited?)")
            elif worker.ended == "hung":
                status, why = "timed out", (f"stopped responding for more than "
                                            f"{cfg.timeout_exercise + cfg.grace:g} s")
            else:
                status, why = "error", f"the Python process grading it {_describe_exit(code)}"
            if progress.protections is None:  # not even ready: the grader is broken
                problem = f"{sub.path}: the grading process could not start ({why}):\n{tail}"
                for exercise in progress.pending:
                    progress.results[exercise] = (
                        "error", f"Exercise {exercise}: the grader could not start ({why}).")
                progress.pending = []
            elif progress.define is not None and progress.define not in skip:
                skip.add(progress.define)
                cell, line, names = progress.statements.get(progress.define, (0, 0, []))
                for name in names:
                    broken[name] = (status, f"{why} while defining it (cell {cell}, line "
                                            f"{line}), so the grader skipped it.")
            else:
                exercise = (progress.current if progress.current in progress.pending
                            else progress.pending[0])
                progress.results[exercise] = (
                    status, f"Exercise {exercise}: {why} while checking this exercise. The "
                            "other exercises were graded in a fresh process.")
                progress.pending.remove(exercise)
    for exercise in progress.pending:  # the submission's time ran out
        when = ("while checking this exercise" if exercise == progress.current
                else "before this exercise was checked")
        progress.results[exercise] = (
            "timed out", f"Exercise {exercise}: the submission's time limit "
                         f"({cfg.timeout_submission:g} s) ran out {when}.")
    rows = []
    for exercise in sub.lab.exercises:
        status, feedback = progress.results[exercise]
        lost = [n for n in progress.missing.get(exercise, []) if n in broken]
        if status == "not attempted" and lost:
            status, why = broken[lost[0]]
            feedback = f"Exercise {exercise}: `{lost[0]}` was not graded: {why}"
        worth = SCENARIOS[exercise].points if exercise in SCENARIOS else 1.0
        rows.append(Row(exercise, status, feedback, worth if status == "passed" else 0.0, worth))
    return Graded(sub, rows, protections, time.monotonic() - started, problem)


def grade_all(submissions: list[Submission], cfg: Config, servers: _Servers,
              jobs: int) -> list[Graded]:
    """Grade the submissions here, ``jobs`` at a time (threads: each waits on its worker)."""
    from dqn_helpers.parallel import run_all

    return [g for _, g in run_all(grade_submission, [(s, cfg, servers) for s in submissions],
                                  [str(s.path) for s in submissions], n_jobs=jobs,
                                  torch_threads=None, backend="threading")]


# In a Dask worker process: per grader run, its Config, its servers and its scratch folder.
_HERE: dict[str, tuple[Config, _Servers, Path]] = {}
_HERE_LOCK = threading.Lock()


def _close_here(run: str) -> None:
    """Stop this process's servers of grader run ``run`` and remove its folder."""
    with _HERE_LOCK:
        state = _HERE.pop(run, None)
    if state is not None:
        state[1].close()
        shutil.rmtree(state[2], ignore_errors=True)


def _grade_here(sub: Submission, cfg: Config, solution: tuple[str, str], run: str) -> Graded:
    """``grade_submission`` in a cluster's worker process, a trusted machine: the lab's
    reference is rebuilt here from the solution's text (``solution``: its file name and text),
    and this process starts its own sandboxed servers, one per thread, on its first submission
    of grader run ``run``."""
    from dqn_helpers.grading.trusted import Reference

    with _HERE_LOCK:
        if run not in _HERE:
            home = Path(tempfile.mkdtemp(prefix="dqn-grade-cluster-"))
            here = replace(cfg, python=sys.executable, references={}, cases={})
            try:
                from distributed import get_worker

                threads = get_worker().state.nthreads
            except (ImportError, ValueError, AttributeError):
                threads = 1
            _HERE[run] = (here, _Servers(here, home, max(1, threads)), home)
            atexit.register(_close_here, run)
        here, servers, home = _HERE[run]
        lab = sub.lab.lab
        if lab not in here.references:
            path = home / "solutions" / solution[0]
            path.parent.mkdir(exist_ok=True)
            path.write_text(solution[1], encoding="utf-8")
            here.references[lab] = Reference(path)
            here.cases[lab] = here.references[lab].write_cases(home / f"cases-{lab}.json")
    return grade_submission(sub, here, servers)


def grade_on_cluster(submissions: list[Submission], cfg: Config, address: str
                     ) -> tuple[list[Graded], int]:
    """Grade the submissions on the Dask cluster whose scheduler is at ``address``; returns
    the grades and the cluster's threads (the submissions graded at once)."""
    import joblib
    from distributed import Client

    from dqn_helpers.parallel import run_all

    solutions = {s.lab.lab: (s.lab.solution.name, s.lab.solution.read_text(encoding="utf-8"))
                 for s in submissions}
    run = uuid.uuid4().hex
    plain = replace(cfg, references={}, cases={})  # the workers make their own
    with Client(address) as client, joblib.parallel_config(backend="dask"):
        try:
            graded = [g for _, g in run_all(
                _grade_here, [(s, plain, solutions[s.lab.lab], run) for s in submissions],
                [str(s.path) for s in submissions], torch_threads=None)]
        finally:
            client.run(_close_here, run)
        return graded, sum(client.nthreads().values())


# --- reports -----------------------------------------------------------------------------

def _num(x: float) -> str:
    return f"{x:g}"


def write_csv(path: Path, graded: list[Graded]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for g in graded:
            for row in g.rows:
                writer.writerow([g.submission.name, g.submission.lab.lab, row.exercise,
                                 _num(row.points), _num(row.max_points), row.status,
                                 row.feedback])


def feedback_name(name: str) -> str:
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    return stem.replace("/", "__").replace("\\", "__") + ".md"


def feedback_markdown(g: Graded) -> str:
    total = sum(r.points for r in g.rows)
    most = sum(r.max_points for r in g.rows)
    lines = [f"# Feedback on `{g.submission.name}` (lab {g.submission.lab.lab})", "",
             f"**Score: {_num(total)} / {_num(most)}**", "",
             "Each exercise is graded by the name you defined, wherever its cell is: first the "
             "check you saw in the notebook, then a hidden test on other inputs. Both must pass "
             "for the points.", "",
             "| exercise | points | status |", "|---|---|---|"]
    lines += [f"| {r.exercise} | {_num(r.points)} / {_num(r.max_points)} | {r.status} |"
              for r in g.rows]
    for r in g.rows:
        what = g.submission.lab.what.get(r.exercise)
        lines += ["", f"## Exercise {r.exercise}: {r.status}", ""]
        if what:
            lines += [f"What to write: `{what}`", ""]
        lines += ["```text", r.feedback.replace("```", "'''"), "```"]
    return "\n".join(lines) + "\n"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def summary(graded: list[Graded], seconds: float, jobs: int) -> str:
    """Per submission its points and statuses; per exercise its pass rate; the sandbox."""
    out = [f"Graded {len(graded)} submission(s) in {seconds:.1f} s with {jobs} job(s)."]
    if not graded:
        return out[0]
    rows = [["submission", "lab", "points", "seconds", *STATUSES]]
    for g in graded:
        score = f"{_num(sum(r.points for r in g.rows))}/{_num(sum(r.max_points for r in g.rows))}"
        rows.append([g.submission.name, g.submission.lab.lab, score, f"{g.seconds:.1f}",
                     *(str(sum(r.status == s for r in g.rows)) for s in STATUSES)])
    out += ["", *_table(rows), ""]
    rows = [["exercise", "graded", "passed", "pass rate"]]
    for exercise in sorted({r.exercise for g in graded for r in g.rows}, key=_exercise_key):
        results = [r for g in graded for r in g.rows if r.exercise == exercise]
        passed = sum(r.status == "passed" for r in results)
        rows.append([exercise, str(len(results)), str(passed),
                     f"{100 * passed / len(results):.0f}%"])
    out += _table(rows)
    from dqn_helpers.checks import SCENARIOS

    unhidden = [e for e in sorted({r.exercise for g in graded for r in g.rows}, key=_exercise_key)
                if e not in SCENARIOS]
    if unhidden:
        out += ["", f"No hidden scenario for {', '.join(unhidden)}: they scored 0 (add one to "
                    "the lab's module in dqn_helpers/checks)."]
    common = set.intersection(*(set(g.protections) for g in graded))
    shown = [p for p in graded[0].protections if p in common]
    out += ["", "Student code ran in a separate process per submission, with a time limit per "
                "exercise and per submission" + (", and: " + "; ".join(shown) if shown else "")
            + "."]
    return "\n".join(out)


def _references(submissions: list[Submission], cfg: Config, home: Path,
                problems: list[str]) -> list[Submission]:
    """Load each lab's reference here, in the trusted process, and write the inputs file its
    workers read; the submissions of a lab whose reference fails are not graded."""
    from dqn_helpers.grading.trusted import Reference, ScenarioBroken

    for lab in sorted({s.lab.lab for s in submissions}):
        solution = next(s.lab.solution for s in submissions if s.lab.lab == lab)
        try:
            cfg.references[lab] = Reference(solution)
            cfg.cases[lab] = cfg.references[lab].write_cases(home / f"cases-{lab}.json")
        except ScenarioBroken as error:
            problems.append(f"lab {lab}: {error}")
    kept = [s for s in submissions if s.lab.lab in cfg.references]
    problems += [f"{s.path}: not graded: lab {s.lab.lab}'s hidden scenarios fail on its "
                 "solution" for s in submissions if s.lab.lab not in cfg.references]
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", nargs="+", type=Path,
                        help="notebooks, or folders searched for *.ipynb")
    parser.add_argument("--out", type=Path, required=True,
                        help="where to write grades.csv and feedback/")
    parser.add_argument("--lab", help="the lab, e.g. 01 (default: each notebook's stamp)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="grade on the Dask cluster whose scheduler is at ADDRESS "
                             "(tcp://host:8786): trusted machines, as root (README)")
    default_solutions = (Path("solutions") if Path("solutions").is_dir()
                         else PACKAGE_ROOT / "solutions")
    parser.add_argument("--solutions", type=Path, default=default_solutions,
                        help="the course's solution notebooks (default: ./solutions)")
    parser.add_argument("--timeout-exercise", type=float, default=20.0, metavar="SECONDS",
                        help="time limit of one exercise (default: 20)")
    parser.add_argument("--timeout-submission", type=float, default=180.0, metavar="SECONDS",
                        help="time limit of one submission, all exercises (default: 180)")
    parser.add_argument("--memory-mb", type=int, default=4096,
                        help="address space limit of student code (default: 4096)")
    parser.add_argument("--sandbox", choices=["auto", "off"], default="auto",
                        help="auto: the strongest isolation the machine allows (default)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    problems: list[str] = []
    lab = None
    if args.lab is not None:
        if not args.lab.isdigit():
            parser.error(f"--lab {args.lab}: a lab number such as 01")
        lab = f"{int(args.lab):02d}"
    submissions = collect(args.submissions, lab, args.solutions.resolve(), problems)
    graded: list[Graded] = []
    jobs = max(1, args.jobs)
    if submissions:
        cfg = Config(args.solutions.resolve(), args.timeout_exercise, args.timeout_submission,
                     memory_mb=args.memory_mb, sandbox=args.sandbox)
        jobs = max(1, min(args.jobs, len(submissions)))
        with tempfile.TemporaryDirectory(prefix="dqn-grade-servers-") as home:
            # here too on a cluster: a lab whose scenarios fail on its solution is not sent
            servers = _Servers(cfg, Path(home), 0 if args.dask else jobs)  # start while the
            try:                                                          # references load
                submissions = _references(submissions, cfg, Path(home), problems)
                if args.dask:
                    graded, jobs = grade_on_cluster(submissions, cfg, args.dask)
                else:
                    graded = grade_all(submissions, cfg, servers, jobs)
            finally:
                servers.close()
    graded.sort(key=lambda g: g.submission.name)
    problems += [g.problem for g in graded if g.problem]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "grades.csv", graded)
    (args.out / "feedback").mkdir(exist_ok=True)
    for g in graded:
        (args.out / "feedback" / feedback_name(g.submission.name)).write_text(
            feedback_markdown(g), encoding="utf-8")
    print(summary(graded, time.monotonic() - started, jobs))
    print(f"\nWrote {args.out / 'grades.csv'} and {len(graded)} feedback file(s) in "
          f"{args.out / 'feedback'}.")
    if problems:
        print("\nNot graded (the grader could not work on these):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
