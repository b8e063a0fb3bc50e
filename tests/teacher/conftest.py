"""Fixtures for the teacher tests: a config pointing at a scripted server, and hand-made queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from teacher_server import FAST_TEACHER, KEY_ENV, TEST_KEY, Script, TeacherServer, ok

from fitsense_luigi.config import Config, load_config


@pytest.fixture
def server() -> Iterator[Callable[..., TeacherServer]]:
    """server(script) -> a started TeacherServer, closed after the test."""
    started: list[TeacherServer] = []

    def start(script: Script = ok) -> TeacherServer:
        srv = TeacherServer(script).__enter__()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.close()


@pytest.fixture
def teacher_config(write_params: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Config]:
    """teacher_config(url, **teacher_overrides) -> Config for the openai_compatible provider at url."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    calls = 0

    def make(url: str, **overrides: Any) -> Config:
        nonlocal calls
        calls += 1
        teacher = dict(FAST_TEACHER, base_url=url, **overrides)
        return load_config(write_params({"teacher": teacher}, name=f"params-{calls}.yaml"))

    return make
