"""Environments and seeding (introduced in lab 01)."""

from __future__ import annotations

import difflib
import random

import gymnasium as gym
import numpy as np
import torch


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch so that a run can be repeated.

    >>> set_seed(7)
    >>> first = (random.random(), np.random.rand(), torch.rand(1).item())
    >>> set_seed(7)
    >>> first == (random.random(), np.random.rand(), torch.rand(1).item())
    True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def check_env_id(env_id: str) -> None:
    """Raise a ``ValueError`` naming close matches when ``env_id`` is not registered."""
    if isinstance(env_id, str) and env_id.startswith("ALE/"):
        import ale_py  # the Atari environments register themselves on import

        gym.register_envs(ale_py)
    if isinstance(env_id, str) and env_id.startswith("MinAtar/") and env_id not in gym.registry:
        import minatar.gym  # gymnasium does not load MinAtar's entry points by itself

        minatar.gym.register_envs()
    if not isinstance(env_id, str) or env_id not in gym.registry:
        close = difflib.get_close_matches(str(env_id), list(gym.registry), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown environment id {env_id!r}.{hint}")


def make_env(env_id: str, seed: int | None = None, render_mode: str | None = None,
             **kwargs) -> gym.Env:
    """Make a gymnasium environment, seeded so that its episodes can be repeated.

    The environment is reset once with ``seed`` (that is how gymnasium seeds it), and its
    action and observation spaces are seeded too, so ``env.action_space.sample()`` repeats.
    Call ``env.reset()`` (no seed) to start each episode.

    Args:
        env_id: a registered id such as ``"CartPole-v1"`` or ``"ALE/Breakout-v5"``.
        seed: the seed, or None for a random one.
        render_mode: ``"rgb_array"`` to get frames from ``env.render()`` (no screen needed).
        **kwargs: passed on to ``gymnasium.make``.

    >>> env = make_env("CartPole-v1", seed=0)
    >>> env.observation_space.shape, env.action_space
    ((4,), Discrete(2))
    >>> env.close()
    >>> make_env("CartPole-v2")
    Traceback (most recent call last):
    ...
    ValueError: Unknown environment id 'CartPole-v2'. Did you mean 'CartPole-v1', ...?
    """
    check_env_id(env_id)
    env = gym.make(env_id, render_mode=render_mode, **kwargs)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    env.observation_space.seed(seed)
    return env


# MinAtar (lab 05): Atari games on a 10x10 grid of a few binary channels (Young and Tian, 2019)

MINATAR_MAX_STEPS = 5_000  # MinAtar has no time limit: a good agent's game would never end

# Each channel of a MinAtar game and its colour, in the order they are painted (a later channel
# covers an earlier one where both are set). Breakout's channels, as minatar/environments/
# breakout.py numbers them: 0 paddle, 1 ball, 2 trail (where the ball was a step ago), 3 brick.
MINATAR_COLOURS = {
    "breakout": [(3, (214, 92, 64)), (2, (110, 110, 40)), (0, (80, 170, 255)),
                 (1, (255, 236, 120))],
}
MINATAR_BACKGROUND, MINATAR_GRID = (12, 12, 20), (40, 40, 52)


def minatar_frame(state: np.ndarray, game: str = "breakout", scale: int = 16) -> np.ndarray:
    """Colour a MinAtar grid, channel by channel, and scale it up: an ``(H, W, 3)`` uint8 image.

    ``state`` is the game's ``(10, 10, C)`` grid (bool, as MinAtar gives it) or a ``(C, 10, 10)``
    observation of ``make_minatar``. Each cell becomes a ``scale`` x ``scale`` square with a
    one-pixel grid line, in its channel's colour (``MINATAR_COLOURS``; a grey ramp for games
    not listed there).

    >>> state = np.zeros((10, 10, 4), dtype=bool)
    >>> state[9, 4, 0] = state[3, 0, 1] = True  # Breakout's paddle, its ball
    >>> frame = minatar_frame(state, scale=8)
    >>> frame.shape, frame.dtype, frame[9 * 8 + 4, 4 * 8 + 4].tolist(), frame[28, 4].tolist()
    ((80, 80, 3), dtype('uint8'), [80, 170, 255], [255, 236, 120])
    """
    state = np.asarray(state, dtype=bool)
    if state.ndim != 3:
        raise ValueError(f"a MinAtar state is (10, 10, C) or (C, 10, 10), got shape {state.shape}")
    if state.shape[0] < state.shape[-1]:  # channels first (an observation): channels last
        state = np.moveaxis(state, 0, -1)
    n_channels = state.shape[-1]
    order = MINATAR_COLOURS.get(game.lower())
    if order is None or len(order) != n_channels:
        order = [(c, (int(255 * (c + 1) / n_channels),) * 3) for c in range(n_channels)]
    image = np.empty((*state.shape[:2], 3), dtype=np.uint8)
    image[:] = MINATAR_BACKGROUND
    for channel, colour in order:
        image[state[:, :, channel]] = colour
    image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    if scale >= 4:
        image[::scale], image[:, ::scale] = MINATAR_GRID, MINATAR_GRID
    return image


class MinAtarObservation(gym.ObservationWrapper):
    """MinAtar's ``(10, 10, C)`` bool grid as a ``(C, 10, 10)`` float32 array of 0s and 1s.

    Channels come first, as torch's convolutions want them. ``render()`` (with
    ``render_mode="rgb_array"``) returns the grid coloured by ``minatar_frame``, not MinAtar's
    own 10x10 image of floats.
    """

    def __init__(self, env: gym.Env, scale: int = 16):
        super().__init__(env)
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (channels, height, width), np.float32)
        self.scale = scale

    def observation(self, obs):
        return np.moveaxis(np.asarray(obs), -1, 0).astype(np.float32)

    def render(self):
        if self.render_mode != "rgb_array":
            return self.env.render()
        game = self.env.unwrapped.game
        return minatar_frame(game.state(), game.game_name(), self.scale)


def make_minatar(game: str = "Breakout", seed: int | None = None,
                 render_mode: str | None = None, sticky_actions: float = 0.1,
                 max_episode_steps: int = MINATAR_MAX_STEPS, scale: int = 16) -> gym.Env:
    """A MinAtar game (``MinAtar/<Game>-v1``: the minimal action set), seeded like ``make_env``.

    Observations are ``(C, 10, 10)`` float32 arrays of 0s and 1s (``MinAtarObservation``); an
    episode is truncated after ``max_episode_steps`` steps (``TimeLimit``: MinAtar has no
    limit of its own); ``sticky_actions`` is the probability that the previous action is
    repeated instead of the chosen one (MinAtar's default, 0.1).

    >>> env = make_minatar("Breakout", seed=0)
    >>> env.observation_space.shape, env.observation_space.dtype, env.action_space
    ((4, 10, 10), dtype('float32'), Discrete(3))
    >>> _ = env.close()
    """
    env_id = f"MinAtar/{game}-v1"
    check_env_id(env_id)  # registers the MinAtar environments
    env = gym.make(env_id, render_mode=render_mode, sticky_action_prob=sticky_actions,
                   max_episode_steps=max_episode_steps, disable_env_checker=True)
    env = MinAtarObservation(env, scale=scale)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    env.observation_space.seed(seed)
    return env
