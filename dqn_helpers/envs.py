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
