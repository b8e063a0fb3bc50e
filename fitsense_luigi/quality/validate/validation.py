"""ValidateData: is every table loadable, every record well-formed, the world realistic, every split clean?

The report lists every check (category, pass/fail, severity, how many rows were
looked at, how many broke the rule, a few of them). ``valid`` is false when any
check of severity ``error`` fails; ``warning`` checks are shown but do not count.
The verdict is enforced at the end of the run (see :mod:`fitsense_luigi.quality.publish.gate`),
after the other reports and the HTML report exist, so a failing run still
explains itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from fitsense_luigi.config import Config
from fitsense_luigi.contracts.world import World
from fitsense_luigi.quality.validate.ranges import range_checks
from fitsense_luigi.quality.validate.realism_checks import realism_checks
from fitsense_luigi.quality.validate.record_schema import record_checks
from fitsense_luigi.quality.validate.rules import implied_rules
from fitsense_luigi.quality.validate.split_integrity import split_checks
from fitsense_luigi.quality.validate.tablecheck import table_checks

CATEGORY_ORDER = (
    "not null",
    "primary key",
    "unique",
    "foreign key",
    "value range",
    "vocabulary",
    "implied rule",
    "record schema",
    "realism",
    "split",
)


def validate_run(
    config: Config,
    world: World,
    dataset: dict[str, list[dict[str, Any]]],
    realism: Any,
    as_of: dt.date,
) -> dict[str, Any]:
    checks = table_checks(world) + range_checks(world) + implied_rules(world, as_of, config.world.lookback_days)
    checks += record_checks(dataset) + realism_checks(config, realism) + split_checks(config, dataset)
    return summarise(checks)


def summarise(checks: list[dict[str, Any]]) -> dict[str, Any]:
    errors = [c for c in checks if not c["passed"] and c["severity"] == "error"]
    warnings = [c for c in checks if not c["passed"] and c["severity"] != "error"]
    totals: Counter[str] = Counter(c["category"] for c in checks)
    failed: Counter[str] = Counter(c["category"] for c in errors + warnings)
    order = {name: k for k, name in enumerate(CATEGORY_ORDER)}
    categories = sorted(totals, key=lambda c: (order.get(c, len(order)), c))
    return {
        "valid": not errors,
        "num_checks": len(checks),
        "num_errors": len(errors),
        "num_warnings": len(warnings),
        "failed_checks": [c["check"] for c in errors],
        "warning_checks": [c["check"] for c in warnings],
        "categories": {c: {"checks": totals[c], "failed": failed[c]} for c in categories},
        "checks": checks,
    }
