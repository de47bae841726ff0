"""What a Q-network has learned, drawn over the state space, and a knob to retrain it (lab 02).

``value_grid`` evaluates a network on a grid over two of the observation's dimensions (for
CartPole by default the pole's angle ``obs[2]`` against its angular velocity ``obs[3]``), the
others held fixed, in one batch: ``V(s) = max_a Q(s, a)`` and the greedy action at each point.
``plot_landscape`` draws one heatmap per network, side by side (untrained, during training,
trained), each with a line where the greedy action changes and hatching over one action's
region. ``landscape`` adds sliders for the two fixed dimensions (the cart's position and
velocity) in a notebook, with a PNG of the figure in the same output for front ends without
widgets, and draws the static figure alone headless (``DQN_LABS_HEADLESS=1``, no kernel).

``TauKnob`` retrains a short run at a chosen soft-update rate tau and adds its returns to one
plot, labelled by tau: a slider and a Train button in a notebook; ``knob.run(tau)`` anywhere.

>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> grid = value_grid(net, resolution=5)
>>> grid.values.shape, grid.greedy.shape  # (angular velocities, angles)
((5, 5), (5, 5))
>>> bool(torch.allclose(net(torch.tensor([[0.0, 0.0, grid.xs[1], grid.ys[3]]])).max(),
...                     torch.tensor(float(grid.values[3, 1]))))
True
>>> fig = plot_landscape({"untrained": net, "same again": net}, resolution=9)
>>> [ax.get_title() for ax in fig.axes[:2]]  # then their two colour bars
['untrained', 'same again']
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

# CartPole-v1's observation: what each number is, and a range that covers what an episode sees
# (the episode ends at |angle| > 0.2095 rad, 12 degrees, or |position| > 2.4).
CARTPOLE_DIMS = ["cart position", "cart velocity", "pole angle (rad)",
                 "pole angular velocity (rad/s)"]
CARTPOLE_RANGES = [(-2.4, 2.4), (-2.0, 2.0), (-0.21, 0.21), (-2.0, 2.0)]
CARTPOLE_ACTIONS = ["push left", "push right"]
HATCHES = ["", "///", "...", "xxx", "\\\\\\", "ooo"]  # one per action; action 0 plain


@dataclass
class ValueGrid:
    """A network's values on a grid: ``values[i, j]`` and ``greedy[i, j]`` at ``(xs[j], ys[i])``."""

    xs: np.ndarray       # (nx,) the first dimension's values (the x axis)
    ys: np.ndarray       # (ny,) the second dimension's values (the y axis)
    values: np.ndarray   # (ny, nx) float32: V(s) = max_a Q(s, a)
    greedy: np.ndarray   # (ny, nx) int64: argmax_a Q(s, a)


def widgets_available() -> bool:
    """True in a Jupyter kernel with ipywidgets installed, unless ``DQN_LABS_HEADLESS=1``."""
    from dqn_helpers.plots import in_notebook

    if os.environ.get("DQN_LABS_HEADLESS") == "1" or not in_notebook():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def value_grid(q_network, *, dims: tuple[int, int] = (2, 3), fixed: Sequence[float] = (0, 0, 0, 0),
               ranges: Sequence[tuple[float, float]] = CARTPOLE_RANGES,
               resolution: int = 81) -> ValueGrid:
    """Evaluate ``q_network`` on a ``resolution`` x ``resolution`` grid over ``dims``.

    Every observation is ``fixed`` except its two ``dims``, which sweep ``ranges[dims[k]]``.
    One forward pass of ``resolution**2`` observations, under ``torch.no_grad()``, on the
    network's device.
    """
    import torch

    xs = np.linspace(*ranges[dims[0]], resolution, dtype=np.float32)
    ys = np.linspace(*ranges[dims[1]], resolution, dtype=np.float32)
    obs = np.tile(np.asarray(fixed, dtype=np.float32), (resolution * resolution, 1))
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")  # (ny, nx) each: row i is ys[i]
    obs[:, dims[0]], obs[:, dims[1]] = grid_x.ravel(), grid_y.ravel()
    device = next(q_network.parameters()).device
    with torch.no_grad():
        q_values = q_network(torch.as_tensor(obs, device=device)).cpu()  # (ny * nx, n_actions)
    values, greedy = q_values.max(dim=1)
    shape = (resolution, resolution)
    return ValueGrid(xs, ys, values.numpy().reshape(shape), greedy.numpy().reshape(shape))


def plot_landscape(networks: Mapping[str, Any] | Sequence[Any], *, dims: tuple[int, int] = (2, 3),
                   fixed: Sequence[float] = (0, 0, 0, 0),
                   ranges: Sequence[tuple[float, float]] = CARTPOLE_RANGES,
                   dim_names: Sequence[str] = CARTPOLE_DIMS,
                   action_names: Sequence[str] = CARTPOLE_ACTIONS, resolution: int = 81,
                   fig=None):
    """One heatmap of V = max_a Q per network, side by side; returns the matplotlib figure.

    ``networks`` maps a title to a network (or is a list, titled by position). A black line
    marks where the greedy action changes and hatching covers each action's region but the
    first; each panel has its own colour scale (an untrained network's values are near 0, a
    trained one's grow as it learns).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not isinstance(networks, Mapping):
        networks = {f"network {k}": net for k, net in enumerate(networks)}
    if fig is None:
        fig = plt.figure(figsize=(4.2 * len(networks), 3.8))
    fig.clear()
    axes = fig.subplots(1, len(networks), squeeze=False)[0]
    for ax, (title, net) in zip(axes, networks.items()):
        grid = value_grid(net, dims=dims, fixed=fixed, ranges=ranges, resolution=resolution)
        extent = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
        image = ax.imshow(grid.values, origin="lower", extent=extent, aspect="auto",
                          cmap="viridis", interpolation="nearest")
        fig.colorbar(image, ax=ax, label=r"$V(s) = \mathrm{max}_a\, Q(s, a)$")
        n_actions = len(action_names)
        levels = np.arange(n_actions + 1) - 0.5
        if grid.greedy.min() != grid.greedy.max():  # a line only where the action changes
            ax.contour(grid.xs, grid.ys, grid.greedy, levels=levels[1:-1], colors="k",
                       linewidths=1)
        ax.contourf(grid.xs, grid.ys, grid.greedy, levels=levels, colors="none",
                    hatches=HATCHES[:n_actions])
        ax.set(title=title, xlabel=dim_names[dims[0]], ylabel=dim_names[dims[1]])
    handles = [Patch(facecolor="white", edgecolor="k", hatch=HATCHES[a],
                     label=f"greedy: {name} ({a})") for a, name in enumerate(action_names)]
    others = [f"{dim_names[d]} = {fixed[d]:g}" for d in range(len(fixed)) if d not in dims]
    fig.legend(handles=handles, loc="lower center", ncol=n_actions + 1, frameon=False,
               title=", ".join(others), fontsize=9, title_fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def landscape(networks: Mapping[str, Any] | Sequence[Any], *, dims: tuple[int, int] = (2, 3),
              fixed: Sequence[float] = (0, 0, 0, 0),
              ranges: Sequence[tuple[float, float]] = CARTPOLE_RANGES,
              dim_names: Sequence[str] = CARTPOLE_DIMS, resolution: int = 81, show: bool = True,
              **kwargs):
    """The value landscape with a slider for each fixed dimension (in a notebook with widgets).

    Moving a slider redraws every panel with that dimension at the new value. Returns the
    ipywidgets box, displayed with a PNG of its first figure in the same output (front ends
    without widgets show that: nbval, exported HTML, GitHub); without a kernel or with
    ``DQN_LABS_HEADLESS=1``, draws and returns the static figure of ``plot_landscape`` instead.
    """
    options = dict(dims=dims, ranges=ranges, dim_names=dim_names, resolution=resolution, **kwargs)
    if not widgets_available():
        fig = plot_landscape(networks, fixed=fixed, **options)
        if show:
            from dqn_helpers.plots import in_notebook

            if in_notebook():
                import matplotlib.pyplot as plt
                from IPython.display import display

                display(fig)
                plt.close(fig)  # shown once: the inline backend would show it again
        return fig
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    from dqn_helpers.explorer import figure_png, widget_bundle

    others = [d for d in range(len(fixed)) if d not in dims]
    sliders = {d: widgets.FloatSlider(value=fixed[d], min=ranges[d][0], max=ranges[d][1],
                                      step=(ranges[d][1] - ranges[d][0]) / 40,
                                      description=dim_names[d],
                                      style={"description_width": "initial"},
                                      continuous_update=False) for d in others}
    output = widgets.Output()

    def redraw(_=None):
        now = list(fixed)
        for d, slider in sliders.items():
            now[d] = slider.value
        with output:
            output.clear_output(wait=True)
            fig = plot_landscape(networks, fixed=now, **options)
            display(fig)
            plt.close(fig)
        return fig

    for slider in sliders.values():
        slider.observe(redraw, names="value")
    first = redraw()
    box = widgets.VBox([widgets.HBox(list(sliders.values())), output])
    if show:  # the widget, and the first figure for a page without widgets (nbval, HTML)
        text = f"Value landscape of {len(networks)} network(s); its sliders need widgets"
        display(widget_bundle(box, figure_png(first), text), raw=True)
    return box


class TauKnob:
    """Retrain a short run at a chosen tau and add its returns to one plot, labelled by tau.

    ``train(cfg, show=False) -> (q_network, results)`` is the lab's own loop; each run uses
    ``dataclasses.replace(cfg, tau=tau)``. ``run(tau)`` is what the Train button calls: it
    trains, keeps the results in ``runs`` (tau -> episode returns and the env steps they
    ended at) and redraws the plot. ``widget()`` is the slider (log-spaced taus) and the button.
    """

    def __init__(self, train: Callable, cfg, taus: Sequence[float] = (0.001, 0.003, 0.01, 0.03,
                                                                       0.1, 0.3, 1.0),
                 window: int = 10):
        self.train, self.cfg, self.taus, self.window = train, cfg, list(taus), window
        self.runs: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self.output = None  # the widget's plot area, once widget() made it

    def run(self, tau: float):
        """Train at ``tau``, keep its returns and redraw; returns the figure."""
        _, results = self.train(dataclasses.replace(self.cfg, tau=tau), show=False)
        self.runs[tau] = (np.asarray(results["episode_ends"]),
                          np.asarray(results["episode_returns"]))
        return self.draw()

    def figure(self):
        """Every run so far: each episode's return (its moving average) against env steps."""
        import matplotlib.pyplot as plt

        from dqn_helpers.plots import moving_average

        fig, ax = plt.subplots(figsize=(8, 3.8))
        for tau, (ends, returns) in sorted(self.runs.items()):
            ax.plot(ends, moving_average(returns, self.window), lw=2, label=f"tau = {tau:g}")
        ax.set(xlabel="env step", ylabel=f"return ({self.window}-episode mean)",
               title=f"Training returns by soft-update rate tau ({self.cfg.total_steps:,} steps)")
        if self.runs:
            ax.legend(loc="upper left")
        fig.tight_layout()
        return fig

    def draw(self):
        fig = self.figure()
        if self.output is not None:
            import matplotlib.pyplot as plt
            from IPython.display import display

            with self.output:
                self.output.clear_output(wait=True)
                display(fig)
            plt.close(fig)
        return fig

    def widget(self):
        """The slider and the Train button above the plot (needs ipywidgets)."""
        import ipywidgets as widgets

        slider = widgets.SelectionSlider(options=[(f"{t:g}", t) for t in self.taus],
                                         value=self.cfg.tau if self.cfg.tau in self.taus
                                         else self.taus[0], description="tau")
        button = widgets.Button(description="Train", icon="play")
        status = widgets.Label()
        self.output = widgets.Output()

        def on_click(_) -> None:
            button.disabled, status.value = True, f"training at tau = {slider.value:g} ..."
            try:
                self.run(slider.value)
                status.value = f"done: {len(self.runs)} run(s) on the plot"
            finally:
                button.disabled = False

        button.on_click(on_click)
        return widgets.VBox([widgets.HBox([slider, button, status]), self.output])
