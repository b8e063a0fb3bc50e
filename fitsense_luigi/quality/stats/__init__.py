"""ComputeStats: per table and per split feature statistics (:func:`compute_stats`).

Modules: :mod:`report` assembles the report; :mod:`world_stats` reads the world's tables out of core;
:mod:`feature_stats` computes a feature's statistics; :mod:`features` flattens distillation records into a
feature table.
"""

from fitsense_luigi.quality.stats.report import compute_stats

__all__ = ["compute_stats"]
