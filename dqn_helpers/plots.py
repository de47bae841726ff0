"""Plots of returns, live while training (introduced in lab 01), and of tabular Q-learning:
Q against Q* (lab 00) and a gridworld policy (lab 01)."""

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


def plot_q_convergence(history, q_star, tol: float | None = None,
                       states: Sequence[str] | None = None, actions: Sequence[str] | None = None):
    """A learnt Q table against the exact Q* over the episodes (lab 00): two panels.

    ``history`` has shape (episodes, n_states, n_actions), the table after each episode, and
    ``q_star`` shape (n_states, n_actions). ``states`` names the rows to draw (the first
    ``len(states)``; all by default), ``actions`` the columns. Left: the largest error
    max |Q - Q*| per episode, on a log scale, with the line ``tol``. Right: each Q[s, a] (solid)
    beside its Q*(s, a) (dashed, same colour). Returns the two axes.

    >>> history = np.array([np.full((2, 2), 1.0 - 0.5 ** k) for k in range(10)])
    >>> left, right = plot_q_convergence(history, np.ones((2, 2)), tol=0.05)
    >>> left.get_ylabel(), len(right.lines)  # a curve and a dashed line per Q[s, a]
    ('max |Q - Q*|', 8)
    """
    history, q_star = np.asarray(history, dtype=float), np.asarray(q_star, dtype=float)
    states = list(states) if states is not None else [str(s) for s in range(q_star.shape[0])]
    actions = list(actions) if actions is not None else [str(a) for a in range(q_star.shape[1])]
    episodes = np.arange(1, len(history) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    errors = np.abs(history - q_star).max(axis=(1, 2))
    left.semilogy(episodes, errors, color="tab:blue", lw=1)
    if tol is not None:
        left.axhline(tol, color="tab:green", ls="--", lw=1, label=f"tol = {tol:g}")
        left.legend(loc="upper right")
    left.set(xlabel="episode", ylabel="max |Q - Q*|", title="Largest error over all (s, a)")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (s, a) in enumerate((s, a) for s in range(len(states)) for a in range(len(actions))):
        color = colors[k % len(colors)]
        right.plot(episodes, history[:, s, a], color=color, lw=1.5,
                   label=f"Q({states[s]}, {actions[a]})")
        right.axhline(q_star[s, a], color=color, ls="--", lw=1)
    right.set_xscale("log")
    right.set(xlabel="episode (log scale)", ylabel="Q", title="Each Q[s, a] (dashed: Q*)")
    right.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    fig.tight_layout()
    return left, right


def plot_grid_policy(actions, shape: tuple[int, int], marks: dict | None = None,
                     path: Sequence[int] | None = None, start: int | None = None,
                     directions: Sequence[tuple[int, int]] = ((0, 1), (1, 0), (0, -1), (-1, 0)),
                     ax=None, title: str = "Greedy policy"):
    """A gridworld policy as one arrow per cell (lab 01), for CliffWalking or FrozenLake.

    ``actions`` holds one action per state, states numbered row by row from the top left
    (``state = row * n_cols + col``, as gymnasium's toy-text grids number them); ``shape`` is
    (n_rows, n_cols). ``directions`` is each action's arrow (dx, dy): CliffWalking's up,
    right, down, left by default (FrozenLake's left, down, right, up is
    ``((-1, 0), (0, -1), (1, 0), (0, 1))``). ``marks`` maps a state to a (label, colour) drawn
    instead of its arrow (the cliff, the goal); ``path`` lists states to shade (an episode's);
    ``start`` is labelled S, beside its arrow.

    >>> ax = plot_grid_policy(np.ones(48, dtype=int), (4, 12), marks={47: ("G", "tab:green")},
    ...                       path=[36, 24], start=36)
    >>> sorted(text.get_text() for text in ax.texts), ax.get_title()
    (['G', 'S'], 'Greedy policy')
    """
    n_rows, n_cols = shape
    marks, on_path = dict(marks or {}), set(path or [])
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * n_cols + 1, 0.6 * n_rows + 0.8))
    x, y, u, v = [], [], [], []
    for state in range(n_rows * n_cols):
        row, col = divmod(state, n_cols)
        top = n_rows - 1 - row  # row 0 is drawn at the top
        if state in marks:
            label, color = marks[state]
            ax.add_patch(plt.Rectangle((col - 0.5, top - 0.5), 1, 1, color=color, alpha=0.8))
            ax.text(col, top, label, ha="center", va="center", color="white", fontsize=9,
                    fontweight="bold")
            continue
        if state in on_path:
            ax.add_patch(plt.Rectangle((col - 0.5, top - 0.5), 1, 1, color="tab:orange",
                                       alpha=0.3))
        if state == start:
            ax.text(col - 0.42, top + 0.4, "S", ha="left", va="top", fontsize=8,
                    fontweight="bold", color="tab:blue")
        dx, dy = directions[int(actions[state])]
        x.append(col - 0.3 * dx)
        y.append(top - 0.3 * dy)
        u.append(dx)
        v.append(dy)
    ax.quiver(x, y, u, v, angles="xy", scale_units="xy", scale=1 / 0.6, width=0.006,
              color="k")
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="lightgray", lw=0.8)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set(xlim=(-0.5, n_cols - 0.5), ylim=(-0.5, n_rows - 0.5), aspect="equal", title=title)
    return ax
