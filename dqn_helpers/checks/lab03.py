"""Checks for lab 03: the Huber loss, the clipped learning step and the hard target update.

As in lab 02, each check builds small, known inputs, computes the right answer itself, and
compares; where an answer is wrong it computes the answers of the usual mistakes, to say which
one was made. The learning step is checked with plain SGD, where a step is ``-lr * gradient``:
the length of the step shows whether, and how, the gradient was clipped. It is checked with
the course's own ``huber`` and ``td_target`` in place of the notebook's (``huber_standin``,
``td_target_standin``): a mistake in exercise 3.1 costs exercise 3.1 only.

Each exercise also has a hidden scenario (``@scenario``) that the grader runs on other inputs:
other sizes, deltas, clipping thresholds and update periods.
"""

from __future__ import annotations

import copy
from typing import Any

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
    scenario,
    standins,
)
from dqn_helpers.checks.lab02 import Batch, _batch, _tensor, check_loss_and_target, small_net


def attempt(ex: str, fn, *args, shown: str, **kwargs) -> tuple[Any, str | None]:
    """``call``, for a scenario's ``run``: (result, None), or (None, the crash's message).

    A stub still raises ``NotImplementedYet``. The message (capped) goes to the judge, which
    names the cause of a crash as the visible check does.
    """
    try:
        return call(ex, fn, *args, shown=shown, **kwargs), None
    except NotImplementedYet:
        raise
    except CheckError as error:
        return None, str(error)[:600]


def huber_standin(x: torch.Tensor, delta=1.0) -> torch.Tensor:
    """Exercise 3.1's Huber loss (elementwise), standing in for the notebook's ``huber``."""
    abs_x = x.abs()
    return torch.where(abs_x <= delta, 0.5 * x**2, delta * (abs_x - 0.5 * delta))


def td_target_standin(rewards, next_obs, terminated, target_network, gamma) -> torch.Tensor:
    """Exercise 2.5's TD target, standing in for the notebook's ``td_target``."""
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminated) * target_network(next_obs).max(dim=1).values


# ---------------------------------------------------------------- 3.1 the Huber loss
_X = torch.tensor([-3.0, -1.5, -1.0, -0.4, 0.0, 0.3, 0.8, 1.0, 1.7, 2.5])


def _points(delta: float) -> torch.Tensor:
    """``_X`` and -delta, delta: errors on both sides of the kink and exactly at it."""
    extra = [v for v in (-delta, delta) if v not in _X.tolist()]
    return torch.cat([_X, torch.tensor(extra)]).sort().values


def _huber(x: torch.Tensor, delta: float) -> torch.Tensor:
    return F.huber_loss(x, torch.zeros_like(x), reduction="none", delta=delta)


def _huber_variants(x: torch.Tensor, delta: float) -> dict[str, tuple[torch.Tensor, str]]:
    a, inside = x.abs(), x.abs() <= delta
    return {
        "no half": (torch.where(inside, x**2, delta * (a - 0.5 * delta)),
                    "the quadratic branch is x**2 / 2, with the 1/2 (then both branches meet "
                    "at |x| = delta with the same value and the same slope)."),
        "no shift": (torch.where(inside, 0.5 * x**2, delta * a),
                     "the linear branch is delta * (|x| - delta / 2): without the - delta / 2 "
                     "the loss jumps where the branches meet."),
        "threshold 1": (torch.where(a <= 1.0, 0.5 * x**2, delta * (a - 0.5 * delta)),
                        "switch branches at |x| = delta, not at |x| = 1."),
        "delta ignored": (_huber(x, 1.0),
                          "that is the loss for delta = 1: use the delta argument in both the "
                          "threshold and the linear branch."),
        "linear without delta": (torch.where(inside, 0.5 * x**2, a - 0.5),
                                 "the linear branch is delta * (|x| - delta / 2); yours is "
                                 "|x| - 1/2, right only for delta = 1."),
        # delta * abs_x - 0.5 * delta: the parentheses of eq. 1 dropped
        "delta not squared": (torch.where(inside, 0.5 * x**2, delta * a - 0.5 * delta),
                              "the linear branch is delta * (|x| - delta / 2) = delta * |x| - "
                              "delta**2 / 2; yours subtracts delta / 2 (the parentheses "
                              "around |x| - delta / 2 are missing), right only for delta = 1."),
        "smooth l1": (F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=delta),
                      "that is smooth L1 with beta = delta (x**2 / (2 * delta) inside, "
                      "|x| - delta / 2 outside), whose slope is at most 1. The Huber loss of "
                      "eq. 1 is x**2 / 2 inside and delta * (|x| - delta / 2) outside."),
        "swapped": (torch.where(inside, delta * (a - 0.5 * delta), 0.5 * x**2),
                    "the branches are swapped: the quadratic one is for |x| <= delta."),
    }


def _huber_crash(ex: str, message: str) -> str:
    """A crash of ``huber`` in the student's terms."""
    message = message.removeprefix(f"Exercise {ex}: ")
    if "ambiguous" in message:
        return (f"{message} -- a Python `if` (or `and`, `or`, `max()`) on a tensor of many "
                f"values cannot pick a branch for each element: use torch.where(abs_x <= "
                f"delta, ..., ...), which picks elementwise.")
    return message


def _huber_problem(got: np.ndarray, want: np.ndarray, x: np.ndarray, delta: float,
                   shown: str) -> str | None:
    """What is wrong with ``got`` = huber(x, delta), or None (both sides of the check)."""
    if got.shape != want.shape:
        hint = ""
        if got.ndim == 0:
            hint = " Return one loss per element; the learning step takes the mean."
            if close(got, want.mean()):
                hint += (" (Yours is their mean: F.huber_loss and nn.HuberLoss average "
                         "unless given reduction=\"none\".)")
        return (f"{shown} returned shape {got.shape}, expected {want.shape}: the loss is "
                f"elementwise.{hint}")
    if close(got, want):
        return None
    variants = _huber_variants(torch.from_numpy(np.asarray(x, dtype=np.float32)), delta)
    hint = next((h for v, h in variants.values() if close(got, v.numpy())),
                "0.5 * x**2 where |x| <= delta, delta * (|x| - 0.5 * delta) elsewhere.")
    if got.size <= 12:
        return f"{shown} returned {fmt(got)}, expected {fmt(want)}: {hint}"
    wrong = np.flatnonzero(~np.isclose(got, want, atol=1e-5, rtol=1e-5))[:5]  # a few, to read
    return (f"{shown}: at x = {fmt(x.reshape(-1)[wrong])} it returned "
            f"{fmt(got.reshape(-1)[wrong])}, expected {fmt(want.reshape(-1)[wrong])}: {hint}")


def _grad_problem(grad, x: np.ndarray, delta: float, shown: str) -> str | None:
    want = np.clip(x, -delta, delta)
    if grad is not None and close(grad, want):
        return None
    got = "no gradient" if grad is None else fmt(np.asarray(grad))
    return (f"the gradient of {shown}.sum() is {got}, expected x clipped to [-delta, delta]: "
            f"{fmt(want)}.")


_NO_AUTOGRAD = ("huber(x) of a tensor that requires grad returned something autograd cannot "
                "differentiate: use torch operations (torch.where, x.abs(), x**2), not NumPy "
                "or Python floats.")


@register("3.1")
def check_huber(huber) -> None:
    ex = "3.1"
    for delta in (1.0, 2.0, 0.5):
        x = _points(delta)
        original = x.clone()
        shown = f"huber(x, delta={delta}) with x = {[round(v, 4) for v in x.tolist()]}"
        try:
            out = call(ex, huber, x, delta, shown=shown)
        except NotImplementedYet:
            raise
        except CheckError as error:
            fail(ex, _huber_crash(ex, str(error)))
        got = _tensor(ex, out, f"huber(x, delta={delta})")
        if not torch.equal(x, original):
            fail(ex, f"{shown} changed x in place; compute a new tensor.")
        problem = _huber_problem(got.detach().float().numpy(), _huber(x, delta).numpy(),
                                 x.numpy(), delta, shown)
        if problem:
            fail(ex, problem)
    for delta in (1.0, 0.5):
        x = torch.tensor([[-2.0, -0.5, 0.25], [0.9, 1.5, -1.2]], requires_grad=True)
        shown = f"huber(x, delta={delta}) on a (2, 3) tensor"
        out = call(ex, huber, x, delta, shown=shown)
        if not isinstance(out, torch.Tensor) or not out.requires_grad:
            fail(ex, _NO_AUTOGRAD)
        if tuple(out.shape) != (2, 3):
            fail(ex, f"{shown} returned shape {tuple(out.shape)}: keep the shape.")
        out.sum().backward()
        grad = None if x.grad is None else x.grad.numpy()
        problem = _grad_problem(grad, x.detach().numpy(), delta, shown)
        if problem:
            fail(ex, problem)
    passed(ex, "x**2 / 2 inside [-delta, delta], delta * (|x| - delta / 2) outside; the "
               "gradient is x clipped to [-delta, delta]")


@scenario("3.1")
class HuberScenario(Scenario):
    """Deltas below and above 1; errors inside, outside and exactly at -delta and delta;
    a 2-d input; the gradient at each delta."""

    def cases(self, ref):
        g = torch.Generator().manual_seed(3001)
        out = []
        for delta, shape in ((0.3, (40,)), (1.0, (40,)), (2.5, (40,)), (1.7, (5, 8))):
            x = torch.randn(shape, generator=g) * 2 * delta
            x.view(-1)[:4] = torch.tensor([-delta, delta, 0.0, 0.5 * delta])
            out.append({"delta": delta, "x": x.numpy()})
        return out

    def shown(self, case):
        x = case["x"]
        return (f"huber(x, delta={case['delta']}) on x of shape {tuple(x.shape)} between "
                f"{x.min():.2f} and {x.max():.2f}")

    def run(self, case, huber):
        ex, shown = "3.1", self.shown(case)
        x = torch.from_numpy(case["x"]).clone()
        out, error = attempt(ex, huber, x, case["delta"], shown=shown)
        if error:
            return {"error": error}
        if not isinstance(out, torch.Tensor):
            return {"type": type(out).__name__}
        leaf = torch.from_numpy(case["x"]).clone().requires_grad_(True)
        again, _ = attempt(ex, huber, leaf, case["delta"], shown=shown)
        requires_grad = isinstance(again, torch.Tensor) and again.requires_grad
        if requires_grad:
            try:
                again.sum().backward()
            except RuntimeError:
                pass
        return {"type": "Tensor", "values": out.detach().float(), "x_after": x,
                "requires_grad": bool(requires_grad), "grad": leaf.grad}

    def judge(self, case, got, expected):
        ex, shown, x, delta = "3.1", self.shown(case), case["x"], case["delta"]
        if got.get("error"):
            fail(ex, _huber_crash(ex, got["error"]))
        if got.get("type") != "Tensor":
            fail(ex, f"{shown} should return a torch.Tensor, got {got.get('type')}.")
        if not np.array_equal(got["x_after"], x):
            fail(ex, f"{shown} changed x in place; compute a new tensor.")
        problem = (_huber_problem(np.asarray(got["values"]), expected["values"], x, delta,
                                  shown)
                   or (None if got["requires_grad"] else _NO_AUTOGRAD)
                   or _grad_problem(got["grad"], x, delta, shown))
        if problem:
            fail(ex, problem)


# ---------------------------------------------------------------- 3.2 the clipped learning step
def _flat(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _norm(grads: list[torch.Tensor]) -> float:
    return float(torch.sqrt(sum((g**2).sum() for g in grads)))


def _grads(q_network, target_network, batch, gamma) -> list[torch.Tensor]:
    """The gradient of the mean Huber loss at q_network's current weights, one tensor per param."""
    net = copy.deepcopy(q_network)
    obs, actions, rewards, next_obs, terminated = batch
    y = td_target_standin(rewards, next_obs, terminated, target_network, gamma)
    q = net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    F.smooth_l1_loss(q, y).backward()
    return [p.grad.detach().clone() for p in net.parameters()]


def _clip(grads: list[torch.Tensor], how: str, max_norm: float) -> list[torch.Tensor]:
    if how == "none":
        return grads
    if how == "norm":
        scale = min(1.0, max_norm / (_norm(grads) + 1e-6))  # as clip_grad_norm_ computes it
        return [g * scale for g in grads]
    if how == "value":
        return [g.clamp(-max_norm, max_norm) for g in grads]
    if how == "per tensor":
        return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]
    if how == "always rescale":
        return [g * max_norm / _norm(grads) for g in grads]
    raise ValueError(how)


def _sgd_step(flat_weights: torch.Tensor, grads, lr) -> torch.Tensor:
    """The flat weights after one SGD step with these gradients."""
    return flat_weights - lr * torch.cat([g.reshape(-1) for g in grads])


_STEP_HINTS = {  # the usual ways to clip wrongly, most specific first
    "piled": "the learning step used the previous step's gradients too: call "
             "optimizer.zero_grad() before loss.backward(), otherwise gradients pile up from "
             "one step to the next.",
    "always rescale": "the gradient was scaled up to max_grad_norm: clipping only ever "
                      "shrinks a gradient (clip_grad_norm_ leaves small ones alone).",
    "none": "the step was not clipped. Call torch.nn.utils.clip_grad_norm_("
            "q_network.parameters(), max_grad_norm) after loss.backward() and before "
            "optimizer.step(): clipping before backward() (or the target network's "
            "gradients) has no effect.",
    "value": "that clips each gradient element to [-max_grad_norm, max_grad_norm] "
             "(clip_grad_value_). Clip the norm of all the gradients together: "
             "clip_grad_norm_.",
    "per tensor": "each parameter tensor was clipped on its own. Clip the norm of all the "
                  "gradients together: pass q_network.parameters() to clip_grad_norm_ once.",
}
_TOO_LATE = ("the gradients were clipped after optimizer.step(), too late to change the step: "
             "clip between loss.backward() and optimizer.step().")


def _step_variants(before: torch.Tensor, grads, lr: float, max_norm: float,
                   left=None) -> dict[str, torch.Tensor]:
    """The flat weights after one SGD step from ``before``: right ("norm") and with each
    usual mistake; ``left`` are the gradients the previous step left behind (for "piled")."""
    out = {how: _sgd_step(before, _clip(grads, how, max_norm), lr)
           for how in ("norm", "none", "value", "per tensor", "always rescale")}
    if left is not None:
        piled = [a + b for a, b in zip(grads, left)]
        out["piled"] = _sgd_step(before, _clip(piled, "norm", max_norm), lr)
    return out


def _step_problem(after, before, variants: dict, norm: float, max_norm: float, lr: float,
                  left_norm: float) -> str | None:
    """What is wrong with the weights ``after`` a clipped step, or None (both sides)."""
    after, before = np.asarray(after, dtype=np.float32), np.asarray(before, dtype=np.float32)
    if close(after, variants["norm"], atol=1e-6):
        return None
    if np.array_equal(after, before):
        return ("the Q-network's weights did not change: call loss.backward() and then "
                "optimizer.step().")
    clipping = norm > max_norm
    step_norm = float(np.linalg.norm(after - before)) / lr
    situation = (f"the gradient's norm was {norm:.4g} and max_grad_norm {max_norm:.4g}, so the "
                 f"SGD step (lr = {lr}) should have length lr * {min(norm, max_norm):.4g}; "
                 f"yours had length lr * {step_norm:.4g}:")
    for how, hint in _STEP_HINTS.items():
        if how in variants and close(after, variants[how], atol=1e-6):
            if how == "none" and clipping and np.isclose(left_norm, max_norm, rtol=1e-3):
                hint = _TOO_LATE
            return f"{situation} {hint}"
    if not clipping:
        return (f"with max_grad_norm = {max_norm:.4g}, above the gradient's norm ({norm:.4g}), "
                f"the step should be the plain SGD step, unclipped; it was not. Use the "
                f"max_grad_norm argument (not a fixed number) in clip_grad_norm_.")
    return (f"{situation} clip with torch.nn.utils.clip_grad_norm_(q_network.parameters(), "
            f"max_grad_norm), using the max_grad_norm argument, between loss.backward() and "
            f"optimizer.step().")


def _loss_hints(q_network, target_network, batch, gamma) -> list[tuple[float, str]]:
    """(loss, what it means) at q_network's current weights: the right loss first, then the
    usual wrong ones."""
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():
        q_all = q_network(obs)
        q = q_all.gather(1, actions.unsqueeze(1)).squeeze(1)
        y = td_target_standin(rewards, next_obs, terminated, target_network, gamma)
        y_online = td_target_standin(rewards, next_obs, terminated, q_network, gamma)
        n = len(y)
        return [(float(v), h) for v, h in [
            (F.smooth_l1_loss(q, y), "right"),  # the right loss first
            (F.smooth_l1_loss(q, y_online),
             "the target bootstrapped from the online network; use target_network for "
             "max_a' Q(s', a') (that is what steadies the target)."),
            (F.smooth_l1_loss(q_all.max(dim=1).values, y),
             "that is the loss of Q(s, a) for the greedy action (q_values.max(dim=1)); use the "
             "action taken in each transition: q_values.gather(1, actions.unsqueeze(1))"
             ".squeeze(1)."),
            (huber_standin(q, y).mean(),
             "huber() takes one argument, the TD error: huber(q_taken - y). Called as "
             "huber(q_taken, y) (like F.smooth_l1_loss(input, target)), y became its delta."),
            (F.smooth_l1_loss(q.unsqueeze(1).expand(-1, n), y.unsqueeze(0).expand(n, -1)),
             "the predicted Q-values have shape (B, 1) and the targets (B,), so the TD errors "
             "broadcast to (B, B): squeeze(1) the gathered Q-values."),
            (F.mse_loss(q, y),
             "that is the mean squared error: use your huber() of the TD errors, averaged over "
             "the batch."),
            (F.smooth_l1_loss(q, y, reduction="sum"),
             "average the Huber losses over the batch (.mean()), do not sum them."),
        ]]


def _loss_problem(loss: float, want: float, hints, shown: str) -> str | None:
    if np.isclose(loss, want, rtol=1e-4, atol=1e-7):
        return None
    hint = next((h for v, h in hints if np.isclose(loss, v, rtol=1e-4, atol=1e-7)),
                "loss = huber(Q(s, a) - y).mean(), with Q(s, a) of shape (B,) and y from "
                "td_target.")
    return f"{shown}: the loss was {fmt(float(loss))}, expected {fmt(want)}: {hint}"


def _left_norm(net: torch.nn.Module) -> float:
    left = [p.grad for p in net.parameters() if p.grad is not None]
    return _norm(left) if left else 0.0


@register("3.2")
def check_learn_step_clipped(learn_step) -> None:
    ex = "3.2"
    gamma, lr = 0.9, 0.1
    q_network, target_network = small_net(seed=0), small_net(seed=5)
    batch = _batch()
    grads = _grads(q_network, target_network, batch, gamma)
    norm = _norm(grads)
    max_norm = float(f"{norm / 20:.3g}")  # far below the gradient's norm: clipping must act
    start_target = copy.deepcopy(target_network.state_dict())
    start = _flat(q_network)
    hints = _loss_hints(q_network, target_network, batch, gamma)
    want_loss = hints.pop(0)[0]
    opt = torch.optim.SGD(q_network.parameters(), lr=lr)
    shown = (f"learn_step(q_network, target_network, optimizer, batch, gamma={gamma}, "
             f"max_grad_norm={max_norm})")
    with standins(learn_step, huber=huber_standin, td_target=td_target_standin):
        loss = call(ex, learn_step, q_network, target_network, opt, batch, gamma, max_norm,
                    shown=shown)
        loss = check_loss_and_target(ex, loss, shown, target_network, start_target)
        problem = (_loss_problem(loss, want_loss, hints, "on a batch of 6 transitions")
                   or _step_problem(_flat(q_network), start,
                                    _step_variants(start, grads, lr, max_norm), norm, max_norm,
                                    lr, _left_norm(q_network)))
        if problem:
            fail(ex, problem)
        # a second call: does the step use max_grad_norm, and are gradients zeroed in between?
        big = float(f"{norm * 10:.3g}")  # far above the norm: clipping must leave the step alone
        before = copy.deepcopy(q_network)
        grads2 = _grads(before, target_network, batch, gamma)
        call(ex, learn_step, q_network, target_network, opt, batch, gamma, big,
             shown=f"learn_step(..., max_grad_norm={big}) (a second call)")
    variants = _step_variants(_flat(before), grads2, lr, big, _clip(grads, "norm", max_norm))
    problem = _step_problem(_flat(q_network), _flat(before), variants, _norm(grads2), big, lr,
                            _left_norm(q_network))
    if problem:
        fail(ex, f"in the second call: {problem}")
    passed(ex, "Huber loss, gradient norm clipped between backward() and step(); only the "
               "online network learns")


# (q seed, target seed), batch size, obs_dim, n_actions, gamma, lr, reward scale, and for each
# call, max_grad_norm as a fraction of the gradient's norm at that call
_LEARN_CASES = [
    ((3021, 3022), 12, 8, 4, 0.95, 0.02, 20.0, (0.05, 10.0, 0.3)),
    ((3023, 3024), 3, 2, 5, 0.5, 0.05, 5.0, (0.2, 0.02, 4.0)),
    ((3025, 3026), 1, 4, 2, 0.99, 0.1, 3.0, (0.1, 10.0, 0.5)),
]
_BATCH_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")


def _mlp(obs_dim: int, n_actions: int, seed: int) -> torch.nn.Module:
    return small_net(obs_dim, n_actions, seed, hidden=16, scale=0.4)


@scenario("3.2")
class LearnStepClippedScenario(Scenario):
    """Three calls each on batches larger and smaller than the number of actions (one of a
    single transition), max_grad_norm below and above the gradient's norm."""

    def cases(self, ref):
        out = []
        for seeds, n, obs_dim, n_actions, gamma, lr, scale, fractions in _LEARN_CASES:
            g = torch.Generator().manual_seed(seeds[0] + 100)
            batch = Batch(torch.randn(n, obs_dim, generator=g),
                          torch.randint(0, n_actions, (n,), generator=g),
                          torch.randn(n, generator=g) * scale,
                          torch.randn(n, obs_dim, generator=g),
                          (torch.rand(n, generator=g) < 0.4).float())
            q_network, target_network = _mlp(obs_dim, n_actions, seeds[0]), _mlp(
                obs_dim, n_actions, seeds[1])
            steps, max_norms, left = [], [], None
            for fraction in fractions:  # the right trajectory, and the mistakes from each point
                grads = _grads(q_network, target_network, batch, gamma)
                norm = _norm(grads)
                max_norm = float(f"{norm * fraction:.3g}")
                before = _flat(q_network)
                variants = _step_variants(before, grads, lr, max_norm, left)
                steps.append({"norm": norm, "before": before.numpy(),
                              "variants": {k: v.numpy() for k, v in variants.items()},
                              "losses": _loss_hints(q_network, target_network, batch,
                                                   gamma)[1:]})
                torch.nn.utils.vector_to_parameters(variants["norm"], q_network.parameters())
                max_norms.append(max_norm)
                left = _clip(grads, "norm", max_norm)
            out.append({"seeds": list(seeds), "obs_dim": obs_dim, "n_actions": n_actions,
                        "gamma": gamma, "lr": lr, "max_norms": max_norms,
                        **{k: v.numpy() for k, v in zip(_BATCH_FIELDS, batch)},
                        "_steps": steps})
        return out

    def shown(self, case, i):
        return (f"learn_step(q_network, target_network, optimizer, batch, gamma={case['gamma']}, "
                f"max_grad_norm={case['max_norms'][i]}) on {len(case['rewards'])} transition(s) "
                f"with {case['n_actions']} actions (SGD, lr = {case['lr']}), call {i + 1}")

    def run(self, case, learn_step):
        ex = "3.2"
        q_network = _mlp(case["obs_dim"], case["n_actions"], case["seeds"][0])
        target_network = _mlp(case["obs_dim"], case["n_actions"], case["seeds"][1])
        optimizer = torch.optim.SGD(q_network.parameters(), lr=case["lr"])
        batch = Batch(*(torch.from_numpy(case[k]) for k in _BATCH_FIELDS))
        calls = []
        with standins(learn_step, huber=huber_standin, td_target=td_target_standin):
            for i, max_norm in enumerate(case["max_norms"]):
                loss = call(ex, learn_step, q_network, target_network, optimizer, batch,
                            case["gamma"], max_norm, shown=self.shown(case, i))
                calls.append({"loss": _loss_facts(loss), "weights": _flat(q_network),
                              "left_norm": _left_norm(q_network)})
        return {"calls": calls, "target": _flat(target_network),
                "target_grad": any(p.grad is not None for p in target_network.parameters())}

    def judge(self, case, got, expected):
        ex = "3.2"
        calls = got["calls"]
        for i, facts in enumerate(calls):
            if facts["loss"].get("requires_grad"):
                fail(ex, f"{self.shown(case, i)} returned a tensor that still holds the graph: "
                         f"return loss.item().")
            if not isinstance(facts["loss"].get("value"), float):
                fail(ex, f"{self.shown(case, i)} should return the loss as a float "
                         f"(loss.item()), got a {facts['loss'].get('type')}.")
        if got["target_grad"]:
            fail(ex, "gradients flowed into the target network: compute the TD target under "
                     "torch.no_grad() (td_target does) so that only the online network learns.")
        if not np.array_equal(got["target"], expected["target"]):
            fail(ex, "the learning step changed the target network; it should only update the "
                     "online network (the target network moves only in its own update).")
        for i, (facts, want, step) in enumerate(zip(calls, expected["calls"], case["_steps"])):
            shown = self.shown(case, i)
            problem = (_loss_problem(facts["loss"]["value"], want["loss"]["value"],
                                     step["losses"], shown)
                       or _step_problem(facts["weights"], step["before"], step["variants"],
                                        step["norm"], case["max_norms"][i], case["lr"],
                                        facts["left_norm"]))
            if problem:
                fail(ex, problem if problem.startswith(shown) else f"{shown}: {problem}")
            if not close(facts["weights"], want["weights"]):
                fail(ex, f"after {shown} the weights differ from a correct clipped step.")


def _loss_facts(loss) -> dict:
    """What a learning step returned, as plain data."""
    if isinstance(loss, torch.Tensor):
        value = float(loss.detach()) if loss.numel() == 1 else None
        return {"type": "Tensor", "requires_grad": bool(loss.requires_grad), "value": value}
    if isinstance(loss, (float, np.floating)):
        return {"type": type(loss).__name__, "value": float(loss)}
    return {"type": type(loss).__name__}


# ---------------------------------------------------------------- 3.3 the hard update
def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def _nudge(net: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(amount)


def _net(sizes: list[int], seed: int) -> torch.nn.Module:
    """An MLP with layers of these sizes and fixed weights (deeper or wider than small_net)."""
    g = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.4)
    return net


_UNCHANGED = ("left the target network unchanged: copy into it in place, from the online "
              "network: target_network.load_state_dict(q_network.state_dict()). Assigning "
              "target_network = ... inside the function only rebinds a local name, and loading "
              "the target's own state_dict copies nothing.")
_SHARED = ("after the copy the target network shares its weights with the online network (as "
           "with target_param.data = param.data): changing the online network changed the "
           "target too. Copy the values: load_state_dict(...) or target_param.copy_(param) "
           "under torch.no_grad().")


def _schedule_problem(copied: list[int], want: list[int], steps: list[int],
                      every: int) -> str | None:
    """What is wrong with copying at steps ``copied`` instead of ``want``, or None."""
    if copied == want:
        return None
    if copied == steps:
        hint = "it copied at every step: copy only when step % every == 0."
    elif copied == [s for s in steps if s % every != 0]:
        hint = ("it copied exactly at the steps where it should not: step % every is 0, which "
                "is false, at the multiples of every. Copy when step % every == 0 (not when "
                "`if step % every:`).")
    elif not copied:
        hint = "it never copied: call hard_update(target_network, q_network) when " \
               "step % every == 0."
    elif copied in ([s for s in steps if (s - 1) % every == 0],
                    [s for s in steps if (s + 1) % every == 0]):
        hint = "the copies are off by one: copy when step % every == 0 (step counts the " \
               "gradient steps taken, 1 after the first)."
    else:
        hint = "copy when step % every == 0, and only then."
    return (f"over steps {steps} with every = {every}, maybe_hard_update copied at steps "
            f"{copied}, expected {want}: {hint}")


def _returned_problem(returned: list, copies: list[bool], steps: list[int],
                      every: int) -> str | None:
    for step, value, did in zip(steps, returned, copies):
        if not isinstance(value, (bool, np.bool_)) or bool(value) != did:
            shown = repr(value)
            if isinstance(value, dict):  # what the hidden scenario records of a non-bool
                shown = "None" if value.get("type") == "NoneType" else f"a {value.get('type')}"
            return (f"maybe_hard_update(..., step={step}, every={every}) returned {shown}; "
                    f"return True when it copied and False when it did not.")
    return None


# each period with steps from 1 (step counts the gradient steps taken, 1 after the first):
# at and between its multiples, 1 (every step) and large
_PERIODS = [(4, list(range(1, 13))), (3, list(range(1, 10))), (1, [1, 2, 3]),
            (1000, [1, 999, 1000, 1001, 1999, 2000, 2500, 3000])]


def _check_copy(ex: str, hard_update, target_network, q_network) -> None:
    old_q, old_target = copy.deepcopy(q_network), copy.deepcopy(target_network)
    shown = "hard_update(target_network, q_network)"
    call(ex, hard_update, target_network, q_network, shown=shown)
    if not _equal(q_network, old_q):
        fail(ex, f"{shown} changed the online network. The copy runs the other way: the "
                 f"target becomes a copy of the online network, which stays as it is.")
    if _equal(target_network, old_target):
        fail(ex, f"{shown} {_UNCHANGED}")
    if not _equal(target_network, q_network):
        fail(ex, f"after {shown} the target's weights differ from the online network's: "
                 f"copy every parameter exactly (a hard update is tau = 1).")
    shared = any(a is b or a.data_ptr() == b.data_ptr()
                 for a, b in zip(target_network.parameters(), q_network.parameters()))
    _nudge(q_network, 0.25)  # what an optimiser step does to the online network
    if shared or _equal(target_network, q_network):
        fail(ex, _SHARED)
    if any(p.grad_fn is not None for p in target_network.parameters()):
        fail(ex, "the copy was recorded by autograd: do it under torch.no_grad().")


@register("3.3")
def check_hard_update(hard_update, maybe_hard_update) -> None:
    ex = "3.3"
    _check_copy(ex, hard_update, small_net(seed=1), small_net(seed=2))
    _check_copy(ex, hard_update, _net([6, 16, 16, 4], 1), _net([6, 16, 16, 4], 2))
    for every, steps in _PERIODS:
        target_network, q_network = small_net(seed=1), small_net(seed=2)
        copied, returned = [], []
        for step in steps:
            _nudge(q_network, 0.01)  # the online network learns between calls
            before, online = copy.deepcopy(target_network), copy.deepcopy(q_network)
            out = call(ex, maybe_hard_update, target_network, q_network, step, every,
                       shown=f"maybe_hard_update(target_network, q_network, step={step}, "
                             f"every={every})")
            if not _equal(q_network, online):
                fail(ex, f"maybe_hard_update(..., step={step}, every={every}) changed the "
                         f"online network; only the target changes.")
            if _equal(target_network, online):
                copied.append(step)
            elif not _equal(target_network, before):
                fail(ex, f"maybe_hard_update(..., step={step}, every={every}) changed the "
                         f"target network without making it a copy of the online one.")
            returned.append(out)
        want = [s for s in steps if s % every == 0]
        problem = (_schedule_problem(copied, want, steps, every)
                   or _returned_problem(returned, [s in want for s in steps], steps, every))
        if problem:
            fail(ex, problem)
    passed(ex, "a real copy, every `every` gradient steps and never in "
               "between")


@scenario("3.3")
class HardUpdateScenario(Scenario):
    """Networks of other sizes and depths; periods of 7, 1 (every step) and 500, steps from 1
    through several multiples; a copy that must not share the online network's weights."""

    def cases(self, ref):
        out = []
        for sizes, seeds, every, steps in [
                ([5, 16, 3], (3031, 3032), 7, list(range(1, 22))),
                ([2, 12, 12, 6], (3033, 3034), 1, [1, 2, 3, 4]),
                ([8, 32, 2], (3035, 3036), 500, [1, 250, 499, 500, 501, 1000, 1499, 1500,
                                                 2000])]:
            out.append({"sizes": sizes, "seeds": list(seeds), "every": every, "steps": steps,
                        "_target": _flat(_net(sizes, seeds[0])).numpy()})
        return out

    def run(self, case, hard_update, maybe_hard_update):
        ex, sizes, seeds = "3.3", case["sizes"], case["seeds"]
        target_network, q_network = _net(sizes, seeds[0]), _net(sizes, seeds[1])
        call(ex, hard_update, target_network, q_network,
             shown=f"hard_update(target_network, q_network) on networks of sizes {sizes}")
        copy_facts = {"target": _flat(target_network), "online": _flat(q_network),
                      "grad_fn": any(p.grad_fn is not None for p in target_network.parameters())}
        _nudge(q_network, 0.25)  # an optimiser step: a shared target would move with it
        copy_facts["target_after_online_moved"] = _flat(target_network)
        target_network, q_network = _net(sizes, seeds[0]), _net(sizes, seeds[1])
        calls = []
        for step in case["steps"]:
            _nudge(q_network, 0.01)
            out = call(ex, maybe_hard_update, target_network, q_network, step, case["every"],
                       shown=f"maybe_hard_update(target_network, q_network, step={step}, "
                             f"every={case['every']})")
            calls.append({"returned": bool(out) if isinstance(out, (bool, np.bool_))
                          else {"type": type(out).__name__},
                          "target": _flat(target_network), "online": _flat(q_network)})
        return {"copy": copy_facts, "calls": calls}

    def judge(self, case, got, expected):
        ex, every, steps = "3.3", case["every"], case["steps"]
        shown = f"hard_update(target_network, q_network) on networks of sizes {case['sizes']}"
        facts, want = got["copy"], expected["copy"]
        if not np.array_equal(facts["online"], want["online"]):
            fail(ex, f"{shown} changed the online network. The copy runs the other way: the "
                     f"target becomes a copy of the online network, which stays as it is.")
        if np.array_equal(facts["target"], case["_target"]):
            fail(ex, f"{shown} {_UNCHANGED}")
        if not np.array_equal(facts["target"], facts["online"]):
            fail(ex, f"after {shown} the target's weights differ from the online network's: "
                     f"copy every parameter exactly (a hard update is tau = 1).")
        if not np.array_equal(facts["target_after_online_moved"], facts["target"]):
            fail(ex, _SHARED)
        if facts["grad_fn"]:
            fail(ex, "the copy was recorded by autograd: do it under torch.no_grad().")
        copied, previous = [], case["_target"]
        for step, call_facts, want in zip(steps, got["calls"], expected["calls"]):
            where = f"maybe_hard_update(..., step={step}, every={every})"
            if not np.array_equal(call_facts["online"], want["online"]):
                fail(ex, f"{where} changed the online network; only the target changes.")
            if np.array_equal(call_facts["target"], call_facts["online"]):
                copied.append(step)
            elif not np.array_equal(call_facts["target"], previous):
                fail(ex, f"{where} changed the target network without making it a copy of the "
                         f"online one.")
            previous = call_facts["target"]
        want_copied = [s for s in steps if s % every == 0]
        problem = (_schedule_problem(copied, want_copied, steps, every)
                   or _returned_problem([c["returned"] for c in got["calls"]],
                                        [s in want_copied for s in steps], steps, every))
        if problem:
            fail(ex, problem)
