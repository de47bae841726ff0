"""Scaffolding for Deep Q-Learning Labs.

Students open these modules: each one is short and says which lab introduces it.

- ``envs``: ``make_env`` and ``set_seed`` (lab 01)
- ``evaluation``: ``evaluate`` a policy or a Q-network over many episodes (lab 01)
- ``plots``: returns with a moving average, updated live while training (lab 01)
- ``video``: record an episode and show it inline as an mp4 (lab 01)
- ``metrics``: the ``metrics.json`` every DQN run writes (lab 02)
- ``training``: a training loop's bookkeeping: progress, live plot, evaluations (lab 02)
- ``landscape``: the value function over a slice of the state space; a tau knob (lab 02)
- ``tracking``: log runs to TensorBoard or Weights & Biases (lab 02, section 11)
- ``compare``: train variants over several seeds and plot mean and spread (lab 03)
- ``checkpoints``: save a run atomically every N steps, resume from the newest (lab 05)
- ``checks``: one check per exercise, called in the cell after it (every lab)
- ``build``: writes the student notebooks from the solutions (maintainers)
- ``run``: runs a lab's solution notebook headless with parameters (maintainers)
- ``grade``: grades a class's submitted notebooks (instructors)
"""

import os
from typing import TYPE_CHECKING

# Rendering must work with no screen: pygame (used by gymnasium's classic-control and box2d
# renderers) needs a video driver, and would print a banner on import that breaks nbval.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

# The one place the course repository's address is written; the build stamps it into the
# Colab badge and the Colab setup cell of every notebook.
REPO = "deep-q-learning-labs/dqn-labs"
BRANCH = "main"

__all__ = ["REPO", "BRANCH", "make_env", "set_seed", "evaluate"]
__version__ = "0.1.0"

# ``from dqn_helpers import make_env, set_seed, evaluate`` works as ever, but those modules
# (and torch and gymnasium with them) load on first use (PEP 562), so that importing the
# package is cheap: ``python -m dqn_helpers.build`` needs none of them.
_LAZY = {"make_env": "dqn_helpers.envs", "set_seed": "dqn_helpers.envs",
         "evaluate": "dqn_helpers.evaluation"}

if TYPE_CHECKING:  # pragma: no cover
    from dqn_helpers.envs import make_env, set_seed
    from dqn_helpers.evaluation import evaluate


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
