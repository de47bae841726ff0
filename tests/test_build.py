"""The build: student notebooks are generated from the solutions, deterministically."""

import re
import shutil
import subprocess
import sys
import types

import nbformat
import pytest

from dqn_helpers import build, checks

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
    exercises = [e for e in checks.REGISTRY if e.split(".")[0] == "0"]  # one region each
    assert code_text.count("### YOUR CODE HERE ###") == code_text.count("### END ###") \
        == len(exercises) == 6
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


def run_setup_cell_in_fake_colab(monkeypatch, returncode: int, output: str) -> list:
    """Run the setup cell as Colab would, with pip replaced by a result; return pip's calls."""
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, stdout=output)

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_pip)
    exec(build.SETUP_SOURCE, {})
    return calls


def test_setup_cell_in_colab_installs_the_course_package_silently(monkeypatch, capsys):
    calls = run_setup_cell_in_fake_colab(monkeypatch, 0, "Successfully installed dqn-helpers")
    (command,) = calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    assert command[4] == f"dqn-helpers @ git+https://github.com/{build.REPO}@{build.BRANCH}"
    assert capsys.readouterr() == ("", "")


def test_setup_cell_shows_why_pip_failed_and_what_to_do(monkeypatch, capsys):
    output = "\n".join([f"Collecting line {k}" for k in range(100)] + [
        "fatal: repository 'https://github.com/someone/dqn-labs/' not found",
        "error: subprocess-exited-with-error"])
    with pytest.raises(RuntimeError) as failure:
        run_setup_cell_in_fake_colab(monkeypatch, 1, output)
    shown = capsys.readouterr().out
    assert "fatal: repository 'https://github.com/someone/dqn-labs/' not found" in shown
    assert "error: subprocess-exited-with-error" in shown
    assert "Collecting line 99" in shown and "Collecting line 0\n" not in shown  # the tail only
    message = str(failure.value)
    assert f"github.com/{build.REPO}@{build.BRANCH}" in message
    assert "pip's output is above" in message and "Run this cell again" in message
    assert "Runtime > Restart session" in message
    assert "CalledProcessError" not in shown + message


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


# Shared code: written once with #@save, copied by the build where a later lab says #@from.

def sources(course):
    return {p.name[:2]: "\n".join(c.source for c in nbformat.read(p, 4).cells)
            for p in sorted((course / "solutions").glob("*.ipynb"))}


def test_every_copy_is_its_original_letter_for_letter():
    library = {int(p.name[:2]): build.saved_pieces(nbformat.read(p, 4), p.name, int(p.name[:2]))
               for p in sorted((ROOT / "solutions").glob("*.ipynb"))}
    copies = 0
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            for lab, name, alias in build.copy_requests(cell, path.name):
                assert library[lab][name].copy(alias) in cell.source, (path.name, name)
                copies += 1
    assert copies >= 20  # labs 03-06 reuse lab 02's pieces (and lab 03's) rather than retype them
    # lab 02's saved exercises arrive solved in later student notebooks, and say where from
    student = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" /
                                                         "03_dqn_lunarlander.ipynb", 4).cells)
    assert "# From lab 02: ReplayMemory (exercise 2.2; section 4, The replay memory)" in student
    assert 'raise NotImplementedError("Exercise 2' not in student


def test_editing_a_saved_original_makes_check_name_every_stale_copy(tmp_path, capsys):
    course = copy_course(tmp_path)
    path = course / "solutions" / "02_dqn_cartpole.ipynb"
    original = "self.position += 1\n"
    edited = "self.position += 1  # one more transition\n"
    text = path.read_text()
    assert text.count(original.replace("\n", "\\n")) == 1  # ReplayMemory.add, lab 02's solution
    path.write_text(text.replace(original.replace("\n", "\\n"), edited.replace("\n", "\\n")))
    copying = [lab for lab, source in sources(course).items()
               if re.search(r"^#@from 02 import .*\bReplayMemory\b", source, re.MULTILINE)]
    assert copying == sorted(copying) and set(copying) >= {"03", "04", "05", "06"}

    assert build.main(["--check", "--root", str(course)]) == 1
    err = capsys.readouterr().err
    for lab in copying:
        name = next(p.name for p in (course / "solutions").glob(f"{lab}_*.ipynb"))
        assert f"stale: solutions/{name}" in err
        assert f"stale: notebooks/{name}" in err
        assert f"stale copy: solutions/{name}: its copy of lab 02's ReplayMemory differs" in err
    assert "stale: notebooks/02_dqn_cartpole.ipynb" in err
    assert "01_random_agent" not in err  # lab 01 copies nothing from lab 02
    assert err.count("stale copy:") == len(copying)

    assert build.main(["--root", str(course)]) == 0
    assert build.main(["--check", "--root", str(course)]) == 0
    for lab in copying:
        assert "self.position += 1  # one more transition" in sources(course)[lab]


def two_labs(tmp_path, saving, copying):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "notebooks").mkdir()
    for name, cells in (("07_saves.ipynb", saving), ("08_copies.ipynb", copying)):
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        nbformat.write(nb, tmp_path / "solutions" / name)
    return tmp_path


SAVED = [markdown("## 3. Helpers"),
         code("#@save\ndef f(x):\n    ### YOUR CODE HERE ### Exercise 7.1: write f\n"
              "    # HINT: double it\n    return 2 * x\n    ### END ###\n\n\n"
              "#@save\n@dataclass\nclass Config:\n    lr: float = 0.1")]


def test_a_copy_is_the_solution_under_a_heading_and_can_be_renamed(tmp_path):
    course = two_labs(tmp_path, SAVED, [code("#@from 07 import f, Config as Lab07Config\n")])
    assert build.main(["--root", str(course)]) == 0
    nb = nbformat.read(course / "solutions" / "08_copies.ipynb", 4)
    assert nb.cells[-1].source == (
        "#@from 07 import f, Config as Lab07Config\n"
        "# From lab 07: f (exercise 7.1; section 3, Helpers)\n"
        "def f(x):\n    return 2 * x\n\n\n"
        "# From lab 07: Config (section 3, Helpers; named Lab07Config here)\n"
        "@dataclass\nclass Lab07Config:\n    lr: float = 0.1")
    student = nbformat.read(course / "notebooks" / "08_copies.ipynb", 4)
    assert student.cells[-1].source == nb.cells[-1].source  # a copy is never a stub
    assert build.main(["--root", str(course)]) == 0
    assert build.stale(course) == []


@pytest.mark.parametrize("copying, message", [
    ([code("#@from 07 import g\n")], "lab 07 does not save g (it saves f, Config)"),
    ([code("#@from 08 import f\n")], "lab 08 copies from lab 08; a lab copies only from the labs"),
    ([code("x = 1\n#@from 07 import f")], "cell 0, line 2: #@from lines must start their cell"),
    ([code("#@from 7 import f\n")], "write '#@from NN import name, name as alias'"),
    ([code("#@from 07 import f g\n")], "'f g' is not a name"),
])
def test_broken_copies_are_refused(tmp_path, capsys, copying, message):
    course = two_labs(tmp_path, SAVED, copying)
    assert build.main(["--root", str(course)]) == 2
    err = capsys.readouterr().err
    assert "solutions/08_copies.ipynb" in err and message in err
    assert list((course / "notebooks").iterdir()) == []


@pytest.mark.parametrize("cell, message", [
    (code("#@save\n\ndef f():\n    pass"), "line 1: #@save must stand alone, unindented, right above"),
    (code("#@save\nx = 1"), "line 1: #@save must stand alone"),
    (code("def f():\n    #@save\n    pass"), "line 2: #@save must stand alone"),
    (code("#@save\ndef f():\n    pass\n\n\n#@save\ndef f():\n    pass"), "f is saved twice"),
    (markdown("Mark it so:\n#@save"), "line 2: #@save belongs in a code cell"),
])
def test_broken_save_markers_are_refused(tmp_path, capsys, cell, message):
    course = two_labs(tmp_path, [cell], [code("x = 1")])
    assert build.main(["--root", str(course)]) == 2
    err = capsys.readouterr().err
    assert "solutions/07_saves.ipynb, cell 0" in err and message in err
