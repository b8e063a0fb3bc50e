"""DetectAnomalies: what is odd about this run's data, and how it moved since the last good run (:func:`detect`).

Modules: :mod:`detection` raises the alerts; :mod:`drift` measures feature and schema drift between two runs'
statistics; :mod:`baseline` is the previous successful run they are compared with.
"""

from fitsense_luigi.quality.anomalies.detection import detect

__all__ = ["detect"]
