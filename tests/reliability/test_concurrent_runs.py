"""Two invocations of the same run at once (no luigid): one builds each stage, the other waits."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import LUIGI, REPO, luigi_env
from tests.test_pipeline import data_files


def test_two_invocations_build_each_stage_once(tmp_path: Path, write_params) -> None:
    params = write_params()
    root = tmp_path / "data"
    env = luigi_env(root, params)
    base = [LUIGI, "--module", "fitsense_luigi", "BiasSlicing", "--local-scheduler", "--run-id", "2026-02-17"]
    # different command lines, so Luigi's pid lock does not serialise them
    procs = [
        subprocess.Popen(base + extra, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for extra in ([], ["--workers", "2"])
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    built = re.findall(r"fitsense\.tasks\[\d+\]: \w+: building (\w+) for run", "".join(outputs))
    assert sorted(built) == sorted(set(built)), "a stage was built twice"
    assert {"bias", "teacher_shard_000", "teacher_shard_001"} <= set(built)

    single = tmp_path / "single"
    one = subprocess.run(base, cwd=REPO, env=luigi_env(single, params), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0
    assert data_files(root) == data_files(single)
