"""The Luigi runtime: everything that knows about luigi, runs, data roots and processes.

    tasks.py            the whole DAG, thin: read inputs, call one domain function, write outputs
    runs.py             opening a run: config, data root, as-of date, fingerprint, the guard against reuse
    identity.py         run ids, the as-of date they stand for, the config fingerprint
    bootstrap.py        the run's record (phase1_bootstrap.json)
    store.py            one run's files: atomic writes, manifests written last, verified reads
    roots/              data roots behind one protocol: a local directory, or S3
    history.py          earlier runs under the data root (the baseline for drift)
    locks.py            one builder per stage (flock)
    logs.py             one log format, to stderr and the run log
    luigi_internals.py  the one module that relies on luigi's private API
    launcher.py         ``python -m fitsense_luigi``: luigi's command with run-level exit codes
    scheduler.py        ``python -m fitsense_luigi.scheduler``: luigid with its state beside the data
    sqlite.py           ``python -m fitsense_luigi.pipeline.sqlite``: a run's tables loaded into SQLite

Domain packages (synth, queries, teacher, dataset, quality) never import this
package; they receive what they need (config, tables, rows, a data root) from it.
"""
