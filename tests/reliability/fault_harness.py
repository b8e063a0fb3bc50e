"""Fault injection for the reliability suite: the real `luigi` command, killed with SIGKILL at chosen points.

A ``RunUnderTest`` is one run id under one data root, answered by one loopback
OpenAI-compatible teacher (``tests/teacher/teacher_server.py``). Each
``attempt(point)`` starts the pipeline in its own process group and kills the
whole group when the ``KillPoint`` is reached:

* ``line``: a line of the run's log contains this text (e.g. ``"ValidateData: building"``), plus ``after_s``;
* ``at_s``: this long after the start;
* ``answers``: the teacher has delivered this many answers to this run in total;
* ``temporary``: a temporary file exists whose final path (relative to the data root) matches this glob;
* ``hook``: the process kills itself at an exact file operation (``killpoint/sitecustomize.py``).

An outside kill lands a little after its trigger (the log line travels through
a pipe to a busy test process), possibly past a later point; ``passed`` says
whether a point can no longer be reached (its ``before`` file exists), so that a
chain of outside kills skips it instead of letting the run finish.

What counts as paid: an answer the server wrote out completely while a process
of the run was alive to receive it (``paid``). A kill lands while answers are
on their way, so before an outside kill the teacher is frozen (no answer
leaves) until the run has cached every answer it was sent; then the requests
still in flight are dropped unanswered, as a real endpoint drops the requests of
a client that went away. Without that (``coordinated=False``, the soak's raw
kills, and the in-process hooks) an answer can be delivered and lost with the
process before it reaches the cache: the attempt records those as
``in_flight``, the only requests that may honestly be paid twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from fitsense_luigi.teacher.cache import cache_key
from fitsense_luigi.teacher.stage import schema_version
from tests.conftest import LUIGI, REPO, SMALL, deep_merge, default_params, luigi_env
from tests.reliability.killpoint.sitecustomize import matches
from tests.reliability.run_checks import assert_no_secret, data_differences, manifest_problems, temporaries
from tests.teacher.teacher_server import FAST_TEACHER, KEY_ENV, TEST_KEY, Reply, TeacherServer

RUN = "2026-02-17"
KILLPOINT_DIR = Path(__file__).resolve().parent / "killpoint"

# A generous read time-out: on a loaded 2-core box a slow answer must not turn into a retry (a second send).
LOOPBACK_TEACHER = dict(FAST_TEACHER, concurrency=3, shards=2, timeouts={"connect_s": 5.0, "read_s": 30.0})


def loopback_params(write_params: Any, url: str, *, name: str = "params.yaml", **teacher: Any) -> Path:
    """Small-scale params whose teacher is the loopback server at ``url``."""
    return write_params({"teacher": dict(LOOPBACK_TEACHER, base_url=url, **teacher)}, name=name)


@dataclass(frozen=True)
class KillPoint:
    label: str
    line: str | None = None
    after_s: float = 0.0
    at_s: float | None = None
    answers: int | None = None
    temporary: str | None = None
    hook: str | None = None
    workers: int = 1
    coordinated: bool = True
    before: str | None = None  # glob (relative to the data root) of a file that exists once the point is passed


@dataclass
class Attempt:
    label: str
    returncode: int
    output: str
    in_flight: set[str] = field(default_factory=set)  # answers delivered, not cached when the process died
    interrupted: str | None = None  # the task that was building when the process died
    started_at: float = 0.0
    died_at: float | None = None  # when it was killed (an answer written after that reached no one)

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def interrupted_task(output: str) -> str | None:
    """The last task that logged ``<Task>: building`` without its ``<Task>: done: ...`` line."""
    open_tasks: list[str] = []
    for line in output.splitlines():
        match = re.search(r"fitsense\.tasks\[\d+\]: (\w+): (building|done:) ", line)
        if match and match[2] == "building":
            open_tasks.append(match[1])
        elif match and match[1] in open_tasks:
            open_tasks.remove(match[1])
    return open_tasks[-1] if open_tasks else None


class RunUnderTest:
    """One run id under one data root against one loopback teacher; attempts accumulate."""

    def __init__(
        self,
        data_root: Path,
        params: Path,
        server: TeacherServer,
        *,
        run_id: str = RUN,
        task: str = "BiasSlicing",
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_root, self.params, self.server = data_root, params, server
        self.run_id, self.task = run_id, task
        self.env = {KEY_ENV: TEST_KEY, **(env or {})}
        self.mark = len(server.deliveries)  # answers delivered before this run are someone else's
        self.template_version = yaml.safe_load(params.read_text())["queries"]["template_version"]
        self.attempts: list[Attempt] = []

    # -- what the teacher delivered to this run, and what the run kept
    def delivered(self) -> Counter[str]:
        return Counter(digest for _, digest in self.server.delivered_since(self.mark))

    def paid(self) -> Counter[str]:
        """Answers delivered while a process of the run was alive to receive them."""
        starts = [a.started_at for a in self.attempts[1:]] + [float("inf")]
        gaps = [(a.died_at, start) for a, start in zip(self.attempts, starts, strict=True) if a.died_at is not None]
        return Counter(
            digest
            for at, digest in self.server.delivered_since(self.mark)
            if not any(died <= at < start for died, start in gaps)
        )

    def is_cached(self, digest: str) -> bool:
        body = self.server.bodies[digest]
        key = cache_key(self.server.url, body, schema_version(), self.template_version)
        return (self.data_root / "cache" / "teacher" / key[:2] / f"{key}.json").is_file()

    def _uncached(self, before: float | None = None) -> set[str]:
        return {d for t, d in self.server.delivered_since(self.mark) if (before is None or t < before)} - {
            d for d in self.delivered() if self.is_cached(d)
        }

    def _wait_until_cached(self, timeout_s: float = 15.0) -> None:
        """With the teacher frozen: until every answer delivered so far is in the run's cache."""
        deadline = time.monotonic() + timeout_s
        time.sleep(0.02)  # answers already being written when the freeze came
        while self._uncached() and time.monotonic() < deadline:
            time.sleep(0.005)

    def passed(self, point: KillPoint) -> bool:
        if point.answers is not None and len(self.server.delivered_since(self.mark)) >= point.answers:
            return True
        return point.before is not None and any(self.data_root.glob(point.before))

    # -- one invocation
    def command(self, workers: int = 1) -> list[str]:
        args = [LUIGI, "--module", "fitsense_luigi", self.task, "--local-scheduler", "--run-id", self.run_id]
        return args + (["--workers", str(workers)] if workers > 1 else [])

    def attempt(self, point: KillPoint | None = None, timeout_s: float = 240) -> Attempt:
        env = luigi_env(self.data_root, self.params, self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(KILLPOINT_DIR), env.get("PYTHONPATH")]))
        if point and point.hook:
            env["FITSENSE_KILL_AT"] = point.hook
        proc = subprocess.Popen(
            self.command(point.workers if point else 1),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        seen = threading.Event()
        seen_at: list[float] = []

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if point and point.line and not seen.is_set() and point.line in line:
                    seen_at.append(time.monotonic())
                    seen.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        started = time.monotonic()
        in_flight: set[str] = set()
        died_at = None
        try:
            while proc.poll() is None:
                if point and self._reached(point, started, seen_at):
                    in_flight, died_at = self._kill(proc, point.coordinated)
                    break
                if time.monotonic() - started > timeout_s:
                    raise AssertionError(f"{point.label if point else 'run'}: no end after {timeout_s} s")
                time.sleep(0.002)
            proc.wait(timeout=60)
            if point and point.hook and proc.returncode == -signal.SIGKILL:
                # it killed itself: hold what the teacher has not sent yet, then see what was lost
                self.server.freeze()
                died_at = time.monotonic()
                in_flight = self._uncached()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self.server.drop_held()
            reader.join(timeout=30)
        output = "".join(lines)
        label = point.label if point else "uninterrupted"
        result = Attempt(label, proc.returncode, output, in_flight, started_at=started, died_at=died_at)
        if result.killed:
            result.interrupted = interrupted_task(output)
        self.attempts.append(result)
        return result

    def _reached(self, point: KillPoint, started: float, seen_at: list[float]) -> bool:
        now = time.monotonic()
        if point.line is not None:
            return bool(seen_at) and now >= seen_at[0] + point.after_s
        if point.at_s is not None:
            return now >= started + point.at_s
        if point.answers is not None:
            return len(self.server.delivered_since(self.mark)) >= point.answers
        if point.temporary is not None:
            return any(matches(rel, point.temporary) for rel in temporaries(self.data_root))
        return False

    def _kill(self, proc: subprocess.Popen[str], coordinated: bool) -> tuple[set[str], float]:
        """SIGKILL the run's process group; (answers lost with it, when it died)."""
        if coordinated:
            self.server.freeze()
            self._wait_until_cached()
        killed_at = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        self.server.freeze()  # a raw kill: nothing more leaves for the dead client
        return self._uncached(before=killed_at), killed_at

    @property
    def outputs(self) -> list[str]:
        return [a.output for a in self.attempts]


# ------------------------------------------------------------------ an uninterrupted run, and kill chains


@dataclass
class Reference:
    teacher: TeacherServer
    params: Path
    run: RunUnderTest


@pytest.fixture(scope="module", name="reference")
def reference_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """The uninterrupted run; the kill chains are compared with it and share its teacher."""
    base = tmp_path_factory.mktemp("kill_anywhere")
    # 30 ms an answer: a shard takes a few hundred milliseconds, long enough to be killed mid-way
    with TeacherServer(lambda case, attempt: Reply(delay_s=0.03)) as teacher:
        params = base / "params.yaml"
        teacher_params = dict(LOOPBACK_TEACHER, base_url=teacher.url)
        params.write_text(yaml.safe_dump(deep_merge(default_params(), {**SMALL, "teacher": teacher_params})))
        run = RunUnderTest(base / "reference", params, teacher)
        first = run.attempt()
        assert first.returncode == 0, first.output[-3000:]
        assert len(run.delivered()) == 48 and set(run.delivered().values()) == {1}
        yield Reference(teacher, params, run)


def kill_until_complete(reference: Reference, root: Path, chain: tuple[KillPoint, ...]) -> RunUnderTest:
    run = RunUnderTest(root, reference.params, reference.teacher)
    for point in chain:
        if run.passed(point):  # an outside kill landed later than aimed, past this point
            continue
        attempt = run.attempt(point)
        assert attempt.killed, f"{point.label}: not killed (exit {attempt.returncode})\n{attempt.output[-3000:]}"
        assert manifest_problems(run.data_root) == [], point.label  # a finished stage is never wrong
        assert attempt.in_flight == set(), f"{point.label}: answers lost with the process"
    final = run.attempt()
    for attempt in run.attempts:  # shown when a test fails
        print(f"{attempt.label}: exit {attempt.returncode}, interrupted {attempt.interrupted}")
    assert final.returncode == 0, final.output[-3000:]
    assert "Traceback" not in "".join(run.outputs)
    return run


def assert_same_as_uninterrupted(run: RunUnderTest, reference: Reference, *, in_flight_allowed: bool = False) -> None:
    """Same data files; each request answered once in total, or (raw kills) once more per kill it was lost in."""
    assert data_differences(run.data_root, reference.run.data_root) == []
    paid, requests = run.paid(), set(reference.run.delivered())
    assert set(paid) == requests, "every request was answered, and no other"
    lost = Counter(digest for attempt in run.attempts for digest in attempt.in_flight)
    assert in_flight_allowed or not lost, "answers were lost with a killed process"
    delivered = run.server.delivered_since(run.mark)
    twice = {d: [at for at, x in delivered if x == d] for d, n in paid.items() if n > 1 + lost[d]}
    windows = [(a.label, a.started_at, a.died_at) for a in run.attempts]
    assert twice == {}, f"answers kept by the run were paid again: {twice}; attempts: {windows}"
    left = [t for t in temporaries(run.data_root) if not (in_flight_allowed and t.startswith("cache/"))]
    assert left == [], "a killed write left a temporary behind"
    assert reference.teacher.authorization == {f"Bearer {TEST_KEY}"}
    assert_no_secret([run.data_root, reference.run.data_root], run.outputs + reference.run.outputs)
