"""The value landscape (dqn_helpers.landscape) and lab 02's tau knob, with tiny networks."""

from dataclasses import dataclass

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from dqn_helpers import landscape as ls

matplotlib.use("Agg")


@pytest.fixture
def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def test_grid_values_are_max_q_computed_one_by_one(net):
    fixed = (0.3, -0.5, 0.0, 0.0)
    grid = ls.value_grid(net, fixed=fixed, resolution=7)
    assert grid.values.shape == grid.greedy.shape == (7, 7)
    assert np.allclose(grid.xs, np.linspace(-0.21, 0.21, 7))  # pole angle, obs[2]
    assert np.allclose(grid.ys, np.linspace(-2.0, 2.0, 7))    # angular velocity, obs[3]
    for i, j in [(0, 0), (3, 5), (6, 1), (6, 6)]:
        obs = torch.tensor([[0.3, -0.5, grid.xs[j], grid.ys[i]]])
        q = net(obs)[0].detach()
        assert grid.values[i, j] == pytest.approx(q.max().item(), abs=1e-6)
        assert grid.greedy[i, j] == q.argmax().item()


def test_greedy_regions_match_argmax_for_other_dims():
    # Q(s, right) - Q(s, left) = obs[0]: push right exactly where the cart position is positive
    net = nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 0, 0, 0], [1.0, 0, 0, 0]]))
        net.bias.zero_()
    grid = ls.value_grid(net, dims=(0, 1), resolution=9)
    expected = (grid.xs > 0).astype(np.int64)[None, :].repeat(9, axis=0)
    assert np.array_equal(grid.greedy, expected)
    assert np.allclose(grid.values, np.maximum(grid.xs, 0)[None, :])


def test_static_fallback_headless(net, monkeypatch):
    monkeypatch.setenv("DQN_LABS_HEADLESS", "1")
    assert not ls.widgets_available()
    fig = ls.landscape({"before": net, "after": net}, resolution=11, show=False)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["before", "after"]
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["greedy: push left (0)",
                                                          "greedy: push right (1)"]
    assert "cart position = 0" in legend.get_title().get_text()


@dataclass
class TinyConfig:
    total_steps: int = 10
    tau: float = 0.01


def test_knob_run_adds_a_curve_labelled_by_tau():
    seen = []

    def train(cfg, show=True):
        seen.append((cfg.tau, cfg.total_steps, show))
        return None, {"episode_returns": np.array([9.0, 12.0, 30.0]),
                      "episode_ends": np.array([9, 21, 51])}

    knob = ls.TauKnob(train, TinyConfig())
    knob.run(0.1)
    fig = knob.run(1.0)
    assert seen == [(0.1, 10, False), (1.0, 10, False)]
    assert sorted(knob.runs) == [0.1, 1.0]
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["tau = 0.1", "tau = 1"]
    assert np.array_equal(fig.axes[0].get_lines()[0].get_xdata(), [9, 21, 51])


def test_widgets_redraw_and_train_when_driven(net, monkeypatch):
    # no widget front end here: build the widgets anyway and drive them as a user would
    monkeypatch.setattr(ls, "widgets_available", lambda: True)
    box = ls.landscape([net], resolution=5, show=False)
    position, velocity = box.children[0].children
    assert (position.description, velocity.description) == ("cart position", "cart velocity")
    position.value = 1.2  # redraws without error
    calls = []

    def train(cfg, show=True):
        calls.append(cfg.tau)
        return None, {"episode_returns": np.ones(3), "episode_ends": np.arange(3)}

    knob = ls.TauKnob(train, TinyConfig())
    slider, button, status = knob.widget().children[0].children
    slider.value = 0.3
    button.click()
    assert calls == [0.3] and list(knob.runs) == [0.3] and not button.disabled
    assert status.value.startswith("done")


def test_the_widget_is_displayed_with_a_png_of_its_first_figure(net, monkeypatch):
    import base64

    import IPython.display

    monkeypatch.setattr(ls, "widgets_available", lambda: True)
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append((a, k)))
    box = ls.landscape({"before": net, "after": net}, resolution=5, show=True)
    bundle, options = shown[-1][0][0], shown[-1][1]
    assert options == {"raw": True}
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == box.model_id
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert bundle["text/plain"].startswith("Value landscape of 2 network(s)")
