"""What a data root holds after a fault: leftovers and broken stages; and a way to damage one.

Shared by the reliability tests (``fault_harness`` runs the pipeline and kills it; this module looks at the result).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from fitsense_luigi.contracts import stages
from tests.support import layout
from tests.support.hashing import sha256

TEMPORARY = re.compile(r"^\.(?P<final>.+)\.tmp-\d+-[0-9a-f]+$")


# ------------------------------------------------------------------ what a data root holds


def temporaries(root: Path) -> list[str]:
    """Final paths (relative to ``root``) of every temporary file under it."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            match = TEMPORARY.match(name)
            if match:
                found.append(os.path.relpath(os.path.join(directory, match["final"]), root))
    return found


def manifest_problems(root: Path) -> list[str]:
    """Every stage manifest under ``root`` that lists a file which is missing or differs from its checksum."""
    problems = []
    for manifest in layout.manifest_paths(root):
        try:
            listed = json.loads(manifest.read_text())["files"]
        except (ValueError, KeyError) as exc:
            problems.append(f"{manifest}: unreadable ({exc})")
            continue
        for relative, entry in listed.items():
            path = root / relative
            if not path.is_file():
                problems.append(f"{manifest}: {relative} is missing")
            elif sha256(path) != entry["sha256"]:
                problems.append(f"{manifest}: {relative} does not match its checksum")
    return problems


# ------------------------------------------------------------------ damaging a finished run


def downstream_manifests(root: Path, run_id: str) -> None:
    """Forget every stage after the queries, so that the rerun has to read the queries again."""
    for stage in stages.STAGES[stages.STAGES.index(stages.QUERIES) + 1 :]:
        for path in root.glob(layout.manifest_glob(stage, run_id)):
            path.unlink()
