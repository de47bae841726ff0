"""Write the student notebooks from the solutions: ``python -m dqn_helpers.build [--check]``.

The solutions are the single source. In a solution, an exercise is the lines between

    ### YOUR CODE HERE ### Exercise 2.3: <what to write>
    ...the solution...
    ### END ###

inside a code cell (an exercise in several parts numbers them 2.2a, 2.2b, ...). In the student notebook the markers stay and the solution becomes
``raise NotImplementedError("Exercise 2.3: <what to write>")``; lines of the solution that
start with ``# HINT:`` are kept. The build also stamps every notebook (solution and student)
with its Colab badge, the Colab setup cell and the lab number, and clears outputs, so that
running it twice changes nothing. ``--check`` writes nothing and fails if anything is stale.

Code that a later lab reuses unchanged is written once, in the lab that teaches it, and copied
by the build (d2l's ``#@save`` is the model). In the original, a line ``#@save`` right above a
top-level ``def`` or ``class`` saves that definition under its name. In a later lab, a code cell
that starts with one or more lines

    #@from 02 import ReplayMemory, epsilon_at
    #@from 02 import Config as CartPoleConfig

gets, below those lines, each named definition as its solution reads (exercise markers and
hints dropped), under a one-line heading saying where it comes from. The rest of such a cell
is the build's: editing the original without rebuilding makes ``--check`` name every stale copy.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from string import ascii_lowercase

import nbformat

from dqn_helpers import BRANCH, REPO
from dqn_helpers.notebook import parse_cell

START = "### YOUR CODE HERE ###"
END = "### END ###"
HINT = "# HINT:"
START_RE = re.compile(r"^(?P<indent>\s*)### YOUR CODE HERE ###\s*Exercise (?P<lab>\d+)\.(?P<k>\d+[a-z]?):"
                      r"\s*(?P<what>\S.*?)\s*$")
NAME_RE = re.compile(r"^(?P<lab>\d\d)_(?P<name>[a-z0-9_]+)\.ipynb$")
SAVE = "#@save"
FROM_RE = re.compile(r"^#@from (?P<lab>\d\d) import (?P<names>.+?)\s*$")
IMPORTED_RE = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?:\s+as\s+(?P<alias>[A-Za-z_]\w*))?$")
SECTION_RE = re.compile(r"^##\s+(?:\d+\.\s*)?(?P<title>.+?)\s*$", re.MULTILINE)

SETUP_SOURCE = f'''# Setup. In Colab this installs the course package with gymnasium's extras (about a
# minute); anywhere else it does nothing: install locally as the README says.
import sys

if "google.colab" in sys.modules:
    import subprocess

    package = "git+https://github.com/{REPO}@{BRANCH}"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", f"dqn-helpers @ {{package}}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if pip.returncode != 0:  # show pip's last lines (they say why), and what to do
        print("\\n".join(pip.stdout.splitlines()[-40:]))
        raise RuntimeError(f"Installing {{package}} failed (pip's output is above). Run this "
                           "cell again; if it fails again, check that address, then "
                           "Runtime > Restart session and run the notebook from the top.")'''


class BuildError(Exception):
    """A solution notebook cannot be turned into a student notebook."""


@dataclass
class Exercise:
    id: str        # "2.3", or "2.2a" for one part of a multi-part exercise
    what: str      # what the student writes
    cell: int      # index of the code cell in the notebook
    line: int      # 1-based line of the start marker in that cell

    @property
    def base(self) -> str:
        """The exercise the region belongs to, which has one check: "2.2" for "2.2a"."""
        return self.id.rstrip(ascii_lowercase)


def badge_source(folder: str, filename: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{folder}/{filename}"
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})")


def _is_marker(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(START) or stripped == END


def find_exercises(nb, where: str, lab: int) -> list[Exercise]:
    """Every exercise region of a notebook; raise ``BuildError`` on a broken one."""
    found: dict[str, Exercise] = {}
    for index, cell in enumerate(nb.cells):
        lines = cell.source.splitlines()
        if cell.cell_type != "code":
            for number, line in enumerate(lines, 1):
                if _is_marker(line):
                    raise BuildError(f"{where}, cell {index} ({cell.cell_type}), line {number}: "
                                     "an exercise marker must be in a code cell")
            continue
        open_exercise = None
        for number, line in enumerate(lines, 1):
            at = f"{where}, cell {index}, line {number}"
            if line.strip().startswith(START):
                if open_exercise is not None:
                    raise BuildError(f"{at}: exercise {open_exercise.id} (line "
                                     f"{open_exercise.line}) is still open; exercises "
                                     "cannot be nested: close it with ### END ### first")
                match = START_RE.match(line)
                if not match:
                    raise BuildError(f"{at}: the marker must read '### YOUR CODE HERE ### "
                                     "Exercise N.k: <what to write>'")
                if int(match["lab"]) != lab:
                    raise BuildError(f"{at}: exercise {match['lab']}.{match['k']} in lab {lab:02d}"
                                     f"; exercises of this lab are numbered {lab}.k")
                ex_id = f"{int(match['lab'])}.{match['k']}"
                if ex_id in found:
                    first = found[ex_id]
                    raise BuildError(f"{at}: exercise {ex_id} is defined twice (first in cell "
                                     f"{first.cell}, line {first.line})")
                open_exercise = Exercise(ex_id, match["what"], index, number)
                found[ex_id] = open_exercise
            elif line.strip() == END:
                if open_exercise is None:
                    raise BuildError(f"{at}: ### END ### without a ### YOUR CODE HERE ### before it")
                open_exercise = None
        if open_exercise is not None:
            raise BuildError(f"{where}, cell {index}, line {open_exercise.line}: exercise "
                             f"{open_exercise.id} is never closed with ### END ###")
    return list(found.values())


def strip_solutions(source: str) -> str:
    """Replace each exercise region's body by its hints and a ``NotImplementedError``."""
    out, inside = [], False
    for line in source.splitlines():
        match = START_RE.match(line)
        if match:
            inside = True
            out.append(line)
            message = f"Exercise {int(match['lab'])}.{match['k']}: {match['what']}"
            stub = f"{match['indent']}raise NotImplementedError({json.dumps(message)})"
        elif inside and line.strip() == END:
            inside = False
            out.extend([stub, line])
        elif inside:
            if line.strip().startswith(HINT):
                out.append(line)
        else:
            out.append(line)
    return "\n".join(out)


@dataclass
class Piece:
    """A definition saved with ``#@save``, as later labs receive it."""
    lab: int
    name: str
    text: str              # the definition's lines, exercise markers and hints dropped
    exercises: list[str]   # the exercises whose solutions it holds
    section: str | None    # the lab's section it stands in ("4, The replay memory")

    def heading(self, alias: str | None = None) -> str:
        where = [f"exercise {', '.join(self.exercises)}"] if self.exercises else []
        if self.section:
            where.append(f"section {self.section}")
        renamed = f"; named {alias} here" if alias and alias != self.name else ""
        return f"# From lab {self.lab:02d}: {self.name} ({'; '.join(where)}{renamed})"

    def copy(self, alias: str | None = None) -> str:
        text = self.text
        if alias and alias != self.name:
            text = re.sub(rf"^((?:class|def)\s+){self.name}\b", rf"\g<1>{alias}", text, count=1,
                          flags=re.MULTILINE)
        return f"{self.heading(alias)}\n{text}"


def saved_pieces(nb, where: str, lab: int) -> dict[str, Piece]:
    """The definitions a notebook marks with ``#@save``; raise ``BuildError`` on a bad marker."""
    pieces: dict[str, Piece] = {}
    section = None
    for index, cell in enumerate(nb.cells):
        lines = cell.source.splitlines()
        marks = [n for n, line in enumerate(lines, 1) if line.strip() == SAVE]
        if marks and cell.cell_type != "code":
            raise BuildError(f"{where}, cell {index}, line {marks[0]}: {SAVE} belongs in a code "
                             "cell")
        if cell.cell_type == "markdown":
            headings = list(SECTION_RE.finditer(cell.source))
            if headings:
                title = headings[-1]["title"]
                number = re.match(r"^##\s+(\d+)\.", headings[-1].group(0))
                section = f"{number[1]}, {title}" if number else title
        if not marks:
            continue
        try:
            tree = parse_cell(cell.source)
        except SyntaxError as error:
            raise BuildError(f"{where}, cell {index}: {SAVE} in a cell that is not valid "
                             f"Python ({error.msg}, line {error.lineno})") from error
        starts = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                starts[first] = node
        for mark in marks:
            node = starts.get(mark + 1)
            if node is None or lines[mark - 1] != SAVE:
                raise BuildError(f"{where}, cell {index}, line {mark}: {SAVE} must stand alone, "
                                 "unindented, right above a top-level def or class")
            if node.name in pieces:
                raise BuildError(f"{where}, cell {index}, line {mark}: {node.name} is saved "
                                 "twice in this lab")
            body, exercises = [], []
            for line in lines[mark:node.end_lineno]:
                match = START_RE.match(line)
                if match:  # a part (2.2a) names its exercise (2.2)
                    exercises.append(f"{int(match['lab'])}.{match['k']}".rstrip(ascii_lowercase))
                elif line.strip() != END and not line.strip().startswith(HINT):
                    body.append(line)
            pieces[node.name] = Piece(lab, node.name, "\n".join(body),
                                      list(dict.fromkeys(exercises)), section)
    return pieces


def copy_requests(cell, where: str) -> list[tuple[int, str, str | None]]:
    """The ``#@from NN import a, b as c`` lines that start a code cell: [(lab, name, alias)]."""
    requests = []
    for number, line in enumerate(cell.source.splitlines(), 1):
        if not line.startswith("#@from"):
            break
        match = FROM_RE.match(line)
        if not match:
            raise BuildError(f"{where}, line {number}: write '#@from NN import name, name as "
                             "alias' (NN: the lab that saves them)")
        for item in match["names"].split(","):
            imported = IMPORTED_RE.match(item.strip())
            if not imported:
                raise BuildError(f"{where}, line {number}: {item.strip()!r} is not a name "
                                 "(or 'name as alias')")
            requests.append((int(match["lab"]), imported["name"], imported["alias"]))
    return requests


def copied_source(cell, where: str, lab: int, library: dict[int, dict[str, Piece]]) -> str:
    """What a cell that starts with ``#@from`` lines must hold: those lines, then the copies."""
    requests = copy_requests(cell, where)
    lines = cell.source.splitlines()
    directives = lines[:next((n for n, line in enumerate(lines) if not line.startswith("#@from")),
                             len(lines))]
    copies = []
    for source_lab, name, alias in requests:
        if source_lab >= lab:
            raise BuildError(f"{where}: lab {lab:02d} copies from lab {source_lab:02d}; a lab "
                             "copies only from the labs before it")
        saved = library.get(source_lab, {})
        if name not in saved:
            known = ", ".join(saved) or "nothing"
            raise BuildError(f"{where}: lab {source_lab:02d} does not save {name} (it saves "
                             f"{known}); mark the definition there with a line {SAVE} above it")
        copies.append(saved[name].copy(alias))
    return "\n".join(directives) + "\n" + "\n\n\n".join(copies)


def expand_copies(nb, where: str, lab: int, library: dict[int, dict[str, Piece]]) -> list[str]:
    """Rewrite every copy cell from the saved originals; return what was out of date."""
    outdated = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.startswith("#@from"):
            for number, line in enumerate(cell.source.splitlines(), 1):
                if line.startswith("#@from") and cell.cell_type == "code":
                    raise BuildError(f"{where}, cell {index}, line {number}: #@from lines must "
                                     "start their cell")
            continue
        expected = copied_source(cell, f"{where}, cell {index}", lab, library)
        if cell.source != expected:
            for source_lab, name, alias in copy_requests(cell, where):
                if library[source_lab][name].copy(alias) not in cell.source:
                    outdated.append(f"{where}: its copy of lab {source_lab:02d}'s {name} differs "
                                    "from the original")
            cell.source = expected
    return outdated


def _clean(cell, index: int):
    cell = copy.deepcopy(cell)
    cell.id = cell.get("id") or f"cell-{index}"
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    keep = {k: cell.metadata[k] for k in ("tags", "dqn_labs") if k in cell.metadata}
    cell.metadata = nbformat.from_dict(keep)
    return cell


def _generated(cell) -> str | None:
    return cell.metadata.get("dqn_labs", {}).get("generated")


def refuse_hand_made_stamps(nb, where: str) -> None:
    """Raise ``BuildError`` on an authored Colab badge or setup cell: the build adds its own."""
    for index, cell in enumerate(nb.cells):
        if _generated(cell) is None and ("colab-badge.svg" in cell.source
                                         or cell.source.strip() == SETUP_SOURCE.strip()):
            raise BuildError(f"{where}, cell {index}: a Colab badge or setup cell written by "
                             "hand; the build adds both itself: delete this cell")


def stamp(nb, folder: str, filename: str, lab: int, name: str):
    """Normalise a notebook: the badge first, the setup cell as first code cell, no outputs."""
    cells = [_clean(c, i) for i, c in enumerate(nb.cells) if _generated(c) is None]
    badge = nbformat.v4.new_markdown_cell(badge_source(folder, filename))
    badge.id, badge.metadata = "dqn-badge", {"dqn_labs": {"generated": "badge"}}
    setup = nbformat.v4.new_code_cell(SETUP_SOURCE)
    setup.id, setup.metadata = "dqn-setup", {"dqn_labs": {"generated": "setup"}}
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, setup)
    cells.insert(0, badge)
    out = nbformat.v4.new_notebook()
    out.cells = cells
    out.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
        "dqn_labs": {"lab": f"{lab:02d}", "name": name,
                     "version": "solution" if folder == "solutions" else "student"},
    })
    return out


def fingerprint(nb) -> str:
    """A hash of a solution's authored cells: any edit to the solution changes it."""
    cells = [[c.cell_type, c.source] for c in nb.cells if _generated(c) is None]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()[:16]


def student_version(nb, filename: str, lab: int, name: str):
    out = stamp(nb, "notebooks", filename, lab, name)
    # Recording the solution's fingerprint makes `--check` notice any edit to the solution,
    # even one inside an exercise region that leaves the student's stub as it was.
    out.metadata["dqn_labs"]["solution_sha256"] = fingerprint(nb)
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
    return out


def dumps(nb) -> str:
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def read_solutions(root: Path) -> tuple[list[tuple[Path, int, str, object]], list[str]]:
    """(path, lab, name, notebook) of every solution, checked and with its copies expanded;
    and one line per copy that was out of date."""
    paths = sorted((root / "solutions").glob("*.ipynb"))
    if not paths:
        raise BuildError(f"no solution notebooks in {root / 'solutions'}")
    solutions, library = [], {}
    for path in paths:
        match = NAME_RE.match(path.name)
        if not match:
            raise BuildError(f"{path}: solution notebooks are named NN_short_name.ipynb")
        lab, name = int(match["lab"]), match["name"]
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:
            raise BuildError(f"{path}: not a readable notebook ({error})") from error
        where = str(path.relative_to(root))
        find_exercises(nb, where, lab)
        refuse_hand_made_stamps(nb, where)
        library[lab] = saved_pieces(nb, where, lab)
        solutions.append((path, lab, name, nb))
    outdated = [line for path, lab, _, nb in solutions
                for line in expand_copies(nb, str(path.relative_to(root)), lab, library)]
    return solutions, outdated


def plan(root: Path) -> dict[Path, str]:
    """What the build would write: every solution (normalised) and every student notebook."""
    files: dict[Path, str] = {}
    for path, lab, name, nb in read_solutions(root)[0]:
        files[path] = dumps(stamp(nb, "solutions", path.name, lab, name))
        files[root / "notebooks" / path.name] = dumps(student_version(nb, path.name, lab, name))
    return files


def stale(root: Path) -> list[Path]:
    """The files whose content differs from what the build would write, and extra notebooks."""
    files = plan(root)
    out = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in sorted((root / "notebooks").glob("*.ipynb")) if p not in files]
    return out + extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dqn_helpers.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and name each stale file")
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="the course folder (default: the current one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            bad = stale(root)
            for path in bad:
                print(f"stale: {path.relative_to(root)}", file=sys.stderr)
            for line in read_solutions(root)[1] if bad else []:
                print(f"stale copy: {line}", file=sys.stderr)
            if bad:
                print("Run `python -m dqn_helpers.build` and commit the result.", file=sys.stderr)
                return 1
            print(f"up to date: {len(plan(root))} notebooks")
            return 0
        files = plan(root)  # every notebook is checked before anything is written
    except BuildError as error:
        print(f"build error: {error}", file=sys.stderr)
        return 2
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(root)}")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if path not in files:  # notebooks/ is generated: a student notebook needs its solution
            path.unlink()
            print(f"removed {path.relative_to(root)} (no solution of that name)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
