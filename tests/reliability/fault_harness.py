"""Fault injection for the reliability suite: the real `luigi` command, killed with SIGKILL at chosen points.

A ``RunUnderTest`` is one run id under one data root, answered by one loopback
OpenAI-compatible teacher (``tests.support.teacher``). Each
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

What counts as paid: an answer the server committed and wrote out while a process
of the run was alive to receive it (``paid``). A kill lands while answers are
on their way, so before an outside kill the teacher is frozen (no answer
leaves once ``freeze(); settle()`` return) until the run has cached every answer it
was sent; then the requests still in flight are dropped unanswered, as a real
endpoint drops the requests of a client that went away. Without that (``coordinated=False``, the soak's raw
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fitsense_luigi.teacher.cache import cache_key
from fitsense_luigi.teacher.stage import schema_version
from tests.reliability.killpoint.sitecustomize import matches
from tests.reliability.run_checks import manifest_problems, temporaries
from tests.support.harness import REPO, RUN_ID, luigi_command, luigi_env
from tests.support.hashing import differences
from tests.support.layout import RunFiles
from tests.support.teacher import LOOPBACK_TEACHER, TEST_KEY, WITH_KEY, TeacherServer, assert_no_secret, teacher_params

KILLPOINT_DIR = Path(__file__).resolve().parent / "killpoint"


# the production retry policy (keep_alive, 3 attempts), one second apart instead of two minutes
RETRYING_CFG = """
[core]
lock_pid_dir = {pid_dir}
[worker]
keep_alive = true
wait_interval = 0.1
[scheduler]
retry_count = {retries}
retry_delay = 1
"""


def retrying(base: Path, retries: int = 3) -> dict[str, str]:
    """The environment of a command with Luigi's retries on (``retries`` attempts in all, a second apart)."""
    cfg = base / "retrying-luigi.cfg"
    cfg.write_text(RETRYING_CFG.format(pid_dir=base / "luigi-pids", retries=retries))
    return {"LUIGI_CONFIG_PATH": str(cfg)}


def loopback_params(write_params: Any, url: str, *, name: str = "params.yaml", **teacher: Any) -> Path:
    """Small-scale params whose teacher is the loopback server at ``url``."""
    return write_params(teacher_params(url, LOOPBACK_TEACHER, **teacher), name=name)


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
        run_id: str = RUN_ID,
        task: str = "BiasSlicing",
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_root, self.params, self.server = data_root, params, server
        self.run_id, self.task = run_id, task
        self.env = {**WITH_KEY, **(env or {})}
        self.files = RunFiles(data_root, run_id)
        self.mark = server.sent_mark()  # answers delivered before this run are someone else's
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
        return self.files.cache_entry(
            cache_key(self.server.url, body, schema_version(), self.template_version)
        ).exists()

    def _uncached(self, before: float | None = None) -> set[str]:
        return {d for t, d in self.server.delivered_since(self.mark) if (before is None or t < before)} - {
            d for d in self.delivered() if self.is_cached(d)
        }

    def _wait_until_cached(self, timeout_s: float = 15.0) -> None:
        """With the teacher frozen: until every answer delivered so far is in the run's cache."""
        self.server.settle()  # answers already committed when the freeze came are written (or lost) now
        deadline = time.monotonic() + timeout_s
        while self._uncached() and time.monotonic() < deadline:
            time.sleep(0.005)

    def passed(self, point: KillPoint) -> bool:
        if point.answers is not None and len(self.server.delivered_since(self.mark)) >= point.answers:
            return True
        return point.before is not None and any(self.data_root.glob(point.before))

    # -- one invocation
    def command(self, workers: int = 1) -> list[str]:
        return luigi_command(self.task, self.run_id, *(["--workers", str(workers)] if workers > 1 else []))

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
                self.server.settle()
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
        self.server.settle()
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
    assert differences(run.data_root, reference.run.data_root) == []
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
