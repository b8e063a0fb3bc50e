"""The image, run the way an operator runs it: podman (runc), a mounted data directory, settings from the environment.

`make test-image` builds the image and runs this module with FITSENSE_TEST_IMAGE set; run alone, the module
builds the image itself (ops/build-image.sh). Needs root and podman (`make ops-deps`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from ops_harness import Scheduler, built_lines, free_port, wait_until_up

from fitsense_luigi.contracts import files
from tests.support import layout
from tests.support.harness import REPO
from tests.support.layout import RunFiles
from tests.support.params import DEFAULT_PARAMS, SMALL, SMALL_QUERIES
from tests.support.teacher import TeacherServer, files_containing

pytestmark = [pytest.mark.slow, pytest.mark.ops]

IMAGE_UID = 10001
PODMAN = ["podman", "--runtime", "/usr/sbin/runc"]
FAMILIES = 14  # tasks in the DAG besides the teacher shards (a default world is one part: one profiles part,
# one workouts part, the query plan and one query shard)
# the shared test scale (tests/support/params.py SMALL), given the way an operator would: through the environment
SMALL_WORLD = {
    **{f"FITSENSE__WORLD__{key.upper()}": str(value) for key, value in SMALL["world"].items()},
    **{f"FITSENSE__QUERIES__PER_TYPE__{kind.upper()}": str(n) for kind, n in SMALL["queries"]["per_type"].items()},
}


@pytest.fixture(scope="module")
def image() -> str:
    given = os.environ.get("FITSENSE_TEST_IMAGE")
    if given:
        assert subprocess.run(["podman", "image", "exists", given]).returncode == 0, f"no image {given}"
        return given
    name = "localhost/fitsense-luigi:test"
    build = subprocess.run(
        ["bash", "ops/build-image.sh"],
        cwd=REPO,
        env=dict(os.environ, IMAGE=name),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return name


def data_dir(base: Path, name: str = "data") -> Path:
    """A host directory the image's non-root user can write, as an operator would prepare it."""
    path = base / name
    path.mkdir()
    os.chown(path, IMAGE_UID, IMAGE_UID)
    return path


def podman_run(
    image: str,
    data: Path,
    *command: str,
    env: dict[str, str] | None = None,
    extra: tuple[str, ...] = ("--network=none",),
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    args = [*PODMAN, "run", "--rm", *extra, "-v", f"{data}:/data"]
    for key, value in (env or {}).items():
        args += ["-e", f"{key}={value}"]
    return subprocess.run([*args, image, *command], capture_output=True, text=True, timeout=timeout)


def manifests(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in layout.manifest_paths(root)}


def test_image_is_non_root_with_a_data_volume_and_no_secret(image: str) -> None:
    inspect = json.loads(
        subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    )[0]
    config = inspect["Config"]
    assert config["User"] == "fitsense"
    assert "/data" in config["Volumes"]
    assert config["WorkingDir"] == "/app"
    assert config["Cmd"] == ["luigi", "--module", "fitsense_luigi", "BiasSlicing", "--local-scheduler"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["FITSENSE_DATA_ROOT"] == "/data"
    assert not [k for k in env if any(word in k for word in ("KEY", "SECRET", "TOKEN", "PASSWORD"))], env
    history = subprocess.run(["podman", "history", "--no-trunc", image], capture_output=True, text=True, check=True)
    assert "API_KEY=" not in history.stdout


def test_default_command_builds_todays_run_on_the_volume_and_a_rerun_does_no_work(image: str, tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    first = podman_run(image, data)
    assert first.returncode == 0, first.stderr[-4000:]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    run = RunFiles(data, today)
    for report in layout.REPORTS:
        assert run.path(report).is_file(), report.name
    assert run.run_log.is_file()
    for stage in layout.DATA_STAGES:
        assert run.manifest(stage).is_file(), stage.name
    assert run.path(files.records("train")).stat().st_size > 0
    assert {path.stat().st_uid for path in data.rglob("*")} == {IMAGE_UID}  # written by the non-root user
    bootstrap = run.document(files.BOOTSTRAP_RECORD)
    assert bootstrap["run_id"] == today and bootstrap["params"]["run"]["data_root"] == "/data"
    assert "/opt/fitsense/" in bootstrap["params_file"] and "_config" in bootstrap["params_file"]  # from the wheel
    done = manifests(data)
    assert len(done) == FAMILIES + 4  # default params: 4 teacher shards

    again = podman_run(image, data)
    assert again.returncode == 0, again.stderr[-4000:]
    assert built_lines(again.stderr) == []
    assert "complete ones were encountered" in again.stderr
    assert manifests(data) == done  # nothing rewritten


@pytest.mark.parametrize("how", ["environment", "params file"])
def test_a_bad_config_exits_non_zero_with_one_line_and_writes_nothing(image: str, tmp_path: Path, how: str) -> None:
    data = data_dir(tmp_path)
    extra: tuple[str, ...] = ("--network=none",)
    if how == "environment":
        env = {"FITSENSE__WORLD__USERS": "-5"}
        expected = "FITSENSE__WORLD__USERS (overrides world.users in"
    else:
        bad = tmp_path / "params.yaml"
        params = DEFAULT_PARAMS.read_text().replace("temperature: 0.2", "temperature: hot")
        bad.write_text(params)
        extra += ("-v", f"{bad}:/config/params.yaml:ro")
        env = {"FITSENSE_PARAMS": "/config/params.yaml"}
        expected = "/config/params.yaml: teacher.temperature: expected number, got 'hot'"
    result = podman_run(image, data, env=env, extra=extra)
    assert result.returncode == 40, result.stderr[-3000:]  # [retcode] unhandled_exception
    errors = [line for line in result.stderr.splitlines() if "ConfigError" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert list(data.iterdir()) == []


def test_teacher_settings_and_key_come_from_the_environment_and_the_key_is_stored_nowhere(
    image: str, tmp_path: Path, server
) -> None:
    fake_teacher: TeacherServer = server()  # on the host's loopback; the container shares the host's network
    data = data_dir(tmp_path)
    key = f"sk-test-{uuid.uuid4().hex}"
    env = {
        **SMALL_WORLD,
        "FITSENSE__TEACHER__PROVIDER": "openai_compatible",
        "FITSENSE__TEACHER__BASE_URL": fake_teacher.url,
        "FITSENSE__TEACHER__MODEL": "coach-from-env",
        "FITSENSE_TEACHER_API_KEY": key,
    }
    result = podman_run(
        image,
        data,
        "luigi",
        "--module",
        "fitsense_luigi",
        "CallTeacher",
        "--local-scheduler",
        "--run-id",
        "env-teacher",
        env=env,
        extra=("--network=host",),
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert len(fake_teacher.received) == SMALL_QUERIES
    assert fake_teacher.authorization == {f"Bearer {key}"}
    assert {body["model"] for body in fake_teacher.bodies.values()} == {"coach-from-env"}
    rows = RunFiles(data, "env-teacher").rows(files.RESPONSES)
    assert {row["provider"] for row in rows} == {"openai_compatible"} and {row["status"] for row in rows} == {"ok"}
    assert files_containing([data], key) == [] and key not in result.stderr + result.stdout


def test_the_image_runs_luigid_and_workers_in_containers_report_to_it(image: str, tmp_path: Path) -> None:
    scheduler_data = data_dir(tmp_path, "scheduler-data")
    port = free_port()
    name = f"fitsense-luigid-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "luigid.log"
    with log.open("w") as sink:
        luigid = subprocess.Popen(
            [
                *PODMAN,
                "run",
                "--rm",
                "--name",
                name,
                "--network=host",
                "-v",
                f"{scheduler_data}:/data",
                image,
                "timeout",
                "600",
                "python",
                "-m",
                "fitsense_luigi.scheduler",
                "--port",
                str(port),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", luigid, log, timeout=60)
        data = data_dir(tmp_path)
        worker = podman_run(
            image,
            data,
            "python",
            "-m",
            "fitsense_luigi",
            "BiasSlicing",
            "--run-id",
            "via-luigid",
            "--scheduler-host",
            "127.0.0.1",
            "--scheduler-port",
            str(port),
            "--workers",
            "2",
            env=SMALL_WORLD,
            extra=("--network=host",),
        )
        assert worker.returncode == 0, worker.stderr[-4000:]
        done = Scheduler(port, luigid, log).api("task_list", {"status": "DONE"})
        assert len(done) == FAMILIES + 4
        assert all(task["progress_percentage"] == 100 for task in done.values())
    finally:
        subprocess.run(["podman", "stop", "--time", "10", name], capture_output=True, timeout=60)
        luigid.wait(30)
    assert (scheduler_data / "scheduler" / "luigi-state.pickle").is_file()
