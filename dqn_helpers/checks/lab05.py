"""Checks for lab 05: the Nature DQN network, the frame-once replay memory, the learning signal.

The network is checked layer by layer against the Nature paper's table, then recomputed from
the student's own layers to tell a missing scaling or an activation on the output from a right
answer. The replay memory is fed episodes played through gymnasium's own
``FrameStackObservation`` (on a tiny fake environment of random frames, so that every frame
is unique), and every sampled transition is compared with the one that was really played.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.wrappers import FrameStackObservation

from dqn_helpers.checks._core import call, fail, fmt, passed, register

# ---------------------------------------------------------------- 5.1 the Nature CNN
NATURE_CONVS = [(4, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]  # in, out, kernel, stride


def nature_parameter_count(n_actions: int, frames: int = 4) -> int:
    convs = [(frames, 32, 8), (32, 64, 4), (64, 64, 3)]
    return (sum(i * o * k * k + o for i, o, k in convs) + 3136 * 512 + 512
            + 512 * n_actions + n_actions)


def _layers(net: torch.nn.Module) -> tuple[list[torch.nn.Conv2d], list[torch.nn.Linear]]:
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return convs, linears


def _canonical(convs, linears, x: torch.Tensor, scale: float = 255.0, relu_out: bool = False,
               hidden_relu: bool = True) -> torch.Tensor:
    """The Nature forward pass computed with the student's own layers."""
    act = F.relu if hidden_relu else (lambda t: t)
    h = x.float() / scale
    for conv in convs:
        h = act(conv(h))
    h = act(linears[0](h.flatten(1)))
    out = linears[1](h)
    return F.relu(out) if relu_out else out


def _pixels(batch: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 4, 84, 84), generator=g, dtype=torch.uint8)


@register("5.1")
def check_nature_cnn(NatureQNetwork) -> None:
    ex = "5.1"
    torch.manual_seed(0)
    net = call(ex, NatureQNetwork, 4, shown="NatureQNetwork(n_actions=4)")
    if not isinstance(net, torch.nn.Module):
        fail(ex, f"NatureQNetwork(4) should be a torch.nn.Module, got {type(net).__name__}")
    convs, linears = _layers(net)
    if len(convs) != 3:
        fail(ex, f"found {len(convs)} nn.Conv2d layers, expected 3 (32 filters 8x8 stride 4, "
                 f"64 filters 4x4 stride 2, 64 filters 3x3 stride 1).")
    for k, (conv, (cin, cout, kernel, stride)) in enumerate(zip(convs, NATURE_CONVS), 1):
        got = (conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0])
        if got != (cin, cout, kernel, stride) or conv.padding not in ((0, 0), "valid"):
            fail(ex, f"conv layer {k} is Conv2d({got[0]}, {got[1]}, kernel_size={got[2]}, "
                     f"stride={got[3]}, padding={conv.padding}), expected Conv2d({cin}, {cout}, "
                     f"kernel_size={kernel}, stride={stride}) with no padding.")
    if len(linears) != 2:
        fail(ex, f"found {len(linears)} nn.Linear layers, expected 2: 3136 -> 512 and "
                 f"512 -> n_actions.")
    if (linears[0].in_features, linears[0].out_features) != (3136, 512):
        fail(ex, f"the first linear layer is {linears[0].in_features} -> "
                 f"{linears[0].out_features}, expected 3136 -> 512 (64 channels x 7 x 7 after "
                 f"the third conv, flattened).")
    if (linears[1].in_features, linears[1].out_features) != (512, 4):
        fail(ex, f"the output layer is {linears[1].in_features} -> {linears[1].out_features}; "
                 f"with n_actions = 4 it should be 512 -> 4.")
    count = sum(p.numel() for p in net.parameters())
    if count != nature_parameter_count(4):
        fail(ex, f"the network has {count:,} parameters, expected {nature_parameter_count(4):,} "
                 f"(the layers of the table and nothing more).")
    six = call(ex, NatureQNetwork, 6, shown="NatureQNetwork(n_actions=6)")
    if _layers(six)[1][-1].out_features != 6:
        fail(ex, "NatureQNetwork(6) does not have 6 outputs: use the n_actions argument.")

    x = _pixels(8, seed=5)
    with torch.no_grad():
        out = call(ex, net, x, shown="q_network(x) for x of shape (8, 4, 84, 84), dtype uint8")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (8, 4):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            fail(ex, f"for a batch of 8 observations (8, 4, 84, 84) the network returned "
                     f"{shape}, expected (8, 4): one Q-value per action.")
        one = call(ex, net, x[:1].float(), shown="q_network(x) for one float observation")
        if tuple(one.shape) != (1, 4):
            fail(ex, f"for a batch of 1 (float pixels) the network returned shape "
                     f"{tuple(one.shape)}, expected (1, 4).")
        variants = {
            "right": _canonical(convs, linears, x),
            "no scaling": _canonical(convs, linears, x, scale=1.0),
            "relu out": _canonical(convs, linears, x, relu_out=True),
            "no relu": _canonical(convs, linears, x, hidden_relu=False),
        }
    if torch.allclose(out.float(), variants["right"], atol=1e-5):
        if not (variants["right"] < 0).any():
            fail(ex, "all Q-values are >= 0: check that nothing constrains the output.")
        passed(ex, f"32@8x8/4, 64@4x4/2, 64@3x3/1, 512 units, a linear output; "
                   f"{count:,} parameters for 4 actions; pixels scaled by 1/255 inside")
        return
    if torch.allclose(out.float(), variants["no scaling"], atol=1e-4):
        fail(ex, "the network does not scale the pixels: forward(x) should start with "
                 "x.float() / 255.0, so that 0..255 becomes 0..1.")
    if torch.allclose(out.float(), variants["relu out"], atol=1e-5) or not (out < 0).any():
        fail(ex, f"the Q-values are never negative ({fmt(out[0].numpy())} for the first "
                 f"observation): the output layer must have no activation (no ReLU after the "
                 f"last nn.Linear).")
    if torch.allclose(out.float(), variants["no relu"], atol=1e-5):
        fail(ex, "there is no ReLU between the layers: put nn.ReLU() after each conv layer and "
                 "after the 512-unit layer (not after the output).")
    fail(ex, "the output differs from the Nature network's: x.float() / 255.0, then conv, ReLU, "
             "conv, ReLU, conv, ReLU, flatten, linear to 512, ReLU, linear to n_actions.")


# ---------------------------------------------------------------- 5.2 the frame-once memory
FRAME = (6, 5)  # small frames: the check stores hundreds of them


class RandomFrames(gym.Env):
    """A fake game whose frames are random uint8 images (so every frame is unique)."""

    def __init__(self, lengths: list[int], seed: int):
        self.observation_space = gym.spaces.Box(0, 255, FRAME, np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self.lengths, self.episode, self.t = list(lengths), -1, 0
        self.rng = np.random.default_rng(seed)

    def _frame(self):
        return self.rng.integers(0, 256, FRAME, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        over = self.t >= self.lengths[self.episode]
        terminated = over and self.episode % 2 == 0  # odd episodes end by truncation
        return self._frame(), float(self.rng.integers(-1, 3)), terminated, over and not terminated, {}


def play(lengths: list[int], seed: int, last_unfinished: int = 0):
    """Transitions played through FrameStackObservation(4): (obs, a, r, next_obs, term, over).

    ``last_unfinished`` > 0 adds an episode cut after that many steps (still running).
    """
    env = FrameStackObservation(RandomFrames(lengths + [10**6], seed), 4)
    rng = np.random.default_rng(seed)
    out = []
    for episode, length in enumerate(lengths + ([last_unfinished] if last_unfinished else [])):
        obs, _ = env.reset()
        for _ in range(length):
            action = int(rng.integers(4))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            over = bool(terminated or truncated) and episode < len(lengths)
            out.append((obs, action, reward, next_obs, bool(terminated), over))
            obs = next_obs
    return out


def fill_memory(exercise: str, FrameReplayMemory, capacity: int, transitions):
    memory = call(exercise, FrameReplayMemory, capacity, FRAME, 4,
                  shown=f"FrameReplayMemory({capacity}, frame_shape={FRAME}, stack_size=4)")
    for k, (obs, action, reward, next_obs, terminated, over) in enumerate(transitions):
        call(exercise, memory.add, obs, action, reward, next_obs, terminated, over,
             shown=f"memory.add(...) (transition {k})")
    return memory


def _key(obs: np.ndarray, next_obs: np.ndarray) -> bytes:
    return np.ascontiguousarray(obs).tobytes() + np.ascontiguousarray(next_obs).tobytes()


def _diagnose(played, obs: np.ndarray, next_obs: np.ndarray) -> str:
    """Name the mistake behind a sampled (obs, next_obs) that was never played."""
    frames = {}
    for k, (o, _, _, n, _, _) in enumerate(played):
        for f in list(o) + list(n):
            frames.setdefault(f.tobytes(), k)
    ids = [frames.get(f.tobytes()) for f in obs]
    if any(not f.any() for f in obs[:-1]) and obs[-1].any():
        return ("the older frames of a stack at an episode's start are zeros. FrameStackObservation "
                "pads by repeating the episode's first frame, and the memory must rebuild the "
                "stacks the agent saw: stop going back at the episode's first slot and repeat it.")
    if any(_key(obs[::-1], next_obs[::-1]) == _key(o, n) for o, _, _, n, _, _ in played):
        return ("the frames of a stack are in reverse order: the oldest first, the newest last "
                "(obs[-1] is the newest, as FrameStackObservation orders them).")
    newest = ids[-1]
    if newest is not None and any(i is not None and i < newest - 3 for i in ids):
        return ("a stack mixes frames of two episodes: going back from the newest frame, stop at "
                "the episode's first slot (self.first) and repeat that frame.")
    if np.array_equal(obs, next_obs):
        return "next_obs is obs: next_obs is stack(t + 1), ending with the frame after the action."
    if None in ids:
        return ("a stack holds a frame that was never added, or one written over: a slot must "
                "hold obs[-1] and the stack must use slots t - 3 .. t (modulo capacity).")
    return ("a sampled (obs, next_obs) pair was never played: obs is stack(t) and next_obs "
            "stack(t + 1), each going back one slot per frame.")


def _check_samples(ex: str, memory, played, expected_count: int | None, what: str) -> None:
    truth = {}
    for obs, action, reward, next_obs, terminated, _ in played:
        truth[_key(obs, next_obs)] = (action, reward, terminated)
    seen = set()
    np.random.seed(0)
    for _ in range(40):
        batch = call(ex, memory.sample, 32, shown="memory.sample(32)")
        obs, next_obs = batch.obs.numpy(), batch.next_obs.numpy()
        if obs.dtype != np.uint8 or tuple(obs.shape) != (32, 4, *FRAME):
            fail(ex, f"memory.sample(32).obs has shape {tuple(obs.shape)} and dtype "
                     f"{obs.dtype}, expected (32, 4, {FRAME[0]}, {FRAME[1]}) uint8: "
                     f"stack() returns (B, stack_size, H, W) frames.")
        for b in range(32):
            key = _key(obs[b], next_obs[b])
            if key not in truth:
                fail(ex, f"{what}: {_diagnose(played, obs[b], next_obs[b])}")
            action, reward, terminated = truth[key]
            got = (int(batch.actions[b]), float(batch.rewards[b]), float(batch.terminated[b]))
            if got != (action, float(reward), float(terminated)):
                fail(ex, f"{what}: a sampled transition has action, reward, terminated = {got}, "
                         f"but the one played with that obs and next_obs had "
                         f"{(action, float(reward), float(terminated))}: store them in the "
                         f"slot of obs[-1].")
            seen.add(key)
    if expected_count is not None and len(seen) < expected_count:
        fail(ex, f"{what}: 1,280 samples drew only {len(seen)} different transitions of the "
                 f"{expected_count} that can be sampled. At an episode's end, is next_obs[-1] "
                 f"stored in a slot of its own (is_transition False)?")


@register("5.2")
def check_frame_replay_memory(FrameReplayMemory) -> None:
    ex = "5.2"
    lengths = [5, 2, 7]
    played = play(lengths, seed=1, last_unfinished=4)
    memory = fill_memory(ex, FrameReplayMemory, 64, played)
    frames = getattr(memory, "frames", None)
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 \
            or frames.shape != (64, *FRAME):
        fail(ex, f"memory.frames should be a (64, {FRAME[0]}, {FRAME[1]}) uint8 array (one frame "
                 f"per slot), got {getattr(frames, 'shape', frames)!r}")
    big = [(k, a.shape, a.dtype) for k, a in vars(memory).items()
           if isinstance(a, np.ndarray) and a.nbytes > 2 * frames.nbytes]
    if big:
        fail(ex, f"the memory has an array {big[0][0]} of shape {big[0][1]}: store each frame "
                 f"once, in memory.frames, not whole stacks.")
    if memory.position != len(played) + len(lengths):
        fail(ex, f"after {len(played)} transitions in {len(lengths)} finished episodes and one "
                 f"running, memory.position is {memory.position}, expected "
                 f"{len(played) + len(lengths)}: one slot per transition, and one more for the "
                 f"last frame of each finished episode.")
    first_obs = played[0][0]
    got = call(ex, memory.stack, np.array([0]), shown="memory.stack(np.array([0]))")
    got = np.asarray(got)
    if got.shape != (1, 4, *FRAME):
        fail(ex, f"memory.stack(np.array([0])) returned shape {got.shape}, expected "
                 f"(1, 4, {FRAME[0]}, {FRAME[1]}): one stack per slot number.")
    if not np.array_equal(got[0], first_obs):
        fail(ex, f"memory.stack([0]) (the first observation of the first episode) is not the "
                 f"stack FrameStackObservation gave at reset: "
                 f"{_diagnose(played, got[0], played[0][3])}")
    expected = len(played) - 1  # the last transition of the running episode has no next frame
    _check_samples(ex, memory, played, expected, "with 3 episodes (ends by terminated and by "
                   "truncated) and a running one")

    # the ring wraps: 90 transitions through 32 slots
    wrapped = play([9, 3, 30, 6, 11, 4], seed=2, last_unfinished=27)
    memory = fill_memory(ex, FrameReplayMemory, 32, wrapped)
    _check_samples(ex, memory, wrapped, None, "after the ring wrapped around (90 transitions, "
                   "32 slots)")
    passed(ex, "each frame stored once as uint8; the sampled stacks are those FrameStackObservation "
               "produced, across episode starts, episode ends and the ring's write head")


# ---------------------------------------------------------------- 5.3 the learning signal
@register("5.3")
def check_learning_signal(learning_signal) -> None:
    ex = "5.3"
    for reward, want in [(0.0, 0.0), (1.0, 1.0), (4.0, 1.0), (7.0, 1.0), (-3.0, -1.0),
                         (0.5, 1.0), (-0.2, -1.0)]:
        shown = f"learning_signal({reward}, False, 5, 5)"
        out = call(ex, learning_signal, reward, False, 5, 5, shown=shown)
        if not isinstance(out, tuple) or len(out) != 2:
            fail(ex, f"{shown} returned {out!r}; return a pair (clipped_reward, terminal).")
        clipped, terminal = out
        if not isinstance(clipped, (float, np.floating)) or not isinstance(terminal,
                                                                          (bool, np.bool_)):
            fail(ex, f"{shown} returned {out!r}: the clipped reward should be a float and "
                     f"terminal a bool.")
        if float(clipped) != want:
            hint = ("that clips to [-1, 1], which leaves 0.5 at 0.5. Clip to the reward's sign: "
                    "np.sign(reward)." if float(clipped) == float(np.clip(reward, -1, 1))
                    else "the clipped reward is the reward's sign: +1, -1 or 0 (np.sign).")
            fail(ex, f"{shown} gave the clipped reward {fmt(float(clipped))}, expected {want}: "
                     f"{hint}")
        if terminal:
            fail(ex, f"{shown} says terminal, but no life was lost and the game is not over.")
    for args, want, why in [
        ((0.0, False, 5, 4), True, "a life was lost (5 -> 4): that ends the episode for learning"),
        ((1.0, False, 3, 2), True, "a life was lost (3 -> 2), even on a step that scored"),
        ((0.0, True, 1, 0), True, "the game is over (terminated)"),
        ((0.0, True, 2, 2), True, "terminated is True: the game is over whatever the lives say"),
        ((4.0, False, 2, 2), False, "no life was lost and the game goes on"),
        ((0.0, False, 2, 3), False, "a life was gained, not lost (some games give extra lives)"),
    ]:
        shown = f"learning_signal{args}"
        _, terminal = call(ex, learning_signal, *args, shown=shown)
        if bool(terminal) != want:
            fail(ex, f"{shown} gave terminal = {terminal!r}, expected {want}: {why}.")
    passed(ex, "rewards clipped to their sign; a lost life or the game's end is terminal")
