"""Batch mode of the teacher stage (``teacher.provider: openai_batch``): half the price, answers within hours.

* :mod:`.wire`: the Batch API's request and result lines (OpenAI and ``vllm run-batch``);
* :mod:`.client`: files and batches over HTTP (upload, create, poll, list, download);
* :mod:`.registry`: every submission recorded under the data root before it is sent or polled;
* :mod:`.answers`: the provider the stage sees: what the batches said, or "awaiting a batch";
* :mod:`.rounds`: the stage in rounds (resolve through the cache, submit, poll, collect);
* :mod:`.files`: offline batch files (export the pending requests, import a results file);
* :mod:`.report`: a run's batches and what they cost, for the stage's ``batches.json``.

Batch answers take the online path from the cache on: the same extraction,
checks, re-asks and response rows.
"""
