"""Fixtures of the operations tests (helpers live in ops_harness.py)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def run_id(built_run: Any) -> str:
    return built_run.run_id
