"""The episode explorer (lab 02): its numbers, its recording and its widget, all headless.

The widget is built without a front end (ipywidgets models work without one): the test moves
the slider as a student would and reads what the explorer shows, against values computed here.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

from dqn_helpers import explorer as ex
from dqn_helpers.explorer import EpisodeRecord, explore, record_episode

GAMMA = 0.9


def scripted(n_steps: int = 5, seed: int = 0) -> EpisodeRecord:
    """An episode with known Q-values, actions and rewards; frames differ from step to step."""
    rng = np.random.default_rng(seed)
    frames = np.stack([np.full((8, 10, 3), t % 256, np.uint8) for t in range(n_steps)])
    return EpisodeRecord(frames=frames,
                         q_values=rng.normal(size=(n_steps, 3)).astype(np.float32) * 5,
                         actions=rng.integers(3, size=n_steps), explored=rng.random(n_steps) < 0.3,
                         rewards=rng.normal(size=n_steps).astype(np.float32), gamma=GAMMA,
                         action_names=["left", "noop", "right"],
                         extras={"V": rng.normal(size=n_steps).astype(np.float32),
                                 "A": rng.normal(size=(n_steps, 3)).astype(np.float32),
                                 "stack": rng.integers(0, 255, (n_steps, 4, 6, 6), np.uint8)})


def test_returns_to_go_and_overestimation_on_known_values():
    record = EpisodeRecord(frames=np.zeros((3, 2, 2, 3), np.uint8),
                           q_values=np.array([[5.0, 1.0], [0.0, 3.0], [2.0, -1.0]], np.float32),
                           actions=np.array([0, 1, 0]), explored=np.zeros(3, bool),
                           rewards=np.array([1.0, 2.0, 4.0], np.float32), gamma=0.5)
    # G_2 = 4, G_1 = 2 + 0.5 * 4 = 4, G_0 = 1 + 0.5 * 4 = 3
    np.testing.assert_allclose(record.returns_to_go(), [3.0, 4.0, 4.0])
    np.testing.assert_allclose(record.overestimation(), [5.0 - 3.0, 3.0 - 4.0, 2.0 - 4.0])
    assert record.action_names == ["0", "1"]  # named by index when not given


def test_returns_to_go_matches_the_sum_of_discounted_rewards():
    record = scripted(n_steps=12)
    rewards = record.rewards.astype(np.float64)
    expected = [sum(GAMMA ** k * r for k, r in enumerate(rewards[t:])) for t in range(12)]
    np.testing.assert_allclose(record.returns_to_go(), expected, rtol=1e-5, atol=1e-5)


def tiny_network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def cartpole_record(**kwargs) -> EpisodeRecord:
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    try:
        return record_episode(tiny_network(), env, seed=3, **kwargs)
    finally:
        env.close()


def test_record_episode_on_cartpole_is_greedy_and_consistent():
    record = cartpole_record(action_names=["left", "right"])
    T = len(record)
    assert T >= 1
    assert record.frames.shape[0] == T and record.frames.shape[3] == 3
    assert record.frames.dtype == np.uint8
    assert record.q_values.shape == (T, 2) and record.q_values.dtype == np.float32
    assert record.actions.shape == record.explored.shape == record.rewards.shape == (T,)
    assert record.actions.dtype == np.int64 and record.explored.dtype == bool
    np.testing.assert_array_equal(record.actions, record.q_values.argmax(axis=1))
    assert not record.explored.any()
    np.testing.assert_array_equal(record.rewards, np.ones(T))  # CartPole pays 1 per step
    assert record.action_names == ["left", "right"] and record.gamma == 0.99
    # seeded: the same episode again
    again = cartpole_record(action_names=["left", "right"])
    np.testing.assert_array_equal(again.actions, record.actions)
    np.testing.assert_allclose(again.q_values, record.q_values)


def test_record_episode_explores_with_epsilon_and_keeps_extras():
    record = cartpole_record(epsilon=1.0, max_steps=20,
                             extras=lambda net, obs: {"V": np.float32(obs[0]),
                                                      "stack": np.zeros((2, 3, 3), np.uint8)})
    assert len(record) <= 20 and record.explored.all()
    assert record.extras["V"].shape == (len(record),)
    assert record.extras["stack"].shape == (len(record), 2, 3, 3)


def test_record_episode_refuses_an_env_that_does_not_render_frames():
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="rgb_array"):
        record_episode(tiny_network(), env)
    env.close()


def expected_at(record: EpisodeRecord, t: int) -> dict:
    """What the explorer must show at step t, computed from the definitions."""
    g = sum(record.gamma ** k * float(r) for k, r in enumerate(record.rewards[t:]))
    return {"step": t, "action": int(record.actions[t]), "explored": bool(record.explored[t]),
            "reward": float(record.rewards[t]), "max_q": float(np.max(record.q_values[t])),
            "return_to_go": g, "overestimation": float(np.max(record.q_values[t])) - g}


@pytest.fixture
def widgets(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.delenv("DQN_LABS_HEADLESS", raising=False)
    monkeypatch.setattr(ex, "widgets_available", lambda: True)  # as if in a kernel


@pytest.mark.parametrize("k", [0, 3, 6])
def test_the_widget_shows_step_k(widgets, k):
    records = [scripted(n_steps=7), scripted(n_steps=4, seed=1)]
    explorer = explore(*records, titles=["long", "short"], show=False)
    assert isinstance(explorer, ex.Explorer)
    explorer.step.value = k
    assert explorer.play.max == explorer.step.max == 6
    for i, record in enumerate(records):
        t = min(k, len(record) - 1)  # the shorter episode holds its last step
        shown, expected = explorer.shown(i), expected_at(record, t)
        for name, value in expected.items():
            assert shown[name] == pytest.approx(value, rel=1e-5, abs=1e-5), name
        assert shown["q_values"] == pytest.approx(record.q_values[t].tolist())
        assert shown["A"] == pytest.approx(record.extras["A"][t].tolist())
        # what is on screen: the frame of step t, its numbers and the chosen action's name
        assert explorer.images[i].value == ex._png(record.frames[t])
        html = explorer.panels[i].value
        assert f"step <b>{t}</b>" in html and record.action_names[record.actions[t]] in html
        assert f"G_t = {expected['return_to_go']:.2f}" in html
        assert f"{expected['overestimation']:+.2f}" in html
        assert ("explored (random)" in html) == bool(record.explored[t])
        assert explorer.stacks[i].value  # the stacked frames a pixel network sees


def test_the_widget_opens_a_500_step_episode_quickly(widgets):
    import time

    record = scripted(n_steps=500)
    start = time.perf_counter()
    explorer = explore(record, show=False)
    assert time.perf_counter() - start < 2.0
    explorer.step.value = 499
    assert explorer.shown()["step"] == 499
    assert len(explorer._png_cache) <= 4  # frames are encoded when shown, not up front


def test_headless_gives_a_static_figure_and_no_widget(monkeypatch):
    import matplotlib.figure

    monkeypatch.setenv("DQN_LABS_HEADLESS", "1")
    built = []
    monkeypatch.setattr(ex, "Explorer", lambda *a, **k: built.append(a))
    figure = explore(scripted(), scripted(seed=1), titles=["a", "b"], show=False)
    assert isinstance(figure, matplotlib.figure.Figure) and built == []
    # each record: a strip of frames, a strip of stacks, max Q against G_t, and A
    assert len(figure.axes) == 2 * (2 * ex.N_STRIP + 2)


def plain(record: EpisodeRecord) -> EpisodeRecord:
    record.extras = {}
    return record


def axes_titled(figure, start: str) -> list:
    return [ax for ax in figure.axes if ax.get_title().startswith(start)]


def test_the_static_figure_of_a_plain_record_is_frames_and_curves():
    record = plain(scripted(n_steps=11))
    figure = ex.static_figure([record], ["plain"])
    assert len(figure.axes) == ex.N_STRIP + 1
    steps = np.linspace(0, 10, ex.N_STRIP).round().astype(int)
    for ax, t in zip(figure.axes, steps):  # the strip: the frames of evenly spaced steps
        assert ax.get_title() == f"t={t}: {record.action_names[record.actions[t]]}"
        np.testing.assert_array_equal(ax.images[0].get_array(), record.frames[t])
    (curves,) = axes_titled(figure, "plain: the gap")
    lines = {line.get_label(): line.get_ydata() for line in curves.get_lines()}
    assert sorted(lines) == ["G_t (return obtained)", "max_a Q(s_t, a)"]
    np.testing.assert_allclose(lines["max_a Q(s_t, a)"], record.q_values.max(axis=1))
    np.testing.assert_allclose(lines["G_t (return obtained)"], record.returns_to_go())


def test_the_static_figure_shows_the_stack_the_network_sees():
    record = scripted(n_steps=11)
    del record.extras["V"], record.extras["A"]
    figure = ex.static_figure([record], ["pixels"])
    stacks = [ax for ax in figure.axes if ax.images and ax.images[0].get_array().ndim == 2]
    steps = np.linspace(0, 10, ex.N_STRIP).round().astype(int)
    assert len(stacks) == ex.N_STRIP
    assert stacks[0].get_title() == "t=0: the stack it sees"
    for ax, t in zip(stacks, steps):  # the k frames of step t, oldest first, side by side
        shown = np.asarray(ax.images[0].get_array())
        k, h, w = record.extras["stack"][t].shape
        assert shown.shape == (h, k * w + 2 * (k - 1))
        for j in range(k):
            np.testing.assert_array_equal(shown[:, j * (w + 2): j * (w + 2) + w],
                                          record.extras["stack"][t][j])
    assert not axes_titled(figure, "pixels: the advantage")


def test_the_static_figure_shows_the_dueling_streams():
    record = scripted(n_steps=9)
    del record.extras["stack"]
    figure = ex.static_figure([record], ["dueling"])
    assert len(figure.axes) == ex.N_STRIP + 2  # no stack row; A beside the curves
    (curves,) = axes_titled(figure, "dueling: the gap")
    v_line = [line for line in curves.get_lines() if line.get_label().startswith("V(s_t)")]
    np.testing.assert_allclose(v_line[0].get_ydata(), record.extras["V"])
    (advantage,) = axes_titled(figure, "dueling: the advantage stream")
    lines = {line.get_label(): line.get_ydata() for line in advantage.get_lines()}
    assert sorted(lines) == [f"A(s_t, {name})" for name in sorted(record.action_names)]
    for a, name in enumerate(record.action_names):
        np.testing.assert_allclose(lines[f"A(s_t, {name})"], record.extras["A"][:, a])


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_the_widget_is_displayed_with_a_png_of_the_static_figure(widgets):
    import base64

    from IPython.core.formatters import DisplayFormatter

    explorer = explore(scripted(n_steps=7), plain(scripted(seed=1)), titles=["a", "b"],
                       show=False)
    data, _ = DisplayFormatter().format(explorer)  # what a kernel publishes for display()
    assert data[WIDGET_VIEW]["model_id"] == explorer.box.model_id
    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG") and png == explorer.png()
    assert "Episode explorer" in data["text/plain"]
    assert len(png) < 40_000  # small: a few frames and a curve per record


def test_explore_displays_the_bundle(widgets, monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    explorer = explore(plain(scripted()), show=True)
    assert shown == [(explorer,)]


def test_explore_needs_a_record_and_matching_titles():
    with pytest.raises(ValueError):
        explore(show=False)
    with pytest.raises(ValueError, match="titles"):
        explore(scripted(), titles=["a", "b"], show=False)


def test_frame_stride_keeps_every_other_pixel():
    full, half = cartpole_record(max_steps=3), cartpole_record(max_steps=3, frame_stride=2)
    np.testing.assert_array_equal(half.frames, full.frames[:, ::2, ::2])
    assert half.frames.flags["C_CONTIGUOUS"]  # not a view that keeps the full frames alive


NOTEBOOK = [
    "import numpy as np\nimport torch\n\nfrom dqn_helpers.explorer import EpisodeRecord, explore\n"
    "from dqn_helpers.landscape import landscape",
    "rng = np.random.default_rng(0)\n"
    "record = EpisodeRecord(frames=rng.integers(0, 255, (40, 20, 30, 3), np.uint8),\n"
    "                       q_values=rng.normal(size=(40, 2)).astype(np.float32),\n"
    "                       actions=rng.integers(2, size=40), explored=np.zeros(40, bool),\n"
    "                       rewards=np.ones(40, np.float32), gamma=0.9)\n"
    "explorer = explore(record, titles=['scripted'])",
    "torch.manual_seed(0)\n"
    "view = landscape([torch.nn.Linear(4, 2)], resolution=9)",
]


def test_a_page_without_widgets_shows_the_figures(tmp_path, monkeypatch):
    """Executed by nbclient (a kernel, no front end) and exported to HTML by nbconvert without
    the widget state, as JupyterLab saves a notebook by default: the page shows each view as
    its PNG (so would GitHub's viewer), never its one line of text."""
    import base64
    import re
    from pathlib import Path

    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbconvert")
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", root)  # the kernel imports this checkout's dqn_helpers
    monkeypatch.delenv("DQN_LABS_HEADLESS", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    nb.metadata.pop("widgets", None)  # nbclient keeps the state; JupyterLab's default does not
    pngs = []
    for cell in nb.cells[1:]:
        assert [o.output_type for o in cell.outputs] == ["display_data"], cell.outputs
        data = cell.outputs[0].data
        assert WIDGET_VIEW in data and "image/png" in data  # the widget and its picture
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
        pngs.append(data["image/png"])
    html, _ = HTMLExporter().from_notebook_node(nb)
    for png in pngs:
        assert re.search(f'<img [^>]*src="data:image/png;base64,{re.escape(png)}"', html)
    assert "VBox(children" not in html and "Episode explorer:" not in html
