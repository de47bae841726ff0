"""MinAtar Breakout (lab 05, Part 1): env making, the coloured frames of its videos."""

import gymnasium as gym
import numpy as np
import pytest

from dqn_helpers import video
from dqn_helpers.envs import (
    MINATAR_BACKGROUND,
    MINATAR_COLOURS,
    MINATAR_GRID,
    make_minatar,
    minatar_frame,
)

PADDLE, BALL, TRAIL, BRICK = 0, 1, 2, 3  # Breakout's channels, as MinAtar numbers them
COLOUR = dict(MINATAR_COLOURS["breakout"])


def test_observations_are_float_channels_first_copies_of_the_bool_grid():
    env = make_minatar("Breakout", seed=0)
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (4, 10, 10), np.float32)
    assert env.action_space == gym.spaces.Discrete(3)
    obs, _ = env.reset(seed=0)
    for action in (0, 1, 2, 2):
        state = env.unwrapped.game.state()  # MinAtar's own (10, 10, 4) bool grid
        assert state.dtype == bool and obs.dtype == np.float32 and obs.shape == (4, 10, 10)
        assert set(np.unique(obs)) <= {0.0, 1.0}
        np.testing.assert_array_equal(obs, np.moveaxis(state, -1, 0).astype(np.float32))
        obs, *_ = env.step(action)
    assert obs[PADDLE].sum() == 1 and obs[BALL].sum() == 1 and obs[BRICK].sum() == 30
    env.close()


def test_the_same_seed_plays_the_same_game():
    def game(seed):
        env = make_minatar("Breakout", seed=seed)
        obs, _ = env.reset(seed=seed)
        seen = [obs]
        for action in [0, 1, 2] * 10:
            obs, _, terminated, truncated, _ = env.step(action)
            seen.append(obs)
            if terminated or truncated:
                break
        env.close()
        return np.stack(seen)

    np.testing.assert_array_equal(game(3), game(3))
    assert any(not np.array_equal(game(3)[:5], game(s)[:5]) for s in (4, 5, 6, 7))  # ball start


def test_a_time_limit_truncates_a_game_that_is_not_lost():
    env = make_minatar("Breakout", seed=0, max_episode_steps=4)
    env.reset(seed=0)
    ends = [env.step(0)[2:4] for _ in range(4)]  # the ball needs 6 steps to reach the bottom
    assert ends == [(False, False)] * 3 + [(False, True)]  # truncated, not terminated
    env.close()


def test_a_lost_ball_terminates_the_game():
    env = make_minatar("Breakout", seed=0, sticky_actions=0.0)
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated) and steps < 100:
        _, reward, terminated, truncated, _ = env.step(0)  # the paddle never moves
        steps += 1
    assert terminated and not truncated and steps < 100
    env.close()


def test_the_default_time_limit_is_the_labs():
    env = make_minatar("Breakout")
    assert env.spec.max_episode_steps == 5_000
    env.close()


def test_frame_colours_each_channel_and_scales_up():
    state = np.zeros((10, 10, 4), dtype=bool)
    state[9, 4, PADDLE] = True
    state[5, 6, BALL] = True
    state[4, 5, TRAIL] = True
    state[1:4, :, BRICK] = True
    frame = minatar_frame(state, scale=12)
    assert frame.shape == (120, 120, 3) and frame.dtype == np.uint8

    def cell(row, column):  # the colour inside a cell, away from its grid line
        return tuple(frame[row * 12 + 6, column * 12 + 6])

    assert cell(9, 4) == COLOUR[PADDLE]
    assert cell(5, 6) == COLOUR[BALL]
    assert cell(4, 5) == COLOUR[TRAIL]
    assert cell(2, 7) == COLOUR[BRICK]
    assert cell(0, 0) == MINATAR_BACKGROUND == cell(7, 3)
    assert tuple(frame[12, 30]) == MINATAR_GRID == tuple(frame[30, 24])  # grid lines
    assert len({COLOUR[c] for c in range(4)} | {MINATAR_BACKGROUND}) == 5  # all distinct
    state[5, 6, TRAIL] = True  # where both are set, the ball is drawn over the trail
    assert tuple(minatar_frame(state, scale=12)[66, 78]) == COLOUR[BALL]


def test_frame_takes_an_observation_or_the_grid():
    env = make_minatar("Breakout", seed=1)
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(minatar_frame(obs), minatar_frame(env.unwrapped.game.state()))
    env.close()
    with pytest.raises(ValueError, match="10, 10, C"):
        minatar_frame(np.zeros((10, 10)))


def test_render_and_a_recorded_video_show_the_coloured_grid():
    env = make_minatar("Breakout", seed=2, render_mode="rgb_array", scale=8)
    env.reset(seed=2)
    image = env.render()
    np.testing.assert_array_equal(image, minatar_frame(env.unwrapped.game.state(), scale=8))
    env.close()
    frames = video.record_episode(lambda obs: 0, lambda: make_minatar(
        "Breakout", render_mode="rgb_array", sticky_actions=0.0), seed=2, max_steps=50)
    assert 2 <= len(frames) <= 51 and frames[0].shape == (160, 160, 3)
    colours = {tuple(c) for c in np.concatenate([f.reshape(-1, 3) for f in frames])}
    assert {COLOUR[PADDLE], COLOUR[BALL], COLOUR[TRAIL], COLOUR[BRICK]} <= colours
    both = video.side_by_side(frames, frames[:3])
    assert both[0].shape == (160, 328, 3) and len(both) == len(frames)
