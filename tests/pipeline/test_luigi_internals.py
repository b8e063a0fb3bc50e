"""What the runtime takes from luigi's private API, checked against the pinned luigi release.

``fitsense_luigi.pipeline.luigi_internals`` is the one module allowed to rely
on it. These tests fail loudly when luigi changes what it relies on: a
different release than the one verified, a status reporter that no longer
carries the scheduler, a command-line parser that no longer answers, or
another module reaching for the same internals.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import luigi
import luigi.rpc
import pytest
from luigi.configuration import get_config

from fitsense_luigi.pipeline import luigi_internals
from tests.support.harness import REPO

PACKAGE = REPO / "fitsense_luigi"
DOOR = PACKAGE / "pipeline" / "luigi_internals.py"
PRIVATE_MODULES = {"cmdline_parser", "worker", "rpc", "interface", "scheduler", "execution_summary", "task_register"}
PRIVATE_NAMES = {"_scheduler", "_worker_id", "global_instance", "__self__", "get_task_obj"}


def test_the_verified_luigi_is_the_pinned_and_installed_one() -> None:
    pinned = re.search(r"^luigi==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt must pin luigi"
    installed = importlib.metadata.version("luigi")
    assert pinned[1] == installed == luigi_internals.VERIFIED_WITH, (
        f"luigi {installed} installed, {pinned[1]} pinned, {luigi_internals.VERIFIED_WITH} verified: re-check "
        "fitsense_luigi/pipeline/luigi_internals.py against the new release, then update VERIFIED_WITH"
    )


def reaches_into_luigi(path: Path) -> list[str]:
    """Lines of ``path`` that import a luigi module internal to luigi or use an attribute we know as private."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("luigi"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        private = [n for n in names if n.startswith("luigi.") and set(n.split(".")[1:]) & PRIVATE_MODULES]
        if private or (isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_no_other_module_reaches_into_luigi() -> None:
    assert len(reaches_into_luigi(DOOR)) >= 5, "the scan finds what the door does"
    offenders = [line for path in sorted(PACKAGE.rglob("*.py")) if path != DOOR for line in reaches_into_luigi(path)]
    assert offenders == [], "luigi internals outside pipeline/luigi_internals.py"


class Failing(luigi.Task):
    """Fails every time; with ``permanent`` it asks the scheduler for no retries first."""

    permanent = luigi.BoolParameter()
    reached: ClassVar[list[bool]] = []

    def complete(self) -> bool:
        return False

    def run(self) -> None:
        if self.permanent:
            type(self).reached.append(luigi_internals.stop_retries(self))
        else:
            type(self).reached.append(False)
        raise RuntimeError("fails the same way every time")


@pytest.fixture
def retrying_scheduler() -> Iterator[None]:
    """Three attempts, no delay, and a worker that stays to retry (what luigi.cfg asks of production)."""
    config = get_config()
    settings = {
        ("scheduler", "retry_count"): "3",
        ("scheduler", "retry_delay"): "0",
        ("worker", "keep_alive"): "true",
        ("worker", "wait_interval"): "0.1",
        ("worker", "wait_jitter"): "0",
    }
    saved = {}
    for (section, option), value in settings.items():
        if not config.has_section(section):
            config.add_section(section)
        saved[(section, option)] = config.get(section, option, None)
        config.set(section, option, value)
    Failing.reached.clear()
    try:
        yield
    finally:
        for (section, option), value in saved.items():
            if value is None:
                config.remove_option(section, option)
            else:
                config.set(section, option, value)


@pytest.mark.parametrize("permanent", [False, True])
def test_stop_retries_reaches_the_scheduler_through_the_running_task(retrying_scheduler: None, permanent: bool) -> None:
    result = luigi.build([Failing(permanent=permanent)], local_scheduler=True, workers=1, detailed_summary=True)
    assert result.status.name == "FAILED"
    if permanent:
        assert Failing.reached == [True], "one attempt, then disabled: the reporter carried the scheduler"
    else:
        assert Failing.reached == [False, False, False], "without it the configured retries happen"


def test_stop_retries_outside_a_worker_reaches_nothing() -> None:
    assert luigi_internals.stop_retries(Failing(permanent=True)) is False


def test_a_command_line_is_parsed_as_luigi_parses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))  # instantiating a task opens its run there
    argv = ["--module", "fitsense_luigi", "Bootstrap", "--run-id", "door-test", "--local-scheduler"]
    codes = luigi_internals.retcodes([*argv, "--retcode-already-running", "11"])
    assert codes.already_running == 11
    requested = luigi_internals.requested(argv)
    assert requested.task.task_family == "Bootstrap" and requested.task.run_id == "door-test"
    assert requested.local_scheduler is True
    remote = luigi_internals.requested(["--module", "fitsense_luigi", "Bootstrap", "--scheduler-port", "8099"])
    assert remote.local_scheduler is False and remote.scheduler_url.endswith(":8099/")


def test_the_central_schedulers_task_list_takes_a_status() -> None:
    """The RPC the launcher polls (exercised against a real luigid by tests/ops/test_ops_workers.py)."""
    parameters = inspect.signature(luigi.rpc.RemoteScheduler.task_list).parameters
    assert list(parameters)[1] == "status"


def test_luigis_own_words_are_the_ones_the_log_format_recognises() -> None:
    """The texts logs.py drops or rewrites (a user error's "Uncaught exception in luigi", the note that logging is
    left to us) and the banner the run's summary follows are luigi's, word for word."""
    import luigi.execution_summary
    import luigi.retcodes
    import luigi.setup_logging

    assert f'"{luigi_internals.UNCAUGHT_EXCEPTION}"' in inspect.getsource(luigi.retcodes.run_with_retcodes)
    assert f'"{luigi_internals.LOGGING_DISABLED}"' in inspect.getsource(luigi.setup_logging)
    assert luigi_internals.EXECUTION_SUMMARY_BANNER in inspect.getsource(luigi.execution_summary)


@pytest.mark.parametrize(
    ("args", "empty"),
    [
        (["Bootstrap", "--run-id", ""], True),
        (["Bootstrap", "--Bootstrap-run-id", ""], True),
        (["Bootstrap", "--run-id", "2026-02-17"], False),
        (["Bootstrap"], False),
    ],
)
def test_an_empty_run_id_is_seen_on_the_command_line(args: list[str], empty: bool) -> None:
    """luigi turns `--run-id ""` into "use the default"; the parsed command line still holds the empty string."""
    with luigi_internals.command_line(["--module", "fitsense_luigi", *args]):
        assert luigi_internals.empty_on_command_line("run_id") is empty
    assert luigi_internals.empty_on_command_line("run_id") is False  # no command line: tasks made in code
