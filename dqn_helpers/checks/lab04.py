"""Checks for lab 04: the pixel observation (crop around the cart), the frame stack and the CNN.

The checks put CartPole in known states (``env.unwrapped.state = ...``), so they know where the
cart and the pole must appear, and compare with ``reference_window``, the window the lab asks
for: rows 160 to 320 of the 400 x 600 frame, 240 columns centred on the cart (black beyond the
screen's edge), in grayscale, shrunk with ``cv2.INTER_AREA``, as ``uint8``.

The frame stack (4.2) is checked with ``ReferenceCartCrop`` in place of the notebook's
``CartCrop``: a mistake in exercise 4.1 costs exercise 4.1 only. Each exercise also has a
hidden scenario (``@scenario``) that the grader runs on other sizes, positions and stacks.
"""

from __future__ import annotations

import contextlib
import copy

import cv2
import gymnasium as gym
import numpy as np
import torch
from torch import nn

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
from dqn_helpers.checks.lab03 import attempt

TOP, CROP_HEIGHT, CROP_WIDTH = 160, 160, 240  # the window, in screen pixels (lab 04)


def cart_column(env: gym.Env) -> int:
    """The screen column of the cart's centre, from the cart's position ``state[0]``."""
    u = env.unwrapped
    column = round(u.state[0] * u.screen_width / (2 * u.x_threshold) + u.screen_width / 2)
    return int(np.clip(column, 0, u.screen_width))  # the last frame may be past the end


def reference_window(env: gym.Env, height: int = 40, width: int = 60) -> np.ndarray:
    """What lab 04's ``CartCrop.observation`` returns for the env's current state."""
    gray = cv2.cvtColor(env.unwrapped.render(), cv2.COLOR_RGB2GRAY)
    band = gray[TOP:TOP + CROP_HEIGHT]
    half = CROP_WIDTH // 2
    padded = cv2.copyMakeBorder(band, 0, 0, half, half, cv2.BORDER_CONSTANT, value=0)
    column = cart_column(env)
    window = padded[:, column:column + CROP_WIDTH]
    return cv2.resize(window, (width, height), interpolation=cv2.INTER_AREA)


class ReferenceCartCrop(gym.ObservationWrapper):
    """Exercise 4.1's ``CartCrop``, as the checks compute it: 4.2's stand-in for the notebook's."""

    def __init__(self, env: gym.Env, height: int = 40, width: int = 60):
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError("CartCrop needs gym.make(..., render_mode='rgb_array')")
        self.height, self.width = height, width
        self.observation_space = gym.spaces.Box(0, 255, (height, width), np.uint8)

    def observation(self, obs):
        return reference_window(self.env, self.height, self.width)


def cartpole(seed: int = 0) -> gym.Env:
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    env.reset(seed=seed)
    return env


def put(env: gym.Env, x: float, theta: float = 0.0, x_dot: float = 0.0,
        theta_dot: float = 0.0) -> np.ndarray:
    """Put the cart at ``x`` with the pole at angle ``theta``; return the state."""
    state = np.array([x, x_dot, theta, theta_dot])
    env.unwrapped.state = state
    return state.astype(np.float32)


_PLAIN = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64"}  # the dtypes the grader's wire carries


def observed(value) -> dict:
    """An observation, as plain data: its type, shape and dtype, and the array itself."""
    if isinstance(value, torch.Tensor):
        return {"type": "Tensor", "shape": list(value.shape)}
    if not isinstance(value, np.ndarray):
        return {"type": type(value).__name__}
    facts = {"type": "ndarray", "shape": list(value.shape), "dtype": value.dtype.name}
    if value.dtype.name in _PLAIN and 0 < value.size <= 100_000:
        facts["array"], facts["max"] = value, float(value.max())
    return facts


def _image_problem(facts: dict, shown: str, height: int, width: int) -> str | None:
    """A wrong type, shape, dtype or scale of one observation (both sides of the check)."""
    kind = facts.get("type")
    if kind == "Tensor":
        return (f"{shown} returned a torch.Tensor; return a NumPy array (the replay memory "
                f"stores NumPy arrays, the network converts a batch).")
    if kind != "ndarray":
        return f"{shown} returned {kind}; expected a NumPy array of shape ({height}, {width})."
    shape = tuple(facts["shape"])
    if shape in ((height, width, 3), (3, height, width)):
        return (f"{shown} has shape {shape}: the colour channels are still there. Convert to "
                f"grayscale (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)): shape ({height}, "
                f"{width}).")
    if shape == (width, height) and height != width:
        return (f"{shown} has shape {shape}: height and width are swapped. NumPy images are "
                f"(height, width), but cv2.resize takes its size as (width, height).")
    if shape == (CROP_HEIGHT, CROP_WIDTH):
        return (f"{shown} has shape {shape}, the window before shrinking: resize it to "
                f"(height, width) = ({height}, {width}).")
    if shape == (40, 60) and shape != (height, width):
        return (f"{shown} has shape {shape}, the default size; expected ({height}, {width}), "
                f"the height and width the wrapper was given: shrink to (self.height, "
                f"self.width) with cv2.resize (a fixed step such as [::4, ::4] fits 40 x 60 "
                f"only).")
    if shape != (height, width):
        return (f"{shown} has shape {shape}; expected ({height}, {width}): one grayscale "
                f"image of the window, shrunk to the wrapper's height and width.")
    dtype = facts["dtype"]
    if dtype != "uint8":
        if dtype.startswith("float") and facts.get("max", 255.0) <= 1.0:
            return (f"{shown} has dtype {dtype} with values in [0, 1]: keep the pixels as "
                    f"uint8 in 0..255. The replay memory stores uint8 (4x smaller than "
                    f"float32); the network divides by 255 itself.")
        return (f"{shown} has dtype {dtype}; expected uint8 pixels in 0..255 "
                f"(.astype(np.uint8), or keep cv2's uint8 result): the replay memory stores "
                f"uint8, 4x smaller than float32.")
    return None


def _image(ex: str, value, shown: str, height: int, width: int) -> np.ndarray:
    """The returned observation as an array, after naming a wrong type, dtype, scale or shape."""
    problem = _image_problem(observed(value), shown, height, width)
    if problem:
        fail(ex, problem)
    return value


def _dark_centre(image: np.ndarray, rows: slice) -> float | None:
    """The mean column of the dark pixels (the cart) in ``rows``, or None if there are none."""
    band = image[rows] < 100
    columns = np.nonzero(band)[1]
    return float(columns.mean()) if len(columns) else None


def _cart_rows(height: int) -> slice:
    return slice(int(0.8 * height), int(0.95 * height))  # the cart: screen rows 285..315


def _centre_problem(centres: dict[float, float | None], width: int) -> str | None:
    """Is the cart (its mean dark column at each position x) in the middle of the window?"""
    if all(c is None for c in centres.values()):
        return (f"no cart in the rows where it should be (the lower part of the image), "
                f"wherever it is on the track. Crop screen rows {TOP} to "
                f"{TOP + CROP_HEIGHT}: the pole and the cart.")
    middle = (width - 1) / 2
    if any(c is None for c in centres.values()):
        found = ", ".join(f"x = {x}: {'column %.1f' % c if c is not None else 'not in view'}"
                          for x, c in centres.items())
        return (f"the cart should sit in the middle of the image (column {middle:.1f}) "
                f"wherever it is on the track; found {found}. The window stays put while the "
                f"cart moves: centre it on the cart's column.")
    if max(abs(c - middle) for c in centres.values()) <= max(1.5, width / 30):
        return None
    found = ", ".join(f"x = {x}: column {c:.1f}" for x, c in centres.items())
    shifted = max(centres.values()) - min(centres.values()) <= 2
    return (f"the cart should sit in the middle of the image (column {middle:.1f}) wherever "
            f"it is on the track; found {found}. "
            + (f"It moves with the window, but off-centre: the window is shifted. Take "
               f"{CROP_WIDTH} columns centred on the cart's column (after padding "
               f"{CROP_WIDTH // 2} columns on each side, the window starts at the cart's "
               f"screen column)." if shifted else
               "The window stays put while the cart moves: centre it on the cart's column, "
               "int(x * scale + screen_width / 2) with scale = screen_width / "
               "(2 * x_threshold)."))


def _edge_problem(x: float, image: np.ndarray) -> str | None:
    """Near an end of the track, the columns beyond the screen's edge must be black."""
    side = image[:, -3:] if x > 0 else image[:, :3]
    if side.max() <= 60:
        return None
    return (f"with the cart at x = {x}, near the end of the track, the columns beyond the "
            f"screen's edge should be black (0), got values up to {int(side.max())}. Pad the "
            f"band with black before cutting the window (cv2.copyMakeBorder(..., "
            f"cv2.BORDER_CONSTANT, value=0), or np.pad): that edge is how the agent sees the "
            f"end of the track coming.")


def _gap_problem(x: float, theta: float, image: np.ndarray, want: np.ndarray) -> str | None:
    gap = float(np.abs(image.astype(float) - want.astype(float)).mean())
    if gap <= 8:
        return None
    return (f"with x = {x} and the pole at {theta} rad, the image differs from the expected "
            f"window by {gap:.1f} gray levels on average. Expected: screen rows {TOP} to "
            f"{TOP + CROP_HEIGHT}, {CROP_WIDTH} columns centred on the cart, grayscale, shrunk "
            f"with cv2.resize(window, (width, height), interpolation=cv2.INTER_AREA).")


def _space_problem(space: dict, height: int, width: int) -> str | None:
    if space.get("type") == "Box" and tuple(space.get("shape") or ()) == (height, width) \
            and space.get("dtype") == "uint8":
        return None
    return (f"CartCrop's observation_space is a {space.get('type')} of shape "
            f"{space.get('shape')} and dtype {space.get('dtype')}; expected Box(0, 255, "
            f"({height}, {width}), uint8), what observation() returns.")


def _space_facts(space) -> dict:
    shape = getattr(space, "shape", None)
    dtype = getattr(space, "dtype", None)
    return {"type": type(space).__name__,
            "shape": [int(n) for n in shape] if isinstance(shape, tuple) else None,
            "dtype": np.dtype(dtype).name if dtype is not None else None}


def _shown_at(x: float, height: int, width: int) -> str:
    where = ", just past the end of the track" if abs(x) > 2.4 else ""
    return f"observation() with the cart at x = {x}{where} (a {height}x{width} CartCrop)"


# ---------------------------------------------------------------- 4.1 the window on the cart
@register("4.1")
def check_cart_crop(CartCrop) -> None:
    ex = "4.1"
    env = cartpole(seed=0)
    try:
        for height, width in ((40, 60), (30, 48)):
            wrapped = call(ex, CartCrop, env, height, width,
                           shown=f"CartCrop(env, height={height}, width={width})")
            if not isinstance(wrapped, gym.ObservationWrapper):
                fail(ex, "CartCrop should subclass gymnasium.ObservationWrapper.")
            problem = _space_problem(_space_facts(wrapped.observation_space), height, width)
            if problem:
                fail(ex, problem)
            _check_window(ex, wrapped, env, height, width)
    finally:
        env.close()
    passed(ex, "grayscale uint8, the cart always in the middle, black beyond the track's "
               "ends, the expected window")


def _check_window(ex: str, wrapped: gym.Env, env: gym.Env, height: int, width: int) -> None:
    def image_at(x: float, theta: float = 0.0) -> np.ndarray:
        state = put(env, x, theta)
        shown = _shown_at(x, height, width)
        return _image(ex, call(ex, wrapped.observation, state, shown=shown), shown, height,
                      width)

    def check(problem: str | None) -> None:
        if problem:
            fail(ex, problem)

    check(_centre_problem({x: _dark_centre(image_at(x), _cart_rows(height))
                           for x in (-1.2, 0.0, 1.2)}, width))
    for x in (2.3, -2.3):
        check(_edge_problem(x, image_at(x)))
    for x in (-2.45, 2.45):  # an episode's last frame: the cart just past the end of the track
        image_at(x)
    for x, theta in ((0.0, 0.0), (-0.7, 0.15), (0.9, -0.18), (1.9, 0.1), (-2.1, -0.05)):
        image = image_at(x, theta)
        check(_gap_problem(x, theta, image, reference_window(env, height, width)))


# positions (x, theta) of the hidden scenario: the middle, both ends (the black edge), just past
# the ends (an episode's last frame), and a few random ones
_CROP_POSITIONS = [(0.0, 0.0), (-1.1, 0.1), (1.3, -0.12), (-2.3, 0.05), (2.3, -0.05),
                   (-2.45, 0.0), (2.45, 0.0)]


@scenario("4.1")
class CartCropScenario(Scenario):
    """Other window sizes (square, and wider than the lab's), positions all over the track,
    the pole tilted both ways."""

    def cases(self, ref):
        rng = np.random.default_rng(4011)
        out = []
        for height, width in ((36, 54), (50, 50), (24, 90)):
            extra = [(round(float(rng.uniform(-2.2, 2.2)), 2),
                      round(float(rng.uniform(-0.2, 0.2)), 3)) for _ in range(3)]
            out.append({"height": height, "width": width,
                        "positions": [list(p) for p in _CROP_POSITIONS + extra]})
        return out

    def run(self, case, CartCrop):
        ex, height, width = "4.1", case["height"], case["width"]
        env = cartpole(seed=4011)
        try:
            wrapped = call(ex, CartCrop, env, height, width,
                           shown=f"CartCrop(env, height={height}, width={width})")
            if not isinstance(wrapped, gym.ObservationWrapper):
                return {"type": type(wrapped).__name__}
            space = _space_facts(wrapped.observation_space)
            images = []
            for x, theta in case["positions"]:
                state = put(env, x, theta)
                images.append(observed(call(ex, wrapped.observation, state,
                                            shown=_shown_at(x, height, width))))
        finally:
            env.close()
        return {"type": "ObservationWrapper", "space": space, "images": images}

    def judge(self, case, got, expected):
        ex, height, width = "4.1", case["height"], case["width"]
        if got.get("type") != "ObservationWrapper":
            fail(ex, "CartCrop should subclass gymnasium.ObservationWrapper.")
        problem = _space_problem(got["space"], height, width)
        for (x, _), facts in zip(case["positions"], got["images"]):
            problem = problem or _image_problem(facts, _shown_at(x, height, width), height,
                                                width)
        if problem:
            fail(ex, problem)
        images = [facts["array"] for facts in got["images"]]
        wants = [facts["array"] for facts in expected["images"]]
        inside = [(x, t, i, w) for (x, t), i, w in zip(case["positions"], images, wants)
                  if abs(x) <= 2.4]
        if all(_gap_problem(x, t, i, w) is None for x, t, i, w in inside):
            return
        problem = _centre_problem({x: _dark_centre(i, _cart_rows(height))
                                   for x, _, i, _ in inside if abs(x) <= 1.5}, width)
        for x, _, i, _ in inside:
            problem = problem or (_edge_problem(x, i) if abs(x) >= 2.25 else None)
        for x, t, i, w in inside:
            problem = problem or _gap_problem(x, t, i, w)
        fail(ex, problem)


# ---------------------------------------------------------------- 4.2 the stack of frames
def _frames_problem(facts: dict, shown: str, k: int) -> str | None:
    """A wrong type, layout or dtype of a stacked observation (both sides of the check)."""
    if facts.get("type") != "ndarray":
        return (f"{shown} gave a {facts.get('type')}; expected a NumPy array of shape ({k}, "
                f"height, width).")
    shape = tuple(facts["shape"])
    if len(shape) == 2 and k > 1 and (shape[0] == 40 * k or shape[1] == 60 * k):
        return (f"{shown} gave one image of shape {shape}: the {k} frames are joined "
                f"end to end (np.concatenate). Stack them on a new first axis, "
                f"np.stack(frames): ({k}, height, width).")
    if len(shape) == 2:
        return (f"{shown} gave one image of shape {shape}: the frames are not stacked. Wrap "
                f"the env in gymnasium.wrappers.FrameStackObservation(env, k), after CartCrop.")
    if len(shape) == 3 and shape[-1] == k and shape[0] != k:
        return (f"{shown} has shape {shape}: the frames are on the last axis. Stack them on "
                f"the first: ({k}, height, width), the channels-first layout of nn.Conv2d.")
    if len(shape) == 3 and shape[0] != k:
        return (f"{shown} has shape {shape}, {shape[0]} frames; expected ({k}, height, width) "
                f"for k = {k}: stack the last k frames, FrameStackObservation(env, k), not a "
                f"fixed number.")
    if len(shape) != 3:
        return (f"{shown} has shape {shape}; expected ({k}, height, width): the last {k} "
                f"frames, oldest first.")
    if facts["dtype"] != "uint8":
        return f"{shown} has dtype {facts['dtype']}; expected uint8 (as CartCrop returns)."
    return None


def _frames(ex: str, obs, shown: str, k: int) -> np.ndarray:
    problem = _frames_problem(observed(obs), shown, k)
    if problem:
        fail(ex, problem)
    return obs


def _nearest(frame: np.ndarray, windows: list[np.ndarray]) -> tuple[int, float]:
    """The index of the window closest to ``frame``, and their mean gray-level difference."""
    gaps = [float(np.abs(frame.astype(float) - w).mean()) for w in windows]
    return int(np.argmin(gaps)), min(gaps)


def _order_problem(obs: np.ndarray, history: list[np.ndarray], step: int, k: int,
                   shown: str) -> str | None:
    """Does ``obs``, after ``step`` steps, hold the windows of the last k steps, oldest first?
    ``history[i]`` is the window after i steps (0: the reset)."""
    got = [_nearest(frame, history)[0] for frame in obs]
    want = [max(0, step - (k - 1) + i) for i in range(k)]  # oldest first, padded at reset
    if got == want:
        return None
    if step < k and not obs[0].any():
        return (f"after reset() and {step} step(s) of {shown}, obs[0] is all black: fill the "
                f"stack with the first frame of the episode at reset, not with zeros "
                f"(FrameStackObservation's default, padding_type=\"reset\").")
    where = (f"after {step} step(s) of {shown}, the stack holds the windows of steps {got}, "
             f"expected {want} (0 is the reset)")
    if got == want[::-1]:
        return (f"{where}: the newest frame is first. Keep the oldest first and the current "
                f"frame last (obs[-1]), as FrameStackObservation does.")
    if got[-1] != step:
        return f"{where}: the last frame, obs[-1], is not the current window."
    return f"{where}: the stack should hold the last {k} windows in order, oldest first."


def _reset_problem(obs: np.ndarray, first: np.ndarray, old: list[np.ndarray]) -> str | None:
    """After a second reset(), every frame must be the new episode's first window."""
    for i, frame in enumerate(obs):
        index, _ = _nearest(frame, [first, *old])
        if index != 0:
            return (f"after reset(), frame obs[{i}] is the window of step {index - 1} of the "
                    f"previous episode: fill the whole stack with the first frame of the new "
                    f"episode (as FrameStackObservation does), so no stale frames leak across "
                    f"episodes.")
    return None


def _env_problem(spec_id, render_mode, shown: str) -> str | None:
    if spec_id != "CartPole-v1":
        return (f"{shown} should make CartPole-v1 (gym.make(\"CartPole-v1\", "
                f"render_mode=\"rgb_array\")).")
    if render_mode != "rgb_array":
        return (f"{shown} renders to {render_mode!r}: make CartPole-v1 with "
                f"render_mode=\"rgb_array\", the frames are the observations.")
    return None


def _space_shape_problem(space_shape, obs_shape, shown: str) -> str | None:
    if space_shape is not None and tuple(space_shape) == tuple(obs_shape):
        return None
    declared = None if space_shape is None else tuple(space_shape)
    return (f"{shown}.observation_space has shape {declared} but reset() returned shape "
            f"{tuple(obs_shape)}: a wrapper that changes the "
            f"observations sets its observation_space to match.")


def _make_pixel_env(ex: str, make_pixel_env, k: int, shown: str):
    """``make_pixel_env(k)``, with the checks' CartCrop in place of the notebook's."""
    with standins(make_pixel_env, CartCrop=ReferenceCartCrop):
        return call(ex, make_pixel_env, k, shown=shown)


@register("4.2")
def check_make_pixel_env(make_pixel_env) -> None:
    ex = "4.2"
    for k in (4, 3):
        shown = f"make_pixel_env(k={k})"
        env = _make_pixel_env(ex, make_pixel_env, k, shown)
        if not isinstance(env, gym.Env):
            fail(ex, f"{shown} returned {type(env).__name__}; expected a gymnasium env.")
        try:
            _check_stack(ex, env, k, shown)
        finally:
            env.close()
    passed(ex, "the last k frames, oldest first, the current one last, none left over from "
               "the previous episode")


# cart positions near the ends of the track: each shows a different black edge, so the frames
# of a stack are easy to tell apart
POSITIONS = [1.5, -1.7, 1.9, -2.1, 2.3, -1.5, 1.7]


def _check_stack(ex: str, env: gym.Env, k: int, shown: str) -> None:
    spec = env.unwrapped.spec
    problem = _env_problem(spec.id if spec else None, env.render_mode, shown)
    if problem:
        fail(ex, problem)
    obs, _ = env.reset(seed=11)
    obs = _frames(ex, obs, f"{shown}.reset()", k)
    problem = _space_shape_problem(env.observation_space.shape, obs.shape, shown)
    if problem:
        fail(ex, problem)
    height, width = obs.shape[1:]
    history = [reference_window(env, height, width).astype(float)]  # the window at each step
    for step, x in enumerate(POSITIONS, start=1):
        put(env, x)
        obs, *_ = env.step(step % 2)
        obs = _frames(ex, obs, f"{shown}.step()", k)
        history.append(reference_window(env, height, width).astype(float))
        problem = _order_problem(obs, history, step, k, shown)
        if problem:
            fail(ex, problem)
    obs, _ = env.reset(seed=12)
    obs = _frames(ex, obs, f"{shown}.reset()", k)
    problem = _reset_problem(obs, reference_window(env, height, width).astype(float), history)
    if problem:
        fail(ex, problem)


# the hidden scenario's positions: near the ends, each a different black edge
_STACK_POSITIONS = [-1.6, 2.2, -2.0, 1.6, -2.3, 1.8, -1.8, 2.0]


@scenario("4.2")
class PixelEnvScenario(Scenario):
    """Stacks of 2, 5 and 1 frames, over two episodes (the second must not keep the first's
    frames), with random actions; the lab's own CartCrop stands in for the notebook's."""

    def cases(self, ref):
        out = []
        for k, seed in ((2, 4021), (5, 4022), (1, 4023)):
            rng = np.random.default_rng(seed)
            n = k + 3
            out.append({"k": k, "episodes": [
                {"seed": seed, "positions": _STACK_POSITIONS[:n],
                 "actions": [int(a) for a in rng.integers(0, 2, n)]},
                {"seed": seed + 100, "positions": [1.7, -2.1],
                 "actions": [int(a) for a in rng.integers(0, 2, 2)]}]})
        return out

    def run(self, case, make_pixel_env):
        ex, k = "4.2", case["k"]
        shown = f"make_pixel_env(k={k})"
        env = _make_pixel_env(ex, make_pixel_env, k, shown)
        if not isinstance(env, gym.Env):
            return {"type": type(env).__name__}
        try:
            spec = env.unwrapped.spec
            facts = {"type": "Env", "spec": spec.id if spec else None,
                     "render_mode": env.render_mode,
                     "space": _space_facts(env.observation_space)["shape"], "episodes": []}
            if _env_problem(facts["spec"], facts["render_mode"], shown):
                return facts  # no frames to look at
            for episode in case["episodes"]:
                obs, _ = call(ex, env.reset, seed=episode["seed"], shown=f"{shown}.reset()")
                frames = [observed(obs)]
                for x, action in zip(episode["positions"], episode["actions"]):
                    put(env, x)
                    obs = call(ex, env.step, action, shown=f"{shown}.step({action})")[0]
                    frames.append(observed(obs))
                facts["episodes"].append(frames)
        finally:
            env.close()
        return facts

    def judge(self, case, got, expected):
        ex, k = "4.2", case["k"]
        shown = f"make_pixel_env(k={k})"
        if got.get("type") != "Env":
            fail(ex, f"{shown} returned {got.get('type')}; expected a gymnasium env.")
        problem = _env_problem(got["spec"], got["render_mode"], shown)
        for frames in got["episodes"]:
            for t, facts in enumerate(frames):
                where = f"{shown}.reset()" if t == 0 else f"{shown}.step()"
                problem = problem or _frames_problem(facts, where, k)
        if problem:
            fail(ex, problem)
        first, second = got["episodes"]
        problem = _space_shape_problem(got["space"], first[0]["shape"], shown)
        histories = [[f["array"][-1].astype(float) for f in frames]
                     for frames in expected["episodes"]]
        for step, facts in enumerate(first):
            problem = problem or _order_problem(facts["array"], histories[0], step, k, shown)
        problem = problem or _reset_problem(second[0]["array"], histories[1][0], histories[0])
        for step, facts in enumerate(second):
            problem = problem or _order_problem(facts["array"], histories[1], step, k,
                                                f"{shown} (a second episode)")
        if problem:
            fail(ex, problem)


# ---------------------------------------------------------------- 4.3 the CNN
@contextlib.contextmanager
def inputs_of(module: nn.Module):
    """A list of the inputs ``module`` receives while the ``with`` block runs (detached)."""
    seen: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach()))
    try:
        yield seen
    finally:
        hook.remove()


def _first_conv(net: nn.Module) -> nn.Conv2d | None:
    return next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)


def _last_linear(net: nn.Module) -> nn.Linear | None:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def _construct_problem(message: str) -> str:
    message = message.removeprefix("Exercise 4.3: ")
    if "channels" in message:
        return (f"{message} -- the first convolution must take obs_shape[0] channels (one per "
                f"stacked frame): use obs_shape[0].")
    return message


def _forward_problem(message: str, one_shape, n_actions: int, shown: str) -> str:
    """A crash of forward on a batch, in the student's terms; ``one_shape`` is the shape the
    network gave for a batch of one (None if it crashed there too)."""
    message = message.removeprefix("Exercise 4.3: ")
    if "cannot be multiplied" not in message:
        return message
    if one_shape is not None and list(one_shape) == [n_actions]:
        detail = message.split(" raised ", 1)[-1]
        return (f"{shown} raised {detail}, and a batch of one gave shape ({n_actions},): the "
                f"flattening flattened the batch dimension too (torch.flatten(x) and "
                f"x.view(-1) flatten everything). Keep one row per observation: x.flatten(1), "
                f"x.view(x.size(0), -1) or nn.Flatten().")
    return (f"{shown} failed: the first linear layer does not fit the flattened convolution "
            f"output for this input size. Compute n_flat from obs_shape (pass "
            f"torch.zeros(1, *obs_shape) through self.features), not by hand.")


def _q_problem(facts: dict, shown: str, batch: int, n_actions: int) -> str | None:
    if facts.get("type") != "Tensor":
        return f"{shown} returned {facts.get('type')}; expected a tensor of Q-values."
    if tuple(facts["shape"]) != (batch, n_actions):
        hint = (" Keep the batch dimension: no squeeze(), and flatten from dim 1."
                if batch == 1 else "")
        return (f"{shown} returned shape {tuple(facts['shape'])}; expected ({batch}, "
                f"{n_actions}): one Q-value per action for each observation of the batch.{hint}")
    if facts["dtype"] != "float32":
        return f"{shown} returned dtype {facts['dtype']}; expected float32 Q-values."
    return None


def _q_facts(out) -> dict:
    if not isinstance(out, torch.Tensor):
        return {"type": type(out).__name__}
    facts = {"type": "Tensor", "shape": list(out.shape),
             "dtype": str(out.dtype).removeprefix("torch.")}
    if out.is_floating_point() and out.numel() <= 10_000:
        facts["values"] = out.detach().float()
    return facts


_UINT8 = "-- the network must take raw uint8 pixels (what the replay memory stores): convert " \
         "them in forward with obs.float() / 255."
_IN_PLACE = ("forward changed its input in place (x /= 255 on obs.float(), which is obs itself "
             "when obs is already float32): a batch from the replay memory would be scaled again "
             "at its next use. Compute x = obs.float() / 255, a new tensor.")


def _scaling_problem(dtype: str, largest: float) -> str | None:
    if dtype == "float32" and largest <= 1.0:
        return None
    return (f"the first convolution received values up to {largest:.0f} (dtype torch.{dtype}): "
            f"in forward, convert to float and divide by 255, so the network sees pixels in "
            f"[0, 1].")


def _output_problem(q, bias, shown: str) -> str | None:
    """With the last linear layer's weights zeroed, the Q-values must be its bias, as they are."""
    if q is None:
        return f"{shown} should end with nn.Linear(hidden, n_actions) (with its bias)."
    q, bias = np.asarray(q, dtype=float), np.asarray(bias, dtype=float)
    if q.ndim != 2 or close(q, np.broadcast_to(bias, q.shape), atol=1e-4):
        return None
    if close(q, np.broadcast_to(bias.clip(min=0), q.shape), atol=1e-4):
        return (f"{shown} has a ReLU after its last layer, so it can never output a negative "
                f"Q-value. Q-values are returns and can be negative: no activation on the "
                f"output.")
    if np.abs(q).max() <= 1.0:
        return (f"{shown}'s Q-values are squashed into [-1, 1] (a tanh or sigmoid after the "
                f"last layer?). Q-values are returns, up to about 100 in CartPole: no "
                f"activation on the output.")
    return (f"{shown}: the output should be the last nn.Linear's output as it is; with that "
            f"layer's weights set to 0 and its bias to {fmt(bias)}, the Q-values were "
            f"{fmt(q[0])}.")


def _probe_output(net: nn.Module, pixels: torch.Tensor):
    """(Q-values, bias) with the last linear layer's weights zeroed, or (None, None)."""
    layer = _last_linear(net)
    if layer is None or layer.bias is None:
        return None, None
    probe = copy.deepcopy(net)
    layer = _last_linear(probe)
    bias = torch.linspace(-40.0, 40.0, layer.out_features)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(bias)
        q = probe(pixels)
    return (q if isinstance(q, torch.Tensor) else None), bias


def _build(ex: str, PixelQNetwork, shape, n_actions: int, shown: str) -> nn.Module:
    try:
        net = call(ex, PixelQNetwork, shape, n_actions, shown=shown)
    except NotImplementedYet:
        raise
    except CheckError as error:
        fail(ex, _construct_problem(str(error)))
    if not isinstance(net, nn.Module):
        fail(ex, f"{shown} is a {type(net).__name__}; expected an nn.Module.")
    conv = _first_conv(net)
    if conv is None:
        fail(ex, f"{shown} has no nn.Conv2d layer: a Q-network for images is a CNN.")
    if conv.in_channels != shape[0]:
        fail(ex, f"{shown}'s first convolution takes {conv.in_channels} channels; the input "
                 f"has {shape[0]} (one per stacked frame): use obs_shape[0].")
    return net


def _forward(ex: str, net: nn.Module, obs: torch.Tensor, shown: str, n_actions: int):
    out, error = attempt(ex, net, obs, shown=shown)
    if error:
        one, _ = attempt(ex, net, obs[:1], shown=shown)
        fail(ex, _forward_problem(error, getattr(one, "shape", None), n_actions, shown))
    problem = _q_problem(_q_facts(out), shown, obs.shape[0], n_actions)
    if problem:
        fail(ex, problem)
    return out


@register("4.3")
def check_pixel_q_network(PixelQNetwork) -> None:
    ex = "4.3"
    g = torch.Generator().manual_seed(4)
    for shape, n_actions in (((4, 40, 60), 2), ((3, 30, 48), 5)):
        torch.manual_seed(0)
        shown = f"PixelQNetwork(obs_shape={shape}, n_actions={n_actions})"
        net = _build(ex, PixelQNetwork, shape, n_actions, shown)
        pixels = torch.randint(0, 256, (6, *shape), generator=g, dtype=torch.uint8)
        floats = pixels.float()
        before = floats.clone()
        out_float = _forward(ex, net, floats, f"{shown} on a float32 batch of shape "
                                              f"{tuple(floats.shape)}", n_actions)
        if not torch.equal(floats, before):
            fail(ex, _IN_PLACE)
        with inputs_of(_first_conv(net)) as seen:
            try:
                out = _forward(ex, net, pixels, f"{shown} on the same batch as uint8", n_actions)
            except NotImplementedYet:
                raise
            except CheckError as error:
                fail(ex, f"{str(error).removeprefix(f'Exercise {ex}: ')} {_UINT8}")
        problem = seen and _scaling_problem(str(seen[0].dtype).removeprefix("torch."),
                                            float(seen[0].max()))
        if problem:
            fail(ex, problem)
        if not torch.allclose(out, out_float, atol=1e-5):
            fail(ex, "the Q-values of a uint8 batch and of the same pixels as float32 differ: "
                     "treat both the same, obs.float() / 255.")
        _forward(ex, net, pixels[:1], f"{shown} on a batch of one observation", n_actions)
        require_gradients(ex, net, out)
        q, bias = _probe_output(net, pixels)
        problem = _output_problem(q, bias, shown)
        if problem:
            fail(ex, problem)
    passed(ex, "(batch, n_actions) float32 Q-values from uint8 frames scaled inside, sized "
               "from obs_shape, a linear output")


@scenario("4.3")
class PixelQNetworkScenario(Scenario):
    """Other frame counts (1, 2, 6), image sizes and numbers of actions; batches larger and
    smaller than the number of actions, and of one observation."""

    def cases(self, ref):
        return [{"obs_shape": [2, 36, 54], "n_actions": 3, "batch": 5, "seed": 4031},
                {"obs_shape": [6, 52, 80], "n_actions": 4, "batch": 3, "seed": 4032},
                {"obs_shape": [1, 44, 44], "n_actions": 2, "batch": 2, "seed": 4033}]

    def shown(self, case):
        return (f"PixelQNetwork(obs_shape={tuple(case['obs_shape'])}, "
                f"n_actions={case['n_actions']})")

    def run(self, case, PixelQNetwork):
        ex, shape, shown = "4.3", tuple(case["obs_shape"]), self.shown(case)
        torch.manual_seed(case["seed"])
        net, error = attempt(ex, PixelQNetwork, shape, case["n_actions"], shown=shown)
        if error:
            return {"construct_error": error}
        if not isinstance(net, nn.Module):
            return {"type": type(net).__name__}
        conv = _first_conv(net)
        facts = {"type": "Module", "in_channels": conv.in_channels if conv else None}
        if conv is None:
            return facts
        g = torch.Generator().manual_seed(case["seed"])
        pixels = torch.randint(0, 256, (case["batch"], *shape), generator=g, dtype=torch.uint8)
        floats = pixels.float()
        out, facts["float_error"] = attempt(ex, net, floats,
                                            shown=f"{shown} on a float32 batch of {len(floats)}")
        facts["float"] = _q_facts(out)
        facts["float_sums"] = [float(pixels.float().sum()), float(floats.sum())]
        with inputs_of(conv) as seen:
            out, facts["uint8_error"] = attempt(
                ex, net, pixels, shown=f"{shown} on the same batch as uint8")
        facts["uint8"] = _q_facts(out)
        facts["conv_input"] = [str(seen[0].dtype).removeprefix("torch."),
                               float(seen[0].max())] if seen else None
        one, facts["one_error"] = attempt(ex, net, pixels[:1],
                                          shown=f"{shown} on a batch of one observation")
        facts["one"] = _q_facts(one)
        facts["requires_grad"] = isinstance(out, torch.Tensor) and out.requires_grad
        if facts["requires_grad"]:
            with contextlib.suppress(RuntimeError):
                out.sum().backward()
            facts["no_grad"] = [name[:60] for name, p in net.named_parameters()
                                if p.grad is None][:8]
        q, bias = _probe_output(net, pixels) if not facts["uint8_error"] else (None, None)
        facts["probe"] = {"q": q, "bias": bias}
        return facts

    def judge(self, case, got, expected):
        ex, shown, n = "4.3", self.shown(case), case["n_actions"]
        batch, frames = case["batch"], case["obs_shape"][0]
        if got.get("construct_error"):
            fail(ex, _construct_problem(got["construct_error"]))
        if got.get("type") != "Module":
            fail(ex, f"{shown} is a {got.get('type')}; expected an nn.Module.")
        if got["in_channels"] is None:
            fail(ex, f"{shown} has no nn.Conv2d layer: a Q-network for images is a CNN.")
        if got["in_channels"] != frames:
            fail(ex, f"{shown}'s first convolution takes {got['in_channels']} channels; the "
                     f"input has {frames} (one per stacked frame): use obs_shape[0].")
        on_float = f"{shown} on a float32 batch of {batch}"
        if got["float_error"]:
            one = got["one"].get("shape") if got["one"].get("type") == "Tensor" else None
            fail(ex, _forward_problem(got["float_error"], one, n, on_float))
        problem = _q_problem(got["float"], on_float, batch, n)
        if problem:
            fail(ex, problem)
        if got["float_sums"][0] != got["float_sums"][1]:
            fail(ex, _IN_PLACE)
        if got["uint8_error"]:
            fail(ex, f"{got['uint8_error'].removeprefix(f'Exercise {ex}: ')} {_UINT8}")
        problem = (_q_problem(got["uint8"], f"{shown} on the same batch as uint8", batch, n)
                   or (got["conv_input"] and _scaling_problem(*got["conv_input"])))
        if problem:
            fail(ex, problem)
        if not close(got["uint8"].get("values"), got["float"].get("values")):
            fail(ex, "the Q-values of a uint8 batch and of the same pixels as float32 differ: "
                     "treat both the same, obs.float() / 255.")
        problem = (got["one_error"] and got["one_error"].removeprefix(f"Exercise {ex}: ")) \
            or _q_problem(got["one"], f"{shown} on a batch of one observation", 1, n)
        if problem:
            fail(ex, problem)
        if not got["requires_grad"]:
            fail(ex, f"{shown}'s Q-values carry no gradient: no torch.no_grad() or .detach() "
                     f"in forward, or the network cannot learn.")
        if got.get("no_grad"):
            fail(ex, f"no gradient reached {got['no_grad']}: use every layer in forward().")
        problem = _output_problem(got["probe"]["q"], got["probe"]["bias"], shown)
        if problem:
            fail(ex, problem)
        if tuple(got["float"]["shape"]) != tuple(expected["float"]["shape"]):
            fail(ex, f"{shown} returned shape {tuple(got['float']['shape'])}; expected "
                     f"{tuple(expected['float']['shape'])}.")
