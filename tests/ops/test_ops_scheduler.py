"""The central scheduler: a real luigid on loopback, the pipeline against it with 4 workers, its JSON API and UI."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from ops_harness import (
    Scheduler,
    built_lines,
    data_digests,
    luigi_command,
    run,
    running_luigid,
    scheduler_args,
    worker_env,
)

from fitsense_luigi.pipeline.tasks import ALL_TASKS
from tests.support.harness import REPO

SHARDS = 4
OUTPUT_DIR = REPO / "test-output" / "ops"  # git-ignored; CI keeps what lands here
FAMILIES = {task.__name__ for task in ALL_TASKS}  # the ten stages and TeacherShard


class ScheduledRun:
    def __init__(self, scheduler: Scheduler, result: subprocess.CompletedProcess[str], base: Path, data: Path) -> None:
        self.scheduler = scheduler
        self.result = result
        self.base = base
        self.data = data


@pytest.fixture(scope="module")
def scheduled_run(built_run: Any, run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("scheduled")
    data = base / "data"
    with running_luigid(base, data) as scheduler:
        env = worker_env(base, data, built_run.params, {"FITSENSE__TEACHER__SHARDS": str(SHARDS)})
        result = run(luigi_command(run_id, *scheduler_args(scheduler), "--workers", "4"), env)
        assert result.returncode == 0, result.stderr[-4000:]
        yield ScheduledRun(scheduler, result, base, data)


def test_every_task_is_done_with_its_progress_reported(scheduled_run: ScheduledRun) -> None:
    scheduler = scheduled_run.scheduler
    done = scheduler.api("task_list", {"status": "DONE"})
    assert {task["name"] for task in done.values()} == FAMILIES
    assert len(done) == len(FAMILIES) - 1 + SHARDS
    shards = sorted(task["params"]["shard"] for task in done.values() if task["name"] == "TeacherShard")
    assert shards == [str(k) for k in range(SHARDS)]
    for task_id, task in done.items():
        assert task["progress_percentage"] == 100, task_id
        assert task["status_message"].startswith("done: "), (task_id, task["status_message"])
        assert "wrote" not in task["status_message"], (task_id, task["status_message"])  # what it made, not files
    shards = [task["status_message"] for task in done.values() if task["name"] == "TeacherShard"]
    assert all(re.match(r"done: (\d+)/\1 answered, 0 not ok", message) for message in shards), shards
    (last,) = [task["status_message"] for task in done.values() if task["name"] == "BiasSlicing"]
    assert last.startswith("done: quality gate: passed; records: ") and "report.html" in last, last
    for status in ("FAILED", "PENDING", "RUNNING", "DISABLED"):
        assert scheduler.api("task_list", {"status": status}) == {}, status
    workers = scheduler.api("worker_list")
    assert any("workers=4" in worker["name"] for worker in workers), workers


def test_four_workers_build_each_task_once_and_the_same_data(scheduled_run: ScheduledRun, built_run: Any) -> None:
    lines = built_lines(scheduled_run.result.stderr)
    assert len(lines) == len(set(lines)) == len(FAMILIES) - 1 + SHARDS, lines
    assert data_digests(scheduled_run.data, built_run.run_id) == data_digests(built_run.data_root, built_run.run_id)


def test_scheduler_keeps_its_state_file_under_the_data_root(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_luigid(tmp_path, data) as scheduler:
        assert scheduler.api("task_list", {"status": "DONE"}) == {}
    state = data / "scheduler" / "luigi-state.pickle"
    assert state.is_file() and state.stat().st_size > 0  # luigid saves its state on SIGTERM
    assert "--state-path " + str(state) in scheduler.log.read_text()


class GraphNodes(HTMLParser):
    """The task nodes of the visualiser's SVG dependency graph: <a class="graph-node-a" data-task-id=...>."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("class") == "graph-node-a":
            self.nodes[str(found.get("data-task-id"))] = str(found.get("data-task-status"))


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=10000",  # let the page's API calls and rendering finish before dumping
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is not installed: run `make ops-deps` (apt-get install chromium)"
    profile.mkdir(parents=True, exist_ok=True)
    command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.ops
def test_visualiser_graph_shows_every_task_done(scheduled_run: ScheduledRun, run_id: str) -> None:
    scheduler = scheduled_run.scheduler
    root = next(
        tid for tid, task in scheduler.api("task_list", {"status": "DONE"}).items() if task["name"] == "BiasSlicing"
    )
    page = f"{scheduler.url}/static/visualiser/index.html#tab=graph&taskId={root}"

    dom = chromium(scheduled_run.base / "chromium-dom", "--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = GraphNodes()
    parser.feed(dom.stdout)
    families = {task_id.split("_", 1)[0] for task_id in parser.nodes}
    assert families == FAMILIES, parser.nodes
    assert len(parser.nodes) == len(FAMILIES) - 1 + SHARDS
    assert set(parser.nodes.values()) == {"DONE"}

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT_DIR / "visualiser-graph.png"
    shot.unlink(missing_ok=True)
    taken = chromium(scheduled_run.base / "chromium-shot", "--window-size=1400,1500", f"--screenshot={shot}", page)
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"visualiser screenshot: {shot}")
