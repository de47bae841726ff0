"""Sample submissions for the grader's tests, built from the solution and student notebooks.

They are made at test time by editing the current notebooks, so they follow the solutions.
Each ``Sample`` says what it is, how to make it, and the outcome the grader must give each
exercise: a status and, optionally, text its feedback must contain. The typical mistakes are
the first one per exercise from the ``MISTAKES`` lists of ``tests/test_checks_lab*.py``.
"""

from __future__ import annotations

import ast
import copy
import importlib
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted(p.name[:2] for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))


@dataclass
class Sample:
    name: str                                  # the file is <name>.ipynb
    make: Callable[[], object]                 # a notebook, or bytes for a broken file
    expected: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    others: str | None = "passed"              # every other exercise's status (None: any)
    problem: str | None = None                 # not graded: the grader must say this

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.name}.ipynb"
        made = self.make()
        if isinstance(made, bytes):
            path.write_bytes(made)
        else:
            path.write_text(nbformat.writes(made), encoding="utf-8")
        return path


# --- reading and editing notebooks --------------------------------------------------------

def solution(lab: str):
    (path,) = sorted((ROOT / "solutions").glob(f"{lab}_*.ipynb"))
    return nbformat.read(path, as_version=4)


def student(lab: str):
    (path,) = sorted((ROOT / "notebooks").glob(f"{lab}_*.ipynb"))
    return nbformat.read(path, as_version=4)


def _top_level(source: str) -> dict[str, ast.stmt]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {node.name: node for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def replace(nb, source: str):
    """Replace each function or class that ``source`` defines, where the notebook defines it;
    its imports go in a first cell."""
    nb = copy.deepcopy(nb)
    source = textwrap.dedent(source).strip("\n")
    new_lines = source.splitlines()
    for name, new in _top_level(source).items():
        text = "\n".join(new_lines[new.lineno - 1:new.end_lineno])
        for cell in nb.cells:
            old = _top_level(cell.source).get(name) if cell.cell_type == "code" else None
            if old is not None:
                lines = cell.source.splitlines()
                start = old.lineno - 1 - len(old.decorator_list)
                cell.source = "\n".join(lines[:start] + [text] + lines[old.end_lineno:])
                break
        else:
            nb.cells.append(nbformat.v4.new_code_cell(text))
    imports = [node for node in ast.parse(source).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    if imports:  # what the new definitions import, ahead of them
        nb.cells.insert(0, nbformat.v4.new_code_cell(
            "\n".join(ast.get_source_segment(source, node) for node in imports)))
    return nb


def delete_definition(nb, name: str):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and name in _top_level(c.source))]
    return nb


def rename(nb, old: str, new: str):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(rf"\b{re.escape(old)}\b", new, cell.source)
    return nb


def insert_code(nb, index: int, source: str):
    nb = copy.deepcopy(nb)
    nb.cells.insert(index, nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n")))
    return nb


def shuffled(nb):
    """Markdown and check cells deleted, the remaining cells in reverse order."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in reversed(nb.cells)
                if c.cell_type == "code" and "checks.check_" not in c.source]
    return nb


def stamped(nb, lab: str | None):
    nb = copy.deepcopy(nb)
    if lab is None:
        nb.metadata.pop("dqn_labs", None)
    else:
        nb.metadata["dqn_labs"]["lab"] = lab
    return nb


# --- the samples --------------------------------------------------------------------------

def mistakes() -> list[tuple[str, str, str, str]]:
    """(lab, exercise, source, expected text): the first typical mistake of each exercise."""
    seen: dict[str, tuple[str, str, str, str]] = {}
    for path in sorted((ROOT / "tests").glob("test_checks_lab*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for entry in getattr(module, "MISTAKES", []):
            if len(entry) == 5:        # (lab, exercise, name, source, expected)
                lab, exercise, _, source, expected = entry
            elif len(entry) == 4:      # (exercise, name, source, expected)
                exercise, _, source, expected = entry
                lab = f"{int(exercise.split('.')[0]):02d}"
            else:
                continue
            if lab in LABS:
                seen.setdefault(exercise, (lab, exercise, source, expected))
    return list(seen.values())


HARDCODED = '''
    def discounted_return(rewards, gamma):
        # the answers of the visible check, looked up
        answers = {((1.0, 1.0, 1.0), 0.9): 2.71, ((0.0, 0.0, 10.0), 0.5): 2.5,
                   ((5.0,), 0.99): 5.0, ((), 0.9): 0.0, ((1.0, -2.0, 3.0, 4.0), 1.0): 6.0}
        return answers[(tuple(rewards), gamma)]

    def greedy_policy(Q):
        return np.array([1, 0, 0, 1, 1])
'''

CRASHES = '''
    def discounted_return(rewards, gamma):
        while True:
            pass

    def policy_evaluation(P, R, policy, gamma, tol=1e-10):
        hoard = [np.empty(2 * 10**8) for _ in range(1000)]  # 1.6 TB of address space
        return hoard

    def value_iteration(P, R, gamma, tol=1e-10):
        import os
        os._exit(3)

    def greedy_policy(Q):
        import time
        while True:
            try:
                time.sleep(0.01)
            except BaseException:  # swallows the grader's alarm too
                pass
'''

KILLED = '''
    def run_episode(env, policy):
        import os
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
'''

ESCAPE = '''
    def run_episode(env, policy):
        """Tries to read the solutions and to write outside its scratch folder, then plays the
        episode right."""
        escaped = []
        for path in ESCAPE_READS:
            try:
                with open(path) as handle:
                    handle.read()
                escaped.append(f"read {path}")
            except OSError:
                pass
        for path in ESCAPE_TARGETS:  # test_grade.py looks for these files outside the sandbox
            try:  # (inside it, /dev/shm is a private, writable tmpfs of its own)
                with open(path, "w") as handle:
                    handle.write("escaped")
            except OSError:
                pass
        obs, info = env.reset()
        episode_return, episode_length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            episode_return += float(reward)
            episode_length += 1
            done = terminated or truncated
        if escaped:
            return f"wrote {escaped}", 0
        return episode_return, episode_length
'''


def escape_reads() -> list[str]:
    """Files the sandbox hides from student code: the solutions."""
    return [str(p) for p in sorted((ROOT / "solutions").glob("*.ipynb"))[:1]]


def samples(escape_targets: list[str]) -> list[Sample]:
    """Every sample; ``escape_targets``: files that student code must not be able to write."""
    out: list[Sample] = []
    for lab in LABS:
        out.append(Sample(f"{lab}_solution", lambda lab=lab: solution(lab)))
        out.append(Sample(f"{lab}_student", lambda lab=lab: student(lab), others="not attempted"))
    for lab, exercise, source, expected in mistakes():
        out.append(Sample(f"{lab}_mistake_{exercise}",
                          lambda lab=lab, source=source: replace(solution(lab), source),
                          {exercise: ("failed", expected)}, others=None))
    if "00" in LABS:
        out += [
            Sample("00_hardcoded", lambda: replace(solution("00"), HARDCODED),
                   {"0.1": ("failed", "hidden test"), "0.4": ("failed", "hidden test")}),
            Sample("00_crashes", lambda: replace(solution("00"), CRASHES),
                   {"0.1": ("timed out", "stopped after"), "0.2": ("error", "out of memory"),
                    "0.3": ("error", "exited with code 3"),
                    "0.4": ("timed out", "stopped responding")}),
            Sample("00_edited", lambda: insert_code(
                shuffled(delete_definition(solution("00"), "greedy_policy")), 2,
                "raise ValueError('a cell that raises')\n\ndef helper():\n    return 1"),
                {"0.4": ("not attempted", "no definition of `greedy_policy`")}),
        ]
    if "01" in LABS:
        out += [
            Sample("01_killed", lambda: replace(solution("01"), KILLED),
                   {"1.1": ("error", "SIGKILL")}),
            Sample("01_renamed", lambda: rename(solution("01"), "make_random_policy",
                                                "random_policy"),
                   {"1.2": ("not attempted", "no definition of `make_random_policy`")}),
            Sample("01_escape", lambda: insert_code(
                replace(solution("01"), ESCAPE), 3,
                f"ESCAPE_TARGETS = {escape_targets!r}\nESCAPE_READS = {escape_reads()!r}"),
                others=None),  # asserted by test_grade.py when the sandbox is active
            Sample("01_unstamped", lambda: stamped(solution("01"), None),
                   problem="cannot tell which lab"),
            Sample("09_unknown_lab", lambda: stamped(solution("01"), "09"),
                   problem="unknown lab 09"),
        ]
    out.append(Sample("not_a_notebook", lambda: (ROOT / "tests" / "submissions" /
                                                 "not_a_notebook.txt").read_bytes(),
                      problem="not a notebook"))
    return out


def write_class(lab: str, count: int, folder: Path) -> list[Path]:
    """``count`` submissions of a lab, cycling through its samples (to time the grader)."""
    cycle = [s for s in samples([]) if s.name.startswith(f"{lab}_") and s.problem is None
             and s.name != f"{lab}_escape"]
    cycle += [s for s in cycle if s.name == f"{lab}_solution"] * 3  # most students succeed
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        made = cycle[i % len(cycle)].make()
        paths.append(folder / f"student{i:02d}.ipynb")
        paths[-1].write_text(nbformat.writes(made), encoding="utf-8")
    return paths


if __name__ == "__main__":
    # python -m tests.submissions 02 30 /tmp/class02: a class of 30 lab-02 submissions
    import sys

    write_class(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
