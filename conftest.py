"""pytest at the repository root: nbval runs every solution notebook, labs too long at CI size.

nbval (``--nbval-lax`` in pyproject.toml) collects each notebook as an ``IPyNbFile`` whose
``collect()`` reads the notebook and yields one ``IPyNbCell`` per code cell; each cell item
executes the source of its cell object. For a notebook in solutions/, the hook below swaps in
``SolutionNotebook``, which, once nbval has collected the cells, appends assignments to the
cell tagged ``parameters`` (papermill's convention, as its injected parameters would):

- ``OUT_DIR``, a fresh folder of this test session (pytest's tmp_path_factory), so the tests
  leave no ``runs/`` folder in solutions/;
- for a lab listed in ``CI_PARAMETERS`` (tests/ci_parameters.py), its smaller CI size.

A notebook without a ``parameters`` cell, or a CI parameter its cell does not assign, is a
collection error naming the notebook: a typo never runs a lab at full size. The full-size
figures come from the benchmark (benchmarks/benchmark.py).
"""

from pathlib import Path

import pytest
from nbval.plugin import IPyNbFile

from tests.ci_parameters import CI_PARAMETERS, inject_parameters

SOLUTIONS = Path(__file__).resolve().parent / "solutions"


class SolutionNotebook(IPyNbFile):
    """nbval's notebook collector, with the test session's parameters injected."""

    def collect(self):
        cells = list(super().collect())  # reads self.nb; each item keeps its cell object
        out_dir = self.config._tmp_path_factory.mktemp(self.path.stem)  # = tmp_path_factory
        values = {"OUT_DIR": str(out_dir), **CI_PARAMETERS.get(self.path.name[:2], {})}
        try:
            inject_parameters(self.nb, values, self.path.name)
        except ValueError as error:
            raise self.CollectError(str(error)) from None
        return cells


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collectors = yield
    if file_path.parent.resolve() != SOLUTIONS:
        return collectors
    return [SolutionNotebook.from_parent(parent, path=file_path) if type(c) is IPyNbFile else c
            for c in collectors]
