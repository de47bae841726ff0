"""Lab 05's vectorised full-run path (``train_vectorised``) against the loop it scales up.

With one environment the two loops must store the same transitions, in the same order, and
end with the same network: the vector env's only game is seeded as ``train`` seeds its own,
it is reset (without a seed) at the same moments, ``select_actions`` draws the same random
numbers as ``select_action`` for a batch of one, and ``sample_all`` of one memory is that
memory's ``sample``. With several environments no such equality is defined (each game has
its own seed and memory); there the tests check what must still hold.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

from .conftest import solution

# 260 steps at random, then the network acts greedily and learns (a batch of 8 every 4 steps);
# the first game (seed 0) ends at step 184, so a reset is compared too
SMALL = dict(total_steps=320, learning_starts=260, batch_size=8, buffer_size=1_000,
             checkpoint_every=160, eps_decay_steps=260, target_update_env_steps=20)


@pytest.fixture(autouse=True)
def one_thread():
    """The Nature network on one thread: on a busy 2-core machine two threads are 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lab05():
    from dqn_helpers.notebook import load_definitions

    return load_definitions(solution("05"))


def recording(ns, added):
    """Replace the lab's FrameReplayMemory by one that records every add, in order."""
    class Recording(ns["FrameReplayMemory"]):
        def add(self, obs, action, reward, next_obs, terminated, episode_over):
            added.append((id(self), np.array(obs), int(action), float(reward),
                          np.array(next_obs), bool(terminated), bool(episode_over)))
            super().add(obs, action, reward, next_obs, terminated, episode_over)
    return Recording


def run(ns, tmp_path, vectorised, n_envs=1, **changes):
    added = []
    cfg = replace(ns["Config"](), **{**SMALL, **changes})
    memory_class = ns["FrameReplayMemory"]
    ns["FrameReplayMemory"] = recording(ns, added)
    try:
        if vectorised:
            q_network, result = ns["train_vectorised"](cfg, tmp_path, torch.device("cpu"), n_envs,
                                                       show=False)
        else:
            q_network, result = ns["train"](cfg, tmp_path, torch.device("cpu"), show=False)
    finally:
        ns["FrameReplayMemory"] = memory_class  # the functions read the lab's names from ns
    return q_network, result, added


def test_one_env_stores_the_same_transitions_and_learns_the_same_network(lab05, tmp_path):
    single_net, single, single_added = run(lab05, tmp_path / "single", vectorised=False)
    vector_net, vector, vector_added = run(lab05, tmp_path / "vector", vectorised=True)
    assert len(single_added) == len(vector_added) == SMALL["total_steps"]
    assert any(episode_over for *_, episode_over in single_added)  # a game ended, was reset
    for step, (a, b) in enumerate(zip(single_added, vector_added)):
        for field, x, y in zip(("obs", "action", "reward", "next_obs", "terminated",
                                "episode_over"), a[1:], b[1:]):
            assert np.array_equal(x, y), f"step {step}: {field} differs"
    assert np.array_equal(single["episode_returns"], vector["episode_returns"])
    for name, tensor in single_net.state_dict().items():
        assert torch.equal(tensor, vector_net.state_dict()[name]), name


def test_two_envs_share_the_steps_and_resume_from_a_checkpoint(lab05, tmp_path):
    half = SMALL["total_steps"] // 2
    _, first, added = run(lab05, tmp_path, vectorised=True, n_envs=2, total_steps=half)
    assert first["env_steps"] == half and first["checkpoint"].name == f"checkpoint_{half:010d}.pt"
    per_memory = {}
    for memory_id, *_ in added:
        per_memory[memory_id] = per_memory.get(memory_id, 0) + 1
    assert sorted(per_memory.values()) == [half // 2, half // 2]  # one memory per game
    _, second, added = run(lab05, tmp_path, vectorised=True, n_envs=2)  # resumes
    assert second["resumed_from"] == half and len(added) == SMALL["total_steps"] - half
    assert second["checkpoint"].name == f"checkpoint_{SMALL['total_steps']:010d}.pt"


def test_n_envs_must_divide_the_budgets(lab05, tmp_path):
    with pytest.raises(ValueError, match="n_envs=7 must divide"):
        run(lab05, tmp_path, vectorised=True, n_envs=7)
