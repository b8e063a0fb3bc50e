"""What the tests share, imported one way (``from tests.support.<module> import ...``); fixtures stay in conftest.py.

* ``layout``: where a run's files live under a data root, built from ``fitsense_luigi.contracts`` (stages
  and files); the only module of the tests that knows the layout, and it spells no file name itself;
* ``params``: the one params builder (the shipped params.yaml, the small test scale, overrides);
* ``harness``: the `luigi` command as users run it, and a finished small run;
* ``hashing``: which files are a run's data, their sha256, how two runs differ;
* ``teacher``: the one fake OpenAI-compatible teacher (scripted answers, latency, storms, holds, accounting);
* ``batch_api``: the loopback Batch API beside it (files, batches, their course, lost lines, line errors,
  expiry, cancellation, accounting) and vLLM's offline runner (``run_batch``).
"""
