"""Labs too long for CI at full size run headless, top to bottom, with smaller parameters."""

import pytest

from dqn_helpers.metrics import read_metrics
from dqn_helpers.run import run

from .ci_parameters import CI_PARAMETERS
from .conftest import ROOT


@pytest.mark.parametrize("lab", sorted(CI_PARAMETERS))
def test_lab_runs_top_to_bottom_at_ci_size(lab, tmp_path):
    out = run(lab, seed=0, out=tmp_path / lab, params=CI_PARAMETERS[lab], root=ROOT)
    metrics = read_metrics(out)
    assert metrics["final_eval_episodes"] == CI_PARAMETERS[lab].get("EVAL_EPISODES", 100)
    assert metrics["env_steps"] <= CI_PARAMETERS[lab].get("TOTAL_STEPS", metrics["env_steps"])
