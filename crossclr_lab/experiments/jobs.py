"""Independent runs (seeds, variants) in worker processes, one torch thread each, with an outer progress bar.

:func:`run_jobs` calls ``fn(task, context)`` for every task and yields the results *in task order*, whatever order
the workers finish in, so callers log and collect exactly as a sequential loop would. Each run seeds its own RNGs
(the trainer does), so with one thread per run the results are the sequential run's, bit for bit. ``jobs=1`` runs
in this process (no pool); more start that many ``spawn`` processes, each receiving ``context`` (e.g. the data
splits; tensors travel through shared memory) once. A worker's warnings (e.g. the trainer's pruning warning) are
issued again here, with their results, so they reach the caller (a notebook cell) as in a sequential run. The bar,
on stderr, shows runs done, the ETA and what ``postfix(result)`` says about the last run finished.

Example::

    for result in run_jobs(train_one, [(seed, name) for seed in seeds for name in names], splits, jobs=2,
                           postfix=lambda r: f"R@1 {r['t2v_r1']:.1f}"):
        ...
"""

from __future__ import annotations

import os
import sys
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm import tqdm

from crossclr_lab.checks import check_int

_context: Any = None  # a worker's copy of run_jobs' context


JOBS_ENV = "CROSSCLR_JOBS"   # the default number of worker processes, when set (e.g. 1 inside a parallel test run)


def default_jobs() -> int:
    """``$CROSSCLR_JOBS`` when it is set, else the CPUs this process may use."""
    value = os.environ.get(JOBS_ENV, "").strip()
    if not value:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{JOBS_ENV}={value!r} is not a number of worker processes: set it to a whole number "
                         "of at least 1, or unset it to use every CPU")
    return int(value)


def _start_worker(context: Any) -> None:
    global _context
    torch.set_num_threads(1)
    _context = context


def _call(fn: Callable, task: Any) -> tuple[Any, list[tuple]]:
    """``fn(task, context)`` in a worker, with the warnings it issued (message, category, file, line)."""
    with warnings.catch_warnings(record=True) as caught:
        result = fn(task, _context)
    return result, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def _reissued(outcome: tuple[Any, list[tuple]]) -> Any:
    """A worker's result, after issuing its warnings in this process."""
    result, caught = outcome
    for message, category, filename, lineno in caught:
        warnings.warn_explicit(message, category, filename, lineno)
    return result


def run_jobs(fn: Callable[[Any, Any], Any], tasks: Sequence, context: Any = None, jobs: int | None = None,
             desc: str = "runs", postfix: Callable[[Any], str] | None = None, progress: bool = True) -> Iterator:
    """Yield ``fn(task, context)`` for each of ``tasks``, in order, computed by ``jobs`` processes (default
    :func:`default_jobs`, at most one per task; 1: here, sequentially). ``fn`` must be a module-level function
    and ``context`` picklable. ``progress``: the outer bar on stderr (hidden when the environment sets CI). The
    workers have exited and the bar is closed before the last result is yielded, so a caller may stop there."""
    tasks = list(tasks)
    jobs = min(default_jobs() if jobs is None else check_int("jobs", jobs, 1), max(len(tasks), 1))
    bar = tqdm(total=len(tasks), desc=desc, unit="run", file=sys.stderr, dynamic_ncols=True,
               disable=not progress or bool(os.environ.get("CI")))

    def done(result: Any) -> Any:
        bar.update()
        if postfix is not None:
            bar.set_postfix_str(f"last: {postfix(result)}")
        return result

    try:
        if jobs == 1:
            for n, task in enumerate(tasks, 1):
                result = done(fn(task, context))
                if n == len(tasks):
                    bar.close()
                with tqdm.external_write_mode(file=sys.stdout):
                    yield result
            return
        pool = ProcessPoolExecutor(jobs, mp_context=torch.multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(context,))
        failed = True
        try:
            futures = [pool.submit(_call, fn, task) for task in tasks]
            pending, finished = set(futures), 0
            while finished < len(futures):
                if pending:
                    completed, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in completed:
                        done(future.result()[0])  # a worker's exception is raised here, at once
                    if not pending:  # all computed: the workers exit now, not when the caller asks past the last
                        pool.shutdown(wait=True)
                        bar.close()
                while finished < len(futures) and futures[finished].done():
                    with tqdm.external_write_mode(file=sys.stdout):
                        yield _reissued(futures[finished].result())
                    finished += 1
            failed = False
        finally:
            pool.shutdown(wait=not failed, cancel_futures=True)
    finally:
        bar.close()
