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
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dqn_helpers import BRANCH, REPO

START = "### YOUR CODE HERE ###"
END = "### END ###"
HINT = "# HINT:"
START_RE = re.compile(r"^(?P<indent>\s*)### YOUR CODE HERE ###\s*Exercise (?P<lab>\d+)\.(?P<k>\d+[a-z]?):"
                      r"\s*(?P<what>\S.*?)\s*$")
NAME_RE = re.compile(r"^(?P<lab>\d\d)_(?P<name>[a-z0-9_]+)\.ipynb$")

SETUP_SOURCE = f'''# Setup. In Colab this installs the course package with gymnasium's extras (about a
# minute); anywhere else it does nothing: install locally as the README says.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "dqn-helpers @ git+https://github.com/{REPO}@{BRANCH}"], check=True)'''


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
        return self.id.rstrip("abcdefghijklmnopqrstuvwxyz")


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


def plan(root: Path) -> dict[Path, str]:
    """What the build would write: every solution (normalised) and every student notebook."""
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    if not solutions:
        raise BuildError(f"no solution notebooks in {root / 'solutions'}")
    files: dict[Path, str] = {}
    for path in solutions:
        match = NAME_RE.match(path.name)
        if not match:
            raise BuildError(f"{path}: solution notebooks are named NN_short_name.ipynb")
        lab, name = int(match["lab"]), match["name"]
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as error:
            raise BuildError(f"{path}: not a readable notebook ({error})") from error
        find_exercises(nb, str(path.relative_to(root)), lab)
        refuse_hand_made_stamps(nb, str(path.relative_to(root)))
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
