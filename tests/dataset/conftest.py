"""Fixtures of the dataset tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def offline_hf(tmp_path_factory):
    """`datasets` with no network and a private cache, as on a training box without the Hub."""
    home = tmp_path_factory.mktemp("hf_home")
    saved = {k: os.environ.get(k) for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "HF_HOME")}
    os.environ.update({"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(home)})
    import datasets

    yield datasets, home / "cache"
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
