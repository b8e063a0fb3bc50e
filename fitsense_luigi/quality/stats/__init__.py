"""ComputeStats: per table and per split feature statistics (:func:`compute_stats`).

Modules: :mod:`feature_stats` computes them; :mod:`features` flattens distillation records into a feature table.
"""

from fitsense_luigi.quality.stats.feature_stats import compute_stats

__all__ = ["compute_stats"]
