"""Run independent jobs one per core, or on a Dask cluster (``compare.run_seeds``, the benchmarks).

``run_all`` hands its jobs to `joblib <https://joblib.readthedocs.io>`_: by default its loky
backend, one worker process per core. Code that calls it runs unchanged on a Dask cluster
inside ``joblib.parallel_config(backend="dask")`` with a ``distributed.Client`` open (a laptop's
``LocalCluster``, a ``dask scheduler`` with ``dask worker``s, dask-jobqueue's ``SLURMCluster``):
the jobs then go to the cluster's workers. Both send functions with cloudpickle, so functions
and dataclasses defined in a notebook (or a script's ``__main__``) work; the workers need this
package installed (``pip install -e .``).

Each job runs with torch on one thread (one process per core, one thread each: small networks
train fastest so, and the result of a seed does not depend on where it ran). ``n_jobs=1`` runs
the jobs here, one after another, with the same single thread, so it gives the same results
(as does a single job). The grader runs its jobs as threads (``backend="threading"``): each
only waits on a sandboxed process of its own.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Sequence


def default_n_jobs(jobs: int) -> int:
    """How many of ``jobs`` run at once by default: the ``n_jobs`` of an enclosing
    ``joblib.parallel_config(n_jobs=...)`` if there is one, else one per core of the active
    joblib backend (the workers' cores on a Dask cluster); never more than ``jobs``."""
    import joblib
    from joblib.parallel import get_active_backend

    configured = get_active_backend()[1]
    return max(1, min(jobs, joblib.effective_n_jobs(-1 if configured is None else configured)))


def _call(fn: Callable, args: tuple, label: str, torch_threads: int | None) -> Any:
    """``fn(*args)`` with torch on ``torch_threads`` threads; an error names ``label``."""
    threads = None
    if torch_threads is not None:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
    try:
        return fn(*args)
    except Exception as error:  # the same error (a student's NotImplementedError stays one),
        if hasattr(error, "add_note"):  # its traceback naming the job (Python 3.11 and up)
            error.add_note(f"(in {label})")
        raise
    finally:
        if threads is not None:
            torch.set_num_threads(threads)


def _indexed(i: int, fn: Callable, args: tuple, label: str, torch_threads: int | None):
    return i, _call(fn, args, label, torch_threads)


def run_all(fn: Callable, jobs: Sequence[tuple], labels: Sequence[str] | None = None,
            n_jobs: int | None = None, torch_threads: int | None = 1,
            backend: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(*jobs[i]))`` for every job, in the order they finish.

    Args:
        fn: a picklable function (cloudpickle: a notebook's own functions are fine).
        jobs: the arguments of each call.
        labels: how an error names each job (default ``job i``): a failed job's error is
            raised here, with a note ``(in LABEL)`` shown under its message.
        n_jobs: processes; ``None``: ``default_n_jobs`` (one per core); ``1``: here, one job
            after another.
        torch_threads: torch's threads during each job (``None``: leave them as they are).
        backend: joblib's backend, if it must be this one whatever the caller configured
            (the grader's ``"threading"``); default: loky, or the enclosing
            ``parallel_config``'s (``"dask"``).
    """
    labels = list(labels) if labels is not None else [f"job {i}" for i in range(len(jobs))]
    if len(labels) != len(jobs):
        raise ValueError(f"{len(jobs)} jobs but {len(labels)} labels")
    n_jobs = default_n_jobs(len(jobs)) if n_jobs is None else n_jobs
    if n_jobs == 1 or len(jobs) <= 1:
        for i, args in enumerate(jobs):
            yield i, _call(fn, args, labels[i], torch_threads)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, backend=backend, return_as="generator_unordered")
    yield from parallel(delayed(_indexed)(i, fn, args, labels[i], torch_threads)
                        for i, args in enumerate(jobs))


def add_arguments(parser) -> None:
    """A command line's ``--jobs N`` and ``--dask ADDRESS`` (the benchmarks)."""
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs at once (default: one per core; 1: one after another, here)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="run on the Dask cluster whose scheduler is at ADDRESS "
                             "(tcp://host:8786) instead of on this machine")


@contextlib.contextmanager
def configured(jobs: int | None = None, dask: str | None = None):
    """Within it, ``run_all`` (and so ``run_seeds``) runs ``jobs`` at a time, or on the Dask
    cluster whose scheduler is at the address ``dask`` (then ``jobs`` is the cluster's)."""
    import joblib

    with contextlib.ExitStack() as stack:
        if dask:
            from distributed import Client

            stack.enter_context(Client(dask))
            stack.enter_context(joblib.parallel_config(backend="dask"))
        elif jobs is not None:
            if jobs < 1:
                raise ValueError(f"jobs must be at least 1, got {jobs}")
            stack.enter_context(joblib.parallel_config(n_jobs=jobs))
        yield
