"""Load what a notebook defines, without running its long cells (tests and grading).

``load_definitions`` keeps, from every code cell, the top-level imports, functions, classes and
assignments of plain literals, and runs only those. Training loops, videos and prints are left
out, so an exercise's function can be checked in a second, wherever its cell sits.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def parse_cell(source: str) -> ast.Module:
    """A code cell's source as Python; raises ``SyntaxError`` (the build reports it).

    IPython magics and shell escapes are not Python: their lines are blanked, keeping the line
    numbers.
    """
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _parse(source: str) -> ast.Module | None:
    try:
        return parse_cell(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def statements(cells) -> list[tuple[int, int, ast.stmt]]:
    """(cell number from 1, line, statement) for each statement ``load_definitions`` runs.

    ``cells`` are a notebook's cells, or anything with ``cell_type`` and ``source``.
    """
    kept = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, KEEP) or (isinstance(node, (ast.Assign, ast.AnnAssign))
                                          and node.value is not None
                                          and _is_literal(node.value)):
                kept.append((index + 1, node.lineno, node))
    return kept


def definitions(nb) -> list[ast.stmt]:
    """The statements ``load_definitions`` runs, in notebook order (later ones win)."""
    return [node for _, _, node in statements(nb.cells)]


def read(path_or_nb) -> Any:
    if isinstance(path_or_nb, (str, Path)):
        import nbformat  # here, not at the top: it takes seconds to import (the grader's
        # workers load notebooks with ``statements`` and never need it)

        return nbformat.read(str(path_or_nb), as_version=4)
    return path_or_nb


def load_definitions(path_or_nb, namespace: dict | None = None) -> dict:
    """Run a notebook's definitions in a fresh namespace and return it.

    A statement that fails (for example an import of something missing) is skipped, so one
    broken cell costs only the names it defines.

    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell
    >>> nb = nbformat.v4.new_notebook(cells=[
    ...     cell("import math"), cell("GAMMA = 0.99"),
    ...     cell("def horizon(gamma): return 1 / (1 - gamma)"),
    ...     cell("import not_installed"), cell("STEPS = 10"),
    ...     cell("while True: pass  # a training loop: never run"),
    ... ])
    >>> ns = load_definitions(nb)
    >>> round(ns["horizon"](ns["GAMMA"])), ns["STEPS"], "math" in ns, "not_installed" in ns
    (100, 10, True, False)
    """
    nb = read(path_or_nb)
    namespace = {"__name__": "__notebook__"} if namespace is None else namespace
    for node in definitions(nb):
        module = ast.Module(body=[node], type_ignores=[])
        try:
            # dont_inherit: this module's `from __future__ import annotations` must not leak in
            exec(compile(module, "<notebook>", "exec", dont_inherit=True), namespace)
        except Exception:
            continue
    return namespace
