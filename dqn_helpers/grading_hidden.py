"""Hidden checks: the grader's second test of each exercise, on inputs the student never saw.

Students see ``checks.check_*`` in their notebook, inputs included, so a function could
hard-code the answers it expects. When an instructor grades (``python -m dqn_helpers.grade``),
each exercise must pass its visible check *and* the hidden check registered here for its
points. A hidden check draws its inputs from a fixed seed (grading the same submission twice
gives the same points) and usually compares the student's function with the reference: the
solution notebook's own definitions, loaded from ``solutions/NN_*.ipynb``.

Adding the hidden check of an exercise (lab 02 and later) is one function::

    @hidden("2.3")
    def hidden_epsilon_at(ref, epsilon_at):
        ex = "2.3"
        rng = np.random.default_rng(203)             # a fixed seed: deterministic grading
        for step in rng.integers(0, 50_000, size=20):
            shown = f"epsilon_at({step})"
            got = call(ex, epsilon_at, int(step), shown=shown)
            expected = ref.epsilon_at(int(step))     # ref: what the solution notebook defines
            if not np.isclose(float(got), expected):
                fail(ex, f"{shown} returned {fmt(got)}, expected {fmt(expected)}.")

- The parameters after ``ref`` are the visible check's parameters, in the same order
  (``checks.names_for(exercise)``): the student's definitions of those names.
- Call student code through ``call`` (a stub then reads "not implemented yet", a crash names
  the exercise) and report a mistake with ``fail``; the grader adds "hidden test" to it.
- Use inputs the notebook never shows (other sizes, seeds, environments), fixed seeds, and keep
  each check well under a second.
- An exercise is worth 1 point; ``POINTS["2.6"] = 2`` makes it worth 2.

``tests/test_grade.py`` asserts that every exercise of every lab has a hidden check, that it
passes on the solution and that it reports the student notebook's stub as not implemented.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Callable

import gymnasium as gym
import numpy as np

from dqn_helpers.checks._core import as_array, call, fail, fmt
from dqn_helpers.checks.lab00 import exact_optimal_value, exact_policy_value, random_mdp
from dqn_helpers.checks.lab01 import ScriptedEnv

# exercise id -> hidden check, called as check(ref, *student_definitions)
HIDDEN: dict[str, Callable[..., None]] = {}

# exercise id -> points (default 1)
POINTS: dict[str, float] = {}


def hidden(exercise: str):
    """Record a hidden check for ``exercise`` (used as a decorator)."""
    def decorate(check: Callable[..., None]) -> Callable[..., None]:
        if exercise in HIDDEN:
            raise ValueError(f"two hidden checks for exercise {exercise}")
        HIDDEN[exercise] = check
        return check
    return decorate


def points(exercise: str) -> float:
    return float(POINTS.get(exercise, 1.0))


def reference(namespace: dict) -> SimpleNamespace:
    """The solution notebook's definitions, as attributes: ``ref.discounted_return``."""
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})


# --- lab 00 -------------------------------------------------------------------------------

@hidden("0.1")
def hidden_discounted_return(ref, discounted_return) -> None:
    ex = "0.1"
    rng = np.random.default_rng(1001)
    for _ in range(12):
        rewards = [float(r) for r in rng.normal(0, 3, size=rng.integers(1, 9)).round(1)]
        gamma = round(float(rng.uniform(0.1, 0.99)), 2)
        shown = f"discounted_return({rewards}, gamma={gamma})"
        got = call(ex, discounted_return, list(rewards), gamma, shown=shown)
        expected = ref.discounted_return(list(rewards), gamma)
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(ex, f"{shown} should return a number, got {type(got).__name__} {got!r}")
        if not np.isclose(got, expected):
            fail(ex, f"{shown} returned {fmt(got)}, expected {fmt(expected)}.")


@hidden("0.2")
def hidden_policy_evaluation(ref, policy_evaluation) -> None:
    ex = "0.2"
    rng = np.random.default_rng(1002)
    for seed, (states, actions), gamma in [(11, (3, 2), 0.7), (12, (6, 4), 0.95),
                                           (13, (2, 3), 0.3)]:
        P, R = random_mdp(seed, states, actions)
        policy = rng.dirichlet(np.ones(actions), size=states)
        shown = (f"policy_evaluation(P, R, policy, gamma={gamma}) on a random MDP with "
                 f"{states} states and {actions} actions")
        got = as_array(ex, call(ex, policy_evaluation, P, R, policy, gamma, shown=shown), shown)
        expected = exact_policy_value(P, R, policy, gamma)
        if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-4):
            fail(ex, f"{shown} returned {fmt(got)}, expected {fmt(expected)}.")


@hidden("0.3")
def hidden_value_iteration(ref, value_iteration) -> None:
    ex = "0.3"
    for seed, (states, actions), gamma in [(21, (4, 3), 0.8), (22, (6, 2), 0.95),
                                           (23, (2, 4), 0.5)]:
        P, R = random_mdp(seed, states, actions)
        shown = (f"value_iteration(P, R, gamma={gamma}) on a random MDP with {states} states "
                 f"and {actions} actions")
        result = call(ex, value_iteration, P, R, gamma, shown=shown)
        if not (isinstance(result, tuple) and len(result) == 2):
            fail(ex, f"{shown} should return a pair (V, Q), got {type(result).__name__}.")
        V_star = exact_optimal_value(P, R, gamma)
        Q_star = R + gamma * P @ V_star
        V, Q = as_array(ex, result[0], shown), as_array(ex, result[1], shown)
        if V.shape != V_star.shape or not np.allclose(V, V_star, atol=1e-4):
            fail(ex, f"{shown}: V = {fmt(V)}, expected V* = {fmt(V_star)}.")
        if Q.shape != Q_star.shape or not np.allclose(Q, Q_star, atol=1e-4):
            fail(ex, f"{shown}: Q = {fmt(Q)}, expected Q* = {fmt(Q_star)}.")


@hidden("0.4")
def hidden_greedy_policy(ref, greedy_policy) -> None:
    ex = "0.4"
    rng = np.random.default_rng(1004)
    for shape in [(6, 3), (2, 5), (1, 4), (9, 2)]:
        Q = rng.normal(size=shape).round(2)
        shown = f"greedy_policy(Q) with Q =\n{fmt(Q)}\n"
        got = np.asarray(call(ex, greedy_policy, Q.copy(), shown="greedy_policy(Q)"))
        expected = np.asarray(ref.greedy_policy(Q.copy()))
        if got.shape != expected.shape or not np.array_equal(got, expected):
            fail(ex, f"{shown}returned {fmt(got)}, expected {fmt(expected)}.")


# --- lab 01 -------------------------------------------------------------------------------

@hidden("1.1")
def hidden_run_episode(ref, run_episode) -> None:
    ex = "1.1"
    cases = [("a 6-step episode, actions 0, 1, 0, 1, ...", dict(terminate_at=6),
              lambda obs: int(np.asarray(obs).ravel()[0]) % 2),
             ("an episode truncated after 8 steps", dict(terminate_at=None, truncate_at=8),
              lambda obs: 1),
             ("a 1-step episode", dict(terminate_at=1), lambda obs: 0),
             ("an episode both terminated and truncated at step 4",
              dict(terminate_at=4, truncate_at=4), lambda obs: 1)]
    for name, spec, policy in cases:
        shown = f"run_episode(env, policy) on {name}"
        env = ScriptedEnv(**spec)
        for repeat in range(2):  # the same env twice: each call plays one whole episode
            result = call(ex, run_episode, env, policy, shown=shown)
            expected = ref.run_episode(ScriptedEnv(**spec), policy)
            if not (isinstance(result, tuple) and len(result) == 2):
                fail(ex, f"{shown} should return a pair (episode_return, episode_length), "
                         f"got {result!r}")
            if not (np.isclose(float(result[0]), expected[0]) and int(result[1]) == expected[1]):
                again = " (called a second time on the same env)" if repeat else ""
                fail(ex, f"{shown}{again} returned ({fmt(result[0])}, {result[1]!r}), expected "
                         f"({fmt(expected[0])}, {expected[1]}).")


@hidden("1.2")
def hidden_make_random_policy(ref, make_random_policy) -> None:
    ex = "1.2"
    obs = np.zeros(4, dtype=np.float32)
    for n, seed in [(5, 123), (4, 7)]:
        space = gym.spaces.Discrete(n)
        shown = f"make_random_policy(Discrete({n}))"
        policy = call(ex, make_random_policy, space, shown=shown)
        if not callable(policy):
            fail(ex, f"{shown} should return a function obs -> action, got "
                     f"{type(policy).__name__}.")
        space.seed(seed)
        got = [call(ex, policy, obs, shown="policy(obs)") for _ in range(200)]
        space.seed(seed)
        expected = [ref.make_random_policy(space)(obs) for _ in range(200)]
        if [int(a) for a in got] != [int(a) for a in expected]:
            fail(ex, f"with Discrete({n}) seeded with {seed}, the policy's actions "
                     f"{[int(a) for a in got[:8]]}... differ from action_space.sample()'s "
                     f"{[int(a) for a in expected[:8]]}...")


@hidden("1.3")
def hidden_random_baseline(ref, random_baseline) -> None:
    ex = "1.3"
    for env_id, episodes, seed, low, high in [("CartPole-v1", 7, 5, 8.0, 60.0),
                                              ("Acrobot-v1", 2, 3, -500.0, 0.0)]:
        shown = f"random_baseline({env_id!r}, episodes={episodes}, seed={seed})"
        returns = as_array(ex, call(ex, random_baseline, env_id, episodes, seed, shown=shown),
                           shown)
        if returns.shape != (episodes,):
            fail(ex, f"{shown} returned shape {returns.shape}, expected ({episodes},): one "
                     "return per episode.")
        if not (low <= returns.mean() <= high):
            fail(ex, f"{shown} returned {fmt(returns)}; a random policy on {env_id} averages "
                     f"between {low:g} and {high:g}.")
        again = as_array(ex, call(ex, random_baseline, env_id, episodes, seed, shown=shown),
                         shown)
        if not np.array_equal(returns, again):
            fail(ex, f"{shown} gave different returns when called twice.")


# --- lab 02 -------------------------------------------------------------------------------

def _mlp(obs_dim: int, n_actions: int, seed: int):
    from dqn_helpers.checks.lab02 import small_net

    return small_net(obs_dim, n_actions, seed, hidden=16, scale=0.4)


def _lab02_batch(ref, n: int, obs_dim: int, n_actions: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return ref.Batch(torch.randn(n, obs_dim, generator=g),
                     torch.randint(0, n_actions, (n,), generator=g),
                     torch.randn(n, generator=g) * 2,
                     torch.randn(n, obs_dim, generator=g),
                     (torch.rand(n, generator=g) < 0.3).float())


@hidden("2.1")
def hidden_q_network(ref, QNetwork) -> None:
    import torch

    ex = "2.1"
    torch.manual_seed(2001)
    for obs_dim, n_actions, batch in [(6, 5, 17), (2, 3, 4), (11, 7, 1)]:
        shown = f"QNetwork({obs_dim}, {n_actions})"
        net = call(ex, QNetwork, obs_dim, n_actions, shown=shown)
        out = call(ex, net, torch.randn(batch, obs_dim), shown=f"{shown}(a batch of {batch})")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (batch, n_actions):
            fail(ex, f"{shown} on a batch of {batch} returned "
                     f"{tuple(getattr(out, 'shape', ()))}, expected ({batch}, {n_actions}).")


@hidden("2.2")
def hidden_replay_memory(ref, ReplayMemory) -> None:
    ex = "2.2"
    capacity, obs_dim = 7, 2
    memory = call(ex, ReplayMemory, capacity, obs_dim, shown=f"ReplayMemory({capacity}, {obs_dim})")
    for i in range(1, 21):  # 20 transitions into 7 slots: 14..20 remain
        obs = np.array([i, -i], dtype=np.float32)
        call(ex, memory.add, obs, i % 3, float(i), obs * 2, i % 4 == 0, shown="memory.add(...)")
    if len(memory) != capacity:
        fail(ex, f"after 20 add() calls into capacity {capacity}, len() is {len(memory)}.")
    np.random.seed(2002)
    batch = call(ex, memory.sample, 700, shown="memory.sample(700)")
    obs, actions, rewards, next_obs, terminated = (np.asarray(b) for b in batch)
    if set(rewards.astype(int).tolist()) != set(range(14, 21)):
        fail(ex, f"sampling after 20 additions to a memory of capacity 7 returned transitions "
                 f"{sorted(set(rewards.astype(int).tolist()))}, expected the newest seven (14..20).")
    ok = (np.all(obs[:, 0] == rewards) and np.all(obs[:, 1] == -rewards)
          and np.all(next_obs == obs * 2) and np.all(actions == rewards.astype(int) % 3)
          and np.all(terminated == (rewards.astype(int) % 4 == 0)))
    if not ok:
        fail(ex, "the fields of a sampled transition do not belong together.")


@hidden("2.3")
def hidden_epsilon_at(ref, epsilon_at) -> None:
    ex = "2.3"
    rng = np.random.default_rng(2003)
    for _ in range(20):
        start, end = float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.0, 0.2))
        decay = int(rng.integers(100, 20_000))
        step = int(rng.integers(0, 3 * decay))
        shown = f"epsilon_at({step}, start={start:.3f}, end={end:.3f}, decay_steps={decay})"
        got = call(ex, epsilon_at, step, start, end, decay, shown=shown)
        expected = ref.epsilon_at(step, start, end, decay)
        if not np.isclose(float(got), expected):
            fail(ex, f"{shown} returned {fmt(float(got))}, expected {fmt(expected)}.")


@hidden("2.4")
def hidden_select_action(ref, select_action) -> None:
    import torch

    ex = "2.4"

    class FixedQ(torch.nn.Module):  # Q-values with their argmax at action 3 of 5
        def __init__(self):
            super().__init__()
            self.q = torch.nn.Parameter(torch.tensor([0.1, -2.0, 0.5, 0.9, 0.2]))

        def forward(self, obs):
            obs = torch.as_tensor(obs, dtype=torch.float32)
            return self.q.expand(1 if obs.dim() == 1 else obs.shape[0], 5)

    net, obs = FixedQ(), np.zeros(6, dtype=np.float32)
    for epsilon, share, tolerance in [(0.0, 1.0, 0.0), (0.2, 0.84, 0.03), (1.0, 0.2, 0.03)]:
        rng = np.random.default_rng(2004)
        shown = f"select_action(q_network, obs, epsilon={epsilon}, n_actions=5, rng)"
        actions = [int(call(ex, select_action, net, obs, epsilon, 5, rng, shown=shown))
                   for _ in range(3000)]
        if not all(0 <= a < 5 for a in actions):
            fail(ex, f"{shown} returned an action outside 0..4.")
        got = float(np.mean(np.array(actions) == 3))
        if abs(got - share) > tolerance:
            fail(ex, f"{shown}: the greedy action came up {got:.0%} of the time, "
                     f"expected about {share:.0%}.")


@hidden("2.5")
def hidden_td_target(ref, td_target) -> None:
    import torch

    ex = "2.5"
    net = _mlp(5, 3, seed=2005)
    batch = _lab02_batch(ref, 9, 5, 3, seed=2005)
    shown = "td_target(...) on 9 transitions with 3 actions, gamma=0.95"
    got = call(ex, td_target, batch.rewards, batch.next_obs, batch.terminated, net, 0.95,
               shown=shown)
    expected = ref.td_target(batch.rewards, batch.next_obs, batch.terminated, net, 0.95)
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape \
            or not torch.allclose(got.detach(), expected, atol=1e-5):
        fail(ex, f"{shown} returned {got!r}, expected {expected!r}.")


@hidden("2.6")
def hidden_learn_step(ref, learn_step) -> None:
    import copy

    import torch

    ex = "2.6"
    q_net, target_net = _mlp(5, 3, seed=2061), _mlp(5, 3, seed=2062)
    ref_net = copy.deepcopy(q_net)
    batch = _lab02_batch(ref, 10, 5, 3, seed=2006)
    opt = torch.optim.SGD(q_net.parameters(), lr=0.03)
    ref_opt = torch.optim.SGD(ref_net.parameters(), lr=0.03)
    for step in range(3):
        shown = f"learn_step(...) step {step + 1} on 10 transitions with 3 actions"
        loss = call(ex, learn_step, q_net, target_net, opt, batch, 0.97, shown=shown)
        expected = ref.learn_step(ref_net, target_net, ref_opt, batch, 0.97)
        if not np.isclose(float(loss), expected, rtol=1e-4):
            fail(ex, f"{shown}: loss {fmt(float(loss))}, expected {fmt(expected)}.")
    if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(q_net.parameters(),
                                                                ref_net.parameters())):
        fail(ex, "after three learning steps the weights differ from three correct steps.")


@hidden("2.7")
def hidden_soft_update(ref, soft_update) -> None:
    import torch

    ex = "2.7"
    for tau in (0.3, 0.001):
        target, online = _mlp(4, 2, seed=2071), _mlp(4, 2, seed=2072)
        expected = [tau * q.detach() + (1 - tau) * t.detach()
                    for q, t in zip(online.parameters(), target.parameters())]
        call(ex, soft_update, target, online, tau, shown=f"soft_update(target, online, tau={tau})")
        if not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(target.parameters(), expected)):
            fail(ex, f"soft_update(target, online, tau={tau}) did not give "
                     f"tau * online + (1 - tau) * target.")


# --- lab 03 -------------------------------------------------------------------------------

@hidden("3.1")
def hidden_huber(ref, huber) -> None:
    import torch

    ex = "3.1"
    g = torch.Generator().manual_seed(3001)
    for delta in (0.5, 1.0, 2.5):
        x = torch.randn(40, generator=g) * 3
        shown = f"huber(x, delta={delta}) on 40 values between {x.min():.2f} and {x.max():.2f}"
        got = call(ex, huber, x.clone(), delta, shown=shown)
        expected = ref.huber(x.clone(), delta)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape \
                or not torch.allclose(got, expected, atol=1e-6):
            fail(ex, f"{shown} does not match the Huber loss elementwise.")


@hidden("3.2")
def hidden_learn_step_clipped(ref, learn_step) -> None:
    import copy

    import torch

    ex = "3.2"
    q_net, target_net = _mlp(8, 4, seed=3021), _mlp(8, 4, seed=3022)
    ref_net = copy.deepcopy(q_net)
    batch = _lab02_batch(ref, 12, 8, 4, seed=3002)
    batch = batch._replace(rewards=batch.rewards * 20)  # large errors: clipping matters
    opt = torch.optim.SGD(q_net.parameters(), lr=0.02)
    ref_opt = torch.optim.SGD(ref_net.parameters(), lr=0.02)
    for step, max_norm in enumerate((0.3, 5.0, 0.05)):
        shown = f"learn_step(..., gamma=0.95, max_grad_norm={max_norm}), step {step + 1}"
        loss = call(ex, learn_step, q_net, target_net, opt, batch, 0.95, max_norm, shown=shown)
        expected = ref.learn_step(ref_net, target_net, ref_opt, batch, 0.95, max_norm)
        if not np.isclose(float(loss), expected, rtol=1e-4):
            fail(ex, f"{shown}: loss {fmt(float(loss))}, expected {fmt(expected)}.")
        if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(q_net.parameters(),
                                                                    ref_net.parameters())):
            fail(ex, f"after {shown} the weights differ from a correct clipped step.")


@hidden("3.3")
def hidden_hard_update(ref, hard_update, maybe_hard_update) -> None:
    import torch

    ex = "3.3"
    target, online = _mlp(5, 3, seed=3031), _mlp(5, 3, seed=3032)
    for step in range(1, 31):
        with torch.no_grad():
            for p in online.parameters():
                p.add_(0.01 * step)  # the online network keeps learning
        shown = f"maybe_hard_update(target, online, step={step}, every=7)"
        copied = call(ex, maybe_hard_update, target, online, step, 7, shown=shown)
        same = all(torch.equal(a, b) for a, b in zip(target.parameters(), online.parameters()))
        if bool(copied) != (step % 7 == 0) or same != (step % 7 == 0):
            fail(ex, f"{shown} returned {copied!r} with the target "
                     f"{'equal to' if same else 'different from'} the online network; "
                     f"expected a copy exactly when step is a multiple of 7.")
