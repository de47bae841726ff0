"""Importing the package is cheap: torch, gymnasium and matplotlib load only where they are used.

``python -m dqn_helpers.build`` only transforms notebook text, so it must run on a machine that
has none of them (a CI job that checks the notebooks, a maintainer's bare Python), and
``import dqn_helpers`` must not pay seconds for torch. Each test runs in a fresh interpreter,
since this one has long imported everything.
"""

import json
import os
import subprocess
import sys
import textwrap

from .conftest import ROOT

HEAVY = ("torch", "gymnasium", "matplotlib")
# numpy too: the build reads and writes notebooks with nbformat and the standard library only
BLOCKED = (*HEAVY, "numpy")

# Run first in a blocked interpreter: ``sys.modules[name] = None`` makes ``import name`` (and
# ``import name.sub``) raise ImportError, as if it were not installed.
BLOCK = "import sys\nfor _name in {names!r}:\n    sys.modules[_name] = None\n"

# Run last: report which of the watched modules (or their submodules) were really imported.
REPORT = """
import json, sys
print(json.dumps(sorted({{name.split(".")[0] for name, module in sys.modules.items()
                         if module is not None and name.split(".")[0] in {names!r}}})))
"""


def python(code: str, blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports this checkout's ``dqn_helpers``."""
    source = (BLOCK.format(names=blocked) if blocked else "") + textwrap.dedent(code)
    source += REPORT.format(names=BLOCKED)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", source], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def imported(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


BUILD_CHECK = f"""
import runpy
import sys
sys.argv = ["python -m dqn_helpers.build", "--check", "--root", {str(ROOT)!r}]
try:
    runpy.run_module("dqn_helpers.build", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    if stop.code not in (0, None):
        raise
import dqn_helpers
assert dqn_helpers.__file__.startswith({str(ROOT)!r}), dqn_helpers.__file__
"""


def test_build_check_runs_without_torch_gymnasium_matplotlib_or_numpy():
    result = python(BUILD_CHECK, blocked=BLOCKED)
    assert imported(result) == []
    assert "up to date" in result.stdout


def test_build_check_does_not_even_try_the_heavy_modules():
    # unblocked: an optional ``try: import numpy`` on the way would show up here
    assert imported(python(BUILD_CHECK)) == []


def test_importing_the_package_imports_none_of_them():
    result = python("""
        import os
        import dqn_helpers
        assert os.environ["SDL_VIDEODRIVER"] == "dummy"  # set before pygame can be imported
        assert {"make_env", "set_seed", "evaluate", "REPO", "BRANCH"} <= set(dir(dqn_helpers))
        assert set(dqn_helpers.__all__) <= set(dir(dqn_helpers))
        """)
    assert imported(result) == []


def test_the_package_imports_without_them():
    result = python("""
        import dqn_helpers
        from dqn_helpers import BRANCH, REPO
        try:
            from dqn_helpers import make_env
        except ImportError:
            pass  # needs gymnasium, which is blocked: an ImportError, on use
        else:
            raise AssertionError("make_env imported without gymnasium")
        try:
            dqn_helpers.not_a_name
        except AttributeError as error:
            assert "not_a_name" in str(error)
        else:
            raise AssertionError("an unknown name did not raise AttributeError")
        """, blocked=HEAVY)
    assert imported(result) == []


def test_the_lazy_names_still_import_from_the_package():
    result = python("""
        from dqn_helpers import evaluate, make_env, set_seed
        import dqn_helpers.envs
        import dqn_helpers.evaluation
        assert make_env is dqn_helpers.envs.make_env
        assert set_seed is dqn_helpers.envs.set_seed
        assert evaluate is dqn_helpers.evaluation.evaluate
        set_seed(0)
        env = make_env("CartPole-v1", seed=0)
        assert env.observation_space.shape == (4,)
        env.close()
        from dqn_helpers import *  # the lazy names are in __all__
        """)
    assert {"torch", "gymnasium"} <= set(imported(result))
