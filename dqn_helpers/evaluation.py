"""Evaluate a policy over many episodes (introduced in lab 01, used by every lab)."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch

from dqn_helpers.envs import check_env_id

EnvSpec = str | Callable[[], gym.Env]


def _make(env: EnvSpec) -> gym.Env:
    if callable(env):
        made = env()
        if not isinstance(made, gym.Env):
            raise TypeError(f"the environment factory returned {type(made).__name__}, "
                            "expected a gymnasium.Env")
        return made
    check_env_id(env)
    return gym.make(env)


def _check_episodes(episodes: int) -> None:
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes <= 0:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")


def evaluate(policy: Callable[[Any], Any] | torch.nn.Module, env_id: EnvSpec,
             episodes: int = 100, seed: int = 0, epsilon: float = 0.0,
             max_steps: int | None = None) -> np.ndarray:
    """Return the undiscounted return of each of ``episodes`` episodes, as a float array.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``, so two calls with the same seed
    play the same episodes.

    Args:
        policy: either a function ``obs -> action``, or a Q-network (a ``torch.nn.Module``
            mapping a batch of observations to one Q-value per action), which is played
            greedily (``argmax_a Q(s, a)``), or epsilon-greedily if ``epsilon > 0``. A
            Q-network plays all episodes in lockstep with one batched forward pass per step;
            CartPole-v1's episodes are then stepped together by gymnasium's vector env (one
            array operation a step, the same returns as one env per episode, about 10 times
            faster).
        env_id: a registered id such as ``"CartPole-v1"``, or a function that makes the env.
        episodes: how many episodes (> 0).
        seed: seed of the first episode.
        epsilon: probability of a random action, for a Q-network only.
        max_steps: stop an episode after this many steps (None: the env's own time limit).

    A policy that always pushes the cart left, then one that pushes it the way the pole leans
    (``obs[2]`` is the pole's angle), on the same five episodes:

    >>> evaluate(lambda obs: 0, "CartPole-v1", episodes=5).tolist()
    [11.0, 10.0, 9.0, 9.0, 8.0]
    >>> evaluate(lambda obs: int(obs[2] > 0), "CartPole-v1", episodes=5).tolist()
    [41.0, 51.0, 35.0, 36.0, 25.0]

    The same policy as a Q-network (Q(s, left) = 0, Q(s, right) = the angle), played greedily:

    >>> q_network = torch.nn.Linear(4, 2)
    >>> with torch.no_grad():
    ...     _ = q_network.weight.zero_(), q_network.bias.zero_()
    ...     q_network.weight[1, 2] = 1.0
    >>> evaluate(q_network, "CartPole-v1", episodes=5).tolist()
    [41.0, 51.0, 35.0, 36.0, 25.0]
    """
    _check_episodes(episodes)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
    if isinstance(policy, torch.nn.Module):
        return _evaluate_q_network(policy, env_id, int(episodes), seed, epsilon, max_steps)
    if not callable(policy):
        raise TypeError(f"policy must be a function obs -> action or a torch.nn.Module, "
                        f"got {type(policy).__name__}")
    env = _make(env_id)
    returns = np.zeros(episodes)
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            steps, done = 0, False
            while not done:
                action = policy(obs)
                if not env.action_space.contains(action):
                    raise ValueError(
                        f"the policy returned {action!r} (type {type(action).__name__}); "
                        f"expected an action in {env.action_space}")
                obs, reward, terminated, truncated, _ = env.step(action)
                returns[i] += float(reward)
                steps += 1
                done = terminated or truncated or (max_steps is not None and steps >= max_steps)
    finally:
        env.close()
    return returns


# Environments that gymnasium steps as one array for many episodes (its vector API), and how
# to start each sub-environment in the state that ``env.reset(seed=s)`` gives the single env
# (the vector env's own reset draws every start from one generator: other episodes).
VECTORISED = {"CartPole-v1": "state"}


class _OneByOne:
    """``episodes`` single environments behind the vector API's ``step(actions)``."""

    def __init__(self, env_id: EnvSpec, episodes: int, seed: int):
        self.envs = [_make(env_id) for _ in range(episodes)]
        self.action_space = self.envs[0].action_space
        self.obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)])

    def step(self, actions: np.ndarray, running: np.ndarray):
        rewards = np.zeros(len(self.envs))
        over = np.zeros(len(self.envs), dtype=bool)
        for i in running:
            self.obs[i], rewards[i], terminated, truncated, _ = self.envs[i].step(int(actions[i]))
            over[i] = terminated or truncated
        return self.obs, rewards, over

    def close(self):
        for env in self.envs:
            env.close()


class _Vectorised:
    """gymnasium's vector env for ``env_id``, each sub-env started as ``reset(seed=seed + i)``."""

    def __init__(self, env_id: str, episodes: int, seed: int):
        single = gym.make(env_id)
        attribute = VECTORISED[env_id]
        starts = [(single.reset(seed=seed + i)[0], getattr(single.unwrapped, attribute))
                  for i in range(episodes)]
        self.action_space = single.action_space
        single.close()
        self.vec = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="vector_entry_point")
        self.vec.reset(seed=seed)
        # the vector env holds one column per sub-env; its reset's own draws are overwritten
        setattr(self.vec.unwrapped, attribute, np.stack([state for _, state in starts], axis=-1))
        self.obs = np.stack([obs for obs, _ in starts])

    def step(self, actions: np.ndarray, running: np.ndarray):
        # Every sub-env steps (one array operation for all); those whose episode is over
        # restart by themselves, and the caller ignores them.
        self.obs, rewards, terminated, truncated, _ = self.vec.step(actions)
        return self.obs, rewards, terminated | truncated

    def close(self):
        self.vec.close()


@torch.no_grad()
def _evaluate_q_network(q_network: torch.nn.Module, env_id: EnvSpec, episodes: int, seed: int,
                        epsilon: float, max_steps: int | None) -> np.ndarray:
    if isinstance(env_id, str) and env_id in VECTORISED:
        envs = _Vectorised(env_id, episodes, seed)
    else:
        envs = _OneByOne(env_id, episodes, seed)
    if not isinstance(envs.action_space, gym.spaces.Discrete):
        envs.close()
        raise ValueError(f"a Q-network needs a discrete action space, got {envs.action_space}")
    n_actions = int(envs.action_space.n)
    device = next(q_network.parameters()).device
    rng = np.random.default_rng(seed)
    was_training = q_network.training
    q_network.eval()
    returns = np.zeros(episodes)
    steps = np.zeros(episodes, dtype=int)
    running = np.arange(episodes)  # the episodes still being played, in order
    actions = np.zeros(episodes, dtype=np.int64)
    try:
        while len(running):
            # one forward pass for the running episodes only: the batch, and so each Q-value
            # to the last bit, is the same whichever way the environments are stepped
            batch = torch.as_tensor(envs.obs[running], dtype=torch.float32, device=device)
            q_values = q_network(batch)
            if q_values.shape != (len(running), n_actions):
                raise ValueError(f"the Q-network returned shape {tuple(q_values.shape)} for a "
                                 f"batch of {len(running)} observations; expected "
                                 f"({len(running)}, {n_actions}): one Q-value per action")
            chosen = q_values.argmax(dim=1).cpu().numpy()
            if epsilon > 0:
                explore = rng.random(len(running)) < epsilon
                chosen[explore] = rng.integers(n_actions, size=int(explore.sum()))
            actions[running] = chosen
            _, rewards, over = envs.step(actions, running)
            returns[running] += rewards[running]
            steps[running] += 1
            if max_steps is not None:
                over = over | (steps >= max_steps)
            running = running[~over[running]]
    finally:
        q_network.train(was_training)
        envs.close()
    return returns


def solved(q_network: torch.nn.Module, env_id: EnvSpec, threshold: float, seed: int,
           episodes: int = 100, screen_episodes: int = 10) -> tuple[bool, float]:
    """The periodic evaluation of a training run: is the greedy mean over ``episodes`` >= threshold?

    A cheap screen of ``screen_episodes`` episodes runs first; only when its mean reaches the
    threshold are the full ``episodes`` played, and the verdict rests on those alone. Returns
    ``(solved, mean)``, where ``mean`` is the full mean when it was played, else the screen's.
    """
    screen = evaluate(q_network, env_id, episodes=screen_episodes, seed=seed)
    if screen.mean() < threshold:
        return False, float(screen.mean())
    full = evaluate(q_network, env_id, episodes=episodes, seed=seed + screen_episodes)
    return bool(full.mean() >= threshold), float(full.mean())
