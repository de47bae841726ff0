"""Checks for lab 02: the pieces of DQN on CartPole-v1.

Each check builds small, known inputs (a tiny network with fixed weights, a handful of
transitions), computes the right answer itself, and compares. Where an answer is wrong it also
computes the answers of the usual mistakes, to say which one was made.

Most exercises have one ``run`` and one ``judge`` that both the visible check and the hidden
scenario use: the visible check runs them on the inputs the notebook shows, the grader on
others (``Scenario``). ``run`` only calls the student's code and returns what came back, as
plain data; ``judge`` decides, naming the most specific cause it finds first.
"""

from __future__ import annotations

import copy
import inspect
import math
from contextlib import nullcontext
from typing import Any, NamedTuple

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


def small_net(obs_dim: int = 3, n_actions: int = 2, seed: int = 0, hidden: int = 8,
              scale: float = 0.5) -> torch.nn.Module:
    """A small MLP with fixed weights, standing in for the student's Q-network."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(obs_dim, hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, n_actions))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)
    return net


class Batch(NamedTuple):
    """The lab's batch of transitions (same fields as the notebook's ``Batch``)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


def _batch(n: int = 6, obs_dim: int = 3, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, obs_dim, generator=g)
    actions = torch.tensor([i % 2 for i in range(n)], dtype=torch.int64)
    # mixed signs and sizes, so TD errors fall on both sides of the Huber loss's kink at 1
    rewards = torch.tensor([0.5, -1.0, 2.0, 0.0, 1.5, -0.25] * (n // 6 + 1))[:n]
    next_obs = torch.randn(n, obs_dim, generator=g)
    terminated = torch.tensor([float(i % 3 == 2) for i in range(n)])
    return Batch(obs, actions, rewards, next_obs, terminated)


def _tensor(ex: str, value, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        fail(ex, f"{what} should be a torch.Tensor, got {type(value).__name__}.")
    return value


# --- shared by the runs and judges below ---------------------------------------------------

class _Crash(dict):
    """What a run reports when the student's code raised: plain data (``error``, the
    exception's type, and ``message``, what ``call`` said, cut to 300 characters). In the
    visible check it also keeps the exception (an attribute, which never crosses to the
    grader) so that the student sees the frames of their own code."""


def _attempt(ex: str, fn, *args, shown: str, **kwargs) -> tuple[Any, _Crash | None]:
    """``call`` for a run: (result, None), or (None, a ``_Crash``) when the student's code
    raised, so that a judge still sees the cases before it. A stub still raises."""
    try:
        return call(ex, fn, *args, shown=shown, **kwargs), None
    except NotImplementedYet:
        raise
    except CheckError as error:
        if isinstance(error.__cause__, MemoryError):
            raise
        crash = _Crash(error=type(error.__cause__ or error).__name__,
                       message=str(error).removeprefix(f"Exercise {ex}: ")[:300])
        crash.exception = error.__cause__
        return None, crash


def _fail_crash(ex: str, crash: Any, hints: tuple[tuple[str, str], ...] = ()) -> None:
    """Fail with what a crash record says, plus the hint of the first pattern found in it."""
    if not isinstance(crash, dict):
        fail(ex, "your code raised an error.")
    message = str(crash.get("message", ""))[:300]
    hint = next((h for pattern, h in hints if pattern in message), "")
    if hint:
        message += (" " if message.rstrip().endswith(".") else ". ") + hint
    raise CheckError(f"Exercise {ex}: {message}") from getattr(crash, "exception", None)


def _weights(net: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for p in net.parameters()]


def _same(got: Any, want: list, atol: float = 1e-5) -> bool:
    """Two lists of weight arrays, equal within ``atol`` (False when their forms differ)."""
    return (isinstance(got, list) and len(got) == len(want)
            and all(close(a, b, atol=atol, rtol=0) for a, b in zip(got, want)))


# ---------------------------------------------------------------- 2.1 the Q-network
_OUTPUT_LINEAR = ("the output layer must be linear (no ReLU or other activation after it), "
                  "since Q-values can be negative.")
_NO_GRAD = ("carry no gradient: do not compute forward() under torch.no_grad() or .detach() "
            "its output; the network learns through it.")
_NO_HIDDEN_LAYER = ("the network has no hidden layer: a single linear layer cannot represent "
                    "CartPole's Q-function; use Linear -> ReLU -> Linear (-> ReLU -> Linear).")


def _hidden_width_message(shown: str, hidden: int, layers: list) -> str:
    widths = [int(out) for _, out in layers[:-1]]
    return (f"{shown} has hidden layers of width {widths}, expected {hidden}: use the hidden "
            f"argument for their width (Config.hidden sets it), not a fixed number.")


@register("2.1")
def check_q_network(QNetwork) -> None:
    ex = "2.1"
    torch.manual_seed(0)
    for obs_dim, n_actions, batch in [(4, 2, 5), (8, 4, 3), (4, 2, 1)]:
        shown = f"QNetwork({obs_dim}, {n_actions})"
        net = call(ex, QNetwork, obs_dim, n_actions, shown=shown)
        if not isinstance(net, torch.nn.Module):
            fail(ex, f"{shown} should be a torch.nn.Module.")
        x = torch.randn(batch, obs_dim)
        out = _tensor(ex, call(ex, net, x, shown=f"{shown}(a batch of shape {tuple(x.shape)})"),
                      "the network's output")
        if tuple(out.shape) != (batch, n_actions):
            hint = (" Use obs_dim and n_actions rather than fixed numbers."
                    if (obs_dim, n_actions) != (4, 2) else "")
            fail(ex, f"{shown} maps a batch of shape {tuple(x.shape)} to shape "
                     f"{tuple(out.shape)}; expected ({batch}, {n_actions}): one Q-value per "
                     f"action for each observation.{hint}")
        if out.dtype != torch.float32:
            fail(ex, f"the Q-values have dtype {out.dtype}; expected torch.float32.")
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    if len(linears) < 2:
        fail(ex, _NO_HIDDEN_LAYER)
    shown = "QNetwork(5, 3, 24)"
    sized = call(ex, QNetwork, 5, 3, 24, shown=shown)
    layers = [(m.in_features, m.out_features) for m in sized.modules()
              if isinstance(m, torch.nn.Linear)]
    if layers and layers[0][1] != 24:
        fail(ex, _hidden_width_message(shown, 24, layers))
    net = QNetwork(4, 2)
    out = net(torch.randn(512, 4) * 3)
    if out.min().item() >= 0:
        fail(ex, "every Q-value came out >= 0 on 512 random inputs: " + _OUTPUT_LINEAR)
    if not out.requires_grad:
        fail(ex, "the Q-values of QNetwork(4, 2) " + _NO_GRAD)
    require_gradients(ex, net, out)
    passed(ex, f"{len(linears)} linear layers, output (batch, n_actions)")


@scenario("2.1")
class QNetworkScenario(Scenario):
    """Sizes the notebook never uses: obs_dim above, below and equal to n_actions, batches of
    one and of more rows than actions, other hidden widths."""

    def cases(self, ref):
        return [{"obs_dim": d, "n_actions": n, "batch": b, "hidden": h}
                for d, n, b, h in [(6, 5, 17, 32), (2, 3, 4, 16), (11, 7, 1, 8), (3, 9, 2, 64),
                                   (5, 5, 5, 24)]]

    def shown(self, case):
        return f"QNetwork({case['obs_dim']}, {case['n_actions']})"

    def run(self, case, QNetwork):
        ex, obs_dim, n_actions, shown = "2.1", case["obs_dim"], case["n_actions"], self.shown(case)
        net, crash = _attempt(ex, QNetwork, obs_dim, n_actions, shown=shown)
        if crash:
            return {"crash": crash}
        if not isinstance(net, torch.nn.Module):
            return {"type": type(net).__name__}
        x = torch.randn(case["batch"], obs_dim)
        out, crash = _attempt(ex, net, x, shown=f"{shown}(a batch of shape {tuple(x.shape)})")
        if crash:
            return {"crash": crash}
        if not isinstance(out, torch.Tensor):
            return {"type": "Module", "out_type": type(out).__name__}
        result = {"type": "Module", "out_type": "Tensor", "shape": list(out.shape),
                  "dtype": str(out.dtype).removeprefix("torch."),
                  "layers": [[m.in_features, m.out_features] for m in net.modules()
                             if isinstance(m, torch.nn.Linear)]}
        result["requires_grad"] = bool(out.requires_grad)
        if out.requires_grad:
            out.sum().backward()
        result["no_gradient"] = [name for name, p in net.named_parameters() if p.grad is None]
        with torch.no_grad():
            many, crash = _attempt(ex, net, torch.randn(512, obs_dim) * 3,
                                   shown=f"{shown}(a batch of shape (512, {obs_dim}))")
        if crash:
            return {**result, "crash": crash}
        result["min_q"] = float(many.min())
        sized, crash = _attempt(ex, QNetwork, obs_dim, n_actions, case["hidden"],
                                shown=f"QNetwork({obs_dim}, {n_actions}, {case['hidden']})")
        if crash:
            return {**result, "crash": crash}
        result["sized_layers"] = [[m.in_features, m.out_features] for m in sized.modules()
                                  if isinstance(m, torch.nn.Linear)]
        return result

    def judge(self, case, got, expected):
        ex, shown = "2.1", self.shown(case)
        batch, n_actions = case["batch"], case["n_actions"]
        if "crash" in got and "shape" not in got:
            _fail_crash(ex, got["crash"])
        if got.get("type") != "Module":
            fail(ex, f"{shown} should be a torch.nn.Module, got a {got.get('type')}.")
        if got.get("out_type") != "Tensor":
            fail(ex, f"the network's output should be a torch.Tensor, got {got.get('out_type')}.")
        shape = tuple(got["shape"])
        if shape != (batch, n_actions):
            fail(ex, f"{shown} maps a batch of shape ({batch}, {case['obs_dim']}) to shape "
                     f"{shape}; expected ({batch}, {n_actions}): one Q-value per action for "
                     "each observation. Use obs_dim and n_actions rather than fixed numbers.")
        if got["dtype"] != "float32":
            fail(ex, f"the Q-values have dtype torch.{got['dtype']}; expected torch.float32.")
        if len(got["layers"]) < 2:
            fail(ex, _NO_HIDDEN_LAYER)
        if "crash" in got:
            _fail_crash(ex, got["crash"])
        sized = got["sized_layers"]
        if sized and sized[0][1] != case["hidden"]:
            fail(ex, _hidden_width_message(
                f"QNetwork({case['obs_dim']}, {n_actions}, {case['hidden']})", case["hidden"],
                sized))
        if got["min_q"] >= 0:
            fail(ex, f"every Q-value of {shown} came out >= 0 on 512 random inputs: "
                     + _OUTPUT_LINEAR)
        if not got["requires_grad"]:
            fail(ex, f"the Q-values of {shown} " + _NO_GRAD)
        if got["no_gradient"]:
            fail(ex, f"no gradient reached {got['no_gradient']}: use every layer in forward().")


# ---------------------------------------------------------------- 2.2 the replay memory
def _transition(k: int, obs_dim: int):
    """Transition number k (1, 2, ...): every field a different function of k, so that a
    sampled row says which transition it came from and whether its fields belong together."""
    columns = np.arange(obs_dim)
    obs = (k * (columns + 1) * np.where(columns % 2 == 0, 1.0, -1.0)).astype(np.float32)
    return obs, k % 3, float(k), obs + 0.5, k % 4 == 0


def _rows(capacity: int, added: int, by_length: bool = False) -> list[int]:
    """Which transition each row holds after ``added`` additions (0: never filled), when
    transition k goes to row position % capacity, or (``by_length``) to len % capacity."""
    rows = [0] * capacity
    for k in range(1, added + 1):
        rows[(min(k - 1, capacity) if by_length else k - 1) % capacity] = k
    return rows


def _tensor_record(value: Any) -> dict:
    """A returned field as plain data: its type, dtype, shape and values."""
    if isinstance(value, torch.Tensor):
        record = {"type": "Tensor", "dtype": str(value.dtype), "shape": list(value.shape)}
        try:
            record["values"] = value.detach().cpu().numpy().copy()
        except (TypeError, RuntimeError):
            pass
        return record
    return {"type": type(value).__name__}


_FIELDS = [("obs", "torch.float32"), ("actions", "torch.int64"), ("rewards", "torch.float32"),
           ("next_obs", "torch.float32"), ("terminated", "torch.float32")]


def _memory_run(ex: str, case: dict, ReplayMemory) -> dict:
    """Fill a new memory with transitions 1..added, then sample it many times."""
    capacity, obs_dim, added, batch_size = (case[k] for k in ("capacity", "obs_dim", "added",
                                                               "batch_size"))
    memory, crash = _attempt(ex, ReplayMemory, capacity, obs_dim,
                             shown=f"ReplayMemory({capacity}, {obs_dim})")
    if crash:
        return {"crash": crash}
    out: dict = {"arrays": [list(v.shape) for v in getattr(memory, "__dict__", {}).values()
                            if isinstance(v, np.ndarray)], "lens": []}
    for k in range(0, added + 1):
        if k:
            _, crash = _attempt(ex, memory.add, *_transition(k, obs_dim),
                                shown="memory.add(obs, action, reward, next_obs, terminated)")
            if crash:
                return {**out, "crash": crash, "adding": k}
        length, crash = _attempt(ex, len, memory, shown="len(memory)")
        if crash:
            return {**out, "crash": crash}
        out["lens"].append(length)
    out["batches"] = []
    for _ in range(max(1, math.ceil(40 * min(added, capacity) / batch_size))):
        batch, crash = _attempt(ex, memory.sample, batch_size, shown=f"memory.sample({batch_size})")
        if crash:
            return {**out, "crash": crash, "sampling": True}
        if not (isinstance(batch, tuple) and len(batch) == 5):
            out["batches"].append({"type": type(batch).__name__})
            break
        out["batches"].append({"type": "tuple", "fields": [_tensor_record(v) for v in batch]})
    return out


def _memory_judge(ex: str, case: dict, got: dict) -> None:
    capacity, obs_dim, added, batch_size = (case[k] for k in ("capacity", "obs_dim", "added",
                                                               "batch_size"))
    live_count = min(added, capacity)
    if "arrays" not in got:
        _fail_crash(ex, got.get("crash"))
    if not any(shape[:1] == [capacity] for shape in got["arrays"]):
        fail(ex, "store transitions in NumPy arrays allocated once in __init__, with one row per "
                 "slot (e.g. np.zeros((capacity, obs_dim), dtype=np.float32)); none with "
                 f"{capacity} rows was found in ReplayMemory({capacity}, {obs_dim}).")
    lens = got["lens"]
    if lens[:1] != [0]:
        fail(ex, f"a new memory has len() {lens[:1]}, expected 0.")
    if got.get("adding"):
        k = got["adding"]
        if got["crash"].get("error") == "IndexError" and k > capacity:
            fail(ex, f"adding transition {k} to a memory of capacity {capacity} raised "
                     f"IndexError: write at row position % capacity, so that a full memory "
                     f"overwrites its oldest transition.")
        _fail_crash(ex, got["crash"])
    for k, length in enumerate(lens):
        if length != min(k, capacity):
            fail(ex, f"after {k} add() calls into capacity {capacity}, len(memory) is {length}; "
                     f"expected {min(k, capacity)}"
                     + (": the memory never grows beyond its capacity."
                        if isinstance(length, int) and length > capacity else "."))
    if "crash" in got and not got.get("sampling"):
        _fail_crash(ex, got["crash"])
    if got.get("sampling"):
        if got["crash"].get("error") == "ValueError" and batch_size > live_count:
            # the PyTorch DQN tutorial samples with random.sample(self.memory, batch_size)
            _fail_crash(ex, got["crash"], (("", (
                f"A batch may be larger than the {live_count} transitions in the memory, and "
                "repeat some: sample with replacement, np.random.randint(0, len(self), "
                "size=batch_size) (random.sample and np.random.choice(..., replace=False) "
                "draw without replacement).")),))
        _fail_crash(ex, got["crash"], (("IndexError", (
            "Draw row indices from 0 to len(self) - 1 only: np.random.randint(0, len(self), "
            "size=batch_size).")),))
    shown = f"memory.sample({batch_size})"
    values: list[list[np.ndarray]] = [[] for _ in _FIELDS]
    for batch in got["batches"]:
        if batch.get("type") != "tuple":
            fail(ex, "sample() should return a Batch (obs, actions, rewards, next_obs, "
                     f"terminated), got a {batch.get('type')}.")
        for i, (record, (name, dtype)) in enumerate(zip(batch["fields"], _FIELDS)):
            if record.get("type") != "Tensor":
                fail(ex, f"batch.{name} should be a torch.Tensor, got {record.get('type')}.")
            shape = [batch_size, obs_dim] if name in ("obs", "next_obs") else [batch_size]
            if record["shape"] != shape:
                fail(ex, f"{shown}: {name} has shape {tuple(record['shape'])}, expected "
                         f"{tuple(shape)}.")
            if record["dtype"] != dtype:
                why = {"actions": " (gather() needs int64 indices)",
                       "terminated": " (so that 1 - terminated is a number)"}.get(name, "")
                fail(ex, f"{shown}: {name} has dtype {record['dtype']}, expected {dtype}{why}.")
            values[i].append(np.asarray(record["values"], dtype=float))
    obs, actions, rewards, next_obs, terminated = (np.concatenate(v) for v in values)
    if np.any(rewards == 0):
        fail(ex, "sample() returned a slot that was never filled (all zeros): draw indices "
                 "from 0 to len(self) - 1 only.")
    if not np.all((rewards == np.round(rewards)) & (rewards >= 1) & (rewards <= added)):
        fail(ex, f"{shown} returned rewards {fmt(np.unique(rewards)[:8])}, which no added "
                 "transition has: return the stored rewards of the sampled rows.")
    seen, rows = set(rewards.astype(int).tolist()), _rows(capacity, added)
    live = {k for k in rows if k}
    if seen - live:
        hint = (" add() wrote at row len(self) % capacity: once the memory is full len(self) "
                "stays at capacity, so every new transition lands on row 0. Write at row "
                "self.position % self.capacity (position counts every add)."
                if seen <= set(_rows(capacity, added, by_length=True)) else
                " A full memory kept its first transitions and dropped the new ones: write at "
                "row position % capacity, so that the oldest are overwritten."
                if seen <= set(range(1, capacity + 1)) else
                " Write at index position % capacity so the oldest are overwritten.")
        fail(ex, f"after adding transitions 1..{added} to a memory of capacity {capacity}, "
                 f"sampling returned transitions {sorted(seen)}; expected the newest "
                 f"{len(live)}, {sorted(live)}.{hint}")
    missing = sorted(live - seen)
    if missing:
        hint = (f" That is row len(self) - 1 = {live_count - 1}: np.random.randint(low, high) "
                f"never returns high, so draw from np.random.randint(0, len(self)), not "
                f"len(self) - 1 (random.randint includes its upper bound, NumPy's does not)."
                if missing == [rows[live_count - 1]] else
                " Draw rows uniformly from all len(self) filled rows.")
        fail(ex, f"{len(rewards)} draws from a memory holding transitions {sorted(live)} never "
                 f"returned transition(s) {missing}.{hint}")
    ids = rewards.astype(int)
    encoded = np.stack([_transition(int(k), obs_dim)[0] for k in ids])
    wrong = next((name for name, ok in [
        ("obs", np.array_equal(obs, encoded)),
        ("actions", np.array_equal(actions, ids % 3)),
        ("next_obs", np.array_equal(next_obs, encoded + 0.5)),
        ("terminated", np.array_equal(terminated, (ids % 4 == 0).astype(float)))] if not ok),
        None)
    if wrong:
        hint = (" next_obs holds the observations themselves: store next_obs in its own array."
                if wrong == "next_obs" and np.array_equal(next_obs, encoded) else "")
        fail(ex, f"the fields of one sampled transition do not belong together: {wrong} does "
                 f"not come from the same row as rewards. Use the same indices for obs, "
                 f"actions, rewards, next_obs and terminated.{hint}")


@register("2.2")
def check_replay_memory(ReplayMemory) -> None:
    ex = "2.2"
    # partly filled, with a batch larger than the memory; wrapped; exactly full; a single row
    for capacity, obs_dim, added, batch_size in [(5, 3, 3, 64), (5, 3, 7, 100), (4, 6, 4, 3),
                                                 (100, 8, 1, 2)]:
        case = {"capacity": capacity, "obs_dim": obs_dim, "added": added,
                "batch_size": batch_size}
        _memory_judge(ex, case, _memory_run(ex, case, ReplayMemory))
    passed(ex, "a ring buffer of preallocated arrays, sampled as batched tensors")


@scenario("2.2")
class ReplayMemoryScenario(Scenario):
    """Capacities above and below the batch size, obs_dim above, below and equal to the
    capacity; memories partly filled, with one transition, exactly full, and wrapped several
    times (once exactly back at row 0). Sampling differs between students, so the judge checks
    properties of many samples: only the newest transitions, all of them, fields together."""

    def cases(self, ref):
        return [{"capacity": c, "obs_dim": d, "added": n, "batch_size": b}
                for c, d, n, b in [(7, 2, 20, 700), (50, 3, 12, 8), (4, 6, 4, 3), (5, 5, 15, 5),
                                   (3, 1, 1, 16), (16, 4, 40, 32)]]

    def run(self, case, ReplayMemory):
        return _memory_run("2.2", case, ReplayMemory)

    def judge(self, case, got, expected):
        _memory_judge("2.2", case, got)


# ---------------------------------------------------------------- 2.3 the epsilon schedule
def _epsilon(step, start, end, decay_steps):
    return start + min(1.0, step / decay_steps) * (end - start)


# The usual wrong schedules, each with what to say: a hint is given only when one of them
# matches the student's epsilon at every step tried (its fingerprint), not at one step.
_EPSILON_MISTAKES = [
    (lambda s, a, b, d: a + s / d * (b - a),
     "After decay_steps epsilon must stay at its final value: clamp the fraction with "
     "min(1, step / decay_steps)."),
    (lambda s, a, b, d: max(0.0, a + s / d * (b - a)),
     "After decay_steps epsilon went below `end` and stopped at 0: clamp the fraction with "
     "min(1, step / decay_steps), so that epsilon stays at `end`."),
    (lambda s, a, b, d: a + min(1, s // d) * (b - a),
     "step // decay_steps is integer division: the fraction stays 0 until decay_steps, then "
     "jumps to 1. Use step / decay_steps."),
    # CleanRL's linear_schedule is max(slope * t + start_e, end_e); min() gives `end` at once
    (lambda s, a, b, d: min(a + s / d * (b - a), b),
     "min() picks the smaller of the line and `end`: `end` from step 0, then the line, below "
     "`end`, after decay_steps. Clamp with max(start + slope * step, end), not min()."),
    (lambda s, a, b, d: a * (1 - min(1.0, s / d)),
     "epsilon decays towards 0, not towards `end`: start + fraction * (end - start)."),
    (lambda s, a, b, d: b + min(1.0, s / d) * (a - b),
     "start and end are swapped: epsilon is `start` at step 0 and `end` from decay_steps on."),
    (lambda s, a, b, d: a + min(1.0, (s + 1) / d) * (b - a),
     "epsilon is one step ahead: at step 0 it is exactly `start`, and it reaches `end` at "
     "step == decay_steps (fraction = step / decay_steps)."),
]


def _other_decay(points: list, values: list) -> bool:
    """Another decay from start to end: right at step 0, never outside [end, start], and at
    `end` somewhere (a constant epsilon is not one)."""
    moving = [(p, v) for p, v in zip(points, values) if p[1] != p[2]]
    return (all(np.isclose(v, p[1]) for p, v in moving if p[0] == 0)
            and all(min(p[1], p[2]) - 1e-9 <= v <= max(p[1], p[2]) + 1e-9 for p, v in moving)
            and any(np.isclose(v, p[2]) for p, v in moving))


def _epsilon_run(ex: str, points: list, epsilon_at) -> list:
    out = []
    for step, start, end, decay in points:
        shown = f"epsilon_at({step}, start={start}, end={end}, decay_steps={decay})"
        got, crash = _attempt(ex, epsilon_at, step, start, end, decay, shown=shown)
        if crash:
            return out + [crash]
        try:
            out.append(float(got))
        except (TypeError, ValueError, RuntimeError):
            return out + [{"type": type(got).__name__}]
    return out


def _epsilon_judge(ex: str, points: list, got: list) -> None:
    values = []
    for (step, start, end, decay), value in zip(points, got):
        shown = f"epsilon_at({step}, start={start}, end={end}, decay_steps={decay})"
        if isinstance(value, dict) and "type" in value:
            fail(ex, f"{shown} returned a {value['type']}; return epsilon as a number.")
        if not isinstance(value, float):
            break
        values.append(value)
    tried = points[:len(values)]
    want = [_epsilon(*p) for p in tried]
    wrong = next((i for i, (v, w) in enumerate(zip(values, want)) if not np.isclose(v, w)), None)
    if wrong is None:
        if len(values) < len(points):
            _fail_crash(ex, got[len(values)])
        return
    hint = next((h for mistake, h in _EPSILON_MISTAKES
                 if all(np.isclose(v, mistake(*p)) for v, p in zip(values, tried))), "")
    if not hint and _other_decay(tried, values):
        hint = ("epsilon must fall linearly, by the same amount at every step: start + "
                "min(1, step / decay_steps) * (end - start). (An exponential decay, as in the "
                "PyTorch DQN tutorial, is another schedule.)")
    step, start, end, decay = tried[wrong]
    if hint == _EPSILON_MISTAKES[0][1] and values[wrong] < min(start, end) - 1e-9:
        hint += " (It went below `end`.)"
    fail(ex, f"epsilon_at({step}, start={start}, end={end}, decay_steps={decay}) returned "
             f"{fmt(values[wrong])}, expected {fmt(want[wrong])}." + (f" {hint}" if hint else ""))


_EPSILON_SHOWN = [(0, 1.0, 0.05, 1000), (500, 1.0, 0.05, 1000), (1000, 1.0, 0.05, 1000),
                  (250, 0.5, 0.1, 500), (5000, 1.0, 0.05, 1000), (10**6, 0.8, 0.02, 200),
                  (0, 1.0, 0.1, 1), (1, 1.0, 0.1, 1), (3, 0.3, 0.3, 10)]


@register("2.3")
def check_epsilon_at(epsilon_at) -> None:
    ex = "2.3"
    _epsilon_judge(ex, _EPSILON_SHOWN, _epsilon_run(ex, _EPSILON_SHOWN, epsilon_at))
    passed(ex, "linear from start to end over decay_steps, then constant")


@scenario("2.3")
class EpsilonScenario(Scenario):
    """Random schedules and steps before, at and far beyond decay_steps, plus the edges: step
    0, decay_steps - 1, decay_steps, decay_steps + 1, decay_steps = 1, end = 0, start = end,
    and an `end` high enough that clamping at 0 or not clamping at all both show."""

    def cases(self, ref):
        rng = np.random.default_rng(2003)
        points = []
        for _ in range(16):
            start, end = round(float(rng.uniform(0.5, 1.0)), 3), round(float(rng.uniform(0, 0.2)), 3)
            decay = int(rng.integers(100, 20_000))
            points.append([int(rng.integers(0, 3 * decay)), start, end, decay])
        points += [[0, 0.9, 0.1, 300], [299, 0.9, 0.1, 300], [300, 0.9, 0.1, 300],
                   [301, 0.9, 0.1, 300], [0, 0.7, 0.2, 1], [1, 0.7, 0.2, 1], [2, 0.7, 0.2, 1],
                   [50, 1.0, 0.0, 80], [160, 1.0, 0.0, 80], [40, 0.25, 0.25, 60],
                   [130, 0.6, 0.3, 100], [10**7, 1.0, 0.01, 25_000]]
        return [{"points": points}]

    def run(self, case, epsilon_at):
        return _epsilon_run("2.3", case["points"], epsilon_at)

    def judge(self, case, got, expected):
        if not isinstance(got, list):
            fail("2.3", "the hidden test's results have an unexpected form.")
        _epsilon_judge("2.3", case["points"], got)


# ---------------------------------------------------------------- 2.4 epsilon-greedy
class _LinearQ(torch.nn.Linear):
    """A one-layer Q-network with set weights, Q(obs) = weight @ obs + bias, that behaves like
    any nn.Linear (a batch in, a batch out; it refuses NumPy arrays and float64) and notes
    whether autograd was on and which input shapes it was given."""

    def __init__(self, weight, bias):
        weight = torch.as_tensor(np.asarray(weight, dtype=np.float32))
        super().__init__(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.weight.copy_(weight)
            self.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))
        self.grad_seen, self.shapes = False, set()

    def forward(self, obs):
        self.grad_seen = self.grad_seen or torch.is_grad_enabled()
        if isinstance(obs, torch.Tensor):
            self.shapes.add(tuple(obs.shape))
        return super().forward(obs)


def _select_case(q_values: list, epsilon: float, draws: int, seed: int, obs_dim: int,
                 repeat: bool = False) -> dict:
    """A case whose network gives Q-values ``q_values[k]`` for observation k (a unit vector)."""
    q = np.asarray(q_values, dtype=np.float32)
    weight = np.zeros((q.shape[1], obs_dim), dtype=np.float32)
    weight[:, :len(q)] = q.T
    return {"weight": weight, "bias": np.zeros(q.shape[1], dtype=np.float32),
            "obs": np.eye(obs_dim, dtype=np.float32)[:len(q)], "epsilon": epsilon,
            "n_actions": q.shape[1], "draws": draws, "seed": seed, "repeat": repeat,
            "_q": q.tolist()}


_PLAIN_INTS = {"int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def _select_draws(ex: str, case: dict, select_action, net, shown: str) -> tuple[list, Any]:
    rng = np.random.default_rng(case["seed"])
    actions, types = [], set()
    for obs in case["obs"]:
        row = []
        for _ in range(case["draws"]):
            a, crash = _attempt(ex, select_action, net, np.array(obs), case["epsilon"],
                                case["n_actions"], rng, shown=shown)
            if crash:
                return actions + [row], crash
            kind = type(a).__name__
            types.add(kind)
            if kind not in _PLAIN_INTS or isinstance(a, bool):
                return actions + [row], {"type": kind}
            row.append(int(a))
        actions.append(row)
    return actions, sorted(types)


def _select_run(ex: str, case: dict, select_action) -> dict:
    net = _LinearQ(case["weight"], case["bias"])
    shown = (f"select_action(q_network, obs, epsilon={case['epsilon']}, "
             f"n_actions={case['n_actions']}, rng)")
    actions, info = _select_draws(ex, case, select_action, net, shown)
    out = {"actions": actions, "grad_seen": net.grad_seen,
           "shapes": sorted(list(s) for s in net.shapes)}
    if isinstance(info, dict):
        return {**out, ("crash" if "message" in info else "bad_type"): info}
    if case["repeat"]:
        again, info = _select_draws(ex, case, select_action, net, shown)
        out["again"] = again
    return out


def _q_text(q: list) -> str:
    return "[" + ", ".join(f"{v:g}" for v in q) + "]"


def _select_judge(ex: str, case: dict, got: dict) -> None:
    eps, n = case["epsilon"], case["n_actions"]
    qs = [np.asarray(q, dtype=float) for q in case["_q"]]
    shown = f"select_action(q_network, obs, epsilon={eps}, n_actions={n}, rng)"
    if "bad_type" in got:
        fail(ex, f"{shown} returned a {got['bad_type']['type']}; return a plain int (e.g. "
                 f"int(q_values.argmax()) or int(rng.integers(n_actions))).")
    if "crash" in got:
        _fail_crash(ex, got["crash"], (
            ("not numpy.ndarray", "Make the observation a tensor first: torch.as_tensor(obs, "
                                  "dtype=torch.float32)."),
            ("must have the same dtype", "Make the observation a float32 tensor: "
                                         "torch.as_tensor(obs, dtype=torch.float32)."),
            ("Dimension out of range", "obs is one observation of shape (obs_dim,): make it a "
                                       "batch of one with .unsqueeze(0) before the network.")))
    actions = [np.asarray(row, dtype=int) for row in got["actions"]]
    if eps == 0:
        for q, row in zip(qs, actions):
            greedy = int(q.argmax())
            if np.all(row == greedy):
                continue
            hint = (" That is the largest Q-value cut to an int, not its index: take "
                    "argmax() (or .max(1).indices; .max(1)[0] holds the values)."
                    if all(np.all(r == int(q_.max())) for q_, r in zip(qs, actions)) else
                    " Explore when rng.random() < epsilon (not the other way round)."
                    if len(set(row.tolist())) > 1 else "")
            fail(ex, f"with epsilon = 0 and Q-values {_q_text(q)} the action must always be "
                     f"{greedy} (the argmax), got {sorted(set(row.tolist()))}.{hint}")
    every = np.concatenate(actions)
    if np.any((every < 0) | (every >= n)):
        fail(ex, f"{shown} returned actions {sorted(set(every[(every < 0) | (every >= n)]))}, "
                 f"outside 0..{n - 1}.")
    if got["grad_seen"]:
        fail(ex, "the Q-network ran with autograd on: choosing an action needs no gradients, "
                 "so compute the Q-values inside `with torch.no_grad():` (it is also faster).")
    if any(len(shape) == 1 for shape in got["shapes"]):
        fail(ex, f"the Q-network was given one observation of shape {tuple(got['shapes'][0])}: "
                 "make it a batch of one, shape (1, obs_dim), with .unsqueeze(0). The "
                 "convolutional networks of labs 04 and 05 need that batch dimension.")
    greedy = int(qs[0].argmax())
    freq = np.bincount(actions[0], minlength=n) / len(actions[0])
    draws = len(actions[0])
    if eps == 1:
        never = [a for a in range(n) if freq[a] == 0]
        hint = (" The random action is never the greedy one: draw it from all n_actions "
                "actions." if greedy in never else
                f" It never drew action {n - 1}: rng.integers(n_actions) already stops at "
                "n_actions - 1 (its upper bound is excluded)." if never == [n - 1] else "")
        tolerance = 5 * math.sqrt((1 / n) * (1 - 1 / n) / draws) + 0.005
        if never or np.any(np.abs(freq - 1 / n) > tolerance):
            fail(ex, f"with epsilon = 1 every action should be random (about 1/{n} each), got "
                     f"frequencies {fmt(freq)}.{hint}")
    elif eps > 0:
        share = float(freq[greedy])

        def near(p):
            return abs(share - p) <= 5 * math.sqrt(p * (1 - p) / draws) + 0.005

        want = 1 - eps + eps / n
        if not near(want):
            hint = (" A random action is drawn from all actions, the greedy one included."
                    if near(1 - eps) else
                    " Explore when rng.random() < epsilon (not the other way round)."
                    if near(eps + (1 - eps) / n) else
                    f" Random actions never include action {n - 1}: rng.integers(n_actions) "
                    "already stops at n_actions - 1." if near(1 - eps + eps / (n - 1)) else "")
            fail(ex, f"with epsilon = {eps:g} the greedy action should come up about "
                     f"{1 - eps:g} + {eps:g}/{n} = {want:.0%} of the time, got {share:.0%}."
                     f"{hint}")
    if "again" in got and got["again"] != got["actions"]:
        fail(ex, "the same seeded rng gave different actions: draw the random numbers from the "
                 "rng argument, not from np.random or random.")


_SELECT_SHOWN = [_select_case([[1, 3, 2]], 0.0, 50, 0, 4), _select_case([[1, 3, 2]], 1.0, 3000, 0, 4),
                 _select_case([[1, 3, 2]], 0.3, 4000, 0, 4),
                 _select_case([[1, 3, 2]], 0.5, 200, 7, 4, repeat=True)]


@register("2.4")
def check_select_action(select_action) -> None:
    ex = "2.4"
    for case in _SELECT_SHOWN:
        _select_judge(ex, case, _select_run(ex, case, select_action))
    passed(ex, "greedy with probability 1 - epsilon, uniformly random otherwise")


@scenario("2.4")
class SelectActionScenario(Scenario):
    """Other Q-values (a different argmax for each observation, none of them the largest
    value cut to an int), 2 to 7 actions, obs_dim above and below n_actions, and epsilon 0,
    0.05, 0.2, 0.5 and 1. A student's draws differ from the solution's, so the judge tests the
    frequencies of thousands of actions from fixed seeds, and repeats one seed."""

    def cases(self, ref):
        return [
            _select_case([[0.1, -2.0, 0.5, 1.9, 0.2], [2.6, 0.3, -1.0, 0.4, 1.1],
                          [-0.5, 0.7, 0.2, -1.3, 3.4], [0.9, -0.2, 4.2, 1.0, 0.0]], 0.0, 60,
                         2004, 6),
            _select_case([[0.2, 1.5, -0.7]], 1.0, 3000, 2014, 2),
            _select_case([[0.1, -2.0, 0.5, 1.9, 0.2]], 0.2, 3000, 2024, 6),
            _select_case([[0.8, -0.3]], 0.5, 600, 2034, 4, repeat=True),
            _select_case([[0.3, -0.1, 1.4, 0.2, -2.0, 0.9, 0.5]], 0.05, 2000, 2044, 3),
            _select_case([[0.3, -0.1, 1.4, 0.2, -2.0, 0.9, 0.5]], 1.0, 2800, 2054, 3)]

    def run(self, case, select_action):
        return _select_run("2.4", case, select_action)

    def judge(self, case, got, expected):
        _select_judge("2.4", case, got)


# ---------------------------------------------------------------- 2.5 the TD target
def _td_target(rewards, next_obs, terminated, target_network, gamma):
    """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a'): the checks' own, for the
    exercises that build on td_target."""
    with torch.no_grad():
        return rewards + gamma * (1 - terminated) * target_network(next_obs).max(dim=1).values


def _target_candidates(r, d, next_q, gamma) -> dict:
    """The usual wrong TD targets (NumPy), each with what to say."""
    best = next_q.max(axis=1)
    out = {
        "after a terminal transition there is no future: the target is just r. Multiply the "
        "bootstrap term by (1 - terminated).": r + gamma * best,
        "the mask is inverted: bootstrap when terminated is 0, i.e. multiply by "
        "(1 - terminated), not by terminated.": r + gamma * d * best,
        "the bootstrap term must be discounted by gamma.": r + (1 - d) * best,
        "take the max over next actions (the greedy value), not the mean.":
            r + gamma * (1 - d) * next_q.mean(axis=1),
        # the PyTorch DQN tutorial: .max(1)[0] holds the values, .max(1)[1] the indices
        "that used the index of the best next action (max(dim=1).indices, or [1]) as its "
        "value: take .max(dim=1).values ([0]).": r + gamma * (1 - d) * next_q.argmax(axis=1),
    }
    if next_q.shape[0] == next_q.shape[1]:
        out["Take the max over actions, dim=1, not over the batch (dim=0)."] = \
            r + gamma * (1 - d) * next_q.max(axis=0)
    return out


@register("2.5")
def check_td_target(td_target) -> None:
    ex = "2.5"
    target_network = small_net(seed=3)
    _, _, rewards, next_obs, terminated = _batch()
    gamma = 0.9
    shown = "td_target(rewards, next_obs, terminated, target_network, gamma=0.9) on 6 transitions"
    got = _tensor(ex, call(ex, td_target, rewards.clone(), next_obs.clone(), terminated.clone(),
                           target_network, gamma, shown=shown), "the TD target")
    with torch.no_grad():
        next_q = target_network(next_obs)
    want = rewards + gamma * (1 - terminated) * next_q.max(dim=1).values
    if tuple(got.shape) != (6,):
        hint = (" Take the max over actions, dim=1." if tuple(got.shape) == (2,) else
                " Use .max(dim=1).values (no keepdim) so there is one target per transition."
                if tuple(got.shape) in ((6, 1), (6, 6)) else "")
        fail(ex, f"{shown} returned shape {tuple(got.shape)}, expected (6,).{hint}")
    if got.requires_grad:
        fail(ex, "the TD target carries gradients into the target network: compute it inside "
                 "`with torch.no_grad():`. The target is a fixed label, not something to train.")
    if not torch.allclose(got.float(), want, atol=1e-5):
        values = got.detach().double().numpy()
        candidates = _target_candidates(rewards.numpy(), terminated.numpy(), next_q.numpy(), gamma)
        hint = next((h for h, v in candidates.items() if close(values, v)),
                    "y = r + gamma * (1 - terminated) * max_a' Q_target(s', a').")
        fail(ex, f"{shown} with terminated = {terminated.tolist()} returned {fmt(values)}, "
                 f"expected {fmt(want.numpy())}. {hint}")
    passed(ex, "y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')")


@scenario("2.5")
class TdTargetScenario(Scenario):
    """Other sizes (as many transitions as actions too, where a max over the wrong dim keeps
    the shape), discounts and terminal patterns (all, none, some) than the check's."""

    def cases(self, ref):
        out = []
        for seed, (n, obs_dim, n_actions), gamma, pattern in [
                (2005, (9, 5, 3), 0.95, "some"), (2015, (4, 2, 5), 0.5, "all"),
                (2025, (1, 3, 2), 0.99, "none"), (2035, (12, 4, 2), 0.0, "some"),
                (2045, (3, 4, 3), 0.9, "some")]:
            g = torch.Generator().manual_seed(seed)
            rewards = torch.randn(n, generator=g) * 2
            next_obs = torch.randn(n, obs_dim, generator=g)
            terminated = {"all": torch.ones(n), "none": torch.zeros(n),
                          "some": (torch.arange(n) % 3 == 1).float()}[pattern]
            with torch.no_grad():
                next_q = small_net(obs_dim, n_actions, seed, hidden=16, scale=0.4)(next_obs)
            out.append({"seed": seed, "n_actions": n_actions, "gamma": gamma,
                        "rewards": rewards.numpy(), "next_obs": next_obs.numpy(),
                        "terminated": terminated.numpy(), "_next_q": next_q.numpy()})
        return out

    def run(self, case, td_target):
        obs_dim = case["next_obs"].shape[1]
        target_network = small_net(obs_dim, case["n_actions"], case["seed"], hidden=16, scale=0.4)
        rewards, next_obs, terminated = (torch.from_numpy(case[k]) for k in
                                         ("rewards", "next_obs", "terminated"))
        got = call("2.5", td_target, rewards, next_obs, terminated, target_network,
                   case["gamma"], shown=self.shown(case))
        if not isinstance(got, torch.Tensor):
            return {"type": type(got).__name__}
        return {"type": "Tensor", "requires_grad": bool(got.requires_grad),
                "values": got.detach().float()}

    def shown(self, case):
        n = len(case["rewards"])
        return (f"td_target(rewards, next_obs, terminated, target_network, gamma={case['gamma']}) "
                f"on {n} transitions with {case['n_actions']} actions")

    def judge(self, case, got, expected):
        ex, shown = "2.5", self.shown(case)
        if got.get("type") != "Tensor":
            fail(ex, f"{shown} returned a {got.get('type')}; expected a torch.Tensor.")
        values, want = np.asarray(got["values"]), expected["values"]
        if values.shape != want.shape:
            hint = (" Take the max over actions, dim=1." if values.shape == (case["n_actions"],)
                    else " Use .max(dim=1).values (no keepdim): one target per transition.")
            fail(ex, f"{shown} returned shape {values.shape}, expected {want.shape}.{hint}")
        if got["requires_grad"]:
            fail(ex, "the TD target carries gradients into the target network: compute it "
                     "inside `with torch.no_grad():`.")
        if not close(values, want):
            d = case["terminated"]
            candidates = _target_candidates(case["rewards"], d, case["_next_q"], case["gamma"])
            hint = next((h for h, v in candidates.items() if close(values, v)),
                        "y = r + gamma * (1 - terminated) * max_a' Q_target(s', a').")
            fail(ex, f"{shown} with terminated = {d.tolist()} returned {fmt(values)}, "
                     f"expected {fmt(want)}. {hint}")


# ---------------------------------------------------------------- 2.6 the learning step
def _reference_step(q_network, target_network, batch, gamma, lr, steps=1, zero_grad=True):
    q_network = copy.deepcopy(q_network)
    opt = torch.optim.SGD(q_network.parameters(), lr=lr)
    obs, actions, rewards, next_obs, terminated = batch
    losses = []
    for _ in range(steps):
        with torch.no_grad():
            y = rewards + gamma * (1 - terminated) * target_network(next_obs).max(dim=1).values
        q = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, y)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return q_network, losses


def _loss_variants(q_network, target_network, batch, gamma):
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():
        q_all = q_network(obs)
        q = q_all.gather(1, actions.unsqueeze(1)).squeeze(1)
        y = rewards + gamma * (1 - terminated) * target_network(next_obs).max(dim=1).values
        y_online = rewards + gamma * (1 - terminated) * q_network(next_obs).max(dim=1).values
        loss = F.smooth_l1_loss
        # gather along dim 0 only runs when every action is below the batch size
        fits = int(actions.max()) < q_all.shape[0]
        q_dim0 = (q_all.gather(0, actions.unsqueeze(1).expand(-1, q_all.shape[1]))[:, 0]
                  if fits else None)
        q_dim0b = q_all.gather(0, actions.unsqueeze(1)).squeeze(1) if fits else None
        fix_gather = ("gather() picked along dim 0 (the batch); pick each transition's action "
                      "along dim 1: q_values.gather(1, actions.unsqueeze(1)).squeeze(1).")
        return {
            "online": (loss(q, y_online).item(),
                       "the target bootstrapped from the online network; use target_network "
                       "for max_a' Q(s', a') (that is what steadies the target)."),
            "dim0": (loss(q_dim0, y).item() if fits else math.nan, fix_gather),
            "dim0b": (loss(q_dim0b, y).item() if fits else math.nan, fix_gather),
            "broadcast": (loss(q.unsqueeze(1).expand(-1, len(y)), y.unsqueeze(0).expand(len(y), -1)).item(),
                          "the predicted Q-values have shape (B, 1) and the targets (B,), so the "
                          "loss broadcast them to (B, B): squeeze(1) the gathered Q-values."),
            "mse": (F.mse_loss(q, y).item(),
                    "that is the mean squared error; this lab uses the Huber loss of eq. 2, "
                    "F.smooth_l1_loss."),
            "sum": (loss(q, y, reduction="sum").item(),
                    "average the losses over the batch (F.smooth_l1_loss does), not sum them."),
        }


def _more_loss_variants(q_network, target_network, batch, gamma) -> dict:
    """Lab 02's own wrong losses beyond ``_loss_variants``: targets computed inline, wrongly."""
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():
        q = q_network(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        best = target_network(next_obs).max(dim=1).values
        from_obs = rewards + gamma * (1 - terminated) * target_network(obs).max(dim=1).values
        return {
            "from obs": (F.smooth_l1_loss(q, from_obs).item(),
                         "the target bootstrapped from obs; max_a' Q_target(s', a') is taken at "
                         "the next observation, batch.next_obs."),
            "no mask": (F.smooth_l1_loss(q, rewards + gamma * best).item(),
                        "after a terminal transition the target is just r: multiply the "
                        "bootstrap term by (1 - batch.terminated)."),
        }


def check_loss_and_target(ex: str, loss, shown: str, target_network: torch.nn.Module,
                          start_target: dict) -> float:
    """After a learning step: the loss came back as a float and the target network is intact."""
    if isinstance(loss, torch.Tensor):
        if loss.requires_grad:
            fail(ex, f"{shown} returned a tensor that still holds the graph: return loss.item().")
        loss = loss.item()
    if not isinstance(loss, (float, np.floating)):
        fail(ex, f"{shown} should return the loss as a float (loss.item()), got {loss!r}.")
    if any(p.grad is not None for p in target_network.parameters()):
        fail(ex, "gradients flowed into the target network: compute the TD target under "
                 "torch.no_grad() (td_target does) so that only the online network learns.")
    if any(not torch.equal(start_target[k], v) for k, v in target_network.state_dict().items()):
        fail(ex, "the learning step changed the target network; it should only update the "
                 "online network (the target network moves only in its own update).")
    return float(loss)


class _TdTargetStandIn:
    """Exercise 2.5's ``td_target`` while exercise 2.6 is checked: it returns the right
    targets, worked out beforehand (by the solution's td_target in the grader), whatever it is
    given, so that a mistake in td_target never costs 2.6; and it notes what it was given, so
    that a learning step that passes the wrong network or the wrong fields is still named."""

    def __init__(self, q_network, target_network, batch, targets):
        self.networks = {"target_network": target_network, "q_network": q_network}
        self.batch, self.targets, self.calls = batch, targets, []
        self.copies = {name: getattr(batch, name).clone() for name in Batch._fields}

    def _field(self, value) -> str:
        for name in Batch._fields:
            if value is getattr(self.batch, name):
                return name
        for name, original in self.copies.items():
            if (isinstance(value, torch.Tensor) and value.shape == original.shape
                    and torch.equal(value.detach().to(original.dtype), original)):
                return name
        return "something else"

    def __call__(self, *args, **kwargs):
        given = inspect.signature(_td_target).bind(*args, **kwargs).arguments
        network = next((name for name, net in self.networks.items()
                        if given["target_network"] is net), "another network")
        gamma = given["gamma"]
        self.calls.append({"rewards": self._field(given["rewards"]),
                           "next_obs": self._field(given["next_obs"]),
                           "terminated": self._field(given["terminated"]), "network": network,
                           "gamma": float(gamma) if isinstance(gamma, (int, float)) else None})
        return torch.tensor(np.asarray(self.targets, dtype=np.float32))


def _learn_case(spec: dict, td_target) -> dict:
    """A learning-step case: its networks' and batch's recipe, the targets (from
    ``td_target``: the solution's, or the checks' own), and the fingerprints of the usual
    mistakes (trusted side only)."""
    q_network, target_network, batch = _learn_setup(spec)
    targets = td_target(batch.rewards, batch.next_obs, batch.terminated, target_network,
                        spec["gamma"])
    variants = {**_loss_variants(q_network, target_network, batch, spec["gamma"]),
                **_more_loss_variants(q_network, target_network, batch, spec["gamma"])}
    piled_up, _ = _reference_step(q_network, target_network, batch, spec["gamma"], spec["lr"],
                                  spec["steps"], zero_grad=False)
    return {**spec, "targets": targets.detach().numpy(), "_variants": variants,
            "_initial": _weights(q_network), "_piled_up": _weights(piled_up)}


def _learn_setup(spec: dict):
    def net(seed):
        return small_net(spec["obs_dim"], spec["n_actions"], seed, spec["hidden"], spec["scale"])

    if spec["batch_seed"] is None:
        batch = _batch()
    else:
        n, g = spec["n"], torch.Generator().manual_seed(spec["batch_seed"])
        batch = Batch(torch.randn(n, spec["obs_dim"], generator=g),
                      torch.randint(0, spec["n_actions"], (n,), generator=g),
                      torch.randn(n, generator=g) * 2, torch.randn(n, spec["obs_dim"], generator=g),
                      (torch.arange(n) % 3 == 1).float())
    return net(spec["online_seed"]), net(spec["target_seed"]), batch


def _grad_state(p: torch.nn.Parameter) -> str:
    return "none" if p.grad is None else "zero" if not p.grad.any() else "some"


def _learn_run(ex: str, case: dict, learn_step) -> dict:
    q_network, target_network, batch = _learn_setup(case)
    optimizer = torch.optim.SGD(q_network.parameters(), lr=case["lr"])
    stand_in = _TdTargetStandIn(q_network, target_network, batch, case["targets"])
    shown = (f"learn_step(q_network, target_network, optimizer, batch, gamma={case['gamma']}) "
             f"on {len(batch.rewards)} transitions with {case['n_actions']} actions")
    out: dict = {"losses": []}
    try:
        swap = standins(learn_step, td_target=stand_in)
    except TypeError:  # not a function: nothing to swap
        swap = nullcontext()
    with swap:
        for step in range(case["steps"]):
            loss, crash = _attempt(ex, learn_step, q_network, target_network, optimizer, batch,
                                   case["gamma"], shown=shown)
            if crash:
                out["crash"] = crash
                break
            if isinstance(loss, torch.Tensor):
                out["losses"].append({"type": "Tensor", "requires_grad": loss.requires_grad,
                                      "value": float(loss.detach().reshape(-1)[0])
                                      if loss.numel() == 1 else None})
            elif isinstance(loss, (float, np.floating)):
                out["losses"].append({"type": "float", "value": float(loss)})
            else:
                out["losses"].append({"type": type(loss).__name__})
            if step == 0:
                out["first"] = _weights(q_network)
                out["first_grads"] = [_grad_state(p) for p in q_network.parameters()]
    out.update(last=_weights(q_network), target=_weights(target_network),
               target_grads=[p.grad is not None for p in target_network.parameters()],
               calls=stand_in.calls[:10])
    return out


def _reference_learn_step(q_network, target_network, optimizer, batch, gamma):
    q_taken = q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    loss = F.smooth_l1_loss(q_taken, _td_target(batch.rewards, batch.next_obs,
                                                batch.terminated, target_network, gamma))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


_LEARN_CRASHES = (
    # "element 0 of tensors does not require grad" (e.g. QasimWani/RL-Unity#2): no graph left
    ("does not require grad", "The loss has no gradient: compute Q(s, a) with autograd on "
                              "(no torch.no_grad() or .detach() around it); only the target "
                              "is computed without gradients."),
    ("for dimension 0", "gather() picked along dim 0 (the batch); pick each transition's "
                        "action along dim 1: q_values.gather(1, actions.unsqueeze(1))."),
)


def _learn_judge(ex: str, case: dict, got: dict, want: dict) -> None:
    gamma, n = case["gamma"], case["n"]
    shown = "learn_step(q_network, target_network, optimizer, batch, gamma)"
    for loss in got["losses"]:
        if loss.get("type") == "Tensor" and loss.get("requires_grad"):
            fail(ex, f"{shown} returned a tensor that still holds the graph: return loss.item().")
        if loss.get("type") not in ("Tensor", "float") or loss.get("value") is None:
            fail(ex, f"{shown} should return the loss as a float (loss.item()), got a "
                     f"{loss.get('type')}.")
    if any(got["target_grads"]):
        fail(ex, "gradients flowed into the target network: compute the TD target under "
                 "torch.no_grad() (td_target does) so that only the online network learns.")
    if not _same(got["target"], want["target"], atol=0):
        fail(ex, "the learning step changed the target network; it should only update the "
                 "online network (the target network moves only in its own update).")
    for given in got["calls"]:
        if given.get("network") == "q_network":
            fail(ex, "the target bootstrapped from the online network: pass target_network to "
                     "td_target; use target_network for max_a' Q(s', a') (that is what steadies "
                     "the target).")
        if given.get("network") != "target_network":
            fail(ex, "td_target was given another network than target_network.")
        for field in ("rewards", "next_obs", "terminated"):
            if given.get(field) != field:
                fail(ex, f"td_target was given {given.get(field)} where batch.{field} goes: call "
                         f"td_target(batch.rewards, batch.next_obs, batch.terminated, "
                         f"target_network, gamma) (the target bootstraps from s', next_obs).")
        if given.get("gamma") is None or not np.isclose(given["gamma"], gamma):
            fail(ex, f"td_target was given gamma={given.get('gamma')}, but learn_step was called "
                     f"with gamma={gamma}: pass learn_step's gamma argument on (not a number of "
                     f"your own, nor cfg.gamma).")
    if "crash" in got:
        _fail_crash(ex, got["crash"], _LEARN_CRASHES)
    loss, expected = got["losses"][0]["value"], want["losses"][0]["value"]
    if not np.isclose(loss, expected, rtol=1e-4):
        hint = next((h for v, h in case["_variants"].values() if np.isclose(loss, v, rtol=1e-4)),
                    "loss = F.smooth_l1_loss(Q(s, a), y), with Q(s, a) of shape (B,) and y "
                    "from td_target.")
        fail(ex, f"on a batch of {n} transitions (gamma = {gamma}) the loss was {fmt(loss)}, "
                 f"expected {fmt(expected)}: {hint}")
    if _same(got["first"], case["_initial"], atol=0):
        hint = (" Its gradients were empty when learn_step returned: optimizer.zero_grad() "
                "belongs before loss.backward(); between backward() and step() it wipes the "
                "gradients that step() needs." if loss > 0 and all(
                    s != "some" for s in got["first_grads"]) else "")
        fail(ex, "the Q-network's weights did not change: call loss.backward() and then "
                 f"optimizer.step().{hint}")
    if not _same(got["first"], want["first"]):
        fail(ex, "after one learning step with SGD the weights differ from one correct step: "
                 "only loss.backward() and optimizer.step() should change the weights.")
    if not _same(got["last"], want["last"]):
        steps = case["steps"]
        fail(ex, f"after {steps} learning steps with SGD the weights differ from {steps} "
                 "correct steps"
                 + (": call optimizer.zero_grad() before loss.backward(), otherwise gradients "
                    "pile up from one step to the next." if _same(got["last"], case["_piled_up"])
                    else ". Only loss.backward() and optimizer.step() should change the weights."))


def _learn_spec(n, obs_dim, n_actions, seeds, batch_seed, gamma, lr, steps, hidden=16, scale=0.4):
    return {"n": n, "obs_dim": obs_dim, "n_actions": n_actions, "online_seed": seeds[0],
            "target_seed": seeds[1], "batch_seed": batch_seed, "gamma": gamma, "lr": lr,
            "steps": steps, "hidden": hidden, "scale": scale}


@register("2.6")
def check_learn_step(learn_step) -> None:
    ex = "2.6"
    # td_target is exercise 2.5's: here it is replaced by one that returns the right targets
    case = _learn_case(_learn_spec(6, 3, 2, (0, 5), None, 0.9, 0.05, 2, hidden=8, scale=0.5),
                       _td_target)
    want = _learn_run(ex, case, _reference_learn_step)
    _learn_judge(ex, case, _learn_run(ex, case, learn_step), want)
    passed(ex, "Huber loss between Q(s, a) and the TD target; only the online network learns")


@scenario("2.6")
class LearnStepScenario(Scenario):
    """Other sizes (more and fewer transitions than actions, a single one), discounts, learning
    rates and three steps. td_target is replaced by a stand-in that returns the solution's
    targets and notes which network and fields it was given (see ``_TdTargetStandIn``)."""

    def cases(self, ref):
        return [_learn_case(_learn_spec(*spec), ref.td_target) for spec in [
            (10, 5, 3, (2061, 2062), 2006, 0.97, 0.03, 3),
            (4, 2, 6, (2063, 2064), 2016, 0.5, 0.05, 3),
            (1, 3, 2, (2065, 2066), 2026, 0.9, 0.1, 2),
            (7, 4, 2, (2067, 2068), 2036, 0.99, 0.02, 3)]]

    def run(self, case, learn_step):
        return _learn_run("2.6", case, learn_step)

    def judge(self, case, got, expected):
        _learn_judge("2.6", case, got, expected)


# ---------------------------------------------------------------- 2.7 the soft update
def _update_nets(case: dict):
    """The case's target and online networks: small MLPs of its sizes, or a small CNN."""
    def net(seed):
        if case["kind"] != "conv":
            return small_net(case["obs_dim"], case["n_actions"], seed, case["hidden"], 0.5)
        g = torch.Generator().manual_seed(seed)
        cnn = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                  torch.nn.Linear(48, case["n_actions"]))
        with torch.no_grad():
            for p in cnn.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        return cnn

    return net(case["target_seed"]), net(case["online_seed"])


def _soft_case(kind, sizes, seeds, tau) -> dict:
    obs_dim, n_actions, hidden = sizes
    case = {"kind": kind, "obs_dim": obs_dim, "n_actions": n_actions, "hidden": hidden,
            "target_seed": seeds[0], "online_seed": seeds[1], "tau": tau}
    target_network, q_network = _update_nets(case)
    return {**case, "_old_target": _weights(target_network), "_online": _weights(q_network)}


def _soft_shown(case: dict) -> str:
    what = ("two small CNNs" if case["kind"] == "conv" else
            f"two MLPs {case['obs_dim']} -> {case['hidden']} -> {case['n_actions']}")
    return f"soft_update(target_network, q_network, tau={case['tau']}) on {what}"


def _soft_run(ex: str, case: dict, soft_update) -> dict:
    target_network, q_network = _update_nets(case)
    _, crash = _attempt(ex, soft_update, target_network, q_network, case["tau"],
                        shown=_soft_shown(case))
    out = {"target": _weights(target_network), "online": _weights(q_network),
           "recorded": [p.grad_fn is not None for p in target_network.parameters()]}
    return {**out, "crash": crash} if crash else out


def _reference_soft_update(target_network, q_network, tau):
    with torch.no_grad():
        for target_param, param in zip(target_network.parameters(), q_network.parameters()):
            target_param.copy_(tau * param + (1 - tau) * target_param)


def _soft_judge(ex: str, case: dict, got: dict, want: dict) -> None:
    tau, shown = case["tau"], _soft_shown(case)
    old, online, new = case["_old_target"], case["_online"], got["target"]
    if "crash" in got:
        _fail_crash(ex, got["crash"], (("leaf Variable", (
            "Do the update under `with torch.no_grad():`: autograd refuses in-place changes to "
            "parameters that require gradients.")),))
    if not _same(got["online"], online, atol=0):
        fail(ex, f"{shown} changed the online network. The update runs the other way: the "
                 f"target moves towards the online network, which stays as it is.")
    if not (isinstance(new, list) and len(new) == len(old)
            and all(np.shape(a) == np.shape(b) for a, b in zip(new, old))):
        fail(ex, f"after {shown} the target network has other parameters than before: update "
                 "its parameters in place.")
    right = [close(a, b, atol=1e-6, rtol=0) for a, b in zip(new, want["target"])]
    if all(right):
        if any(got["recorded"]):
            fail(ex, "the update was recorded by autograd: do it under torch.no_grad().")
        return
    unchanged = [close(a, b, atol=0, rtol=0) for a, b in zip(new, old)]

    def matches(values):
        return all(close(a, b, atol=1e-6, rtol=0) for a, b in zip(new, values))

    if tau == 1 and all(unchanged):
        fail(ex, "with tau = 1 the target should become an exact copy of the online network.")
    if tau > 0 and all(unchanged):
        fail(ex, f"{shown} left the target network unchanged: update its parameters in place "
                 f"(target_param.data.copy_(...), or target_param.lerp_(param, tau) under "
                 f"torch.no_grad()); assigning to the loop variable changes nothing, and a "
                 f"state_dict whose entries you replaced must be loaded back with "
                 f"target_network.load_state_dict(...).")
    if tau > 0 and any(right) and all(r or u for r, u in zip(right, unchanged)):
        fail(ex, f"{shown} updated only {sum(right)} of the target's {len(old)} parameter "
                 f"tensors and left the others as they were: the loop stopped early (a "
                 f"`return` or `break` inside it?). Update every parameter.")
    if matches([(1 - tau) * q + tau * t for q, t in zip(online, old)]):
        fail(ex, f"after {shown} the target's weights are not {tau:g} * online + {1 - tau:g} * "
                 f"old target: tau and 1 - tau are swapped: the target keeps (1 - tau) of itself "
                 f"and takes tau of the online network.")
    if tau < 1 and matches(online):
        fail(ex, f"after {shown} the target is a copy of the online network (a hard update): "
                 f"with tau = {tau:g} it should move only that fraction of the way, "
                 f"theta_target <- tau * theta + (1 - tau) * theta_target.")
    fail(ex, f"after {shown} the target's weights are not {tau:g} * online + {1 - tau:g} * old "
             f"target. theta_target <- tau * theta + (1 - tau) * theta_target.")


@scenario("2.7")
class SoftUpdateScenario(Scenario):
    """MLPs of other sizes and a small CNN (4-d weights), tau at 0 (nothing moves), 1 (an exact
    copy) and in between, small (0.001) and large (0.3)."""

    def cases(self, ref):
        return [_soft_case("mlp", (4, 2, 16), (2071, 2072), 0.3),
                _soft_case("mlp", (6, 5, 12), (2073, 2074), 0.001),
                _soft_case("conv", (0, 4, 0), (2075, 2076), 0.05),
                _soft_case("mlp", (3, 7, 5), (2077, 2078), 1.0),
                _soft_case("mlp", (2, 3, 9), (2079, 2080), 0.0)]

    def run(self, case, soft_update):
        return _soft_run("2.7", case, soft_update)

    def judge(self, case, got, expected):
        _soft_judge("2.7", case, got, expected)


@register("2.7")
def check_soft_update(soft_update) -> None:
    ex = "2.7"
    for case in [_soft_case("mlp", (3, 2, 8), (1, 2), 0.1), _soft_case("conv", (0, 3, 0), (6, 7), 0.6),
                 _soft_case("mlp", (5, 4, 6), (8, 9), 0.0)]:
        want = _soft_run(ex, case, _reference_soft_update)
        _soft_judge(ex, case, _soft_run(ex, case, soft_update), want)
    q_network = small_net(seed=2)
    copy_net = small_net(seed=4)
    call(ex, soft_update, copy_net, q_network, 1.0, shown="soft_update(target, online, tau=1.0)")
    if not all(torch.allclose(a, b) for a, b in zip(copy_net.parameters(), q_network.parameters())):
        fail(ex, "with tau = 1 the target should become an exact copy of the online network.")
    passed(ex, "theta_target <- tau * theta + (1 - tau) * theta_target, in place")


# ---------------------------------------------------------------- 2.8 terminated, not truncated
# play_step(env, memory, obs, action) runs on a scripted env and a memory that only logs: each
# script step is (reward, terminated, truncated), all four combinations of the flags appear, and
# the observations are random numbers, so that every observation says where it came from.
def _plain(value):
    """``value`` as plain data for the grader: a float, an array of floats, or its type's name."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"
    return float(array) if array.ndim == 0 else array


class _ScriptedEnv:
    """Step k returns the case's step_obs[k], reward, terminated, truncated, {} (whatever the
    action); a reset after k steps returns reset_obs[k]. Every call is logged in ``events``."""

    def __init__(self, case: dict, events: list):
        self.case, self.events, self.steps = case, events, 0

    def reset(self, *, seed=None, options=None):
        self.events.append(["reset"])
        return self.case["reset_obs"][self.steps % len(self.case["reset_obs"])].copy(), {}

    def step(self, action):
        k = self.steps % len(self.case["script"])
        self.steps += 1
        self.events.append(["step", _plain(action)])
        reward, terminated, truncated = self.case["script"][k]
        return self.case["step_obs"][k].copy(), reward, terminated, truncated, {}


class _LoggedMemory:
    """Stands in for the replay memory (exercise 2.2 is not needed): it logs what is added."""

    def __init__(self, events: list):
        self.events = events

    def add(self, obs, action, reward, next_obs, terminated):
        self.events.append(["add", *(_plain(v) for v in (obs, action, reward, next_obs,
                                                          terminated))])


def _play_case(seed: int, obs_dim: int, n_actions: int, pattern: str) -> dict:
    """A script from a pattern of steps: n neither, t terminated, u truncated, b both."""
    rng = np.random.default_rng(seed)
    flags = {"n": (False, False), "t": (True, False), "u": (False, True), "b": (True, True)}
    return {"script": [[round(float(rng.uniform(-2, 2)), 2), *flags[p]] for p in pattern],
            "actions": [int(a) for a in rng.integers(n_actions, size=len(pattern))],
            "step_obs": rng.normal(size=(len(pattern), obs_dim)).astype(np.float32),
            "reset_obs": rng.normal(size=(len(pattern) + 1, obs_dim)).astype(np.float32)}


def _obs_at(case: dict, k: int) -> np.ndarray:
    """The observation the agent acts on at step k: a reset's after an episode's end."""
    if k == 0 or any(case["script"][k - 1][1:]):
        return case["reset_obs"][k]
    return case["step_obs"][k - 1]


def _play_script(ex: str, play_step, case: dict) -> list[dict]:
    """Call play_step once per script step, as the training loop does; return, call by call,
    what the env and the memory saw (``events``) and what came back (plain data only). Each
    call gets the right obs, whatever the previous one returned: one mistake, one diagnosis."""
    events: list = []
    env, memory = _ScriptedEnv(case, events), _LoggedMemory(events)
    env.reset()
    calls = []
    for k, action in enumerate(case["actions"]):
        events.clear()
        out = call(ex, play_step, env, memory, _obs_at(case, k).copy(), action,
                   shown="play_step(env, memory, obs, action)")
        returned = ([_plain(v) for v in out] if isinstance(out, (tuple, list)) and len(out) == 3
                    else {"type": type(out).__name__,
                          "len": len(out) if isinstance(out, (tuple, list)) else None})
        calls.append({"events": list(events), "returned": returned})
    return calls


def _same_value(a, b) -> bool:
    return not isinstance(a, str) and not isinstance(b, str) and close(a, b, atol=1e-6)


def _bits(values) -> str:
    values = np.asarray(values, dtype=float)
    return str(values.astype(int).tolist()) if np.all(values == values.round()) else fmt(values)


def _shown(value, flag: bool = False) -> str:
    """A result for a message: "a tuple" for what the grader could not read as numbers."""
    if isinstance(value, str):
        return f"a {value.strip('<>')}"
    return str(bool(value)) if flag and isinstance(value, float) else fmt(value)


def _at(script: list, k: int) -> str:
    return f"at step {k + 1} (terminated={bool(script[k][1])}, truncated={bool(script[k][2])})"


def _judge_stored(ex: str, case: dict, k: int, events: list) -> tuple[float, int]:
    """One call: env.step once with the action, memory.add once with the right transition.
    Returns the terminated flag it stored and how many times it reset the env."""
    script, at = case["script"], _at(case["script"], k)
    kinds = [e[0] for e in events]
    if kinds.count("step") != 1:
        fail(ex, f"{at} play_step called env.step {kinds.count('step')} times: call it once, "
                 "with the action given.")
    if not _same_value(events[kinds.index("step")][1], case["actions"][k]):
        fail(ex, f"{at} env.step got action {fmt(events[kinds.index('step')][1])}, not the "
                 f"action passed in ({case['actions'][k]}).")
    if kinds.count("add") != 1:
        fail(ex, f"{at} play_step called memory.add {kinds.count('add')} times: store each "
                 "transition once, memory.add(obs, action, reward, next_obs, terminated).")
    _, obs, action, reward, next_obs, flag = events[kinds.index("add")]
    if not _same_value(obs, _obs_at(case, k)):
        hint = (" That is next_obs: store the observation the action was taken in, obs."
                if _same_value(obs, case["step_obs"][k]) else "")
        fail(ex, f"{at} the stored obs is {fmt(obs)}, not the obs passed in, "
                 f"{fmt(_obs_at(case, k))}.{hint}")
    if not (_same_value(action, case["actions"][k]) and _same_value(reward, script[k][0])):
        fail(ex, f"{at} the stored action and reward are {fmt(action)} and {fmt(reward)}; "
                 f"expected the action passed in ({case['actions'][k]}) and the reward "
                 f"env.step returned ({script[k][0]}).")
    if not _same_value(next_obs, case["step_obs"][k]):
        if _same_value(next_obs, case["reset_obs"][k + 1]):
            fail(ex, f"{at} the stored next_obs is the first observation of the NEXT episode, "
                     "the one env.reset() returned: you reset before storing. Store the "
                     "transition with the next_obs that env.step returned (this episode's last "
                     "state), then reset.")
        fail(ex, f"{at} the stored next_obs is {fmt(next_obs)}; expected the one env.step "
                 f"returned, {fmt(case['step_obs'][k])}.")
    return flag, kinds.count("reset")


def _judge_flags(ex: str, script: list, stored: list, resets: list) -> None:
    """Over the whole script: what was stored as terminated, and when the env was reset."""
    terminated, truncated = (np.array([float(s[i]) for s in script]) for i in (1, 2))
    over, n = np.maximum(terminated, truncated), len(script)
    pairs = " ".join(f"({'T' if s[1] else 'F'},{'T' if s[2] else 'F'})" for s in script)
    steps = f"steps 1 to {n}, whose (terminated, truncated) were {pairs},"
    if not all(isinstance(f, float) for f in stored):
        fail(ex, f"memory.add got terminated = {stored}: pass the bool that env.step returned.")
    got = np.array(stored)
    if not np.array_equal(got, terminated):
        hint = next((h for v, h in [
            (over, "you stored `terminated or truncated`. A truncation (a time limit, like "
                   "CartPole's 500 steps) is not a terminal state: the TD target must still "
                   "bootstrap there (eq. 1), so store `terminated` alone; `terminated or "
                   "truncated` decides when to reset, not what is stored."),
            (truncated, "terminated and truncated are swapped: store `terminated`, the flag "
                        "that says the task really ended (no future to bootstrap)."),
            (1 - terminated, "you stored `not terminated`, the bootstrap mask (1 - terminated); "
                             "the memory stores `terminated` itself, and the TD target takes "
                             "1 - terminated (eq. 1)."),
            (1 - over, "you stored `not (terminated or truncated)`; store `terminated` itself."),
            (np.zeros(n), "nothing was stored as terminal, even where terminated=True: store "
                          "the `terminated` that env.step returned.")]
            if np.array_equal(got, v)), "store the `terminated` that env.step returned.")
        fail(ex, f"on {steps} the memory got terminated = {_bits(got)}, expected "
                 f"{_bits(terminated)}: {hint}")
    got = np.array(resets, dtype=float)
    if not np.array_equal(got, over):
        hint = next((h for v, h in [
            (terminated, "a truncated episode was not reset: you reset only on `terminated`. A "
                         "time limit ends the episode too (the env cannot go on): reset when "
                         "`terminated or truncated`."),
            (truncated, "a terminated episode was not reset: you reset only on `truncated`. "
                        "Reset when `terminated or truncated`."),
            (np.zeros(n), "the env was never reset: reset it when the episode is over, "
                          "`terminated or truncated`."),
            (np.ones(n), "the env was reset after every step: only when the episode is over, "
                         "`terminated or truncated`.")]
            if np.array_equal(got, v)), "reset the env once when `terminated or truncated`.")
        fail(ex, f"on {steps} env.reset() was called {_bits(got)} times, expected "
                 f"{_bits(over)}: {hint}")


def _judge_returned(ex: str, case: dict, k: int, returned) -> None:
    """One call's (obs, reward, episode_over): the obs to act on next, the reward, the end."""
    script, at = case["script"], _at(case["script"], k)
    over = bool(script[k][1] or script[k][2])
    if not isinstance(returned, list):
        length = f" of {returned.get('len')} values" if returned.get("len") is not None else ""
        fail(ex, f"play_step returned a {returned.get('type')}{length}; return 3 values, "
                 "(obs, reward, episode_over).")
    obs, reward, episode_over = returned
    if not _same_value(obs, _obs_at(case, k + 1)):
        hint = (" env.reset() returns two values, (obs, info): unpack them, next_obs, _ = "
                "env.reset()." if isinstance(obs, str) and obs == "<tuple>" else
                " The episode ended and you reset the env, but returned the finished episode's "
                "last observation: return the one env.reset() gave, so that the agent acts in "
                "the new episode." if over and _same_value(obs, case["step_obs"][k]) else
                " That is the obs passed in: return next_obs, so that the agent moves on."
                if _same_value(obs, _obs_at(case, k)) else "")
        fail(ex, f"{at} play_step returned obs {_shown(obs)}, expected "
                 f"{fmt(_obs_at(case, k + 1))}.{hint}")
    if not _same_value(reward, script[k][0]):
        fail(ex, f"{at} play_step returned reward {_shown(reward)}, expected {script[k][0]}, the "
                 "one env.step returned (return (obs, reward, episode_over)).")
    if not (isinstance(episode_over, float) and (episode_over != 0) == over):
        hint = (" A time limit ends the episode too: episode_over = terminated or truncated."
                if script[k][2] and not script[k][1] else "")
        fail(ex, f"{at} play_step returned episode_over = {_shown(episode_over, flag=True)}, "
                 f"expected {over}.{hint}")


def _judge_play_step(ex: str, case: dict, calls) -> None:
    """Name the first mistake play_step made over the case's script (visible and hidden)."""
    if not (isinstance(calls, list) and len(calls) == len(case["script"])):
        fail(ex, "play_step's results are incomplete.")
    stored, resets = zip(*(_judge_stored(ex, case, k, c["events"]) for k, c in enumerate(calls)))
    _judge_flags(ex, case["script"], list(stored), list(resets))
    for k, record in enumerate(calls):
        _judge_returned(ex, case, k, record["returned"])


@register("2.8")
def check_play_step(play_step) -> None:
    ex = "2.8"
    case = _play_case(seed=8, obs_dim=3, n_actions=2, pattern="ntnubnu")
    _judge_play_step(ex, case, _play_script(ex, play_step, case))
    passed(ex, "stores terminated (not truncated); a new episode after terminated or truncated")


@scenario("2.8")
class PlayStepScenario(Scenario):
    """Other scripts: a truncation at the very first step, one-step episodes in a row, long
    episodes, both flags at once; other observation sizes, action counts and rewards."""

    def cases(self, ref):
        return [_play_case(seed, obs_dim, n_actions, pattern) for seed, obs_dim, n_actions, pattern
                in [(2008, 4, 2, "nnunntbnt"), (2018, 1, 5, "ubtnu"),
                    (2028, 6, 3, "nnnnnnuntb"), (2038, 2, 4, "bnut")]]

    def run(self, case, play_step):
        return _play_script("2.8", play_step, case)

    def judge(self, case, got, expected):
        _judge_play_step("2.8", case, got)
        if not _same_plain(got, expected):  # what the diagnoses above did not name
            fail("2.8", "play_step's results differ from the solution's on a scripted episode.")


def _same_plain(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_plain(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_plain(x, y) for x, y in zip(a, b))
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return _same_value(a, b)
