"""Checks for lab 05: the Nature DQN network, the frame-once replay memory, the learning signal.

The network is checked layer by layer against the Nature paper's table, then recomputed from
the student's own layers to tell a missing scaling or an activation on the output from a right
answer. The replay memory is fed episodes played through gymnasium's own
``FrameStackObservation`` (on a tiny fake environment of random frames, so that every frame
is unique): its slots are compared with the layout that those episodes must produce, and every
stack it rebuilds and every transition it samples with the ones that were really played.

Each exercise's hidden scenario sits after its check and shares its diagnoses.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from gymnasium.wrappers import FrameStackObservation

from dqn_helpers.checks._core import (
    Scenario,
    call,
    close,
    fail,
    fmt,
    passed,
    register,
    scenario,
)


def _kind(value: Any) -> str:
    """How a value that has the wrong form is named in a message."""
    if isinstance(value, dict) and "type" in value:
        return f"a {value['type']}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _report(value: Any) -> Any:
    """A returned value as plain data: a numeric array as it is, anything else by its type name."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError):
            return {"type": "list"}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    return {"type": type(value).__name__}


# ---------------------------------------------------------------- 5.1 the Nature CNN
NATURE_CONVS = [(4, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]  # in, out, kernel, stride


def nature_parameter_count(n_actions: int, frames: int = 4) -> int:
    convs = [(frames, 32, 8), (32, 64, 4), (64, 64, 3)]
    return (sum(i * o * k * k + o for i, o, k in convs) + 3136 * 512 + 512
            + 512 * n_actions + n_actions)


def nature_weights(seed: int, n_actions: int, frames: int) -> list[tuple[torch.Tensor, ...]]:
    """Seeded (weight, bias) of the five Nature layers, at PyTorch's default scale."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(32, frames, 8, 8), (64, 32, 4, 4), (64, 64, 3, 3), (512, 3136), (n_actions, 512)]
    out = []
    for shape in shapes:
        bound = float(np.prod(shape[1:])) ** -0.5  # 1 / sqrt(fan_in), as nn.Conv2d and nn.Linear
        out.append(((torch.rand(shape, generator=g) * 2 - 1) * bound,
                    (torch.rand(shape[0], generator=g) * 2 - 1) * bound))
    return out


def nature_forward(weights, x: torch.Tensor, scale: float = 255.0, relu_out: bool = False,
                   hidden_relu: bool = True) -> torch.Tensor:
    """The Nature forward pass with the given layers' weights (and the usual wrong variants)."""
    act = F.relu if hidden_relu else (lambda t: t)
    h = x.float() / scale
    for (w, b), stride in zip(weights[:3], (4, 2, 1)):
        h = act(F.conv2d(h, w, b, stride=stride))
    h = act(F.linear(h.flatten(1), *weights[3]))
    out = F.linear(h, *weights[4])
    return F.relu(out) if relu_out else out


# the usual wrong forward passes, and what each one means
VARIANTS = {
    "no scaling": (dict(scale=1.0), "the network does not scale the pixels: forward(x) should "
                   "start with x.float() / 255.0, so that 0..255 becomes 0..1."),
    "twice": (dict(scale=255.0 ** 2), "the pixels are divided by 255 twice (they end up in "
              "0..1/255): scale them once, in forward, with x.float() / 255.0."),
    "relu out": (dict(relu_out=True), "the Q-values are never negative: the output layer must "
                 "have no activation (no ReLU after the last nn.Linear)."),
    "no relu": (dict(hidden_relu=False), "there is no ReLU between the layers: put nn.ReLU() after "
                "each conv layer and after the 512-unit layer (not after the output)."),
}
FLOAT_NOT_SCALED = ("float pixels (0..255 as float32) are not scaled, while uint8 ones are: scale "
                    "whatever the dtype, with x.float() / 255.0 (a float tensor gets no other "
                    "treatment).")
IN_PLACE = ("forward changed its input in place (x.mul_(1 / 255), x /= 255, or the like, on a "
            "float tensor that .float() returns as it is): the caller's observations are changed. "
            "Use x.float() / 255.0, which makes a new tensor.")
SQUEEZED = (" A .squeeze() removes the batch dimension when B = 1: return (B, n_actions) for "
            "every B (squeeze nothing).")
GENERIC_FORWARD = ("the Q-values differ from the Nature network's with the same layers: "
                   "x.float() / 255.0, then conv, ReLU, conv, ReLU, conv, ReLU, flatten, linear to "
                   "512, ReLU, linear to n_actions.")


def _layers(net: torch.nn.Module) -> tuple[list[torch.nn.Conv2d], list[torch.nn.Linear]]:
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    return convs, linears


def _canonical(convs, linears, x: torch.Tensor, **variant) -> torch.Tensor:
    """The Nature forward pass computed with the student's own layers."""
    return nature_forward([(m.weight, m.bias) for m in convs + linears], x, **variant)


def _pixels(batch: int, seed: int, frames: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, frames, 84, 84), generator=g, dtype=torch.uint8)


def _conv_spec(conv: torch.nn.Conv2d) -> list:
    padding = [0, 0] if conv.padding == "valid" else (
        list(conv.padding) if isinstance(conv.padding, tuple) else str(conv.padding))
    return [conv.in_channels, conv.out_channels, list(conv.kernel_size), list(conv.stride),
            padding]


def _show_conv(spec: list) -> str:
    cin, cout, kernel, stride, padding = spec
    return (f"Conv2d({cin}, {cout}, kernel_size={kernel[0]}, stride={stride[0]}"
            + ("" if padding == [0, 0] else f", padding={padding}") + ")")


def _structure_cause(shown: str, n_actions: int, frames: int, convs: list, linears: list,
                     count: int) -> str | None:
    """What is wrong with the layers of NatureQNetwork(n_actions, frames), or None."""
    want = [[cin if k else frames, cout, [kernel] * 2, [stride] * 2, [0, 0]]
            for k, (cin, cout, kernel, stride) in enumerate(NATURE_CONVS)]
    if len(convs) != 3:
        return (f"{shown}: found {len(convs)} nn.Conv2d layers, expected 3 (32 filters 8x8 "
                f"stride 4, 64 filters 4x4 stride 2, 64 filters 3x3 stride 1).")
    if convs != want:
        if convs[0][0] != frames and convs[0][1:] == want[0][1:] and convs[1:] == want[1:]:
            return (f"{shown}: the first conv layer takes {convs[0][0]} input channels, expected "
                    f"{frames}, one per stacked frame: use the frames argument, "
                    f"nn.Conv2d(frames, 32, kernel_size=8, stride=4).")
        k = next(k for k in range(3) if convs[k] != want[k])
        return (f"{shown}: conv layer {k + 1} is {_show_conv(convs[k])}, expected "
                f"{_show_conv(want[k])} with no padding.")
    if len(linears) != 2:
        return (f"{shown}: found {len(linears)} nn.Linear layers, expected 2: 3136 -> 512 and "
                f"512 -> n_actions.")
    if linears[0] != [3136, 512]:
        return (f"{shown}: the first linear layer is {linears[0][0]} -> {linears[0][1]}, expected "
                f"3136 -> 512 (64 channels x 7 x 7 after the third conv, flattened).")
    if linears[1] != [512, n_actions]:
        hint = ": use the n_actions argument." if linears[1][0] == 512 else "."
        return (f"{shown}: the output layer is {linears[1][0]} -> {linears[1][1]}; with "
                f"n_actions = {n_actions} it should be 512 -> {n_actions}{hint}")
    if count != nature_parameter_count(n_actions, frames):
        return (f"{shown} has {count:,} parameters, expected "
                f"{nature_parameter_count(n_actions, frames):,} (the layers of the table and "
                f"nothing more).")
    return None


def _structure(net: torch.nn.Module) -> dict:
    convs, linears = _layers(net)
    return {"convs": [_conv_spec(c) for c in convs],
            "linears": [[m.in_features, m.out_features] for m in linears],
            "count": int(sum(p.numel() for p in net.parameters()))}


def _forward_cause(what: str, kind: str, values: np.ndarray, right: np.ndarray,
                   variants: dict[str, np.ndarray], uint8_right: bool) -> str | None:
    """Why Q-values computed with known layers are wrong (most specific first), or None."""
    if close(values, right, atol=1e-4, rtol=1e-4):
        return None
    if kind == "float" and uint8_right and close(values, variants["no scaling"], 1e-4, 1e-4):
        return f"{what}: {FLOAT_NOT_SCALED}"
    for name, (_, hint) in VARIANTS.items():
        if close(values, variants[name], atol=1e-4, rtol=1e-4):
            return f"{what}: {hint}"
    if not (values < 0).any() and (right < 0).any():
        return f"{what}: {VARIANTS['relu out'][1]}"
    return f"{what}: {GENERIC_FORWARD}"


@register("5.1")
def check_nature_cnn(NatureQNetwork) -> None:
    ex = "5.1"
    torch.manual_seed(0)
    net = call(ex, NatureQNetwork, 4, shown="NatureQNetwork(n_actions=4)")
    if not isinstance(net, torch.nn.Module):
        fail(ex, f"NatureQNetwork(4) should be a torch.nn.Module, got {type(net).__name__}")
    shape = _structure(net)
    cause = _structure_cause("NatureQNetwork(4)", 4, 4, **shape)
    if cause:
        fail(ex, cause)
    for n_actions, frames in [(6, 4), (7, 2)]:
        shown = f"NatureQNetwork(n_actions={n_actions}, frames={frames})"
        other = call(ex, NatureQNetwork, n_actions, frames=frames, shown=shown)
        cause = _structure_cause(shown, n_actions, frames, **_structure(other))
        if cause:
            fail(ex, cause)

    x = _pixels(8, seed=5)
    convs, linears = _layers(net)
    with torch.no_grad():
        out = call(ex, net, x, shown="q_network(x) for x of shape (8, 4, 84, 84), dtype uint8")
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (8, 4):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            fail(ex, f"for a batch of 8 observations (8, 4, 84, 84) the network returned "
                     f"{shape}, expected (8, 4): one Q-value per action.")
        xf = x[:1].float()
        before = xf.clone()
        one = call(ex, net, xf, shown="q_network(x) for one float observation")
        if not isinstance(one, torch.Tensor) or tuple(one.shape) != (1, 4):
            shape = tuple(one.shape) if isinstance(one, torch.Tensor) else type(one).__name__
            fail(ex, f"for a batch of 1 (float pixels) the network returned shape {shape}, "
                     f"expected (1, 4).{SQUEEZED if shape == (4,) else ''}")
        if not torch.equal(xf, before):
            fail(ex, IN_PLACE)
        variants = {name: _canonical(convs, linears, x, **kw).numpy()
                    for name, (kw, _) in VARIANTS.items()}
        right = _canonical(convs, linears, x).numpy()
    cause = (_forward_cause("for uint8 pixels", "uint8", out.float().numpy(), right, variants,
                            False)
             or _forward_cause("for the same pixels as floats", "float", one.float().numpy(),
                               right[:1], {k: v[:1] for k, v in variants.items()}, True))
    if cause:
        if "never negative" in cause:
            cause += f" (The first observation's: {fmt(out[0].numpy())}.)"
        fail(ex, cause)
    if not (right < 0).any():
        fail(ex, "all Q-values are >= 0: check that nothing constrains the output.")
    passed(ex, f"32@8x8/4, 64@4x4/2, 64@3x3/1, 512 units, a linear output; "
               f"{shape['count']:,} parameters for 4 actions; pixels scaled by 1/255 inside")


@scenario("5.1")
class NatureCnnScenario(Scenario):
    """Other action counts (2 to 18) and frame counts (1 to 4), batches of 1 to 5, uint8 and
    float pixels; seeded weights are set in the student's own layers, so the Q-values must be
    the Nature network's exactly."""

    CASES = [(5011, 9, 3, 5), (5012, 2, 4, 1), (5013, 18, 2, 3), (5014, 5, 1, 2)]

    def cases(self, ref):
        out = []
        for seed, n_actions, frames, batch in self.CASES:
            rng = np.random.default_rng(seed)
            pixels = rng.integers(0, 256, (batch, frames, 84, 84), dtype=np.uint8)
            pixels[:, :, :30] //= 8  # a dark band, as in the top of an Atari screen
            weights = nature_weights(seed, n_actions, frames)
            with torch.no_grad():
                x = torch.from_numpy(pixels)
                variants = {name: nature_forward(weights, x, **kw).numpy()
                            for name, (kw, _) in VARIANTS.items()}
            out.append({"seed": seed, "n_actions": n_actions, "frames": frames,
                        "pixels": pixels, "_variants": variants})
        return out

    @staticmethod
    def shown(case):
        return f"NatureQNetwork({case['n_actions']}, frames={case['frames']})"

    def run(self, case, NatureQNetwork):
        ex, n_actions, frames = "5.1", case["n_actions"], case["frames"]
        net = call(ex, NatureQNetwork, n_actions, frames=frames, shown=self.shown(case))
        if not isinstance(net, torch.nn.Module):
            return {"type": type(net).__name__}
        got = {"type": "Module", **_structure(net), "outputs": []}
        convs, linears = _layers(net)
        layers = convs + linears
        weights = nature_weights(case["seed"], n_actions, frames)
        try:
            with torch.no_grad():
                for layer, (w, b) in zip(layers, weights, strict=True):
                    if layer.weight.shape != w.shape or layer.bias.shape != b.shape:
                        return got  # other layers than the Nature ones: the judge names them
                    layer.weight.copy_(w)
                    layer.bias.copy_(b)
        except (RuntimeError, AttributeError, TypeError, ValueError):
            return got
        pixels = torch.from_numpy(case["pixels"])
        for kind, x in (("uint8", pixels), ("float", pixels.float())):
            before = x.clone()
            with torch.no_grad():
                q = call(ex, net, x, shown=f"q_network(x) for x of shape {tuple(x.shape)}, {kind}")
            got["outputs"].append({"input": kind, "changed_input": not torch.equal(x, before),
                                   "q": _report(q.float() if isinstance(q, torch.Tensor) else q)})
        return got

    def judge(self, case, got, expected):
        ex, n_actions, frames, shown = "5.1", case["n_actions"], case["frames"], self.shown(case)
        if not isinstance(got, dict) or got.get("type") != "Module":
            fail(ex, f"{shown} should be a torch.nn.Module, got {_kind(got)}.")
        cause = _structure_cause(shown, n_actions, frames, got.get("convs") or [],
                                 got.get("linears") or [], got.get("count"))
        if cause:
            fail(ex, cause)
        outputs = got.get("outputs")
        if not isinstance(outputs, list) or len(outputs) != 2:
            fail(ex, f"{shown}: the grader could not set the weights of its layers (nn.Conv2d and "
                     f"nn.Linear, each with a bias).")
        batch = case["pixels"].shape[0]
        uint8_right = False
        for out, want in zip(outputs, expected["outputs"]):
            kind = want["input"]
            what = (f"{shown}, q_network(x) for a batch of {batch} observation"
                    f"{'s' if batch > 1 else ''} of {kind} pixels")
            q = out.get("q")
            if not isinstance(q, np.ndarray):
                fail(ex, f"{what} returned {_kind(q)}, expected a tensor of Q-values.")
            if q.shape != (batch, n_actions):
                hint = SQUEEZED if batch == 1 and q.shape == (n_actions,) else ""
                fail(ex, f"{what} returned shape {q.shape}, expected ({batch}, {n_actions}): one "
                         f"row of Q-values per observation.{hint}")
            if out.get("changed_input"):
                fail(ex, IN_PLACE)
            cause = _forward_cause(what, kind, q, want["q"], case["_variants"], uint8_right)
            if cause:
                fail(ex, cause)
            uint8_right = True


# ---------------------------------------------------------------- 5.2 the frame-once memory
FRAME = (6, 5)  # small frames: the check stores hundreds of them


class RandomFrames(gym.Env):
    """A fake game whose frames are random uint8 images (so every frame is unique)."""

    def __init__(self, lengths: list[int], seed: int, frame_shape: tuple = FRAME):
        self.observation_space = gym.spaces.Box(0, 255, frame_shape, np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self.lengths, self.episode, self.t = list(lengths), -1, 0
        self.rng = np.random.default_rng(seed)

    def _frame(self):
        return self.rng.integers(0, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        over = self.t >= self.lengths[self.episode]
        terminated = over and self.episode % 2 == 0  # odd episodes end by truncation
        frame, reward = self._frame(), float(self.rng.integers(-1, 3))
        return frame, reward, terminated, over and not terminated, {}


def play(lengths: list[int], seed: int, last_unfinished: int = 0, stack_size: int = 4,
         life_loss: float = 0.0, frame_shape: tuple = FRAME):
    """Transitions played through FrameStackObservation: (obs, a, r, next_obs, terminal, over).

    ``last_unfinished`` > 0 adds an episode cut after that many steps (still running).
    ``life_loss`` > 0 makes that fraction of the steps that do not end an episode lose a life:
    terminal for learning (lab 05's signal), while the episode goes on.
    """
    env = FrameStackObservation(RandomFrames(lengths + [10**6], seed, frame_shape), stack_size)
    rng = np.random.default_rng(seed)
    out = []
    for episode, length in enumerate(lengths + ([last_unfinished] if last_unfinished else [])):
        obs, _ = env.reset()
        for _ in range(length):
            action = int(rng.integers(4))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            over = bool(terminated or truncated) and episode < len(lengths)
            terminal = bool(terminated)
            if life_loss and not (terminated or truncated) and rng.random() < life_loss:
                terminal = True
            out.append((obs, action, reward, next_obs, terminal, over))
            obs = next_obs
    return out


def fill_memory(exercise: str, FrameReplayMemory, capacity: int, transitions,
                frame_shape: tuple = FRAME, stack_size: int = 4):
    memory = call(exercise, FrameReplayMemory, capacity, frame_shape, stack_size,
                  shown=f"FrameReplayMemory({capacity}, frame_shape={frame_shape}, "
                        f"stack_size={stack_size})")
    for k, (obs, action, reward, next_obs, terminated, over) in enumerate(transitions):
        call(exercise, memory.add, obs, action, reward, next_obs, terminated, over,
             shown=f"memory.add(...) (transition {k})")
    return memory


class Slot(NamedTuple):
    """What a right memory writes into one slot: the stack whose newest frame it holds."""
    stack: np.ndarray          # obs of the transition, or next_obs for an episode's last frame
    first: bool
    is_transition: bool
    transition: tuple | None   # (action, reward, terminated), None for an episode's last frame
    k: int                     # the index of the transition whose add wrote it


def _layout(played) -> list[Slot]:
    """The slots a right memory writes for ``played``, in order (slot t is index t % capacity)."""
    out, new_episode = [], True
    for k, (obs, action, reward, next_obs, terminated, over) in enumerate(played):
        out.append(Slot(obs, new_episode, True, (int(action), float(reward), float(terminated)),
                        k))
        if over:
            out.append(Slot(next_obs, False, False, None, k))
        new_episode = over
    return out


def _ring(slots: list[Slot], capacity: int) -> dict[int, tuple[int, Slot]]:
    """index -> (slot number, slot) of what is in the ring after every slot was written."""
    return {t % capacity: (t, s) for t, s in enumerate(slots) if t >= len(slots) - capacity}


def _stackable(position: int, capacity: int, stack_size: int) -> np.ndarray:
    """The slots whose stacks are whole in the ring: their frames not yet written over."""
    return np.arange(max(0, position - capacity + stack_size - 1), position, dtype=np.int64)


def _episodes(played):
    """Each frame's (episode, step); the steps that follow a terminal transition (a lost life, or
    an episode's terminated end: its last frame); how each episode ended."""
    labels, after_terminal, ended, e, t = {}, set(), {}, 0, 0
    for obs, _, _, next_obs, terminated, over in played:
        labels.setdefault(obs[-1].tobytes(), (e, t))
        labels.setdefault(next_obs[-1].tobytes(), (e, t + 1))
        if terminated:
            after_terminal.add((e, t + 1))
        t += 1
        if over:
            ended[e], e, t = ("terminated" if terminated else "truncated"), e + 1, 0
    return labels, after_terminal, ended


def _state_of(memory) -> dict:
    """The memory's bookkeeping as plain data (what ``__init__`` makes and ``add`` fills)."""
    position = getattr(memory, "position", None)
    state = {"position": int(position) if isinstance(position, (int, np.integer))
             and not isinstance(position, bool) else {"type": type(position).__name__}}
    for name in ("frames", "first", "is_transition", "actions", "rewards", "terminated"):
        value = getattr(memory, name, None)
        state[name] = value if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" \
            else {"type": type(value).__name__}
    return state


def _position_cause(played, position: int, expected: int) -> str:
    steps, over = len(played), sum(p[5] for p in played)
    terminal = sum(bool(p[4]) for p in played)
    running = "" if played[-1][5] else " and one running"
    head = (f"after {steps} transitions in {over} finished episodes{running}, memory.position is "
            f"{position}, expected {expected}: ")
    if position == steps + terminal and terminal != over:
        return head + ("one more slot for the last frame of each finished episode, that is when "
                       "episode_over is True (terminated or truncated: the env is reset next), "
                       "not when terminated is (a lost life sets it too, and the game goes on).")
    return head + ("one slot per transition, and one more for the last frame of each finished "
                   "episode.")


def _frame_cause(played, index: int, t: int, slot: Slot, got: np.ndarray) -> str:
    obs, _, _, next_obs, _, _ = played[slot.k]
    where = f"memory.frames[{index}] (slot {t}, written by the add of transition {slot.k})"
    if not slot.is_transition:
        return (f"{where} is the slot of an episode's last frame: at an episode's end add writes "
                f"next_obs[-1] into one more slot.")
    if np.array_equal(got, obs[0]):
        return (f"{where} holds obs[0], the oldest frame of the stack: store obs[-1], the newest "
                f"(the only frame of obs not stored yet).")
    if np.array_equal(got, next_obs[-1]):
        return (f"{where} holds next_obs[-1]: a transition's slot holds obs[-1]; next_obs[-1] is "
                f"the next add's obs[-1] (or, at an episode's end, goes into one more slot).")
    return f"{where} does not hold obs[-1] of that transition: slot t holds its newest frame."


def _first_cause(played, ring: dict, got: np.ndarray) -> str | None:
    want = np.zeros(len(got), bool)
    for i, (_, s) in ring.items():
        want[i] = s.first
    if np.array_equal(got, want):
        return None
    rule = ("first is True exactly at an episode's first slot: the one that the add after "
            "episode_over (and the very first add) writes.")
    if not got.any():
        return f"memory.first is never True: {rule}"
    written = [i for i, (_, s) in ring.items() if s.is_transition]
    if all(got[i] != want[i] for i in written):
        return ("memory.first is the opposite of what it should be on every transition's slot: "
                + rule)
    missing, extra = set(np.flatnonzero(want & ~got)), set(np.flatnonzero(got & ~want))
    labels, after_terminal, ended = _episodes(played)
    kinds = {}
    for i, (_, s) in ring.items():
        episode, step = labels[s.stack[-1].tobytes()]
        if s.first and episode > 0:
            kinds[i] = "after " + ended.get(episode - 1, "")
        elif not s.is_transition:
            kinds[i] = "last frame"
        elif (episode, step) in after_terminal:
            kinds[i] = "after a lost life"
    if all(kinds.get(i) == "after truncated" for i in missing) \
            and all(kinds.get(i) == "after a lost life" for i in extra):
        return ("memory.first follows terminated instead of episode_over: "
                + ("it is False at the first slot of an episode that follows one ended by "
                   "truncation" if missing else "it is True at the slot after a lost life")
                + ". An episode is over when terminated or truncated (episode_over), and only then "
                  "does the next slot start one; a lost life is terminal for learning, but the "
                  f"episode goes on. {rule}")
    if extra and all(kinds.get(i) == "last frame" for i in extra):
        return ("memory.first is True at the slot of an episode's last frame: set it False when "
                "add writes that slot (the ring's previous lap may have left True there). " + rule)
    i = min(missing | extra)
    t = ring[i][0]
    return f"memory.first[{i}] (slot {t}) is {bool(got[i])}, expected {bool(want[i])}: {rule}"


def _state_cause(played, capacity: int, frame_shape: tuple, state: dict) -> str | None:
    """What ``add`` got wrong, from the memory's arrays after ``played`` (most specific first)."""
    slots = _layout(played)
    position = state.get("position")
    if not isinstance(position, int) or isinstance(position, bool):
        return (f"memory.position should be an int (the slots written so far), got "
                f"{_kind(position)}.")
    if position != len(slots):
        return _position_cause(played, position, len(slots))
    for name, dtype, shape in [("frames", "uint8", (capacity, *frame_shape)),
                               ("first", "bool", (capacity,)),
                               ("is_transition", "bool", (capacity,)),
                               ("actions", None, (capacity,)), ("rewards", None, (capacity,)),
                               ("terminated", None, (capacity,))]:
        value = state.get(name)
        if not isinstance(value, np.ndarray) or value.shape != shape \
                or (dtype and value.dtype.name != dtype):
            return (f"memory.{name} should be the {shape} {dtype or 'number'} array that "
                    f"__init__ makes (one entry per slot), got {_kind(value)}: keep it and write "
                    f"into it.")
    ring = _ring(slots, capacity)
    for i, (t, s) in sorted(ring.items()):
        if not np.array_equal(state["frames"][i], s.stack[-1]):
            return _frame_cause(played, i, t, s, state["frames"][i])
    cause = _first_cause(played, ring, state["first"])
    if cause:
        return cause
    for i, (t, s) in sorted(ring.items()):
        if bool(state["is_transition"][i]) != s.is_transition:
            if s.is_transition:
                return (f"memory.is_transition[{i}] (slot {t}) is False, but a transition is "
                        f"stored there: set it True in every add.")
            return (f"memory.is_transition[{i}] (slot {t}) is True, but that slot holds an "
                    f"episode's last frame, where no transition starts: set it False when add "
                    f"writes that slot (the ring's previous lap may have left True there).")
    for i, (t, s) in sorted(ring.items()):
        got = tuple(float(state[name][i]) for name in ("actions", "rewards", "terminated"))
        if s.transition is not None and got != s.transition:
            return (f"memory.actions, rewards and terminated at slot {t} are {got}, but the "
                    f"transition whose obs[-1] is in that slot had {s.transition}: store them in "
                    f"the slot of obs[-1].")
    return None


ZEROS = ("the older frames of a stack at an episode's start are zeros. FrameStackObservation "
         "pads by repeating the episode's first frame, and the memory must rebuild the stacks the "
         "agent saw: stop going back at the episode's first slot (self.first) and repeat it.")


def _stack_cause(played, got: np.ndarray) -> str | None:
    """Why a stack (stack_size, H, W) is not one that FrameStackObservation produced, or None."""
    labels, after_terminal, ended = _episodes(played)
    size = len(got)
    if any(not f.any() for f in got[:-1]) and got[-1].any():
        return ZEROS
    ids = [labels.get(f.tobytes()) for f in got]
    if None in ids:
        return ("a stack holds a frame that was never added, or one written over: a slot must "
                "hold obs[-1], and the stack of slot t uses slots t - stack_size + 1 .. t "
                "(modulo capacity).")

    def pattern(episode, step):
        return [(episode, max(0, step - k)) for k in range(size - 1, -1, -1)]

    if ids == pattern(*ids[-1]):
        return None
    if ids[::-1] == pattern(*ids[0]):
        return ("the frames of a stack are in reverse order: the oldest first, the newest last "
                "(obs[-1] is the newest, as FrameStackObservation orders them).")
    episode, step = ids[-1]
    if any(e != episode for e, _ in ids):
        note = (" (The episode before ended by truncation: it is over too, episode_over, so the "
                "next slot starts an episode.)" if ended.get(episode - 1) == "truncated" else "")
        return ("a stack mixes frames of two episodes: going back from the newest frame, stop at "
                "the episode's first slot (self.first) and repeat that frame." + note)
    steps, want = [s for _, s in ids], [s for _, s in pattern(episode, step)]
    if steps[0] > want[0] and (episode, steps[0]) in after_terminal:
        return ("a stack stops after a terminal transition (a lost life, or an episode's "
                "terminated end before its last frame): FrameStackObservation stacks on until the "
                "env is reset, so stop only at the episode's first slot (self.first); terminated "
                "is for the TD target only.")
    return (f"the stack whose newest frame is step {step} of an episode holds the frames of "
            f"steps {steps}, expected {want}: one slot back per frame, and at the episode's "
            f"first slot (step 0) that frame repeated.")


def _stacks_cause(played, capacity: int, stack_size: int, frame_shape: tuple,
                  query: np.ndarray, got: Any) -> str | None:
    """What ``stack`` got wrong, from what ``memory.stack(query)`` returned."""
    shown = f"memory.stack(slots) for {len(query)} slot{'s' if len(query) > 1 else ''}"
    want_shape = (len(query), stack_size, *frame_shape)
    if not isinstance(got, np.ndarray):
        return f"{shown} returned {_kind(got)}, expected a uint8 array of shape {want_shape}."
    if got.shape != want_shape:
        hint = (f" This memory has stack_size={stack_size}: go back stack_size - 1 slots "
                f"(self.stack_size), not a fixed number." if got.ndim == 4 and got.shape[0]
                == len(query) and got.shape[1] != stack_size else
                " One stack (stack_size, H, W) per slot number.")
        return f"{shown} returned shape {got.shape}, expected {want_shape}.{hint}"
    if got.dtype != np.uint8:
        return f"{shown} returned dtype {got.dtype}, expected uint8: take the frames as stored."
    slots = _layout(played)
    for b, t in enumerate(query):
        if not np.array_equal(got[b], slots[t].stack):
            cause = _stack_cause(played, got[b]) or (
                f"it returned another stack than the one whose newest frame is in slot {t}: "
                f"the stack of slot t ends with frames[t % capacity].")
            return f"memory.stack([{t}]): {cause}"
    return None


def _key(obs: np.ndarray, next_obs: np.ndarray) -> bytes:
    return np.ascontiguousarray(obs).tobytes() + np.ascontiguousarray(next_obs).tobytes()


def _diagnose(played, obs: np.ndarray, next_obs: np.ndarray) -> str:
    """Name the mistake behind a sampled (obs, next_obs) that was never played."""
    for stack in (obs, next_obs):
        cause = _stack_cause(played, stack)
        if cause:
            return cause
    if np.array_equal(obs, next_obs):
        return "next_obs is obs: next_obs is stack(t + 1), ending with the frame after the action."
    if any(np.array_equal(obs, s.stack) for s in _layout(played) if not s.is_transition):
        return ("a sampled transition starts at an episode's last frame, where no transition "
                "starts: that slot must have is_transition False.")
    return ("a sampled (obs, next_obs) pair was never played: obs is stack(t) and next_obs "
            "stack(t + 1), each going back one slot per frame.")


def _batch_report(batch: Any) -> dict:
    return {name: _report(getattr(batch, name, None))
            for name in ("obs", "actions", "rewards", "next_obs", "terminated")}


def _samples_cause(played, batch: dict, n: int, stack_size: int, frame_shape: tuple,
                   seen: set) -> str | None:
    """What is wrong with the sampled transitions ``batch`` (a ``_batch_report``), or None;
    adds the transitions it drew to ``seen``."""
    shown = f"memory.sample({n})"
    want = (n, stack_size, *frame_shape)
    for name in ("obs", "next_obs"):
        value = batch.get(name)
        if not isinstance(value, np.ndarray) or value.dtype != np.uint8 or value.shape != want:
            return (f"{shown}.{name} is {_kind(value)}, expected shape {want} and dtype uint8: "
                    f"stack() returns (B, stack_size, H, W) frames.")
    for name in ("actions", "rewards", "terminated"):
        value = batch.get(name)
        if not isinstance(value, np.ndarray) or value.shape != (n,):
            return f"{shown}.{name} is {_kind(value)}, expected shape ({n},)."
    truth = {_key(o, nx): (int(a), float(r), float(d)) for o, a, r, nx, d, _ in played}
    for b in range(n):
        key = _key(batch["obs"][b], batch["next_obs"][b])
        if key not in truth:
            return _diagnose(played, batch["obs"][b], batch["next_obs"][b])
        got = (int(batch["actions"][b]), float(batch["rewards"][b]),
               float(batch["terminated"][b]))
        if got != truth[key]:
            return (f"a sampled transition has action, reward, terminated = {got}, but the one "
                    f"played with that obs and next_obs had {truth[key]}: store them in the slot "
                    f"of obs[-1].")
        seen.add(key)
    return None


def _sampleable(played, capacity: int, stack_size: int) -> int:
    """How many transitions ``sample`` can draw: whole stacks, and the next frame written."""
    slots = _layout(played)
    low = max(0, len(slots) - capacity + stack_size - 1)
    return sum(s.is_transition for s in slots[low:len(slots) - 1])


def _check_memory(ex: str, FrameReplayMemory, played, capacity: int, what: str,
                  frame_shape: tuple = FRAME, stack_size: int = 4):
    """Fill a memory with ``played``; check its slots, its stacks and its samples."""
    memory = fill_memory(ex, FrameReplayMemory, capacity, played, frame_shape, stack_size)
    frames = getattr(memory, "frames", None)
    if isinstance(frames, np.ndarray):
        big = [(k, a.shape) for k, a in vars(memory).items()
               if isinstance(a, np.ndarray) and a.nbytes > 2 * frames.nbytes]
        if big:
            fail(ex, f"the memory has an array {big[0][0]} of shape {big[0][1]}: store each "
                     f"frame once, in memory.frames, not whole stacks.")
    cause = _state_cause(played, capacity, frame_shape, _state_of(memory))
    if cause:
        fail(ex, f"{what}: {cause}")
    query = _stackable(memory.position, capacity, stack_size)
    got = call(ex, memory.stack, query.copy(), shown="memory.stack(slots)")
    cause = _stacks_cause(played, capacity, stack_size, frame_shape, query, _report(got))
    if cause:
        fail(ex, f"{what}: {cause}")
    seen: set = set()
    np.random.seed(0)
    for _ in range(40):
        batch = call(ex, memory.sample, 32, shown="memory.sample(32)")
        cause = _samples_cause(played, _batch_report(batch), 32, stack_size, frame_shape, seen)
        if cause:
            fail(ex, f"{what}: {cause}")
    expected = _sampleable(played, capacity, stack_size)
    if len(seen) < expected:
        fail(ex, f"{what}: 1,280 samples drew only {len(seen)} different transitions of the "
                 f"{expected} that can be sampled. At an episode's end, is next_obs[-1] "
                 f"stored in a slot of its own (is_transition False)?")
    return memory


@register("5.2")
def check_frame_replay_memory(FrameReplayMemory) -> None:
    ex = "5.2"
    played = play([5, 2, 7], seed=1, last_unfinished=4)
    _check_memory(ex, FrameReplayMemory, played, 64, "with 3 episodes (ends by terminated and "
                  "by truncated) and a running one in 64 slots")
    wrapped = play([9, 3, 30, 6, 11, 4], seed=2, last_unfinished=27)
    _check_memory(ex, FrameReplayMemory, wrapped, 32, "after the ring wrapped around (90 "
                  "transitions, 32 slots)")
    lives = play([4, 1, 6, 3], seed=3, last_unfinished=5, stack_size=3, life_loss=0.3,
                 frame_shape=(4, 7))
    full = len(_layout(lives))
    _check_memory(ex, FrameReplayMemory, lives, full, f"with stack_size=3, lives lost within "
                  f"episodes and an episode of one step, in exactly {full} slots (a full ring)",
                  frame_shape=(4, 7), stack_size=3)
    laps = play([2, 4, 1, 1, 1, 4], seed=4, last_unfinished=3, stack_size=2, life_loss=0.3,
                frame_shape=(3, 3))
    _check_memory(ex, FrameReplayMemory, laps, 8, "with stack_size=2 after the ring wrapped "
                  "twice, an episode's last frame written where an episode started a lap before",
                  frame_shape=(3, 3), stack_size=2)
    passed(ex, "each frame stored once as uint8; the sampled stacks are those "
               "FrameStackObservation produced, across episode starts, episode ends, lost lives "
               "and the ring's write head, for any stack_size")


@scenario("5.2")
class FrameReplayMemoryScenario(Scenario):
    """Rings partly filled, exactly full and wrapped several times (episodes that start and end
    at the ring's wrap point, stacks that go back across it), stack sizes 2, 3 and 4, other
    frame shapes, lives lost within episodes, episodes of one step. ``run`` returns the
    memory's arrays, the stacks of every slot whose frames are all in the ring, and raw samples;
    the judge checks the arrays and the stacks against the layout the played episodes give, and
    the samples by their properties (each one a transition really played, with its action,
    reward and terminal; the sampleable ones covered), since student code may draw other random
    numbers."""

    # what, capacity (None: exactly full), stack_size, frame_shape, lengths, running, life loss
    CASES = [
        ("partly filled", 64, 4, (5, 3), [6, 1, 4], 3, 0.25, 5021),
        ("exactly full", None, 4, (4, 6), [7, 1, 5], 6, 0.2, 5022),
        ("wrapped 5 times, an episode ending at the ring's last index", 16, 4, (5, 3),
         [15, 11, 3, 1, 12, 2, 9, 19], 9, 0.15, 5023),
        ("stack_size 3, wrapped", 24, 3, (3, 7), [4, 9, 2, 13, 6], 5, 0.2, 5024),
        ("stack_size 2, wrapped, an episode's end where one started a lap before", 9, 2, (2, 2),
         [3, 2, 5, 1, 1, 4], 2, 0.3, 5025),
    ]

    def cases(self, ref):
        out = []
        for what, capacity, size, shape, lengths, running, loss, seed in self.CASES:
            played = play(lengths, seed, running, size, loss, shape)
            capacity = capacity or len(_layout(played))
            obs, actions, rewards, next_obs, terminated, over = zip(*played)
            position = len(_layout(played))
            out.append({
                "what": f"{what}: {len(played)} transitions through {capacity} slots, "
                        f"stack_size={size}, frames {shape}",
                "capacity": capacity, "stack_size": size, "frame_shape": list(shape),
                "obs": np.stack(obs), "actions": np.array(actions, np.int64),
                "rewards": np.array(rewards, np.float64), "next_obs": np.stack(next_obs),
                "terminated": np.array(terminated), "over": np.array(over),
                "query": _stackable(position, capacity, size), "batch_sizes": [1, 300]})
        return out

    @staticmethod
    def played(case) -> list:
        return [(case["obs"][k], int(case["actions"][k]), float(case["rewards"][k]),
                 case["next_obs"][k], bool(case["terminated"][k]), bool(case["over"][k]))
                for k in range(len(case["actions"]))]

    def run(self, case, FrameReplayMemory):
        ex, shape, size = "5.2", tuple(case["frame_shape"]), case["stack_size"]
        memory = fill_memory(ex, FrameReplayMemory, case["capacity"], self.played(case), shape,
                             size)
        query = case["query"]
        got = {"state": _state_of(memory),
               "stack": _report(call(ex, memory.stack, query.copy(), shown="memory.stack(slots)")),
               "stack_one": _report(call(ex, memory.stack, query[-1:].copy(),
                                         shown=f"memory.stack(np.array([{query[-1]}]))"))}
        if np.any(getattr(memory, "is_transition", True)):  # else sample() would never return
            got["samples"] = [_batch_report(call(ex, memory.sample, n, shown=f"memory.sample({n})"))
                              for n in case["batch_sizes"]]
        return got

    def judge(self, case, got, expected):
        ex, what, played = "5.2", case["what"], self.played(case)
        capacity, size, shape = case["capacity"], case["stack_size"], tuple(case["frame_shape"])
        if not isinstance(got, dict) or not isinstance(got.get("state"), dict):
            fail(ex, f"{what}: the memory's arrays could not be read.")
        cause = _state_cause(played, capacity, shape, got["state"])
        if cause:
            fail(ex, f"{what}: {cause}")
        state, want = got["state"], expected["state"]
        for name in ("frames", "first", "is_transition"):  # the layout above is the solution's
            if not np.array_equal(state[name], want[name]):
                fail(ex, f"{what}: memory.{name} differs from a right memory's (outside the slots "
                         f"written: add writes only at position % capacity).")
        query = case["query"]
        for slots, key in ((query, "stack"), (query[-1:], "stack_one")):
            cause = _stacks_cause(played, capacity, size, shape, slots, got.get(key))
            if cause:
                fail(ex, f"{what}: {cause}")
        samples = got.get("samples")
        if not isinstance(samples, list) or len(samples) != len(case["batch_sizes"]):
            fail(ex, f"{what}: memory.sample() returned no batches: is any slot a transition "
                     f"(is_transition True)?")
        seen: set = set()
        for n, batch in zip(case["batch_sizes"], samples):
            cause = _samples_cause(played, batch if isinstance(batch, dict) else {}, n, size,
                                   shape, seen)
            if cause:
                fail(ex, f"{what}: {cause}")
        count = _sampleable(played, capacity, size)
        if len(seen) < count / 2:
            fail(ex, f"{what}: {sum(case['batch_sizes'])} samples drew only {len(seen)} different "
                     f"transitions of the {count} that can be sampled: sample uniformly among "
                     f"the slots that are transitions (is_transition True).")


# ---------------------------------------------------------------- 5.3 the learning signal
# the usual wrong clippings, each with what it means (tried on every reward of a check at once)
CLIPPINGS = [
    (lambda r: float(np.clip(r, -1, 1)), "that clips to [-1, 1], which leaves a reward between -1 "
     "and 1 as it is. Clip to the reward's sign: np.sign(reward)."),
    (lambda r: 1.0 if r >= 0 else -1.0, "a zero reward must stay 0 (np.sign(0.0) is 0.0): only a "
     "positive reward becomes +1 and a negative one -1."),
    (lambda r: float(min(r, 1)), "the clipped reward is the reward's sign: +1, -1 or 0 "
     "(np.sign); negative rewards are left as they are here."),
]


def _clip_hint(rewards: list[float], clipped: list[float]) -> str:
    """What the clipped rewards of several calls (``clipped`` for ``rewards``) say was done."""
    for clip, hint in CLIPPINGS:
        if all(c == clip(r) for r, c in zip(rewards, clipped)):
            return hint
    return "the clipped reward is the reward's sign: +1, -1 or 0 (np.sign)."


def _terminal_why(reward: float, terminated: bool, lives: int, new_lives: int) -> str:
    """Why ``terminal`` is what it is, for learning_signal(reward, terminated, lives, new_lives)."""
    if terminated and new_lives < lives:
        return (f"the game is over and a life was lost ({lives} -> {new_lives}) on the same step: "
                f"terminal")
    if terminated:
        return "terminated is True: the game is over whatever the lives say"
    if new_lives < lives and new_lives == 0:
        return (f"the last life was lost ({lives} -> 0), even though terminated is still False "
                f"(some games, Qbert, show 0 lives for a few frames before the game ends): a "
                f"lost life is terminal for learning (baselines' EpisodicLifeEnv checks "
                f"lives > 0 only to decide when to reset)")
    if new_lives < lives:
        scored = ", even on a step that scored" if reward else ""
        return (f"a life was lost ({lives} -> {new_lives}){scored}: that ends the episode for "
                f"learning")
    if new_lives > lives:
        return f"a life was gained, not lost ({lives} -> {new_lives}: some games give extra lives)"
    return "no life was lost and the game goes on"


def _signal_report(out: Any) -> dict:
    """What learning_signal returned, as plain data: its form and its two values."""
    if not isinstance(out, tuple) or len(out) != 2:
        return {"type": type(out).__name__,
                "length": len(out) if isinstance(out, (list, tuple)) else None}
    clipped, terminal = out
    report = {"type": "tuple", "clipped_type": type(clipped).__name__,
              "clipped_is_float": isinstance(clipped, (float, np.floating)),
              "terminal_type": type(terminal).__name__,
              "terminal_is_bool": isinstance(terminal, (bool, np.bool_)),
              "clipped": None, "terminal": None}
    try:
        report["clipped"] = float(clipped)
        report["terminal"] = bool(terminal)
    except (TypeError, ValueError, RuntimeError):
        pass
    return report


def _signals_cause(calls: list[tuple], got: list, want: list[tuple]) -> str | None:
    """What learning_signal got wrong on ``calls``, from its ``_signal_report`` of each, or None;
    ``want`` holds the right (clipped_reward, terminal) of each call."""
    for args, out in zip(calls, got):
        shown = f"learning_signal{args}"
        if not isinstance(out, dict) or out.get("type") != "tuple":
            return f"{shown} returned {_kind(out)}; return a pair (clipped_reward, terminal)."
        if not out["clipped_is_float"] or not out["terminal_is_bool"]:
            return (f"{shown} returned a ({out['clipped_type']}, {out['terminal_type']}): the "
                    f"clipped reward should be a float and terminal a bool.")
    clipped = [out["clipped"] for out in got]
    for args, out, (reward, _) in zip(calls, got, want):
        if out["clipped"] != reward:
            hint = _clip_hint([a[0] for a in calls], clipped)
            return (f"learning_signal{args} gave the clipped reward {fmt(out['clipped'])}, "
                    f"expected {reward}: {hint}")
    for args, out, (_, terminal) in zip(calls, got, want):
        if out["terminal"] != terminal:
            return (f"learning_signal{args} gave terminal = {out['terminal']}, expected "
                    f"{terminal}: {_terminal_why(*args)}.")
    return None


@register("5.3")
def check_learning_signal(learning_signal) -> None:
    ex = "5.3"
    calls = [(reward, False, 5, 5) for reward in (0.0, 1.0, 4.0, 7.0, -3.0, 0.5, -0.2)]
    calls += [(0.0, False, 5, 4), (1.0, False, 3, 2), (0.0, True, 1, 0), (0.0, True, 2, 2),
              (4.0, False, 2, 2), (0.0, False, 2, 3), (0.0, False, 1, 0)]
    got = [_signal_report(call(ex, learning_signal, *args, shown=f"learning_signal{args}"))
           for args in calls]
    want = [(float(np.sign(r)), bool(done or new < lives))  # equation (1)
            for r, done, lives, new in calls]
    cause = _signals_cause(calls, got, want)
    if cause:
        fail(ex, cause)
    passed(ex, "rewards clipped to their sign; a lost life or the game's end is terminal")


@scenario("5.3")
class LearningSignalScenario(Scenario):
    """Every pairing of rewards (zero, -0.0, tiny, fractional, large, of both signs), with
    terminated or not, and lives kept, lost (one or two, the last one too), gained, or at 0."""

    REWARDS = [0.0, -0.0, 1.0, 4.0, 7.0, 100.0, 0.001, 0.25, -1.0, -0.75, -9.0]
    LIVES = [(5, 5), (5, 4), (3, 2), (4, 2), (1, 0), (2, 3), (0, 0)]

    def cases(self, ref):
        return [{"calls": [[reward, terminated, lives, new_lives] for reward in self.REWARDS
                           for terminated in (False, True)]}
                for lives, new_lives in self.LIVES]

    def run(self, case, learning_signal):
        out = []
        for reward, terminated, lives, new_lives in case["calls"]:
            args = (float(reward), bool(terminated), int(lives), int(new_lives))
            out.append(_signal_report(call("5.3", learning_signal, *args,
                                           shown=f"learning_signal{args}")))
        return out

    def judge(self, case, got, expected):
        if not isinstance(got, list) or len(got) != len(case["calls"]):
            fail("5.3", "learning_signal's results are incomplete.")
        cause = _signals_cause([tuple(args) for args in case["calls"]], got,
                               [(want["clipped"], want["terminal"]) for want in expected])
        if cause:
            fail("5.3", cause)
