"""Experiment tracking: TensorBoard (local files, no account) or Weights & Biases (optional).

Every DQN lab has a ``TRACK`` parameter: ``"off"`` (the default), ``"tensorboard"`` or
``"wandb"``. A tracked run records its config, each episode's return and length, the loss,
epsilon (and beta in lab 06), every periodic evaluation, gradient steps per second, the final
video and the final network, under a name ``lab/variant/seed`` so that runs of one comparison
sit side by side::

    tracker = start_tracking(TRACK, "03/hard/seed0", config=asdict(cfg), folder=OUT_DIR)
    q_network, result = train(cfg, tracker=tracker)   # TrainingLog logs into it
    tracker.video("agent", "runs/03/agent.mp4", step=result["env_steps"])
    tracker.model("runs/03/q_network.pt")
    tracker.close()

TensorBoard writes event files to ``OUT_DIR/tensorboard/<run>``: compare runs with
``tensorboard --logdir OUT_DIR/tensorboard`` (or ``%tensorboard --logdir ...`` in a notebook).
W&B writes to ``OUT_DIR/wandb``. Without ``WANDB_API_KEY`` (or a ``wandb login``) it runs
offline and never touches the network; ``wandb sync OUT_DIR/wandb/offline-run-*`` uploads the
runs later. Tracking ``"off"`` returns a tracker that does nothing:

>>> tracker = start_tracking("off", "02/dqn/seed0", config={"lr": 0.001}, folder="runs/02")
>>> tracker.scalar("train/episode_return", 21.0, step=21)
>>> bool(tracker)
False
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

BACKENDS = ("off", "tensorboard", "wandb")


def run_name(lab: str, variant: str, seed: int) -> str:
    """``lab/variant/seed`` with the variant made safe for folder names.

    >>> run_name("03", "soft update, tau = 0.004", 1)
    '03/soft-update-tau-0.004/seed1'
    """
    slug = re.sub(r"[^a-z0-9.]+", "-", variant.lower()).strip("-")
    return f"{lab}/{slug}/seed{seed}"


class NoTracking:
    """Tracking off: every call does nothing, at no cost."""

    def __bool__(self) -> bool:
        return False

    def scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def video(self, tag: str, path: str | Path, step: int) -> None:
        pass

    def model(self, path: str | Path) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardTracking(NoTracking):
    """Event files in ``folder/tensorboard/<run>``, written by torch's SummaryWriter."""

    def __init__(self, run: str, config: dict[str, Any], folder: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.run, self.log_dir = run, Path(folder) / "tensorboard" / run
        self.writer = SummaryWriter(str(self.log_dir))
        rows = "\n".join(f"| {key} | {value} |" for key, value in config.items())
        self.writer.add_text("config", f"| name | value |\n|---|---|\n{rows}", 0)

    def __bool__(self) -> bool:
        return True

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def video(self, tag: str, path: str | Path, step: int) -> None:
        """The video as an animated GIF in the Images tab (TensorBoard plays no mp4)."""
        import imageio.v3 as iio
        from tensorboard.compat.proto.summary_pb2 import Summary

        frames = iio.imread(path)[::2, ::2, ::2]  # every other frame, half size: a light file
        gif = io.BytesIO()
        iio.imwrite(gif, frames, extension=".gif", duration=66, loop=0)
        height, width = frames.shape[1:3]
        image = Summary.Image(height=height, width=width, colorspace=frames.shape[3],
                              encoded_image_string=gif.getvalue())
        self.writer._get_file_writer().add_summary(
            Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def model(self, path: str | Path) -> None:
        self.writer.add_text("model", f"the network's weights: `{Path(path).resolve()}`", 0)

    def close(self) -> None:
        self.writer.close()


class WandbTracking(NoTracking):
    """A W&B run in ``folder/wandb``: offline unless an API key is configured."""

    def __init__(self, run: str, config: dict[str, Any], folder: str | Path):
        import wandb

        online = bool(os.environ.get("WANDB_API_KEY")) or os.environ.get("WANDB_MODE") == "online"
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.name = run
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "dqn-labs"), name=run,
                              group=run.split("/")[0], config=config, dir=str(folder),
                              mode="online" if online else "offline", reinit="create_new",
                              settings=wandb.Settings(silent=True, console="off"))
        self.run.define_metric("global_step")
        self.run.define_metric("*", step_metric="global_step")  # x axis: env steps

    def __bool__(self) -> bool:
        return True

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.run.log({tag: value, "global_step": step})

    def video(self, tag: str, path: str | Path, step: int) -> None:
        import wandb

        self.run.log({tag: wandb.Video(str(path), format="mp4"), "global_step": step})

    def model(self, path: str | Path) -> None:
        """The network as a versioned artifact named after the run."""
        import wandb

        artifact = wandb.Artifact(f"q_network-{self.name.replace('/', '-')}", type="model")
        artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def close(self) -> None:
        self.run.finish()


def show_tensorboard(log_dir: str | Path) -> None:
    """TensorBoard inside the notebook (JupyterLab, Colab, VS Code), reading ``log_dir``.

    The same as ``%load_ext tensorboard`` and ``%tensorboard --logdir LOG_DIR``, except that it
    also finds the ``tensorboard`` program of a virtual environment that is not on the PATH (a
    JupyterLab started as ``.venv/bin/jupyter lab``).
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None or os.environ.get("DQN_LABS_HEADLESS") == "1":  # no one to look at it
        print(f"To see the runs: `tensorboard --logdir {log_dir}`, then open the address it "
              "prints.")
        return
    beside_python = Path(sys.executable).with_name("tensorboard")
    if shutil.which("tensorboard") is None and beside_python.exists():
        os.environ.setdefault("TENSORBOARD_BINARY", str(beside_python))
    shell.run_line_magic("load_ext", "tensorboard")
    shell.run_line_magic("tensorboard", f'--logdir "{log_dir}"')


def start_tracking(backend: str | None, run: str, config: dict[str, Any],
                   folder: str | Path) -> NoTracking:
    """A tracker for one training run: ``backend`` is ``"off"``, ``"tensorboard"`` or ``"wandb"``."""
    backend = "off" if backend in (None, False, "", "none") else str(backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"TRACK must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "off":
        return NoTracking()
    try:
        tracking = TensorBoardTracking if backend == "tensorboard" else WandbTracking
        return tracking(run, config, folder)
    except ImportError as error:
        extra = "tensorboard" if backend == "tensorboard" else "wandb"
        raise ImportError(f"TRACK = {backend!r} needs the {error.name} package: "
                          f'pip install "dqn-helpers[{extra}]" (or pip install {error.name})') from error
