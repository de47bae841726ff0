"""Plots of returns, live while training (introduced in lab 01)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt  # with no screen, matplotlib falls back to drawing files
import numpy as np


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Colab, VS Code, nbval, papermill)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def moving_average(values: Sequence[float], window: int = 100) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start).

    >>> moving_average([0, 10, 20, 30, 40], window=2)
    array([ 0.,  5., 15., 25., 35.])
    >>> moving_average([0, 10, 20, 30, 40], window=100)  # the mean of all episodes so far
    array([ 0.,  5., 10., 15., 20.])
    """
    values = np.asarray(values, dtype=float)
    if window <= 0:
        raise ValueError(f"window must be positive, got {window}")
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    return (cumsum[1:] - cumsum[np.arange(1, len(values) + 1) - counts]) / counts


def plot_returns(returns: Sequence[float], solved_at: float | None = None, window: int = 100,
                 ax=None, title: str = "Episode returns", label: str = "return"):
    """Draw each episode's return, their ``window``-episode moving average and the solved line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    episodes = np.arange(1, len(returns) + 1)
    ax.plot(episodes, returns, color="tab:blue", alpha=0.3, lw=1, label=label)
    if len(returns):
        ax.plot(episodes, moving_average(returns, window), color="tab:blue", lw=2,
                label=f"{window}-episode mean")
    if solved_at is not None:
        ax.axhline(solved_at, color="tab:green", ls="--", lw=1, label=f"solved ({solved_at:g})")
    ax.set(xlabel="episode", ylabel="return", title=title)
    ax.legend(loc="upper left")
    return ax


def plot_histogram(returns: Sequence[float], bins: int = 30, ax=None,
                   title: str = "Distribution of returns"):
    """Histogram of returns with their mean marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(returns, bins=bins, color="tab:blue", alpha=0.7)
    ax.axvline(np.mean(returns), color="k", ls="--", label=f"mean {np.mean(returns):.1f}")
    ax.set(xlabel="return", ylabel="episodes", title=title)
    ax.legend()
    return ax


class LivePlot:
    """A returns plot that redraws in place while training runs in Jupyter.

    Outside a notebook nothing is drawn until ``save(path)``. Redraws are throttled to one
    every ``min_interval`` seconds so that plotting does not slow training down.
    """

    def __init__(self, solved_at: float | None = None, title: str = "Training",
                 window: int = 100, min_interval: float = 2.0):
        self.solved_at, self.title, self.window = solved_at, title, window
        self.min_interval = min_interval
        self.returns: list[float] = []
        self.evals: list[tuple[int, float]] = []  # (episode, greedy evaluation mean)
        self._handle = None
        self._last_draw = 0.0

    def add_episode(self, episode_return: float) -> None:
        self.returns.append(float(episode_return))
        self._maybe_draw()

    def add_eval(self, eval_mean: float) -> None:
        self.evals.append((len(self.returns), float(eval_mean)))
        self._maybe_draw()

    def figure(self):
        fig, ax = plt.subplots(figsize=(8, 4))
        plot_returns(self.returns, self.solved_at, self.window, ax=ax, title=self.title,
                     label="training episode (exploring)")
        if self.evals:
            x, y = zip(*self.evals)
            ax.plot(x, y, "o", color="tab:orange", ms=4, label="greedy evaluation")
            ax.legend(loc="upper left")
        fig.tight_layout()
        return fig

    def _maybe_draw(self, force: bool = False) -> None:
        if not in_notebook() or (not force and time.time() - self._last_draw < self.min_interval):
            return
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)
        self._last_draw = time.time()

    def close(self) -> None:
        """Draw the final state (in a notebook)."""
        self._maybe_draw(force=True)

    def save(self, path: str | Path) -> Path:
        """Save the plot as a PNG and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = self.figure()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


def plot_discount_weights(gamma: float, horizon: int = 50, ax=None):
    """Bar chart of the weight gamma**t that a reward t steps ahead gets (lab 00)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    t = np.arange(horizon)
    ax.bar(t, gamma ** t, color="tab:blue")
    half = np.log(0.5) / np.log(gamma) if 0 < gamma < 1 else np.inf
    ax.set(xlabel="steps ahead t", ylabel=r"weight $\gamma^t$", ylim=(0, 1.05),
           title=rf"$\gamma$ = {gamma:.2f}: effective horizon 1/(1-$\gamma$) = "
                 rf"{1 / (1 - gamma) if gamma < 1 else float('inf'):.1f} steps, "
                 f"half-weight after {half:.1f} steps")
    return ax
