"""Issue 19: hostile input through the `luigi` command, each case refused in one line (exit 40) or run as meant.

Every case reproduces a defect of the issue against main before the fix: huge numbers the kernel killed the run
for, an alias bomb that cost gigabytes before the error, whole-number floats that crashed after minutes, NaN and
infinity that passed every range check, a FIFO or /dev/zero as params file, impossible dates, a run id with a
trailing newline, a key that cannot travel in a header, ``~`` in the data root, symlinks planted under it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fitsense_luigi.contracts import stages
from tests.support import params as test_params
from tests.support.harness import REPO, RUN_ID, luigi_command, luigi_env, run_luigi
from tests.support.layout import RunFiles, manifest_paths
from tests.support.teacher import KEY_ENV, TEST_KEY

BAD_INPUT = 40  # luigi.cfg [retcode] invalid input... before scheduling


def refused(result, *expected: str) -> list[str]:
    """The run was refused before any task, in one error line per problem, with no traceback."""
    assert result.returncode == BAD_INPUT, result.output[-3000:]
    assert "Traceback" not in result.output and "--- Logging error ---" not in result.output
    errors = [line for line in result.output.splitlines() if " ERROR " in line]
    for text in expected:
        assert any(text in line for line in errors), (text, errors)
    return errors


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ------------------------------------------------------------------ 3, 4: bounds, strict numbers


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"world": {"users": 10**12}}, "world.users"),  # the kernel killed the run at 23.5 GB
        ({"world": {"users": 200.0}}, "world.users"),  # TypeError traceback after 248 s
        ({"teacher": {"shards": 4.0}}, "teacher.shards"),  # luigi error in deps(), then an idle worker
        ({"queries": {"template_version": "v" * 5000}}, "queries.template_version"),
        ({"quality": {"bias": {"alpha": float("nan")}}}, "quality.bias.alpha"),  # silently turned an alert off
        ({"teacher": {"mock": {"flaw_rate": float("nan")}}}, "teacher.mock.flaw_rate"),  # 100% flawed answers
        ({"teacher": {"timeouts": {"read_s": float("inf")}}}, "teacher.timeouts.read_s"),  # OverflowError
        ({"run": {"as_of_date": "2026-02-30"}}, "run.as_of_date"),  # ValueError traceback
        ({"run": {"as_of_date": "0001-01-01"}}, "0001-01-01"),  # crashed GenerateQueries
    ],
    ids=[
        "users-1e12",
        "users-200.0",
        "shards-4.0",
        "long-template",
        "alpha-nan",
        "flaw-nan",
        "read-inf",
        "feb-30",
        "year-1",
    ],
)
def test_a_value_out_of_bounds_or_of_the_wrong_kind_is_refused_in_one_line(tmp_path, overrides, expected):
    params = test_params.write_params(tmp_path / "params.yaml", overrides)
    result = run_luigi("BiasSlicing", RUN_ID, tmp_path / "data", params, timeout=60)
    refused(result, expected)
    assert not manifest_paths(tmp_path / "data"), "nothing is recorded for a bad config"


def test_a_refused_whole_number_float_leaves_the_run_id_free_for_the_fixed_config(tmp_path):
    """Defect 4: once the TypeError was fixed, the run id was refused because the bad config was recorded."""
    data_root = tmp_path / "data"
    bad = test_params.write_params(tmp_path / "params.yaml", {"world": {"users": 200.0}})
    refused(run_luigi("Bootstrap", RUN_ID, data_root, bad, timeout=60), "world.users")
    good = test_params.write_params(tmp_path / "params.yaml", {"world": {"users": 200}})
    result = run_luigi("Bootstrap", RUN_ID, data_root, good, timeout=60)
    assert result.returncode == 0, result.output[-3000:]


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    """Defect 3: a billion-laughs value of world.users cost 50 s and 6.2 GB before the error."""
    text = test_params.DEFAULT_PARAMS.read_text()
    bomb = "\n".join(
        ["bomb:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [f"  {chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    )
    params = write_yaml(tmp_path / "params.yaml", bomb + "\n" + text.replace("users: 200", "users: *i", 1))
    result = run_luigi("BiasSlicing", RUN_ID, tmp_path / "data", params, timeout=60)
    refused(result, "alias *a is not allowed")


@pytest.mark.parametrize("kind", ["comments-2MB", "fifo", "dev-zero"])
def test_a_params_file_that_is_huge_or_not_a_file_is_refused_by_type_and_size(tmp_path, kind):
    """Defect 3 and 11: 50 MB of comments parsed in 18 s each time; a FIFO blocked for ever; /dev/zero gave a
    MemoryError. Now the file is checked by type and size before it is read."""
    if kind == "fifo":
        params = tmp_path / "params.yaml"
        os.mkfifo(params)
        expected = "params path is a FIFO"
    elif kind == "dev-zero":
        params = Path("/dev/zero")
        expected = "params path is a character device"
    else:
        params = write_yaml(tmp_path / "params.yaml", ("# " + "x" * 98 + "\n") * 20_000)
        expected = "more than the 1048576 a params file may have"
    result = run_luigi("BiasSlicing", RUN_ID, tmp_path / "data", params, timeout=60)
    refused(result, expected)


# ------------------------------------------------------------------ 10, 11: run ids, keys, ~


def test_a_run_id_with_a_trailing_newline_is_refused(tmp_path):
    """Defect 10: ``$`` in the pattern let ``nl\\n`` through and made directories named ``nl\\n``."""
    params = test_params.write_params(tmp_path / "params.yaml")
    result = run_luigi("Bootstrap", "nl\n", tmp_path / "data", params, timeout=60)
    refused(result, "bad run id 'nl\\n'")
    assert not any((tmp_path / "data").rglob("nl*"))


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (TEST_KEY + "\r", None),  # stripped: a line ending around the key is not part of it
        (TEST_KEY[:10] + "\r\n" + TEST_KEY[10:], "holds a control character (CR at position 11)"),
        (TEST_KEY[:5] + "\u2013" + TEST_KEY[5:], "holds a character HTTP headers cannot carry (U+2013 at position 6)"),
    ],
    ids=["trailing-crlf", "crlf-inside", "en-dash"],
)
def test_a_key_that_cannot_travel_in_a_header_is_refused_before_the_first_request(tmp_path, key, expected):
    """Defect 11: a key holding CRLF was retried as a transient failure for 4 minutes; a non-Latin-1 key gave 12
    UnicodeEncodeError tracebacks. Now it is refused before any request, in one line that never shows the key."""
    overrides = {
        "teacher": {"provider": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "api_key_env": KEY_ENV}
    }
    params = test_params.write_params(tmp_path / "params.yaml", overrides)
    result = run_luigi("Bootstrap", RUN_ID, tmp_path / "data", params, env={KEY_ENV: key}, timeout=60)
    if expected is None:
        assert result.returncode == 0, result.output[-3000:]
        return
    errors = refused(result, f"${KEY_ENV} {expected}")
    assert len(errors) == 1 and TEST_KEY[:10] not in result.output


def test_a_data_root_under_home_is_expanded(tmp_path):
    """Defect 11: ``data_root: ~/x`` made a literal ``./~`` in the working directory."""
    params = test_params.write_params(tmp_path / "params.yaml", {"run": {"data_root": "~/fitsense-data"}})
    env = luigi_env(tmp_path / "unused", params, {"HOME": str(tmp_path / "home")})
    del env["FITSENSE_DATA_ROOT"]
    proc = subprocess.run(
        luigi_command("Bootstrap", RUN_ID), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert RunFiles(tmp_path / "home" / "fitsense-data", RUN_ID).manifest(stages.BOOTSTRAP).is_file()
    assert not (REPO / "~").exists()


# ------------------------------------------------------------------ 9: symlinks under the data root


def test_a_run_log_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    """Defect 9: ``reports/R/run.log`` as a symlink made the pipeline append to its target."""
    params = test_params.write_params(tmp_path / "params.yaml")
    data_root = tmp_path / "data"
    run = RunFiles(data_root, RUN_ID)
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    run.run_log.parent.mkdir(parents=True)
    run.run_log.symlink_to(target)
    result = run_luigi("Bootstrap", RUN_ID, data_root, params, timeout=60)
    assert result.returncode != 0
    assert f"{run.run_log} is a symbolic link (to {target})" in result.output
    assert "Traceback" not in result.output
    assert target.read_text() == "precious\n"


def test_a_dangling_lock_symlink_creates_nothing_where_it_points(tmp_path):
    """Defect 9: a dangling lock symlink created a file wherever it pointed."""
    params = test_params.write_params(tmp_path / "params.yaml")
    data_root = tmp_path / "data"
    first = run_luigi("Bootstrap", RUN_ID, data_root, params, timeout=60)
    assert first.returncode == 0, first.output[-3000:]
    lock = next(data_root.rglob(f"{stages.BOOTSTRAP.name}.lock"))
    victim = tmp_path / "planted-by-the-link"
    lock.unlink()
    lock.symlink_to(victim)
    RunFiles(data_root, RUN_ID).manifest(stages.BOOTSTRAP).unlink()
    result = run_luigi("Bootstrap", RUN_ID, data_root, params, timeout=60)
    assert result.returncode != 0
    assert f"{lock} is a symbolic link" in result.output and "Traceback" not in result.output
    assert not victim.exists()
