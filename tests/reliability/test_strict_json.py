"""Issue 19, defect 4: manifests and summaries were written with ``NaN`` / ``Infinity``, which strict JSON parsers
(jq, JavaScript, Go, DuckDB) reject. Every file is strict JSON now, and a non-finite number is refused by name."""

from __future__ import annotations

import json
import math

import pytest

from fitsense_luigi.contracts.encoding import dumps_document, dumps_row
from tests.support.harness import BuiltRun


def strict_loads(text: str) -> object:
    """RFC 8259 JSON: NaN, Infinity and -Infinity are not numbers (Python's json accepts them by default)."""

    def refuse(name: str) -> object:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_every_json_file_of_a_run_is_strict_json(built_run: BuiltRun) -> None:
    checked = 0
    for path in sorted(built_run.data_root.rglob("*.json*")):
        if path.suffix == ".json":
            strict_loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                strict_loads(line)
        else:
            continue
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("dumps", [dumps_row, dumps_document])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused_naming_its_key(dumps, value) -> None:
    with pytest.raises(ValueError, match=r"^summary\.shares\[1\] is (nan|inf|-inf), which JSON cannot hold$"):
        dumps({"summary": {"shares": [0.5, value]}})
