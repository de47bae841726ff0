"""One check per exercise; the cell after each exercise calls it.

A check prints one line when the exercise is right. When it is wrong it raises a
``CheckError`` (an ``AssertionError``) that names the exercise and what is wrong: the small
input it tried, what it expected and what it got. A stub raises ``NotImplementedYet``.

>>> names_for("2.3")  # what the student defines for exercise 2.3: the check's parameters
['epsilon_at']
>>> def epsilon_at(step, start, end, decay_steps):
...     return start + min(1.0, step / decay_steps) * (end - start)
>>> check_epsilon_at(epsilon_at)
✔ Exercise 2.3 passed: linear from start to end over decay_steps, then constant
>>> def epsilon_at(step, start, end, decay_steps):  # forgets to interpolate
...     return start
>>> check_epsilon_at(epsilon_at)
Traceback (most recent call last):
...
dqn_helpers.checks._core.CheckError: Exercise 2.3: epsilon_at(500, start=1.0, end=0.05, decay_steps=1000) returned 1, expected 0.525.
>>> def epsilon_at(step, start, end, decay_steps):  # the student notebook's stub
...     raise NotImplementedError("Exercise 2.3: interpolate linearly from start to end")
>>> check_epsilon_at(epsilon_at)
Traceback (most recent call last):
...
dqn_helpers.checks._core.NotImplementedYet: Exercise 2.3: not implemented yet. ...
"""

from dqn_helpers.checks._core import (
    REGISTRY,
    SCENARIOS,
    CheckError,
    NotImplementedYet,
    Scenario,
    names_for,
    public,
    scenario,
    standins,
)
from dqn_helpers.checks.lab00 import (
    check_discounted_return,
    check_epsilon_greedy,
    check_greedy_policy,
    check_policy_evaluation,
    check_q_learning_update,
    check_value_iteration,
)
from dqn_helpers.checks.lab01 import (
    check_make_random_policy,
    check_q_learning_episode,
    check_random_baseline,
    check_run_episode,
)
from dqn_helpers.checks.lab02 import (
    check_epsilon_at,
    check_learn_step,
    check_play_step,
    check_q_network,
    check_replay_memory,
    check_select_action,
    check_soft_update,
    check_td_target,
)
from dqn_helpers.checks.lab03 import (
    check_hard_update,
    check_huber,
    check_learn_step_clipped,
)
from dqn_helpers.checks.lab04 import (
    check_cart_crop,
    check_make_pixel_env,
    check_pixel_q_network,
)
from dqn_helpers.checks.lab05 import (
    check_frame_replay_memory,
    check_learning_signal,
    check_nature_cnn,
)
from dqn_helpers.checks.lab06 import (
    check_double_td_target,
    check_dueling_q_network,
    check_learn_step_weighted,
    check_prioritized_replay_memory,
    check_sum_tree,
)

__all__ = [
    "REGISTRY", "SCENARIOS", "CheckError", "NotImplementedYet", "Scenario", "names_for",
    "public", "scenario", "standins",
    "check_discounted_return", "check_policy_evaluation", "check_value_iteration",
    "check_greedy_policy", "check_q_learning_update", "check_epsilon_greedy",
    "check_run_episode", "check_make_random_policy", "check_random_baseline",
    "check_q_learning_episode",
    "check_q_network", "check_replay_memory", "check_epsilon_at", "check_select_action",
    "check_td_target", "check_learn_step", "check_soft_update", "check_play_step",
    "check_huber", "check_learn_step_clipped", "check_hard_update",
    "check_cart_crop", "check_make_pixel_env", "check_pixel_q_network",
    "check_nature_cnn", "check_frame_replay_memory", "check_learning_signal",
    "check_double_td_target", "check_dueling_q_network", "check_sum_tree",
    "check_prioritized_replay_memory", "check_learn_step_weighted",
]
