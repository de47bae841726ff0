"""dqn_helpers.compare: runs over seeds, a common grid, mean and spread, the plot."""

from dataclasses import dataclass

import matplotlib
import numpy as np
import pytest

from dqn_helpers import compare

matplotlib.use("Agg")


@dataclass
class FakeConfig:
    seed: int = 0
    slope: float = 1.0


def fake_train(cfg):
    """A 'run' whose curve depends on its config and seed, with uneven episode ends."""
    rng = np.random.default_rng(cfg.seed)
    x = np.cumsum(rng.integers(50, 150, size=40))
    return x, cfg.slope * x + cfg.seed


def test_run_seeds_trains_each_variant_on_the_same_seeds():
    seen = []

    def train(cfg):
        seen.append((cfg.slope, cfg.seed))  # a side effect: only seen here, with n_jobs=1
        return fake_train(cfg)

    results = compare.run_seeds(train, {"a": FakeConfig(slope=1.0), "b": FakeConfig(slope=2.0)},
                                seeds=[3, 5], progress=False, n_jobs=1)
    assert list(results) == ["a", "b"]
    assert sorted(seen) == [(1.0, 3), (1.0, 5), (2.0, 3), (2.0, 5)]
    assert [len(curves) for curves in results.values()] == [2, 2]
    x, y = results["b"][1]  # variant b, seed 5
    assert np.allclose(y, 2.0 * x + 5)


def test_run_seeds_refuses_configs_without_a_seed_and_empty_inputs():
    with pytest.raises(TypeError, match="dataclass with a seed field"):
        compare.run_seeds(fake_train, {"a": {"seed": 0}}, seeds=[0], progress=False)
    with pytest.raises(ValueError, match="configs is empty"):
        compare.run_seeds(fake_train, {}, seeds=[0], progress=False)
    with pytest.raises(ValueError, match="seeds is empty"):
        compare.run_seeds(fake_train, {"a": FakeConfig()}, seeds=[], progress=False)


def test_as_curve_checks_shapes_and_order():
    with pytest.raises(ValueError, match="same length"):
        compare.as_curve([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="increasing"):
        compare.as_curve([3, 2, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one point"):
        compare.as_curve([], [])


def test_common_grid_is_the_overlap_and_interpolation_is_linear():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]))
    b = (np.array([5.0, 15.0, 30.0]), np.array([1.0, 1.0, 1.0]))
    grid = compare.common_grid([a, b], points=6)
    assert grid[0] == 5.0 and grid[-1] == 20.0 and len(grid) == 6
    values = compare.interpolate([a, b], grid)
    assert values.shape == (2, 6)
    assert np.allclose(values[0], grid) and np.allclose(values[1], 1.0)
    with pytest.raises(ValueError, match="do not overlap"):
        compare.common_grid([a, (np.array([25.0, 30.0]), np.array([0.0, 0.0]))])


def test_mean_and_spread():
    grid = np.array([0.0, 1.0, 2.0])
    curves = [(grid, np.array([0.0, 0.0, 0.0])), (grid, np.array([2.0, 4.0, 6.0]))]
    mean, low, high = compare.mean_spread(curves, grid, spread="std")
    assert np.allclose(mean, [1, 2, 3]) and np.allclose(low, [0, 0, 0]) and np.allclose(high, [2, 4, 6])
    mean, low, high = compare.mean_spread(curves + [(grid, np.ones(3))], grid, spread="minmax")
    assert np.allclose(low, 0) and np.allclose(high, [2, 4, 6]) and mean.shape == (3,)
    with pytest.raises(ValueError, match="spread must be"):
        compare.mean_spread(curves, grid, spread="iqr")


def test_plot_mean_spread_draws_a_line_and_a_band_per_variant():
    results = compare.run_seeds(fake_train, {"a": FakeConfig(slope=1.0),
                                             "b": FakeConfig(slope=0.5)},
                                seeds=[0, 1, 2], progress=False, n_jobs=1)
    ax = compare.plot_mean_spread(results, window=5, spread="minmax", solved_at=200.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["a (3 seeds)", "b (3 seeds)", "solved (200)"]
    assert len(ax.collections) == 2  # one shaded band per variant
    matplotlib.pyplot.close(ax.figure)


def test_mean_over_steps_is_the_area_over_the_length():
    curve = (np.array([0.0, 100.0]), np.array([0.0, 10.0]))  # a line from 0 to 10
    assert compare.mean_over_steps(curve, 0, 100) == pytest.approx(5.0)
    assert compare.mean_over_steps(curve, 0, 200) == pytest.approx(7.5)  # flat 10 beyond the end
    early = (np.array([10.0, 20.0, 100.0]), np.array([0.0, 10.0, 10.0]))
    late = (np.array([10.0, 90.0, 100.0]), np.array([0.0, 10.0, 10.0]))
    assert compare.mean_over_steps(early, 0, 100) > compare.mean_over_steps(late, 0, 100)
    with pytest.raises(ValueError, match="stop must be above start"):
        compare.mean_over_steps(curve, 50, 50)


def test_markdown_table_has_a_header_and_a_row_per_dict():
    text = compare.markdown_table([{"variant": "a", "steps": 1}, {"variant": "b", "steps": 2}])
    assert text.splitlines() == ["| variant | steps |", "|---|---|", "| a | 1 |", "| b | 2 |"]
    with pytest.raises(ValueError, match="every row needs the columns"):
        compare.markdown_table([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="no rows"):
        compare.markdown_table([])
