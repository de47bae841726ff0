"""Checks for lab 01: one episode, a random policy and the random baseline on CartPole."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dqn_helpers.checks._core import call, fail, fmt, passed, register


class ScriptedEnv(gym.Env):
    """A tiny env whose episodes are known in advance, to test an episode loop.

    The observation counts the steps taken; the reward is ``action + 1``. The episode
    terminates after ``terminate_at`` steps or is truncated after ``truncate_at`` steps.
    It refuses a step before ``reset`` or after the episode has ended.
    """

    def __init__(self, terminate_at: int | None = 5, truncate_at: int | None = None):
        self.observation_space = gym.spaces.Box(0.0, 1e6, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate_at, self.truncate_at = terminate_at, truncate_at
        self.t, self.done, self.resets = 0, True, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.done = 0, False
        self.resets += 1
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        if self.resets == 0:
            raise RuntimeError("env.step() was called before env.reset(): start each episode "
                               "with obs, info = env.reset()")
        if self.done:
            raise RuntimeError("env.step() was called after the episode ended: stop the loop "
                               "when terminated or truncated is True")
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        truncated = self.truncate_at is not None and self.t >= self.truncate_at
        self.done = terminated or truncated
        return np.array([float(self.t)], dtype=np.float32), float(action) + 1.0, terminated, \
            truncated, {}


@register("1.1")
def check_run_episode(run_episode) -> None:
    ex = "1.1"
    seen = []

    def policy(obs):
        seen.append(float(np.asarray(obs).ravel()[0]))
        return 1

    env = ScriptedEnv(terminate_at=5)
    shown = "run_episode(env, policy) on a 5-step test episode with reward 2 per step"
    result = call(ex, run_episode, env, policy, shown=shown)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(ex, f"{shown} should return a pair (episode_return, episode_length), got {result!r}")
    episode_return, length = result
    if env.resets != 1:
        fail(ex, f"{shown} called env.reset() {env.resets} times; call it once, at the start.")
    if seen != [0.0, 1.0, 2.0, 3.0, 4.0]:
        hint = (" The policy saw the first observation every step: set obs to what env.step() "
                "returns." if len(set(seen)) == 1 else "")
        fail(ex, f"the policy was given observations {seen}, expected [0, 1, 2, 3, 4].{hint}")
    if not np.isclose(float(episode_return), 10.0):
        fail(ex, f"{shown} returned episode_return={fmt(episode_return)}, expected 10.0 "
                 f"(5 steps x reward 2): add up every reward.")
    if int(length) != 5:
        fail(ex, f"{shown} returned episode_length={length!r}, expected 5.")
    env = ScriptedEnv(terminate_at=None, truncate_at=3)
    shown = "run_episode(env, policy) on an episode truncated by a time limit after 3 steps"
    episode_return, length = call(ex, run_episode, env, lambda obs: 0, shown=shown)
    if int(length) != 3 or not np.isclose(float(episode_return), 3.0):
        fail(ex, f"{shown} returned ({fmt(episode_return)}, {length!r}), expected (3.0, 3): an "
                 f"episode ends when terminated OR truncated is True.")
    passed(ex, "the loop resets once, follows the policy and stops at terminated or truncated")


@register("1.2")
def check_make_random_policy(make_random_policy) -> None:
    ex = "1.2"
    for n in (2, 3):
        space = gym.spaces.Discrete(n)
        space.seed(0)
        policy = call(ex, make_random_policy, space, shown=f"make_random_policy(Discrete({n}))")
        if not callable(policy):
            fail(ex, f"make_random_policy(Discrete({n})) should return a function obs -> action, "
                     f"got {type(policy).__name__}.")
        obs = np.zeros(4, dtype=np.float32)
        actions = [call(ex, policy, obs, shown="policy(obs)") for _ in range(300)]
        bad = [a for a in actions if not space.contains(a)]
        if bad:
            fail(ex, f"the policy returned {bad[0]!r}, which is not an action of Discrete({n}).")
        if set(int(a) for a in actions) != set(range(n)):
            fail(ex, f"over 300 calls the policy for Discrete({n}) returned only actions "
                     f"{sorted(set(int(a) for a in actions))}; sample from the action space "
                     f"(action_space.sample()) so every action can come up.")
        space.seed(0)
        again = [call(ex, policy, obs, shown="policy(obs)") for _ in range(300)]
        if [int(a) for a in again] != [int(a) for a in actions]:
            fail(ex, "after action_space.seed(0) the policy did not repeat its actions: draw "
                     "them with action_space.sample(), which the seed controls.")
    passed(ex, "uniformly random actions from the (seeded) action space")


@register("1.3")
def check_random_baseline(random_baseline) -> None:
    ex = "1.3"
    shown = "random_baseline('CartPole-v1', episodes=50, seed=0)"
    returns = np.asarray(call(ex, random_baseline, "CartPole-v1", 50, 0, shown=shown), dtype=float)
    if returns.shape != (50,):
        fail(ex, f"{shown} returned shape {returns.shape}, expected (50,): one return per episode.")
    if not 12 <= returns.mean() <= 35:
        fail(ex, f"{shown} has a mean return of {returns.mean():.1f}; a random CartPole agent "
                 f"scores about 22. Check that each episode's rewards are added up.")
    again = np.asarray(call(ex, random_baseline, "CartPole-v1", 50, 0, shown=shown), dtype=float)
    if not np.array_equal(returns, again):
        fail(ex, f"{shown} gave different returns when called twice: seed the env and its "
                 f"action space (make_env(env_id, seed) does both).")
    other = np.asarray(call(ex, random_baseline, "CartPole-v1", 50, 1,
                            shown="random_baseline('CartPole-v1', 50, seed=1)"), dtype=float)
    if np.array_equal(returns, other):
        fail(ex, "seeds 0 and 1 gave exactly the same returns: pass the seed on to make_env.")
    passed(ex, f"mean return {returns.mean():.1f} over 50 random episodes")
