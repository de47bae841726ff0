"""nbval runs every solution notebook; the root conftest.py injects OUT_DIR and CI sizes."""

import json
import subprocess
import sys

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from .ci_parameters import CI_PARAMETERS, INJECTED, inject_parameters
from .conftest import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

PARAMETERS = 'SEED = 0\nTOTAL_STEPS = 200_000  # the step budget\nOUT_DIR = "runs/03"\n'


def notebook(parameters_tag="parameters"):
    return new_notebook(cells=[
        new_markdown_cell("# Lab", metadata={"tags": ["parameters"]}),
        new_code_cell("import math"),
        new_code_cell(PARAMETERS, metadata={"tags": [parameters_tag]}),
        new_code_cell("print(TOTAL_STEPS)"),
    ])


def test_injection_appends_the_values_to_the_parameters_cell():
    nb = notebook()
    cell = inject_parameters(nb, {"TOTAL_STEPS": 5_000, "OUT_DIR": "/tmp/x"}, "03_lab.ipynb")
    assert cell is nb.cells[2]
    assert cell.source == PARAMETERS + f"{INJECTED}\nTOTAL_STEPS = 5000\nOUT_DIR = '/tmp/x'\n"
    assert [c.source for c in nb.cells[:2] + nb.cells[3:]] == ["# Lab", "import math",
                                                               "print(TOTAL_STEPS)"]
    namespace = {}
    exec(cell.source, namespace)
    assert (namespace["SEED"], namespace["TOTAL_STEPS"], namespace["OUT_DIR"]) == (0, 5000, "/tmp/x")


def test_injection_refuses_a_name_the_parameters_cell_does_not_assign():
    nb = notebook()
    with pytest.raises(ValueError, match=r"^03_lab.ipynb: its 'parameters' cell assigns no "
                                         r"TOTAL_STEP \(it assigns SEED, TOTAL_STEPS, OUT_DIR\)"):
        inject_parameters(nb, {"OUT_DIR": "/tmp/x", "TOTAL_STEP": 5_000}, "03_lab.ipynb")
    assert nb.cells[2].source == PARAMETERS


def test_injection_refuses_a_notebook_without_a_parameters_cell():
    nb = notebook(parameters_tag="setup")  # only a markdown cell is tagged "parameters"
    with pytest.raises(ValueError, match=r"^03_lab.ipynb: no code cell tagged 'parameters'"):
        inject_parameters(nb, {"TOTAL_STEPS": 5_000}, "03_lab.ipynb")


def test_every_ci_sized_lab_is_a_solution_notebook():
    labs = [path.name[:2] for path in SOLUTIONS]
    assert set(CI_PARAMETERS) <= set(labs), f"CI_PARAMETERS names unknown labs; labs: {labs}"


# pytest --collect-only -q solutions/, with a plugin that prints each collected parameters cell.
COLLECT = """
import json, sys, pytest
from tests.ci_parameters import CI_PARAMETERS
CI_PARAMETERS.update(json.loads(sys.argv[1]))
class Show:
    def pytest_collection_finish(self, session):
        for item in session.items:
            cell = getattr(item, "cell", None)
            if cell is not None and "parameters" in cell.metadata.get("tags", []):
                print("PARAMETERS", json.dumps([item.path.name, cell.source]))
sys.exit(pytest.main(["--collect-only", "-q", "solutions/"], plugins=[Show()]))
"""


def collect(ci_parameters: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", COLLECT, json.dumps(ci_parameters or {})],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_nbval_collects_every_solution_with_its_parameters_injected():
    result = collect()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    collected = {line.split("::")[0] for line in lines if "::Cell " in line}
    assert collected == {f"solutions/{path.name}" for path in SOLUTIONS}
    sources = dict(json.loads(line[len("PARAMETERS "):])
                   for line in lines if line.startswith("PARAMETERS "))
    assert sorted(sources) == [path.name for path in SOLUTIONS]
    for name, source in sources.items():
        original, injected = source.split(INJECTED + "\n")
        values = {key: repr(value) for key, value in CI_PARAMETERS.get(name[:2], {}).items()}
        out_dir = injected.splitlines()[0]
        assert out_dir.startswith("OUT_DIR = '") and str(ROOT) not in out_dir, source
        assert injected.splitlines()[1:] == [f"{key} = {value}" for key, value in values.items()]
        assert all(f"{key} = " in original for key in values), source


def test_a_typo_in_a_ci_parameter_is_a_collection_error_naming_the_notebook():
    result = collect({"04": {"TOTAL_STEP": 3_000}})
    assert result.returncode != 0
    assert "04_dqn_pixels_cartpole.ipynb: its 'parameters' cell assigns no TOTAL_STEP" \
        in result.stdout, result.stdout + result.stderr
