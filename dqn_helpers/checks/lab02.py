"""Checks for lab 02: the pieces of DQN on CartPole-v1.

Each check builds small, known inputs (a tiny network with fixed weights, a handful of
transitions), computes the right answer itself, and compares. Where an answer is wrong it also
computes the answers of the usual mistakes, to say which one was made.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from dqn_helpers.checks._core import (
    Scenario,
    call,
    close,
    fail,
    fmt,
    passed,
    register,
    require_gradients,
    scenario,
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


# ---------------------------------------------------------------- 2.1 the Q-network
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
        fail(ex, "the network has no hidden layer: a single linear layer cannot represent "
                 "CartPole's Q-function; use Linear -> ReLU -> Linear (-> ReLU -> Linear).")
    net = QNetwork(4, 2)
    out = net(torch.randn(512, 4) * 3)
    if out.min().item() >= 0:
        fail(ex, "every Q-value came out >= 0 on 512 random inputs: the output layer must be "
                 "linear (no ReLU or other activation after it), since Q-values can be negative.")
    require_gradients(ex, net, out)
    passed(ex, f"{len(linears)} linear layers, output (batch, n_actions)")


# ---------------------------------------------------------------- 2.2 the replay memory
def _transition(i: int, obs_dim: int):
    obs = np.full(obs_dim, float(i), dtype=np.float32)
    return obs, i % 2, float(i), obs + 0.5, i % 3 == 0


@register("2.2")
def check_replay_memory(ReplayMemory) -> None:
    ex = "2.2"
    capacity, obs_dim = 5, 3
    memory = call(ex, ReplayMemory, capacity, obs_dim, shown=f"ReplayMemory({capacity}, {obs_dim})")
    arrays = [v for v in vars(memory).values() if isinstance(v, np.ndarray)]
    if not any(a.shape[:1] == (capacity,) for a in arrays):
        fail(ex, "store transitions in NumPy arrays allocated once in __init__, with one row per "
                 "slot (e.g. np.zeros((capacity, obs_dim), dtype=np.float32)); none with "
                 f"{capacity} rows was found.")
    if len(memory) != 0:
        fail(ex, f"a new memory has len() {len(memory)}, expected 0.")
    for i in range(1, 4):
        call(ex, memory.add, *_transition(i, obs_dim), shown="memory.add(obs, action, reward, "
                                                            "next_obs, terminated)")
    if len(memory) != 3:
        fail(ex, f"after 3 add() calls len(memory) is {len(memory)}, expected 3.")
    np.random.seed(0)
    batch = call(ex, memory.sample, 64, shown="memory.sample(64)")
    if not (isinstance(batch, tuple) and len(batch) == 5):
        fail(ex, "sample() should return a Batch (obs, actions, rewards, next_obs, terminated).")
    expected = [("obs", torch.float32, (64, obs_dim)), ("actions", torch.int64, (64,)),
                ("rewards", torch.float32, (64,)), ("next_obs", torch.float32, (64, obs_dim)),
                ("terminated", torch.float32, (64,))]
    for value, (name, dtype, shape) in zip(batch, expected):
        value = _tensor(ex, value, f"batch.{name}")
        if tuple(value.shape) != shape:
            fail(ex, f"memory.sample(64): {name} has shape {tuple(value.shape)}, expected {shape}.")
        if value.dtype != dtype:
            why = {"actions": " (gather() needs int64 indices)",
                   "terminated": " (so that 1 - terminated is a number)"}.get(name, "")
            fail(ex, f"memory.sample(64): {name} has dtype {value.dtype}, expected {dtype}{why}.")
    obs, actions, rewards, next_obs, terminated = (b.numpy() for b in batch)
    if np.any(rewards == 0):
        fail(ex, "sample() returned a slot that was never filled (all zeros): draw indices "
                 "from 0 to len(self) - 1 only.")
    consistent = (np.all(obs == rewards[:, None]) and np.all(next_obs == obs + 0.5)
                  and np.all(actions == rewards.astype(int) % 2)
                  and np.all(terminated == (rewards.astype(int) % 3 == 0)))
    if not consistent:
        fail(ex, "the fields of one sampled transition do not belong together: use the same "
                 "indices for obs, actions, rewards, next_obs and terminated.")
    for i in range(4, 8):  # 7 transitions into 5 slots: 1 and 2 must be overwritten
        try:
            memory.add(*_transition(i, obs_dim))
        except IndexError:
            fail(ex, f"adding transition {i} to a memory of capacity {capacity} raised "
                     f"IndexError: write at row position % capacity, so that a full memory "
                     f"overwrites its oldest transition.")
    if len(memory) != capacity:
        fail(ex, f"after 7 add() calls into capacity {capacity}, len(memory) is {len(memory)}; "
                 f"expected {capacity}: the memory never grows beyond its capacity.")
    seen = set(memory.sample(500)[2].numpy().astype(int).tolist())  # the rewards: 1..7
    if seen != {3, 4, 5, 6, 7}:
        fail(ex, f"after adding transitions 1..7 to a memory of capacity 5, sampling returned "
                 f"transitions {sorted(seen)}; expected the newest five, [3, 4, 5, 6, 7]. "
                 f"Write at index position % capacity so the oldest are overwritten.")
    big = call(ex, ReplayMemory, 100, 8, shown="ReplayMemory(100, 8)")
    big.add(np.ones(8, np.float32), 3, 1.0, np.ones(8, np.float32), True)
    if tuple(big.sample(2)[0].shape) != (2, 8):
        fail(ex, "ReplayMemory(100, 8).sample(2).obs should have shape (2, 8): use obs_dim.")
    passed(ex, "a ring buffer of preallocated arrays, sampled as batched tensors")


# ---------------------------------------------------------------- 2.3 the epsilon schedule
@register("2.3")
def check_epsilon_at(epsilon_at) -> None:
    ex = "2.3"
    for step, start, end, decay, want in [(0, 1.0, 0.05, 1000, 1.0), (500, 1.0, 0.05, 1000, 0.525),
                                          (1000, 1.0, 0.05, 1000, 0.05),
                                          (250, 0.5, 0.1, 500, 0.3),
                                          (5000, 1.0, 0.05, 1000, 0.05),
                                          (10**6, 0.8, 0.02, 200, 0.02)]:
        shown = f"epsilon_at({step}, start={start}, end={end}, decay_steps={decay})"
        got = call(ex, epsilon_at, step, start, end, decay, shown=shown)
        if not np.isclose(float(got), want):
            hint = ""
            if step > decay:
                hint = (" After decay_steps epsilon must stay at its final value: clamp the "
                        "fraction with min(1, step / decay_steps).")
                if float(got) < end:
                    hint += " (It went below `end`.)"
            fail(ex, f"{shown} returned {fmt(float(got))}, expected {fmt(want)}.{hint}")
    passed(ex, "linear from start to end over decay_steps, then constant")


# ---------------------------------------------------------------- 2.4 epsilon-greedy
class _FixedQ(torch.nn.Module):
    """Q-values [1, 3, 2] for any observation; remembers whether autograd was on."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([1.0, 3.0, 2.0]))
        self.grad_seen = False

    def forward(self, obs):
        obs = torch.as_tensor(obs, dtype=torch.float32)
        self.grad_seen |= torch.is_grad_enabled()
        rows = 1 if obs.dim() == 1 else obs.shape[0]
        out = self.weight.expand(rows, 3) + 0 * obs.reshape(rows, -1).sum(dim=1, keepdim=True)
        return out[0] if obs.dim() == 1 else out


@register("2.4")
def check_select_action(select_action) -> None:
    ex = "2.4"
    net, obs = _FixedQ(), np.array([0.1, -0.2, 0.3, 0.0], dtype=np.float32)

    def draws(epsilon, n, seed=0):
        rng = np.random.default_rng(seed)
        shown = f"select_action(q_network, obs, epsilon={epsilon}, n_actions=3, rng)"
        out = []
        for _ in range(n):
            a = call(ex, select_action, net, obs, epsilon, 3, rng, shown=shown)
            if isinstance(a, torch.Tensor) or not isinstance(a, (int, np.integer)):
                fail(ex, f"{shown} returned {a!r} ({type(a).__name__}); return a plain int "
                         f"(e.g. int(q_values.argmax()) or int(rng.integers(n_actions))).")
            out.append(int(a))
        return np.array(out)

    greedy = draws(0.0, 50)
    if not np.all(greedy == 1):
        fail(ex, f"with epsilon = 0 and Q-values [1, 3, 2] the action must always be 1 (the "
                 f"argmax), got {sorted(set(greedy.tolist()))}.")
    if net.grad_seen:
        fail(ex, "the Q-network ran with autograd on: choosing an action needs no gradients, "
                 "so compute the Q-values inside `with torch.no_grad():` (it is also faster).")
    uniform = draws(1.0, 3000)
    freq = np.bincount(uniform, minlength=3) / len(uniform)
    if np.any(np.abs(freq - 1 / 3) > 0.04):
        fail(ex, f"with epsilon = 1 every action should be random (about 1/3 each), got "
                 f"frequencies {fmt(freq)}.")
    mixed = draws(0.3, 4000)
    greedy_share = np.mean(mixed == 1)
    if abs(greedy_share - 0.8) > 0.035:
        hint = (" A random action is drawn from all actions, the greedy one included."
                if abs(greedy_share - 0.7) < 0.035 else
                " Explore when rng.random() < epsilon (not the other way round)."
                if greedy_share < 0.5 else "")
        fail(ex, f"with epsilon = 0.3 the greedy action should come up about 0.7 + 0.3/3 = 80% "
                 f"of the time, got {greedy_share:.0%}.{hint}")
    if not np.array_equal(draws(0.5, 200, seed=7), draws(0.5, 200, seed=7)):
        fail(ex, "the same seeded rng gave different actions: draw the random numbers from the "
                 "rng argument, not from np.random or random.")
    passed(ex, "greedy with probability 1 - epsilon, uniformly random otherwise")


# ---------------------------------------------------------------- 2.5 the TD target
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
    if not torch.allclose(got, want, atol=1e-5):
        candidates = {
            "no terminal mask": rewards + gamma * next_q.max(dim=1).values,
            "mask inverted": rewards + gamma * terminated * next_q.max(dim=1).values,
            "no gamma": rewards + (1 - terminated) * next_q.max(dim=1).values,
            "mean": rewards + gamma * (1 - terminated) * next_q.mean(dim=1),
        }
        hints = {
            "no terminal mask": "after a terminal transition there is no future: the target is "
                                "just r. Multiply the bootstrap term by (1 - terminated).",
            "mask inverted": "the mask is inverted: bootstrap when terminated is 0, i.e. multiply "
                             "by (1 - terminated), not by terminated.",
            "no gamma": "the bootstrap term must be discounted by gamma.",
            "mean": "take the max over next actions (the greedy value), not the mean.",
        }
        hint = next((hints[k] for k, v in candidates.items() if torch.allclose(got, v, atol=1e-5)),
                    "y = r + gamma * (1 - terminated) * max_a' Q_target(s', a').")
        fail(ex, f"{shown} with terminated = {terminated.tolist()} returned {fmt(got.numpy())}, "
                 f"expected {fmt(want.numpy())}. {hint}")
    passed(ex, "y = r + gamma * (1 - terminated) * max_a' Q_target(s', a')")


@scenario("2.5")
class TdTargetScenario(Scenario):
    """Other sizes, discounts and terminal patterns (all, none, some) than the check's."""

    def cases(self, ref):
        out = []
        for seed, (n, obs_dim, n_actions), gamma, pattern in [
                (2005, (9, 5, 3), 0.95, "some"), (2015, (4, 2, 5), 0.5, "all"),
                (2025, (1, 3, 2), 0.99, "none"), (2035, (12, 4, 2), 0.0, "some")]:
            g = torch.Generator().manual_seed(seed)
            rewards = torch.randn(n, generator=g) * 2
            next_obs = torch.randn(n, obs_dim, generator=g)
            terminated = {"all": torch.ones(n), "none": torch.zeros(n),
                          "some": (torch.rand(n, generator=g) < 0.4).float()}[pattern]
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
            r, d, next_q, gamma = case["rewards"], case["terminated"], case["_next_q"], case["gamma"]
            candidates = {
                "after a terminal transition the target is just r: multiply the bootstrap "
                "term by (1 - terminated).": r + gamma * next_q.max(axis=1),
                "the mask is inverted: multiply by (1 - terminated), not by terminated.":
                    r + gamma * d * next_q.max(axis=1),
                "the bootstrap term must be discounted by gamma.":
                    r + (1 - d) * next_q.max(axis=1),
                "take the max over next actions, not the mean.":
                    r + gamma * (1 - d) * next_q.mean(axis=1)}
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
        q_dim0 = q_all.gather(0, actions.unsqueeze(1).expand(-1, q_all.shape[1]))[:, 0]
        q_dim0b = q_all.gather(0, actions.unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss
        fix_gather = ("gather() picked along dim 0 (the batch); pick each transition's action "
                      "along dim 1: q_values.gather(1, actions.unsqueeze(1)).squeeze(1).")
        return {
            "online": (loss(q, y_online).item(),
                       "the target bootstrapped from the online network; use target_network "
                       "for max_a' Q(s', a') (that is what steadies the target)."),
            "dim0": (loss(q_dim0, y).item(), fix_gather),
            "dim0b": (loss(q_dim0b, y).item(), fix_gather),
            "broadcast": (loss(q.unsqueeze(1).expand(-1, len(y)), y.unsqueeze(0).expand(len(y), -1)).item(),
                          "the predicted Q-values have shape (B, 1) and the targets (B,), so the "
                          "loss broadcast them to (B, B): squeeze(1) the gathered Q-values."),
            "mse": (F.mse_loss(q, y).item(),
                    "that is the mean squared error; this lab uses the Huber loss of eq. 2, "
                    "F.smooth_l1_loss."),
            "sum": (loss(q, y, reduction="sum").item(),
                    "average the losses over the batch (F.smooth_l1_loss does), not sum them."),
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


@register("2.6")
def check_learn_step(learn_step) -> None:
    ex = "2.6"
    gamma, lr = 0.9, 0.05
    q_network, target_network = small_net(seed=0), small_net(seed=5)
    batch = _batch()
    start_target = copy.deepcopy(target_network.state_dict())
    start_q = copy.deepcopy(q_network)
    expected_net, expected_losses = _reference_step(q_network, target_network, batch, gamma, lr, steps=2)
    opt = torch.optim.SGD(q_network.parameters(), lr=lr)
    shown = "learn_step(q_network, target_network, optimizer, batch, gamma=0.9)"
    loss = call(ex, learn_step, q_network, target_network, opt, batch, gamma, shown=shown)
    loss = check_loss_and_target(ex, loss, shown, target_network, start_target)
    if not np.isclose(loss, expected_losses[0], rtol=1e-4):
        variants = _loss_variants(start_q, target_network, batch, gamma)
        hint = next((h for v, h in variants.values() if np.isclose(loss, v, rtol=1e-4)),
                    "loss = F.smooth_l1_loss(Q(s, a), y), with Q(s, a) of shape (B,) and y "
                    "from td_target.")
        fail(ex, f"on a batch of 6 transitions the loss was {fmt(float(loss))}, expected "
                 f"{fmt(expected_losses[0])}: {hint}")
    if all(torch.equal(a, b) for a, b in zip(q_network.parameters(), start_q.parameters())):
        fail(ex, "the Q-network's weights did not change: call loss.backward() and then "
                 "optimizer.step().")
    call(ex, learn_step, q_network, target_network, opt, batch, gamma, shown=shown)

    def same(net):
        return all(torch.allclose(a, b, atol=1e-5) for a, b in zip(q_network.parameters(),
                                                                    net.parameters()))
    if not same(expected_net):
        piled_up, _ = _reference_step(start_q, target_network, batch, gamma, lr, 2, zero_grad=False)
        fail(ex, "after two learning steps with SGD the weights differ from two correct steps"
                 + (": call optimizer.zero_grad() before loss.backward(), otherwise gradients "
                    "pile up from one step to the next." if same(piled_up) else
                    ". Only loss.backward() and optimizer.step() should change the weights."))
    passed(ex, "Huber loss between Q(s, a) and the TD target; only the online network learns")


# ---------------------------------------------------------------- 2.7 the soft update
@register("2.7")
def check_soft_update(soft_update) -> None:
    ex = "2.7"
    target_network, q_network = small_net(seed=1), small_net(seed=2)
    old_target = [p.detach().clone() for p in target_network.parameters()]
    old_q = [p.detach().clone() for p in q_network.parameters()]
    tau = 0.1
    shown = f"soft_update(target_network, q_network, tau={tau})"
    call(ex, soft_update, target_network, q_network, tau, shown=shown)
    if not all(torch.equal(a, b) for a, b in zip(q_network.parameters(), old_q)):
        fail(ex, f"{shown} changed the online network. The update runs the other way: the "
                 f"target moves towards the online network, which stays as it is.")
    new = list(target_network.parameters())
    if all(torch.equal(a, b) for a, b in zip(new, old_target)):
        fail(ex, f"{shown} left the target network unchanged: update its parameters in place "
                 f"(target_param.data.copy_(...), or target_param.lerp_(param, tau) under "
                 f"torch.no_grad()); assigning to the loop variable changes nothing.")
    want = [tau * q + (1 - tau) * t for q, t in zip(old_q, old_target)]
    if not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(new, want)):
        swapped = [(1 - tau) * q + tau * t for q, t in zip(old_q, old_target)]
        hint = (" tau and 1 - tau are swapped: the target keeps (1 - tau) of itself and takes "
                "tau of the online network." if all(torch.allclose(a, b, atol=1e-6)
                                                     for a, b in zip(new, swapped))
                else " theta_target <- tau * theta + (1 - tau) * theta_target.")
        fail(ex, f"after {shown} the target's weights are not 0.1 * online + 0.9 * old target."
                 + hint)
    if any(p.grad_fn is not None for p in new):
        fail(ex, "the update was recorded by autograd: do it under torch.no_grad().")
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


def _same(a, b) -> bool:
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
    if not _same(events[kinds.index("step")][1], case["actions"][k]):
        fail(ex, f"{at} env.step got action {fmt(events[kinds.index('step')][1])}, not the "
                 f"action passed in ({case['actions'][k]}).")
    if kinds.count("add") != 1:
        fail(ex, f"{at} play_step called memory.add {kinds.count('add')} times: store each "
                 "transition once, memory.add(obs, action, reward, next_obs, terminated).")
    _, obs, action, reward, next_obs, flag = events[kinds.index("add")]
    if not _same(obs, _obs_at(case, k)):
        hint = (" That is next_obs: store the observation the action was taken in, obs."
                if _same(obs, case["step_obs"][k]) else "")
        fail(ex, f"{at} the stored obs is {fmt(obs)}, not the obs passed in, "
                 f"{fmt(_obs_at(case, k))}.{hint}")
    if not (_same(action, case["actions"][k]) and _same(reward, script[k][0])):
        fail(ex, f"{at} the stored action and reward are {fmt(action)} and {fmt(reward)}; "
                 f"expected the action passed in ({case['actions'][k]}) and the reward "
                 f"env.step returned ({script[k][0]}).")
    if not _same(next_obs, case["step_obs"][k]):
        if _same(next_obs, case["reset_obs"][k + 1]):
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
    if not _same(obs, _obs_at(case, k + 1)):
        hint = (" env.reset() returns two values, (obs, info): unpack them, next_obs, _ = "
                "env.reset()." if isinstance(obs, str) and obs == "<tuple>" else
                " The episode ended and you reset the env, but returned the finished episode's "
                "last observation: return the one env.reset() gave, so that the agent acts in "
                "the new episode." if over and _same(obs, case["step_obs"][k]) else
                " That is the obs passed in: return next_obs, so that the agent moves on."
                if _same(obs, _obs_at(case, k)) else "")
        fail(ex, f"{at} play_step returned obs {_shown(obs)}, expected "
                 f"{fmt(_obs_at(case, k + 1))}.{hint}")
    if not _same(reward, script[k][0]):
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
    return _same(a, b)
