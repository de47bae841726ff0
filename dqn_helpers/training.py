"""The bookkeeping of a training loop, the same in every DQN lab (introduced in lab 02).

Besides learning, a training loop shows its progress, plots the returns live, remembers each
episode's return and the env step at which it ended, and runs the periodic greedy evaluation
that decides when the task is solved. ``TrainingLog`` does all of that, so that a lab's loop
shows only the algorithm::

    log = TrainingLog(cfg.total_steps, solved_at=cfg.solved_at, title="DQN on CartPole-v1")
    for global_step in log.steps():
        ...                                           # act, step the env, store, learn
        if log.add(reward, terminated or truncated, eps=epsilon):
            obs, _ = env.reset()                      # the episode ended
        if (global_step + 1) % cfg.eval_every == 0 and log.evaluate(q_network, cfg.env_id):
            break                                     # solved
    results = log.close()

With a tracker (``dqn_helpers.tracking``) it also logs each episode's return and length, what
``add`` shows beside the bar (epsilon, say), the mean loss of the gradient steps counted with
``learned(loss)``, gradient steps per second, and every evaluation. Run headless by
``python -m dqn_helpers.run`` (``DQN_LABS_HEADLESS=1``) it prints a line of progress every
``HEADLESS_INTERVAL`` seconds instead of a bar.

Without a progress bar or plot (``show=False``) it still records everything:

>>> log = TrainingLog(5, show=False)
>>> for global_step in log.steps():
...     log.add(reward=1.0, episode_over=global_step in (1, 4))
False
True
False
False
True
>>> results = log.close()
>>> results["episode_returns"].tolist(), results["episode_ends"].tolist(), results["env_steps"]
([2.0, 3.0], [2, 5], 5)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

HEADLESS_INTERVAL = 10.0  # seconds between progress lines when run headless


class TrainingLog:
    """Progress bar, live plot, episode returns and periodic evaluations of one training run.

    ``start_step``, ``previous_returns`` and ``previous_seconds`` continue a run resumed from a
    checkpoint (lab 05). ``max_minutes`` ends ``steps()`` once that much wall time has passed.
    """

    def __init__(self, total_steps: int, *, solved_at: float | None = None,
                 title: str = "Training", show: bool = True, max_minutes: float | None = None,
                 start_step: int = 0, previous_returns=(), previous_seconds: float = 0.0,
                 plot_interval: float = 2.0, bar_interval: float = 1.0, tracker=None):
        self.total_steps, self.start_step = total_steps, start_step
        self.solved_at, self.title, self.show = solved_at, title, show
        self.max_minutes, self.previous_seconds = max_minutes, previous_seconds
        self.plot_interval, self.bar_interval = plot_interval, bar_interval
        self.episode_returns = [float(r) for r in previous_returns]
        self.episode_ends: list[int] = []  # the env step at which each episode ended
        self.evals: list[tuple[int, float]] = []  # (env step, greedy evaluation mean)
        self.episode_return, self.env_steps, self.steps_to_solve = 0.0, start_step, None
        self.plot = self.progress = None
        self._started = None
        self.tracker = tracker  # dqn_helpers.tracking, or None
        self.headless = show and os.environ.get("DQN_LABS_HEADLESS") == "1"
        self._episode_start, self._losses, self._gradient_steps = start_step, [], 0
        self._last_report = None  # (time, gradient steps) at the last tracker or headless line
        self._last_print = 0.0

    def steps(self) -> Iterator[int]:
        """The loop's ``global_step``: start_step, ..., total_steps - 1, with a progress bar.

        While it runs, torch flushes subnormal floats to 0 (``torch.set_flush_denormal``).
        """
        import torch
        from tqdm.auto import tqdm

        if self.show:
            from dqn_helpers.plots import LivePlot

            # Headless, no one watches the plot live: it is drawn once, at close (a redraw
            # costs 0.2 to 0.3 s, a tenth of lab 02's training at one every 2 s).
            self.plot = LivePlot(solved_at=self.solved_at, title=self.title,
                                 min_interval=float("inf") if self.headless
                                 else self.plot_interval)
            for old_return in self.episode_returns:
                self.plot.add_episode(old_return)
        # The bar is advanced by hand, not iterated: a loop that breaks (solved) closes this
        # generator, and an iterated bar would take that for an error and turn red for good.
        self.progress = tqdm(total=self.total_steps - self.start_step, desc="training",
                             mininterval=self.bar_interval,
                             disable=not self.show or self.headless)
        self._started = time.perf_counter() - self.previous_seconds
        self._last_report = (time.perf_counter(), 0)
        # Subnormal floats (nonzero, below about 1e-38 in float32) take a slow path on a CPU,
        # and Adam's running average of a weight's gradient sinks into them, and stays, when
        # that gradient is mostly 0. While the loop runs they are flushed to 0: the same
        # results, faster (lab 05, section M5, has the profile and the figures).
        torch.set_flush_denormal(True)
        try:
            for global_step in range(self.start_step, self.total_steps):
                self.env_steps = global_step + 1
                yield global_step
                self.progress.update()
                if self.max_minutes is not None and self.seconds() > 60 * self.max_minutes:
                    return  # out of time: the agent is the network as it is now
        finally:  # the loop ended, broke (solved) or raised: torch's default again
            torch.set_flush_denormal(False)

    def seconds(self) -> float:
        """Wall time of the run so far (previous sessions included)."""
        if self._started is None:  # not started yet
            return self.previous_seconds
        return time.perf_counter() - self._started

    def add(self, reward: float, episode_over: bool, **postfix: float) -> bool:
        """Count one env step's reward; at an episode's end record it. Returns ``episode_over``.

        ``postfix`` (``eps=epsilon``, say) is shown beside the progress bar at each episode's end.
        """
        self.episode_return += float(reward)
        if not episode_over:
            return False
        self.episode_returns.append(self.episode_return)
        self.episode_ends.append(self.env_steps)
        if self.tracker:
            self._track_episode(postfix)
        if self.show:
            self.plot.add_episode(self.episode_return)
            shown = {key: round(float(value), 3) for key, value in postfix.items()}
            self.progress.set_postfix(ret=round(self.episode_return, 1), **shown, refresh=False)
            if self.headless and time.perf_counter() - self._last_print > HEADLESS_INTERVAL:
                self._print_progress(shown)
        self.episode_return, self._episode_start = 0.0, self.env_steps
        return True

    def learned(self, loss: float) -> None:
        """Count one gradient step and its loss (logged, averaged, at the next episode's end)."""
        self._gradient_steps += 1
        if self.tracker:
            self._losses.append(float(loss))

    def _gradient_steps_per_second(self) -> float:
        now, before = time.perf_counter(), self._last_report
        self._last_report = (now, self._gradient_steps)
        return (self._gradient_steps - before[1]) / max(now - before[0], 1e-9)

    def _track_episode(self, postfix: dict[str, float]) -> None:
        step, track = self.env_steps, self.tracker.scalar
        track("train/episode_return", self.episode_return, step)
        track("train/episode_length", step - self._episode_start, step)
        for name, value in postfix.items():
            track(f"train/{name}", float(value), step)
        if self._losses:
            track("train/loss", float(np.mean(self._losses)), step)
            track("train/gradient_steps_per_second", self._gradient_steps_per_second(), step)
            self._losses = []

    def _print_progress(self, shown: dict[str, float]) -> None:
        self._last_print = time.perf_counter()
        last_eval = f", last evaluation {self.evals[-1][1]:.1f}" if self.evals else ""
        extra = "".join(f", {key} {value}" for key, value in shown.items())
        print(f"  step {self.env_steps:,}/{self.total_steps:,} ({self.seconds():.0f} s): "
              f"{len(self.episode_returns)} episodes, last return {self.episode_return:.1f}"
              f"{extra}{last_eval}", file=sys.stderr, flush=True)

    def evaluate(self, q_network, env_id, episodes: int = 100) -> bool:
        """The periodic greedy evaluation (``evaluation.solved``); True when it reaches solved_at.

        The k-th evaluation of a run plays seeds from 10,000 + 1,000 k: fresh episodes each time,
        the same ones in every run.
        """
        from dqn_helpers.evaluation import solved

        if self.solved_at is None:
            raise ValueError("TrainingLog(solved_at=...) is needed to evaluate")
        is_solved, mean = solved(q_network, env_id, self.solved_at, seed=self.eval_seed(),
                                 episodes=episodes)
        self.record_eval(mean, f" >= {self.solved_at:g}: solved" if is_solved else "")
        if is_solved and self.steps_to_solve is None:
            self.steps_to_solve = self.env_steps
        return is_solved

    def eval_seed(self) -> int:
        """The first episode seed of the next evaluation: 10,000 + 1,000 k for the k-th."""
        return 10_000 + 1_000 * (len(self.evals) + 1)

    def record_eval(self, mean: float, note: str = "") -> None:
        """Record a greedy evaluation's mean at this step: the plot, the tracker, a headless line
        (``note`` is added to it). ``evaluate`` calls it; a loop with its own evaluation (lab
        05's MinAtar part, which has no threshold) calls it directly."""
        self.evals.append((self.env_steps, float(mean)))
        if self.tracker:
            self.tracker.scalar("eval/mean_return", float(mean), self.env_steps)
        if self.show:
            self.plot.add_eval(float(mean))
        if self.headless:
            print(f"  evaluation at step {self.env_steps:,}: greedy mean {mean:.1f}{note}",
                  file=sys.stderr, flush=True)

    def close(self) -> dict[str, Any]:
        """Stop the clock, close the bar and the plot; return the run's results."""
        train_wall_seconds = self.seconds()
        if self.progress is not None:
            if not self.progress.disable and self.steps_to_solve is not None:
                # Solved before the budget ran out: a success, so the bar ends full (green in
                # Jupyter) rather than cut short (red, as an interrupted or failed run's).
                steps, started = self.env_steps - self.start_step, self.progress.start_t
                self.progress.reset(total=steps)  # reset() also resizes Jupyter's bar
                self.progress.start_t = started  # keep the elapsed time shown
                self.progress.update(steps)
            self.progress.close()
        if self.plot is not None:
            self.plot.close()
        return {"steps_to_solve": self.steps_to_solve, "env_steps": self.env_steps,
                "train_wall_seconds": train_wall_seconds, "plot": self.plot,
                "episode_returns": np.array(self.episode_returns),
                "episode_ends": np.array(self.episode_ends), "evals": list(self.evals)}
