"""Fixtures of the reliability tests: one finished tiny run, copied for each test that damages or resumes it."""

import shutil

import pytest
from fixtures.tiny_runs import tiny_config, tiny_splits

from crossclr_lab.training.trainer import Trainer


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    Trainer(tiny_config(), *tiny_splits(), out_dir=out).fit()
    return out


@pytest.fixture
def run_copy(finished_run, tmp_path):
    return shutil.copytree(finished_run, tmp_path / "run")
