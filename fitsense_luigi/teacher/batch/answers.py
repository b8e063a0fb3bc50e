"""The provider the stage sees in batch mode: it never sends, it says what the batches said.

Batch answers reach the stage through the cache, so a query is resolved
exactly as online (:meth:`StageRun.resolve`: cache lookup, extraction and
checks, re-asks) and only a request that no cache entry answers comes here.
Either a finished batch failed it for good (a 4xx line, or no answer after
``teacher.batch.max_submissions`` submissions): then its failure is the
outcome, judged like an online failure (a 400 naming the response format
moves the negotiation down, a 401/404 stops the stage, a storm trips the
breaker); or it raises :class:`AwaitingBatch`, and the request goes into the
next batch.
"""

from __future__ import annotations

import dataclasses

from fitsense_luigi.teacher.batch.wire import request_digest
from fitsense_luigi.teacher.types import TeacherOutcome, TeacherRequest


class AwaitingBatch(Exception):
    """No batch has answered ``request`` yet: it belongs in the next one."""

    def __init__(self, request: TeacherRequest) -> None:
        super().__init__("awaiting a batch")
        self.request = request


class BatchAnswers:
    name = "openai_batch"
    cacheable = True
    remote = False  # nothing leaves the host from here: the batch client does the sending
    endpoint = True  # what the batches said is what the endpoint said: the breaker judges it as online

    def __init__(self) -> None:
        self.failures: dict[str, TeacherOutcome] = {}  # request digest -> the failure that ends it

    def complete(self, request: TeacherRequest) -> TeacherOutcome:
        failure = self.failures.get(request_digest(request))
        if failure is None:
            raise AwaitingBatch(request)
        return dataclasses.replace(failure)

    def close(self) -> None:
        return None
