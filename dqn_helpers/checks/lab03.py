"""Checks for lab 03: the Huber loss, the clipped learning step and the hard target update.

As in lab 02, each check builds small, known inputs, computes the right answer itself, and
compares; where an answer is wrong it computes the answers of the usual mistakes, to say which
one was made. The learning step is checked with plain SGD, where a step is ``-lr * gradient``:
the length of the step shows whether, and how, the gradient was clipped.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F

from dqn_helpers.checks._core import call, fail, fmt, passed, register
from dqn_helpers.checks.lab02 import (
    _batch,
    _loss_variants,
    _tensor,
    check_loss_and_target,
    small_net,
)

# ---------------------------------------------------------------- 3.1 the Huber loss
_X = torch.tensor([-3.0, -1.5, -1.0, -0.4, 0.0, 0.3, 0.8, 1.0, 1.7, 2.5])


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
        "smooth l1": (F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none", beta=delta),
                      "that is smooth L1 with beta = delta (x**2 / (2 * delta) inside, "
                      "|x| - delta / 2 outside), whose slope is at most 1. The Huber loss of "
                      "eq. 1 is x**2 / 2 inside and delta * (|x| - delta / 2) outside."),
        "swapped": (torch.where(inside, delta * (a - 0.5 * delta), 0.5 * x**2),
                    "the branches are swapped: the quadratic one is for |x| <= delta."),
    }


@register("3.1")
def check_huber(huber) -> None:
    ex = "3.1"
    for delta in (1.0, 2.0, 0.5):
        x = _X.clone()
        shown = f"huber(x, delta={delta}) with x = {x.tolist()}"
        got = _tensor(ex, call(ex, huber, x, delta, shown=shown), f"huber(x, delta={delta})")
        if not torch.equal(x, _X):
            fail(ex, f"{shown} changed x in place; compute a new tensor.")
        if tuple(got.shape) != tuple(x.shape):
            hint = (" Return one loss per element; the learning step takes the mean."
                    if got.dim() == 0 else "")
            fail(ex, f"{shown} returned shape {tuple(got.shape)}, expected {tuple(x.shape)}: "
                     f"the loss is elementwise.{hint}")
        want = _huber(x, delta)
        got = got.detach().float()
        if not torch.allclose(got, want, atol=1e-5):
            hint = next((h for v, h in _huber_variants(x, delta).values()
                         if torch.allclose(got, v, atol=1e-5)),
                        "0.5 * x**2 where |x| <= delta, delta * (|x| - 0.5 * delta) elsewhere.")
            fail(ex, f"{shown} returned {fmt(got.numpy())}, expected {fmt(want.numpy())}: {hint}")
    x = torch.tensor([[-2.0, -0.5, 0.25], [0.9, 1.5, -1.2]], requires_grad=True)
    out = call(ex, huber, x, 1.0, shown="huber(x) on a (2, 3) tensor")
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        fail(ex, "huber(x) of a tensor that requires grad returned something autograd cannot "
                 "differentiate: use torch operations (torch.where, x.abs(), x**2), not NumPy "
                 "or Python floats.")
    if tuple(out.shape) != (2, 3):
        fail(ex, f"huber(x) of a (2, 3) tensor returned shape {tuple(out.shape)}: keep the shape.")
    out.sum().backward()
    if not torch.allclose(x.grad, x.detach().clamp(-1.0, 1.0), atol=1e-5):
        fail(ex, f"the gradient of huber(x).sum() is {fmt(x.grad.numpy())}, expected x clipped "
                 f"to [-1, 1]: {fmt(x.detach().clamp(-1, 1).numpy())}.")
    passed(ex, "x**2 / 2 inside [-delta, delta], delta * (|x| - delta / 2) outside; the "
               "gradient is x clipped to [-delta, delta]")


# ---------------------------------------------------------------- 3.2 the clipped learning step
def _flat(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _grads(q_network, target_network, batch, gamma) -> list[torch.Tensor]:
    """The gradient of the mean Huber loss at q_network's current weights, one tensor per param."""
    net = copy.deepcopy(q_network)
    obs, actions, rewards, next_obs, terminated = batch
    with torch.no_grad():
        y = rewards + gamma * (1 - terminated) * target_network(next_obs).max(dim=1).values
    q = net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    F.smooth_l1_loss(q, y).backward()
    return [p.grad.detach().clone() for p in net.parameters()]


def _clip(grads: list[torch.Tensor], how: str, max_norm: float) -> list[torch.Tensor]:
    if how == "none":
        return grads
    if how == "norm":
        total = torch.sqrt(sum((g**2).sum() for g in grads))
        scale = min(1.0, max_norm / (float(total) + 1e-6))  # as clip_grad_norm_ computes it
        return [g * scale for g in grads]
    if how == "value":
        return [g.clamp(-max_norm, max_norm) for g in grads]
    if how == "per tensor":
        return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]
    if how == "always rescale":
        total = torch.sqrt(sum((g**2).sum() for g in grads))
        return [g * max_norm / float(total) for g in grads]
    raise ValueError(how)


def _sgd_step(q_network, grads, lr) -> torch.Tensor:
    """The flat weights after one SGD step with these gradients."""
    return _flat(q_network) - lr * torch.cat([g.reshape(-1) for g in grads])


@register("3.2")
def check_learn_step_clipped(learn_step) -> None:
    ex = "3.2"
    gamma, lr = 0.9, 0.1
    q_network, target_network = small_net(seed=0), small_net(seed=5)
    batch = _batch()
    grads = _grads(q_network, target_network, batch, gamma)
    norm = float(torch.sqrt(sum((g**2).sum() for g in grads)))
    max_norm = float(f"{norm / 20:.3g}")  # far below the gradient's norm: clipping must act
    start_target = copy.deepcopy(target_network.state_dict())
    start_q = copy.deepcopy(q_network)
    opt = torch.optim.SGD(q_network.parameters(), lr=lr)
    shown = (f"learn_step(q_network, target_network, optimizer, batch, gamma={gamma}, "
             f"max_grad_norm={max_norm})")
    loss = call(ex, learn_step, q_network, target_network, opt, batch, gamma, max_norm, shown=shown)
    loss = check_loss_and_target(ex, loss, shown, target_network, start_target)
    with torch.no_grad():
        y = batch.rewards + gamma * (1 - batch.terminated) * target_network(batch.next_obs).max(1).values
        q = start_q(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        expected_loss = F.smooth_l1_loss(q, y).item()
    if not np.isclose(loss, expected_loss, rtol=1e-4):
        want_loss = _loss_variants(start_q, target_network, batch, gamma)
        want_loss["mse"] = (want_loss["mse"][0], "that is the mean squared error: use your "
                            "huber() of the TD errors, averaged over the batch.")
        want_loss["sum"] = (want_loss["sum"][0], "average the Huber losses over the batch "
                            "(.mean()), do not sum them.")
        hint = next((h for v, h in want_loss.values() if np.isclose(loss, v, rtol=1e-4)),
                    "loss = huber(Q(s, a) - y).mean(), with Q(s, a) of shape (B,) and y from "
                    "td_target.")
        fail(ex, f"on a batch of 6 transitions the loss was {fmt(float(loss))}, expected "
                 f"{fmt(expected_loss)}: {hint}")
    after = _flat(q_network)
    if torch.equal(after, _flat(start_q)):
        fail(ex, "the Q-network's weights did not change: call loss.backward() and then "
                 "optimizer.step().")
    expected = _sgd_step(start_q, _clip(grads, "norm", max_norm), lr)
    if not torch.allclose(after, expected, atol=1e-6):
        step_norm = float((after - _flat(start_q)).norm()) / lr
        left = [p.grad for p in q_network.parameters() if p.grad is not None]
        left_norm = float(torch.sqrt(sum((g**2).sum() for g in left))) if left else 0.0
        situation = (f"The gradient's norm was {norm:.4g} and max_grad_norm {max_norm:.4g}, so "
                     f"the SGD step (lr = {lr}) should have length lr * {max_norm:.4g}; "
                     f"yours had length lr * {step_norm:.4g}.")
        for how, hint in [
            ("none", "the step was not clipped. Call torch.nn.utils.clip_grad_norm_("
                     "q_network.parameters(), max_grad_norm) after loss.backward() and before "
                     "optimizer.step(): clipping before backward() (or the target network's "
                     "gradients) has no effect."),
            ("value", "that clips each gradient element to [-max_grad_norm, max_grad_norm] "
                      "(clip_grad_value_). Clip the norm of all the gradients together: "
                      "clip_grad_norm_."),
            ("per tensor", "each parameter tensor was clipped on its own. Clip the norm of all "
                           "the gradients together: pass q_network.parameters() to "
                           "clip_grad_norm_ once."),
        ]:
            if torch.allclose(after, _sgd_step(start_q, _clip(grads, how, max_norm), lr),
                              atol=1e-6):
                if how == "none" and np.isclose(left_norm, max_norm, rtol=1e-3):
                    hint = ("the gradients were clipped after optimizer.step(), too late to "
                            "change the step: clip between loss.backward() and optimizer.step().")
                fail(ex, f"{situation} {hint}")
        fail(ex, f"{situation} Clip with torch.nn.utils.clip_grad_norm_(q_network.parameters(), "
                 f"max_grad_norm), using the max_grad_norm argument, between loss.backward() and "
                 f"optimizer.step().")
    # a second call: does the step use max_grad_norm, and are gradients zeroed in between?
    big = float(f"{norm * 10:.3g}")  # far above the norm: clipping must leave the step alone
    before = copy.deepcopy(q_network)
    call(ex, learn_step, q_network, target_network, opt, batch, gamma, big,
         shown=f"learn_step(..., max_grad_norm={big}) (a second call)")
    grads2 = _grads(before, target_network, batch, gamma)
    expected = _sgd_step(before, grads2, lr)
    if not torch.allclose(_flat(q_network), expected, atol=1e-6):
        piled = [a + b for a, b in zip(grads2, _clip(grads, "norm", max_norm))]
        if torch.allclose(_flat(q_network), _sgd_step(before, _clip(piled, "norm", big), lr),
                          atol=1e-6):
            fail(ex, "the second learning step used the first step's gradients too: call "
                     "optimizer.zero_grad() before loss.backward(), otherwise gradients pile "
                     "up from one step to the next.")
        if torch.allclose(_flat(q_network), _sgd_step(before, _clip(grads2, "always rescale", big),
                                                  lr), atol=1e-6):
            fail(ex, f"with max_grad_norm = {big}, above the gradient's norm, the gradient "
                     f"was scaled up to that norm: clipping only ever shrinks a gradient "
                     f"(clip_grad_norm_ leaves small ones alone).")
        fail(ex, f"with max_grad_norm = {big}, above the gradient's norm, the step should be "
                 f"the plain SGD step, unclipped; it was not. Use the max_grad_norm argument "
                 f"(not a fixed number) in clip_grad_norm_.")
    passed(ex, "Huber loss, gradient norm clipped between backward() and step(); only the "
               "online network learns")


# ---------------------------------------------------------------- 3.3 the hard update
def _equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def _nudge(net: torch.nn.Module, amount: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.add_(amount)


@register("3.3")
def check_hard_update(hard_update, maybe_hard_update) -> None:
    ex = "3.3"
    target_network, q_network = small_net(seed=1), small_net(seed=2)
    old_q = copy.deepcopy(q_network)
    old_target = copy.deepcopy(target_network)
    shown = "hard_update(target_network, q_network)"
    call(ex, hard_update, target_network, q_network, shown=shown)
    if not _equal(q_network, old_q):
        fail(ex, f"{shown} changed the online network. The copy runs the other way: the "
                 f"target becomes a copy of the online network, which stays as it is.")
    if _equal(target_network, old_target):
        fail(ex, f"{shown} left the target network unchanged: copy into it in place "
                 f"(target_network.load_state_dict(q_network.state_dict())). Assigning "
                 f"target_network = ... inside the function only rebinds a local name.")
    if not _equal(target_network, q_network):
        fail(ex, f"after {shown} the target's weights differ from the online network's: "
                 f"copy every parameter exactly (a hard update is tau = 1).")
    shared = any(a is b or a.data_ptr() == b.data_ptr()
                 for a, b in zip(target_network.parameters(), q_network.parameters()))
    _nudge(q_network, 0.25)  # what an optimiser step does to the online network
    if shared or _equal(target_network, q_network):
        fail(ex, "after the copy the target network shares its weights with the online "
                 "network (as with target_param.data = param.data): changing the online "
                 "network changed the target too. Copy the values: load_state_dict(...) or "
                 "target_param.copy_(param) under torch.no_grad().")
    if any(p.grad_fn is not None for p in target_network.parameters()):
        fail(ex, "the copy was recorded by autograd: do it under torch.no_grad().")

    for every in (4, 3):
        target_network, q_network = small_net(seed=1), small_net(seed=2)
        copied, returned = [], []
        steps = list(range(1, 3 * every + 1))
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
        if copied != want:
            if copied == steps:
                hint = "it copied at every step: copy only when step % every == 0."
            elif not copied:
                hint = "it never copied: call hard_update(target_network, q_network) when " \
                       "step % every == 0."
            elif len(copied) == len(want):
                hint = "the copies are off by one: copy when step % every == 0 (step counts " \
                       "the gradient steps taken, 1 after the first)."
            else:
                hint = "copy when step % every == 0, and only then."
            fail(ex, f"over steps 1..{steps[-1]} with every = {every}, maybe_hard_update copied "
                     f"at steps {copied}, expected {want}: {hint}")
        bad = [(s, r) for s, r in zip(steps, returned)
               if not isinstance(r, (bool, np.bool_)) or bool(r) != (s in want)]
        if bad:
            step, value = bad[0]
            fail(ex, f"maybe_hard_update(..., step={step}, every={every}) returned {value!r}; "
                     f"return True when it copied and False when it did not.")
    passed(ex, "a real copy, every `every` gradient steps and never in between")
