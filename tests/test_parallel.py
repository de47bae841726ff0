"""Runs one per core and on a Dask cluster: the same seed gives the same result wherever it ran.

``compare.run_seeds`` (and the benchmarks) hand their runs to ``dqn_helpers.parallel``, which
uses joblib: loky processes here, a Dask cluster inside ``parallel_config(backend="dask")``.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from dqn_helpers import compare, parallel
from dqn_helpers.notebook import load_definitions

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FakeConfig:
    seed: int = 0
    slope: float = 1.0


def torch_train(cfg):
    """A cheap 'run' that uses torch's random stream and reports torch's thread count."""
    import torch

    torch.manual_seed(cfg.seed)
    x = np.cumsum(np.random.default_rng(cfg.seed).integers(50, 150, size=30))
    return x, cfg.slope * x + torch.rand(30).numpy() + 1000 * torch.get_num_threads()


def failing_train(cfg):
    if cfg.seed == 1 and cfg.slope == 2.0:
        raise ValueError("the replay memory is empty")
    return torch_train(cfg)


def assert_same(results, expected):
    assert list(results) == list(expected)
    for name in expected:
        assert len(results[name]) == len(expected[name])
        for (x, y), (x0, y0) in zip(results[name], expected[name]):
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)


VARIANTS = {"a": FakeConfig(slope=1.0), "b": FakeConfig(slope=2.0)}


def test_runs_in_processes_equal_runs_here_in_seed_order_on_one_thread():
    here = compare.run_seeds(torch_train, VARIANTS, seeds=[3, 1, 2], progress=False, n_jobs=1)
    there = compare.run_seeds(torch_train, VARIANTS, seeds=[3, 1, 2], progress=False, n_jobs=2)
    assert_same(there, here)
    x, y = there["b"][0]  # variant b, seed 3, on one torch thread
    assert np.all((y - 2.0 * x >= 1000) & (y - 2.0 * x < 1001))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_error_in_a_run_keeps_its_type_and_names_its_variant_and_seed(n_jobs):
    # the same type: a student notebook's comparison stops at NotImplementedError("Exercise ..")
    with pytest.raises(ValueError, match="the replay memory is empty") as info:
        compare.run_seeds(failing_train, VARIANTS, seeds=[0, 1], progress=False, n_jobs=n_jobs)
    assert "(in variant 'b', seed 1)" in getattr(info.value, "__notes__", ["(in variant 'b', "
                                                                           "seed 1)"])


def test_run_each_returns_anything_picklable_in_order():
    def record(cfg):  # a closure, as lab 06's compare_variants passes
        return {"seed": cfg.seed, "slope": cfg.slope}

    results = compare.run_each(record, VARIANTS, seeds=[2, 0], progress=False, n_jobs=2)
    assert results == {"a": [{"seed": 2, "slope": 1.0}, {"seed": 0, "slope": 1.0}],
                       "b": [{"seed": 2, "slope": 2.0}, {"seed": 0, "slope": 2.0}]}


def test_default_n_jobs_is_one_per_core_or_as_configured_capped_by_the_runs(monkeypatch):
    import joblib

    assert parallel.default_n_jobs(1000) == joblib.cpu_count()
    with joblib.parallel_config(n_jobs=3):  # how the benchmarks' --jobs reaches a notebook's code
        assert parallel.default_n_jobs(1000) == 3
        assert parallel.default_n_jobs(2) == 2
    with joblib.parallel_config(n_jobs=1):
        assert parallel.default_n_jobs(1000) == 1


def lab02_configs(steps=400):
    """Lab 02's solution notebook's definitions, and two variants of its Config, tiny."""
    ns = load_definitions(ROOT / "solutions" / "02_dqn_cartpole.ipynb")
    base = replace(ns["Config"](), total_steps=steps, learning_starts=100,
                   eval_every=10 * steps)  # no evaluation: a cheap run
    return ns, {"tau 0.01": base, "tau 0.1": replace(base, tau=0.1)}


def lab02_curve(ns):
    train = ns["train"]  # defined by exec, as a notebook's function is: sent by value

    def episode_curve(cfg):
        net, res = train(cfg, show=False)
        weights = sum(float(p.detach().sum()) for p in net.parameters())
        return res["episode_ends"], res["episode_returns"] + weights  # the same to the bit
    return episode_curve


def test_lab02_trains_the_same_curves_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    import joblib

    ns, configs = lab02_configs()
    here = compare.run_seeds(lab02_curve(ns), configs, seeds=[0, 1], progress=False, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client, joblib.parallel_config(backend="dask"):
        assert parallel.default_n_jobs(4) == 2  # the cluster's cores, not this machine's
        there = compare.run_seeds(lab02_curve(ns), configs, seeds=[0, 1], progress=False)
        where = compare.run_each(lambda cfg: distributed.get_worker().address, configs,
                                 seeds=[0, 1], progress=False)
        workers = set(client.scheduler_info()["workers"])
    assert {address for runs in where.values() for address in runs} <= workers
    assert_same(there, here)


NOTEBOOK_CELLS = ['''
from dataclasses import dataclass
import numpy as np
from dqn_helpers.compare import run_seeds

@dataclass
class Config:
    seed: int = 0
    lr: float = 0.1

def train(cfg):
    import torch
    torch.manual_seed(cfg.seed)
    x = np.arange(1, 21) * 10
    return x, cfg.lr * x + torch.randn(20).numpy() + 1000 * torch.get_num_threads()
''', '''
configs = {"slow": Config(lr=0.1), "fast": Config(lr=1.0)}
here = run_seeds(train, configs, seeds=range(3), n_jobs=1, progress=False)
there = run_seeds(train, configs, seeds=range(3), n_jobs=2)
for name in configs:
    for (x, y), (x0, y0) in zip(there[name], here[name]):
        assert (x == x0).all() and (y == y0).all()
print("same curves", len(there["fast"]))
''']


def test_a_notebooks_own_function_and_dataclass_run_in_processes(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "same curves 3" in printed


def load_benchmark(name):
    """benchmarks/NAME.py as a module (the folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lab06_benchmark_gives_the_same_runs_with_jobs_2_as_with_jobs_1(tmp_path, capsys):
    improvements = load_benchmark("improvements")
    records = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        assert improvements.main(["--seeds", "0", "1", "--steps", "1200", "--eval-every", "0",
                                  "--jobs", str(jobs), "--out", str(out)]) == 0
        records[jobs] = [{k: v for k, v in r.items() if k != "wall_seconds"}
                         for r in json.loads((out / "records.json").read_text())["records"]]
    assert len(records[1]) == 10  # 5 variants x 2 seeds, 200 gradient steps each
    assert records[2] == records[1]
    assert "| all three | 0/2 |" in capsys.readouterr().out
