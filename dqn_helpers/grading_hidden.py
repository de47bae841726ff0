"""Hidden checks: the grader's second test of each exercise, on inputs the student never saw.

Students see ``checks.check_*`` in their notebook, inputs included, so a function could
hard-code the answers it expects. When an instructor grades (``python -m dqn_helpers.grade``),
each exercise must pass its visible check *and* the hidden check registered here for its
points. A hidden check draws its inputs from a fixed seed (grading the same submission twice
gives the same points) and usually compares the student's function with the reference: the
solution notebook's own definitions, loaded from ``solutions/NN_*.ipynb``.

Adding the hidden check of an exercise (lab 02 and later) is one function, such as this one
(``hidden_epsilon_at`` below; ``tests/test_doctests.py`` keeps the two the same)::

    @hidden("2.3")
    def hidden_epsilon_at(ref, epsilon_at) -> None:
        ex = "2.3"
        rng = np.random.default_rng(2003)            # a fixed seed: deterministic grading
        for _ in range(20):                          # inputs the notebook never shows
            start, end = float(rng.uniform(0.5, 1.0)), float(rng.uniform(0.0, 0.2))
            decay = int(rng.integers(100, 20_000))
            step = int(rng.integers(0, 3 * decay))
            shown = f"epsilon_at({step}, start={start:.3f}, end={end:.3f}, decay_steps={decay})"
            got = call(ex, epsilon_at, step, start, end, decay, shown=shown)
            expected = ref.epsilon_at(step, start, end, decay)  # ref: the solution's definitions
            if not np.isclose(float(got), expected):
                fail(ex, f"{shown} returned {fmt(float(got))}, expected {fmt(expected)}.")

The grader calls it with the solution notebook's definitions as ``ref`` and the student's
after them. A student who hard-codes the answers the notebook's check expects passes that
check, but not the hidden one:

>>> def solution(step, start, end, decay_steps):
...     return start + min(1.0, step / decay_steps) * (end - start)
>>> def student(step, start, end, decay_steps):
...     return {0: 1.0, 500: 0.525, 250: 0.3}.get(step, end)
>>> from dqn_helpers.checks import check_epsilon_at
>>> check_epsilon_at(student)
✔ Exercise 2.3 passed: linear from start to end over decay_steps, then constant
>>> ref = reference({"epsilon_at": solution})
>>> HIDDEN["2.3"](ref, solution)  # passes: returns None, prints nothing
>>> HIDDEN["2.3"](ref, student)
Traceback (most recent call last):
...
dqn_helpers.checks._core.CheckError: Exercise 2.3: epsilon_at(7387, start=0.999, end=0.196, decay_steps=17345) returned 0.196425, expected 0.657313.

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


def _learners(ref, seeds: tuple[int, int], n: int, obs_dim: int, n_actions: int,
              batch_seed: int, lr: float):
    """The set-up of a learning-step check (labs 02, 03, 06): an online network and its target,
    a copy of the online one for the reference's step, a batch, and an SGD optimiser for each
    of the two online networks."""
    import copy

    import torch

    q_network, target_network = _mlp(obs_dim, n_actions, seeds[0]), _mlp(obs_dim, n_actions, seeds[1])
    ref_net = copy.deepcopy(q_network)
    batch = _lab02_batch(ref, n, obs_dim, n_actions, batch_seed)
    return (q_network, target_network, ref_net, batch, torch.optim.SGD(q_network.parameters(), lr=lr),
            torch.optim.SGD(ref_net.parameters(), lr=lr))


def _same_weights(net, other) -> bool:
    import torch

    return all(torch.allclose(a, b, atol=1e-5) for a, b in zip(net.parameters(),
                                                                other.parameters()))


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
    ex = "2.6"
    q_network, target_network, ref_net, batch, opt, ref_opt = _learners(ref, (2061, 2062), 10, 5, 3,
                                                                batch_seed=2006, lr=0.03)
    for step in range(3):
        shown = f"learn_step(...) step {step + 1} on 10 transitions with 3 actions"
        loss = call(ex, learn_step, q_network, target_network, opt, batch, 0.97, shown=shown)
        expected = ref.learn_step(ref_net, target_network, ref_opt, batch, 0.97)
        if not np.isclose(float(loss), expected, rtol=1e-4):
            fail(ex, f"{shown}: loss {fmt(float(loss))}, expected {fmt(expected)}.")
    if not _same_weights(q_network, ref_net):
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
    ex = "3.2"
    q_network, target_network, ref_net, batch, opt, ref_opt = _learners(ref, (3021, 3022), 12, 8, 4,
                                                                batch_seed=3002, lr=0.02)
    batch = batch._replace(rewards=batch.rewards * 20)  # large errors: clipping matters
    for step, max_norm in enumerate((0.3, 5.0, 0.05)):
        shown = f"learn_step(..., gamma=0.95, max_grad_norm={max_norm}), step {step + 1}"
        loss = call(ex, learn_step, q_network, target_network, opt, batch, 0.95, max_norm, shown=shown)
        expected = ref.learn_step(ref_net, target_network, ref_opt, batch, 0.95, max_norm)
        if not np.isclose(float(loss), expected, rtol=1e-4):
            fail(ex, f"{shown}: loss {fmt(float(loss))}, expected {fmt(expected)}.")
        if not _same_weights(q_network, ref_net):
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


# --- lab 05 -------------------------------------------------------------------------------

@hidden("5.1")
def hidden_nature_cnn(ref, NatureQNetwork) -> None:
    import torch

    ex = "5.1"
    torch.manual_seed(5011)
    want = ref.NatureQNetwork(9, frames=3)
    got = call(ex, NatureQNetwork, 9, frames=3, shown="NatureQNetwork(n_actions=9, frames=3)")
    got_params, want_params = list(got.parameters()), list(want.parameters())
    if [p.shape for p in got_params] != [p.shape for p in want_params]:
        fail(ex, "NatureQNetwork(n_actions=9, frames=3) does not have the Nature layers for 3 input "
                 "frames and 9 actions: use the frames and n_actions arguments.")
    with torch.no_grad():
        for mine, theirs in zip(got_params, want_params):
            mine.copy_(theirs)
        g = torch.Generator().manual_seed(5012)
        x = torch.randint(0, 256, (5, 3, 84, 84), generator=g, dtype=torch.uint8)
        for batch, what in ((x, "uint8"), (x.float(), "float")):
            out = call(ex, got, batch, shown=f"q_network(x) for (5, 3, 84, 84) {what} pixels")
            if not torch.allclose(out, want(batch), atol=1e-5):
                fail(ex, f"with the same weights, NatureQNetwork(9, frames=3) gives other Q-values "
                         f"than the Nature network on {what} pixels.")


@hidden("5.2")
def hidden_frame_replay_memory(ref, FrameReplayMemory) -> None:
    from dqn_helpers.checks import lab05

    ex = "5.2"
    played = lab05.play([3, 12, 1, 8, 5, 2, 9], seed=5021, last_unfinished=6)
    mine = lab05.fill_memory(ex, FrameReplayMemory, 23, played)
    theirs = lab05.fill_memory(ex, ref.FrameReplayMemory, 23, played)
    used = theirs.is_transition  # an episode's last-frame slot holds a frame, no transition
    for name in ("position", "frames", "first", "is_transition", "actions", "rewards",
                 "terminated"):
        got, want = np.asarray(getattr(mine, name)), np.asarray(getattr(theirs, name))
        if name in ("actions", "rewards", "terminated"):
            got, want = got[used], want[used]
        if not np.array_equal(got, want):
            fail(ex, f"after 52 transitions through 23 slots, memory.{name} differs from a "
                     f"correct memory's.")
    slots = np.arange(theirs.position - 23 + 3, theirs.position)
    got = np.asarray(call(ex, mine.stack, slots, shown="memory.stack(slots)"))
    if not np.array_equal(got, theirs.stack(slots)):
        fail(ex, "after the ring wrapped, memory.stack(slots) differs from the stacks "
                 "FrameStackObservation produced.")


@hidden("5.3")
def hidden_learning_signal(ref, learning_signal) -> None:
    ex = "5.3"
    rng = np.random.default_rng(5031)
    for _ in range(40):
        reward = float(rng.choice([0.0, 1.0, 4.0, 7.0, -1.0, -9.0, 0.25, -0.75, 100.0]))
        terminated = bool(rng.random() < 0.2)
        lives = int(rng.integers(0, 6))
        new_lives = max(0, lives - int(rng.integers(-1, 2)))
        shown = f"learning_signal({reward}, {terminated}, {lives}, {new_lives})"
        got = call(ex, learning_signal, reward, terminated, lives, new_lives, shown=shown)
        want = ref.learning_signal(reward, terminated, lives, new_lives)
        if not isinstance(got, tuple) or len(got) != 2 or float(got[0]) != want[0] \
                or bool(got[1]) != want[1]:
            fail(ex, f"{shown} returned {got!r}, expected {want!r}.")


# --- lab 04 -------------------------------------------------------------------------------

@hidden("4.1")
def hidden_cart_crop(ref, CartCrop) -> None:
    from dqn_helpers.checks import lab04

    ex = "4.1"
    rng = np.random.default_rng(4011)
    env = lab04.cartpole(seed=4011)
    try:
        mine = call(ex, CartCrop, env, 36, 54, shown="CartCrop(env, height=36, width=54)")
        theirs = ref.CartCrop(env, 36, 54)
        for _ in range(8):
            x, theta = float(rng.uniform(-2.35, 2.35)), float(rng.uniform(-0.2, 0.2))
            state = lab04.put(env, x, theta)
            shown = f"a 36x54 CartCrop's observation() with x = {x:.2f}, theta = {theta:.2f}"
            got = np.asarray(call(ex, mine.observation, state, shown=shown))
            want = theirs.observation(state)
            if got.shape != want.shape or got.dtype != np.uint8 \
                    or np.abs(got.astype(float) - want).mean() > 8:
                fail(ex, f"{shown} does not match the expected window (shape {want.shape}, "
                         f"uint8, the cart in the middle).")
    finally:
        env.close()


@hidden("4.2")
def hidden_make_pixel_env(ref, make_pixel_env) -> None:
    ex = "4.2"
    rng = np.random.default_rng(4021)
    for k in (2, 5):
        shown = f"make_pixel_env(k={k})"
        mine, theirs = call(ex, make_pixel_env, k, shown=shown), ref.make_pixel_env(k)
        try:
            for episode in range(2):  # the second reset must not keep the first episode's frames
                got, _ = call(ex, mine.reset, seed=4021 + episode, shown=f"{shown}.reset()")
                want, _ = theirs.reset(seed=4021 + episode)
                for step in range(40):
                    got, want = np.asarray(got), np.asarray(want)
                    if got.shape != want.shape or \
                            np.abs(got.astype(float) - want).mean(axis=(1, 2)).max() > 8:
                        fail(ex, f"{shown}: after reset and {step} step(s) of episode "
                                 f"{episode + 1}, the stack differs from the last {k} windows, "
                                 f"oldest first.")
                    action = int(rng.integers(2))
                    got = mine.step(action)[0]
                    want, _, done, cut, _ = theirs.step(action)
                    if done or cut:
                        break
        finally:
            mine.close()
            theirs.close()


@hidden("4.3")
def hidden_pixel_q_network(ref, PixelQNetwork) -> None:
    import torch

    from dqn_helpers.checks import lab04

    ex = "4.3"
    g = torch.Generator().manual_seed(4031)
    for shape, n_actions in (((2, 36, 54), 3), ((6, 52, 80), 4)):
        shown = f"PixelQNetwork(obs_shape={shape}, n_actions={n_actions})"
        net = call(ex, PixelQNetwork, shape, n_actions, shown=shown)
        pixels = torch.randint(0, 256, (5, *shape), generator=g, dtype=torch.uint8)
        q_uint8 = call(ex, net, pixels, shown=f"{shown} on a uint8 batch of 5")
        q_float = call(ex, net, pixels.float(), shown=f"{shown} on the same batch as float32")
        if not isinstance(q_uint8, torch.Tensor) or tuple(q_uint8.shape) != (5, n_actions) \
                or q_uint8.dtype != torch.float32:
            fail(ex, f"{shown} should return float32 Q-values of shape (5, {n_actions}).")
        if not torch.allclose(q_uint8, q_float, atol=1e-5):
            fail(ex, f"{shown} gives different Q-values for the same pixels as uint8 and as "
                     f"float32.")
        conv = lab04._first_conv(net)
        if conv is None:
            fail(ex, f"{shown} has no nn.Conv2d layer.")
        with lab04.inputs_of(conv) as seen:
            call(ex, net, torch.full((1, *shape), 255, dtype=torch.uint8), shown=shown)
        if not seen or float(seen[0].max()) > 1.0:
            fail(ex, f"{shown}: an all-white uint8 input reached the first convolution "
                     f"unscaled; divide the pixels by 255 inside forward.")


# --- lab 06 -------------------------------------------------------------------------------

@hidden("6.1")
def hidden_double_td_target(ref, double_td_target) -> None:
    ex = "6.1"
    for seed, gamma in ((6011, 0.97), (6012, 0.5)):
        q_network, target_network = _mlp(6, 4, seed), _mlp(6, 4, seed + 100)
        batch = _lab02_batch(ref, 20, 6, 4, seed)
        shown = f"double_td_target(...) on 20 transitions, 4 actions, gamma={gamma}"
        got = call(ex, double_td_target, batch.rewards, batch.next_obs, batch.terminated, q_network,
                   target_network, gamma, shown=shown)
        expected = ref.double_td_target(batch.rewards, batch.next_obs, batch.terminated, q_network,
                                        target_network, gamma)
        if not np.allclose(as_array(ex, got, shown), expected.numpy(), atol=1e-5):
            fail(ex, f"{shown} does not match the Double DQN target.")


@hidden("6.2")
def hidden_dueling_q_network(ref, DuelingQNetwork) -> None:
    import torch

    from dqn_helpers.checks.lab06 import _heads, _streams

    ex = "6.2"
    torch.manual_seed(6002)
    shown = "DuelingQNetwork(7, 3, hidden=64) on a batch of 13"
    net = call(ex, DuelingQNetwork, 7, 3, 64, shown=shown)
    value_head, advantage_head = _heads(net, 3)
    if value_head is None or advantage_head is None:
        fail(ex, f"{shown}: no value head (1 output) or no advantage head (3 outputs).")
    x = torch.randn(13, 7) * 3
    out, v, a = call(ex, _streams, net, value_head, advantage_head, x, shown=shown)
    if v is None or a is None or tuple(out.shape) != (13, 3) or not torch.allclose(
            out.detach(), v + a - a.mean(dim=1, keepdim=True), atol=1e-5):
        fail(ex, f"{shown} does not return V + A - mean over the actions of A.")


@hidden("6.3")
def hidden_sum_tree(ref, SumTree) -> None:
    ex = "6.3"
    rng = np.random.default_rng(6003)
    for capacity in (1_000, 3):
        mine, theirs = call(ex, SumTree, capacity, shown=f"SumTree({capacity})"), \
            ref.SumTree(capacity)
        for _ in range(5):  # batches with repeated slots (the same priority each time)
            slots = rng.integers(capacity, size=min(capacity, 40))
            priorities = rng.random(capacity)[slots] * 10
            call(ex, mine.update, slots, priorities, shown=f"update(...) on SumTree({capacity})")
            theirs.update(slots, priorities)
        if not np.isclose(mine.total, theirs.total):
            fail(ex, f"after 5 batched updates of SumTree({capacity}) the total is "
                     f"{fmt(float(mine.total))}, expected {fmt(theirs.total)}.")
        values = rng.uniform(0, theirs.total, size=200)
        got = call(ex, mine.find, values.copy(), shown=f"find(200 values) on SumTree({capacity})")
        if not np.array_equal(np.asarray(got), theirs.find(values)):
            fail(ex, f"find on SumTree({capacity}) picked other slots than the prefix sums give.")


@hidden("6.4")
def hidden_prioritized_replay_memory(ref, PrioritizedReplayMemory) -> None:
    import torch

    ex = "6.4"
    rng = np.random.default_rng(6004)
    args = (50, 4, 0.7, 0.05)
    mine = call(ex, PrioritizedReplayMemory, *args, shown="PrioritizedReplayMemory(50, 4, 0.7, 0.05)")
    theirs = ref.PrioritizedReplayMemory(*args)
    for step in range(30):
        transition = (rng.normal(size=4).astype(np.float32), int(rng.integers(2)), float(step),
                      rng.normal(size=4).astype(np.float32), bool(rng.random() < 0.1))
        call(ex, mine.add, *transition, shown="add(...)")
        theirs.add(*transition)
        if step % 10 == 9:
            slots, errors = rng.integers(len(theirs), size=8), rng.normal(size=8) * 3
            call(ex, mine.update_priorities, slots, errors.copy(), shown="update_priorities(...)")
            theirs.update_priorities(slots, errors)
    leaves = np.arange(30)
    if not np.allclose(mine.tree.priority(leaves), theirs.tree.priority(leaves)):
        fail(ex, "after 30 add() and 3 update_priorities() calls (alpha=0.7, eps=0.05) the "
                 "priorities differ from (|td_error| + eps) ** alpha and max_priority.")
    np.random.seed(6004)
    out = call(ex, mine.sample, 12, 0.6, shown="sample(12, beta=0.6)")
    _, indices, weights = out
    p = theirs.tree.priority(np.asarray(indices)) / theirs.tree.total
    expected = (30 * p) ** -0.6
    if not isinstance(weights, torch.Tensor) or not np.allclose(
            weights.numpy(), expected / expected.max(), atol=1e-5):
        fail(ex, "sample(12, beta=0.6): the weights are not (N * P(i)) ** -beta / max.")


@hidden("6.5")
def hidden_learn_step_weighted(ref, learn_step) -> None:
    import torch

    ex = "6.5"
    for seed, double in ((6051, True), (6052, False)):
        q_network, target_network, ref_net, batch, opt, ref_opt = _learners(ref, (seed, seed + 1), 16,
                                                                    5, 3, batch_seed=seed,
                                                                    lr=0.03)
        weights = torch.rand(16, generator=torch.Generator().manual_seed(seed))
        weights = weights / weights.max()
        shown = f"learn_step(..., gamma=0.95, weights, double={double}) on 16 transitions"
        out = call(ex, learn_step, q_network, target_network, opt, batch, 0.95, weights.clone(), double,
                   shown=shown)
        loss, td_errors = ref.learn_step(ref_net, target_network, ref_opt, batch, 0.95, weights,
                                         double)
        if not (isinstance(out, tuple) and len(out) == 2) or \
                not np.isclose(float(out[0]), loss, rtol=1e-4) or \
                not np.allclose(np.abs(as_array(ex, out[1], shown)), np.abs(td_errors),
                                atol=1e-5):
            fail(ex, f"{shown}: the loss or the TD errors differ from the weighted learning "
                     f"step's.")
        if not _same_weights(q_network, ref_net):
            fail(ex, f"after {shown} the weights differ from a correct step.")
