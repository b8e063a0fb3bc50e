"""The stage registry: where each task writes.

A stage is a run-scoped directory under the data root, complete when its
manifest exists (the manifest is written last). The quality stages share the
run's reports directory and keep their manifests under ``manifests/``. The
files each stage writes are in :mod:`fitsense_luigi.contracts.files`.
"""

from __future__ import annotations

from dataclasses import dataclass

REPORTS_ROOT = "reports"  # one directory per run id below it
REPORTS_DIR = REPORTS_ROOT + "/{run_id}"


@dataclass(frozen=True)
class Stage:
    """Where one task writes: a run-scoped directory and the manifest that closes it."""

    name: str
    directory: str  # relative to the data root; may use {run_id} and {shard}
    manifest_name: str = "manifest.json"

    def sharded(self, shard: int) -> Stage:
        return Stage(f"{self.name}_{shard:03d}", self.directory.replace("{shard}", f"{shard:03d}"))

    def directory_of(self, run_id: str) -> str:
        return self.directory.format(run_id=run_id)


def _report_stage(name: str) -> Stage:
    return Stage(name, REPORTS_DIR, f"manifests/{name}.json")


BOOTSTRAP = _report_stage("bootstrap")
PROFILES = Stage("profiles", "raw/synthetic_profiles/{run_id}")
WORKOUTS = Stage("workouts", "raw/synthetic_workouts/{run_id}")
QUERIES = Stage("queries", "raw/synthetic_queries/{run_id}")
# A world part (a fixed range of users, ``contracts.world_parts``) is written inside its stage's directory;
# the stage's manifest then lists the parts' files, so readers of the world see one stage.
PROFILES_PART = Stage("profiles_part", PROFILES.directory + "/parts/{shard}")
WORKOUTS_PART = Stage("workouts_part", WORKOUTS.directory + "/parts/{shard}")
QUERY_PLAN = Stage("query_plan", QUERIES.directory + "/plan")  # who asks what, drawn once from everyone
QUERIES_SHARD = Stage("queries_shard", QUERIES.directory + "/shards/{shard}")  # the queries of one world part
TEACHER_SHARD = Stage("teacher_shard", "raw/teacher_outputs/{run_id}/shards/{shard}")
TEACHER = Stage("teacher", "raw/teacher_outputs/{run_id}")
DATASET = Stage("dataset", "raw/distillation_dataset/{run_id}")
VALIDATION = _report_stage("validation")
STATS = _report_stage("stats")
ANOMALIES = _report_stage("anomalies")
BIAS = _report_stage("bias")

# Outside the chain (EvaluateStudent): a student endpoint scored on the run's test split, one report per student name.
EVALUATION_DIR = REPORTS_DIR + "/evaluation/{name}"


def evaluation(name: str) -> Stage:
    return Stage(f"evaluation_{name}", EVALUATION_DIR.replace("{name}", name))


# In pipeline order; a sharded stage (teacher shard, world part, query shard) stands for its shards (``.sharded(k)``).
STAGES = (
    BOOTSTRAP,
    PROFILES_PART,
    PROFILES,
    WORKOUTS_PART,
    WORKOUTS,
    QUERY_PLAN,
    QUERIES_SHARD,
    QUERIES,
    TEACHER_SHARD,
    TEACHER,
    DATASET,
    VALIDATION,
    STATS,
    ANOMALIES,
    BIAS,
)
BY_NAME = {stage.name: stage for stage in STAGES}
PARTS_OF = {PROFILES: PROFILES_PART, WORKOUTS: WORKOUTS_PART}  # a world stage -> the stage of each of its parts


def stage_named(name: str) -> Stage:
    """The stage a manifest's ``inputs`` names: a registered stage, or a shard of one (``teacher_shard_003``)."""
    if name in BY_NAME:
        return BY_NAME[name]
    base, _, shard = name.rpartition("_")
    if base in BY_NAME and shard.isdigit():
        return BY_NAME[base].sharded(int(shard))
    raise KeyError(name)
