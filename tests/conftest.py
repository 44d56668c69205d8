"""Shared fixtures, and how pytest-xdist splits the suite."""

import os
from collections import Counter

import pytest
import torch

from crossclr_lab.experiments.jobs import JOBS_ENV

# `make test` runs pytest-xdist with one worker per core and `--dist loadfile`: a test file runs whole in one worker
# (its module fixtures are built once, and its tests that share a folder never overlap).
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    # One torch thread per worker, and in the kernels and commands it starts, which also train their runs one after
    # another unless a test asks for more (--jobs, jobs=): the workers already use the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ[JOBS_ENV] = "1"
    torch.set_num_threads(1)

# Files that share state on disk run in one worker, in this order: the site build reuses the notebook executions
# that tests/test_notebooks.py caches in build/site-cache/ci/.
SHARED_STATE = [("tests/test_notebooks.py", "tests/tools/test_site.py")]
_SCOPE = {path: (files[0], rank) for files in SHARED_STATE for rank, path in enumerate(files)}


def _scope(nodeid: str) -> tuple[str, int]:
    """The work unit of a test (its file, or the first file of its SHARED_STATE group) and its rank in there."""
    path = nodeid.split("::", 1)[0]
    return _SCOPE.get(path, (path, 0))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with the files of a :data:`SHARED_STATE` group in one work unit."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedStateFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)[0]

    return SharedStateFileScheduling(config, log)


def pytest_collection_modifyitems(items):
    """In a worker, the files with the most slow tests first (``--no-loadscope-reorder`` keeps this order), so the
    long files start early and the short ones fill in at the end; every worker sorts alike, as xdist requires."""
    if WORKER:
        slow = Counter(_scope(item.nodeid)[0] for item in items if item.get_closest_marker("slow"))
        items.sort(key=lambda item: (-slow[_scope(item.nodeid)[0]], _scope(item.nodeid)[1]))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster, and immune to other processes competing for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
