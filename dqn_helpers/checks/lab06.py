"""Checks for lab 06: Double DQN, the dueling network, the sum tree, prioritized replay, and the
learning step that uses all three.

As in labs 02 and 03, each check builds small, known inputs, computes the right answer itself,
and compares; where an answer is wrong it computes the answers of the usual mistakes, to say
which one was made. The two networks of the Double DQN checks are chosen so that their greedy
actions disagree on every transition: there, and only there, Double DQN differs from DQN.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from dqn_helpers.checks._core import call, fail, fmt, passed, register, require_gradients
from dqn_helpers.checks.lab02 import _batch, _tensor, check_loss_and_target, small_net

ONLINE_SEED, TARGET_SEED = 3, 1  # small_net(3, 3, seed): greedy actions differ on all of _batch()


def _double_nets():
    return small_net(3, 3, seed=ONLINE_SEED), small_net(3, 3, seed=TARGET_SEED)


def _targets(rewards, next_obs, terminated, q_network, target_network, gamma) -> dict[str, torch.Tensor]:
    """The right Double DQN target ("double") and the targets of the usual mistakes."""
    with torch.no_grad():
        q_next, t_next = q_network(next_obs), target_network(next_obs)
    online_choice = q_next.argmax(dim=1, keepdim=True)
    target_choice = t_next.argmax(dim=1, keepdim=True)
    double = t_next.gather(1, online_choice).squeeze(1)
    mask = 1 - terminated
    return {
        "double": rewards + gamma * mask * double,
        "vanilla": rewards + gamma * mask * t_next.max(dim=1).values,
        "online": rewards + gamma * mask * q_next.max(dim=1).values,
        "swapped": rewards + gamma * mask * q_next.gather(1, target_choice).squeeze(1),
        "no mask": rewards + gamma * double,
        "mask inverted": rewards + gamma * terminated * double,
        "no gamma": rewards + mask * double,
    }


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


def _grads_or_changes(ex: str, nets: dict, before: dict) -> None:
    for name, net in nets.items():
        if any(p.grad is not None for p in net.parameters()):
            fail(ex, f"gradients reached the {name} network: compute the target inside "
                     f"`with torch.no_grad():`; it is a fixed label.")
        if any(not torch.equal(before[name][k], v) for k, v in net.state_dict().items()):
            fail(ex, f"the {name} network's weights changed: computing a target must not "
                     f"modify either network.")


# ---------------------------------------------------------------- 6.1 the Double DQN target
@register("6.1")
def check_double_td_target(double_td_target) -> None:
    ex = "6.1"
    q_network, target_network = _double_nets()
    before = {"online": copy.deepcopy(q_network.state_dict()),
              "target": copy.deepcopy(target_network.state_dict())}
    _, _, rewards, next_obs, terminated = _batch()
    gamma = 0.9
    shown = ("double_td_target(rewards, next_obs, terminated, q_network, target_network, "
             "gamma=0.9) on 6 transitions")
    got = _tensor(ex, call(ex, double_td_target, rewards.clone(), next_obs.clone(),
                           terminated.clone(), q_network, target_network, gamma, shown=shown),
                  "the Double DQN target")
    if tuple(got.shape) != (6,):
        hint = (" gather(...) gives shape (B, 1): squeeze(1) it." if tuple(got.shape) in
                ((6, 1), (6, 6)) else "")
        fail(ex, f"{shown} returned shape {tuple(got.shape)}, expected (6,): one target per "
                 f"transition.{hint}")
    if got.requires_grad:
        fail(ex, "the target carries gradients: compute it inside `with torch.no_grad():`. "
                 "The target is a fixed label, not something to train.")
    _grads_or_changes(ex, {"online": q_network, "target": target_network}, before)
    want = _targets(rewards, next_obs, terminated, q_network, target_network, gamma)
    if not torch.allclose(got, want["double"], atol=1e-5):
        hint = next((_TARGET_HINTS[k] for k, v in want.items()
                     if k != "double" and torch.allclose(got, v, atol=1e-5)),
                    "y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q_online(s', a')).")
        fail(ex, f"{shown} with terminated = {terminated.tolist()} returned "
                 f"{fmt(got.numpy())}, expected {fmt(want['double'].numpy())}: {hint}")
    passed(ex, "the online network chooses a', the target network evaluates it")


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


def _dueling_variants(v, a):
    batch, n = a.shape
    variants = {
        "no mean": (v + a, "Q = V + A, without subtracting the mean advantage. Then V and A "
                           "are not identifiable (V + c and A - c give the same Q); subtract "
                           "advantage.mean(dim=1, keepdim=True)."),
        "max": (v + a - a.max(dim=1, keepdim=True).values,
                "you subtracted the max advantage (the paper's first form); this lab uses the "
                "mean over the actions: advantage.mean(dim=1, keepdim=True)."),
        "batch mean": (v + a - a.mean(dim=0, keepdim=True),
                       "the mean was taken over the batch (dim=0): take it over the actions of "
                       "each observation, dim=1, with keepdim=True."),
        "global mean": (v + a - a.mean(),
                        "the mean was taken over the whole batch and every action: take it over "
                        "the actions of each observation, advantage.mean(dim=1, keepdim=True)."),
        "relu": (F.relu(v) + F.relu(a) - F.relu(a).mean(dim=1, keepdim=True),
                 "the value and advantage streams end with an activation: their last Linear "
                 "layers must be linear (Q-values, V and A can be negative)."),
        "no value": (a - a.mean(dim=1, keepdim=True),
                     "the value stream V(s) is missing from Q: Q = V + A - mean(A)."),
    }
    if batch == n:  # (B, n) - (B,) broadcasts only when B == n, silently wrong
        variants["no keepdim"] = (v + a - a.mean(dim=1)[None, :],
                                  "advantage.mean(dim=1) without keepdim=True has shape (B,), "
                                  "which broadcasts against (B, n_actions) along the wrong "
                                  "axis: use keepdim=True, shape (B, 1).")
    return variants


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
            fail(ex, f"{shown} has no value stream: it needs a Linear layer with a single "
                     f"output, V(s).")
        if advantage_head is None or advantage_head is value_head:
            fail(ex, f"{shown} has no advantage stream: it needs a Linear layer with n_actions "
                     f"= {n_actions} outputs, A(s, a).")
        if not any(m.out_features in (hidden, hidden // 2) for m in net.modules()
                   if isinstance(m, torch.nn.Linear)):
            fail(ex, f"{shown} has no layer of {hidden} or {hidden // 2} units: use the hidden "
                     f"argument for the layers' widths.")
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
            hint = next((h for w, h in _dueling_variants(v, a).values()
                         if w.shape == out.shape and torch.allclose(out.detach(), w, atol=1e-5)),
                        "Q = V + A - A.mean(dim=1, keepdim=True), with V and A the outputs of "
                        "the value and advantage streams' last Linear layers.")
            fail(ex, f"on a batch of {batch} observations, {shown} returned Q-values that are "
                     f"not V + A - mean(A): {hint}")
    with torch.no_grad():  # identifiability: shifting every advantage must not change Q
        advantage_head.bias.add_(5.0)
        shifted, _, _ = _streams(net, value_head, advantage_head, x)
        advantage_head.bias.sub_(5.0)
        value_head.bias.add_(5.0)
        raised, _, _ = _streams(net, value_head, advantage_head, x)
        value_head.bias.sub_(5.0)
    if not torch.allclose(shifted, out, atol=1e-4):
        fail(ex, "adding 5 to every advantage changed the Q-values: Q = V + A - mean(A) must "
                 "not change when A moves by a constant (that is why the mean is subtracted).")
    if not torch.allclose(raised, out + 5.0, atol=1e-4):
        fail(ex, "adding 5 to V(s) should raise every Q-value by exactly 5.")
    require_gradients(ex, net, out)
    passed(ex, "a shared body, a value stream and an advantage stream, Q = V + A - mean_a A")


# ---------------------------------------------------------------- 6.3 the sum tree
_PRIORITIES = np.array([1.0, 0.0, 2.0, 3.0, 4.0])  # cumulative sums 1, 1, 3, 6, 10


def _tree_array(ex: str, tree) -> np.ndarray:
    arr = getattr(tree, "tree", None)
    if not isinstance(arr, np.ndarray) or arr.shape != (2 * tree.size,):
        fail(ex, "keep the tree in the array self.tree of 2 * self.size numbers made in "
                 "__init__ (node 1 is the root, the leaf of slot j is node size + j).")
    return arr


def _check_sums(ex: str, tree, leaves: np.ndarray, what: str) -> None:
    """Leaves hold `leaves` (padded with 0) and every inner node is the sum of its children."""
    arr = _tree_array(ex, tree)
    size = tree.size
    expected = np.zeros(size)
    expected[:len(leaves)] = leaves
    if not np.allclose(arr[size:], expected):
        if np.allclose(arr[size:], 0.0) and arr[:size].any():
            fail(ex, f"{what}: the priorities were written at nodes 0.. (or 1..), which are the "
                     f"root and inner nodes. The leaf of slot j is node self.size + j.")
        fail(ex, f"{what}: the leaves (tree[size:]) are {fmt(arr[size:])}, expected "
                 f"{fmt(expected)}. Write each priority at node self.size + slot, replacing "
                 f"the old one (=, not +=).")
    if not np.isclose(tree.total, leaves.sum()):
        hint = (" The root never changed: after writing the leaves, walk up recomputing each "
                "parent, all the way to node 1." if np.isclose(arr[1], 0.0) else "")
        fail(ex, f"{what}: total is {fmt(float(tree.total))}, expected the sum of the "
                 f"priorities, {fmt(float(leaves.sum()))}.{hint}")
    inner = np.arange(1, size)
    wrong = inner[~np.isclose(arr[inner], arr[2 * inner] + arr[2 * inner + 1])]
    if len(wrong):
        node = int(wrong[0])
        fail(ex, f"{what}: node {node} holds {fmt(float(arr[node]))} but its children "
                 f"{2 * node} and {2 * node + 1} sum to "
                 f"{fmt(float(arr[2 * node] + arr[2 * node + 1]))}. Recompute every ancestor "
                 f"of an updated leaf as tree[2i] + tree[2i + 1], level by level up to the root.")


def _find_expected(priorities: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(priorities), values, side="right")


def _find(ex: str, tree, values, shown: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    given = values.copy()
    got = call(ex, tree.find, values, shown=shown)
    if not np.array_equal(values, given):
        fail(ex, f"{shown} changed the caller's array of values: work on a copy "
                 f"(np.array(values, dtype=np.float64)).")
    got = np.asarray(got)
    if got.shape != values.shape:
        fail(ex, f"{shown} returned shape {got.shape}, expected {values.shape}: one slot per "
                 f"value.")
    if not np.issubdtype(got.dtype, np.integer):
        fail(ex, f"{shown} returned {got.dtype} numbers; slots index arrays: return integers "
                 f"(nodes - self.size of an int64 array).")
    return got


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


def _check_log_time(ex: str, SumTree) -> None:
    """Find and update on 64 slots must not grow with the capacity (O(log n), not O(n))."""
    rng = np.random.default_rng(0)
    times = {capacity: _times(SumTree, capacity, rng) for capacity in (2**6, 2**20)}
    for k, what in enumerate(("update", "find")):
        small, big = times[2**6][k], times[2**20][k]
        if big > 1e-3 and big > 10 * small:
            fail(ex, f"{what} of 64 slots took {1e3 * small:.2f} ms with capacity 2**6 and "
                     f"{1e3 * big:.2f} ms with capacity 2**20: it grows with the capacity, as "
                     f"if it visited every leaf (a cumulative sum, or rebuilding the tree). "
                     f"Walk only the path between the root and each leaf: self.depth steps.")


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
        hint = what
        leaves_right = np.allclose(_tree_array(ex, tree)[tree.size:tree.size + 5], leaves)
        if "share a parent" in what and leaves_right and not np.isclose(tree.total,
                                                                         leaves.sum()):
            fail(ex, f"after {what}, total is {fmt(float(tree.total))}, expected "
                     f"{fmt(float(leaves.sum()))}. Adding each change to the parents with "
                     f"tree[parents] += delta counts a parent once even when two of its "
                     f"children changed (NumPy applies += once per distinct index): recompute "
                     f"each parent as tree[2i] + tree[2i + 1] instead.")
        _check_sums(ex, tree, leaves, f"after {hint}")
    call(ex, tree.update, [1], [0.0], shown="tree.update([1], [0.0]) (lists, as add() calls it)")
    leaves[1] = 0.0
    _check_sums(ex, tree, leaves, "after update([1], [0.0])")

    # find at the start: the first slots have priority 0 and must be skipped
    edge = SumTree(4)
    edge.update(np.arange(4), np.array([0.0, 0.0, 3.0, 1.0]))
    got = _find(ex, edge, np.array([0.0, 2.9, 3.0]), "find([0.0, 2.9, 3.0])")
    if not np.array_equal(got, [2, 2, 3]):
        hint = ("node numbers: return nodes - self.size" if np.all(got >= edge.size) else
                "slots 0 and 1 have priority 0 and must never be drawn. At each node, go right "
                "when v >= the left sum (not >): with v = 0 and an empty left subtree, go right."
                if np.any(got < 2) else
                "when going right, subtract the left sum from v (v is then measured from the "
                "start of the right subtree); go right when v >= the left sum.")
        fail(ex, f"with priorities [0, 0, 3, 1], find([0.0, 2.9, 3.0]) returned {got.tolist()}, "
                 f"expected [2, 2, 3]: {hint}")
    # find: leaves are now [2, 0, 5, 0.5, 2.5], cumulative sums 2, 2, 7, 7.5, 10
    values = np.array([0.0, 1.999, 2.0, 6.9, 7.0, 7.49, 7.5, 9.99])
    shown = f"find({values.tolist()}) with priorities {leaves.tolist()}"
    got = _find(ex, tree, values, shown)
    want = _find_expected(leaves, values)
    if not np.array_equal(got, want):
        if np.all(got >= tree.size):
            fail(ex, f"{shown} returned {got.tolist()}: node numbers. Return slots: "
                     f"nodes - self.size.")
        zero = [int(v) for v, s in zip(values, got) if 0 <= s < 5 and leaves[s] == 0]
        if zero or np.any(got >= 5):
            fail(ex, f"{shown} returned {got.tolist()}, expected {want.tolist()}: it reached "
                     f"a leaf of priority 0 (or an unused one), which must never be drawn. Go "
                     f"right when v >= the left sum (not >), and subtract the left sum from v "
                     f"when going right.")
        fail(ex, f"{shown} returned {got.tolist()}, expected {want.tolist()}: slot i owns the "
                 f"values from the sum of the priorities before it up to that sum plus p_i. "
                 f"At each node: if v < tree[left], go left; else v -= tree[left] and go right.")
    # drawing: uniform values in [0, total) pick each slot in proportion to its priority
    tree = SumTree(10)
    priorities = np.array([5.0, 1.0, 0.0, 2.0, 8.0, 0.5, 3.0, 1.5, 4.0, 0.0])
    tree.update(np.arange(10), priorities)
    draws = _find(ex, tree, np.random.default_rng(6).uniform(0, tree.total, 100_000),
                  "tree.find(100,000 uniform values in [0, total))")
    counts = np.bincount(draws, minlength=tree.size)
    expected = 100_000 * priorities / priorities.sum()
    if counts[10:].sum() or counts[:10][priorities == 0].sum():
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
        _check_sums(ex, tree, p, f"SumTree({capacity}) with every slot updated")
        values = np.random.default_rng(1).uniform(0, tree.total, 64)
        got = _find(ex, tree, values, f"find(64 values) on SumTree({capacity})")
        if not np.array_equal(got, np.minimum(_find_expected(p, values), capacity - 1)):
            fail(ex, f"find on SumTree({capacity}) returned wrong slots.")
    _check_log_time(ex, SumTree)
    passed(ex, "sums kept after updates and overwrites, find by prefix sum, draws in "
               "proportion to priority, O(log n)")


# ---------------------------------------------------------------- 6.4 prioritized replay
def _transition(i: int, obs_dim: int = 3):
    obs = np.full(obs_dim, float(i), dtype=np.float32)
    return obs, i % 2, float(i + 1), obs + 0.5, i % 3 == 0  # reward = slot + 1 (no wraparound)


def _leaves(memory, n: int) -> np.ndarray:
    return np.asarray(memory.tree.priority(np.arange(n)), dtype=float)


def _check_add(ex: str, PrioritizedReplayMemory):
    memory = call(ex, PrioritizedReplayMemory, 8, 3, 0.5, 0.01,
                  shown="PrioritizedReplayMemory(8, 3, alpha=0.5, eps=0.01)")
    for i in range(6):
        call(ex, memory.add, *_transition(i), shown="memory.add(obs, action, reward, next_obs, "
                                                    "terminated)")
    if len(memory) != 6 or not np.allclose(memory.rewards[:6], np.arange(1, 7)):
        fail(ex, "after 6 add() calls the memory should hold the 6 transitions: call "
                 "super().add(obs, action, reward, next_obs, terminated) (ReplayMemory's add).")
    leaves = _leaves(memory, 8)
    if not np.allclose(leaves, [1, 1, 1, 1, 1, 1, 0, 0]):
        hint = (" A priority of 0 is never drawn: give new transitions max_priority."
                if np.allclose(leaves[:6], 0) else
                " The leaf is one slot off: update slot self.position % self.capacity before "
                "super().add() increments position." if np.allclose(leaves[1:7], 1) else "")
        fail(ex, f"after 6 add() calls into a new memory, the priorities of slots 0..7 are "
                 f"{fmt(leaves)}; expected 1 (max_priority, 1 at first) for the 6 stored "
                 f"transitions and 0 for the empty slots.{hint}")
    return memory


def _check_update(ex: str, memory) -> None:
    td_errors = np.array([-3.0, 0.0])
    shown = "memory.update_priorities(np.array([1, 3]), np.array([-3.0, 0.0])) with alpha=0.5, " \
            "eps=0.01"
    call(ex, memory.update_priorities, np.array([1, 3]), td_errors.copy(), shown=shown)
    got = _leaves(memory, 6)[[1, 3]]
    want = (np.abs(td_errors) + 0.01) ** 0.5
    if not np.allclose(got, want, atol=1e-6):
        variants = {
            "no abs": (np.where(td_errors + 0.01 < 0, np.nan, np.abs(td_errors + 0.01) ** 0.5),
                       "use the absolute TD error: a negative error is as surprising as a "
                       "positive one."),
            "no eps": (np.abs(td_errors) ** 0.5,
                       "add eps before the exponent: with a TD error of 0 the priority is 0 and "
                       "that transition would never be drawn again."),
            "no alpha": (np.abs(td_errors) + 0.01, "raise (|td_error| + eps) to the power "
                                                   "alpha."),
            "eps outside": (np.abs(td_errors) ** 0.5 + 0.01,
                            "eps goes inside the power: (|td_error| + eps) ** alpha."),
            "times alpha": ((np.abs(td_errors) + 0.01) * 0.5,
                            "alpha is an exponent: (|td_error| + eps) ** alpha."),
        }
        hint = next((h for v, h in variants.values() if np.allclose(got, v, atol=1e-6,
                                                                    equal_nan=True)),
                    "p = (|td_error| + eps) ** alpha, written into the tree at the slots given.")
        fail(ex, f"after {shown} the priorities of slots 1 and 3 are {fmt(got)}, expected "
             f"{fmt(want)}: {hint}")
    if not np.allclose(_leaves(memory, 6)[[0, 2, 4, 5]], 1.0):
        fail(ex, f"{shown} changed the priorities of slots other than 1 and 3.")
    call(ex, memory.add, *_transition(6), shown="memory.add(...) after update_priorities")
    new = float(_leaves(memory, 7)[6])
    if not np.isclose(new, want.max()):
        hint = ("max_priority was not raised: after update_priorities it must be the largest "
                "priority given so far" if np.isclose(new, 1.0) else
                "max_priority holds priorities after the exponent alpha, like the tree's "
                "leaves" if np.isclose(new, 3.01) else "")
        fail(ex, f"a transition added after priorities {fmt(want)} were set got priority "
                 f"{new:.4g}, expected the largest so far, {want.max():.4g}: {hint}.")


def _sample(ex: str, memory, batch_size: int, beta: float):
    shown = f"memory.sample({batch_size}, beta={beta})"
    out = call(ex, memory.sample, batch_size, beta, shown=shown)
    if not (isinstance(out, tuple) and len(out) == 3):
        fail(ex, f"{shown} should return a tuple (batch, indices, weights), got "
                 f"{type(out).__name__}.")
    batch, indices, weights = out
    indices = np.asarray(indices)
    if indices.shape != (batch_size,) or not np.issubdtype(indices.dtype, np.integer):
        fail(ex, f"{shown}: indices should be {batch_size} integers (the slots drawn), got "
                 f"shape {indices.shape} dtype {indices.dtype}.")
    weights = _tensor(ex, weights, f"the weights of {shown}")
    if tuple(weights.shape) != (batch_size,) or weights.dtype != torch.float32:
        fail(ex, f"{shown}: weights should be a float32 tensor of shape ({batch_size},), got "
                 f"{weights.dtype} of shape {tuple(weights.shape)}.")
    if not (isinstance(batch, tuple) and len(batch) == 5) or \
            tuple(batch[2].shape) != (batch_size,):
        fail(ex, f"{shown}: the batch should be self.take(indices), a Batch of {batch_size} "
                 f"transitions.")
    if not np.allclose(batch[2].numpy(), indices + 1):  # reward = slot + 1
        fail(ex, f"{shown}: the batch does not hold the transitions at the returned indices: "
                 f"return self.take(indices) with the same indices.")
    return indices, weights.numpy().astype(float)


def _check_sample(ex: str, memory) -> None:
    # 7 transitions in a memory of capacity 8; set known priorities (already ** alpha)
    p = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 6.0, 1.5])
    memory.tree.update(np.arange(7), p)
    n, total = 7, p.sum()
    np.random.seed(0)
    for beta in (0.4, 1.0, 0.0):
        indices, weights = _sample(ex, memory, 16, beta)
        probs = p[indices] / total
        want = (n * probs) ** -beta / ((n * probs) ** -beta).max()
        if np.allclose(weights, want, atol=1e-5):
            continue
        raw = (n * probs) ** -beta
        variants = {
            "not normalized": (raw, "divide the weights by their maximum, so that the largest "
                                    "is 1 and every step only shrinks."),
            "sum": (raw / raw.sum(), "normalise by the maximum weight, not the sum."),
            "plus beta": ((n * probs) ** beta / ((n * probs) ** beta).max(),
                          "the exponent is -beta: rarely drawn transitions get the largest "
                          "weights."),
        }
        hint = next((h for v, h in variants.values() if np.allclose(weights, v, atol=1e-5)),
                    "w = (N * P(i)) ** -beta / max over the batch, with P(i) = "
                    "tree.priority(i) / tree.total and N = len(self).")
        fail(ex, f"memory.sample(16, beta={beta}) with priorities {p.tolist()}: weights "
                 f"{fmt(weights[:6])}..., expected {fmt(want[:6])}...: {hint}")
    counts = np.zeros(8)
    for _ in range(2_000):
        indices, _ = _sample(ex, memory, 8, 0.5)
        counts += np.bincount(indices, minlength=8)[:8]
    if counts[7]:
        fail(ex, "sample() drew slot 7, which holds no transition yet (7 stored in a memory of "
                 "8): draw values in [0, tree.total) and find them in the tree.")
    expected = counts.sum() * p / total
    if _chi_square(counts[:7], expected) > 40:  # 6 degrees of freedom
        share = np.round(counts[:7] / counts.sum(), 3)
        fail(ex, f"over 2,000 batches the slots were drawn with shares {share.tolist()}; with "
                 f"priorities {p.tolist()} they should be about "
                 f"{np.round(p / total, 3).tolist()}. The leaves already hold p ** alpha: "
                 f"draw uniform values in [0, tree.total) and tree.find them.")


@register("6.4")
def check_prioritized_replay_memory(PrioritizedReplayMemory) -> None:
    ex = "6.4"
    memory = _check_add(ex, PrioritizedReplayMemory)
    _check_update(ex, memory)
    _check_sample(ex, memory)
    passed(ex, "new transitions at max priority, p = (|delta| + eps) ** alpha, draws in "
               "proportion to p, weights (N P) ** -beta / max")


# ---------------------------------------------------------------- 6.5 the weighted learning step
_WEIGHTS = torch.tensor([1.0, 0.5, 0.25, 1.0, 0.1, 0.8])


def _reference(q_network, target_network, batch, gamma, weights, double, lr):
    """(loss, td_errors, weights after one SGD step) of a correct learning step."""
    net = copy.deepcopy(q_network)
    y = _targets(batch.rewards, batch.next_obs, batch.terminated, net, target_network,
                 gamma)["double" if double else "vanilla"]
    q = net(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    losses = F.smooth_l1_loss(q, y, reduction="none")
    loss = (weights * losses).mean()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= lr * p.grad
    return loss.item(), (q - y).detach().numpy(), losses.detach().numpy(), net


def _loss_hint(loss, q_network, target_network, batch, gamma, weights, double) -> str:
    y = _targets(batch.rewards, batch.next_obs, batch.terminated, q_network, target_network, gamma)
    with torch.no_grad():
        q = q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    right, wrong = ("double", "vanilla") if double else ("vanilla", "double")
    huber = F.smooth_l1_loss
    variants = {
        "unweighted": (huber(q, y[right]).item(), "the weights were ignored: multiply each "
                       "transition's Huber loss by its weight, then take the mean."),
        "sum normalised": ((weights * huber(q, y[right], reduction="none")).sum().item()
                           / weights.sum().item(),
                           "divide by the batch size (.mean()), not by the sum of the weights."),
        "inside": (huber(weights * q, weights * y[right]).item(),
                   "the weights multiply each transition's loss, not the TD error inside it."),
        "mse": ((weights * (q - y[right]) ** 2).mean().item(),
                "use the Huber loss per transition: F.smooth_l1_loss(q_taken, y, "
                "reduction='none')."),
        "summed": ((weights * huber(q, y[right], reduction="none")).sum().item(),
                   "take the mean over the batch, not the sum."),
        "other target": ((weights * huber(q, y[wrong], reduction="none")).mean().item(),
                         f"with double={double} the target must come from "
                         f"{'double_td_target' if double else 'td_target (lab 02)'}; yours "
                         f"came from {'td_target' if double else 'double_td_target'}."),
    }
    return next((h for v, h in variants.values() if np.isclose(loss, v, rtol=1e-4)),
                "loss = (weights * F.smooth_l1_loss(q_taken, y, reduction='none')).mean().")


@register("6.5")
def check_learn_step_weighted(learn_step) -> None:
    ex = "6.5"
    gamma, lr = 0.9, 0.05
    batch = _batch()
    for double in (False, True):
        q_network, target_network = _double_nets()
        start_q, start_target = copy.deepcopy(q_network), copy.deepcopy(target_network.state_dict())
        want_loss, want_td, losses, want_net = _reference(q_network, target_network, batch, gamma,
                                                          _WEIGHTS, double, lr)
        opt = torch.optim.SGD(q_network.parameters(), lr=lr)
        shown = (f"learn_step(q_network, target_network, optimizer, batch, gamma=0.9, weights, "
                 f"double={double})")
        out = call(ex, learn_step, q_network, target_network, opt, batch, gamma, _WEIGHTS.clone(),
                   double, shown=shown)
        if not (isinstance(out, tuple) and len(out) == 2):
            fail(ex, f"{shown} should return a tuple (loss, td_errors), got "
                     f"{type(out).__name__}.")
        loss, td_errors = out
        loss = check_loss_and_target(ex, loss, shown, target_network, start_target)
        if not np.isclose(loss, want_loss, rtol=1e-4):
            hint = _loss_hint(loss, start_q, target_network, batch, gamma, _WEIGHTS, double)
            fail(ex, f"{shown} with weights {_WEIGHTS.tolist()}: the loss was "
                     f"{fmt(float(loss))}, expected {fmt(want_loss)}: {hint}")
        if isinstance(td_errors, torch.Tensor):
            fail(ex, f"{shown} returned the TD errors as a tensor; return a NumPy array "
                     f"((q_taken - y).detach().numpy()) for update_priorities.")
        td_errors = np.asarray(td_errors, dtype=float)
        if td_errors.shape != (6,):
            fail(ex, f"{shown} returned TD errors of shape {td_errors.shape}, expected (6,): "
                     f"one per transition.")
        if not np.allclose(np.abs(td_errors), np.abs(want_td), atol=1e-5):
            with torch.no_grad():
                q_after = q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
                q_before = start_q(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
            y = q_before.numpy() - want_td
            hint = ("they were computed after optimizer.step(), with the updated network: keep "
                    "q_taken - y from before the step." if np.allclose(
                        np.abs(td_errors), np.abs(q_after.numpy() - y), atol=1e-5) else
                    "those are the Huber losses: return the TD errors q_taken - y."
                    if np.allclose(td_errors, losses, atol=1e-5) else
                    "those are weighted: return the plain TD errors q_taken - y (the weights "
                    "only scale the loss)." if np.allclose(np.abs(td_errors),
                                                           np.abs(want_td) * _WEIGHTS.numpy(),
                                                           atol=1e-5) else
                    "return q_taken - y, one TD error per transition.")
            fail(ex, f"{shown} returned TD errors {fmt(td_errors)}, expected {fmt(want_td)}: "
                     f"{hint}")
        if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(q_network.parameters(),
                                                                    want_net.parameters())):
            if all(torch.equal(a, b) for a, b in zip(q_network.parameters(), start_q.parameters())):
                fail(ex, "the Q-network's weights did not change: call optimizer.zero_grad(), "
                         "loss.backward(), then optimizer.step().")
            fail(ex, f"after {shown} the weights differ from one SGD step on the weighted "
                     f"loss: backpropagate the same loss you return, with zero_grad() first.")
    # a second step on the same optimiser: gradients must not pile up
    q_network, target_network = _double_nets()
    opt = torch.optim.SGD(q_network.parameters(), lr=lr)
    call(ex, learn_step, q_network, target_network, opt, batch, gamma, _WEIGHTS.clone(), True)
    _, _, _, want_net = _reference(q_network, target_network, batch, gamma, _WEIGHTS, True, lr)
    call(ex, learn_step, q_network, target_network, opt, batch, gamma, _WEIGHTS.clone(), True)
    if not all(torch.allclose(a, b, atol=1e-5) for a, b in zip(q_network.parameters(),
                                                                want_net.parameters())):
        fail(ex, "the second of two learning steps differs from a correct one: call "
                 "optimizer.zero_grad() before loss.backward(), otherwise gradients pile up.")
    passed(ex, "weights scale each transition's Huber loss, Double target when asked, TD errors "
               "from before the step")
