"""Lab 05, Part 1: the n-step returns of ``NStepMemory`` and how ``train_minatar`` uses them."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from .conftest import ROOT, namespace, solution


@pytest.fixture(scope="module")
def ns():
    return namespace(solution("05"))


def stored(memory):
    """What the inner replay memory holds: (s_t, a_t, G, s_t+n, terminated) per transition."""
    m = memory.memory
    return [(int(m.obs[i, 0]), int(m.actions[i]), float(m.rewards[i]), int(m.next_obs[i, 0]),
             bool(m.terminated[i])) for i in range(len(memory))]


def play(memory, rewards, end=None, first=0):
    """Feed steps first, first + 1, ...; the last one is lost if end == "lost"."""
    for k, reward in enumerate(rewards):
        t = first + k
        memory.add(np.array([t]), t % 3, reward, np.array([t + 1]),
                   terminated=end == "lost" and k == len(rewards) - 1)
    if end is not None:
        memory.end_game()


def new_memory(ns, n, gamma, capacity=50):
    return ns["NStepMemory"](ns["PixelReplayMemory"](capacity, (1,)), n, gamma)


def test_a_lost_game_stores_every_step_with_its_rewards_up_to_the_end(ns):
    memory = new_memory(ns, n=3, gamma=0.5)
    play(memory, [0, 1, 0, 1, 0], end="lost")
    assert stored(memory) == [
        (0, 0, 0 + 0.5 * 1 + 0.25 * 0, 3, False),  # three rewards, then bootstrap from s_3
        (1, 1, 1 + 0.5 * 0 + 0.25 * 1, 4, False),
        (2, 2, 0 + 0.5 * 1 + 0.25 * 0, 5, True),   # the game ends at s_5: nothing to bootstrap
        (3, 0, 1 + 0.5 * 0, 5, True),
        (4, 1, 0.0, 5, True),
    ]


def test_a_step_waits_until_n_steps_follow_it(ns):
    memory = new_memory(ns, n=3, gamma=0.9)
    play(memory, [1, 1])
    assert len(memory) == 0  # s_0 still needs r_2
    play(memory, [1], first=2)
    assert stored(memory) == [(0, 0, pytest.approx(1 + 0.9 + 0.81), 3, False)]


def test_a_time_limit_drops_the_waiting_steps_and_the_next_game_starts_clean(ns):
    memory = new_memory(ns, n=3, gamma=0.5)
    play(memory, [1, 1, 1, 1], end="truncated")  # s_2 and s_3 have fewer than 3 steps after them
    assert [row[0] for row in stored(memory)] == [0, 1]
    play(memory, [0, 0, 1], first=100)  # a new game: its first transition mixes in no old reward
    assert stored(memory)[2] == (100, 100 % 3, 0.25, 103, False)


def test_one_step_stores_what_the_plain_replay_memory_stores(ns):
    rewards = [0, 1, 1, 0, 1, 0]
    memory = new_memory(ns, n=1, gamma=0.99)
    play(memory, rewards, end="lost")
    plain = ns["PixelReplayMemory"](50, (1,))
    for t, reward in enumerate(rewards):
        plain.add(np.array([t]), t % 3, reward, np.array([t + 1]), t == len(rewards) - 1)
    for name in ("obs", "actions", "rewards", "next_obs", "terminated"):
        np.testing.assert_array_equal(getattr(memory.memory, name), getattr(plain, name))


def test_training_feeds_n_step_memory_and_bootstraps_with_gamma_to_the_n(ns, monkeypatch):
    made, gammas = [], []
    NStepMemory, learn_step = ns["NStepMemory"], ns["learn_step"]

    class Recorded(NStepMemory):
        def __init__(self, memory, n, gamma):
            super().__init__(memory, n, gamma)
            made.append((n, gamma))

    def spy(q_network, target_network, optimizer, batch, gamma, max_grad_norm):
        gammas.append(gamma)
        return learn_step(q_network, target_network, optimizer, batch, gamma, max_grad_norm)

    monkeypatch.setitem(ns, "NStepMemory", Recorded)
    monkeypatch.setitem(ns, "learn_step", spy)
    cfg = replace(ns["MinAtarConfig"](), seed=3, total_steps=300, learning_starts=200,
                  eval_every=10**9, n_steps=4, gamma=0.9)
    ns["train_minatar"](cfg, show=False)
    assert made == [(4, 0.9)]
    assert len(gammas) == 25 and set(gammas) == {0.9**4}  # a step every 4 from 200 to 299


def test_tune_runs_lab05_part1_on_a_tuning_seed():
    command = [sys.executable, str(ROOT / "benchmarks" / "tune.py"), "--lab", "05", "--seeds", "8",
               "--jobs", "1", "--set", "total_steps=1200", "learning_starts=400",
               "eval_every=600", "eval_episodes=3", "n_steps=2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "'env_steps': 1200" in done.stdout and "'evals': [(600, " in done.stdout
    assert "'n_steps': '2'}: final means [" in done.stdout
    refused = subprocess.run(command[:4] + ["--seeds", "4"], capture_output=True, text=True)
    assert refused.returncode != 0 and "seeds 0-4 are the benchmark's" in refused.stderr
