"""The quality gate's four tasks and its publication, one subpackage each.

- :mod:`validate` (ValidateData): tables loadable, rules and ranges kept, records well-formed, the world
  realistic, splits clean;
- :mod:`stats` (ComputeStats): per table and per split feature statistics;
- :mod:`anomalies` (DetectAnomalies): duplicates, losses, outliers, split imbalance, drift against the last
  good run;
- :mod:`bias` (BiasSlicing): is any group of users served worse;
- :mod:`publish`: the gate's verdict, charts and ``report.html``, and the gate's enforcement.

Each subpackage's ``__init__`` names the entry point its task calls. The quality stages read the app tables
through :mod:`fitsense_luigi.contracts.world`.
"""
