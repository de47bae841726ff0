"""Student notebooks run top to bottom and stop only at their exercises.

A lab listed in tests/ci_parameters.py runs at its CI size, as its solution does under nbval
(lab 05's Part 1 has no exercise: a student notebook trains it, for 10 minutes as shipped).
Every error must be an exercise's ``NotImplementedError`` (or a check's "not implemented yet"),
or a ``NameError`` for a name that an earlier failed cell would have defined. No check passes.
"""

import ast
import re

import nbformat
import pytest
from nbclient import NotebookClient

from .ci_parameters import CI_PARAMETERS, inject_parameters
from .conftest import ROOT

STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISE_ERROR = re.compile(r"^Exercise \d+\.\d+[a-z]?: ")


def assigned_names(source: str) -> set[str]:
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    names = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def unexpected_errors(nb) -> list[str]:
    problems, undefined = [], set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            text = output.get("text", "") if output.output_type == "stream" else ""
            if "passed" in text and "\u2714 Exercise" in text:
                problems.append(f"cell {index}: a check passed on a stub: {text.strip()}")
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "checks.check_" in cell.source and not errors:
            problems.append(f"cell {index}: the check ran without an error on a stub")
        for error in errors:
            name_error = re.match(r"name '(\w+)' is not defined", error.evalue)
            if error.ename in ("NotImplementedError", "NotImplementedYet") and \
                    EXERCISE_ERROR.match(error.evalue):
                pass
            elif error.ename == "NameError" and name_error and name_error[1] in undefined:
                pass  # a consequence of an earlier exercise that is not done yet
            else:
                problems.append(f"cell {index}: {error.ename}: {error.evalue}")
        if errors:
            undefined |= assigned_names(cell.source)
    return problems


@pytest.mark.parametrize("path", STUDENT, ids=[p.name for p in STUDENT])
def test_student_notebook_stops_only_at_exercises(path, tmp_path):
    nb = nbformat.read(path, 4)
    if path.name[:2] in CI_PARAMETERS:
        inject_parameters(nb, CI_PARAMETERS[path.name[:2]], path.name)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert unexpected_errors(nb) == []
    n_checks = sum("checks.check_" in c.source for c in nb.cells if c.cell_type == "code")
    n_stopped = sum(any(o.output_type == "error" for o in c.outputs)
                    for c in nb.cells if c.cell_type == "code" and "checks.check_" in c.source)
    assert n_checks > 0 and n_stopped == n_checks


def test_the_analysis_catches_a_leaked_solution_and_a_stray_error():
    nb = nbformat.v4.new_notebook()
    ok = nbformat.v4.new_code_cell("x = f()")
    ok.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError",
                                         evalue="Exercise 1.1: write f", traceback=[])]
    follow = nbformat.v4.new_code_cell("print(x)")
    follow.outputs = [nbformat.v4.new_output("error", ename="NameError",
                                             evalue="name 'x' is not defined", traceback=[])]
    leaked = nbformat.v4.new_code_cell("checks.check_f(f)")
    leaked.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                             text="\u2714 Exercise 1.1 passed.\n")]
    stray = nbformat.v4.new_code_cell("y = 1 / 0")
    stray.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError",
                                            evalue="division by zero", traceback=[])]
    unrelated = nbformat.v4.new_code_cell("print(z)")
    unrelated.outputs = [nbformat.v4.new_output("error", ename="NameError",
                                                evalue="name 'z' is not defined", traceback=[])]
    nb.cells = [ok, follow, leaked, stray, unrelated]
    problems = unexpected_errors(nb)
    assert problems == ["cell 2: a check passed on a stub: \u2714 Exercise 1.1 passed.",
                        "cell 2: the check ran without an error on a stub",
                        "cell 3: ZeroDivisionError: division by zero",
                        "cell 4: NameError: name 'z' is not defined"]
