"""Record an agent and show it inline as a video (introduced in lab 01).

Videos are embedded as a base64 ``<video>`` tag with two sources, so that they play in Colab,
JupyterLab, VS Code and exported HTML alike: VP9 in WebM (an open codec; VS Code and some Linux
browsers have no H.264) and H.264 in mp4 (for older Safari, which has no WebM). No X server is
needed: frames come from ``render_mode="rgb_array"``. Without ffmpeg the frames become a GIF.
"""

from __future__ import annotations

import base64
import functools
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from dqn_helpers.envs import check_env_id

# imageio-ffmpeg's writer arguments for each video format
FFMPEG_ARGS = {
    # faststart puts the index first, so that browsers start playing at once
    "mp4": dict(codec="libx264", output_params=["-movflags", "+faststart"]),
    # constant quality (-crf with -b:v 0) in libvpx's fast realtime mode: about as fast as
    # H.264 and about as small (a CartPole video: 27 KB against 26 KB)
    "webm": dict(codec="libvpx-vp9", quality=None,
                 output_params=["-crf", "40", "-b:v", "0", "-deadline", "realtime",
                                "-cpu-used", "6", "-row-mt", "1"]),
}


def _ffmpeg_available() -> bool:
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
        return True
    except Exception:
        return False


@functools.cache
def _can_encode(fmt: str) -> bool:
    """Whether ffmpeg has the encoder of ``fmt`` (imageio-ffmpeg's own ffmpeg has both)."""
    import imageio_ffmpeg

    encoders = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-encoders"],
                              capture_output=True, text=True).stdout
    return f" {FFMPEG_ARGS[fmt]['codec']} " in encoders


def record_episode(policy: Callable[[Any], Any] | torch.nn.Module,
                   env_id: str | Callable[[], gym.Env], seed: int = 0,
                   max_steps: int = 1000) -> list[np.ndarray]:
    """Play one episode and return its frames, each an ``(H, W, 3)`` uint8 array.

    ``policy`` is a function ``obs -> action`` or a Q-network played greedily. ``env_id`` is a
    registered id (made with ``render_mode="rgb_array"``) or a function returning an env that
    renders to ``rgb_array``.
    """
    if callable(env_id):
        env = env_id()
    else:
        check_env_id(env_id)
        env = gym.make(env_id, render_mode="rgb_array")
    if env.render_mode != "rgb_array":
        raise ValueError(f"the env renders to {env.render_mode!r}; expected 'rgb_array'")
    if isinstance(policy, torch.nn.Module):
        q_network = policy
        device = next(q_network.parameters()).device

        @torch.no_grad()
        def policy(obs):
            q = q_network(torch.as_tensor(np.asarray(obs)[None], dtype=torch.float32,
                                          device=device))
            return int(q.argmax(dim=1).item())
    frames = []
    try:
        obs, _ = env.reset(seed=seed)
        frames.append(env.render())
        for _ in range(max_steps):
            obs, _, terminated, truncated, _ = env.step(policy(obs))
            frames.append(env.render())
            if terminated or truncated:
                break
    finally:
        env.close()
    return frames


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad a frame to even height and width (H.264 in yuv420p needs both even)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 images, got dtype {frame.dtype}")
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _check_frames(frames: Sequence[np.ndarray]) -> None:
    if len(frames) == 0:
        raise ValueError("no frames to encode: the list of frames is empty")
    shape = np.shape(frames[0])
    if any(np.shape(f) != shape for f in frames):
        raise ValueError("all frames must have the same shape; use side_by_side() to combine "
                         "two episodes")


def encode_video(frames: Sequence[np.ndarray], fps: int = 30, fmt: str | None = None) -> bytes:
    """Encode frames as ``fmt``: "mp4" (H.264, the default), "webm" (VP9) or "gif" (the
    default when ffmpeg is missing)."""
    import imageio.v2 as imageio

    _check_frames(frames)
    fmt = fmt or ("mp4" if _ffmpeg_available() else "gif")
    if fmt not in ("mp4", "webm", "gif"):
        raise ValueError(f"fmt must be 'mp4', 'webm' or 'gif', got {fmt!r}")
    with tempfile.TemporaryDirectory() as tmp:  # ffmpeg writes to files, not to memory
        path = Path(tmp) / f"video.{fmt}"
        if fmt in FFMPEG_ARGS:
            with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps,
                                    pixelformat="yuv420p", macro_block_size=1,
                                    ffmpeg_log_level="error", **FFMPEG_ARGS[fmt]) as writer:
                for frame in frames:
                    writer.append_data(_even(frame))
            if not path.exists():  # ffmpeg failed (its message is printed above)
                raise RuntimeError(f"ffmpeg could not encode the video as {fmt}")
        else:
            imageio.mimsave(path, [_even(f) for f in frames], format="GIF",
                            duration=1000 / fps, loop=0)
        return path.read_bytes()


def save_video(frames: Sequence[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Write frames to ``path`` (``.mp4``, ``.webm`` or ``.gif``, from its suffix); return it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt in FFMPEG_ARGS and not _ffmpeg_available():
        path, fmt = path.with_suffix(".gif"), "gif"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_video(frames, fps=fps, fmt=fmt))
    return path


def show_video(frames: Sequence[np.ndarray], fps: int = 30, width: int = 480):
    """Return an inline HTML video of the frames (the last expression of a cell shows it).

    The browser plays the first source it can: WebM (VP9), else mp4 (H.264).
    """
    from IPython.display import HTML

    def base64_of(fmt):
        return base64.b64encode(encode_video(frames, fps=fps, fmt=fmt)).decode("ascii")

    sources = [f"""<source src="data:video/{fmt};base64,{base64_of(fmt)}" type='{mime}'>"""
               for fmt, mime in (("webm", 'video/webm; codecs="vp9"'), ("mp4", "video/mp4"))
               if _ffmpeg_available() and _can_encode(fmt)]
    if not sources:
        return HTML(f'<img width="{width}" src="data:image/gif;base64,{base64_of("gif")}">')
    return HTML(f'<video width="{width}" controls autoplay loop muted playsinline>'
                f'{"".join(sources)}</video>')


def side_by_side(left: Sequence[np.ndarray], right: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Put two episodes next to each other; the shorter one holds its last frame."""
    if len(left) == 0 or len(right) == 0:
        raise ValueError("both episodes need at least one frame")
    height = max(left[0].shape[0], right[0].shape[0])

    def fit(frame):
        return np.pad(frame, ((0, height - frame.shape[0]), (0, 0), (0, 0)))

    n = max(len(left), len(right))
    return [np.concatenate([fit(left[min(i, len(left) - 1)]),
                            np.full((height, 8, 3), 128, np.uint8),  # a gray divider
                            fit(right[min(i, len(right) - 1)])], axis=1) for i in range(n)]


def decode_video(data: bytes) -> list[np.ndarray]:
    """Decode mp4, WebM or GIF bytes back to frames (used by the tests)."""
    import imageio.v2 as imageio

    fmt = "GIF" if data[:3] == b"GIF" else "FFMPEG"
    with tempfile.TemporaryDirectory() as tmp:
        # ffmpeg tells mp4 from WebM by their content, whatever the file's suffix
        path = Path(tmp) / ("video.gif" if fmt == "GIF" else "video.mp4")
        path.write_bytes(data)
        reader = imageio.get_reader(path, format=fmt)
        try:
            return [np.asarray(frame)[..., :3] for frame in reader]
        finally:
            reader.close()
