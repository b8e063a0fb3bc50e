"""What crosses a stage boundary, defined once.

Producers and consumers of a stage's files meet here instead of agreeing by
habit on string keys and file names:

* :mod:`.stages`   the stage registry: where each task writes (run-scoped directory, manifest);
* :mod:`.files`    every file a stage writes, bound to its stage (``files.QUERIES`` is queries.jsonl
                   of the queries stage), so no other module spells a file name;
* :mod:`.rows`     typed row shapes (TypedDict): a query, its context summary, a teacher response,
                   a distillation record, a rejected row;
* :mod:`.manifest` the manifest and the run's bootstrap record, and the summary keys others read;
* :mod:`.splits`   the split names;
* :mod:`.progress` the progress callback that long domain functions accept;
* :mod:`.encoding` how rows and documents are written as JSON (byte for byte);
* :mod:`.world`    the one reader of the synthetic world's tables (Parquet files or memory);
* :mod:`.dataroot` the protocol of a data root (local directory or S3) that domain code may be handed.

Nothing here imports the runtime (``fitsense_luigi.pipeline``), luigi or a
domain package; ``make lint`` (import-linter) holds that.
"""
