"""Fixtures shared by every test folder (the helpers behind them live in tests/support)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fitsense_luigi.config import Config, load_config
from tests.support import params as test_params
from tests.support.batch_api import BatchServers
from tests.support.harness import BuiltRun, build_run
from tests.support.teacher import FAST_TEACHER, KEY_ENV, TEST_KEY, Servers, teacher_params


@pytest.fixture
def write_params(tmp_path: Path) -> Callable[..., Path]:
    """write_params(overrides, small=True, name="params.yaml") -> a params file: defaults (small scale) + overrides."""

    def write(overrides: dict[str, Any] | None = None, *, small: bool = True, name: str = "params.yaml") -> Path:
        return test_params.write_params(tmp_path / name, overrides, small=small)

    return write


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> BuiltRun:
    """One complete small run, shared read-only by the tests of every stage."""
    return build_run(tmp_path_factory.mktemp("built_run"))


@pytest.fixture
def server() -> Iterator[Servers]:
    """server(script, latency_s=...) -> a started fake teacher (tests.support.teacher), closed after the test."""
    servers = Servers()
    yield servers
    servers.close()


@pytest.fixture
def batch_server() -> Iterator[BatchServers]:
    """batch_server(script, course=..., steps=...) -> a started loopback Batch API (tests.support.batch_api)."""
    servers = BatchServers()
    yield servers
    servers.close()


@pytest.fixture
def teacher_config(write_params: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """teacher_config(url, **teacher_overrides) -> Config for the openai_compatible provider at url (fast retries)."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    calls = 0

    def make(url: str, **overrides: Any) -> Config:
        nonlocal calls
        calls += 1
        return load_config(write_params(teacher_params(url, FAST_TEACHER, **overrides), name=f"params-{calls}.yaml"))

    return make
