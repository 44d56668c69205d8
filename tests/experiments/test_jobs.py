"""Runs in worker processes: the same results as one after another, in the same order, errors raised."""

import json
import multiprocessing
import re
import warnings

import pytest
from fixtures.tiny_runs import run_cli

from crossclr_lab.experiments.jobs import JOBS_ENV, default_jobs, run_jobs


def _numbers(results: dict) -> dict:
    """What a comparison computed: per variant and seed, test metrics, step losses, curves, epochs."""
    keep = ("seed", "test", "step_losses", "recall_curves", "best_epoch", "epochs_run")
    return {name: [{k: run[k] for k in keep} for run in v["runs"]] for name, v in results["variants"].items()}


@pytest.mark.slow
def test_two_jobs_give_the_results_of_one(capsys, tmp_path):
    out = {}
    for jobs in (1, 2):
        code, stdout, _ = run_cli(["compare", "--dataset", "synthetic", "--losses", "crossclr", "infonce", "--seeds",
                                   "2", "--epochs", "2", "--batch-size", "50", "--threads", "1", "--jobs", str(jobs),
                                   "--out", str(tmp_path / str(jobs))], capsys)
        assert code == 0
        out[jobs] = (json.loads((tmp_path / str(jobs) / "results.json").read_text()), stdout)
    (one, printed_one), (two, printed_two) = out[1], out[2]
    assert _numbers(one) == _numbers(two) and one["summary"] == two["summary"]
    table = [line for line in printed_one.splitlines() if line.startswith("|")]
    assert table and table == [line for line in printed_two.splitlines() if line.startswith("|")]
    runs = [line.split(":")[0] for line in printed_two.splitlines() if line.startswith("  ") and " seed " in line]
    assert runs == ["  crossclr           seed 0", "  infonce            seed 0", "  crossclr           seed 1",
                    "  infonce            seed 1"]  # logged in the sequential order


def _fail_on_two(task, context):
    if task == 2:
        raise ValueError("task 2 failed")
    return task * context


def test_one_job_runs_in_order_and_raises_a_task_error():
    assert list(run_jobs(_fail_on_two, [0, 1, 3], context=10, jobs=1, progress=False)) == [0, 10, 30]
    with pytest.raises(ValueError, match="task 2 failed"):
        list(run_jobs(_fail_on_two, [0, 2], context=1, jobs=1, progress=False))
    with pytest.raises(ValueError, match="jobs"):
        list(run_jobs(_fail_on_two, [0], jobs=0))


def _warn_on_odd(task, context):
    if task % 2:
        warnings.warn(f"task {task} is odd", UserWarning)
    return task


@pytest.mark.slow
def test_a_workers_warnings_reach_the_caller_in_task_order():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(run_jobs(_warn_on_odd, [1, 2, 3], jobs=2, progress=False)) == [1, 2, 3]
    assert [str(w.message) for w in caught] == ["task 1 is odd", "task 3 is odd"]
    assert all(w.category is UserWarning and w.filename == __file__ for w in caught)



def test_crossclr_jobs_sets_the_default_and_a_bad_value_is_refused(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv(JOBS_ENV, raising=False)
    assert default_jobs() >= 1
    monkeypatch.setenv(JOBS_ENV, "3")
    assert default_jobs() == 3
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(JOBS_ENV, bad)
        with pytest.raises(ValueError, match=f"CROSSCLR_JOBS='{re.escape(bad)}' is not a number of worker processes"):
            default_jobs()
        with pytest.raises(ValueError, match="CROSSCLR_JOBS"):
            list(run_jobs(_fail_on_two, [0], progress=False))
    code, _, err = run_cli(["compare", "--dataset", "synthetic", "--out", str(tmp_path / "cmp")], capsys)
    assert code == 2 and "CROSSCLR_JOBS='1.5' is not a number of worker processes" in err
    assert not (tmp_path / "cmp").exists()                    # refused before any work


@pytest.mark.slow
def test_the_workers_have_exited_when_the_last_result_is_handed_out():
    results = run_jobs(_fail_on_two, [0, 1, 3], context=1, jobs=2, progress=False)
    assert [next(results) for _ in range(3)] == [0, 1, 3]      # the caller stops here, never asking past the last
    assert multiprocessing.active_children() == []
