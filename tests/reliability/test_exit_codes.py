"""Exit codes of the `luigi` command, failure class by failure class, and which failures Luigi retries.

Where each ``[retcode]`` is produced through the real command:

| code | failure class | test |
|---|---|---|
| 0 | complete | tests/pipeline/test_pipeline.py, and every rerun here |
| 10 | same run already running | test_concurrent_runs.py (pid lock; two workers on one luigid) |
| 20 | missing external data | cannot occur: ``test_no_task_waits_for_external_data`` |
| 25 | not granted permission to run | ``test_luigid_keeps_a_permanently_failed_task_disabled`` |
| 30 | task failed | test_corruption.py, test_teacher_storms.py, tests/quality (gate), here |
| 35 | scheduling error | not reproducible here: needs the data root to fail between opening the run and scheduling |
| 40 | bad input before scheduling | test_config_fuzz.py, tests/pipeline/test_pipeline.py, test_corruption.py, here |
| 143 | SIGTERM | test_hostile_teacher.py (``test_sigterm_mid_stage_...``) |
"""

from __future__ import annotations

import configparser
import re
import subprocess
from collections import Counter
from pathlib import Path

import luigi.worker

from fitsense_luigi.contracts import files
from fitsense_luigi.pipeline.tasks import ALL_TASKS
from fitsense_luigi.pipeline.termination import EXIT_TERMINATED
from tests.ops.ops_harness import luigi_command, running_luigid, scheduler_args, worker_env
from tests.reliability.fault_harness import RunUnderTest, loopback_params, retrying
from tests.reliability.run_checks import downstream_manifests
from tests.support.harness import REPO, RUN_ID, BuiltRun, run_luigi
from tests.support.teacher import WITH_KEY, Servers, Weather, assert_no_secret


def attempts(output: str, family: str) -> Counter[str]:
    """How often each task of ``family`` was started."""
    return Counter(re.findall(rf"Worker\(.*\) running\s+({family}\(.*\))$", output, re.MULTILINE))


def test_readme_and_luigi_cfg_agree_on_the_codes() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "luigi.cfg")
    readme = (REPO / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert {int(v) for v in cfg["retcode"].values()} | {0, EXIT_TERMINATED} == documented


def test_no_task_waits_for_external_data(tmp_path, monkeypatch) -> None:
    """missing_data (20) is for external tasks whose data is not there: every task here builds its own output."""
    monkeypatch.setenv("FITSENSE_DATA_ROOT", str(tmp_path))
    assert not any(luigi.worker._is_external(task(run_id=RUN_ID, **extra(task))) for task in ALL_TASKS)


def extra(task: type) -> dict[str, int]:
    """The index parameter of a task that is one of several (a shard or a world part)."""
    return {name: 0 for name in ("shard", "part") if name in task.get_param_names()}


def test_a_permanent_error_is_not_retried(run_copy: BuiltRun) -> None:
    """Corrupted input fails the same way every time: one attempt and exit 30, not three attempts minutes apart."""
    queries = run_copy.files.path(files.QUERIES)
    queries.write_bytes(queries.read_bytes()[:-10])
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    env = {**retrying(run_copy.data_root.parent), **WITH_KEY}
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params, env=env, timeout=120)
    assert result.returncode == 30, result.output[-3000:]
    shards = attempts(result.output, "TeacherShard")
    assert len(shards) == 2 and set(shards.values()) == {1}, shards  # both met the corrupted file, once each
    assert result.output.count("CorruptInputError") == 2 and "Traceback" not in result.output
    assert_no_secret([run_copy.data_root], [result.output])


def test_a_storm_is_retried_and_the_retry_resumes_from_the_cache(server: Servers, write_params, tmp_path: Path) -> None:
    """The breaker's stop is not permanent: Luigi retries the shard (keep_alive), without re-sending answers."""
    weather = Weather()
    weather.mode = "down"  # ten good answers, then every request fails
    teacher = server(weather)
    params = loopback_params(
        write_params,
        teacher.url,
        shards=1,
        retries={"max_attempts": 2, "initial_wait_s": 0.01, "max_wait_s": 0.02, "retry_after_cap_s": 1.0},
    )
    run = RunUnderTest(tmp_path / "data", params, teacher, task="CallTeacher", env=retrying(tmp_path))
    result = run.attempt(timeout_s=120)
    assert result.returncode == 30, result.output[-3000:]
    assert list(attempts(result.output, "TeacherShard").values()) == [3]  # retry_count: each attempt tripped
    assert result.output.count("circuit breaker stopped the stage") == 3
    assert set(run.delivered().values()) == {1}, "a retry re-sent an answer it had"
    assert_no_secret([run.data_root], run.outputs)


def test_luigid_keeps_a_permanently_failed_task_disabled(run_copy: BuiltRun, tmp_path: Path) -> None:
    """With luigid the first failure disables the task at once; a rerun is refused (25) until it is re-enabled."""
    queries = run_copy.files.path(files.QUERIES)
    original = queries.read_bytes()
    queries.write_bytes(original[:-10])
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    with running_luigid(tmp_path, run_copy.data_root) as scheduler:  # luigid: retry_delay 120 from luigi.cfg
        env = worker_env(tmp_path, run_copy.data_root, run_copy.params, WITH_KEY)
        command = luigi_command(run_copy.run_id, *scheduler_args(scheduler))
        first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=100)
        assert first.returncode == 30, first.stderr[-3000:]
        assert set(attempts(first.stderr, "TeacherShard").values()) == {1} and "Traceback" not in first.stderr
        disabled = scheduler.api("task_list", {"status": "DISABLED"})
        assert {task["name"] for task in disabled.values()} == {"TeacherShard"}

        again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=100)
        assert again.returncode == 25, again.stderr[-3000:]  # [retcode] not_run
        assert "not granted run permission by the scheduler" in again.stderr

        queries.write_bytes(original)  # the operator repairs the input, re-enables the tasks (UI or API), reruns
        for task_id in disabled:
            scheduler.api("re_enable_task", {"task_id": task_id})
        fixed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=100)
        assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert_no_secret([tmp_path, run_copy.data_root], [first.stderr, again.stderr, fixed.stderr])
