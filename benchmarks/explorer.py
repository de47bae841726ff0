"""How heavy the episode explorer is: time to record and open a 500-step episode, bytes it adds.

    python benchmarks/explorer.py

A hand-made linear Q-network that balances CartPole (push right when 3 x angle + angular
velocity > 0) plays a full 500-step episode, recorded as the labs do (``frame_stride=2``, half
size). The script times the recording, the widget's construction (what a student waits for
when the cell runs, before the static figure), one step of the slider, and the static figure's
PNG; then it prints how many bytes the explorer's output (widget view, PNG, text) adds to the
saved ``.ipynb``, for one record (labs 03, 04, 06) and two side by side (labs 02 and 06).
Run it where ipywidgets, matplotlib and PIL are installed (``.[lab]`` or ``.[test]``).
"""

from __future__ import annotations

import json
import time

import gymnasium as gym
import torch
from benchmark import machine  # benchmarks/benchmark.py: the same machine line

from dqn_helpers import explorer as ex


def balancing_network() -> torch.nn.Module:
    """Q(s, push right) - Q(s, push left) = 3 x angle + angular velocity, around 17."""
    net = torch.nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 0.0, -1.5, -0.5], [0.0, 0.0, 1.5, 0.5]]))
        net.bias.fill_(17.0)
    return net


def measure(records: list) -> str:
    """Open an explorer on ``records`` three times; time it, a slider step, and its output."""
    titles = [f"episode {i}" for i in range(len(records))]
    opens = []
    for _ in range(3):  # what a student waits for: the widget, then the bundle display() sends
        start = time.perf_counter()
        explorer = ex.Explorer(records, titles)
        built = time.perf_counter()
        bundle = explorer._repr_mimebundle_()
        opens.append((built - start, time.perf_counter() - start))
    start = time.perf_counter()
    for k in range(50):
        explorer.step.value = (7 * k + 1) % len(records[0])
    step = (time.perf_counter() - start) / 50
    size = len(json.dumps({"output_type": "display_data", "data": bundle, "metadata": {}}))
    return (f"{len(records)} record(s): opens in {', '.join(f'{t:.2f}' for _, t in opens)} s "
            f"(the widget alone {min(b for b, _ in opens):.2f} s, the rest is the static "
            f"figure); a step of the slider {step * 1000:.1f} ms; the output adds {size:,} "
            f"bytes to the notebook (PNG {len(explorer.png()):,} bytes)")


def main() -> int:
    print(machine())
    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}")
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    start = time.perf_counter()
    record = ex.record_episode(balancing_network(), env, seed=0, frame_stride=2,
                               action_names=["push left", "push right"])
    print(f"record_episode: {len(record)} steps, frames {record.frames.shape[1:]}, "
          f"{time.perf_counter() - start:.2f} s")
    env.close()
    for records in ([record], [record, record]):
        print(measure(records))
    with open("/proc/loadavg") as f:
        print(f"load average after: {f.read().split()[:3]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
