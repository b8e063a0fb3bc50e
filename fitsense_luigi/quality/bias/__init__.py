"""BiasSlicing: is any group of users served worse than the others (:func:`slice_report`)?

Modules: :mod:`slicing` builds the slices and judges them; :mod:`significance` holds the statistics
(bootstrap intervals, rank and contingency tests, false discovery rate control).
"""

from fitsense_luigi.quality.bias.slicing import prescription, slice_report

__all__ = ["prescription", "slice_report"]
