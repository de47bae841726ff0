"""Checks for lab 04: the pixel observation (crop around the cart), the frame stack and the CNN.

The checks put CartPole in known states (``env.unwrapped.state = ...``), so they know where the
cart and the pole must appear, and compare with ``reference_window``, the window the lab asks
for: rows 160 to 320 of the 400 x 600 frame, 240 columns centred on the cart (black beyond the
screen's edge), in grayscale, shrunk with ``cv2.INTER_AREA``, as ``uint8``.
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
    call,
    fail,
    fmt,
    passed,
    register,
    require_gradients,
)

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


def _image(ex: str, value, shown: str, height: int, width: int) -> np.ndarray:
    """The returned observation as an array, after naming a wrong type, dtype, scale or shape."""
    if isinstance(value, torch.Tensor):
        fail(ex, f"{shown} returned a torch.Tensor; return a NumPy array (the replay memory "
                 f"stores NumPy arrays, the network converts a batch).")
    if not isinstance(value, np.ndarray):
        fail(ex, f"{shown} returned {type(value).__name__}; expected a NumPy array of shape "
                 f"({height}, {width}).")
    shape = value.shape
    if shape in ((height, width, 3), (3, height, width)):
        fail(ex, f"{shown} has shape {shape}: the colour channels are still there. Convert to "
                 f"grayscale (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)): shape ({height}, {width}).")
    if shape == (width, height) and height != width:
        fail(ex, f"{shown} has shape {shape}: height and width are swapped. NumPy images are "
                 f"(height, width), but cv2.resize takes its size as (width, height).")
    if shape == (CROP_HEIGHT, CROP_WIDTH):
        fail(ex, f"{shown} has shape {shape}, the window before shrinking: resize it to "
                 f"(height, width) = ({height}, {width}).")
    if shape != (height, width):
        fail(ex, f"{shown} has shape {shape}; expected ({height}, {width}): one grayscale "
                 f"image of the window, shrunk to the wrapper's height and width.")
    if value.dtype != np.uint8:
        if np.issubdtype(value.dtype, np.floating) and value.max() <= 1.0:
            fail(ex, f"{shown} has dtype {value.dtype} with values in [0, 1]: keep the pixels "
                     f"as uint8 in 0..255. The replay memory stores uint8 (4x smaller than "
                     f"float32); the network divides by 255 itself.")
        fail(ex, f"{shown} has dtype {value.dtype}; expected uint8 pixels in 0..255 "
                 f"(.astype(np.uint8), or keep cv2's uint8 result): the replay memory stores "
                 f"uint8, 4x smaller than float32.")
    return value


def _dark_centre(image: np.ndarray, rows: slice) -> float | None:
    """The mean column of the dark pixels (the cart) in ``rows``, or None if there are none."""
    band = image[rows] < 100
    columns = np.nonzero(band)[1]
    return float(columns.mean()) if len(columns) else None


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
            space = wrapped.observation_space
            if not isinstance(space, gym.spaces.Box) or space.shape != (height, width) \
                    or space.dtype != np.uint8:
                fail(ex, f"CartCrop's observation_space is {space}; expected Box(0, 255, "
                         f"({height}, {width}), uint8), what observation() returns.")
            _check_window(ex, wrapped, env, height, width)
    finally:
        env.close()
    passed(ex, "grayscale uint8, the cart always in the middle, black beyond the track's "
               "ends, the expected window")


def _check_window(ex: str, wrapped: gym.Env, env: gym.Env, height: int, width: int) -> None:
    cart_rows = slice(int(0.8 * height), int(0.95 * height))  # the cart: screen rows 285..315
    centres = {}
    for x in (-1.2, 0.0, 1.2):
        state = put(env, x)
        shown = f"observation() with the cart at x = {x} (a {height}x{width} CartCrop)"
        image = _image(ex, call(ex, wrapped.observation, state, shown=shown), shown,
                       height, width)
        centres[x] = _dark_centre(image, cart_rows)
    if all(c is None for c in centres.values()):
        fail(ex, f"no cart in the rows where it should be (the lower part of the image), "
                 f"wherever it is on the track. Crop screen rows {TOP} to "
                 f"{TOP + CROP_HEIGHT}: the pole and the cart.")
    middle = (width - 1) / 2
    if any(c is None for c in centres.values()):
        found = ", ".join(f"x = {x}: {'column %.1f' % c if c is not None else 'not in view'}"
                          for x, c in centres.items())
        fail(ex, f"the cart should sit in the middle of the image (column {middle:.1f}) "
                 f"wherever it is on the track; found {found}. The window stays put while the "
                 f"cart moves: centre it on the cart's column.")
    if max(abs(c - middle) for c in centres.values()) > max(1.5, width / 30):
        found = ", ".join(f"x = {x}: column {c:.1f}" for x, c in centres.items())
        shifted = max(centres.values()) - min(centres.values()) <= 2
        fail(ex, f"the cart should sit in the middle of the image (column {middle:.1f}) "
                 f"wherever it is on the track; found {found}. "
                 + (f"It moves with the window, but off-centre: the window is shifted. Take "
                    f"{CROP_WIDTH} columns centred on the cart's column (after padding "
                    f"{CROP_WIDTH // 2} columns on each side, the window starts at the cart's "
                    f"screen column)." if shifted else
                    "The window stays put while the cart moves: centre it on the cart's "
                    "column, int(x * scale + screen_width / 2) with scale = screen_width / "
                    "(2 * x_threshold)."))
    for x, side in ((2.3, np.s_[:, -3:]), (-2.3, np.s_[:, :3])):
        state = put(env, x)
        image = wrapped.observation(state)
        if image[side].max() > 60:
            fail(ex, f"with the cart at x = {x}, near the end of the track, the columns "
                     f"beyond the screen's edge should be black (0), got values up to "
                     f"{int(image[side].max())}. Pad the band with black before cutting the "
                     f"window (cv2.copyMakeBorder(..., cv2.BORDER_CONSTANT, value=0), or "
                     f"np.pad): that edge is how the agent sees the end of the track coming.")
    for x in (-2.45, 2.45):  # an episode's last frame: the cart just past the end of the track
        state = put(env, x)
        shown = f"observation() with the cart at x = {x}, just past the end of the track"
        _image(ex, call(ex, wrapped.observation, state, shown=shown), shown, height, width)
    for x, theta in ((0.0, 0.0), (-0.7, 0.15), (0.9, -0.18), (1.9, 0.1), (-2.1, -0.05)):
        state = put(env, x, theta)
        image = wrapped.observation(state).astype(float)
        want = reference_window(env, height, width).astype(float)
        if np.abs(image - want).mean() > 8:
            fail(ex, f"with x = {x} and the pole at {theta} rad, the image differs from the "
                     f"expected window by {np.abs(image - want).mean():.1f} gray levels on "
                     f"average. Expected: screen rows {TOP} to {TOP + CROP_HEIGHT}, "
                     f"{CROP_WIDTH} columns centred on the cart, grayscale, shrunk with "
                     f"cv2.resize(window, (width, height), interpolation=cv2.INTER_AREA).")


# ---------------------------------------------------------------- 4.2 the stack of frames
def _frames(ex: str, obs, shown: str, k: int) -> np.ndarray:
    if not isinstance(obs, np.ndarray):
        fail(ex, f"{shown} gave a {type(obs).__name__}; expected a NumPy array of shape "
                 f"({k}, height, width).")
    if obs.ndim == 2:
        fail(ex, f"{shown} gave one image of shape {obs.shape}: the frames are not stacked. "
                 f"Wrap the env in gymnasium.wrappers.FrameStackObservation(env, k).")
    if obs.ndim == 3 and obs.shape[-1] == k and obs.shape[0] != k:
        fail(ex, f"{shown} has shape {obs.shape}: the frames are on the last axis. Stack them "
                 f"on the first: ({k}, height, width), the channels-first layout of "
                 f"nn.Conv2d.")
    if obs.ndim != 3 or obs.shape[0] != k:
        fail(ex, f"{shown} has shape {obs.shape}; expected ({k}, height, width): the last {k} "
                 f"frames, oldest first.")
    if obs.dtype != np.uint8:
        fail(ex, f"{shown} has dtype {obs.dtype}; expected uint8 (as CartCrop returns).")
    return obs


def _nearest(frame: np.ndarray, windows: list[np.ndarray]) -> tuple[int, float]:
    """The index of the window closest to ``frame``, and their mean gray-level difference."""
    gaps = [float(np.abs(frame.astype(float) - w).mean()) for w in windows]
    return int(np.argmin(gaps)), min(gaps)


# cart positions near the ends of the track: each shows a different black edge, so the frames
# of a stack are easy to tell apart
POSITIONS = [1.5, -1.7, 1.9, -2.1, 2.3, -1.5, 1.7]


@register("4.2")
def check_make_pixel_env(make_pixel_env) -> None:
    ex = "4.2"
    for k in (4, 3):
        shown = f"make_pixel_env(k={k})"
        env = call(ex, make_pixel_env, k, shown=shown)
        if not isinstance(env, gym.Env):
            fail(ex, f"{shown} returned {type(env).__name__}; expected a gymnasium env.")
        try:
            _check_stack(ex, env, k, shown)
        finally:
            env.close()
    passed(ex, "the last k frames, oldest first, the current one last, none left over from "
               "the previous episode")


def _check_stack(ex: str, env: gym.Env, k: int, shown: str) -> None:
    if env.unwrapped.spec is None or env.unwrapped.spec.id != "CartPole-v1":
        fail(ex, f"{shown} should make CartPole-v1 (gym.make(\"CartPole-v1\", "
                 f"render_mode=\"rgb_array\")).")
    if env.render_mode != "rgb_array":
        fail(ex, f"{shown} renders to {env.render_mode!r}: make CartPole-v1 with "
                 f"render_mode=\"rgb_array\", the frames are the observations.")
    obs, _ = env.reset(seed=11)
    obs = _frames(ex, obs, f"{shown}.reset()", k)
    if env.observation_space.shape != obs.shape:
        fail(ex, f"{shown}.observation_space has shape {env.observation_space.shape} but "
                 f"reset() returned shape {obs.shape}.")
    height, width = obs.shape[1:]
    history = [reference_window(env, height, width).astype(float)]  # the window at each step
    for step, x in enumerate(POSITIONS, start=1):
        put(env, x)
        obs, *_ = env.step(step % 2)
        obs = _frames(ex, obs, f"{shown}.step()", k)
        history.append(reference_window(env, height, width).astype(float))
        found = [_nearest(frame, history) for frame in obs]
        want = [max(0, step - (k - 1) + i) for i in range(k)]  # oldest first, padded at reset
        got = [i for i, _ in found]
        if got == want:
            continue
        if step < k and not obs[0].any():
            fail(ex, f"after reset() and {step} step(s) of {shown}, obs[0] is all black: fill "
                     f"the stack with the first frame of the episode at reset, not with zeros "
                     f"(FrameStackObservation's default, padding_type=\"reset\").")
        where = f"after {step} step(s) of {shown}, the stack holds the windows of steps {got}, " \
                f"expected {want} (0 is the reset)"
        if got == want[::-1]:
            fail(ex, f"{where}: the newest frame is first. Keep the oldest first and the "
                     f"current frame last (obs[-1]), as FrameStackObservation does.")
        if got[-1] != step:
            fail(ex, f"{where}: the last frame, obs[-1], is not the current window.")
        fail(ex, f"{where}: the stack should hold the last {k} windows in order, oldest first.")
    old = history
    obs, _ = env.reset(seed=12)
    obs = _frames(ex, obs, f"{shown}.reset()", k)
    first = reference_window(env, height, width).astype(float)
    for i, frame in enumerate(obs):
        index, gap = _nearest(frame, [first, *old])
        if index != 0:
            fail(ex, f"after reset(), frame obs[{i}] is the window of step {index - 1} of the "
                     f"previous episode: fill the whole stack with the first frame of the new "
                     f"episode (as FrameStackObservation does), so no stale frames leak "
                     f"across episodes.")


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


def _q_values(ex: str, net: nn.Module, obs: torch.Tensor, shown: str, n_actions: int):
    try:
        out = call(ex, net, obs, shown=shown)
    except NotImplementedYet:
        raise
    except CheckError as error:
        if "cannot be multiplied" in str(error):
            fail(ex, f"{shown} failed: the first linear layer does not fit the flattened "
                     f"convolution output for this input size. Compute n_flat from obs_shape "
                     f"(pass torch.zeros(1, *obs_shape) through self.features), not by hand.")
        raise
    if not isinstance(out, torch.Tensor):
        fail(ex, f"{shown} returned {type(out).__name__}; expected a tensor of Q-values.")
    if tuple(out.shape) != (obs.shape[0], n_actions):
        fail(ex, f"{shown} returned shape {tuple(out.shape)}; expected ({obs.shape[0]}, "
                 f"{n_actions}): one Q-value per action for each observation of the batch.")
    if out.dtype != torch.float32:
        fail(ex, f"{shown} returned dtype {out.dtype}; expected float32 Q-values.")
    return out


@register("4.3")
def check_pixel_q_network(PixelQNetwork) -> None:
    ex = "4.3"
    g = torch.Generator().manual_seed(4)
    for shape, n_actions in (((4, 40, 60), 2), ((3, 30, 48), 5)):
        torch.manual_seed(0)
        shown = f"PixelQNetwork(obs_shape={shape}, n_actions={n_actions})"
        try:
            net = call(ex, PixelQNetwork, shape, n_actions, shown=shown)
        except NotImplementedYet:
            raise
        except CheckError as error:
            if "channels" in str(error):
                fail(ex, f"{error} -- the first convolution must take obs_shape[0] channels "
                         f"(one per stacked frame): use obs_shape[0].")
            raise
        if not isinstance(net, nn.Module):
            fail(ex, f"{shown} is a {type(net).__name__}; expected an nn.Module.")
        conv = _first_conv(net)
        if conv is None:
            fail(ex, f"{shown} has no nn.Conv2d layer: a Q-network for images is a CNN.")
        if conv.in_channels != shape[0]:
            fail(ex, f"{shown}'s first convolution takes {conv.in_channels} channels; the "
                     f"input has {shape[0]} (one per stacked frame): use obs_shape[0].")
        pixels = torch.randint(0, 256, (6, *shape), generator=g, dtype=torch.uint8)
        floats = pixels.float()
        before = floats.clone()
        out_float = _q_values(ex, net, floats, f"{shown} on a float32 batch of shape "
                                               f"{tuple(floats.shape)}", n_actions)
        if not torch.equal(floats, before):
            fail(ex, "forward changed its input in place (x /= 255 on obs.float(), which is "
                     "obs itself when obs is already float32): a batch from the replay memory "
                     "would be scaled again at its next use. Compute x = obs.float() / 255, a "
                     "new tensor.")
        with inputs_of(conv) as seen:
            try:
                out = _q_values(ex, net, pixels, f"{shown} on the same batch as uint8",
                                n_actions)
            except NotImplementedYet:
                raise
            except CheckError as error:
                fail(ex, f"{error} -- the network must take raw uint8 pixels (what the replay "
                         f"memory stores): convert them in forward with obs.float() / 255.")
        if seen and (seen[0].dtype != torch.float32 or seen[0].max() > 1.0):
            fail(ex, f"the first convolution received values up to {float(seen[0].max()):.0f} "
                     f"(dtype {seen[0].dtype}): in forward, convert to float and divide by "
                     f"255, so the network sees pixels in [0, 1].")
        if not torch.allclose(out, out_float, atol=1e-5):
            fail(ex, "the Q-values of a uint8 batch and of the same pixels as float32 differ: "
                     "treat both the same, obs.float() / 255.")
        require_gradients(ex, net, out)
        _check_output_layer(ex, net, pixels, shown)
    passed(ex, "(batch, n_actions) float32 Q-values from uint8 frames scaled inside, sized "
               "from obs_shape, a linear output")


def _check_output_layer(ex: str, net: nn.Module, pixels: torch.Tensor, shown: str) -> None:
    """With the last linear layer's weights zeroed, the Q-values must be its bias, as they are."""
    if _last_linear(net) is None or _last_linear(net).bias is None:
        fail(ex, f"{shown} should end with nn.Linear(hidden, n_actions) (with its bias).")
    probe = copy.deepcopy(net)
    layer = _last_linear(probe)
    bias = torch.linspace(-40.0, 40.0, layer.out_features)
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(bias)
        q = probe(pixels)
    if torch.allclose(q, bias.expand_as(q), atol=1e-4):
        return
    if torch.allclose(q, bias.clamp(min=0).expand_as(q), atol=1e-4):
        fail(ex, f"{shown} has a ReLU after its last layer, so it can never output a negative "
                 f"Q-value. Q-values are returns and can be negative: no activation on the "
                 f"output.")
    if q.abs().max() <= 1.0:
        fail(ex, f"{shown}'s Q-values are squashed into [-1, 1] (a tanh or sigmoid after the "
                 f"last layer?). Q-values are returns, up to about 100 in CartPole: no "
                 f"activation on the output.")
    fail(ex, f"{shown}: the output should be the last nn.Linear's output as it is; with that "
             f"layer's weights set to 0 and its bias to {fmt(bias.numpy())}, the Q-values were "
             f"{fmt(q[0].numpy())}.")
