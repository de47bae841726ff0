"""Checkpoints: atomic writes, the newest one found, a resumed run identical to an unbroken one."""

import copy

import pytest
import torch

from dqn_helpers import checkpoints
from dqn_helpers.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def _net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _train(net, optimizer, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 3, generator=g)
        loss = (net(x) - x[:, :2]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


def test_save_then_load_gives_back_the_state_and_the_step(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "ckpt", 1234, {"q_network": net.state_dict(), "note": "x"})
    assert path == checkpoint_path(tmp_path / "ckpt", 1234) and path.is_file()
    state = load_checkpoint(path)
    assert state["step"] == 1234 and state["note"] == "x"
    fresh = _net(seed=1)
    fresh.load_state_dict(state["q_network"])
    assert _same(fresh, net)


def test_latest_is_the_highest_step_not_the_newest_file_and_old_ones_are_pruned(tmp_path):
    for step in (100, 2_000, 300):
        save_checkpoint(tmp_path, step, {"step_seen": step}, keep=10)
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 2_000)
    assert load_checkpoint(tmp_path)["step_seen"] == 2_000  # a folder loads its newest
    save_checkpoint(tmp_path, 2_500, {}, keep=2)
    assert [p.name for p in checkpoints.checkpoints(tmp_path)] == [
        "checkpoint_0000002000.pt", "checkpoint_0000002500.pt"]


def test_a_crash_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, 100, {"weights": torch.arange(5.0)})
    before = checkpoint_path(tmp_path, 100).read_bytes()

    def crash(obj, file, *args, **kwargs):
        file.write(b"half a checkpoint")
        raise KeyboardInterrupt("the Colab runtime was disconnected")

    monkeypatch.setattr(checkpoints.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, 200, {"weights": torch.arange(6.0)})
    monkeypatch.undo()
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 100)
    assert checkpoint_path(tmp_path, 100).read_bytes() == before
    assert not checkpoint_path(tmp_path, 200).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_0000000100.pt"]  # no debris
    assert torch.equal(load_checkpoint(tmp_path)["weights"], torch.arange(5.0))


def test_a_leftover_partial_file_is_ignored_and_cleaned_up(tmp_path):
    save_checkpoint(tmp_path, 100, {})
    # what a process killed between writing and renaming leaves behind (SIGKILL: no cleanup)
    partial = tmp_path / ".checkpoint_0000000200.pt.k3j2.partial"
    partial.write_bytes(b"truncated")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 100)
    save_checkpoint(tmp_path, 300, {})
    assert not partial.exists()
    assert latest_checkpoint(tmp_path) == checkpoint_path(tmp_path, 300)


def test_resuming_continues_exactly_as_an_unbroken_run(tmp_path):
    net = _net()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    _train(net, optimizer, steps=5, seed=0)
    save_checkpoint(tmp_path, 5, {"q_network": net.state_dict(),
                                  "optimizer": optimizer.state_dict()})
    unbroken = copy.deepcopy(net)
    unbroken_opt = torch.optim.Adam(unbroken.parameters(), lr=1e-2)
    unbroken_opt.load_state_dict(optimizer.state_dict())
    _train(unbroken, unbroken_opt, steps=5, seed=1)

    state = load_checkpoint(latest_checkpoint(tmp_path))  # a new process: fresh objects
    resumed = _net(seed=7)
    resumed_opt = torch.optim.Adam(resumed.parameters(), lr=1e-2)
    resumed.load_state_dict(state["q_network"])
    resumed_opt.load_state_dict(state["optimizer"])
    assert state["step"] == 5
    _train(resumed, resumed_opt, steps=5, seed=1)
    assert _same(resumed, unbroken)


def test_no_checkpoint_and_bad_arguments_give_clear_errors(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="step must be an int"):
        save_checkpoint(tmp_path, -1, {})
    with pytest.raises(ValueError, match="step must be an int"):
        save_checkpoint(tmp_path, 1.5, {})
    with pytest.raises(TypeError, match="state must be a dict"):
        save_checkpoint(tmp_path, 1, [1, 2])
    with pytest.raises(ValueError, match="keep must be"):
        save_checkpoint(tmp_path, 1, {}, keep=0)
    torch.save([1, 2], tmp_path / "checkpoint_0000000009.pt")
    with pytest.raises(ValueError, match="not a checkpoint written by save_checkpoint"):
        load_checkpoint(tmp_path)
