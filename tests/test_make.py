"""The two set-up commands of the README: `make run` installs the runtime only, `make test` the test tools too.

Read from make's own plan (``make -n``) for a virtualenv that does not exist yet, so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.params import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def plan(target: str, venv: Path) -> list[str]:
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


def test_make_run_installs_the_runtime_only(tmp_path: Path) -> None:
    installs = plan("run", tmp_path / "venv")
    assert any("-r requirements.txt" in line for line in installs), installs
    assert not any("requirements-dev.txt" in line for line in installs), installs


def test_make_test_installs_the_runtime_and_the_test_tools(tmp_path: Path) -> None:
    installs = plan("test", tmp_path / "venv")
    assert any("-r requirements.txt" in line for line in installs), installs
    assert any("-r requirements-dev.txt" in line for line in installs), installs
    dev = (REPO / "requirements-dev.txt").read_text()
    runtime = (REPO / "requirements.txt").read_text()
    for tool in ("pytest", "ruff", "hypothesis"):  # test tools live only in the dev file
        assert f"\n{tool}==" in dev and f"\n{tool}==" not in runtime and not runtime.startswith(f"{tool}=="), tool


def test_the_readme_keeps_exactly_two_set_up_commands_and_says_which_python() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]
    assert "`python`, `luigi` and `pytest` mean\nthe ones in `.venv/bin/`" in readme
