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
    assert len(figure.axes) == 2 * (ex.N_STRIP + 1)  # two strips of frames, two curves


def test_explore_needs_a_record_and_matching_titles():
    with pytest.raises(ValueError):
        explore(show=False)
    with pytest.raises(ValueError, match="titles"):
        explore(scripted(), titles=["a", "b"], show=False)


def test_frame_stride_keeps_every_other_pixel():
    full, half = cartpole_record(max_steps=3), cartpole_record(max_steps=3, frame_stride=2)
    np.testing.assert_array_equal(half.frames, full.frames[:, ::2, ::2])
    assert half.frames.flags["C_CONTIGUOUS"]  # not a view that keeps the full frames alive
