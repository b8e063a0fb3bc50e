"""A finished stage's file changed behind the pipeline's back is caught by name, never read."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from fitsense_luigi.contracts import files, stages
from tests.reliability.run_checks import downstream_manifests
from tests.support import layout
from tests.support.harness import BuiltRun, run_luigi
from tests.support.hashing import restamp
from tests.support.teacher import WITH_KEY, assert_no_secret


def flip_a_byte(path: Path) -> Path:
    """``path`` with one byte changed (bit rot, or an edit behind the pipeline's back)."""
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_truncated_file_is_named_and_not_read(run_copy: BuiltRun) -> None:
    queries = run_copy.files.path(files.QUERIES)
    queries.write_bytes(queries.read_bytes()[: queries.stat().st_size // 2])
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert result.returncode == 30
    assert f"CorruptInputError: {queries}: checksum does not match the manifest of stage queries" in result.output
    assert "Traceback" not in result.output
    assert not run_copy.files.manifest(stages.TEACHER).exists()
    assert_no_secret([run_copy.data_root], [result.output])


def forget_the_queries(run: BuiltRun) -> None:
    """Forget the queries stage (its plan and shards too), so that the rerun reads the world again."""
    for stage in (stages.QUERY_PLAN, stages.QUERIES_SHARD, stages.QUERIES):
        for manifest in run.data_root.glob(layout.manifest_glob(stage, run.run_id)):
            manifest.unlink()


def test_altered_table_is_caught(run_copy: BuiltRun) -> None:
    table = flip_a_byte(run_copy.files.table("users"))
    forget_the_queries(run_copy)
    result = run_luigi("GenerateQueries", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert result.returncode == 30
    assert f"{table}: checksum does not match" in result.output
    assert_no_secret([run_copy.data_root], [result.output])


def test_malformed_row_is_reported_with_file_and_line(run_copy: BuiltRun) -> None:
    """A writer bug upstream (bad row, matching checksum) is reported as file:line."""
    lines = run_copy.files.path(files.QUERIES).read_text().splitlines()
    lines[2] = "{this is not json"
    queries = restamp(run_copy.files, files.QUERIES, ("\n".join(lines) + "\n").encode())
    downstream_manifests(run_copy.data_root, run_copy.run_id)
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert result.returncode == 30
    assert f"MalformedInputError: {queries}:3: not a JSON object" in result.output
    assert_no_secret([run_copy.data_root], [result.output])


def test_undecodable_parquet_with_a_matching_checksum_is_named(run_copy: BuiltRun) -> None:
    data = bytearray(run_copy.files.table("user_profiles").read_bytes())
    footer = struct.unpack("<i", data[-8:-4])[0] + 8
    data[4 : len(data) - footer] = bytes(len(data) - footer - 4)  # every page zeroed; magic and footer kept
    table = restamp(run_copy.files, layout.table("user_profiles"), bytes(data))
    forget_the_queries(run_copy)
    result = run_luigi("GenerateQueries", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert result.returncode == 30
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    # every task that reads the file says so in one line (the query plan, and the workouts stage whose input changed)
    assert errors and all(f"MalformedInputError: {table}: cannot read this Parquet file" in e for e in errors), errors
    assert "Traceback" not in result.output
    assert not run_copy.files.manifest(stages.QUERIES).exists()
    assert_no_secret([run_copy.data_root], [result.output])


def test_unreadable_manifest_of_an_input_stage_is_named(run_copy: BuiltRun) -> None:
    manifest = run_copy.files.manifest(stages.PROFILES)
    manifest.write_text('{"stage": "profiles", "files": {')  # cut off
    forget_the_queries(run_copy)
    result = run_luigi("GenerateQueries", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert result.returncode == 30
    assert f"CorruptInputError: {manifest}: manifest is not valid JSON; delete it to rebuild stage profiles" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert_no_secret([run_copy.data_root], [result.output])


def test_damaged_run_record_stops_the_run_before_any_work(run_copy: BuiltRun, write_params) -> None:
    """phase1_bootstrap.json holds the config fingerprint: unchecked, a changed config would mix into the run."""
    record = run_copy.files.path(files.BOOTSTRAP_RECORD)
    record.write_text(record.read_text().replace('"config_fingerprint": "', '"config_fingerprint": "0'))
    run_copy.files.manifest(stages.DATASET).unlink()
    before = {p: p.read_bytes() for p in run_copy.data_root.rglob("*.jsonl")}
    changed = write_params({"dataset": {"near_duplicate_jaccard": 0.8}})
    result = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, changed, env=WITH_KEY)
    assert result.returncode == 40  # found before scheduling
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"CorruptInputError: {record}: checksum does not match" in errors[0], errors
    assert "use a new --run-id" in errors[0] and "Traceback" not in result.output
    assert {p: p.read_bytes() for p in run_copy.data_root.rglob("*.jsonl")} == before
    assert_no_secret([run_copy.data_root], [result.output])


def test_the_printed_remedy_for_a_damaged_table_works_when_followed(run_copy: BuiltRun) -> None:
    """Issue 19, defect 6: the error said to delete the stage's manifest; doing so and rerunning BiasSlicing gave
    FileNotFoundError tracebacks three times, since downstream stages were "complete" on an input that was gone.
    Now a stage is complete only while every stage it was built from still has the manifest it was built from."""
    table = flip_a_byte(run_copy.files.table("workouts"))
    damaged = table.read_bytes()
    forget_the_queries(run_copy)
    failed = run_luigi("GenerateQueries", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert failed.returncode == 30, (failed.returncode, failed.output[-3000:])
    advice = re.search(r"delete (\S+) to rebuild it", failed.output)
    assert advice and f"{table}: checksum does not match" in failed.output, (str(table), failed.output[-3000:])
    Path(advice[1]).unlink()  # the remedy, as printed
    fixed = run_luigi("BiasSlicing", run_copy.run_id, run_copy.data_root, run_copy.params, env=WITH_KEY)
    assert fixed.returncode == 0, fixed.output[-3000:]
    assert "Traceback" not in fixed.output and "FileNotFoundError" not in fixed.output
    assert table.read_bytes() != damaged, "the damaged table was built again"
    for stage in (stages.WORKOUTS, stages.QUERIES, stages.TEACHER, stages.DATASET, stages.BIAS):
        assert run_copy.files.manifest(stage).is_file()
    assert_no_secret([run_copy.data_root], [failed.output, fixed.output])
