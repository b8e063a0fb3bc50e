"""Fixtures of the reliability tests (the helpers behind them: fault_harness.py, run_checks.py, tests/support)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.fault_harness import Reference, RunUnderTest
from tests.support import params as test_params
from tests.support.harness import BuiltRun
from tests.support.params import SMALL_QUERIES
from tests.support.teacher import LOOPBACK_TEACHER, TeacherServer, teacher_params


@pytest.fixture
def run_copy(built_run: BuiltRun, tmp_path: Path) -> BuiltRun:
    """A private copy of the shared small run, to damage."""
    root = tmp_path / "data"
    shutil.copytree(built_run.data_root, root)
    return BuiltRun(root, built_run.params, built_run.run_id, built_run.result)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """The uninterrupted run; the kill chains are compared with it and share its teacher."""
    base = tmp_path_factory.mktemp("kill_anywhere")
    # 30 ms an answer: a shard takes a few hundred milliseconds, long enough to be killed mid-way
    with TeacherServer(latency_s=0.03) as teacher:
        params = test_params.write_params(base / "params.yaml", teacher_params(teacher.url, LOOPBACK_TEACHER))
        run = RunUnderTest(base / "reference", params, teacher)
        first = run.attempt()
        assert first.returncode == 0, first.output[-3000:]
        assert len(run.delivered()) == SMALL_QUERIES and set(run.delivered().values()) == {1}
        yield Reference(teacher, params, run)
