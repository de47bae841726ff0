"""The build: student notebooks are generated from the solutions, deterministically."""

import shutil
import subprocess
import sys

import nbformat
import pytest

from dqn_helpers import build

from .conftest import ROOT


def copy_course(tmp_path):
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_checked_in_notebooks_are_up_to_date():
    assert build.stale(ROOT) == [], "run `python -m dqn_helpers.build` and commit"


def test_check_command_passes_on_the_repository():
    result = subprocess.run([sys.executable, "-m", "dqn_helpers.build", "--check", "--root",
                             str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_editing_a_solution_without_rebuilding_makes_check_fail(tmp_path):
    course = copy_course(tmp_path)
    path = course / "solutions" / "00_mdp_basics.ipynb"
    text = path.read_text()
    assert "return np.argmax(Q, axis=1)" in text
    path.write_text(text.replace("return np.argmax(Q, axis=1)", "return Q.argmax(axis=1)"))
    # the stub is unchanged, but the student notebook records the solution's fingerprint
    assert build.stale(course) == [course / "notebooks" / "00_mdp_basics.ipynb"]
    assert build.main(["--check", "--root", str(course)]) == 1
    assert build.main(["--root", str(course)]) == 0
    assert build.main(["--check", "--root", str(course)]) == 0


def test_check_names_each_stale_file(tmp_path, capsys):
    course = copy_course(tmp_path)
    path = course / "solutions" / "01_random_agent.ipynb"
    nb = nbformat.read(path, 4)
    for cell in nb.cells:  # a new hint line changes what the student sees
        cell.source = cell.source.replace("### YOUR CODE HERE ### Exercise 1.2: return a function",
                                          "### YOUR CODE HERE ### Exercise 1.2: return a new function")
    nbformat.write(nb, path)
    assert build.main(["--check", "--root", str(course)]) == 1
    err = capsys.readouterr().err
    assert "stale: notebooks/01_random_agent.ipynb" in err
    assert "00_mdp_basics" not in err


def test_build_is_deterministic(tmp_path):
    course = copy_course(tmp_path)
    shutil.rmtree(course / "notebooks")
    assert build.main(["--root", str(course)]) == 0
    first = {p.name: p.read_bytes() for p in (course / "notebooks").glob("*.ipynb")}
    assert build.main(["--root", str(course)]) == 0
    second = {p.name: p.read_bytes() for p in (course / "notebooks").glob("*.ipynb")}
    assert first == second
    assert first == {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}


def test_student_notebook_has_stubs_hints_badge_setup_and_no_outputs():
    nb = nbformat.read(ROOT / "notebooks" / "00_mdp_basics.ipynb", 4)
    text = "\n".join(c.source for c in nb.cells)
    assert 'raise NotImplementedError("Exercise 0.1: return sum_k gamma**k * rewards[k]")' in text
    assert "# HINT: loop backwards with G = r + gamma * G" in text
    assert "G = reward + gamma * G" not in text  # the solution is gone
    code_text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert code_text.count("### YOUR CODE HERE ###") == code_text.count("### END ###") == 4
    assert "colab.research.google.com/github/" in nb.cells[0].source
    assert "notebooks/00_mdp_basics.ipynb" in nb.cells[0].source
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == build.SETUP_SOURCE
    meta = dict(nb.metadata["dqn_labs"])
    assert len(meta.pop("solution_sha256")) == 16
    assert meta == {"lab": "00", "name": "mdp_basics", "version": "student"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    def no_install(*args, **kwargs):
        raise AssertionError("the setup cell ran pip outside Colab")

    monkeypatch.setattr(subprocess, "run", no_install)
    assert "google.colab" not in sys.modules
    exec(build.SETUP_SOURCE, {})
    assert build.REPO in build.SETUP_SOURCE


def broken_course(tmp_path, cells):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, tmp_path / "solutions" / "07_broken.ipynb")
    return tmp_path


code = nbformat.v4.new_code_cell
markdown = nbformat.v4.new_markdown_cell
OK = "def f():\n    ### YOUR CODE HERE ### Exercise 7.1: write f\n    return 1\n    ### END ###"


@pytest.mark.parametrize("cells, message", [
    ([code("def f():\n    ### YOUR CODE HERE ### Exercise 7.1: write f\n    return 1")],
     "cell 0, line 2: exercise 7.1 is never closed"),
    ([code("### YOUR CODE HERE ### Exercise 7.1: a\n### YOUR CODE HERE ### Exercise 7.2: b\n"
           "### END ###")], "cell 0, line 2: exercise 7.1 (line 1) is still open"),
    ([markdown("intro"), markdown("### YOUR CODE HERE ### Exercise 7.1: x\n### END ###")],
     "cell 1 (markdown), line 1: an exercise marker must be in a code cell"),
    ([code(OK), code("x = 1"), code(OK.replace("f", "g"))],
     "cell 2, line 2: exercise 7.1 is defined twice (first in cell 0, line 2)"),
    ([code("x = 1\n### END ###")], "cell 0, line 2: ### END ### without"),
    ([code("### YOUR CODE HERE ###\nx = 1\n### END ###")], "cell 0, line 1: the marker must read"),
    ([code("### YOUR CODE HERE ### Exercise 3.1: x\nx = 1\n### END ###")],
     "exercise 3.1 in lab 07"),
    ([markdown("# Lab 07"), markdown(build.badge_source("solutions", "07_broken.ipynb"))],
     "cell 1: a Colab badge or setup cell written by hand"),
    ([markdown("# Lab 07"), code(OK), code(build.SETUP_SOURCE)],
     "cell 2: a Colab badge or setup cell written by hand"),
])
def test_broken_sources_are_refused_naming_notebook_cell_and_line(tmp_path, capsys, cells, message):
    course = broken_course(tmp_path, cells)
    assert build.main(["--root", str(course)]) == 2
    err = capsys.readouterr().err
    assert "solutions/07_broken.ipynb" in err
    assert message in err
    assert list((course / "notebooks").iterdir()) == []  # nothing written


def test_a_broken_notebook_stops_the_whole_build(tmp_path):
    course = copy_course(tmp_path)
    shutil.rmtree(course / "notebooks")
    nb = nbformat.v4.new_notebook()
    nb.cells = [code("### YOUR CODE HERE ### Exercise 9.1: x")]
    nbformat.write(nb, course / "solutions" / "09_broken.ipynb")
    assert build.main(["--root", str(course)]) == 2
    assert not (course / "notebooks").exists()


def test_student_notebook_without_solution_is_removed(tmp_path):
    course = copy_course(tmp_path)
    orphan = course / "notebooks" / "42_orphan.ipynb"
    orphan.write_text("{}")
    assert build.stale(course) == [orphan]
    assert build.main(["--root", str(course)]) == 0
    assert not orphan.exists()
