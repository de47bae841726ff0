"""Lab 04's and lab 05's environments follow gymnasium's conventions: its check_env passes."""

import sys
import types
import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from dqn_helpers.notebook import load_definitions

from .conftest import solution


def notebook_module(lab: str, monkeypatch) -> types.ModuleType:
    """A solution notebook's definitions, in a module that Python can import by its name.

    check_env remakes the env from ``env.spec``, which names each wrapper by its module and
    class. In Jupyter the notebook's classes live in ``__main__``; here, in this module.
    """
    module = types.ModuleType(f"lab{lab}_solution")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    load_definitions(solution(lab), module.__dict__)
    return module


@pytest.mark.parametrize("lab, make, kwargs", [
    ("04", "make_pixel_env", {}),
    ("05", "make_breakout", {}),
    ("05", "make_breakout", {"render_mode": "rgb_array"}),  # as the lab records its video
], ids=["lab04-pixels", "lab05-breakout", "lab05-breakout-rgb_array"])
def test_check_env_passes(lab, make, kwargs, monkeypatch):
    env = getattr(notebook_module(lab, monkeypatch), make)(**kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(env)
        finally:
            env.close()
    # check_env always warns that it is given a wrapped env: these are wrapped on purpose
    others = [str(w.message) for w in caught
              if "is different from the unwrapped version" not in str(w.message)]
    assert others == []
