"""Step through an episode: the frame, the Q-values and what the agent got (introduced in lab 02).

``record_episode`` plays one episode with a Q-network and keeps, for every step, the frame the
env showed, the Q-values, the action, whether epsilon chose it at random and the reward.
``explore`` shows one or more records side by side with a Play button and a step slider: the
Q bars with the chosen action marked, and max Q against the discounted return G_t the agent
actually obtained from that step on (their gap is the overestimation). The widget is displayed
with a PNG of a static figure in the same output (``widget_bundle``): a front end with widgets
draws the widget, and anything else (an exported HTML page, GitHub's viewer, VS Code without
widgets) shows the picture. Headless (no kernel, ``DQN_LABS_HEADLESS=1``) it draws the
static matplotlib figure alone.

ipywidgets, matplotlib, PIL and torch load only when used, so importing this module is cheap.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

N_STRIP = 6  # frames in the static figure's strip


@dataclass
class EpisodeRecord:
    """One episode, step by step (``T`` steps, ``n_actions`` actions).

    >>> record = EpisodeRecord(frames=np.zeros((3, 2, 2, 3), np.uint8),
    ...                        q_values=np.array([[1.0, 2.5], [2.0, 1.0], [0.5, 1.0]], np.float32),
    ...                        actions=np.array([1, 0, 1]), explored=np.zeros(3, bool),
    ...                        rewards=np.ones(3, np.float32), gamma=0.5)
    >>> record.returns_to_go()          # G_2 = 1, G_1 = 1 + 0.5 * 1, G_0 = 1 + 0.5 * 1.5
    array([1.75, 1.5 , 1.  ], dtype=float32)
    >>> record.overestimation()         # max_a Q(s_t, a) - G_t
    array([0.75, 0.5 , 0.  ], dtype=float32)
    """

    frames: np.ndarray      # (T, H, W, 3) uint8: what the env showed before each action
    q_values: np.ndarray    # (T, n_actions) float32
    actions: np.ndarray     # (T,) int64
    explored: np.ndarray    # (T,) bool: epsilon picked this action at random
    rewards: np.ndarray     # (T,) float32
    gamma: float
    action_names: list[str] = field(default_factory=list)
    # optional per-step arrays: "V" (T,), "A" (T, n_actions), "stack" (T, k, h, w) uint8
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    terminated: bool = False  # the episode ended in a terminal state (not cut by a time limit)

    def __post_init__(self) -> None:
        if not self.action_names:
            self.action_names = [str(a) for a in range(np.shape(self.q_values)[1])]

    def __len__(self) -> int:
        return len(self.actions)

    def returns_to_go(self) -> np.ndarray:
        """``(T,)`` discounted return from each step on: G_t = r_t + gamma G_{t+1}, G_T = 0."""
        returns = np.zeros(len(self.rewards), np.float32)
        future = 0.0
        for t in reversed(range(len(self.rewards))):
            future = float(self.rewards[t]) + self.gamma * future
            returns[t] = future
        return returns

    def overestimation(self) -> np.ndarray:
        """``(T,)`` max_a Q(s_t, a) - G_t: how much more the network promised than it got."""
        return (np.max(self.q_values, axis=1) - self.returns_to_go()).astype(np.float32)


def record_episode(q_network, env, *, epsilon: float = 0.0, seed: int = 0, gamma: float = 0.99,
                   max_steps: int | None = None, action_names: list[str] | None = None,
                   extras: Callable[[Any, Any], dict] | None = None,
                   frame_stride: int = 1) -> EpisodeRecord:
    """Play one epsilon-greedy episode of ``q_network`` in ``env`` and record every step.

    ``env`` must be made with ``render_mode="rgb_array"``; it is reset with ``seed``, and
    epsilon draws come from ``np.random.default_rng(seed)``. ``extras(q_network, obs)`` may
    return a dict of per-step arrays (``"V"``, ``"A"``, ``"stack"``) kept in ``record.extras``.
    ``frame_stride=2`` keeps every other pixel of each frame: a quarter of the memory (a
    500-step CartPole episode at full size takes 360 MB).
    """
    import torch

    if env.render_mode != "rgb_array":
        raise ValueError(f"the env renders to {env.render_mode!r}; make it with "
                         "render_mode='rgb_array'")
    rng = np.random.default_rng(seed)
    device = next(q_network.parameters()).device
    n_actions = env.action_space.n
    steps: dict[str, list] = {"frames": [], "q_values": [], "actions": [], "explored": [],
                              "rewards": []}
    extra_steps: dict[str, list] = {}
    obs, _ = env.reset(seed=seed)
    terminated = False
    t = 0
    while max_steps is None or t < max_steps:
        frame = np.asarray(env.render(), np.uint8)[::frame_stride, ::frame_stride]
        steps["frames"].append(np.ascontiguousarray(frame))
        with torch.no_grad():
            q = q_network(torch.as_tensor(np.asarray(obs)[None], dtype=torch.float32,
                                          device=device))[0].cpu().numpy()
            more = extras(q_network, obs) if extras is not None else {}
        explored = bool(rng.random() < epsilon)
        action = int(rng.integers(n_actions)) if explored else int(np.argmax(q))
        for name, value in more.items():
            extra_steps.setdefault(name, []).append(np.asarray(value))
        obs, reward, terminated, truncated, _ = env.step(action)
        for name, value in zip(steps, (None, q, action, explored, reward)):
            if name != "frames":
                steps[name].append(value)
        t += 1
        if terminated or truncated:
            break
    return EpisodeRecord(
        frames=np.stack(steps["frames"]), q_values=np.array(steps["q_values"], np.float32),
        actions=np.array(steps["actions"], np.int64), explored=np.array(steps["explored"], bool),
        rewards=np.array(steps["rewards"], np.float32), gamma=gamma,
        action_names=list(action_names or []),
        extras={name: np.stack(values) for name, values in extra_steps.items()},
        terminated=bool(terminated))


def widgets_available() -> bool:
    """True in a Jupyter kernel with ipywidgets, unless ``DQN_LABS_HEADLESS=1``."""
    if os.environ.get("DQN_LABS_HEADLESS") == "1":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def explore(*records: EpisodeRecord, titles: list[str] | None = None, show: bool = True):
    """Step through ``records`` side by side; return the widget (or, headless, the figure).

    With a widget front end: one Play button and one step slider drive every record (a shorter
    record holds its last step); ``explorer.step.value = k`` moves it and ``explorer.shown()``
    returns the values on display. Headless: a strip of frames and max Q against G_t.
    """
    if not records:
        raise ValueError("explore() needs at least one EpisodeRecord")
    titles = list(titles) if titles else [f"episode {i}" if len(records) > 1 else "episode"
                                          for i in range(len(records))]
    if len(titles) != len(records):
        raise ValueError(f"{len(titles)} titles for {len(records)} records")
    if not widgets_available():
        figure = static_figure(records, titles)
        if show:
            from IPython.display import display

            display(figure)
        return figure
    explorer = Explorer(records, titles)
    if show:
        from IPython.display import display

        display(explorer)  # the widget, and its static figure for a page without widgets
    return explorer


def static_figure(records, titles):
    """What the explorer shows, as one figure: for each record, a strip of a few frames, the
    stacked frames the network saw at those steps (``extras["stack"]``), and max Q against G_t
    over the episode, with V beside it and A on a panel of its own for a dueling network
    (``extras["V"]``, ``extras["A"]``)."""
    import matplotlib.pyplot as plt

    heights = []
    for record in records:
        heights += [1.0] + ([0.7] if "stack" in record.extras else []) + [1.4]
    height = 1.55 * sum(heights) + 0.3  # inches; margins set by hand: a layout engine
    figure = plt.figure(figsize=(2 * N_STRIP, height))  # would double the time to draw
    grid = figure.add_gridspec(len(heights), N_STRIP, height_ratios=heights, left=0.05,
                               right=0.99, top=1 - 0.25 / height, bottom=0.45 / height,
                               hspace=0.55, wspace=0.25)
    row = 0
    for record, title in zip(records, titles):
        steps = np.linspace(0, len(record) - 1, N_STRIP).round().astype(int)
        for column, t in enumerate(steps):
            ax = figure.add_subplot(grid[row, column])
            ax.imshow(record.frames[t])
            ax.set_title(f"t={t}: {record.action_names[record.actions[t]]}", fontsize=8)
            ax.set(xticks=[], yticks=[])  # a thin border: CartPole's frames are mostly white
        row += 1
        if "stack" in record.extras:
            for column, t in enumerate(steps):
                ax = figure.add_subplot(grid[row, column])
                ax.imshow(_stack_row(record.extras["stack"][t]), cmap="gray", vmin=0, vmax=255)
                ax.set_title(f"t={t}: the stack it sees" if column == 0 else f"t={t}",
                             fontsize=8)
                ax.set(xticks=[], yticks=[])
            row += 1
        split = N_STRIP // 2 if "A" in record.extras else N_STRIP
        ax = figure.add_subplot(grid[row, :split])
        ax.plot(record.q_values.max(axis=1), label="max_a Q(s_t, a)")
        ax.plot(record.returns_to_go(), label="G_t (return obtained)")
        if "V" in record.extras:
            ax.plot(np.ravel(record.extras["V"]), "--", label="V(s_t) (value stream)")
        ax.set_xlabel("step t")
        ax.set_title(f"{title}: the gap is the overestimation", fontsize=9)
        ax.legend(fontsize=8)
        if "A" in record.extras:
            ax = figure.add_subplot(grid[row, split:])
            advantages = np.asarray(record.extras["A"]).reshape(len(record), -1)
            for a, name in enumerate(record.action_names):
                ax.plot(advantages[:, a], lw=1, label=f"A(s_t, {name})")
            ax.set_xlabel("step t")
            ax.set_title(f"{title}: the advantage stream", fontsize=9)
            ax.legend(fontsize=8)
        row += 1
    plt.close(figure)  # shown once by display(), not again at the end of the cell
    return figure


def figure_png(figure, dpi: int = 72) -> bytes:
    """``figure`` as a small PNG: ``dpi`` pixels an inch, 256 colours (10-25 KB here)."""
    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    image = Image.open(buffer).convert("RGB").quantize(256)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def widget_bundle(widget, png: bytes, text: str) -> dict:
    """One display bundle holding the widget's view, a PNG and a line of text.

    A front end with widgets (JupyterLab, Notebook 7, Colab, VS Code) draws the widget: it ranks
    the widget's MIME type above the others. Anything else falls back to the picture: a notebook
    run without a front end (nbval, papermill) and opened where no widget can run, nbconvert's
    HTML (it skips a widget whose state the notebook does not hold), GitHub's viewer, VS Code
    without widgets; a terminal shows the text. Display it with
    ``IPython.display.display(bundle, raw=True)``.
    """
    import base64

    bundle = dict(widget._repr_mimebundle_())
    bundle["image/png"] = base64.b64encode(png).decode("ascii")
    bundle["text/plain"] = text
    return bundle


def _png(frame: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _stack_row(stack: np.ndarray) -> np.ndarray:
    """``(k, h, w)`` stacked frames, oldest first, side by side with a gray gap: ``(h, W)``."""
    stack = np.asarray(stack, np.uint8)
    gap = np.full((stack.shape[1], 2), 128, np.uint8)
    return np.concatenate([part for frame in stack for part in (frame, gap)][:-1], axis=1)


def _bars_svg(values: np.ndarray, names: list[str], chosen: int | None, width: int = 260,
              title: str = "Q(s_t, a)") -> str:
    """Horizontal bars, one per action, the chosen one in orange; plain SVG, cheap to redraw."""
    low, high = min(0.0, float(values.min())), max(0.0, float(values.max()))
    scale = (width - 110) / ((high - low) or 1.0)
    zero = 70 + (0 - low) * scale
    rows = [f'<text x="0" y="12" font-size="11" font-weight="bold">{title}</text>']
    for a, (value, name) in enumerate(zip(values, names)):
        y = 18 + 18 * a
        x0, x1 = sorted((zero, 70 + (float(value) - low) * scale))
        colour = "#f28e2b" if a == chosen else "#4e79a7"
        rows.append(f'<text x="0" y="{y + 12}" font-size="11">{name[:10]}</text>'
                    f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="14" '
                    f'fill="{colour}"/><text x="{x1 + 3:.1f}" y="{y + 12}" font-size="11">'
                    f'{float(value):.2f}</text>')
    height = 22 + 18 * len(values)
    return (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'{"".join(rows)}</svg>')


def _curves_svg(record: EpisodeRecord, width: int = 260, height: int = 90) -> str:
    """max Q and G_t over the episode as two polylines (the cursor is added per step)."""
    max_q, returns = record.q_values.max(axis=1), record.returns_to_go()
    low = float(min(max_q.min(), returns.min(), 0.0))
    high = float(max(max_q.max(), returns.max()))
    steps = max(len(record) - 1, 1)

    def points(values):
        return " ".join(f"{t * width / steps:.1f},{height - (v - low) / ((high - low) or 1.0) * (height - 4) - 2:.1f}"
                        for t, v in enumerate(values))

    return (f'<polyline points="{points(max_q)}" fill="none" stroke="#4e79a7" stroke-width="1.5"/>'
            f'<polyline points="{points(returns)}" fill="none" stroke="#59a14f" stroke-width="1.5"/>')


class Explorer:
    """The widget ``explore`` returns: ``box`` (to display), ``step`` (the slider), ``play``."""

    def __init__(self, records, titles) -> None:
        import ipywidgets as widgets

        self.records, self.titles = list(records), list(titles)
        self._png_cache: dict[tuple[int, int], bytes] = {}
        self._static_png: bytes | None = None
        self._curves = [_curves_svg(r) for r in self.records]
        self._shown: list[dict] = [{} for _ in self.records]
        n_steps = max(len(r) for r in self.records)
        self.step = widgets.IntSlider(0, 0, n_steps - 1, description="step",
                                      continuous_update=True,
                                      layout=widgets.Layout(width="420px"))
        self.play = widgets.Play(0, 0, n_steps - 1, interval=60, description="Play")
        widgets.jslink((self.play, "value"), (self.step, "value"))
        self.images = [widgets.Image(format="png", layout=widgets.Layout(width="300px"))
                       for _ in self.records]
        self.panels = [widgets.HTML() for _ in self.records]
        # what a pixel network sees: its stacked frames side by side, under the rendered frame
        self.stacks = [widgets.Image(format="png", layout=widgets.Layout(width="300px"))
                       if "stack" in r.extras else None for r in self.records]
        columns = [widgets.VBox([widgets.HTML(f"<b>{title}</b>"), image,
                                 *([stack] if stack is not None else []), panel])
                   for title, image, stack, panel in zip(self.titles, self.images, self.stacks,
                                                         self.panels)]
        self.box = widgets.VBox([widgets.HBox([self.play, self.step]), widgets.HBox(columns)])
        self.step.observe(lambda change: self.update(), names="value")
        self.update()

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The widget, with a PNG of ``static_figure`` for front ends without widgets."""
        steps = max(len(r) for r in self.records)
        text = (f"Episode explorer: {', '.join(self.titles)} ({steps} steps); step through it in "
                "a notebook with widgets")
        return widget_bundle(self.box, self.png(), text)

    def png(self) -> bytes:
        """The static figure as a PNG (drawn when first asked for: tests never pay for it)."""
        if self._static_png is None:
            self._static_png = figure_png(static_figure(self.records, self.titles))
        return self._static_png

    def _frame(self, i: int, t: int) -> bytes:
        if (i, t) not in self._png_cache:  # encoded when first shown, not all up front
            self._png_cache[(i, t)] = _png(self.records[i].frames[t])
        return self._png_cache[(i, t)]

    def _stack(self, i: int, t: int) -> bytes:
        if (i, -t - 1) not in self._png_cache:
            row = _stack_row(self.records[i].extras["stack"][t])
            self._png_cache[(i, -t - 1)] = _png(np.repeat(row[:, :, None], 3, axis=2))
        return self._png_cache[(i, -t - 1)]

    def shown(self, index: int = 0) -> dict:
        """The values on display for record ``index`` at the slider's step."""
        return dict(self._shown[index])

    def update(self) -> None:
        for i, record in enumerate(self.records):
            t = min(self.step.value, len(record) - 1)
            values = self._values(record, t)
            self._shown[i] = values
            self.images[i].value = self._frame(i, t)
            if self.stacks[i] is not None:
                self.stacks[i].value = self._stack(i, t)
            self.panels[i].value = self._html(i, record, values)

    @staticmethod
    def _values(record: EpisodeRecord, t: int) -> dict:
        returns = record.returns_to_go()
        values = {"step": t, "q_values": record.q_values[t].tolist(),
                  "action": int(record.actions[t]),
                  "action_name": record.action_names[record.actions[t]],
                  "explored": bool(record.explored[t]), "reward": float(record.rewards[t]),
                  "max_q": float(record.q_values[t].max()), "return_to_go": float(returns[t]),
                  "overestimation": float(record.q_values[t].max() - returns[t])}
        for name in ("V", "A"):
            if name in record.extras:
                values[name] = np.asarray(record.extras[name][t]).tolist()
        return values

    def _html(self, i: int, record: EpisodeRecord, v: dict) -> str:
        how = "<b style='color:#e15759'>explored (random)</b>" if v["explored"] else "greedy"
        parts = [_bars_svg(np.asarray(v["q_values"]), record.action_names, v["action"]),
                 f"<div>step <b>{v['step']}</b> of {len(record) - 1}: action "
                 f"<b>{v['action_name']}</b> ({how}), reward {v['reward']:.2f}</div>",
                 f"<div><span style='color:#4e79a7'>max Q = {v['max_q']:.2f}</span>, "
                 f"<span style='color:#59a14f'>G_t = {v['return_to_go']:.2f}</span>, "
                 f"gap (overestimation) = <b>{v['overestimation']:+.2f}</b></div>"]
        x = v["step"] * 260 / max(len(record) - 1, 1)
        parts.append(f'<svg width="260" height="90" style="border:1px solid #ddd">'
                     f'{self._curves[i]}<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="90" '
                     f'stroke="#e15759"/></svg><div style="font-size:11px">'
                     f'<span style="color:#4e79a7">max Q</span> and '
                     f'<span style="color:#59a14f">G_t</span> over the episode</div>')
        if "V" in v:
            parts.append(f"<div>V(s_t) = {float(np.ravel(v['V'])[0]):.2f}</div>")
        if "A" in v:
            parts.append(_bars_svg(np.asarray(v["A"]), record.action_names, v["action"],
                                   title="A(s_t, a)"))
        return "".join(parts)
