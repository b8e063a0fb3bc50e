"""ValidateData: every check with its counts and examples (:func:`validate_run`).

Modules: :mod:`validation` runs and summarises the checks; :mod:`tablecheck` (keys, types, not-null),
:mod:`ranges` (plausible values and vocabularies), :mod:`rules` (the schema's implied rules),
:mod:`record_schema` (JSON Schema of every record and plan), :mod:`realism_checks` (published figures),
:mod:`split_integrity` (no user leaks between splits, ratios hold).
"""

from fitsense_luigi.quality.validate.validation import CATEGORY_ORDER, summarise, validate_run

__all__ = ["CATEGORY_ORDER", "summarise", "validate_run"]
