"""TrainingLog: the bookkeeping every DQN lab's training loop shares."""

import torch

from dqn_helpers.training import TrainingLog


class ConstantQ(torch.nn.Module):
    """Always pushes left: CartPole episodes of about 9 steps."""

    def __init__(self):
        super().__init__()
        self.q = torch.nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, obs):
        return self.q.expand(obs.shape[0], 2)


def test_records_episodes_evaluations_and_the_step_it_solved(tmp_path):
    log = TrainingLog(100, solved_at=5.0, title="test")
    for global_step in log.steps():
        log.add(1.0, episode_over=global_step % 10 == 9, eps=0.5)
        if global_step == 29 and log.evaluate(ConstantQ(), "CartPole-v1", episodes=10):
            break
    results = log.close()
    assert results["steps_to_solve"] == results["env_steps"] == 30
    assert results["episode_returns"].tolist() == [10.0, 10.0, 10.0]
    assert results["episode_ends"].tolist() == [10, 20, 30]
    assert [step for step, _ in results["evals"]] == [30]
    assert 8 <= results["evals"][0][1] <= 11  # always left: the pole falls in about 9 steps
    assert log.progress.total == log.progress.n == 30  # a solved run's bar ends full
    results["plot"].save(tmp_path / "returns.png")
    assert (tmp_path / "returns.png").stat().st_size > 0


def test_an_unsolved_evaluation_changes_nothing_and_the_bar_shows_the_budget():
    log = TrainingLog(20, solved_at=100.0, show=True)
    for global_step in log.steps():
        if global_step == 9:
            assert not log.evaluate(ConstantQ(), "CartPole-v1", episodes=10)
    results = log.close()
    assert results["steps_to_solve"] is None and results["env_steps"] == 20
    assert len(results["evals"]) == 1 and log.progress.total == 20


def test_evaluations_are_the_same_in_every_run():
    def means():
        log = TrainingLog(10, solved_at=100.0, show=False)
        for global_step in log.steps():
            if global_step in (2, 5):
                log.evaluate(ConstantQ(), "CartPole-v1", episodes=10)
        return [mean for _, mean in log.close()["evals"]]

    assert means() == means()  # the k-th evaluation of every run plays the same seeds


def test_a_time_budget_ends_the_steps():
    log = TrainingLog(1_000_000, max_minutes=0.0, show=False)
    assert list(log.steps()) == [0]  # one step, then the budget is spent
    assert log.close()["env_steps"] == 1


def test_a_resumed_run_continues_its_steps_returns_and_clock():
    log = TrainingLog(10, start_step=6, previous_returns=[3.0, 4.0], previous_seconds=100.0,
                      show=False)
    steps = list(log.steps())
    results = log.close()
    assert steps == [6, 7, 8, 9]
    assert results["episode_returns"].tolist() == [3.0, 4.0]
    assert results["train_wall_seconds"] >= 100.0
    assert results["env_steps"] == 10


def test_evaluating_needs_a_threshold():
    import pytest

    log = TrainingLog(5, show=False)
    with pytest.raises(ValueError, match="solved_at"):
        log.evaluate(ConstantQ(), "CartPole-v1")


def test_headless_a_solved_run_prints_its_progress_and_closes(monkeypatch, capsys):
    monkeypatch.setenv("DQN_LABS_HEADLESS", "1")  # as python -m dqn_helpers.run sets it
    monkeypatch.setattr("dqn_helpers.training.HEADLESS_INTERVAL", 0.0)
    log = TrainingLog(100, solved_at=5.0)
    for global_step in log.steps():
        log.add(1.0, episode_over=global_step % 10 == 9, eps=0.5)
        if global_step == 19 and log.evaluate(ConstantQ(), "CartPole-v1", episodes=10):
            break
    results = log.close()
    assert results["steps_to_solve"] == 20
    err = capsys.readouterr().err
    assert "step 10/100" in err and "eps 0.5" in err  # plain lines, no bar
    assert "evaluation at step 20: greedy mean" in err and ">= 5: solved" in err
    assert "it/s" not in err


def test_headless_the_live_plot_is_drawn_once_at_the_end(monkeypatch):
    from dqn_helpers import plots

    monkeypatch.setattr(plots, "in_notebook", lambda: True)  # as in papermill's kernel
    monkeypatch.setattr("IPython.display.display", lambda *args, **kwargs: None)
    drawn = []
    figure = plots.LivePlot.figure
    monkeypatch.setattr(plots.LivePlot, "figure", lambda self: drawn.append(1) or figure(self))

    def episodes(plot_interval):
        drawn.clear()
        log = TrainingLog(50, solved_at=5.0, plot_interval=plot_interval)
        for global_step in log.steps():
            log.add(1.0, episode_over=global_step % 10 == 9)
        log.close()
        return len(drawn)

    assert episodes(plot_interval=0.0) == 6  # in a notebook: each episode, and at the end
    monkeypatch.setenv("DQN_LABS_HEADLESS", "1")
    assert episodes(plot_interval=0.0) == 1  # headless: at the end only


def test_subnormal_floats_are_flushed_to_zero_only_while_the_loop_runs():
    import pytest

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats (torch supports x86 and AArch64)")
    subnormal = torch.finfo(torch.float32).tiny / 4  # 2.9e-39: nonzero, below the normal range

    def survives():
        return torch.tensor([subnormal]).mul(1.0).item() != 0.0

    assert survives()  # torch's default
    log = TrainingLog(10, show=False)
    inside = [survives() for _ in log.steps()]
    assert inside == [False] * 10 and survives()  # flushed in all 10 steps, then not any more
    log = TrainingLog(10, solved_at=1.0, show=False)
    for _ in log.steps():
        break  # a solved run leaves the loop early
    assert survives()
    log = TrainingLog(10, show=False)
    with pytest.raises(KeyboardInterrupt):
        for _ in log.steps():
            raise KeyboardInterrupt  # a student stops the run
    assert survives()
