"""Checks for lab 06: Double DQN, the dueling network, the sum tree, prioritized replay, and the
learning step that uses all three.

As in labs 02 and 03, each check builds small, known inputs, computes the right answer itself,
and compares; where an answer is wrong it computes the answers of the usual mistakes, to say
which one was made. The two networks of the Double DQN checks are chosen so that their greedy
actions disagree on every transition: there, and only there, Double DQN differs from DQN.

An exercise that builds on an earlier one is checked with this module's own, correct version
of the earlier piece (``standins``): prioritized replay (6.4) with ``ReferenceSumTree`` in
place of the student's ``SumTree`` (6.3), the learning step (6.5) with
``reference_double_td_target`` and ``reference_td_target``. One mistake costs one exercise.

Each exercise's hidden scenario (what the grader runs for points) follows its check. The
diagnoses are NumPy functions of plain data (``_target_variants``, ``_sums_problem``,
``_find_problem``, ``_add_problem``, ``_priority_hint``, ``_weights_hint``, ``_loss_hint``)
shared by the check, which runs them on the student's objects, and by the scenario's judge,
which runs them on the raw results the worker sent.
"""

from __future__ import annotations

import contextlib
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

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
    require_gradients,
    scenario,
    standins,
)
from dqn_helpers.checks.lab02 import Batch, _batch, _tensor, check_loss_and_target, small_net

ONLINE_SEED, TARGET_SEED = 3, 1  # small_net(3, 3, seed): greedy actions differ on all of _batch()


# ---------------------------------------------------------------- stand-ins for earlier pieces
def reference_double_td_target(rewards, next_obs, terminated, q_network, target_network, gamma):
    """Exercise 6.1 done right: the stand-in for the student's when 6.5 is checked."""
    with torch.no_grad():
        next_actions = q_network(next_obs).argmax(dim=1, keepdim=True)
        next_q = target_network(next_obs).gather(1, next_actions).squeeze(1)
        return rewards + gamma * (1.0 - terminated) * next_q


def reference_td_target(rewards, next_obs, terminated, target_network, gamma):
    """Lab 02's TD target (exercise 2.5): the stand-in for the notebook's copy in 6.5."""
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminated) * target_network(next_obs).max(dim=1).values


class ReferenceSumTree:
    """Exercise 6.3 done right (the notebook's layout): the stand-in for the student's
    ``SumTree`` when prioritized replay (6.4) is checked."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.size = _tree_size(capacity)
        self.depth = self.size.bit_length() - 1
        self.tree = np.zeros(2 * self.size)

    @property
    def total(self):
        return float(self.tree[1])

    def priority(self, indices):
        return self.tree[self.size + np.asarray(indices)]

    def update(self, indices, priorities):
        nodes = self.size + np.asarray(indices, dtype=np.int64)
        self.tree[nodes] = priorities
        for _ in range(self.depth):
            nodes = nodes // 2
            self.tree[nodes] = self.tree[2 * nodes] + self.tree[2 * nodes + 1]

    def find(self, values):
        return _descend(self.tree, self.size, values)


def _tree_size(capacity: int) -> int:
    """The number of leaves of a SumTree(capacity): the power of two >= capacity."""
    return 1 << max(capacity - 1, 0).bit_length()


def _descend(arr: np.ndarray, size: int, values, right_on_equal: bool = True,
             subtract: bool = True) -> np.ndarray:
    """find on the tree array ``arr``; with ``right_on_equal=False`` or ``subtract=False`` as
    written with a usual mistake (to recognise it)."""
    values = np.array(values, dtype=np.float64)
    nodes = np.ones(len(values), dtype=np.int64)
    for _ in range(size.bit_length() - 1):
        left = 2 * nodes
        go_right = values >= arr[left] if right_on_equal else values > arr[left]
        if subtract:
            values -= np.where(go_right, arr[left], 0.0)
        nodes = left + go_right
    return nodes - size


def _standins(code, **replacements):
    """``standins(code, ...)``, or nothing when ``code`` has no namespace to patch (the check
    then fails on it in its own terms)."""
    try:
        return standins(code, **replacements)
    except TypeError:
        return contextlib.nullcontext()


def _attempt(ex: str, fn, *args, shown: str):
    """``call``, with a crash returned as data, ``(None, message)``, so that a scenario can go
    on reporting what came before it; a stub still raises ``NotImplementedYet``."""
    try:
        return call(ex, fn, *args, shown=shown), None
    except NotImplementedYet:
        raise
    except CheckError as error:
        return None, str(error).removeprefix(f"Exercise {ex}: ")[:600]


def _crashed(ex: str, text) -> None:
    """Fail with the crash message a scenario's run recorded (capped: it came from the worker)."""
    fail(ex, str(text)[:600])


def _raw(value):
    """A returned value as plain data: a number array when it is (or converts to) one, else
    ``{"type": its type name}``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:
        return {"type": type(value).__name__}
    return arr if arr.dtype.kind in "biuf" else {"type": type(value).__name__}


def _flat(net: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()]).numpy().copy()


def _hidden_net(obs_dim: int, n_actions: int, seed: int) -> torch.nn.Module:
    """The small fixed network of the hidden scenarios (16 hidden units)."""
    return small_net(obs_dim, n_actions, seed, hidden=16, scale=0.4)


def _disagreeing_seeds(obs_dim: int, n_actions: int, next_obs: torch.Tensor,
                       start: int) -> tuple[int, int]:
    """Seeds of an online and a target ``_hidden_net`` whose greedy actions differ on every
    state of ``next_obs`` (there Double DQN differs from DQN): the first pair from ``start``."""
    for seed in range(start, start + 2_000):
        with torch.no_grad():
            online = _hidden_net(obs_dim, n_actions, seed)(next_obs).argmax(dim=1)
            target = _hidden_net(obs_dim, n_actions, seed + 500)(next_obs).argmax(dim=1)
        if bool((online != target).all()):
            return seed, seed + 500
    raise ValueError(f"no pair of networks from seed {start} disagrees on every state")


# ---------------------------------------------------------------- 6.1 the Double DQN target
def _double_nets():
    return small_net(3, 3, seed=ONLINE_SEED), small_net(3, 3, seed=TARGET_SEED)


def _target_variants(rewards, terminated, q_next, t_next, gamma) -> dict[str, np.ndarray]:
    """The right Double DQN target ("double") and the targets of the usual mistakes, from the
    online and target networks' Q-values in the next states, ``q_next`` and ``t_next`` (B, n)."""
    rewards, terminated = np.asarray(rewards, float), np.asarray(terminated, float)
    q_next, t_next = np.asarray(q_next, float), np.asarray(t_next, float)
    rows = np.arange(len(rewards))
    double = t_next[rows, q_next.argmax(axis=1)]
    mask = 1 - terminated
    return {
        "double": rewards + gamma * mask * double,
        "vanilla": rewards + gamma * mask * t_next.max(axis=1),
        "online": rewards + gamma * mask * q_next.max(axis=1),
        "swapped": rewards + gamma * mask * q_next[rows, t_next.argmax(axis=1)],
        "no mask": rewards + gamma * double,
        "mask inverted": rewards + gamma * terminated * double,
        "no gamma": rewards + mask * double,
    }


def _targets(rewards, next_obs, terminated, q_network, target_network, gamma):
    """``_target_variants`` of two networks on a batch of tensors."""
    with torch.no_grad():
        q_next, t_next = q_network(next_obs).numpy(), target_network(next_obs).numpy()
    return _target_variants(rewards.numpy(), terminated.numpy(), q_next, t_next, gamma)


_TARGET_HINTS = {
    "vanilla": "that is lab 02's target, max_a' Q_target(s', a'): the target network both chose "
               "and evaluated the action. Choose a' with q_network (argmax), then evaluate it "
               "with target_network (gather).",
    "online": "that is max_a' Q_online(s', a'): the online network both chose and evaluated. "
              "Choose with q_network, but evaluate with target_network.",
    "swapped": "the roles are swapped: the target network chose and the online network "
               "evaluated. Choose a' = argmax_a' Q_online(s', a'), evaluate Q_target(s', a').",
    "no mask": "after a terminal transition there is no future: multiply the bootstrap term "
               "by (1 - terminated).",
    "mask inverted": "the mask is inverted: bootstrap when terminated is 0, i.e. multiply by "
                     "(1 - terminated).",
    "no gamma": "the bootstrap term must be discounted by gamma.",
}


def _target_hint(got, variants: dict) -> str:
    return next((_TARGET_HINTS[k] for k, v in variants.items() if k != "double" and close(got, v)),
                "y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_online(s', a')).")


def _squeeze_hint(shape: tuple, n: int) -> str:
    return (" gather(...) gives shape (B, 1): squeeze(1) it." if tuple(shape) in ((n, 1), (n, n))
            else "")


def _call_target(ex: str, double_td_target, args: tuple, shown: str):
    """Call the student's double_td_target; a crash in gather on a float index is named."""
    try:
        return call(ex, double_td_target, *args, shown=shown)
    except NotImplementedYet:
        raise
    except CheckError as error:
        if "gather" in str(error) and "dtype" in str(error):
            raise CheckError(
                f"{str(error).rstrip('.')}. The index given to gather must be the chosen actions, integers: "
                f"q_network(next_obs).argmax(dim=1, keepdim=True). (.max(dim=1) gives the "
                f"values first, .max(1)[0], and the actions second, .max(1)[1].)"
            ) from error.__cause__
        raise


def _double_setups():
    """The check's inputs: (rewards, next_obs, terminated, q_network, target_network, gamma)
    on 6 transitions and 3 actions, 2 transitions and 5 actions, and a single transition."""
    _, _, rewards, next_obs, terminated = _batch()
    yield (rewards, next_obs, terminated, *_double_nets(), 0.9)
    for n, obs_dim, n_actions, gamma, done in ((2, 3, 5, 0.5, [0.0, 1.0]), (1, 4, 2, 0.99, [0.0])):
        g = torch.Generator().manual_seed(60 + n)
        rewards, next_obs = torch.randn(n, generator=g) * 2, torch.randn(n, obs_dim, generator=g)
        seeds = _disagreeing_seeds(obs_dim, n_actions, next_obs, 60 + n)
        yield (rewards, next_obs, torch.tensor(done), *(_hidden_net(obs_dim, n_actions, s)
                                                        for s in seeds), gamma)


def _grads_or_changes(ex: str, nets: dict, before: dict) -> None:
    for name, net in nets.items():
        if any(p.grad is not None for p in net.parameters()):
            fail(ex, f"gradients reached the {name} network: compute the target inside "
                     f"`with torch.no_grad():`; it is a fixed label.")
        if any(not torch.equal(before[name][k], v) for k, v in net.state_dict().items()):
            fail(ex, f"the {name} network's weights changed: computing a target must not "
                     f"modify either network.")


@register("6.1")
def check_double_td_target(double_td_target) -> None:
    ex = "6.1"
    for rewards, next_obs, terminated, q_network, target_network, gamma in _double_setups():
        n, n_actions = len(rewards), target_network[-1].out_features
        before = {"online": copy.deepcopy(q_network.state_dict()),
                  "target": copy.deepcopy(target_network.state_dict())}
        shown = (f"double_td_target(rewards, next_obs, terminated, q_network, target_network, "
                 f"gamma={gamma}) on {n} transition{'s' * (n > 1)} with {n_actions} actions")
        got = _tensor(ex, _call_target(ex, double_td_target, (
            rewards.clone(), next_obs.clone(), terminated.clone(), q_network, target_network,
            gamma), shown), "the Double DQN target")
        if tuple(got.shape) != (n,):
            fail(ex, f"{shown} returned shape {tuple(got.shape)}, expected ({n},): one target "
                     f"per transition.{_squeeze_hint(got.shape, n)}")
        if got.requires_grad:
            fail(ex, "the target carries gradients: compute it inside `with torch.no_grad():`. "
                     "The target is a fixed label, not something to train.")
        _grads_or_changes(ex, {"online": q_network, "target": target_network}, before)
        want = _targets(rewards, next_obs, terminated, q_network, target_network, gamma)
        if not close(got.numpy(), want["double"]):
            fail(ex, f"{shown}, terminated = {terminated.tolist()}, returned "
                     f"{fmt(got.numpy())}, expected {fmt(want['double'])}: "
                     f"{_target_hint(got.numpy(), want)}")
    passed(ex, "the online network chooses a', the target network evaluates it")


@scenario("6.1")
class DoubleTdTargetScenario(Scenario):
    """Other sizes (fewer and more transitions than actions, a single one), discounts (0 and 1
    too) and terminal patterns (none, all, some); the greedy actions of the two networks differ
    on every transition, so that each usual mistake gives another target."""

    SETUPS = [  # (seed, transitions, obs_dim, n_actions, gamma, which transitions are terminal)
        (6011, 9, 5, 3, 0.97, "some"), (6012, 3, 4, 6, 0.5, "none"), (6013, 1, 3, 2, 0.99, "none"),
        (6014, 12, 4, 2, 0.0, "some"), (6015, 7, 2, 4, 1.0, "all"), (6016, 20, 6, 4, 0.9, "some")]

    def cases(self, ref):
        out = []
        for seed, n, obs_dim, n_actions, gamma, pattern in self.SETUPS:
            g = torch.Generator().manual_seed(seed)
            rewards, next_obs = torch.randn(n, generator=g) * 2, torch.randn(n, obs_dim, generator=g)
            terminated = {"all": torch.ones(n), "none": torch.zeros(n),
                          "some": (torch.arange(n) % 3 == 1).float()}[pattern]
            seeds = _disagreeing_seeds(obs_dim, n_actions, next_obs, seed)
            with torch.no_grad():
                q_next, t_next = (_hidden_net(obs_dim, n_actions, s)(next_obs) for s in seeds)
            out.append({"seeds": list(seeds), "n_actions": n_actions, "gamma": gamma,
                        "rewards": rewards.numpy(), "next_obs": next_obs.numpy(),
                        "terminated": terminated.numpy(), "_q_next": q_next.numpy(),
                        "_t_next": t_next.numpy()})
        return out

    def shown(self, case):
        n = len(case["rewards"])
        return (f"double_td_target(...) on {n} transition{'s' * (n > 1)} with "
                f"{case['n_actions']} actions, gamma={case['gamma']}")

    def run(self, case, double_td_target):
        obs_dim = case["next_obs"].shape[1]
        q_network, target_network = (_hidden_net(obs_dim, case["n_actions"], s)
                                     for s in case["seeds"])
        args = tuple(torch.from_numpy(case[k]) for k in ("rewards", "next_obs", "terminated"))
        got = _call_target("6.1", double_td_target, (*args, q_network, target_network,
                                                     case["gamma"]), self.shown(case))
        nets = {"online": q_network, "target": target_network}
        report = {"grads": [k for k, net in nets.items()
                            if any(p.grad is not None for p in net.parameters())],
                  "weights": {k: _flat(net) for k, net in nets.items()}}
        if not isinstance(got, torch.Tensor):
            return {**report, "type": type(got).__name__}
        return {**report, "type": "Tensor", "requires_grad": bool(got.requires_grad),
                "values": got.detach().double()}

    def judge(self, case, got, expected):
        ex, shown, n = "6.1", self.shown(case), len(case["rewards"])
        if got.get("type") != "Tensor":
            fail(ex, f"{shown} returned a {got.get('type')}; expected a torch.Tensor of targets.")
        values = np.asarray(got["values"])
        if values.shape != (n,):
            fail(ex, f"{shown} returned shape {values.shape}, expected ({n},): one target per "
                     f"transition.{_squeeze_hint(values.shape, n)}")
        if got["requires_grad"]:
            fail(ex, "the target carries gradients: compute it inside `with torch.no_grad():`. "
                     "The target is a fixed label, not something to train.")
        for name in ("online", "target"):
            if name in got["grads"]:
                fail(ex, f"gradients reached the {name} network: compute the target inside "
                         f"`with torch.no_grad():`; it is a fixed label.")
            if not close(got["weights"][name], expected["weights"][name], atol=0, rtol=0):
                fail(ex, f"the {name} network's weights changed: computing a target must not "
                         f"modify either network.")
        if not close(values, expected["values"]):
            variants = _target_variants(case["rewards"], case["terminated"], case["_q_next"],
                                        case["_t_next"], case["gamma"])
            fail(ex, f"{shown}, terminated = {case['terminated'].tolist()}, returned "
                     f"{fmt(values)}, expected {fmt(expected['values'])}: "
                     f"{_target_hint(values, variants)}")


# ---------------------------------------------------------------- 6.2 the dueling network
def _heads(net: torch.nn.Module, n_actions: int):
    """The last Linear with one output (value) and the last with n_actions outputs."""
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    value = [m for m in linears if m.out_features == 1]
    advantage = [m for m in linears if m.out_features == n_actions]
    return (value[-1] if value else None), (advantage[-1] if advantage else None)


def _streams(net, value_head, advantage_head, x):
    """The network's output and the raw outputs of its two heads on x."""
    seen = {}
    hooks = [head.register_forward_hook(lambda m, i, o, k=k: seen.__setitem__(k, o.detach()))
             for k, head in (("v", value_head), ("a", advantage_head))]
    try:
        out = net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return out, seen.get("v"), seen.get("a")


def _dueling_variants(v: np.ndarray, a: np.ndarray) -> dict:
    """Q of the usual mistakes, from the streams' outputs V (B, 1) and A (B, n), with hints."""
    batch, n = a.shape
    relu_a = np.maximum(a, 0.0)
    variants = {
        "no mean": (v + a, "Q = V + A, without subtracting the mean advantage. Then V and A "
                           "are not identifiable (V + c and A - c give the same Q); subtract "
                           "advantage.mean(dim=1, keepdim=True)."),
        "max": (v + a - a.max(axis=1, keepdims=True),
                "you subtracted the max advantage (the paper's first form); this lab uses the "
                "mean over the actions: advantage.mean(dim=1, keepdim=True)."),
        "batch mean": (v + a - a.mean(axis=0, keepdims=True),
                       "the mean was taken over the batch (dim=0): take it over the actions of "
                       "each observation, dim=1, with keepdim=True."),
        "global mean": (v + a - a.mean(),
                        "the mean was taken over the whole batch and every action: take it over "
                        "the actions of each observation, advantage.mean(dim=1, keepdim=True)."),
        "relu": (np.maximum(v, 0.0) + relu_a - relu_a.mean(axis=1, keepdims=True),
                 "the value and advantage streams end with an activation: their last Linear "
                 "layers must be linear (Q-values, V and A can be negative)."),
        "no value": (a - a.mean(axis=1, keepdims=True),
                     "the value stream V(s) is missing from Q: Q = V + A - mean(A)."),
    }
    if batch == n:  # (B, n) - (B,) broadcasts only when B == n, silently wrong
        variants["no keepdim"] = (v + a - a.mean(axis=1)[None, :],
                                  "advantage.mean(dim=1) without keepdim=True has shape (B,), "
                                  "which broadcasts against (B, n_actions) along the wrong "
                                  "axis: use keepdim=True, shape (B, 1).")
    return variants


def _dueling_hint(out: np.ndarray, v: np.ndarray, a: np.ndarray) -> str:
    return next((h for w, h in _dueling_variants(v, a).values()
                 if w.shape == out.shape and close(out, w)),
                "Q = V + A - A.mean(dim=1, keepdim=True), with V and A the outputs of the value "
                "and advantage streams' last Linear layers.")


_NO_VALUE = "has no value stream: it needs a Linear layer with a single output, V(s)."
_NO_ADVANTAGE = ("has no advantage stream: it needs a Linear layer with n_actions = {n} "
                 "outputs, A(s, a).")
_WIDTHS = ("has no layer of {hidden} or {half} units: use the hidden argument for the layers' "
           "widths.")
_SHIFT_A = ("adding 5 to every advantage changed the Q-values: Q = V + A - mean(A) must not "
            "change when A moves by a constant (that is why the mean is subtracted).")
_SHIFT_V = "adding 5 to V(s) should raise every Q-value by exactly 5."


@register("6.2")
def check_dueling_q_network(DuelingQNetwork) -> None:
    ex = "6.2"
    torch.manual_seed(0)
    for obs_dim, n_actions, batch, hidden in [(4, 2, 2, 256), (8, 4, 4, 256), (8, 4, 7, 256),
                                              (3, 5, 1, 32)]:
        shown = f"DuelingQNetwork({obs_dim}, {n_actions}, hidden={hidden})"
        net = call(ex, DuelingQNetwork, obs_dim, n_actions, hidden, shown=shown)
        if not isinstance(net, torch.nn.Module):
            fail(ex, f"{shown} should be a torch.nn.Module.")
        value_head, advantage_head = _heads(net, n_actions)
        if value_head is None:
            fail(ex, f"{shown} {_NO_VALUE}")
        if advantage_head is None or advantage_head is value_head:
            fail(ex, f"{shown} {_NO_ADVANTAGE.format(n=n_actions)}")
        if not any(m.out_features in (hidden, hidden // 2) for m in net.modules()
                   if isinstance(m, torch.nn.Linear)):
            fail(ex, f"{shown} {_WIDTHS.format(hidden=hidden, half=hidden // 2)}")
        x = torch.randn(batch, obs_dim) * 2
        out, v, a = _streams(net, value_head, advantage_head, x)
        out = _tensor(ex, out, "the network's output")
        if tuple(out.shape) != (batch, n_actions):
            fail(ex, f"{shown} maps a batch of shape {tuple(x.shape)} to shape "
                     f"{tuple(out.shape)}; expected ({batch}, {n_actions}): one Q-value per "
                     f"action for each observation.")
        if v is None or a is None:
            fail(ex, "forward() did not use both streams: compute V(s) with the value stream "
                     "and A(s, a) with the advantage stream.")
        want = v + a - a.mean(dim=1, keepdim=True)
        if not torch.allclose(out.detach(), want, atol=1e-5):
            fail(ex, f"on a batch of {batch} observations, {shown} returned Q-values that are "
                     f"not V + A - mean(A): "
                     f"{_dueling_hint(out.detach().numpy(), v.numpy(), a.numpy())}")
    with torch.no_grad():  # identifiability: shifting every advantage must not change Q
        advantage_head.bias.add_(5.0)
        shifted, _, _ = _streams(net, value_head, advantage_head, x)
        advantage_head.bias.sub_(5.0)
        value_head.bias.add_(5.0)
        raised, _, _ = _streams(net, value_head, advantage_head, x)
        value_head.bias.sub_(5.0)
    if not torch.allclose(shifted, out, atol=1e-4):
        fail(ex, _SHIFT_A)
    if not torch.allclose(raised, out + 5.0, atol=1e-4):
        fail(ex, _SHIFT_V)
    require_gradients(ex, net, out)
    passed(ex, "a shared body, a value stream and an advantage stream, Q = V + A - mean_a A")


@scenario("6.2")
class DuelingQNetworkScenario(Scenario):
    """Other sizes: batches equal to, above and below the number of actions (one observation
    too), 2 to 7 actions, other widths; V and A are read from the streams' last layers."""

    SETUPS = [(6021, 5, 3, 64, 3), (6022, 7, 3, 64, 13), (6023, 6, 6, 48, 1),
              (6024, 4, 7, 32, 2), (6025, 3, 2, 16, 2)]  # (seed, obs_dim, n_actions, hidden, batch)

    def cases(self, ref):
        out = []
        for seed, obs_dim, n_actions, hidden, batch in self.SETUPS:
            obs = np.random.default_rng(seed).normal(size=(batch, obs_dim)) * 3
            out.append({"seed": seed, "n_actions": n_actions, "hidden": hidden,
                        "obs": obs.astype(np.float32)})
        return out

    def shown(self, case):
        return f"DuelingQNetwork({case['obs'].shape[1]}, {case['n_actions']}, hidden={case['hidden']})"

    def run(self, case, DuelingQNetwork):
        ex, shown, n = "6.2", self.shown(case), case["n_actions"]
        torch.manual_seed(case["seed"])
        net = call(ex, DuelingQNetwork, case["obs"].shape[1], n, case["hidden"], shown=shown)
        if not isinstance(net, torch.nn.Module):
            return {"type": type(net).__name__}
        value_head, advantage_head = _heads(net, n)
        report = {"type": "Module", "value": value_head is not None,
                  "advantage": advantage_head is not None and advantage_head is not value_head,
                  "widths": [m.out_features for m in net.modules()
                             if isinstance(m, torch.nn.Linear)]}
        if not (report["value"] and report["advantage"]):
            return report
        x = torch.from_numpy(case["obs"])
        streams, raised = _attempt(ex, _streams, net, value_head, advantage_head, x,
                                   shown=f"{shown} on a batch of {len(x)}")
        if raised:
            return {**report, "raised": raised}
        out, v, a = streams
        if not isinstance(out, torch.Tensor):
            return {**report, "out": {"type": type(out).__name__}}
        if out.requires_grad:
            out.sum().backward()
        report.update(out=out.detach(), v=v, a=a, no_grad=[
            name for name, p in net.named_parameters() if p.grad is None])
        with torch.no_grad():
            for key, head in (("shift_a", advantage_head), ("shift_v", value_head)):
                if isinstance(getattr(head, "bias", None), torch.Tensor):
                    head.bias.add_(5.0)
                    report[key] = _streams(net, value_head, advantage_head, x)[0]
                    head.bias.sub_(5.0)
        return report

    def judge(self, case, got, expected):
        ex, shown, n, hidden = "6.2", self.shown(case), case["n_actions"], case["hidden"]
        batch = len(case["obs"])
        if got.get("type") != "Module":
            fail(ex, f"{shown} should be a torch.nn.Module, got a {got.get('type')}.")
        if not got["value"]:
            fail(ex, f"{shown} {_NO_VALUE}")
        if not got["advantage"]:
            fail(ex, f"{shown} {_NO_ADVANTAGE.format(n=n)}")
        if not any(w in (hidden, hidden // 2) for w in got["widths"]):
            fail(ex, f"{shown} {_WIDTHS.format(hidden=hidden, half=hidden // 2)}")
        if "raised" in got:
            hint = (" If that is V + A - mean(A): advantage.mean(dim=1) without keepdim=True "
                    "has shape (B,), which does not broadcast against (B, n_actions); use "
                    "keepdim=True." if "must match the size" in got["raised"] else "")
            _crashed(ex, f"{str(got['raised'])[:600]}{hint}")
        out = got.get("out")
        if not isinstance(out, np.ndarray):
            fail(ex, f"{shown} returned a {out.get('type')}; expected a tensor of Q-values.")
        if out.shape != (batch, n):
            fail(ex, f"{shown} maps a batch of shape {case['obs'].shape} to shape {out.shape}; "
                     f"expected ({batch}, {n}): one Q-value per action for each observation.")
        if got["v"] is None or got["a"] is None:
            fail(ex, "forward() did not use both streams: compute V(s) with the value stream "
                     "and A(s, a) with the advantage stream.")
        v, a = np.asarray(got["v"], float), np.asarray(got["a"], float)
        if v.shape != (batch, 1) or a.shape != (batch, n):
            fail(ex, f"the value stream gave shape {v.shape} and the advantage stream {a.shape}; "
                     f"expected ({batch}, 1) and ({batch}, {n}).")
        if not close(out, v + a - a.mean(axis=1, keepdims=True)):
            fail(ex, f"on a batch of {batch} observation{'s' * (batch > 1)}, {shown} returned "
                     f"Q-values that are not V + A - mean(A): {_dueling_hint(out, v, a)}")
        if "shift_a" in got and not close(got["shift_a"], out, atol=1e-4):
            fail(ex, _SHIFT_A)
        if "shift_v" in got and not close(got["shift_v"], out + 5.0, atol=1e-4):
            fail(ex, _SHIFT_V)
        if got["no_grad"]:
            fail(ex, f"no gradient reached {got['no_grad']}: use every layer in forward().")


# ---------------------------------------------------------------- 6.3 the sum tree
_PRIORITIES = np.array([1.0, 0.0, 2.0, 3.0, 4.0])  # cumulative sums 1, 1, 3, 6, 10
_EXACT = dict(rtol=1e-9, atol=1e-9)  # sums of the same numbers: equal up to rounding


def _tree_array(ex: str, tree) -> np.ndarray:
    arr = getattr(tree, "tree", None)
    if not isinstance(arr, np.ndarray) or arr.shape != (2 * tree.size,):
        fail(ex, _NO_ARRAY)
    return arr


_NO_ARRAY = ("keep the tree in the array self.tree of 2 * self.size numbers made in __init__ "
             "(node 1 is the root, the leaf of slot j is node size + j).")


def _sums_problem(arr: np.ndarray, capacity: int, leaves: np.ndarray, what: str,
                  several: bool = False) -> str | None:
    """What is wrong with the array ``arr`` of a SumTree(capacity) whose slots 0.. should hold
    ``leaves`` (the rest 0), or None. ``several``: the last update set several slots at once."""
    size = _tree_size(capacity)
    expected = np.zeros(size)
    expected[:len(leaves)] = leaves
    if not np.allclose(arr[size:], expected, **_EXACT):
        if np.allclose(arr[size:], 0.0) and arr[:size].any():
            return (f"{what}: the priorities were written at nodes 0.. (or 1..), which are the "
                    f"root and inner nodes. The leaf of slot j is node self.size + j.")
        if capacity != size and np.allclose(arr[capacity:capacity + len(leaves)], leaves, **_EXACT):
            return (f"{what}: the priority of slot j is at node self.capacity + j = {capacity} + "
                    f"j, an inner node. The leaf of slot j is node self.size + j, with self.size "
                    f"= {size}, the power of two >= capacity (the two agree only when the "
                    f"capacity is a power of two); find then returns nodes - self.size.")
        return (f"{what}: the leaves (tree[size:]) are {fmt(arr[size:])}, expected "
                f"{fmt(expected)}. Write each priority at node self.size + slot, replacing "
                f"the old one (=, not +=).")
    total, want = float(arr[1]), float(np.sum(leaves))
    if not np.isclose(total, want, **_EXACT):
        if np.isclose(total, 0.0) and want:
            hint = (" The root never changed: after writing the leaves, walk up recomputing each "
                    "parent, all the way to node 1.")
        elif several:
            hint = (" Adding each change to the parents with tree[parents] += delta counts a "
                    "parent once even when two of its children changed (NumPy applies += once "
                    "per distinct index): recompute each parent as tree[2i] + tree[2i + 1] "
                    "instead.")
        else:
            hint = ""
        return (f"{what}: total is {fmt(total)}, expected the sum of the priorities, "
                f"{fmt(want)}.{hint}")
    inner = np.arange(1, size)
    wrong = inner[~np.isclose(arr[inner], arr[2 * inner] + arr[2 * inner + 1], **_EXACT)]
    if len(wrong):
        node = int(wrong[0])
        return (f"{what}: node {node} holds {fmt(float(arr[node]))} but its children {2 * node} "
                f"and {2 * node + 1} sum to {fmt(float(arr[2 * node] + arr[2 * node + 1]))}. "
                f"Recompute every ancestor of an updated leaf as tree[2i] + tree[2i + 1], level "
                f"by level up to the root.")
    return None


def _check_sums(ex: str, tree, leaves: np.ndarray, what: str, several: bool = False) -> None:
    """Leaves hold `leaves` (padded with 0) and every inner node is the sum of its children."""
    problem = _sums_problem(_tree_array(ex, tree), tree.capacity, leaves, what, several)
    if problem:
        fail(ex, problem)
    if not np.isclose(tree.total, float(np.sum(leaves)), **_EXACT):
        fail(ex, f"{what}: total is {fmt(float(tree.total))}, expected the sum of the "
                 f"priorities, {fmt(float(np.sum(leaves)))}: it reads node 1, the root.")


def _find_expected(priorities: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(priorities), values, side="right")


def _find(ex: str, tree, values, shown: str):
    """tree.find(values) on a copy of values; fail if it changed the caller's array."""
    values = np.asarray(values, dtype=float)
    given = values.copy()
    got = call(ex, tree.find, values, shown=shown)
    if not np.array_equal(values, given):
        fail(ex, _CHANGED_VALUES.format(shown=shown))
    return got


_CHANGED_VALUES = ("{shown} changed the caller's array of values: work on a copy "
                   "(np.array(values, dtype=np.float64)).")


def _find_problem(got, arr: np.ndarray, capacity: int, values: np.ndarray, shown: str) -> str | None:
    """What is wrong with the slots ``got`` that find(values) returned on a right tree array
    ``arr`` of a SumTree(capacity), or None."""
    size = _tree_size(capacity)
    values = np.asarray(values, dtype=float)
    got = got if isinstance(got, dict) else _raw(got)  # a dict: the type of what came back
    if isinstance(got, dict) or got.shape != values.shape:
        form = got.get("type") if isinstance(got, dict) else f"shape {got.shape}"
        return f"{shown} returned {form}, expected shape {values.shape}: one slot per value."
    if not np.issubdtype(got.dtype, np.integer):
        return (f"{shown} returned {got.dtype} numbers; slots index arrays: return integers "
                f"(nodes - self.size of an int64 array).")
    want = _descend(arr, size, values)
    if np.array_equal(got, want):
        return None
    said = f"{shown} returned {got.tolist()}, expected {want.tolist()}"
    leaves = arr[size:]
    if np.all(got >= size):
        return f"{shown} returned {got.tolist()}: node numbers. Return slots: nodes - self.size."
    if capacity != size and np.array_equal(got, want + size - capacity):
        return (f"{said}: that is nodes - self.capacity. Return nodes - self.size: the leaf of "
                f"slot j is node self.size + j, and self.size = {size} is the power of two >= "
                f"capacity = {capacity}.")
    if np.array_equal(got, _descend(arr, size, values, right_on_equal=False)):
        return (f"{said}: at a value equal to the left sum it went left: go right when v >= the "
                f"left sum (not >): slot i owns the values from the sum of the priorities "
                f"before it up to that sum plus p_i, so a slot of priority 0 owns none.")
    if np.array_equal(got, _descend(arr, size, values, subtract=False)):
        return (f"{said}: when going right, subtract the left sum from v (v is then measured "
                f"from the start of the right subtree); go right when v >= the left sum.")
    if np.any((got < 0) | (got >= capacity)) or np.any(leaves[np.clip(got, 0, size - 1)] == 0):
        return (f"{said}: it reached a leaf of priority 0 (or an unused one), which must never "
                f"be drawn. Go right when v >= the left sum (not >), and subtract the left sum "
                f"from v when going right.")
    return (f"{said}: slot i owns the values from the sum of the priorities before it up to that "
            f"sum plus p_i. At each node: if v < tree[left], go left; else subtract the left sum "
            f"from v (v -= tree[left]) and go right.")


def _check_find(ex: str, tree, values, shown: str) -> None:
    got = _find(ex, tree, values, shown)
    problem = _find_problem(got, _tree_array(ex, tree), tree.capacity, values, shown)
    if problem:
        fail(ex, problem)


def _chi_square(counts: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's statistic over the slots expected to be drawn (about their number if right)."""
    drawn = expected > 0
    return float(((counts[drawn] - expected[drawn]) ** 2 / expected[drawn]).sum())


def _best_time(fn, repeats: int = 7) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _times(SumTree, capacity: int, rng) -> tuple[float, float]:
    """The best times of update and find on 64 slots of a SumTree(capacity)."""
    tree = SumTree(capacity)
    filled = rng.choice(capacity, size=min(capacity, 1_000), replace=False)  # quick to fill
    tree.update(filled, rng.random(len(filled)))
    slots, values = rng.integers(capacity, size=64), rng.random(64) * tree.total
    priorities = rng.random(64)
    return (_best_time(lambda: tree.update(slots, priorities)),
            _best_time(lambda: tree.find(values)))


_GROWS = ("{what} of 64 slots {cost_small} with capacity 2**6 and {cost_big} with capacity "
          "2**20: it grows with the capacity, as if it visited every leaf (a cumulative sum, or "
          "rebuilding the tree). Walk only the path between the root and each leaf: self.depth "
          "steps.")


def _check_log_time(ex: str, SumTree) -> None:
    """Find and update on 64 slots must not grow with the capacity (O(log n), not O(n))."""
    rng = np.random.default_rng(0)
    times = {capacity: _times(SumTree, capacity, rng) for capacity in (2**6, 2**20)}
    for k, what in enumerate(("update", "find")):
        small, big = times[2**6][k], times[2**20][k]
        if big > 1e-3 and big > 10 * small:
            fail(ex, _GROWS.format(what=what, cost_small=f"took {1e3 * small:.2f} ms",
                                   cost_big=f"{1e3 * big:.2f} ms"))


@register("6.3")
def check_sum_tree(SumTree) -> None:
    ex = "6.3"
    tree = call(ex, SumTree, 5, shown="SumTree(5)")
    for slot, priority in enumerate(_PRIORITIES):  # one slot per call first
        call(ex, tree.update, np.array([slot]), np.array([priority]),
             shown=f"tree.update(np.array([{slot}]), np.array([{priority}])) on SumTree(5)")
    _check_sums(ex, tree, _PRIORITIES, f"after setting the priorities {_PRIORITIES.tolist()} "
                                       f"one slot at a time")
    leaves = _PRIORITIES.copy()
    for slots, values, what in [([2, 3], [5.0, 0.5], "update([2, 3], [5.0, 0.5]): two slots "
                                                      "that share a parent, in one call"),
                                ([4], [1.5], "update([4], [1.5]): overwriting a slot"),
                                ([4], [1.5], "the same update([4], [1.5]) again"),
                                ([0, 4], [2.0, 2.5], "update([0, 4], [2.0, 2.5])")]:
        call(ex, tree.update, np.array(slots), np.array(values), shown=f"tree.{what}")
        leaves[slots] = values
        _check_sums(ex, tree, leaves, f"after {what}", several=len(slots) > 1)
    call(ex, tree.update, [1], [0.0], shown="tree.update([1], [0.0]) (lists, as add() calls it)")
    leaves[1] = 0.0
    _check_sums(ex, tree, leaves, "after update([1], [0.0])")

    # find at the start: the first slots have priority 0 and must be skipped
    edge = SumTree(4)
    edge.update(np.arange(4), np.array([0.0, 0.0, 3.0, 1.0]))
    _check_find(ex, edge, np.array([0.0, 2.9, 3.0]), "with priorities [0, 0, 3, 1], "
                                                     "find([0.0, 2.9, 3.0])")
    # find: leaves are now [2, 0, 5, 0.5, 2.5], cumulative sums 2, 2, 7, 7.5, 10
    values = np.array([0.0, 1.999, 2.0, 6.9, 7.0, 7.49, 7.5, 9.99])
    _check_find(ex, tree, values, f"find({values.tolist()}) with priorities {leaves.tolist()}")
    # drawing: uniform values in [0, total) pick each slot in proportion to its priority
    tree = SumTree(10)
    priorities = np.array([5.0, 1.0, 0.0, 2.0, 8.0, 0.5, 3.0, 1.5, 4.0, 0.0])
    tree.update(np.arange(10), priorities)
    draws = _find(ex, tree, np.random.default_rng(6).uniform(0, tree.total, 100_000),
                  "tree.find(100,000 uniform values in [0, total))")
    draws = np.asarray(draws).astype(np.int64)
    counts = np.bincount(np.clip(draws, 0, tree.size), minlength=tree.size + 1)
    expected = 100_000 * priorities / priorities.sum()
    if counts[10:].sum() or counts[:10][priorities == 0].sum() or np.any(draws < 0):
        fail(ex, "drawing 100,000 values picked slots of priority 0 (or beyond the capacity): "
                 "those must never be drawn.")
    if _chi_square(counts[:10], expected) > 40:  # 7 degrees of freedom: a correct tree gives about 7
        fail(ex, f"over 100,000 draws the slots came up {counts[:10].tolist()} times; in "
                 f"proportion to the priorities {priorities.tolist()} that would be about "
                 f"{np.round(expected).astype(int).tolist()}.")
    for capacity in (1, 6, 2**16):  # any capacity, not only powers of two
        tree = call(ex, SumTree, capacity, shown=f"SumTree({capacity})")
        p = np.random.default_rng(capacity).random(capacity)
        call(ex, tree.update, np.arange(capacity), p, shown=f"update on SumTree({capacity})")
        _check_sums(ex, tree, p, f"SumTree({capacity}) with every slot updated", several=True)
        values = np.random.default_rng(1).uniform(0, tree.total, 64)
        _check_find(ex, tree, values, f"find(64 values) on SumTree({capacity})")
    _check_log_time(ex, SumTree)
    passed(ex, "sums kept after updates and overwrites, find by prefix sum, draws in "
               "proportion to priority, O(log n)")


class _CountingArray(np.ndarray):
    """A sum tree's array that counts the numbers read from it by indexing: update and find
    on 64 slots must read about as many with a large capacity as with a small one."""

    reads = [0]

    def __getitem__(self, key):
        out = super().__getitem__(key)
        _CountingArray.reads[0] += int(np.size(out))
        return out


def _update(slots, priorities, lists=False) -> dict:
    slots = np.asarray(slots, dtype=np.int64)
    op = {"op": "update", "slots": slots, "priorities": np.asarray(priorities, dtype=float)}
    return {**op, "lists": True} if lists else op


def _find_op(values) -> dict:
    return {"op": "find", "values": np.asarray(values, dtype=float)}


def _random_tree_ops(capacity: int, seed: int, batches: int, batch: int, finds: int) -> list:
    """Batched updates with repeated slots (the same priority each time), then finds."""
    rng = np.random.default_rng(seed)
    priorities = rng.integers(0, 8, size=capacity) / 2  # halves: prefix sums are exact
    ops = [_update(s, priorities[s]) for s in (rng.integers(capacity, size=batch)
                                               for _ in range(batches))]
    leaves = np.zeros(capacity)
    for op in ops:
        leaves[op["slots"]] = op["priorities"]
    bounds = np.cumsum(leaves)[:-1][np.diff(np.cumsum(leaves)) > 0]  # where a slot starts
    values = np.concatenate([bounds[:finds // 2], rng.uniform(0, leaves.sum(), finds // 2)])
    return ops + [_find_op(values)]


@scenario("6.3")
class SumTreeScenario(Scenario):
    """Capacities that are and are not powers of two (1 too), partly filled, overwritten,
    priorities set to 0 and to large values, updates of several slots (siblings and repeats
    included), find at the exact boundaries of the prefix sums, and the numbers that update
    and find read from the tree with capacities 2**6 and 2**20 (O(log n), not O(n))."""

    def cases(self, ref):
        # capacity 6 (8 leaves): prefix sums 1, 3, 3.5, 7.5, 10.5, 11.5 after the second update;
        # then slot 2 set to 0 (prefix sums 1, 3, 3, 7, 10, 11) and slot 5 to 1e6 (total 1e6 + 10)
        six = [_update([0, 1, 2, 3], [1.0, 2.0, 0.5, 4.0]),
               _find_op([0.0, 0.999, 1.0, 3.0, 3.25, 3.5, 7.49]),
               _update([4, 5], [3.0, 1.0]), _find_op([7.5, 10.49, 10.5, 11.49]),
               _update([2], [0.0]), _find_op([2.999, 3.0, 3.0001]),  # a priority set to 0
               _update([5], [1e6]), _find_op([9.99, 10.0, 5e5, 1e6 + 9.9]),  # a large one
               _update([5, 5, 4], [1.0, 1.0, 0.5]),  # the same slot twice, and its sibling
               _update([1], [0.0], lists=True), _find_op([0.5, 0.999, 1.0, 2.0, 5.49])]
        return [{"capacity": 6, "ops": six},
                {"capacity": 1, "ops": [_update([0], [2.0]), _find_op([0.0, 1.999]),
                                        _update([0], [0.5]), _find_op([0.25, 0.0])]},
                {"capacity": 3, "ops": [_update([0], [1.5]), _find_op([0.0, 1.0, 1.49]),  # partly
                                        _update([2], [2.0]), _find_op([1.5, 3.49, 1.4999])]},
                {"capacity": 16, "ops": _random_tree_ops(16, 6316, 3, 10, 24)},
                {"capacity": 11, "ops": _random_tree_ops(11, 6311, 2, 11, 30)},
                {"capacity": 1000, "ops": _random_tree_ops(1000, 6003, 5, 40, 200)},
                {"capacity": 0, "scaling": [2**6, 2**20]}]

    def describe(self, op) -> str:
        if op["op"] == "find":
            values = op["values"]
            return (f"find({values.tolist()})" if len(values) <= 8 else
                    f"find({len(values)} values, some at the exact start of a slot's share)")
        slots, priorities = op["slots"], op["priorities"]
        if len(slots) > 4:
            return f"an update of {len(slots)} slots at once (some repeated)"
        return f"update({slots.tolist()}, {priorities.tolist()})"

    def run(self, case, SumTree):
        ex = "6.3"
        if "scaling" in case:
            return [self.reads(SumTree, capacity) for capacity in case["scaling"]]
        capacity = case["capacity"]
        tree = call(ex, SumTree, capacity, shown=f"SumTree({capacity})")
        out = []
        for op in case["ops"]:
            shown = f"tree.{self.describe(op)} on SumTree({capacity})"
            if op["op"] == "update":
                args = ((op["slots"].tolist(), op["priorities"].tolist()) if op.get("lists") else
                        (op["slots"].copy(), op["priorities"].copy()))
                _, raised = _attempt(ex, tree.update, *args, shown=shown)
                arr = getattr(tree, "tree", None)
                out.append({"raised": raised} if raised else
                           {"tree": np.array(arr, dtype=float) if isinstance(arr, np.ndarray)
                            else None})
            else:
                values = op["values"].copy()
                slots, raised = _attempt(ex, tree.find, values, shown=shown)
                out.append({"raised": raised} if raised else
                           {"slots": _raw(slots), "values": values})
            if raised:
                break
        return out

    def reads(self, SumTree, capacity: int):
        """How many numbers update and find of 64 slots read from a SumTree(capacity)."""
        ex, rng = "6.3", np.random.default_rng(capacity)
        tree = call(ex, SumTree, capacity, shown=f"SumTree({capacity})")
        filled = rng.choice(capacity, size=min(capacity, 1_000), replace=False)
        call(ex, tree.update, filled, rng.random(len(filled)), shown=f"update on SumTree({capacity})")
        if not isinstance(getattr(tree, "tree", None), np.ndarray):
            return None
        values = rng.random(64) * float(np.asarray(tree.tree)[1])
        tree.tree = tree.tree.view(_CountingArray)
        reads = []
        for fn, args in ((tree.update, (rng.integers(capacity, size=64), rng.random(64))),
                         (tree.find, (values,))):
            _CountingArray.reads[0] = 0
            call(ex, fn, *args, shown=f"{fn.__name__} of 64 slots on SumTree({capacity})")
            reads.append(_CountingArray.reads[0])
        tree.tree = np.asarray(tree.tree)
        return reads

    def judge(self, case, got, expected):
        ex = "6.3"
        if "scaling" in case:
            if all(isinstance(r, list) and len(r) == 2 for r in got):
                for k, what in enumerate(("update", "find")):
                    small, big = got[0][k], got[1][k]
                    if big > max(8 * small, 20_000):
                        fail(ex, _GROWS.format(what=what, cost_small=f"read {small} numbers of "
                                               f"the tree", cost_big=f"{big}"))
            return
        capacity = case["capacity"]
        size = _tree_size(capacity)
        leaves, state = np.zeros(capacity), np.zeros(2 * size)
        for op, mine, want in zip(case["ops"], got, expected):
            shown = f"{self.describe(op)} on SumTree({capacity})"
            if mine.get("raised"):
                _crashed(ex, mine["raised"])
            if op["op"] == "update":
                leaves[op["slots"]] = op["priorities"]
                arr = mine.get("tree")
                if not isinstance(arr, np.ndarray) or arr.shape != (2 * size,):
                    fail(ex, _NO_ARRAY)
                problem = _sums_problem(arr, capacity, leaves, f"after {shown}",
                                        several=len(set(op["slots"].tolist())) > 1)
                state = want["tree"]
            elif not np.array_equal(mine["values"], op["values"]):
                problem = _CHANGED_VALUES.format(shown=shown)
            else:
                problem = _find_problem(mine["slots"], state, capacity, op["values"],
                                        f"{shown}, priorities {leaves.tolist()}"
                                        if capacity <= 16 else shown)
            if problem:
                fail(ex, problem)
        if len(got) != len(case["ops"]):
            fail(ex, f"the scenario on SumTree({capacity}) stopped after {len(got)} steps.")


# ---------------------------------------------------------------- 6.4 prioritized replay
# Checked with ReferenceSumTree standing in for the student's SumTree (exercise 6.3).
def _transition(i: int, obs_dim: int = 3):
    obs = np.full(obs_dim, float(i), dtype=np.float32)
    return obs, i % 2, float(i + 1), obs + 0.5, i % 3 == 0  # reward = position + 1


def _leaves(memory, n: int) -> np.ndarray:
    return np.asarray(memory.tree.priority(np.arange(n)), dtype=float)


def _add_problem(mine: np.ndarray, want: np.ndarray, before: np.ndarray, position: int,
                 capacity: int, raw_max: float) -> str | None:
    """What is wrong with the leaves ``mine`` (all of the tree's) after the add() of transition
    number ``position`` (from 0) into a memory of ``capacity``: ``want`` right, ``before`` the
    leaves before it, ``raw_max`` the largest |td_error| + eps given so far (before alpha)."""
    if close(mine, want, atol=1e-6):
        return None
    slot, new = position % capacity, float(want[position % capacity])
    said = (f"after add() of transition {position + 1} into a memory of capacity {capacity} the "
            f"priorities of the slots are {fmt(mine)}, expected {fmt(want)}")
    changed = np.flatnonzero(~np.isclose(mine, before, atol=1e-6))
    if position >= capacity and position < len(mine) and np.isclose(mine[position], new) and \
            np.isclose(mine[slot], before[slot]):
        return (f"{said}: the memory is full, so transition {position + 1} overwrote slot "
                f"{slot}, but its priority went to slot {position}, which holds no transition. "
                f"The slot written is self.position % self.capacity.")
    if len(changed) == 1 and changed[0] == (position + 1) % capacity:
        return (f"{said}. The leaf is one slot off: update slot self.position % self.capacity "
                f"before super().add() increments position.")
    if np.isclose(mine[slot], before[slot]):
        return (f"{said}. A priority of 0 is never drawn: give new transitions max_priority."
                if np.isclose(before[slot], 0.0) else
                f"{said}: the new transition kept the old priority of slot {slot}; a new "
                f"transition gets max_priority.")
    if np.isclose(mine[slot], 1.0) and not np.isclose(new, 1.0):
        return (f"{said}: max_priority was not raised: after update_priorities it must be the "
                f"largest priority given so far (already ** alpha), here {new:.4g}.")
    if np.isclose(mine[slot], raw_max) and not np.isclose(new, raw_max):
        return (f"{said}: max_priority holds priorities after the exponent alpha, like the "
                f"tree's leaves: {new:.4g}, not |td_error| + eps = {raw_max:.4g}.")
    return (f"{said}: a new transition gets max_priority, the largest priority given so far, "
            f"at slot self.position % self.capacity.")


def _priority_hint(got: np.ndarray, td_errors: np.ndarray, alpha: float, eps: float) -> str:
    """What update_priorities computed, named by the priorities ``got`` of the updated slots."""
    with np.errstate(invalid="ignore"):
        variants = {
            "no abs": (np.where(td_errors + eps < 0, np.nan, np.abs(td_errors + eps) ** alpha),
                       "use the absolute TD error: a negative error is as surprising as a "
                       "positive one."),
            "no eps": (np.abs(td_errors) ** alpha,
                       "add eps before the exponent: with a TD error of 0 the priority is 0 and "
                       "that transition would never be drawn again."),
            "no alpha": (np.abs(td_errors) + eps, "raise (|td_error| + eps) to the power alpha."),
            "eps outside": (np.abs(td_errors) ** alpha + eps,
                            "eps goes inside the power: (|td_error| + eps) ** alpha."),
            "times alpha": ((np.abs(td_errors) + eps) * alpha,
                            "alpha is an exponent: (|td_error| + eps) ** alpha."),
        }
    return next((h for v, h in variants.values() if close(got, v, atol=1e-6)),
                "p = (|td_error| + eps) ** alpha, written into the tree at the slots given.")


def _update_problem(mine: np.ndarray, want: np.ndarray, slots: np.ndarray,
                    td_errors: np.ndarray, alpha: float, eps: float, shown: str) -> str | None:
    if close(mine, want, atol=1e-6):
        return None
    if not close(mine[slots], want[slots], atol=1e-6):
        hint = _priority_hint(mine[slots], td_errors, alpha, eps)
        return (f"after {shown} the priorities of slots {slots.tolist()} are {fmt(mine[slots])}, "
                f"expected {fmt(want[slots])}: {hint}")
    return f"{shown} changed the priorities of slots other than {slots.tolist()}."


def _check_add(ex: str, PrioritizedReplayMemory):
    memory = call(ex, PrioritizedReplayMemory, 8, 3, 0.5, 0.01,
                  shown="PrioritizedReplayMemory(8, 3, alpha=0.5, eps=0.01)")
    for i in range(6):
        before = _leaves(memory, 8)
        call(ex, memory.add, *_transition(i), shown="memory.add(obs, action, reward, next_obs, "
                                                    "terminated)")
        if len(memory) != i + 1 or not np.isclose(memory.rewards[i], i + 1):
            fail(ex, f"after {i + 1} add() calls the memory should hold the {i + 1} transitions: "
                     f"call super().add(obs, action, reward, next_obs, terminated) "
                     f"(ReplayMemory's add).")
        want = before.copy()
        want[i] = 1.0
        problem = _add_problem(_leaves(memory, 8), want, before, i, 8, 1.0)
        if problem:
            fail(ex, problem + " (max_priority is 1 at first.)")
    return memory


def _check_update(ex: str, memory) -> None:
    td_errors = np.array([-3.0, 0.0])
    shown = "memory.update_priorities(np.array([1, 3]), np.array([-3.0, 0.0])) with alpha=0.5, " \
            "eps=0.01"
    call(ex, memory.update_priorities, np.array([1, 3]), td_errors.copy(), shown=shown)
    want = np.array([1.0] * 6 + [0.0] * 2)
    want[[1, 3]] = (np.abs(td_errors) + 0.01) ** 0.5
    problem = _update_problem(_leaves(memory, 8), want, np.array([1, 3]), td_errors, 0.5, 0.01,
                              shown)
    if problem:
        fail(ex, problem)
    before = _leaves(memory, 8)
    call(ex, memory.add, *_transition(6), shown="memory.add(...) after update_priorities")
    want = before.copy()
    want[6] = want[[1, 3]].max()
    problem = _add_problem(_leaves(memory, 8), want, before, 6, 8, 3.01)
    if problem:
        fail(ex, problem)


def _check_wrap(ex: str, PrioritizedReplayMemory) -> None:
    """A memory of capacity 3 (a tree of 4 leaves) that fills up and overwrites its oldest."""
    memory = call(ex, PrioritizedReplayMemory, 3, 3, 0.5, 0.01,
                  shown="PrioritizedReplayMemory(3, 3, alpha=0.5, eps=0.01)")
    for i in range(3):
        call(ex, memory.add, *_transition(i), shown="memory.add(...)")
    td_errors = np.array([1.0, 3.0, 0.0])
    call(ex, memory.update_priorities, np.arange(3), td_errors.copy(),
         shown="memory.update_priorities(np.arange(3), np.array([1.0, 3.0, 0.0]))")
    want = np.append((np.abs(td_errors) + 0.01) ** 0.5, 0.0)
    problem = _update_problem(_leaves(memory, 4), want, np.arange(3), td_errors, 0.5, 0.01,
                              "update_priorities on a memory of capacity 3")
    if problem:
        fail(ex, problem)
    for i in (3, 4):  # overwrite slots 0 and 1
        before = _leaves(memory, 4)
        call(ex, memory.add, *_transition(i), shown="memory.add(...) into a full memory")
        want = before.copy()
        want[i % 3] = ((np.abs(td_errors) + 0.01) ** 0.5).max()
        problem = _add_problem(_leaves(memory, 4), want, before, i, 3, 3.01)
        if problem:
            fail(ex, problem)


def _sample_record(ex: str, memory, batch_size: int, beta: float) -> dict:
    """What memory.sample(batch_size, beta) returned, as plain data."""
    out = call(ex, memory.sample, batch_size, beta,
               shown=f"memory.sample({batch_size}, beta={beta})")
    if not (isinstance(out, tuple) and len(out) == 3):
        return {"form": type(out).__name__}
    batch, indices, weights = out
    rewards = batch[2] if isinstance(batch, tuple) and len(batch) == 5 else None
    return {"form": "tuple", "indices": _raw(indices), "weights": _raw(weights),
            "weights_type": type(weights).__name__,
            "weights_dtype": str(getattr(weights, "dtype", "")),
            "rewards": _raw(rewards) if rewards is not None else None}


def _sample_problem(rec: dict, batch_size: int, stored_rewards: np.ndarray,
                    shown: str) -> str | None:
    """The form of what sample() returned: (batch, indices, weights) of the right kinds."""
    if rec.get("form") != "tuple":
        return (f"{shown} should return a tuple (batch, indices, weights), got "
                f"{rec.get('form')}.")
    indices = rec["indices"]
    if not isinstance(indices, np.ndarray) or indices.shape != (batch_size,) or \
            not np.issubdtype(indices.dtype, np.integer):
        form = (f"shape {indices.shape} dtype {indices.dtype}" if isinstance(indices, np.ndarray)
                else f"a {indices.get('type')}")
        return f"{shown}: indices should be {batch_size} integers (the slots drawn), got {form}."
    weights = rec["weights"]
    if rec["weights_type"] != "Tensor" or rec["weights_dtype"] != "torch.float32" or \
            not isinstance(weights, np.ndarray) or weights.shape != (batch_size,):
        shape = weights.shape if isinstance(weights, np.ndarray) else "?"
        return (f"{shown}: weights should be a float32 tensor of shape ({batch_size},), got a "
                f"{rec['weights_type']} {rec['weights_dtype']} of shape {shape}.")
    rewards = rec["rewards"]
    if not isinstance(rewards, np.ndarray) or rewards.shape != (batch_size,):
        return (f"{shown}: the batch should be self.take(indices), a Batch of {batch_size} "
                f"transitions.")
    inside = (indices >= 0) & (indices < len(stored_rewards))
    if not inside.all() or not np.allclose(rewards, np.asarray(stored_rewards)[indices]):
        return (f"{shown}: the batch does not hold the transitions at the returned indices: "
                f"return self.take(indices) with the same indices.")
    return None


def _weights_hint(weights, leaves, indices, n: int, alpha: float, beta: float) -> str | None:
    """None if ``weights`` are eq. 4's for the slots ``indices`` drawn from ``leaves`` (the
    priorities of the n stored transitions), else the usual mistake that gives them."""
    total = leaves.sum()
    probs = leaves[indices] / total
    raw = (n * probs) ** -beta
    if close(weights, raw / raw.max(), atol=1e-5):
        return None
    smallest = leaves[:n][leaves[:n] > 0].min() / total
    twice = (n * leaves[indices] ** alpha / total) ** -beta
    variants = [
        (raw, "divide the weights by their maximum, so that the largest is 1 and every step "
              "only shrinks."),
        (raw / raw.sum(), "normalise by the maximum weight, not the sum."),
        ((n * probs) ** beta / ((n * probs) ** beta).max(),
         "the exponent is -beta: rarely drawn transitions get the largest weights."),
        (raw / (n * smallest) ** -beta,
         "they were divided by the largest weight over the whole memory (that of the smallest "
         "priority, as OpenAI baselines does with a min-tree); this lab divides by the largest "
         "weight in the batch: weights / weights.max()."),
        (twice / twice.max(), "the leaves already hold p ** alpha: P(i) = tree.priority(i) / "
                              "tree.total, without another ** alpha."),
    ]
    return next((h for v, h in variants if close(weights, v, atol=1e-5)),
                "w = (N * P(i)) ** -beta / max over the batch, with P(i) = tree.priority(i) / "
                "tree.total and N = len(self).")


def _draws_problem(counts: np.ndarray, leaves: np.ndarray, n: int, batches: int,
                   batch_size: int) -> str | None:
    """Slots drawn ``counts`` times over many batches, from the priorities ``leaves``."""
    if counts[n:].sum():
        slot = int(np.flatnonzero(counts[n:])[0]) + n
        return (f"sample() drew slot {slot}, which holds no transition yet ({n} stored): draw "
                f"values in [0, tree.total) and find them in the tree.")
    p = leaves[:n]
    if counts[:n][p == 0].sum():
        return "sample() drew a slot of priority 0, which must never be drawn."
    expected = counts.sum() * p / p.sum()
    if _chi_square(counts[:n], expected) > 3 * n + 25:  # a correct sampler: about n - 1
        share = np.round(counts[:n] / counts.sum(), 3)
        return (f"over {batches:,} batches of {batch_size} the slots were drawn with shares "
                f"{share.tolist()}; with priorities {np.round(p, 3).tolist()} they should be "
                f"about {np.round(p / p.sum(), 3).tolist()}. The leaves already hold "
                f"p ** alpha: draw uniform values in [0, tree.total) and tree.find them.")
    return None


def _check_sample(ex: str, memory) -> None:
    # 7 transitions in a memory of capacity 8; set known priorities (already ** alpha). Slot 4's
    # is so small that it is rarely in a batch: the batch's largest weight is rarely the memory's.
    p = np.array([1.0, 2.0, 3.0, 4.0, 0.05, 6.0, 1.5])
    memory.tree.update(np.arange(7), p)
    np.random.seed(0)
    for beta in (0.4, 1.0, 0.0):
        shown = f"memory.sample(16, beta={beta})"
        rec = _sample_record(ex, memory, 16, beta)
        problem = _sample_problem(rec, 16, memory.rewards[:7], shown)
        if problem:
            fail(ex, problem)
        hint = _weights_hint(rec["weights"], p, rec["indices"], 7, 0.5, beta)
        if hint:
            probs = p[rec["indices"]] / p.sum()
            want = (7 * probs) ** -beta / ((7 * probs) ** -beta).max()
            fail(ex, f"{shown} with priorities {p.tolist()}: weights {fmt(rec['weights'][:6])}..."
                     f", expected {fmt(want[:6])}...: {hint}")
    counts = np.zeros(8)
    for _ in range(2_000):
        rec = _sample_record(ex, memory, 8, 0.5)
        problem = _sample_problem(rec, 8, memory.rewards[:7], "memory.sample(8, beta=0.5)")
        if problem:
            fail(ex, problem)
        counts += np.bincount(rec["indices"], minlength=8)[:8]
    problem = _draws_problem(counts, np.append(p, 0.0), 7, 2_000, 8)
    if problem:
        fail(ex, problem)


@register("6.4")
def check_prioritized_replay_memory(PrioritizedReplayMemory) -> None:
    ex = "6.4"
    with _standins(PrioritizedReplayMemory, SumTree=ReferenceSumTree):
        memory = _check_add(ex, PrioritizedReplayMemory)
        _check_update(ex, memory)
        _check_sample(ex, memory)
        _check_wrap(ex, PrioritizedReplayMemory)
    passed(ex, "new transitions at max priority (overwritten slots too), p = (|delta| + eps) ** "
               "alpha, draws in proportion to p, weights (N P) ** -beta / max")


def _add(i: int, obs_dim: int) -> dict:
    obs = np.round(np.sin(np.arange(obs_dim) + i), 3).astype(np.float32)
    return {"op": "add", "obs": obs, "action": i % 2, "reward": float(i + 1),
            "next_obs": obs + 0.5, "terminated": i % 4 == 3}


def _per_update(slots, td_errors) -> dict:
    return {"op": "update", "slots": np.asarray(slots, dtype=np.int64),
            "td_errors": np.asarray(td_errors, dtype=float)}


def _per_sample(batch_size: int, beta: float, batches: int) -> dict:
    return {"op": "sample", "batch_size": batch_size, "beta": beta, "batches": batches}


@scenario("6.4")
class PrioritizedReplayScenario(Scenario):
    """Capacities that are and are not powers of two, filled, partly filled and wrapped around;
    alpha 0, 1 and between, beta 0, 1 and between; new transitions at max priority (raised by
    update_priorities); weights normalised by the batch's largest; draws in proportion to the
    priorities over hundreds of batches. The tree is ``ReferenceSumTree``, not the student's."""

    def cases(self, ref):
        def adds(first, last, obs_dim):
            return [_add(i, obs_dim) for i in range(first, last)]

        return [
            {"capacity": 6, "obs_dim": 2, "alpha": 0.6, "eps": 0.05, "ops": [
                *adds(0, 4, 2), _per_update([0, 2, 3], [2.0, -0.5, 0.0]),
                *adds(4, 8, 2),  # fills slots 4 and 5, then overwrites 0 and 1
                _per_update([1, 4, 5], [-3.0, 1.0, 0.2]), *adds(8, 9, 2),
                _per_sample(5, 0.4, 400), _per_sample(3, 1.0, 50)]},
            {"capacity": 5, "obs_dim": 3, "alpha": 0.0, "eps": 0.01, "ops": [  # alpha 0: uniform
                *adds(0, 5, 3), _per_update([0, 1, 2, 3, 4], [0.0, 0.5, -2.0, 4.0, 0.1]),
                _per_sample(8, 1.0, 200)]},
            {"capacity": 7, "obs_dim": 1, "alpha": 1.0, "eps": 0.02, "ops": [  # partly filled
                *adds(0, 5, 1), _per_update([0, 1, 2, 3, 4], [1.0, -2.0, 0.5, 3.0, 0.0]),
                _per_sample(4, 0.0, 300), _per_sample(4, 1.0, 300)]},
            {"capacity": 8, "obs_dim": 2, "alpha": 0.5, "eps": 0.01, "ops": [
                *adds(0, 6, 2), _per_update([0, 1, 2, 3, 4, 5], [3.0, 8.0, 0.0, 15.0, 0.5, 24.0]),
                _per_sample(4, 0.7, 300)]},  # slot 2 (priority 0.1) is rarely in a batch
            {"capacity": 2, "obs_dim": 2, "alpha": 0.7, "eps": 0.1, "ops": [
                *adds(0, 3, 2), _per_update([0], [5.0]), *adds(3, 4, 2),
                _per_sample(3, 0.5, 100)]},
        ]

    def shown(self, case):
        return (f"PrioritizedReplayMemory({case['capacity']}, {case['obs_dim']}, "
                f"alpha={case['alpha']}, eps={case['eps']})")

    def run(self, case, PrioritizedReplayMemory):
        ex = "6.4"
        with _standins(PrioritizedReplayMemory, SumTree=ReferenceSumTree):
            memory = call(ex, PrioritizedReplayMemory, case["capacity"], case["obs_dim"],
                          case["alpha"], case["eps"], shown=self.shown(case))
            out = []
            for op in case["ops"]:
                out.append(self.step(ex, memory, op, _tree_size(case["capacity"])))
                if out[-1].get("raised"):
                    break
            return out

    def step(self, ex: str, memory, op: dict, size: int) -> dict:
        if op["op"] == "add":
            _, raised = _attempt(ex, memory.add, op["obs"].copy(), op["action"], op["reward"],
                                 op["next_obs"].copy(), op["terminated"],
                                 shown="memory.add(obs, action, reward, next_obs, terminated)")
        elif op["op"] == "update":
            _, raised = _attempt(ex, memory.update_priorities, op["slots"].copy(),
                                 op["td_errors"].copy(), shown="memory.update_priorities(...)")
        else:
            return self.draw(ex, memory, op, size)
        if raised:
            return {"raised": raised}
        arr = getattr(getattr(memory, "tree", None), "tree", None)
        return {"leaves": np.array(arr[size:], dtype=float) if isinstance(arr, np.ndarray)
                and arr.shape == (2 * size,) else None,
                "rewards": np.array(memory.rewards, dtype=float)}

    def draw(self, ex: str, memory, op: dict, size: int) -> dict:
        """The first few samples in full, and how often each slot came up over all."""
        first, counts = [], np.zeros(size + 1, dtype=np.int64)
        for k in range(op["batches"]):
            rec = _sample_record(ex, memory, op["batch_size"], op["beta"])
            if k < 4:
                first.append(rec)
            indices = rec.get("indices")
            if not (isinstance(indices, np.ndarray) and np.issubdtype(indices.dtype, np.integer)
                    and indices.ndim == 1):
                break
            counts += np.bincount(np.clip(indices, 0, size), minlength=size + 1)
        return {"samples": first, "counts": counts}

    def judge(self, case, got, expected):
        ex, capacity, alpha, eps = "6.4", case["capacity"], case["alpha"], case["eps"]
        size, position, raw_max = _tree_size(capacity), 0, 1.0
        leaves, rewards = np.zeros(size), np.zeros(capacity)
        context = f"{self.shown(case)}: "
        for op, mine, want in zip(case["ops"], got, expected):
            if mine.get("raised"):
                _crashed(ex, context + str(mine["raised"])[:600])
            if op["op"] == "sample":
                self.judge_sample(context, op, mine, leaves, min(position, capacity), alpha,
                                  rewards)
                continue
            if not isinstance(mine.get("leaves"), np.ndarray):
                fail(ex, context + "memory.tree should be the SumTree made in __init__.")
            if op["op"] == "add":
                if not np.isclose(mine["rewards"][position % capacity], op["reward"]):
                    fail(ex, context + f"after {position + 1} add() calls the memory does not "
                         f"hold the transition just added: call super().add(obs, action, "
                         f"reward, next_obs, terminated) (ReplayMemory's add).")
                problem = _add_problem(mine["leaves"], want["leaves"], leaves, position, capacity,
                                       raw_max)
                position += 1
            else:
                shown = (f"update_priorities({op['slots'].tolist()}, "
                         f"{op['td_errors'].tolist()})")
                problem = _update_problem(mine["leaves"], want["leaves"], op["slots"],
                                          op["td_errors"], alpha, eps, shown)
                raw_max = max(raw_max, float((np.abs(op["td_errors"]) + eps).max()))
            if problem:
                fail(ex, context + problem)
            leaves, rewards = want["leaves"], want["rewards"]
        if len(got) != len(case["ops"]):
            fail(ex, context + f"the scenario stopped after {len(got)} steps.")

    def judge_sample(self, context: str, op: dict, mine: dict, leaves: np.ndarray, n: int,
                     alpha: float, rewards: np.ndarray) -> None:
        ex, k, beta = "6.4", op["batch_size"], op["beta"]
        shown = f"memory.sample({k}, beta={beta})"
        for rec in mine["samples"]:
            problem = _sample_problem(rec, k, rewards[:n], shown)
            if problem:
                fail(ex, context + problem)
            hint = _weights_hint(rec["weights"], leaves[:n], rec["indices"], n, alpha, beta)
            if hint:
                fail(ex, f"{context}{shown} with priorities {np.round(leaves[:n], 4).tolist()} "
                         f"drew slots {rec['indices'].tolist()} with weights "
                         f"{fmt(rec['weights'])}: {hint}")
        if len(mine["samples"]) < min(4, op["batches"]):
            fail(ex, context + f"{shown} stopped returning slots after a few batches.")
        problem = _draws_problem(np.asarray(mine["counts"]), leaves, n, op["batches"], k)
        if problem:
            fail(ex, context + problem)


# ---------------------------------------------------------------- 6.5 the weighted learning step
# Checked with reference_double_td_target and reference_td_target standing in for the
# notebook's double_td_target (exercise 6.1) and td_target (lab 02).
_WEIGHTS = torch.tensor([1.0, 0.5, 0.25, 1.0, 0.1, 0.8])


def _target_standins(learn_step):
    return _standins(learn_step, double_td_target=reference_double_td_target,
                     td_target=reference_td_target)


def _q_taken(net, batch) -> torch.Tensor:
    return net(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)


def _reference(q_network, target_network, batch, gamma, weights, double, lr):
    """(loss, td_errors, Huber losses, network after one SGD step) of a right learning step."""
    net = copy.deepcopy(q_network)
    y = _targets(batch.rewards, batch.next_obs, batch.terminated, net, target_network,
                 gamma)["double" if double else "vanilla"]
    q = _q_taken(net, batch)
    losses = F.smooth_l1_loss(q, torch.as_tensor(y, dtype=torch.float32), reduction="none")
    loss = (weights * losses).mean()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad
    return loss.item(), q.detach().numpy() - y, losses.detach().numpy(), net


def _huber(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) < 1, 0.5 * x ** 2, np.abs(x) - 0.5)


def _loss_hint(loss: float, q: np.ndarray, y: np.ndarray, y_other: np.ndarray,
               weights: np.ndarray, double: bool) -> str:
    """The usual mistake whose loss is ``loss``, from Q(s, a) ``q``, the right target ``y``, the
    other kind of target ``y_other`` and the importance weights."""
    q, y, y_other, w = (np.asarray(a, dtype=float) for a in (q, y, y_other, weights))
    h = _huber(q - y)
    variants = [
        (h.mean(), "the weights were ignored: multiply each transition's Huber loss by its "
                   "weight, then take the mean."),
        (w.mean() * h.mean(), "F.smooth_l1_loss(q_taken, y) without reduction='none' is "
                              "already the mean over the batch, a single number, so the weights "
                              "only scaled it by their mean: use reduction='none' for one Huber "
                              "loss per transition, multiply by the weights, then .mean()."),
        ((w * h).sum() / w.sum(), "divide by the batch size (.mean()), not by the sum of the "
                                  "weights."),
        (_huber(w * q - w * y).mean(), "the weights multiply each transition's loss, not the TD "
                                       "error inside it."),
        ((w * (q - y) ** 2).mean(), "use the Huber loss per transition: "
                                    "F.smooth_l1_loss(q_taken, y, reduction='none')."),
        ((w * h).sum(), "take the mean over the batch, not the sum."),
        ((w * _huber(q - y_other)).mean(),
         f"with double={double} the target must come from "
         f"{'double_td_target' if double else 'td_target (lab 02)'}; yours came from "
         f"{'td_target' if double else 'double_td_target'}."),
    ]
    return next((hint for value, hint in variants if np.isclose(loss, value, rtol=1e-4)),
                "loss = (weights * F.smooth_l1_loss(q_taken, y, reduction='none')).mean().")


def _td_hint(td_errors: np.ndarray, want: np.ndarray, q_after: np.ndarray, q: np.ndarray,
             weights: np.ndarray) -> str:
    """The usual mistake whose TD errors are ``td_errors`` (``want`` = q - y)."""
    y = q - want
    mine = np.abs(td_errors)
    if close(mine, np.abs(q_after - y)):
        return ("they were computed after optimizer.step(), with the updated network: keep "
                "q_taken - y from before the step.")
    if close(td_errors, _huber(want)):
        return "those are the Huber losses: return the TD errors q_taken - y."
    if close(mine, np.abs(want) * weights):
        return ("those are weighted: return the plain TD errors q_taken - y (the weights only "
                "scale the loss).")
    return "return q_taken - y, one TD error per transition."


_PILE_UP = ("the second of two learning steps differs from a correct one: call "
            "optimizer.zero_grad() before loss.backward(), otherwise gradients pile up.")
_NO_STEP = ("the Q-network's weights did not change: call optimizer.zero_grad(), "
            "loss.backward(), then optimizer.step().")
_OTHER_STEP = ("the weights differ from one SGD step on the weighted loss: backpropagate the same "
               "loss you return, with zero_grad() first.")


def _loss_and_td(ex: str, out, shown: str) -> tuple:
    """(loss, td_errors) from what learn_step returned; fail on its form."""
    if not (isinstance(out, tuple) and len(out) == 2):
        fail(ex, f"{shown} should return a tuple (loss, td_errors), got {type(out).__name__}.")
    return out


@register("6.5")
def check_learn_step_weighted(learn_step) -> None:
    ex = "6.5"
    gamma, lr = 0.9, 0.05
    batch = _batch()
    weights = _WEIGHTS.numpy().astype(float)
    with _target_standins(learn_step):
        for double in (False, True):
            q_network, target_network = _double_nets()
            start_q, start_target = copy.deepcopy(q_network), copy.deepcopy(target_network.state_dict())
            want_loss, want_td, _, want_net = _reference(q_network, target_network, batch, gamma,
                                                         _WEIGHTS, double, lr)
            opt = torch.optim.SGD(q_network.parameters(), lr=lr)
            shown = (f"learn_step(q_network, target_network, optimizer, batch, gamma=0.9, "
                     f"weights, double={double})")
            loss, td_errors = _loss_and_td(ex, call(ex, learn_step, q_network, target_network,
                                                     opt, batch, gamma, _WEIGHTS.clone(), double,
                                                     shown=shown), shown)
            loss = check_loss_and_target(ex, loss, shown, target_network, start_target)
            variants = _targets(batch.rewards, batch.next_obs, batch.terminated, start_q,
                                target_network, gamma)
            with torch.no_grad():
                q = _q_taken(start_q, batch).numpy()
                q_after = _q_taken(q_network, batch).numpy()
            if not np.isclose(loss, want_loss, rtol=1e-4):
                right, other = ("double", "vanilla") if double else ("vanilla", "double")
                hint = _loss_hint(loss, q, variants[right], variants[other], weights, double)
                fail(ex, f"{shown} with weights {np.round(weights, 2).tolist()}: the loss was "
                         f"{fmt(float(loss))}, expected {fmt(want_loss)}: {hint}")
            if isinstance(td_errors, torch.Tensor):
                fail(ex, f"{shown} returned the TD errors as a tensor; return a NumPy array "
                         f"((q_taken - y).detach().numpy()) for update_priorities.")
            td_errors = np.asarray(td_errors, dtype=float)
            if td_errors.shape != (6,):
                fail(ex, f"{shown} returned TD errors of shape {td_errors.shape}, expected (6,): "
                         f"one per transition.")
            if not close(np.abs(td_errors), np.abs(want_td)):
                fail(ex, f"{shown} returned TD errors {fmt(td_errors)}, expected {fmt(want_td)}: "
                         f"{_td_hint(td_errors, want_td, q_after, q, weights)}")
            if not close(_flat(q_network), _flat(want_net)):
                fail(ex, _NO_STEP if close(_flat(q_network), _flat(start_q), atol=0, rtol=0) else
                     f"after {shown} {_OTHER_STEP}")
        # a second step on the same optimiser: gradients must not pile up
        q_network, target_network = _double_nets()
        opt = torch.optim.SGD(q_network.parameters(), lr=lr)
        call(ex, learn_step, q_network, target_network, opt, batch, gamma, _WEIGHTS.clone(), True)
        _, _, _, want_net = _reference(q_network, target_network, batch, gamma, _WEIGHTS, True, lr)
        call(ex, learn_step, q_network, target_network, opt, batch, gamma, _WEIGHTS.clone(), True)
        if not close(_flat(q_network), _flat(want_net)):
            fail(ex, _PILE_UP)
    passed(ex, "weights scale each transition's Huber loss, Double target when asked, TD errors "
               "from before the step")


@scenario("6.5")
class WeightedLearnStepScenario(Scenario):
    """Other sizes (a single transition, fewer transitions than actions), discounts (0 too),
    terminal patterns, learning rates and weights, with the Double and the plain target; two
    steps on one optimiser. The targets come from this module's reference functions."""

    SETUPS = [  # (seed, transitions, obs_dim, n_actions, gamma, double, terminal pattern)
        (6052, 16, 5, 3, 0.95, False, "some"), (6051, 16, 5, 3, 0.95, True, "some"),
        (6053, 1, 4, 2, 0.99, True, "none"), (6054, 3, 2, 5, 0.0, True, "some"),
        (6055, 8, 3, 4, 0.9, False, "all"), (6056, 10, 6, 2, 1.0, True, "none")]

    def cases(self, ref):
        out = []
        for seed, n, obs_dim, n_actions, gamma, double, pattern in self.SETUPS:
            g = torch.Generator().manual_seed(seed)
            batch = Batch(torch.randn(n, obs_dim, generator=g),
                          torch.randint(0, n_actions, (n,), generator=g),
                          torch.randn(n, generator=g) * 2, torch.randn(n, obs_dim, generator=g),
                          {"all": torch.ones(n), "none": torch.zeros(n),
                           "some": (torch.arange(n) % 3 == 1).float()}[pattern])
            weights = torch.rand(n, generator=g) * 0.9 + 0.1
            weights = weights / weights.max()
            seeds = _disagreeing_seeds(obs_dim, n_actions, batch.next_obs, seed)
            q_network, target_network = (_hidden_net(obs_dim, n_actions, s) for s in seeds)
            lr = 0.03
            variants = _targets(batch.rewards, batch.next_obs, batch.terminated, q_network,
                                target_network, gamma)
            _, _, _, stepped = _reference(q_network, target_network, batch, gamma, weights,
                                          double, lr)
            with torch.no_grad():
                q, q_after = _q_taken(q_network, batch).numpy(), _q_taken(stepped, batch).numpy()
            right, other = ("double", "vanilla") if double else ("vanilla", "double")
            out.append({"seeds": list(seeds), "n_actions": n_actions, "gamma": gamma,
                        "double": double, "lr": lr, "weights": weights.numpy(),
                        **{k: v.numpy() for k, v in batch._asdict().items()},
                        "_q": q, "_q_after": q_after, "_y": variants[right],
                        "_y_other": variants[other], "_start": _flat(q_network)})
        return out

    def shown(self, case):
        n = len(case["rewards"])
        return (f"learn_step(..., gamma={case['gamma']}, weights, double={case['double']}) on "
                f"{n} transition{'s' * (n > 1)} with {case['n_actions']} actions")

    def run(self, case, learn_step):
        ex, shown = "6.5", self.shown(case)
        obs_dim = case["obs"].shape[1]
        q_network, target_network = (_hidden_net(obs_dim, case["n_actions"], s)
                                     for s in case["seeds"])
        batch = Batch(*(torch.from_numpy(case[k]) for k in Batch._fields))
        opt = torch.optim.SGD(q_network.parameters(), lr=case["lr"])
        args = (case["gamma"], torch.from_numpy(case["weights"]), case["double"])
        with _target_standins(learn_step):
            out = call(ex, learn_step, q_network, target_network, opt, batch, *args, shown=shown)
            report = {"form": type(out).__name__, "length": len(out) if isinstance(out, tuple)
                      else None, "target_grads": any(p.grad is not None
                                                     for p in target_network.parameters()),
                      "target": _flat(target_network), "online": _flat(q_network)}
            if isinstance(out, tuple) and len(out) == 2:
                loss, td_errors = out
                report["loss_type"] = type(loss).__name__
                report["loss_requires_grad"] = bool(getattr(loss, "requires_grad", False))
                report["loss"] = _raw(loss.detach() if isinstance(loss, torch.Tensor) else loss)
                report["td_type"] = type(td_errors).__name__
                report["td_errors"] = _raw(td_errors)
            args = (case["gamma"], torch.from_numpy(case["weights"]).clone(), case["double"])
            call(ex, learn_step, q_network, target_network, opt, batch, *args, shown=shown)
            report["online_twice"] = _flat(q_network)
        return report

    def judge(self, case, got, expected):
        ex, shown, n = "6.5", self.shown(case), len(case["rewards"])
        if got.get("form") != "tuple" or got.get("length") != 2:
            fail(ex, f"{shown} should return a tuple (loss, td_errors), got {got.get('form')}.")
        if got["loss_type"] == "Tensor" and got["loss_requires_grad"]:
            fail(ex, f"{shown} returned a tensor that still holds the graph: return loss.item().")
        loss = got["loss"]
        if got["loss_type"] not in ("float", "float32", "float64", "Tensor") or \
                not isinstance(loss, np.ndarray) or loss.size != 1:
            fail(ex, f"{shown} should return the loss as a float (loss.item()), got a "
                     f"{got['loss_type']}.")
        if got["target_grads"]:
            fail(ex, "gradients flowed into the target network: compute the TD target under "
                     "torch.no_grad() (td_target does) so that only the online network learns.")
        if not close(got["target"], expected["target"], atol=0, rtol=0):
            fail(ex, "the learning step changed the target network; it should only update the "
                     "online network (the target network moves only in its own update).")
        loss, want_loss = (float(np.asarray(x).reshape(-1)[0]) for x in (loss, expected["loss"]))
        if not np.isclose(loss, want_loss, rtol=1e-4):
            hint = _loss_hint(loss, case["_q"], case["_y"], case["_y_other"], case["weights"],
                              case["double"])
            fail(ex, f"{shown}: the loss was {fmt(loss)}, expected {fmt(want_loss)}: {hint}")
        if got["td_type"] == "Tensor":
            fail(ex, f"{shown} returned the TD errors as a tensor; return a NumPy array "
                     f"((q_taken - y).detach().numpy()) for update_priorities.")
        td_errors, want = got["td_errors"], case["_q"] - case["_y"]
        if not isinstance(td_errors, np.ndarray) or td_errors.shape != (n,):
            form = td_errors.shape if isinstance(td_errors, np.ndarray) else got["td_type"]
            fail(ex, f"{shown} returned TD errors of {form}, expected shape ({n},): one per "
                     f"transition.")
        if not close(np.abs(td_errors), np.abs(want)):
            fail(ex, f"{shown} returned TD errors {fmt(td_errors)}, expected {fmt(want)}: "
                     f"{_td_hint(td_errors, want, case['_q_after'], case['_q'], case['weights'])}")
        if not close(got["online"], expected["online"]):
            fail(ex, _NO_STEP if close(got["online"], case["_start"], atol=0, rtol=0) else
                 f"after {shown} {_OTHER_STEP}")
        if not close(got["online_twice"], expected["online_twice"]):
            fail(ex, _PILE_UP)
