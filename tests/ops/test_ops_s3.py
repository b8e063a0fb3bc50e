"""An s3:// data root, against a real S3-compatible server (moto in server mode) on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from ops_harness import (
    built_lines,
    data_digests,
    free_port,
    launch_command,
    run,
    spawn,
    stop,
    wait_until_up,
    worker_env,
)

from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.stages import Stage
from fitsense_luigi.errors import CorruptInputError, DataRootError
from fitsense_luigi.pipeline.roots import LocalRoot, open_data_root, s3
from fitsense_luigi.pipeline.roots.s3 import S3Root
from fitsense_luigi.pipeline.store import RunStore
from fitsense_luigi.teacher.cache import ResponseCache
from fitsense_luigi.teacher.http_policy import parse_completion
from fitsense_luigi.teacher.response_body import decode
from tests.support import layout
from tests.support.harness import finish_run
from tests.support.hashing import object_digests, sha256

BUCKET = "fitsense-test"
DEMO = Stage("demo", "raw/demo/{run_id}")


def staging_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("fitsense-s3-*"))


class S3Server:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def objects(self, prefix: str) -> dict[str, bytes]:
        client = self.client()
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        return {key[len(prefix) :]: client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    base = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = base / "moto.log"
    proc = spawn([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], log)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/", proc, log)
        server = S3Server(f"http://127.0.0.1:{port}")
        server.client().create_bucket(Bucket=BUCKET)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in server.env.items():
                patch.setenv(key, value)
            s3.reset_client()
            yield server
        s3.reset_client()
    finally:
        stop(proc)


def test_an_s3_root_is_chosen_by_its_spelling_and_names_objects_by_key() -> None:
    root = open_data_root("s3://bucket/runs/")
    assert isinstance(root, S3Root) and root.uri() == "s3://bucket/runs"
    assert root.uri("raw/demo/r1/users.parquet") == "s3://bucket/runs/raw/demo/r1/users.parquet"
    assert root.object_key("raw/x") == "runs/raw/x"
    assert root.scoped(files.TEACHER_CACHE).uri("ab/c.json") == f"s3://bucket/runs/{files.TEACHER_CACHE}/ab/c.json"
    assert open_data_root("s3://bucket").uri("a") == "s3://bucket/a"
    with pytest.raises(ValueError):
        root.uri("../other/x")
    with pytest.raises(DataRootError, match="expected s3://bucket"):
        S3Root.from_uri("s3:///no-bucket")
    assert isinstance(open_data_root("data"), LocalRoot) and open_data_root("data").uri() == str(
        Path("data").absolute()
    )
    lock = root.lock_path("locks/r1/queries.lock")
    assert lock.parts[-6:] == ("fitsense-locks", "bucket", "runs", "locks", "r1", "queries.lock")


def test_run_store_round_trips_verifies_and_names_corruption_on_s3(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # staging files go to a temporary directory of this test's own: other test sessions stage into /tmp meanwhile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    staged_before = staging_files()
    store = RunStore(f"s3://{BUCKET}/unit", "r1")
    stage = DEMO
    table_file, rows_file = StageFile(DEMO, "t.parquet"), StageFile(DEMO, "rows.jsonl")
    report_file = StageFile(DEMO, "report.json", in_reports=True)
    table = pa.table({"user_id": ["a", "b", "c"], "weight_kg": [70.5, 80.0, 65.2]})
    with store.writer(stage, fingerprint="f" * 64) as out:
        out.parquet(table_file, table)
        out.jsonl(rows_file, [{"k": 1}, {"k": 2}])
        out.json(report_file, {"ok": True})
    assert store.is_complete(stage)
    manifest = store.manifest(stage)
    assert set(manifest["files"]) == {"raw/demo/r1/t.parquet", "raw/demo/r1/rows.jsonl", "reports/r1/report.json"}
    objects = s3_server.objects("unit/")
    for rel, entry in manifest["files"].items():  # the manifest describes the uploaded bytes exactly
        assert sha256(objects[rel]) == entry["sha256"] and len(objects[rel]) == entry["bytes"]
    assert store.read_table(table_file).equals(table)
    assert store.read_jsonl(rows_file) == [{"k": 1}, {"k": 2}]
    assert store.read_json(report_file) == {"ok": True}
    assert staging_files() <= staged_before  # every local staging or download file was removed

    s3_server.client().put_object(Bucket=BUCKET, Key="unit/raw/demo/r1/rows.jsonl", Body=b'{"k": 3}\n')
    with pytest.raises(CorruptInputError, match=r"s3://fitsense-test/unit/raw/demo/r1/rows\.jsonl: checksum does not"):
        store.read_jsonl(rows_file)
    s3_server.client().delete_object(Bucket=BUCKET, Key="unit/raw/demo/r1/t.parquet")
    with pytest.raises(CorruptInputError, match="listed in the manifest of stage demo but missing"):
        store.read_table(table_file)


def test_a_failed_stage_leaves_no_manifest_on_s3(s3_server: S3Server) -> None:
    store = RunStore(f"s3://{BUCKET}/failed", "r1")
    stage = DEMO
    with pytest.raises(RuntimeError), store.writer(stage, fingerprint="f" * 64) as out:
        out.jsonl(StageFile(DEMO, "rows.jsonl"), [{"k": 1}])
        raise RuntimeError("killed mid-stage")
    assert not store.is_complete(stage)
    assert "raw/demo/r1/manifest.json" not in s3_server.objects("failed/")


def test_earlier_runs_are_found_on_s3(s3_server: S3Server) -> None:
    from fitsense_luigi.pipeline.history import previous_successful_run

    root = f"s3://{BUCKET}/history"
    finish_run(root, "2026-01-01", gate_passed=True)
    finish_run(root, "2026-01-02", gate_passed=False)
    assert list(open_data_root(root).subdirectories("reports")) == ["2026-01-01", "2026-01-02"]
    baseline, notes = previous_successful_run(RunStore(root, "2026-01-03"))
    assert baseline is not None and baseline.run_id == "2026-01-01" and notes == []


def test_teacher_cache_lives_on_s3(s3_server: S3Server) -> None:
    root = open_data_root(f"s3://{BUCKET}/cache-test").scoped(files.TEACHER_CACHE)
    cache = ResponseCache(root)
    completion = {"choices": [{"message": {"content": '{"plan": 1}'}, "finish_reason": "stop"}], "usage": {}}
    outcome = parse_completion(200, decode(json.dumps(completion).encode()))
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, outcome)
    assert cache.get("ab" * 32) == outcome
    entry = f"{files.TEACHER_CACHE}/ab/{'ab' * 32}.json"
    assert list(s3_server.objects("cache-test/")) == [entry]
    # a damaged entry is moved aside into quarantine/ (copy, then delete: S3 has no rename) and not served
    root.write_bytes(f"ab/{'ab' * 32}.json", b'{"format": 2, "outcome": "lots"}')
    assert cache.get("ab" * 32) is None and cache.quarantined == 1
    (moved,) = s3_server.objects("cache-test/")
    assert moved.startswith(f"{files.TEACHER_CACHE}/quarantine/{'ab' * 32}.json.")


def test_pipeline_on_an_s3_root_matches_the_local_run_and_reruns_nothing(
    s3_server: S3Server, built_run: Any, run_id: str, tmp_path: Path
) -> None:
    env = worker_env(tmp_path, f"s3://{BUCKET}/runs", built_run.params, s3_server.env)
    first = run(launch_command(run_id, "--local-scheduler", "--workers", "2"), env)
    assert first.returncode == 0, first.stderr[-4000:]
    objects = s3_server.objects("runs/")

    local = data_digests(built_run.data_root, run_id)
    assert object_digests(objects, run_id, every_file=True, shards=False) == local and len(local) > 25
    logs = [key for key in objects if layout.matches(key, layout.run_logs_glob(run_id))]
    assert logs and all(objects[key].strip() for key in logs)
    assert any(b"building teacher_shard_000" in objects[key] for key in logs)

    again = run(launch_command(run_id, "--local-scheduler"), env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert built_lines(again.stderr) == []
    manifests = {key: body for key, body in s3_server.objects("runs/").items() if layout.is_manifest(key)}
    assert manifests == {key: body for key, body in objects.items() if layout.is_manifest(key)}
    assert len(manifests) == len(stages.STAGES) - 1 + 2  # every stage, the teacher's once per shard


@pytest.mark.parametrize("problem", ["missing bucket", "unreachable endpoint"])
def test_a_bad_s3_root_fails_in_one_line_and_creates_nothing(
    s3_server: S3Server, built_run: Any, run_id: str, tmp_path: Path, problem: str
) -> None:
    if problem == "missing bucket":
        root, extra, expected = "s3://no-such-bucket/bad-root", s3_server.env, "bucket 'no-such-bucket' does not exist"
    else:
        closed = f"http://127.0.0.1:{free_port()}"
        root, extra, expected = f"s3://{BUCKET}/bad-root", {**s3_server.env, "AWS_ENDPOINT_URL": closed}, closed
    result = run(launch_command(run_id, "--local-scheduler"), worker_env(tmp_path, root, built_run.params, extra))
    assert result.returncode == 40
    errors = [line for line in result.stderr.splitlines() if "DataRootError" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert [b["Name"] for b in s3_server.client().list_buckets()["Buckets"]] == [BUCKET]
    assert s3_server.objects("bad-root/") == {}


def test_the_endpoint_can_come_from_luigi_cfg(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """luigi's [s3] section (what luigi.contrib.s3 reads) instead of AWS_ENDPOINT_URL."""
    from luigi.configuration import get_config

    config = get_config()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    if not config.has_section("s3"):
        config.add_section("s3")
    monkeypatch.setattr(s3, "_client", {})
    try:
        config.set("s3", "endpoint_url", s3_server.endpoint)
        store = RunStore(f"s3://{BUCKET}/from-cfg", "r1")
        with store.writer(DEMO, fingerprint="f" * 64) as out:
            out.json(StageFile(DEMO, "x.json"), {"via": "luigi.cfg"})
        assert store.read_json(StageFile(DEMO, "x.json")) == {"via": "luigi.cfg"}
    finally:
        config.remove_option("s3", "endpoint_url")
    assert "from-cfg/raw/demo/r1/manifest.json" in s3_server.objects("")
