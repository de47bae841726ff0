"""Checks for lab 01: one episode, a random policy and the random baseline on CartPole, and a
Q-learning episode on a tabular env.

As in lab 00, each exercise has a ``_run_*`` function (calls the student's code, returns raw
plain results) and a ``_problem_*`` function (compares them with the right ones and names the
mistake), shared by the notebook's check and the hidden scenario. The baseline (1.3) builds on
1.1 and 1.2: its check and scenario replace ``run_episode`` and ``make_random_policy`` by this
module's own (recording) versions, so a mistake in 1.1 or 1.2 costs only that exercise. The
Q-learning episode (1.4) builds on lab 00's exercises 0.5 and 0.6 the same way: recording
stand-ins replace ``q_learning_update`` and ``epsilon_greedy``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import gymnasium as gym
import numpy as np

from dqn_helpers.checks._core import (
    CheckError,
    Scenario,
    call,
    close,
    fail,
    fmt,
    passed,
    register,
    scenario,
    standins,
)
from dqn_helpers.checks.lab00 import (
    _action,
    _reference_epsilon_greedy,
    _reference_q_learning_update,
    raw_array,
    raw_number,
    raw_values,
)


class ScriptedEnv(gym.Env):
    """A tiny env whose episodes are known in advance, to test an episode loop.

    The observation counts the steps taken; the reward is ``action + 1``. The episode
    terminates after ``terminate_at`` steps or is truncated after ``truncate_at`` steps.
    It refuses a step before ``reset`` or after the episode has ended, and a loop that resets
    or steps without end; ``violation`` then says which rule was broken.
    """

    MAX_STEPS, MAX_RESETS = 10_000, 100

    def __init__(self, terminate_at: int | None = 5, truncate_at: int | None = None):
        self.observation_space = gym.spaces.Box(0.0, 1e6, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.terminate_at, self.truncate_at = terminate_at, truncate_at
        self.t, self.done, self.resets, self.steps = 0, True, 0, 0
        self.violation: str | None = None

    def _refuse(self, violation: str, message: str):
        self.violation = violation
        raise RuntimeError(message)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.done = 0, False
        self.resets += 1
        if self.resets > self.MAX_RESETS:
            self._refuse("resets", f"env.reset() was called {self.resets} times: call it once "
                         "per episode, before the loop")
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        if self.resets == 0:
            self._refuse("before reset", "env.step() was called before env.reset(): start each "
                         "episode with obs, info = env.reset()")
        if self.done:
            self._refuse("after end", "env.step() was called after the episode ended: stop the "
                         "loop when terminated or truncated is True")
        self.steps += 1
        if self.steps > self.MAX_STEPS:
            self._refuse("runaway", f"more than {self.MAX_STEPS} steps without the episode "
                         "ending")
        self.t += 1
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        truncated = self.truncate_at is not None and self.t >= self.truncate_at
        self.done = terminated or truncated
        return np.array([float(self.t)], dtype=np.float32), float(action) + 1.0, terminated, \
            truncated, {}


def _reference_run_episode(env, policy):
    """The lab's episode loop (exercise 1.1), for the checks of the exercises after it."""
    obs, info = env.reset()
    episode_return, episode_length, done = 0.0, 0, False
    while not done:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        episode_return += float(reward)
        episode_length += 1
        done = terminated or truncated
    return episode_return, episode_length


def _reference_make_random_policy(action_space):
    """The lab's random policy (exercise 1.2)."""
    def policy(obs):
        return action_space.sample()
    return policy


# ----------------------------------------------------------------- 1.1 the episode loop
POLICIES = {"move": lambda t: 1, "stay": lambda t: 0, "alternate": lambda t: t % 2}


def _episode_name(spec: dict, policy: str) -> str:
    ends = {"terminate_at": "terminates", "truncate_at": "is truncated by a time limit"}
    at = sorted((n, ends[k]) for k, n in spec.items() if n is not None)
    both = len(at) == 2 and at[0][0] == at[1][0]
    end = (f"terminates and is truncated at once, after {at[0][0]} steps" if both else
           f"{at[0][1]} after {at[0][0]} step{'s' * (at[0][0] != 1)}")
    actions = {"move": "always action 1 (reward 2)", "stay": "always action 0 (reward 1)",
               "alternate": "actions 0, 1, 0, 1, ... (rewards 1, 2, 1, 2, ...)"}[policy]
    return f"run_episode(env, policy) on a test episode that {end}, with {actions}"


def _play(run_episode, spec: dict, policy: str, calls: int = 2) -> list[dict]:
    """Call ``run_episode`` ``calls`` times on one ``ScriptedEnv``: raw results per call."""
    env, shown, out = ScriptedEnv(**spec), _episode_name(spec, policy), []
    for _ in range(calls):
        seen: list = []

        def act(obs, seen=seen):
            if isinstance(obs, np.ndarray) and obs.dtype.kind in "iuf" and obs.size:
                seen.append(float(obs.ravel()[0]))
                return POLICIES[policy](int(obs.ravel()[0]))
            seen.append(type(obs).__name__)
            return 0

        resets, steps = env.resets, env.steps
        try:
            result = call("1.1", run_episode, env, act, shown=shown)
        except CheckError as error:
            if env.violation is None:
                _raise_with_step_hint(error)
            out.append({"type": "violation", "violation": env.violation, "seen": seen[:60]})
            break
        pair = isinstance(result, tuple) and len(result) == 2
        out.append({"type": "pair" if pair else type(result).__name__,
                    "return": raw_number(result[0]) if pair else None,
                    "length": raw_number(result[1]) if pair else None,
                    "resets": env.resets - resets, "steps": env.steps - steps,
                    "seen": seen[:60]})
    return out


def _expected_play(spec: dict, policy: str, calls: int = 2) -> list[dict]:
    n = min(k for k in spec.values() if k is not None)
    reward = sum(POLICIES[policy](t) + 1.0 for t in range(n))
    return [{"type": "pair", "return": {"type": "number", "value": reward},
             "length": {"type": "number", "value": float(n)}, "resets": 1, "steps": n,
             "seen": [float(t) for t in range(n)]}] * calls


def _violation(violation, spec: dict, n: int) -> str:
    """What a refused call of the ``ScriptedEnv`` says about the loop."""
    truncated_only = spec.get("truncate_at") is not None and (
        spec.get("terminate_at") is None or spec["truncate_at"] < spec["terminate_at"])
    return {
        "before reset": "env.step() was called before env.reset(): start each episode with "
                        "obs, info = env.reset().",
        "after end": "env.step() was called after the episode ended: stop the loop when "
                     "terminated or truncated is True." + (
                         f" This episode was truncated after {n} steps (a time limit), not "
                         "terminated: truncated ends an episode too." if truncated_only else ""),
        "resets": "env.reset() was called again and again: call it once, at the start of "
                  "run_episode, not inside the loop.",
        "runaway": "the episode never ended: reset once, then step until terminated or "
                   "truncated.",
    }.get(violation, "the env refused a call.")


def _observations_problem(seen, want: list, n: int) -> str:
    if isinstance(seen, list) and any(isinstance(s, str) for s in seen):
        kind = next(s for s in seen if isinstance(s, str))
        return (f"the policy was given a {kind}, not an observation. env.reset() returns a "
                "pair: obs, info = env.reset() (gymnasium, and gym since 0.26).")
    hint = ""
    if isinstance(seen, list) and len(seen) > 1 and len(set(seen)) == 1:
        hint = (" The policy saw the first observation every step: set obs to what env.step() "
                "returns.")
    elif isinstance(seen, list) and len(seen) > n and len(seen) % n == 0 \
            and seen[::len(seen) // n] == want:
        hint = (f" It called the policy {len(seen) // n} times per step: call it once and step "
                "with that action (a random policy would act otherwise than it chose).")
    return f"the policy was given observations {seen}, expected {want}.{hint}"


def _counts_problem(got: dict, want: dict, n: int, rewards: list[float]) -> str | None:
    """What is wrong with the returned (episode_return, episode_length), or None (the
    message goes on from "run_episode(...) ")."""
    length, ret = got.get("length"), got.get("return")
    if not isinstance(length, dict) or length.get("type") != "number":
        return f"returned an episode_length that is not a number but a {_kind(length)}."
    if length["value"] != want["length"]["value"]:
        hint = {n - 1: " That is one short: count every step, the last one too (with "
                       "`for t in count()`, the length is t + 1).",
                n + 1: " That is one too many: count the calls of env.step()."}.get(
                    length["value"], "")
        return f"returned episode_length={fmt(length['value'])}, expected {n}.{hint}"
    if not isinstance(ret, dict) or ret.get("type") != "number":
        return f"returned an episode_return that is not a number but a {_kind(ret)}."
    total = want["return"]["value"]
    if close(ret["value"], total):
        return None
    hint = next((h for h, v in [
        (" That is the number of steps: add up every reward.", float(n)),
        (" The last reward is missing: add each reward before you check whether the episode "
         "ended.", total - rewards[-1]),
        (" That is only the last reward: add up every reward (episode_return += reward).",
         rewards[-1]),
        (" The first reward is missing: add up every reward.", total - rewards[0]),
    ] if close(ret["value"], v) and not close(v, total)), " Add up every reward.")
    return f"returned episode_return={fmt(ret['value'])}, expected {fmt(total)}.{hint}"


def _kind(value) -> str:
    return value.get("type") if isinstance(value, dict) else type(value).__name__


def _problem_episode(results, spec: dict, policy: str, expected: list[dict]) -> str | None:
    shown = _episode_name(spec, policy)
    n = min(k for k in spec.values() if k is not None)
    rewards = [POLICIES[policy](t) + 1.0 for t in range(n)]
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return f"{shown}: the results have an unexpected form."
    for i, (got, want) in enumerate(zip(results, expected)):
        where = shown + (" (called a second time on the same env)" if i else "")
        if got.get("type") == "violation":
            return f"{where}: {_violation(got.get('violation'), spec, n)}"
        if got.get("type") != "pair":
            return (f"{where} should return a pair (episode_return, episode_length), got a "
                    f"{got.get('type')}.")
        if got.get("resets") != 1:
            return (f"{where} called env.reset() {got.get('resets')} times; call it once, at "
                    "the start.")
        if got.get("seen") != want["seen"]:
            return f"{where}: {_observations_problem(got.get('seen'), want['seen'], n)}"
        problem = _counts_problem(got, want, n, rewards)
        if problem:
            return f"{where} {problem}"
    if len(results) != len(expected):
        return f"{shown}: the results are incomplete."
    return None


@register("1.1")
def check_run_episode(run_episode) -> None:
    ex = "1.1"
    for spec, policy in [({"terminate_at": 5}, "move"),
                         ({"terminate_at": None, "truncate_at": 3}, "stay"),
                         ({"terminate_at": 4, "truncate_at": 4}, "alternate"),
                         ({"terminate_at": 1}, "move")]:
        problem = _problem_episode(_play(run_episode, spec, policy), spec, policy,
                                   _expected_play(spec, policy))
        if problem:
            fail(ex, problem)
    passed(ex, "the loop resets once, follows the policy and stops at terminated or truncated")


@scenario("1.1")
class RunEpisodeScenario(Scenario):
    """Other lengths and policies; truncation before, at and without termination; a 1-step
    episode; each env used twice (every call plays one whole episode)."""

    def cases(self, ref):
        return [{"spec": spec, "policy": policy} for spec, policy in [
            ({"terminate_at": 6}, "alternate"),
            ({"terminate_at": None, "truncate_at": 8}, "move"),
            ({"terminate_at": 1}, "stay"),
            ({"terminate_at": 4, "truncate_at": 4}, "move"),
            ({"terminate_at": 7, "truncate_at": 3}, "alternate"),
            ({"terminate_at": 2, "truncate_at": 9}, "alternate")]]

    def run(self, case, run_episode):
        return _play(run_episode, case["spec"], case["policy"])

    def judge(self, case, got, expected):
        problem = _problem_episode(got, case["spec"], case["policy"], expected)
        if problem:
            fail("1.1", problem)


def _raise_with_step_hint(error: CheckError) -> None:
    """Re-raise a crash; code written for gym's four-value step() gets gymnasium's five named."""
    if "values to unpack (expected 4)" in str(error):
        raise CheckError(f"{error}. env.step() returns five values in gymnasium: obs, reward, "
                         "terminated, truncated, info.") from None
    raise error


# ----------------------------------------------------------------- 1.2 a random policy
def _space_name(n: int, start: int) -> str:
    return f"Discrete({n}, start={start})" if start else f"Discrete({n})"


def _run_random_policy(make_random_policy, n: int, start: int, seeds: list[int],
                       draws: int) -> dict:
    """Draw actions from the student's policy: after seeding the space with seeds[0], again
    with seeds[0], then with seeds[1]. Raw actions only: the judge decides."""
    space = gym.spaces.Discrete(n, start=start)
    shown = f"make_random_policy({_space_name(n, start)})"
    policy = call("1.2", make_random_policy, space, shown=shown)
    if not callable(policy):
        return {"type": type(policy).__name__}
    observations = np.random.default_rng(seeds[0]).uniform(-1, 1, (draws, 4)).astype(np.float32)

    def draw(seed: int) -> list:
        space.seed(seed)
        return [_action(call("1.2", policy, obs, shown="policy(obs)")) for obs in observations]

    return {"type": "policy", "first": draw(seeds[0]), "again": draw(seeds[0]),
            "other": draw(seeds[1])}


SEEDED = ("Draw the actions with action_space.sample(), from the action_space that "
          "make_random_policy was given: its seed controls them (np.random, random and other "
          "spaces, such as a global env's, ignore it).")


def _chi2_sf(x: float, df: int) -> float:
    """P(chi-squared with ``df`` degrees of freedom > x): 1 - the regularized lower gamma."""
    a, x = df / 2, x / 2
    if x <= 0:
        return 1.0
    term = total = 1.0 / a
    for k in range(1, 1000):
        term *= x / (a + k)
        total += term
        if term < 1e-17 * total:
            break
    return max(0.0, 1.0 - math.exp(a * math.log(x) - x - math.lgamma(a)) * total)


def _problem_random_policy(got, n: int, start: int, seeds: list[int], expected: dict) -> str | None:
    name = _space_name(n, start)
    if not isinstance(got, dict) or got.get("type") != "policy":
        kind = got.get("type") if isinstance(got, dict) else type(got).__name__
        hint = (" That is one action: return a function that draws a new one at each call."
                if kind in ("int", "int64") else "")
        return (f"make_random_policy({name}) should return a function obs -> action, got a "
                f"{kind}.{hint}")
    first, again, other = got.get("first"), got.get("again"), got.get("other")
    if not all(isinstance(x, list) and len(x) == len(expected["first"])
               for x in (first, again, other)):
        return f"the policy for {name}: the results have an unexpected form."
    actions = range(start, start + n)
    bad = next((a for a in first + again + other if isinstance(a, str) or a not in actions), None)
    if isinstance(bad, str):
        return f"the policy returned a {bad}, not an action of {name}: an action is an int."
    if bad is not None:
        hint = ""
        if start and all(isinstance(a, int) and 0 <= a < n for a in first):
            hint = (f" The actions of {name} run from {start} to {start + n - 1}: "
                    "action_space.sample() knows that, np.random.randint(n) does not.")
        return f"the policy returned {bad!r}, which is not an action of {name}.{hint}"
    draws, counts = len(first), [first.count(a) for a in actions]
    found = sorted(set(first))
    if len(found) < n:
        hint = (" It returned the same action every call: draw a new one inside the policy, "
                "at each call (action_space.sample() in its body, not once outside it)."
                if len(found) == 1 else
                f" Nor did it repeat them after action_space.seed({seeds[0]}): it does not "
                f"draw from the space it was given. {SEEDED}" if first != again else
                " Sample from the action space (action_space.sample()) so every action can "
                "come up.")
        return (f"over {draws} calls the policy for {name} returned only actions {found}.{hint}")
    expected_count = draws / n
    chi2 = sum((c - expected_count) ** 2 / expected_count for c in counts)
    if _chi2_sf(chi2, n - 1) < 1e-6:
        return (f"over {draws} calls the policy for {name} returned the actions "
                f"{list(actions)} {counts} times: far from uniform (about "
                f"{expected_count:.0f} each). Draw with action_space.sample().")
    if first != again:
        return (f"after action_space.seed({seeds[0]}) the policy did not repeat its actions. "
                f"{SEEDED}")
    if first == other:
        return (f"after action_space.seed({seeds[0]}) and action_space.seed({seeds[1]}) the "
                "policy returned the same actions: draw them with action_space.sample(), which "
                "the seed controls.")
    if first != expected["first"]:
        return (f"the policy's actions follow the seed of {name} but are not "
                f"action_space.sample()'s ({first[:8]}... instead of "
                f"{expected['first'][:8]}...): call action_space.sample() once per call.")
    return None


@register("1.2")
def check_make_random_policy(make_random_policy) -> None:
    ex = "1.2"
    for n, start in [(2, 0), (3, 0), (4, 1)]:
        seeds = [0, 1]
        got = _run_random_policy(make_random_policy, n, start, seeds, 300)
        expected = _run_random_policy(_reference_make_random_policy, n, start, seeds, 300)
        problem = _problem_random_policy(got, n, start, seeds, expected)
        if problem:
            fail(ex, problem)
    passed(ex, "uniformly random actions from the (seeded) action space")


@scenario("1.2")
class MakeRandomPolicyScenario(Scenario):
    """Other sizes (5 actions, 1 action), a space that starts at -2, other seeds; judged on
    raw draws: valid, every action, uniform (chi-squared), following the space's seed."""

    def cases(self, ref):
        return [{"n": 5, "start": 0, "seeds": [123, 7], "draws": 600},
                {"n": 4, "start": -2, "seeds": [7, 8], "draws": 400},
                {"n": 2, "start": 0, "seeds": [2024, 5], "draws": 200},
                {"n": 1, "start": 0, "seeds": [3, 4], "draws": 20}]

    def run(self, case, make_random_policy):
        return _run_random_policy(make_random_policy, case["n"], case["start"], case["seeds"],
                                  case["draws"])

    def judge(self, case, got, expected):
        if case["n"] == 1:  # one action: every policy that returns it is right
            if not isinstance(got, dict) or got.get("type") != "policy":
                problem = _problem_random_policy(got, 1, case["start"], case["seeds"], expected)
            else:
                bad = [a for a in got.get("first", []) if a != case["start"]]
                problem = (f"the policy for {_space_name(1, case['start'])} returned {bad[0]!r}, "
                           "which is not its only action." if bad else None)
        else:
            problem = _problem_random_policy(got, case["n"], case["start"], case["seeds"],
                                             expected)
        if problem:
            fail("1.2", problem)


# ----------------------------------------------------------------- 1.3 the random baseline
class _CountingEnv(gym.Wrapper):
    """The env unchanged, counting its resets (and those given a seed)."""

    def __init__(self, env):
        super().__init__(env)
        self.resets = self.reseeds = 0
        self.counted = self.counted_seeds = 0  # those up to the end of the last episode

    def reset(self, *, seed=None, options=None):
        self.resets += 1
        self.reseeds += seed is not None
        return self.env.reset(seed=seed, options=options)


class _BaselineProbe:
    """Stand-ins for what ``random_baseline`` builds on: the real ``make_env`` and the lab's
    own ``make_random_policy`` and ``run_episode`` (never the student's), recording how they
    are used, as plain data."""

    def __init__(self):
        self.made: list[dict] = []
        self.envs: list[_CountingEnv] = []
        self.policies: list[tuple] = []
        self.episodes: list[dict] = []

    def make_env(self, env_id, seed=None, *args, **kwargs):
        from dqn_helpers.envs import make_env

        self.made.append({"env_id": env_id if isinstance(env_id, str) else type(env_id).__name__,
                          "seed": seed if seed is None or isinstance(seed, int)
                          else type(seed).__name__})
        self.envs.append(_CountingEnv(make_env(env_id, seed, *args, **kwargs)))
        return self.envs[-1]

    def make_random_policy(self, action_space):
        policy = _reference_make_random_policy(action_space)
        self.policies.append((policy, action_space))
        return policy

    def run_episode(self, env, policy):
        index = next((i for i, e in enumerate(self.envs) if e is env), -1)
        owner = next((i for i, (p, _) in enumerate(self.policies) if p is policy), -1)
        space_of = -1 if owner < 0 else next(
            (i for i, e in enumerate(self.envs) if e.action_space is self.policies[owner][1]), -1)
        counted = self.envs[index] if index >= 0 else None
        # the resets the student did since the last episode (run_episode's own one excluded)
        extra = ((counted.resets - counted.counted, counted.reseeds - counted.counted_seeds)
                 if counted else (0, 0))
        episode_return, episode_length = _reference_run_episode(env, policy)
        if counted:
            counted.counted, counted.counted_seeds = counted.resets, counted.reseeds
        self.episodes.append({"env": index, "policy": owner, "policy_env": space_of,
                              "return": episode_return, "length": episode_length,
                              "resets": extra[0], "reseeds": extra[1]})
        return episode_return, episode_length

    def facts(self) -> dict:
        return {"made": self.made, "episodes": self.episodes}


def _run_baseline(random_baseline, env_id: str, episodes: int, seed: int) -> dict:
    probe = _BaselineProbe()
    shown = f"random_baseline({env_id!r}, episodes={episodes}, seed={seed})"
    if inspect.isfunction(random_baseline):
        with standins(random_baseline, make_env=probe.make_env,
                      make_random_policy=probe.make_random_policy,
                      run_episode=probe.run_episode):
            returns = call("1.3", random_baseline, env_id, episodes, seed, shown=shown)
    else:
        returns = call("1.3", random_baseline, env_id, episodes, seed, shown=shown)
    for env in probe.envs:
        env.close()
    return {"returns": raw_array(returns), **probe.facts()}


def _problem_baseline(got, env_id: str, episodes: int, seed: int, expected: np.ndarray):
    shown = f"random_baseline({env_id!r}, episodes={episodes}, seed={seed})"
    returns, made, played = got.get("returns"), got.get("made"), got.get("episodes")
    if not isinstance(returns, dict) or returns.get("type") != "array":
        kind = returns.get("type") if isinstance(returns, dict) else None
        return f"{shown} should return a NumPy array of returns, got a {kind}."
    values = raw_values(returns).astype(float)
    if values.shape == expected.shape and np.array_equal(values, expected):
        return None
    if values.shape != expected.shape:
        hint = ""
        if values.shape == () and close(values, expected.mean()):
            hint = (" That is the mean return: return every episode's return, as an array "
                    "(the notebook takes the mean itself).")
        elif values.shape == (2,) and len(played) == 1:
            hint = (" It played one episode and returned its (return, length): play `episodes` "
                    "episodes and keep each one's return.")
        elif values.shape == (episodes, 2):
            hint = (" Those are (return, length) pairs: keep each episode's return, "
                    "run_episode(env, policy)[0].")
        return (f"{shown} returned shape {values.shape}, expected {expected.shape}: one return "
                f"per episode.{hint}")
    return f"{shown} {_usage_problem(made, played, env_id, episodes, seed, values, expected)}"


def _usage_problem(made: list, played: list, env_id: str, episodes: int, seed: int,
                   values: np.ndarray, expected: np.ndarray) -> str:
    """How random_baseline used make_env and the stand-ins, when its returns are wrong (the
    message goes on from "random_baseline(...) ")."""
    if not made:
        return ("never called make_env: make the env with make_env(env_id, seed) (it "
                "seeds the env and its action space, so the baseline repeats).")
    if len(made) > 1 and len(made) == len(played) and all(m == made[0] for m in made):
        return (f"made a new env for every episode, each with the same seed, so all "
                f"{episodes} episodes are the same one (returns {fmt(values[:6])}...): make "
                "the env once, before the loop.")
    if made[0]["env_id"] != env_id:
        return f"called make_env({made[0]['env_id']!r}, ...): pass env_id on."
    if made[0]["seed"] is None:
        return (f"made its env with make_env({env_id!r}) and no seed, so it gave "
                "different returns when called twice: pass the seed on, make_env(env_id, "
                "seed).")
    if made[0]["seed"] != seed:
        return (f"called make_env with seed={made[0]['seed']!r}: pass the seed "
                "argument on, or every seed gives the same returns.")
    if len(played) != episodes:
        return f"played {len(played)} episodes, expected {episodes}."
    if any(e["policy"] < 0 for e in played):
        return ("played with a policy that make_random_policy did not make: use "
                "policy = make_random_policy(env.action_space).")
    if any(e["env"] < 0 or e["policy_env"] != e["env"] for e in played):
        return ("played with a policy that samples from another action space than "
                "the env's: make_random_policy(env.action_space).")
    if any(e["reseeds"] for e in played):
        return ("reset the env with a seed before an episode, so the episodes start "
                "alike: make_env(env_id, seed) seeds it once, and run_episode resets it.")
    if any(e["resets"] for e in played):
        return ("reset the env itself between episodes: run_episode does that; "
                "an extra reset skips a start state.")
    lengths = np.array([e["length"] for e in played], dtype=float)
    if np.array_equal(values, lengths):
        return (f"returned the episode lengths {fmt(values)}, expected the returns "
                f"{fmt(expected)}: keep run_episode(env, policy)[0], not [1].")
    return f"returned {fmt(values)}, expected {fmt(expected)}."


def _expected_baseline(env_id: str, episodes: int, seed: int) -> np.ndarray:
    from dqn_helpers.envs import make_env

    env = make_env(env_id, seed)
    policy = _reference_make_random_policy(env.action_space)
    returns = np.array([_reference_run_episode(env, policy)[0] for _ in range(episodes)])
    env.close()
    return returns


@register("1.3")
def check_random_baseline(random_baseline) -> None:
    ex = "1.3"
    means = []
    for env_id, episodes, seed in [("CartPole-v1", 50, 0), ("CartPole-v1", 50, 1),
                                   ("MountainCar-v0", 3, 0)]:
        got = _run_baseline(random_baseline, env_id, episodes, seed)
        expected = _expected_baseline(env_id, episodes, seed)
        problem = _problem_baseline(got, env_id, episodes, seed, expected)
        if problem:
            fail(ex, problem)
        means.append(expected.mean())
    passed(ex, f"mean return {means[0]:.1f} over 50 random CartPole episodes")


@scenario("1.3")
class RandomBaselineScenario(Scenario):
    """Other environments (rewards other than +1 per step), episode counts (one included) and
    seeds; the student's run_episode and make_random_policy replaced by recording stand-ins."""

    def cases(self, ref):
        return [{"env_id": env_id, "episodes": episodes, "seed": seed}
                for env_id, episodes, seed in [("CartPole-v1", 7, 5), ("Acrobot-v1", 2, 3),
                                               ("CartPole-v1", 1, 11), ("MountainCar-v0", 2, 8)]]

    def run(self, case, random_baseline):
        return _run_baseline(random_baseline, case["env_id"], case["episodes"], case["seed"])

    def judge(self, case, got, expected):
        if not isinstance(got, dict) or not isinstance(got.get("made"), list) \
                or not isinstance(got.get("episodes"), list):
            fail("1.3", "the hidden test's results have an unexpected form.")
        problem = _problem_baseline(got, case["env_id"], case["episodes"], case["seed"],
                                    raw_values(expected["returns"]).astype(float))
        if problem:
            fail("1.3", problem)



# ----------------------------------------------------------------- 1.4 a Q-learning episode
class TabularScriptedEnv(ScriptedEnv):
    """A tiny env with discrete observations (ints, as CliffWalking's), to test a tabular loop.

    States 0 .. n_states - 1 lie on a line; every episode starts in 0. Action 1 moves right,
    action 0 left (not below 0), any other action stays. Entering the last state terminates
    the episode (reward +10); ``truncate_at`` steps truncate it. Every other step pays
    ``-1 - 0.5 * state + 0.1 * action``: each (state, action) its own reward, so a reward from
    the wrong step shows. ``log`` holds each step's (state, action, reward, next_state,
    terminated, truncated). Its rules are ``ScriptedEnv``'s: no step before ``reset`` or after
    the end, no endless resets or steps.
    """

    def __init__(self, n_states: int, n_actions: int, truncate_at: int | None = None):
        super().__init__(terminate_at=None, truncate_at=truncate_at)
        self.observation_space = gym.spaces.Discrete(n_states)
        self.action_space = gym.spaces.Discrete(n_actions)
        self.n_states, self.state = n_states, 0
        self.log: list[list] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed, options=options)
        self.state = 0
        return 0, {}

    def step(self, action):
        super().step(0)  # the rules, and the step count (its observation is not used)
        state, action = self.state, int(action)
        next_state = min(state + 1, self.n_states - 1) if action == 1 else \
            max(state - 1, 0) if action == 0 else state
        terminated = next_state == self.n_states - 1
        truncated = self.truncate_at is not None and self.t >= self.truncate_at
        reward = 10.0 if terminated else round(-1.0 - 0.5 * state + 0.1 * action, 2)
        self.done, self.state = terminated or truncated, next_state
        self.log.append([state, action, reward, next_state, terminated, truncated])
        return next_state, reward, terminated, truncated, {}


def _plain(value: Any) -> Any:
    """A number or flag as plain data, or the name of its type."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return type(value).__name__


class _EpisodeProbe:
    """Stand-ins for what ``q_learning_episode`` builds on, lab 00's ``epsilon_greedy`` and
    ``q_learning_update`` (never the student's), recording each call as plain data.
    ``epsilon_greedy`` returns the case's scripted actions in turn, so the episode is known in
    advance; ``q_learning_update`` is the checks' own update."""

    def __init__(self, Q: np.ndarray, rng: np.random.Generator, actions: list[int]):
        self.Q, self.rng, self.actions = Q, rng, list(actions)
        self.choices: list[dict] = []
        self.updates: list[dict] = []

    def epsilon_greedy(self, Q, state, epsilon, rng):
        self.choices.append({"state": _plain(state), "epsilon": _plain(epsilon),
                             "same_Q": Q is self.Q, "same_rng": rng is self.rng})
        return self.actions[(len(self.choices) - 1) % len(self.actions)]

    def q_learning_update(self, Q, state, action, reward, next_state, terminated, alpha, gamma):
        self.updates.append({
            "state": _plain(state), "action": _plain(action), "reward": _plain(reward),
            "next_state": _plain(next_state), "terminated": _plain(terminated),
            "alpha": _plain(alpha), "gamma": _plain(gamma), "same_Q": Q is self.Q})
        try:
            return _reference_q_learning_update(Q, state, action, reward, next_state,
                                                terminated, alpha, gamma)
        except Exception:  # arguments of the wrong kind: the judge names them
            return 0.0


def _reference_q_learning_episode(env, Q, alpha, gamma, epsilon, rng):
    """The lab's Q-learning episode (exercise 1.4): the right results for the checks."""
    obs, info = env.reset()
    episode_return, episode_length, done = 0.0, 0, False
    while not done:
        action = epsilon_greedy(Q, obs, epsilon, rng)
        next_obs, reward, terminated, truncated, info = env.step(action)
        q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, gamma)
        obs = next_obs
        episode_return += float(reward)
        episode_length += 1
        done = terminated or truncated
    return episode_return, episode_length


# lab 00's pieces, under the names the episode above calls (the checks run it with the
# recording stand-ins in their place, as they run the student's)
epsilon_greedy = _reference_epsilon_greedy
q_learning_update = _reference_q_learning_update


def _episode_shown(case: dict) -> str:
    return (f"q_learning_episode(env, Q, alpha={case['alpha']}, gamma={case['gamma']}, "
            f"epsilon={case['epsilon']}, rng)")


def _run_q_learning_episode(q_learning_episode, case: dict) -> list[dict]:
    """Call ``q_learning_episode`` ``case["calls"]`` times on one ``TabularScriptedEnv``, with
    the stand-ins: per call, what it returned, how it used the env and the stand-ins."""
    env = TabularScriptedEnv(case["n_states"], case["n_actions"], case["truncate_at"])
    Q = np.zeros((case["n_states"], case["n_actions"]))
    rng = np.random.default_rng(case["seed"])
    out = []
    for _ in range(case["calls"]):
        probe, resets, logged = _EpisodeProbe(Q, rng, case["actions"]), env.resets, len(env.log)
        args = (env, Q, case["alpha"], case["gamma"], case["epsilon"], rng)
        try:
            if inspect.isfunction(q_learning_episode):
                with standins(q_learning_episode, epsilon_greedy=probe.epsilon_greedy,
                              q_learning_update=probe.q_learning_update):
                    result = call("1.4", q_learning_episode, *args, shown=_episode_shown(case))
            else:
                result = call("1.4", q_learning_episode, *args, shown=_episode_shown(case))
        except CheckError as error:
            if env.violation is None:
                _raise_with_step_hint(error)
            out.append({"type": "violation", "violation": env.violation})
            break
        pair = isinstance(result, (tuple, list)) and len(result) == 2
        episode = env.log[logged:]  # kept to its first 200 steps; whether it ended, from all
        out.append({"type": "pair" if pair else type(result).__name__,
                    "return": raw_number(result[0]) if pair else None,
                    "length": raw_number(result[1]) if pair else None,
                    "resets": env.resets - resets, "log": episode[:200],
                    "ended": bool(episode) and bool(episode[-1][4] or episode[-1][5]),
                    "choices": probe.choices[:200], "updates": probe.updates[:200]})
    return out


_EPISODE_VIOLATIONS = {
    "before reset": "env.step() was called before env.reset(): start the episode with "
                    "obs, info = env.reset().",
    "after end": "env.step() was called after the episode ended: stop the loop when "
                 "terminated or truncated is True.",
    "resets": "env.reset() was called again and again: call it once, at the start of the "
              "episode, not inside the loop.",
    "runaway": "the episode never ended: reset once, then step until terminated or truncated.",
}


def _choices_problem(choices: list, log: list, case: dict) -> str | None:
    """How the episode used epsilon_greedy, or None when right."""
    n = len(log)
    if not choices:
        return ("epsilon_greedy was never called: choose each action with epsilon_greedy(Q, "
                "obs, epsilon, rng) (exercise 0.6).")
    if len(choices) != n:
        return (f"epsilon_greedy was called {len(choices)} times in an episode of {n} steps: "
                "call it once per step, for the action you take.")
    scripted = [case["actions"][k % len(case["actions"])] for k in range(n)]
    taken = [step[1] for step in log]
    if taken != scripted:
        k = next(k for k in range(n) if taken[k] != scripted[k])
        return (f"at step {k + 1} epsilon_greedy chose action {scripted[k]}, but the env was "
                f"stepped with {taken[k]}: step with the action epsilon_greedy returned.")
    states = [c["state"] for c in choices]
    visited = [step[0] for step in log]
    if states != visited:
        k = next(k for k in range(n) if states[k] != visited[k])
        hint = (" Every action was chosen in the first state: set obs = next_obs at the end "
                "of each step." if n > 1 and all(s == visited[0] for s in states) else "")
        return (f"at step {k + 1} epsilon_greedy was given state {states[k]!r}, but the agent "
                f"was in state {visited[k]}.{hint}")
    bad = next((c for c in choices if c["epsilon"] != case["epsilon"]), None)
    if bad is not None:
        hint = next((f" That is {name}: pass epsilon." for name in ("alpha", "gamma")
                     if bad["epsilon"] == case[name]), "")
        return (f"epsilon_greedy was given epsilon={bad['epsilon']!r}, expected the epsilon "
                f"argument, {case['epsilon']}.{hint}")
    if not all(c["same_Q"] for c in choices):
        return "epsilon_greedy was given another table than Q: pass Q itself."
    if not all(c["same_rng"] for c in choices):
        return ("epsilon_greedy was given another generator than rng: pass the rng argument "
                "on (it seeds the exploration, so that a run repeats).")
    return None


def _update_problem(update: dict, step: list, k: int, case: dict) -> str | None:
    """What is wrong with the k-th call of q_learning_update, for the step ``step`` of the
    env's log, or None."""
    state, action, reward, next_state, terminated, truncated = step
    at = f"at step {k + 1} (from state {state} to {next_state}), q_learning_update was given"
    if not update["same_Q"]:
        return (f"{at} another table than Q: pass Q itself, so that the caller's table "
                "learns.")
    if update["terminated"] != terminated:
        if truncated and not terminated:
            return (f"{at} terminated={update['terminated']!r} where the episode was "
                    "truncated by the time limit: pass terminated, not terminated or "
                    "truncated. A time limit is not a terminal state: the target still "
                    "bootstraps from max(Q[next_state]) there.")
        return (f"{at} terminated={update['terminated']!r}, expected {terminated}: pass the "
                "terminated flag that env.step() returned.")
    if (update["state"], update["next_state"]) != (state, next_state):
        got = (update["state"], update["next_state"])
        hint = (" The state is the new observation: call the update before obs = next_obs "
                "(state is where the step started)." if got == (next_state, next_state) else
                " state and next_state are swapped." if got == (next_state, state) else
                " The state never moved on: set obs = next_obs at the end of each step."
                if update["state"] == 0 and state != 0 else "")
        return (f"{at} state={got[0]!r}, next_state={got[1]!r}, expected state={state}, "
                f"next_state={next_state}.{hint}")
    if update["action"] != action:
        return f"{at} action={update['action']!r}: pass the action taken, {action}."
    if not (isinstance(update["reward"], (int, float)) and close(update["reward"], reward)):
        return f"{at} reward={update['reward']!r}: pass this step's reward, {reward}."
    if (update["alpha"], update["gamma"]) == (case["gamma"], case["alpha"]) \
            and case["alpha"] != case["gamma"]:
        return f"{at} alpha and gamma swapped: q_learning_update(..., alpha, gamma)."
    for name in ("alpha", "gamma"):
        if update[name] != case[name]:
            return f"{at} {name}={update[name]!r}: pass the {name} argument, {case[name]}."
    return None


def _problem_q_learning_episode(results, case: dict, expected: list[dict]) -> str | None:
    shown = _episode_shown(case) + (f" on a test env of {case['n_states']} states in a row "
                                    f"and {case['n_actions']} actions")
    if not isinstance(results, list) or not results \
            or not all(isinstance(r, dict) for r in results):
        return f"{shown}: the results have an unexpected form."
    for i, got in enumerate(results):
        where = shown + (" (called a second time on the same env)" if i else "")
        if got.get("type") == "violation":
            return f"{where}: {_EPISODE_VIOLATIONS.get(got.get('violation'), 'the env refused a call.')}"
        log, resets = got.get("log"), got.get("resets")
        if not isinstance(log, list) or not log or not all(isinstance(s, list) and len(s) == 6
                                                           for s in log):
            return f"{where}: the results have an unexpected form."
        if resets != 1:
            return f"{where} called env.reset() {resets} times; call it once, at the start."
        if not got.get("ended"):  # not log[-1]: a long episode's log is cut at 200 steps
            return f"{where}: the episode stopped before it ended (terminated or truncated)."
        problem = _choices_problem(got.get("choices"), log, case)
        if problem:
            return f"{where}: {problem}"
        updates = got.get("updates")
        if not updates:
            return (f"{where}: q_learning_update was never called: learn from every transition "
                    "with q_learning_update(Q, obs, action, reward, next_obs, terminated, alpha, "
                    "gamma) (exercise 0.5).")
        if len(updates) != len(log):
            return (f"{where}: q_learning_update was called {len(updates)} times in an episode "
                    f"of {len(log)} steps: call it once per transition.")
        for k, (update, step) in enumerate(zip(updates, log)):
            problem = _update_problem(update, step, k, case)
            if problem:
                return f"{where}: {problem}"
        problem = _episode_result_problem(got, log)
        if problem:
            return f"{where} {problem}"
    if len(results) != len(expected):
        return f"{shown}: the results are incomplete."
    for got, want in zip(results, expected):
        for key in ("log", "choices", "updates", "return", "length"):
            if got.get(key) != want.get(key) and not (
                    key in ("return", "length") and close(got[key].get("value"),
                                                          want[key].get("value"))):
                return f"{shown}: its {key} differs from the expected one."
    return None


def _episode_result_problem(got: dict, log: list) -> str | None:
    """What is wrong with the returned (episode_return, episode_length), or None."""
    n, rewards = len(log), [float(step[2]) for step in log]
    if got.get("type") != "pair":
        hint = (" Q is updated in place: return the episode's return and length."
                if got.get("type") == "ndarray" else "")
        return (f"should return a pair (episode_return, episode_length), got a "
                f"{got.get('type')}.{hint}")
    ret, length = got.get("return"), got.get("length")
    total = sum(rewards)
    if (_kind(ret) == "number" and _kind(length) == "number" and ret["value"] == n
            and close(length["value"], total) and not close(total, n)):
        return ("returned (episode_length, episode_return): the pair is (episode_return, "
                "episode_length), in that order.")
    want = {"return": {"type": "number", "value": total},
            "length": {"type": "number", "value": float(n)}}
    return _counts_problem(got, want, n, rewards)


def _episode_case(n_states: int, n_actions: int, actions: list[int], truncate_at: int | None,
                  alpha: float, gamma: float, epsilon: float, seed: int, calls: int = 1) -> dict:
    return {"n_states": n_states, "n_actions": n_actions, "actions": actions,
            "truncate_at": truncate_at, "alpha": alpha, "gamma": gamma, "epsilon": epsilon,
            "seed": seed, "calls": calls}


# the first ends by terminating (twice, on one env); then a truncation by the time limit, a
# termination and a truncation at once, and a one-step episode
_EPISODE_SHOWN = [
    _episode_case(5, 3, [1, 1, 0, 1, 1, 1], None, 0.5, 0.9, 0.1, 0, calls=2),
    _episode_case(6, 2, [1, 0], 5, 0.1, 0.99, 0.2, 1),
    _episode_case(4, 2, [1], 3, 0.3, 0.8, 0.05, 2),
    _episode_case(2, 4, [1], None, 1.0, 0.5, 0.5, 3),
]


@register("1.4")
def check_q_learning_episode(q_learning_episode) -> None:
    ex = "1.4"
    for case in _EPISODE_SHOWN:
        got = _run_q_learning_episode(q_learning_episode, case)
        problem = _problem_q_learning_episode(
            got, case, _run_q_learning_episode(_reference_q_learning_episode, case))
        if problem:
            fail(ex, problem)
    passed(ex, "one update per step with terminated (not truncated), until the episode ends")


@scenario("1.4")
class QLearningEpisodeScenario(Scenario):
    """Other envs (3 to 8 states, 2 to 4 actions), other scripted actions, alpha, gamma and
    epsilon; truncation before, at and without termination; an env used for three episodes;
    the student's epsilon_greedy and q_learning_update replaced by recording stand-ins."""

    def cases(self, ref):
        rng = np.random.default_rng(1014)
        out = []
        for n_states, n_actions, truncate_at, calls in [(7, 3, None, 3), (8, 2, 6, 1),
                                                        (3, 4, 2, 2), (5, 2, 12, 1),
                                                        (4, 3, 4, 1)]:
            actions = [int(a) for a in rng.choice([0, 1, 1, 1, n_actions - 1], size=9)]
            actions[:2] = [1, 1]  # and more moves right than left: every episode ends
            out.append(_episode_case(n_states, n_actions, actions, truncate_at,
                                     round(float(rng.uniform(0.05, 1)), 2),
                                     round(float(rng.uniform(0.5, 1)), 2),
                                     round(float(rng.uniform(0, 0.5)), 2),
                                     int(rng.integers(10_000)), calls))
        return out

    def run(self, case, q_learning_episode):
        return _run_q_learning_episode(q_learning_episode, case)

    def judge(self, case, got, expected):
        problem = _problem_q_learning_episode(got, case, expected)
        if problem:
            fail("1.4", problem)
