"""Checks for lab 00: returns, the Bellman equations and value iteration on a tiny MDP."""

from __future__ import annotations

import itertools

import numpy as np

from dqn_helpers.checks._core import (
    Scenario,
    as_array,
    call,
    close,
    fail,
    fmt,
    passed,
    register,
    scenario,
)


def corridor_mdp(slip: float = 0.2):
    """The lab's corridor: states A, B, C and End (absorbing); actions 0 = cash in, 1 = move.

    Returns ``P`` with shape (states, actions, next states) and ``R`` with shape
    (states, actions): ``P[s, a, s2]`` is the probability of landing in ``s2``, ``R[s, a]`` the
    expected reward. The notebook writes the same arrays out by hand.
    """
    P = np.zeros((4, 2, 4))
    R = np.zeros((4, 2))
    for s, cash in enumerate([2.0, 4.0, 6.0]):
        P[s, 0, 3] = 1.0           # cash in: the episode ends
        R[s, 0] = cash
        P[s, 1, s + 1] = 1 - slip  # move right (from C, "right" is the exit worth 10)
        P[s, 1, s] = slip          # or slip and stay
    R[2, 1] = (1 - slip) * 10.0
    P[3, :, 3] = 1.0               # End is absorbing and pays nothing
    return P, R


def random_mdp(seed: int, states: int = 5, actions: int = 3):
    rng = np.random.default_rng(seed)
    P = rng.random((states, actions, states)) ** 3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(states, actions))
    return P, R


def exact_policy_value(P, R, policy, gamma):
    """Solve V = r_pi + gamma * P_pi V exactly (a linear system)."""
    r_pi = (policy * R).sum(axis=1)
    P_pi = np.einsum("sa,sat->st", policy, P)
    return np.linalg.solve(np.eye(len(R)) - gamma * P_pi, r_pi)


def exact_optimal_value(P, R, gamma):
    """V* by trying every deterministic policy (fine for tiny MDPs): V*(s) = max_pi V_pi(s)."""
    states, actions = R.shape
    best = np.full(states, -np.inf)
    for choice in itertools.product(range(actions), repeat=states):
        policy = np.eye(actions)[list(choice)]
        best = np.maximum(best, exact_policy_value(P, R, policy, gamma))
    return best


@register("0.1")
def check_discounted_return(discounted_return) -> None:
    ex = "0.1"
    cases = [([1.0, 1.0, 1.0], 0.9), ([0.0, 0.0, 10.0], 0.5), ([5.0], 0.99), ([], 0.9),
             ([1.0, -2.0, 3.0, 4.0], 1.0)]
    for rewards, gamma in cases:
        shown = f"discounted_return({rewards}, gamma={gamma})"
        got = call(ex, discounted_return, list(rewards), gamma, shown=shown)
        expected = sum(gamma ** t * r for t, r in enumerate(rewards))
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(ex, f"{shown} should return a number, got {type(got).__name__} {got!r}")
        if not np.isclose(got, expected):
            late = sum(gamma ** (t + 1) * r for t, r in enumerate(rewards))
            backwards = sum(gamma ** t * r for t, r in enumerate(reversed(rewards)))
            hint = ""
            if np.isclose(got, backwards):
                hint = " The weights are reversed: the first reward gets gamma**0."
            elif np.isclose(got, sum(rewards)) and gamma != 1:
                hint = " It equals the plain sum: each reward must be weighted by gamma**t."
            elif np.isclose(got, late):
                hint = (" The first reward must count fully: its weight is gamma**0 = 1, "
                        "the next one's gamma**1, and so on.")
            fail(ex, f"{shown} returned {fmt(got)}, expected {fmt(expected)}.{hint}")
    passed(ex, "G = r_0 + gamma*r_1 + gamma^2*r_2 + ...")


def _check_values(ex, got, expected, shown, shape_name):
    got = as_array(ex, got, shown)
    if got.shape != expected.shape:
        fail(ex, f"{shown} returned shape {got.shape}, expected {expected.shape} "
                 f"({shape_name}).")
    return got


@register("0.2")
def check_policy_evaluation(policy_evaluation) -> None:
    ex = "0.2"
    P, R = corridor_mdp()
    uniform = np.full((4, 2), 0.5)
    for name, (P_, R_), policy, gamma in [
        ("the corridor, uniform policy", (P, R), uniform, 0.9),
        ("the corridor, always move", (P, R), np.tile([0.0, 1.0], (4, 1)), 0.5),
        ("a random 5-state MDP", random_mdp(1), np.full((5, 3), 1 / 3), 0.8),
    ]:
        shown = f"policy_evaluation(P, R, policy, gamma={gamma}) on {name}"
        got = _check_values(ex, call(ex, policy_evaluation, P_, R_, policy, gamma, shown=shown),
                            exact_policy_value(P_, R_, policy, gamma), shown, "one value per state")
        expected = exact_policy_value(P_, R_, policy, gamma)
        if not np.allclose(got, expected, atol=1e-4):
            hint = ""
            if np.allclose(got, exact_optimal_value(P_, R_, gamma), atol=1e-4):
                hint = (" You computed the optimal values (a max over actions). Policy "
                        "evaluation averages over actions, weighted by policy[s, a].")
            elif np.allclose(got, (policy * R_).sum(axis=1), atol=1e-4):
                hint = " That is only the immediate reward: add gamma * sum_s' P[s, a, s'] V(s')."
            fail(ex, f"{shown} returned {fmt(got)}, expected {fmt(expected)}.{hint}")
    passed(ex, "V matches the exact solution of the Bellman expectation equation")


@register("0.3")
def check_value_iteration(value_iteration) -> None:
    ex = "0.3"
    P, R = corridor_mdp()
    for name, (P_, R_), gamma in [("the corridor", (P, R), 0.9), ("the corridor", (P, R), 0.5),
                                  ("a random 5-state MDP", random_mdp(2), 0.9)]:
        shown = f"value_iteration(P, R, gamma={gamma}) on {name}"
        result = call(ex, value_iteration, P_, R_, gamma, shown=shown)
        if not (isinstance(result, tuple) and len(result) == 2):
            fail(ex, f"{shown} should return a pair (V, Q), got {type(result).__name__}.")
        V_star = exact_optimal_value(P_, R_, gamma)
        Q_star = R_ + gamma * P_ @ V_star
        V = _check_values(ex, result[0], V_star, shown + " -> V", "one value per state")
        Q = _check_values(ex, result[1], Q_star, shown + " -> Q", "states x actions")
        if not np.allclose(V, V_star, atol=1e-4):
            hint = ""
            uniform = np.full(R_.shape, 1 / R_.shape[1])
            if np.allclose(V, exact_policy_value(P_, R_, uniform, gamma), atol=1e-4):
                hint = " You averaged over actions; the optimality equation takes the max."
            fail(ex, f"{shown}: V = {fmt(V)}, expected V* = {fmt(V_star)}.{hint}")
        if not np.allclose(Q, Q_star, atol=1e-4):
            fail(ex, f"{shown}: Q = {fmt(Q)}, expected Q*(s, a) = R[s, a] + gamma * "
                     f"sum_s' P[s, a, s'] V*(s') = {fmt(Q_star)}.")
    passed(ex, "V* and Q* match the exact optimal values")


@register("0.4")
def check_greedy_policy(greedy_policy) -> None:
    ex = "0.4"
    Q = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, -1.0], [0.0, 7.0]])
    expected = np.array([1, 0, 0, 1, 1])
    shown = f"greedy_policy(Q) with Q =\n{fmt(Q)}\n"
    got = np.asarray(call(ex, greedy_policy, Q.copy(), shown="greedy_policy(Q)"))
    if got.shape != expected.shape:
        hint = (" You took the argmax over states (axis 0); take it over actions (axis 1)."
                if got.shape == (2,) else "")
        fail(ex, f"{shown}returned shape {got.shape}, expected {expected.shape}: one action "
                 f"per state.{hint}")
    if not np.issubdtype(got.dtype, np.integer):
        fail(ex, f"{shown}returned {got.dtype} values; actions are integers (np.argmax gives them).")
    if not np.array_equal(got, expected):
        fail(ex, f"{shown}returned {fmt(got)}, expected {fmt(expected)} (ties go to the lowest "
                 f"action, as np.argmax does).")
    passed(ex, "pi(s) = argmax_a Q(s, a)")


@scenario("0.1")
class DiscountedReturnScenario(Scenario):
    """Random rewards of other lengths (one reward included) and discounts, 0 and 1 too."""

    def cases(self, ref):
        rng = np.random.default_rng(1001)
        out = [{"rewards": [float(r) for r in rng.normal(0, 3, size=rng.integers(1, 9)).round(1)],
                "gamma": round(float(rng.uniform(0.1, 0.99)), 2)} for _ in range(10)]
        return out + [{"rewards": [1.0, 2.0, 3.0], "gamma": 0.0},
                      {"rewards": [1.0, -2.0, 3.0, 0.5], "gamma": 1.0},
                      {"rewards": [7.5], "gamma": 0.9}]

    def run(self, case, discounted_return):
        shown = f"discounted_return({case['rewards']}, gamma={case['gamma']})"
        got = call("0.1", discounted_return, list(case["rewards"]), case["gamma"], shown=shown)
        try:
            return float(got)
        except (TypeError, ValueError):
            return {"type": type(got).__name__}

    def judge(self, case, got, expected):
        shown = f"discounted_return({case['rewards']}, gamma={case['gamma']})"
        if not isinstance(got, float):
            fail("0.1", f"{shown} should return a number, got a {got.get('type')}.")
        if not close(got, expected):
            rewards, gamma = case["rewards"], case["gamma"]
            starts_at_1 = sum(gamma ** (t + 1) * r for t, r in enumerate(rewards))
            reversed_ = sum(gamma ** t * r for t, r in enumerate(reversed(rewards)))
            hint = (" The first reward is not discounted: weight reward t by gamma ** t, "
                    "starting at t = 0." if close(got, starts_at_1) else
                    " The discounts run backwards: the first reward gets gamma ** 0."
                    if close(got, reversed_) else "")
            fail("0.1", f"{shown} returned {fmt(got)}, expected {fmt(expected)}.{hint}")
