"""Checks for lab 00: returns, the Bellman equations, value iteration and tabular Q-learning on
a tiny MDP.

Each exercise has a ``_run_*`` function that calls the student's code and returns raw, plain
results, and a ``_problem_*`` function that compares them with the right ones and names the
mistake. The notebook's check uses both on its own inputs (the right answers computed here);
the hidden scenario runs ``_run_*`` in the grading worker and ``_problem_*`` on the trusted
side, against the solution's results.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from dqn_helpers.checks._core import (
    CheckError,
    NotImplementedYet,
    Scenario,
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


def sweeps(P, R, gamma, policy=None, in_place: bool = False,
           max_sweeps: int = 20_000) -> list[np.ndarray]:
    """V after 0, 1, 2, ... Bellman backups from V = 0, until V stops changing.

    Expectation backups under ``policy`` (exercise 0.2), or optimality backups, a max over
    actions, when ``policy`` is None (exercise 0.3). ``in_place``: one state after the other,
    each using the values already updated in this sweep (Sutton and Barto's in-place
    version). ``history[k]`` is what a loop that stopped after k sweeps returns; the last
    entry is the converged V.
    """
    def backup(Q):
        return Q.max(axis=-1) if policy is None else (policy * Q).sum(axis=-1)

    history = [np.zeros(len(R))]
    for _ in range(max_sweeps):
        if in_place:
            V = history[-1].copy()
            for s in range(len(R)):
                Q = R[s] + gamma * P[s] @ V
                V[s] = Q.max() if policy is None else policy[s] @ Q
        else:
            V = backup(R + gamma * P @ history[-1])
        history.append(V)
        change = np.max(np.abs(history[-1] - history[-2]))
        if change <= 1e-13 * (1.0 + np.max(np.abs(history[-1]))):
            break
    return history


# --- raw results: what a scenario's run returns (plain data, never a verdict) ---------------

def raw_number(value: Any) -> dict:
    """``{"type": "number", "value": float}``, a list of numbers, or only the type's name."""
    try:
        many = isinstance(value, (list, tuple)) or np.ndim(value) > 0
    except Exception:  # student objects may raise anything
        many = False
    if many:
        raw = raw_array(value)
        return {"type": "list", "values": raw["values"].ravel()} if "values" in raw else raw
    try:
        return {"type": "number", "value": float(value)}
    except (TypeError, ValueError):
        return {"type": type(value).__name__}


def raw_array(value: Any) -> dict:
    """``{"type": "array", "dtype": ..., "values": array}`` (bools, ints or floats), else the
    type's name only."""
    try:
        if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
    except Exception:  # student objects may raise anything while converting
        return {"type": type(value).__name__}
    dtype = {"b": "bool", "i": "int", "u": "int", "f": "float"}.get(array.dtype.kind)
    if dtype is None:
        return {"type": type(value).__name__}
    # the shape on its own too: the wire sends a 0-d array as shape (1,)
    return {"type": "array", "dtype": dtype, "shape": list(array.shape),
            "values": array.astype({"bool": bool, "int": np.int64, "float": np.float64}[dtype])}


def _kind(got: Any) -> str | None:
    return got.get("type") if isinstance(got, dict) else None


def raw_values(got: dict) -> np.ndarray:
    """The array of a ``raw_array`` result, in its own shape."""
    values, shape = np.asarray(got["values"]), got.get("shape")
    if isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape) \
            and int(np.prod(shape)) == values.size:
        values = values.reshape(shape)
    return values


# ----------------------------------------------------------------- 0.1 the discounted return
def _run_discounted_return(discounted_return, rewards, gamma) -> dict:
    shown = f"discounted_return({list(rewards)}, gamma={gamma})"
    return raw_number(call("0.1", discounted_return, list(rewards), gamma, shown=shown))


def _return_variants(rewards, gamma) -> dict[str, float]:
    """The usual wrong answers, most specific first."""
    n = len(rewards)
    return {
        " The weights are reversed: the first reward gets gamma**0. (Looping forwards with "
        "G = r + gamma * G gives this: loop over reversed(rewards).)":
            sum(gamma ** t * r for t, r in enumerate(reversed(rewards))),
        " It equals the plain sum: each reward must be weighted by gamma**t.": sum(rewards),
        " The first reward must count fully: its weight is gamma**0 = 1, the next one's "
        "gamma**1, and so on.": sum(gamma ** (t + 1) * r for t, r in enumerate(rewards)),
        " Equal rewards were all weighted like the first of them: rewards.index(r) finds the "
        "first equal reward, not this one's position. Use enumerate(rewards).":
            sum(gamma ** rewards.index(r) * r for r in rewards),
        " The last reward is left out: every reward counts, the last one too.":
            sum(gamma ** t * r for t, r in enumerate(rewards[:-1])),
        " The first reward is left out: the return starts at r_0.":
            sum(gamma ** t * r for t, r in enumerate(rewards[1:], start=1)) if n else 0.0,
    }


def _problem_discounted_return(got, rewards, gamma, expected: float) -> str | None:
    rewards = [float(r) for r in rewards]
    shown = f"discounted_return({rewards}, gamma={gamma})"
    if _kind(got) == "list" and "values" in got:
        values = np.asarray(got["values"], dtype=float)
        togo = [sum(gamma ** k * r for k, r in enumerate(rewards[t:])) for t in range(len(rewards))]
        hint = (" Those are the returns from every time step (returns-to-go, as REINFORCE "
                "uses them); this exercise wants only the first, G_0."
                if len(values) == len(togo) and len(values) and close(values, togo) else "")
        return f"{shown} should return a number, got a list of {len(values)} numbers.{hint}"
    if _kind(got) != "number":
        return f"{shown} should return a number, got a {_kind(got) or type(got).__name__}."
    value = got["value"]
    if close(value, expected):
        return None
    variants = _return_variants(rewards, gamma)
    matches = [h for h, v in variants.items() if close(value, v) and not close(v, expected)]
    if len(matches) > 1 and "rewards.index" in matches[1]:  # looks like another mistake here
        matches[0] += (" (If t comes from rewards.index(r): that finds the first equal "
                       "reward, not this one's position; use enumerate(rewards).)")
    return f"{shown} returned {fmt(value)}, expected {fmt(expected)}.{''.join(matches[:1])}"


@register("0.1")
def check_discounted_return(discounted_return) -> None:
    ex = "0.1"
    # these inputs are pinned by tests/submissions.py (a hard-coded answer must pass them);
    # the hidden scenario tries others
    for rewards, gamma in [([1.0, 1.0, 1.0], 0.9), ([0.0, 0.0, 10.0], 0.5), ([5.0], 0.99),
                           ([], 0.9), ([1.0, -2.0, 3.0, 4.0], 1.0)]:
        got = _run_discounted_return(discounted_return, rewards, gamma)
        expected = sum(gamma ** t * r for t, r in enumerate(rewards))
        problem = _problem_discounted_return(got, rewards, gamma, expected)
        if problem:
            fail(ex, problem)
    passed(ex, "G = r_0 + gamma*r_1 + gamma^2*r_2 + ...")


@scenario("0.1")
class DiscountedReturnScenario(Scenario):
    """Random rewards of other lengths, repeated rewards, no reward, discounts 0 and 1 too."""

    def cases(self, ref):
        rng = np.random.default_rng(1001)
        out = [{"rewards": [float(r) for r in rng.normal(0, 3, size=rng.integers(1, 9)).round(1)],
                "gamma": round(float(rng.uniform(0.1, 0.99)), 2)} for _ in range(10)]
        return out + [{"rewards": [1.0, 2.0, 3.0], "gamma": 0.0},
                      {"rewards": [1.0, -2.0, 3.0, 0.5], "gamma": 1.0},
                      {"rewards": [7.5], "gamma": 0.9},
                      {"rewards": [], "gamma": 0.7},
                      {"rewards": [2.0, -1.0, 2.0, 0.5, -1.0], "gamma": 0.8},
                      {"rewards": [1.0] * 12, "gamma": 0.99}]

    def run(self, case, discounted_return):
        return _run_discounted_return(discounted_return, case["rewards"], case["gamma"])

    def judge(self, case, got, expected):
        problem = _problem_discounted_return(got, case["rewards"], case["gamma"],
                                             expected["value"])
        if problem:
            fail("0.1", problem)


# --------------------------------------------------- 0.2 and 0.3: values, and when to stop
def _unconverged_hint(got: np.ndarray, P, R, gamma, policy, one_sweep: str) -> str:
    """Name a loop that stopped before V converged: ``got`` is V after k sweeps from V = 0,
    all states at once or in place."""
    for how in ("", " in-place"):
        history = sweeps(P, R, gamma, policy, in_place=bool(how))
        k = next((k for k, V in enumerate(history[:-1])
                  if V.shape == got.shape and np.allclose(got, V, rtol=1e-9, atol=1e-9)), None)
        if k is not None:
            break
    else:
        return ""
    if k == 0:
        return (" V is all zeros, V before any backup: the loop never ran. A loop "
                "`while delta > tol:` needs delta to start above tol (or use `while True:` "
                "and break once the change is below tol).")
    if k == 1 and not how:
        return one_sweep
    if k == 1:
        return (" V equals the values after one in-place sweep from V = 0: the loop stopped "
                "after its first sweep. Does the stopping test compare V with itself? "
                "(V_old = V makes both names one array: use V.copy().)")
    change = np.max(np.abs(history[k] - history[k - 1]))
    return (f" V equals the values after {k}{how} sweeps from V = 0, while V still changed by "
            f"{change:.2g} per sweep: the loop stopped before V converged. Sweep until the "
            "largest change max|V_new - V| is below tol (1e-10 by default): not a fixed number "
            "of sweeps, and not a looser test (np.allclose's default tolerance is one).")


def _near_miss_hint(got: np.ndarray, expected: np.ndarray) -> str:
    error = float(np.max(np.abs(got - expected)))
    if error < 1e-2 * max(1.0, float(np.max(np.abs(expected)))):
        return (f" Your values are off by at most {error:.2g}: close, so the backup itself is "
                "probably right, but the loop stopped before V converged (a fixed number of "
                "sweeps, a tolerance looser than tol, or a stopping test that compares the "
                "wrong arrays).")
    return ""


def _values_close(got, expected) -> bool:
    return close(got, expected, atol=1e-6, rtol=1e-6)


def _shape_hint(shape: tuple, states: int, actions: int, what: str) -> str:
    if shape == ():
        return (f" A single number: {what} has one value per state (a max or sum without "
                "axis= runs over the whole array; use axis=1, over actions).")
    if shape == (actions,) and actions != states:
        return " That is one value per action: you reduced over states (axis 0); use axis=1."
    return ""


def _problem_values(ex: str, got, expected: np.ndarray, shown: str, P, R, gamma, policy=None,
                    what: str = "V") -> str | None:
    """What is wrong with state values ``got`` (raw), or None; ``policy`` None: optimal."""
    if _kind(got) != "array":
        return (f"{shown} should return {what} as a NumPy array of one value per state, got a "
                f"{_kind(got) or type(got).__name__}.")
    values = raw_values(got).astype(float)
    states, actions = R.shape
    if values.shape != expected.shape:
        hint = _shape_hint(values.shape, states, actions, what)
        if not hint and values.shape == (states, actions):
            hint = (" That is one value per state and action (a Q table): V(s) = "
                    "sum_a policy[s, a] * Q(s, a)." if policy is not None else
                    " That has the shape of Q: the pair is (V, Q), in that order.")
        return (f"{shown} returned {what} of shape {values.shape}, expected {expected.shape} "
                f"(one value per state).{hint}")
    if _values_close(values, expected):
        return None
    if policy is not None:
        uniform = np.full(policy.shape, 1 / actions)
        candidates = {
            " You computed the optimal values (a max over actions). Policy evaluation averages "
            "over actions, weighted by policy[s, a].": sweeps(P, R, gamma)[-1],
            " You averaged over actions with equal weights: weight each action by "
            "policy[s, a] (this policy is not uniform).":
                sweeps(P, R, gamma, uniform)[-1] if not np.allclose(policy, uniform) else None,
        }
        one_sweep = (" That is only the immediate reward, V after one backup from V = 0: add "
                     "gamma * sum_s' P[s, a, s'] V(s'), and repeat the backup until V stops "
                     "changing. (Is the `return` inside the loop? Does the stopping test "
                     "compare V with itself, as V_old = V without .copy() does?)")
    else:
        indices = (values.any() and np.all(values == np.round(values))
                   and 0 <= values.min() <= values.max() < actions)
        candidates = {
            " You averaged over actions; the optimality equation takes the max.":
                sweeps(P, R, gamma, np.full(R.shape, 1 / actions))[-1],
            " V holds action indices: take the max over actions (Q.max(axis=1)), not the "
            "argmax.": values if indices else None,
        }
        one_sweep = (" V = max_a R[s, a], the values after one backup from V = 0: the loop "
                     "stopped after its first sweep. Does the stopping test compare V with "
                     "itself? (V_old = V makes both names one array: use V.copy().)")
    hint = next((h for h, v in candidates.items() if v is not None
                 and np.allclose(values, v, atol=1e-6, rtol=1e-6)), "")
    hint = (hint or _unconverged_hint(values, P, R, gamma, policy, one_sweep)
            or _near_miss_hint(values, expected))
    return f"{shown}: {what} = {fmt(values)}, expected {fmt(expected)}.{hint}"


# ------------------------------------------------------------- 0.2 policy evaluation
def _run_policy_evaluation(policy_evaluation, P, R, policy, gamma, shown) -> dict:
    return raw_array(call("0.2", policy_evaluation, P.copy(), R.copy(), policy.copy(), gamma,
                          shown=shown))


def _shown_mdp(call_text: str, name: str | None, R) -> str:
    states, actions = R.shape
    return (f"{call_text} on {name}" if name else
            f"{call_text} on a random MDP with {states} states and {actions} actions")


@register("0.2")
def check_policy_evaluation(policy_evaluation) -> None:
    ex = "0.2"
    P, R = corridor_mdp()
    uniform = np.full((4, 2), 0.5)
    for name, (P_, R_), policy, gamma in [
        ("the corridor, uniform policy", (P, R), uniform, 0.9),
        ("the corridor, always move", (P, R), np.tile([0.0, 1.0], (4, 1)), 0.5),
        ("a random 5-state MDP", random_mdp(1), np.full((5, 3), 1 / 3), 0.8),
        ("a random 3-state MDP, a mixed policy", random_mdp(3, 3, 4),
         np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1], [0.0, 0.5, 0.0, 0.5]]), 0.99),
    ]:
        shown = _shown_mdp(f"policy_evaluation(P, R, policy, gamma={gamma})", name, R_)
        got = _run_policy_evaluation(policy_evaluation, P_, R_, policy, gamma, shown)
        problem = _problem_values(ex, got, exact_policy_value(P_, R_, policy, gamma), shown,
                                  P_, R_, gamma, policy)
        if problem:
            fail(ex, problem)
    passed(ex, "V matches the exact solution of the Bellman expectation equation")


@scenario("0.2")
class PolicyEvaluationScenario(Scenario):
    """Random MDPs with more states than actions, fewer, and as many; stochastic and
    deterministic policies; gamma from 0 to 0.99 (where a loop stopped early shows)."""

    def cases(self, ref):
        rng = np.random.default_rng(1002)
        out = []
        for seed, (states, actions), gamma, kind in [
                (11, (3, 2), 0.7, "mixed"), (12, (6, 4), 0.95, "mixed"),
                (13, (2, 3), 0.3, "mixed"), (14, (4, 4), 0.99, "deterministic"),
                (15, (5, 2), 0.0, "mixed"), (16, (1, 3), 0.5, "mixed"),
                (17, (3, 3), 0.9, "mixed")]:
            P, R = random_mdp(seed, states, actions)
            policy = (np.eye(actions)[rng.integers(actions, size=states)]
                      if kind == "deterministic" else rng.dirichlet(np.ones(actions), size=states))
            out.append({"P": P, "R": R, "policy": policy, "gamma": gamma})
        return out

    def shown(self, case):
        return _shown_mdp(f"policy_evaluation(P, R, policy, gamma={case['gamma']})", None,
                          case["R"])

    def run(self, case, policy_evaluation):
        return _run_policy_evaluation(policy_evaluation, case["P"], case["R"], case["policy"],
                                      case["gamma"], self.shown(case))

    def judge(self, case, got, expected):
        problem = _problem_values("0.2", got, raw_values(expected), self.shown(case), case["P"],
                                  case["R"], case["gamma"], case["policy"])
        if problem:
            fail("0.2", problem)


# ------------------------------------------------------------- 0.3 value iteration
def _run_value_iteration(value_iteration, P, R, gamma, shown) -> dict:
    result = call("0.3", value_iteration, P.copy(), R.copy(), gamma, shown=shown)
    if isinstance(result, tuple) and len(result) == 2:
        return {"type": "pair", "V": raw_array(result[0]), "Q": raw_array(result[1])}
    out = {"type": type(result).__name__}
    if isinstance(result, (tuple, list)):
        out["length"] = len(result)
    elif isinstance(raw_array(result).get("values"), np.ndarray):
        out["shape"] = list(raw_array(result)["values"].shape)
    return out


def _problem_value_iteration(got, expected_V, expected_Q, shown, P, R, gamma) -> str | None:
    if _kind(got) != "pair":
        hint = ""
        got = got if isinstance(got, dict) else {}
        if got.get("shape") == [len(R)]:
            hint = " It returned one array, V only: return V, Q."
        elif "length" in got:
            hint = f" It returned a {got['type']} of {got['length']} items."
        return f"{shown} should return a pair (V, Q), got {_kind(got) or 'something else'}.{hint}"
    V, Q = got.get("V"), got.get("Q")
    if (_kind(V) == "array" and _kind(Q) == "array" and raw_values(V).shape == expected_Q.shape
            and raw_values(Q).shape == expected_V.shape):
        return (f"{shown} returned (Q, V): the pair is (V, Q), in that order: "
                "V of shape (n_states,), then Q of shape (n_states, n_actions).")
    problem = _problem_values("0.3", V, expected_V, shown + " -> V", P, R, gamma, what="V")
    if problem:
        return problem
    if _kind(Q) != "array":
        return f"{shown} -> Q should be a NumPy array, got a {_kind(Q)}."
    Q = raw_values(Q).astype(float)
    if Q.shape != expected_Q.shape:
        return (f"{shown} -> Q has shape {Q.shape}, expected {expected_Q.shape} "
                "(states x actions).")
    if close(Q, expected_Q, atol=1e-6, rtol=1e-6):
        return None
    V_star = raw_values(V).astype(float)
    hint = next((h for h, v in {
        " Q is only R: add the future, gamma * sum_s' P[s, a, s'] V*(s').": R,
        " The future term needs gamma: Q = R + gamma * P @ V.": R + P @ V_star,
    }.items() if close(Q, v, atol=1e-6, rtol=1e-6)), _near_miss_hint(Q, expected_Q))
    return (f"{shown}: Q = {fmt(Q)}, expected Q*(s, a) = R[s, a] + gamma * "
            f"sum_s' P[s, a, s'] V*(s') = {fmt(expected_Q)}.{hint}")


@register("0.3")
def check_value_iteration(value_iteration) -> None:
    ex = "0.3"
    P, R = corridor_mdp()
    for name, (P_, R_), gamma in [("the corridor", (P, R), 0.9), ("the corridor", (P, R), 0.5),
                                  ("a random 5-state MDP", random_mdp(2), 0.9),
                                  ("a random 3-state MDP with 4 actions", random_mdp(4, 3, 4),
                                   0.99)]:
        shown = _shown_mdp(f"value_iteration(P, R, gamma={gamma})", name, R_)
        got = _run_value_iteration(value_iteration, P_, R_, gamma, shown)
        V_star = exact_optimal_value(P_, R_, gamma)
        problem = _problem_value_iteration(got, V_star, R_ + gamma * P_ @ V_star, shown, P_,
                                           R_, gamma)
        if problem:
            fail(ex, problem)
    passed(ex, "V* and Q* match the exact optimal values")


@scenario("0.3")
class ValueIterationScenario(Scenario):
    """Random MDPs with more states than actions, fewer, and as many; gamma 0 to 0.99."""

    def cases(self, ref):
        return [{"P": P, "R": R, "gamma": gamma} for (P, R), gamma in [
            (random_mdp(21, 4, 3), 0.8), (random_mdp(22, 6, 2), 0.95),
            (random_mdp(23, 2, 4), 0.5), (random_mdp(24, 4, 4), 0.99),
            (random_mdp(25, 3, 2), 0.0), (random_mdp(26, 1, 3), 0.9)]]

    def shown(self, case):
        return _shown_mdp(f"value_iteration(P, R, gamma={case['gamma']})", None, case["R"])

    def run(self, case, value_iteration):
        return _run_value_iteration(value_iteration, case["P"], case["R"], case["gamma"],
                                    self.shown(case))

    def judge(self, case, got, expected):
        if _kind(got) is None:
            fail("0.3", f"{self.shown(case)} returned something the grader cannot read.")
        V, Q = raw_values(expected["V"]), raw_values(expected["Q"])
        problem = _problem_value_iteration(got, V, Q, self.shown(case), case["P"], case["R"],
                                           case["gamma"])
        if problem:
            fail("0.3", problem)


# ------------------------------------------------------------- 0.4 the greedy policy
def _run_greedy_policy(greedy_policy, Q) -> dict:
    return raw_array(call("0.4", greedy_policy, Q.copy(), shown="greedy_policy(Q)"))


def _problem_greedy_policy(got, Q, expected: np.ndarray) -> str | None:
    shown = f"greedy_policy(Q) with Q =\n{fmt(Q)}\n"
    states, actions = Q.shape
    if _kind(got) != "array":
        return (f"{shown}should return an array of actions, one per state, got a "
                f"{_kind(got) or type(got).__name__}.")
    values = raw_values(got)
    if values.shape != expected.shape:
        hint = ""
        if values.shape == ():
            hint = (" np.argmax(Q) without axis= gives one index into the flattened Q: use "
                    "np.argmax(Q, axis=1).")
        elif values.shape == (actions,) and actions != states:
            hint = " You took the argmax over states (axis 0); take it over actions (axis 1)."
        elif values.shape == Q.shape and np.array_equal(values, np.eye(actions)[expected]):
            hint = (" That is the policy as a table, a 1 at the best action of each state; "
                    "return the actions themselves: np.argmax(Q, axis=1).")
        return (f"{shown}returned shape {values.shape}, expected {expected.shape}: one action "
                f"per state.{hint}")
    if got.get("dtype") != "int":
        hint = (" Those are the best values, Q.max(axis=1); the exercise wants the best "
                "actions, np.argmax(Q, axis=1)." if close(values, Q.max(axis=1)) else "")
        return (f"{shown}returned {got.get('dtype')} values; actions are integers (np.argmax "
                f"gives them).{hint}")
    if np.array_equal(values, expected):
        return None
    ties = np.array([np.sum(row == row.max()) > 1 for row in Q])
    hint = ""
    if states == actions and np.array_equal(values, np.argmax(Q, axis=0)):
        hint = " You took the argmax over states (axis 0); take it over actions (axis 1)."
    elif np.array_equal(values, np.argmin(Q, axis=1)):
        hint = " That is the argmin: the greedy action has the largest Q."
    elif ties.any() and np.array_equal(values[~ties], expected[~ties]):
        hint = (" Only the states with a tie differ: ties go to the lowest action, as "
                "np.argmax does.")
    return (f"{shown}returned {fmt(values)}, expected {fmt(expected)} (ties go to the lowest "
            f"action, as np.argmax does).{hint}")


@register("0.4")
def check_greedy_policy(greedy_policy) -> None:
    ex = "0.4"
    # pinned by tests/submissions.py (a hard-coded answer must pass it); the hidden scenario
    # tries square Qs, fewer states than actions, and more ties
    Q = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, -1.0], [0.0, 7.0]])
    problem = _problem_greedy_policy(_run_greedy_policy(greedy_policy, Q), Q,
                                     np.array([1, 0, 0, 1, 1]))
    if problem:
        fail(ex, problem)
    passed(ex, "pi(s) = argmax_a Q(s, a)")


@scenario("0.4")
class GreedyPolicyScenario(Scenario):
    """Other shapes (square, fewer states than actions, one state) and ties."""

    def cases(self, ref):
        rng = np.random.default_rng(1004)
        out = []
        for shape in [(6, 3), (2, 5), (1, 4), (9, 2), (3, 3), (4, 4)]:
            Q = rng.normal(size=shape).round(2)
            if shape[0] > 2:
                Q[1, :] = Q[1, 0]                    # a tie between all actions
                Q[2, -1] = Q[2, :-1].max()           # a tie with the last action
            out.append({"Q": Q})
        return out

    def run(self, case, greedy_policy):
        return _run_greedy_policy(greedy_policy, case["Q"])

    def judge(self, case, got, expected):
        problem = _problem_greedy_policy(got, case["Q"], raw_values(expected))
        if problem:
            fail("0.4", problem)



# ------------------------------------------------------------- 0.5 the Q-learning update
def _reference_q_learning_update(Q, state, action, reward, next_state, terminated, alpha,
                                 gamma) -> float:
    """The lab's update (exercise 0.5), for the checks of the exercises that build on it."""
    td_error = reward + gamma * (1 - terminated) * np.max(Q[next_state]) - Q[state, action]
    Q[state, action] += alpha * td_error
    return float(td_error)


def _update_shown(transition, alpha, gamma) -> str:
    state, action, reward, next_state, terminated = transition
    return (f"q_learning_update(Q, state={state}, action={action}, reward={reward}, "
            f"next_state={next_state}, terminated={bool(terminated)}, alpha={alpha}, "
            f"gamma={gamma})")


def _run_q_learning_update(q_learning_update, Q, transitions, alpha, gamma) -> dict:
    """Apply the student's update to one table (a copy of ``Q``), transition after transition:
    what each call returned, and the table after it."""
    Q = np.array(Q, dtype=float)
    steps = []
    for transition in transitions:
        state, action, reward, next_state, terminated = transition
        returned = call("0.5", q_learning_update, Q, int(state), int(action), float(reward),
                        int(next_state), bool(terminated), alpha, gamma,
                        shown=_update_shown(transition, alpha, gamma))
        steps.append({"returned": raw_number(returned), "Q": raw_array(Q)})
    return {"type": "updates", "steps": steps}


def _target_variants(Q, transition, gamma) -> dict[str, float]:
    """The usual wrong TD targets, most specific first (the right one is not among them)."""
    state, action, reward, next_state, terminated = transition
    future = np.max(Q[next_state])
    done = float(bool(terminated))
    return {
        " After a terminal transition there is no future: the target is the reward alone. "
        "Multiply the max by (1 - terminated).": reward + gamma * future,
        " The terminal mask is inverted: (1 - terminated) keeps the future while the episode "
        "goes on and drops it at a terminal transition.": reward + gamma * done * future,
        " The max is over the wrong state: the target looks one step ahead, "
        "max(Q[next_state]), not max(Q[state]).":
            reward + gamma * (1 - done) * np.max(Q[state]),
        " That max is over the whole table: take it over the next state's actions, "
        "np.max(Q[next_state]).": reward + gamma * (1 - done) * np.max(Q),
        " The target uses Q[next_state, action], the action just taken: Q-learning takes the "
        "best next action, max(Q[next_state]).": reward + gamma * (1 - done) * Q[next_state, action],
        " The future term needs gamma: td_target = reward + gamma * (1 - terminated) * "
        "max(Q[next_state]).": reward + (1 - done) * future,
    }


def _entry_problem(Q_before, Q_after, transition, alpha, gamma) -> str:
    """Why the new Q[state, action] is wrong (the other entries are right)."""
    state, action = transition[0], transition[1]
    old, new = Q_before[state, action], Q_after[state, action]
    reward, terminated = transition[2], transition[4]
    y = reward + gamma * (1 - float(bool(terminated))) * np.max(Q_before[transition[3]])
    want = old + alpha * (y - old)
    forms = {  # the update written wrongly, with the right target
        " The learning rate scales the TD error, not the target: Q[state, action] += alpha * "
        "(td_target - Q[state, action]). (Q[state, action] = alpha * td_target forgets the old "
        "value.)": alpha * y,
        " The learning rate scales the TD error, not the target: Q[state, action] += alpha * "
        "(td_target - Q[state, action]), not alpha * td_target.": old + alpha * y,
        " Q[state, action] was set to the target itself: move it only a step alpha towards it, "
        "Q[state, action] += alpha * (td_target - Q[state, action]).": y,
        " The step goes away from the target: the TD error is td_target - Q[state, action], "
        "not the other way round.": old - alpha * (y - old),
    }
    hint = next((h for h, v in forms.items() if close(new, v) and not close(v, want)), "")
    if not hint:
        hint = next((h for h, target in _target_variants(Q_before, transition, gamma).items()
                     if close(new, old + alpha * (target - old))
                     and not close(target, y)), "")
    return (f"set Q[{state}, {action}] to {fmt(float(new))}, expected {fmt(float(want))} = "
            f"Q[s, a] + alpha * (td_target - Q[s, a]) with td_target = reward + gamma * "
            f"(1 - terminated) * max(Q[next_state]) = {fmt(float(y))}.{hint}")


def _table_problem(Q_before, Q_after, transition, want) -> str | None:
    """What is wrong with the entries of Q other than Q[state, action], or None."""
    state, action, next_state = transition[0], transition[1], transition[3]
    changed = ~np.isclose(Q_after, Q_before, rtol=1e-9, atol=1e-12)
    if not changed.any() and not close(want, Q_before, atol=1e-9, rtol=1e-9):
        return ("left Q unchanged: update the table in place, Q[state, action] += ... "
                "(Q = Q.copy() or Q = Q + ... makes a new array, and the caller's table stays "
                "as it was).")
    others = changed.copy()
    others[state, action] = False
    if not others.any():
        return None
    where = [tuple(int(i) for i in ix) for ix in np.argwhere(others)]
    hint = ""
    if changed[state].all() and Q_after.shape[1] > 1:
        hint = (" It changed every action of the state (Q[state] += ...): only the action "
                "taken moves.")
    elif where == [(next_state, action)]:
        hint = (" That is Q[next_state, action]: update the entry of the state the transition "
                "started from, Q[state, action].")
    return (f"changed Q at {', '.join(str(list(w)) for w in where[:6])}: only "
            f"Q[state, action] = Q[{state}, {action}] may change.{hint}")


def _return_problem(returned, Q_before, Q_after, transition, alpha, gamma) -> str | None:
    """What is wrong with what the update returned (the table is right), or None."""
    state, action = transition[0], transition[1]
    old = Q_before[state, action]
    y = transition[2] + gamma * (1 - float(bool(transition[4]))) * np.max(Q_before[transition[3]])
    td_error = y - old
    ask = ("return the TD error, td_target - Q[state, action] (the value before the update), "
           "as a float")
    if _kind(returned) in ("list", "array"):
        hint = (" That is the table: Q is updated in place, so return only the TD error."
                if "values" in returned and np.size(returned["values"]) == Q_after.size
                and close(np.ravel(returned["values"]), Q_after.ravel()) else "")
        return f"returned several numbers: {ask}.{hint}"
    if _kind(returned) != "number":
        kind = _kind(returned) or type(returned).__name__
        return f"returned {'nothing' if kind == 'NoneType' else 'a ' + kind}: {ask}."
    value = returned["value"]
    if close(value, td_error):
        return None
    hint = next((h for h, v in {
        " That is the TD target: return the TD error, td_target - Q[state, action].": y,
        " That is the error after the update (td_target - the new Q[state, action]): compute "
        "the TD error before changing Q.": y - Q_after[state, action],
        " That is the new Q[state, action]: return the TD error.": Q_after[state, action],
        " That is the change alpha * td_error: return td_error itself.": alpha * td_error,
        " The sign is flipped: the TD error is td_target - Q[state, action].": -td_error,
    }.items() if close(value, v) and not close(v, td_error)), "")
    return f"returned {fmt(value)}, expected the TD error {fmt(float(td_error))}.{hint}"


def _problem_q_learning_update(got, Q0, transitions, alpha, gamma,
                               expected: list[np.ndarray]) -> str | None:
    """``expected``: the right table after each transition."""
    if _kind(got) != "updates" or not isinstance(got.get("steps"), list) \
            or len(got["steps"]) != len(transitions) \
            or not all(_kind(step.get("Q") if isinstance(step, dict) else None) == "array"
                       for step in got["steps"]):
        return "the results have an unexpected form."
    Q_before = np.asarray(Q0, dtype=float)
    for k, (transition, step, want) in enumerate(zip(transitions, got["steps"], expected)):
        shown = _update_shown(transition, alpha, gamma)
        if k:
            shown += f" (update {k + 1} of {len(transitions)} on one table)"
        shown += f", with Q =\n{fmt(Q_before)}\n"
        Q_after = raw_values(step["Q"]).astype(float)
        if Q_after.shape != Q_before.shape:
            return f"{shown}changed the table's shape to {Q_after.shape}."
        problem = _table_problem(Q_before, Q_after, transition, want)
        if problem is None and not close(Q_after, want, atol=1e-9, rtol=1e-9):
            problem = _entry_problem(Q_before, Q_after, transition, alpha, gamma)
        problem = problem or _return_problem(step.get("returned"), Q_before, Q_after,
                                             transition, alpha, gamma)
        if problem:
            return shown + problem
        Q_before = np.asarray(want, dtype=float)
    return None


def _expected_updates(Q0, transitions, alpha, gamma) -> list[np.ndarray]:
    Q, out = np.array(Q0, dtype=float), []
    for transition in transitions:
        _reference_q_learning_update(Q, *transition, alpha, gamma)
        out.append(Q.copy())
    return out


# a run of updates on one table, a terminal one among them (from a state whose row is not 0,
# so that a missing mask shows), then fewer states than actions; the hidden scenario tries
# other tables, alpha and gamma
_UPDATE_SHOWN = [
    (np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [3.0, 1.0, 0.2], [-2.0, 4.0, 1.0]]),
     [(0, 1, 1.0, 2, False), (1, 0, 2.0, 3, True), (2, 2, -1.0, 0, False),
      (3, 1, 0.5, 3, False)], 0.5, 0.9),
    (np.array([[1.0, -0.5, 0.25, 2.0, 0.0], [-1.0, 3.0, 0.5, 1.5, -2.0]]),
     [(1, 4, 0.0, 0, True), (0, 2, -1.0, 1, False), (1, 1, 2.0, 0, False)], 0.1, 0.99),
]


@register("0.5")
def check_q_learning_update(q_learning_update) -> None:
    ex = "0.5"
    for Q, transitions, alpha, gamma in _UPDATE_SHOWN:
        got = _run_q_learning_update(q_learning_update, Q, transitions, alpha, gamma)
        problem = _problem_q_learning_update(got, Q, transitions, alpha, gamma,
                                             _expected_updates(Q, transitions, alpha, gamma))
        if problem:
            fail(ex, problem)
    passed(ex, "Q[s, a] += alpha * (r + gamma * (1 - terminated) * max Q[s'] - Q[s, a])")


@scenario("0.5")
class QLearningUpdateScenario(Scenario):
    """Other tables (more states than actions, fewer, as many, one state), runs of updates
    on one table with terminal transitions from states whose row is not zero, self-loops,
    alpha from 0.05 to 1 and gamma from 0 to 1."""

    def cases(self, ref):
        rng = np.random.default_rng(1005)
        out = []
        for shape, alpha, gamma in [((6, 3), 0.3, 0.9), ((2, 5), 0.5, 0.99),
                                    ((4, 4), 0.05, 0.5), ((5, 2), 1.0, 0.8),
                                    ((3, 2), 0.7, 0.0), ((1, 3), 0.2, 1.0)]:
            states, actions = shape
            Q = rng.normal(0, 2, size=shape).round(2)
            transitions = []
            for k in range(6):
                state, next_state = int(rng.integers(states)), int(rng.integers(states))
                if k == 0 and states > 1:  # a step to another state, not terminal
                    next_state = (state + 1 + int(rng.integers(states - 1))) % states
                transitions.append((state, int(rng.integers(actions)),
                                    round(float(rng.normal(0, 3)), 2), next_state,
                                    k in (1, 4)))
            out.append({"Q": Q, "transitions": transitions, "alpha": alpha, "gamma": gamma})
        return out

    def run(self, case, q_learning_update):
        return _run_q_learning_update(q_learning_update, case["Q"], case["transitions"],
                                      case["alpha"], case["gamma"])

    def judge(self, case, got, expected):
        if _kind(expected) != "updates":
            raise ValueError("the solution's results have an unexpected form")
        problem = _problem_q_learning_update(
            got, case["Q"], case["transitions"], case["alpha"], case["gamma"],
            [raw_values(step["Q"]).astype(float) for step in expected["steps"]])
        if problem:
            fail("0.5", problem)



# ------------------------------------------------------------- 0.6 epsilon-greedy
def _reference_epsilon_greedy(Q, state, epsilon, rng) -> int:
    """The lab's epsilon-greedy (exercise 0.6), for the checks of the exercises after it."""
    if rng.random() < epsilon:
        return int(rng.integers(Q.shape[1]))
    return int(np.argmax(Q[state]))


def _action(value: Any) -> int | str:
    """An action as an int, or the name of its type when it is not one."""
    if isinstance(value, (bool, np.bool_)):
        return type(value).__name__
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        return int(value)
    return type(value).__name__


def _run_epsilon_greedy(epsilon_greedy, Q, states, epsilon, seeds, catch: bool = False) -> dict:
    """The student's action in each of ``states`` (one call each), once per seed in ``seeds``,
    each time with a fresh ``np.random.default_rng(seed)``. ``catch``: report a crash as data
    (the hidden scenario) instead of raising it (the notebook's check, which shows the
    student's own lines)."""
    Q = np.array(Q, dtype=float)
    before = Q.copy()
    runs = []
    for seed in seeds:
        rng, actions = np.random.default_rng(seed), []
        for state in states:
            shown = f"epsilon_greedy(Q, state={state}, epsilon={epsilon}, rng)"
            try:
                value = call("0.6", epsilon_greedy, Q, int(state), epsilon, rng, shown=shown)
            except NotImplementedYet:
                raise
            except CheckError as error:
                if not catch:
                    raise
                return {"type": "crash", "message": str(error).removeprefix("Exercise 0.6: ")[:300]}
            action = _action(value)
            if isinstance(action, str):
                return {"type": "not an action", "kind": action, "value": raw_array(value),
                        "state": int(state)}
            actions.append(action)
        runs.append(actions)
    return {"type": "actions", "runs": runs, "changed": bool(not np.array_equal(Q, before))}


def _greedy_problem(Q, states, actions) -> str:
    """With epsilon = 0 the actions are not all the greedy ones: say why (the message goes on
    from "with epsilon = 0 ...")."""
    n_states, n_actions = Q.shape
    greedy = np.array([np.argmax(Q[s]) for s in states])
    wrong = int(np.flatnonzero(actions != greedy)[0])
    state = int(states[wrong])
    variants = {
        " np.argmax(Q) without [state] gives an index into the whole flattened table: take "
        "the greedy action of this state's row, np.argmax(Q[state]).":
            np.full(len(states), np.argmax(Q)),
        " That is the argmax over states, of the column Q[:, state]: Q has one row per state "
        "(n_states x n_actions), so take the row Q[state] and its argmax over actions.":
            np.array([np.argmax(Q[:, s]) if s < n_actions else -1 for s in states]),
        " That is the argmin: the greedy action has the largest Q.":
            np.array([np.argmin(Q[s]) for s in states]),
    }
    hint = next((h for h, v in variants.items() if np.array_equal(actions, v)), "")
    if not hint and all(Q[s, a] == Q[s].max() for s, a in zip(states, actions)):
        hint = (" Those are tied best actions: ties go to the lowest action, as np.argmax "
                "does (and greedy_policy, exercise 0.4).")
    elif not hint and len(set(actions[states == state].tolist())) > 1:
        hint = " Explore when rng.random() < epsilon (not the other way round)."
    return (f"in state {state}, with Q[{state}] = {fmt(Q[state])}, the action must always be "
            f"{int(greedy[wrong])} (the argmax), got {sorted(set(actions[states == state].tolist()))}"
            f".{hint}")


def _problem_epsilon_greedy(got, Q, states, epsilon, seeds) -> str | None:
    Q, states = np.asarray(Q, dtype=float), np.asarray(states, dtype=int)
    n_states, n_actions = Q.shape
    shown = f"epsilon_greedy(Q, state, epsilon={epsilon}, rng) with a {n_states} x {n_actions} Q"
    kind = _kind(got)
    if kind == "crash":
        message = str(got.get("message", ""))
        hint = (" Q has one row per state: Q[state] is that state's n_actions values (Q[:, "
                "state] is a column, and there are only n_actions columns)."
                if "out of bounds" in message else "")
        return f"{message}{hint}"
    if kind == "not an action":
        value = got.get("value", {})
        hint = ""
        if _kind(value) == "array" and raw_values(value).shape == (n_states,):
            hint = (" That is every state's greedy action (np.argmax(Q, axis=1)): take the row "
                    "Q[state] first, np.argmax(Q[state]).")
        elif got.get("kind") in ("float", "float64", "float32"):
            hint = " Make it an int: int(np.argmax(Q[state])) (np.max gives the value, not the action)."
        return f"{shown} returned a {got.get('kind')}; an action is an int.{hint}"
    if kind != "actions" or not isinstance(got.get("runs"), list) or len(got["runs"]) != len(seeds) \
            or any(not isinstance(r, list) or len(r) != len(states) for r in got["runs"]):
        return f"{shown}: the results have an unexpected form."
    if got.get("changed"):
        return f"{shown} changed Q: choosing an action only reads the table."
    actions = np.asarray(got["runs"][0], dtype=int)
    outside = sorted(set(actions[(actions < 0) | (actions >= n_actions)].tolist()))
    if outside:
        hint = (" np.argmax(Q) without [state] gives an index into the whole flattened table: "
                "take np.argmax(Q[state])." if np.argmax(Q) in outside else
                " Draw random actions with rng.integers(n_actions), n_actions = Q.shape[1].")
        return f"{shown} returned actions {outside[:6]}, outside 0..{n_actions - 1}.{hint}"
    if epsilon == 0:
        greedy = np.array([np.argmax(Q[s]) for s in states])
        if not np.array_equal(actions, greedy):
            return f"{shown}: {_greedy_problem(Q, states, actions)}"
    greedy = np.array([np.argmax(Q[s]) for s in states])
    draws, share = len(actions), float(np.mean(actions == greedy))

    def near(p):
        return abs(share - p) <= 5 * np.sqrt(p * (1 - p) / draws) + 0.005

    want = 1 - epsilon + epsilon / n_actions
    if epsilon > 0 and not near(want):
        hint = (" A random action is drawn from all actions, the greedy one included."
                if near(1 - epsilon) else
                " Explore when rng.random() < epsilon (not the other way round)."
                if near(epsilon + (1 - epsilon) / n_actions) else
                f" Random actions never include action {n_actions - 1}: rng.integers(n_actions) "
                "already stops at n_actions - 1." if n_actions > 1
                and near(1 - epsilon + epsilon / (n_actions - 1)) else "")
        return (f"{shown}: the greedy action should come up about {1 - epsilon:g} + "
                f"{epsilon:g}/{n_actions} = {want:.0%} of the time, got {share:.0%}.{hint}")
    if epsilon > 0:
        counts = np.bincount(actions[actions != greedy] if epsilon < 1 else actions,
                             minlength=n_actions)
        never = [a for a in range(n_actions) if counts[a] == 0
                 and (epsilon == 1 or np.any(greedy != a))]
        if never and draws * epsilon > 50 * n_actions:
            hint = (" rng.integers(n_actions) already stops at n_actions - 1 (its upper "
                    "bound is excluded)." if never == [n_actions - 1] else
                    " Draw the random action from all n_actions = Q.shape[1] actions.")
            return f"{shown} never explored action {never}.{hint}"
    if got["runs"][1] != got["runs"][0]:
        return (f"{shown}: the same seeded rng gave different actions: draw the random numbers "
                "from the rng argument, not from np.random or random.")
    if epsilon > 0 and got["runs"][2] == got["runs"][0]:
        return (f"{shown}: rngs seeded {seeds[0]} and {seeds[2]} gave the same actions: draw the "
                "random numbers from the rng argument (a generator made inside the function "
                "ignores it).")
    return None


def _greedy_case(Q, epsilon, repeats, seed) -> dict:
    """A case: every state of ``Q`` ``repeats`` times, in turn; seeds seed, seed, seed + 1."""
    Q = np.asarray(Q, dtype=float)
    return {"Q": Q, "states": list(range(len(Q))) * repeats, "epsilon": epsilon,
            "seeds": [seed, seed, seed + 1]}


# fewer states than actions first (an argmax over the wrong axis then shows, not a crash)
_GREEDY_SHOWN = [
    _greedy_case([[0.5, 2.0, -1.0, 2.0], [3.0, 0.0, 1.0, -2.0], [-1.0, -0.5, 0.25, 1.5]],
                 0.0, 20, 0),
    _greedy_case([[0.5, 2.0, -1.0, 2.0], [3.0, 0.0, 1.0, -2.0], [-1.0, -0.5, 0.25, 1.5]],
                 1.0, 1000, 1),
    _greedy_case([[1.0, 2.0], [4.0, -1.0], [0.0, 0.5], [-3.0, -2.0], [7.0, 6.0]], 0.3, 800, 2),
    _greedy_case([[1.0, 2.0], [4.0, -1.0], [0.0, 0.5], [-3.0, -2.0], [7.0, 6.0]], 0.5, 60, 7),
]


@register("0.6")
def check_epsilon_greedy(epsilon_greedy) -> None:
    ex = "0.6"
    for case in _GREEDY_SHOWN:
        got = _run_epsilon_greedy(epsilon_greedy, case["Q"], case["states"], case["epsilon"],
                                  case["seeds"])
        problem = _problem_epsilon_greedy(got, case["Q"], case["states"], case["epsilon"],
                                          case["seeds"])
        if problem:
            fail(ex, problem)
    passed(ex, "argmax_a Q[state, a] with probability 1 - epsilon, uniformly random otherwise")


@scenario("0.6")
class EpsilonGreedyScenario(Scenario):
    """Other tables (fewer states than actions, more, as many, one state), ties, epsilon 0,
    0.05, 0.2, 0.5 and 1; thousands of draws from fixed seeds (a student's draws may come in
    another order than the solution's, so the judge tests their frequencies), one seed
    repeated and one changed."""

    def cases(self, ref):
        rng = np.random.default_rng(1006)
        out = []
        for shape, epsilon, repeats in [((2, 5), 0.0, 15), ((6, 3), 0.0, 10), ((4, 4), 1.0, 700),
                                        ((6, 3), 0.2, 500), ((1, 3), 0.05, 2000),
                                        ((3, 2), 0.5, 300)]:
            Q = rng.normal(size=shape).round(2)
            if shape[0] > 1:
                Q[1, :] = Q[1, 0]                   # a tie between every action
                Q[0, -1] = Q[0, :-1].max()          # a tie with the last action
            out.append(_greedy_case(Q, epsilon, repeats, int(rng.integers(10_000))))
        return out

    def run(self, case, epsilon_greedy):
        return _run_epsilon_greedy(epsilon_greedy, case["Q"], case["states"], case["epsilon"],
                                   case["seeds"], catch=True)

    def judge(self, case, got, expected):
        problem = _problem_epsilon_greedy(got, case["Q"], case["states"], case["epsilon"],
                                          case["seeds"])
        if problem:
            fail("0.6", problem)
