"""Compare variants of an agent fairly, over several seeds (introduced in lab 03, reused in lab 06).

One run of one seed says little: two seeds of the same agent can differ more than two agents.
``run_seeds`` trains every variant on the same seeds, one run per core (or on a Dask cluster),
and collects one learning curve per run;
``plot_mean_spread`` puts each run on a common grid of env steps and draws, per variant, the
mean over seeds with a shaded spread (min to max, or +- one standard deviation).

A curve is a pair ``(x, y)`` of 1-D arrays: ``x`` increasing (env steps), ``y`` the value there
(an episode's return at the step it ended, or a greedy evaluation's mean).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

Curve = tuple[np.ndarray, np.ndarray]


def as_curve(x: Sequence[float], y: Sequence[float]) -> Curve:
    """Check and return a curve: two 1-D float arrays of the same length, ``x`` increasing."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"a curve is two 1-D arrays of the same length, got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError("a curve needs at least one point (did the run finish an episode?)")
    if np.any(np.diff(x) < 0):
        raise ValueError("the x values of a curve (env steps) must be increasing")
    return x, y


def run_each(train_fn: Callable[[Any], Any], configs: Mapping[str, Any], seeds: Sequence[int],
             progress: bool = True, n_jobs: int | None = None) -> dict[str, list[Any]]:
    """Train every variant on every seed; return ``{variant: [what train_fn returned, per seed]}``.

    The runs go one per core (``dqn_helpers.parallel``: joblib's processes, torch on one
    thread each); inside ``joblib.parallel_config(backend="dask")`` they go to a Dask cluster.
    A seed gives the same result wherever it ran. Results come back in the order of
    ``configs`` and ``seeds``, whatever order the runs finish in.

    Args:
        train_fn: trains one run from a config; what it returns must be picklable.
        configs: ``{variant name: config}``; each config is a dataclass with a ``seed`` field,
            which is replaced by each seed in turn (everything else stays as given).
        seeds: the seeds, the same for every variant (a fair comparison).
        progress: show a progress bar over the runs (it moves as each run finishes).
        n_jobs: runs at once; ``None``: one per core; ``1``: in this process, one at a time.
    """
    from tqdm.auto import tqdm

    from dqn_helpers.parallel import run_all

    if not configs:
        raise ValueError("configs is empty: give at least one {name: config}")
    if len(seeds) == 0:
        raise ValueError("seeds is empty")
    for name, cfg in configs.items():
        if not dataclasses.is_dataclass(cfg) or "seed" not in {f.name for f in
                                                               dataclasses.fields(cfg)}:
            raise TypeError(f"config {name!r} must be a dataclass with a seed field, "
                            f"got {type(cfg).__name__}")
    # seed-major: the first runs to finish cover every variant
    runs = [(name, seed) for seed in seeds for name in configs]
    jobs = [(dataclasses.replace(configs[name], seed=seed),) for name, seed in runs]
    labels = [f"variant {name!r}, seed {seed}" for name, seed in runs]
    done: dict[int, Any] = {}
    bar = tqdm(total=len(runs), desc="runs", disable=not progress)
    try:
        for i, result in run_all(train_fn, jobs, labels, n_jobs=n_jobs):
            done[i] = result
            bar.set_postfix_str(f"{runs[i][0]}, seed {runs[i][1]} done")
            bar.update()
    finally:
        bar.close()
    results: dict[str, list[Any]] = {name: [] for name in configs}
    for i, (name, _) in enumerate(runs):  # each variant's runs in the order of seeds
        results[name].append(done[i])
    return results


def run_seeds(train_fn: Callable[[Any], Curve], configs: Mapping[str, Any],
              seeds: Sequence[int], progress: bool = True, n_jobs: int | None = None
              ) -> dict[str, list[Curve]]:
    """Train every variant on every seed; return ``{variant: [curve of each seed]}``.

    ``train_fn`` returns a run's curve ``(x, y)``; the rest is ``run_each``'s: one run per
    core by default (``n_jobs=1``: one at a time, here), or on a Dask cluster inside
    ``joblib.parallel_config(backend="dask")``.
    """
    results = run_each(train_fn, configs, seeds, progress=progress, n_jobs=n_jobs)
    curves: dict[str, list[Curve]] = {}
    for name, runs in results.items():
        curves[name] = []
        for seed, curve in zip(seeds, runs):
            try:
                curves[name].append(as_curve(*curve))
            except (TypeError, ValueError) as error:
                raise ValueError(f"variant {name!r}, seed {seed}: {error}") from error
    return curves


def smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each index (fewer at the start)."""
    from dqn_helpers.plots import moving_average

    return moving_average(y, window) if window > 1 else np.asarray(y, dtype=float)


def common_grid(curves: Sequence[Curve], points: int = 200) -> np.ndarray:
    """``points`` evenly spaced x values covered by every curve (the overlap of their ranges).

    >>> one_run = ([0, 100], [0.0, 1.0])
    >>> a_later_run = ([20, 150], [0.0, 1.0])  # its first episode ended at step 20
    >>> common_grid([one_run, a_later_run], points=5).tolist()
    [20.0, 40.0, 60.0, 80.0, 100.0]
    """
    if not curves:
        raise ValueError("no curves")
    low = max(float(x[0]) for x, _ in curves)
    high = min(float(x[-1]) for x, _ in curves)
    if high < low:
        raise ValueError(f"the curves do not overlap: one starts at {low:g}, another ends at "
                         f"{high:g}")
    return np.linspace(low, high, points)


def interpolate(curves: Sequence[Curve], grid: np.ndarray) -> np.ndarray:
    """Each curve linearly interpolated at ``grid``: an array of shape ``(runs, len(grid))``."""
    return np.stack([np.interp(grid, x, y) for x, y in curves])


def mean_spread(curves: Sequence[Curve], grid: np.ndarray, spread: str = "std"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mean of the curves at ``grid`` and the band around it: ``(mean, low, high)``.

    ``spread="std"``: mean +- one standard deviation over runs; ``"minmax"``: the lowest and
    the highest run at each point.
    """
    values = interpolate(curves, grid)
    mean = values.mean(axis=0)
    if spread == "std":
        std = values.std(axis=0)
        return mean, mean - std, mean + std
    if spread == "minmax":
        return mean, values.min(axis=0), values.max(axis=0)
    raise ValueError(f"spread must be 'std' or 'minmax', got {spread!r}")


def mean_over_steps(curve: Curve, start: float, stop: float) -> float:
    """The mean of a curve over env steps ``start`` to ``stop`` (lab 06): its area / its length.

    The curve is read as linear between its points and flat beyond its ends (``np.interp``), so
    a run that learns early scores higher than one that reaches the same return late.

    >>> slow = ([0, 100], [0.0, 100.0])           # reaches a return of 100 at step 100
    >>> fast = ([0, 50, 100], [0.0, 100.0, 100.0])  # reaches it at step 50, then stays
    >>> mean_over_steps(slow, 0, 100), mean_over_steps(fast, 0, 100)
    (50.0, 75.0)
    >>> mean_over_steps(fast, 50, 200)  # flat beyond its last point
    100.0
    """
    x, y = as_curve(*curve)
    if not stop > start:
        raise ValueError(f"stop must be above start, got start={start:g}, stop={stop:g}")
    grid = np.union1d([start, stop], x[(x > start) & (x < stop)])  # exact for a linear curve
    return float(np.trapezoid(np.interp(grid, x, y), grid) / (stop - start))


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows of ``{column: value}`` (the same columns in each) as a markdown table (lab 06).

    >>> print(markdown_table([{"variant": "DQN", "mean return": 212.5},
    ...                       {"variant": "Double DQN", "mean return": 240.1}]))
    | variant | mean return |
    |---|---|
    | DQN | 212.5 |
    | Double DQN | 240.1 |
    """
    if not rows:
        raise ValueError("no rows to tabulate")
    columns = list(rows[0])
    for row in rows:
        if list(row) != columns:
            raise ValueError(f"every row needs the columns {columns}, got {list(row)}")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def plot_mean_spread(results: Mapping[str, Sequence[Curve]], window: int = 20,
                     spread: str = "std", points: int = 200, solved_at: float | None = None,
                     ax=None, title: str = "Mean over seeds, shaded spread",
                     xlabel: str = "env step", ylabel: str = "episode return"):
    """Plot each variant's mean curve over seeds with a shaded spread, on a common step grid.

    Each run's curve is first smoothed over ``window`` points (episode returns are noisy),
    then interpolated onto a grid that every run of every variant covers.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    smoothed = {name: [(x, smooth(y, window)) for x, y in curves]
                for name, curves in results.items()}
    grid = common_grid([c for curves in smoothed.values() for c in curves], points)
    for name, curves in smoothed.items():
        mean, low, high = mean_spread(curves, grid, spread)
        (line,) = ax.plot(grid, mean, lw=2, label=f"{name} ({len(curves)} seeds)")
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
    if solved_at is not None:
        ax.axhline(solved_at, color="tab:green", ls="--", lw=1, label=f"solved ({solved_at:g})")
    band = "+- 1 std" if spread == "std" else "min to max"
    ax.set(xlabel=xlabel, ylabel=ylabel, title=f"{title} ({band})")
    ax.legend(loc="lower right")
    return ax
