"""Every batch submission, recorded durably under the data root before anything is sent or polled.

A *submission* is one input file of requests that becomes one batch. It
lives in ``<data_root>/cache/teacher/batches/<submission>/`` beside the answer
cache it fills (a request's line names its cache key), shared like the cache
by every run and shard under the data root, so that no request is in two
batches at once whoever asks for it. Its records are written in order, each
atomically and fsync'ed before the next step:

``input.jsonl``
    the exact file that is uploaded;
``intent.record``
    run id, endpoint, model, and per line (``custom_id``) the cache key, the
    request's digest and its prompt-template version; written before the
    upload, so a kill at any later point finds the submission;
``batch.record``
    the batch id (and input file id), written as soon as the batch exists and
    before its first poll. A kill between the create and this record is
    covered by the submission id the batch carries in its ``metadata``: the
    resumed run finds the batch by it instead of creating a second one;
``collected.record``
    the batch's final status and counts, and what each line said when it is
    not simply an answer (answers go to the cache): failures that would repeat,
    and lines to submit again (retryable errors, expired, cancelled, missing).

Submission ids start with their UTC creation time, so a directory listing is
the order of rounds. Records of other runs are read only while their
submission is open (its keys are in flight for everyone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fitsense_luigi.contracts.dataroot import DataRoot
from fitsense_luigi.errors import CorruptInputError
from fitsense_luigi.teacher.types import TeacherOutcome

DIRECTORY = "batches"
RECORD_FORMAT = 1
INPUT, INTENT, BATCH, COLLECTED = "input.jsonl", "intent.record", "batch.record", "collected.record"


@dataclass(frozen=True)
class Line:
    key: str  # the answer's cache key
    digest: str  # of the request body (wire.request_digest)
    template_version: str


@dataclass
class Submission:
    id: str
    run_id: str
    lines: dict[str, Line]  # custom_id -> line; empty when not loaded (a closed submission of another run)
    batch: dict[str, Any] | None = None  # batch.record
    collected: dict[str, Any] | None = None  # collected.record
    intent: dict[str, Any] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.collected is None

    @property
    def batch_id(self) -> str | None:
        return self.batch["batch_id"] if self.batch else None

    def keys(self) -> set[str]:
        return {line.key for line in self.lines.values()}


def new_submission_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"s{now:%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


class Registry:
    def __init__(self, cache_root: DataRoot) -> None:
        self.root = cache_root

    def _key(self, submission: str, name: str) -> str:
        return f"{DIRECTORY}/{submission}/{name}"

    # -- reading
    def load(self, run_id: str | None) -> list[Submission]:
        """Every submission, oldest first; the lines of closed ones only for ``run_id``'s own."""
        out = []
        for name in self.root.subdirectories(DIRECTORY):
            collected = self._read(name, COLLECTED)
            if collected is not None and collected.get("run_id") != run_id:
                out.append(Submission(name, collected.get("run_id", ""), {}, collected=collected))
                continue
            intent = self._read(name, INTENT)
            if intent is None:  # killed while writing input.jsonl: nothing was sent for it
                continue
            lines = {cid: Line(*entry) for cid, entry in intent["lines"].items()}
            out.append(Submission(name, intent["run_id"], lines, self._read(name, BATCH), collected, intent))
        return out

    def _read(self, submission: str, name: str) -> dict[str, Any] | None:
        key = self._key(submission, name)
        try:
            data = json.loads(self.root.read_bytes(key))
        except FileNotFoundError:
            return None
        except ValueError:
            raise CorruptInputError(
                f"{self.root.uri(key)}: batch record is not valid JSON; it says which batch holds which requests, "
                "so it is not guessed: restore it, or delete the submission's directory after checking the batch "
                "with the provider"
            ) from None
        if not isinstance(data, dict):
            raise CorruptInputError(f"{self.root.uri(key)}: batch record is not a JSON object")
        return data

    def collected(self, submission: Submission) -> bool:
        """Has the submission been collected (perhaps by another process since it was loaded)?"""
        if submission.collected is None:
            submission.collected = self._read(submission.id, COLLECTED)
        return submission.collected is not None

    def input_file(self, submission: Submission) -> AbstractContextManager[Path]:
        return self.root.local_copy(self._key(submission.id, INPUT))

    # -- writing (each durable before the next step)
    def create(self, run_id: str, about: dict[str, Any], lines: dict[str, Line], data: bytes) -> Submission:
        """Record a submission (its input file, then its intent) before anything is sent."""
        submission = new_submission_id()
        self.root.write_bytes(self._key(submission, INPUT), data, durable=True)
        intent = {
            "format": RECORD_FORMAT,
            "submission": submission,
            "run_id": run_id,
            "created": _now(),
            **about,
            "requests": len(lines),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "lines": {cid: [line.key, line.digest, line.template_version] for cid, line in lines.items()},
        }
        self._write(submission, INTENT, intent)
        return Submission(submission, run_id, lines, intent=intent)

    def record_batch(self, submission: Submission, batch: dict[str, Any]) -> None:
        record = {
            "batch_id": batch["id"],
            "input_file_id": batch.get("input_file_id"),
            "status": batch.get("status"),
            "recorded": _now(),
        }
        self._write(submission.id, BATCH, record)
        submission.batch = record

    def record_collected(self, submission: Submission, collected: dict[str, Any]) -> None:
        record = {"run_id": submission.run_id, "batch_id": submission.batch_id, "collected": _now(), **collected}
        self._write(submission.id, COLLECTED, record)
        submission.collected = record

    def _write(self, submission: str, name: str, record: dict[str, Any]) -> None:
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.root.write_bytes(self._key(submission, name), data, durable=True)


# ---------------------------------------------------------------- what the records say about a run's requests


def submissions_per_key(submissions: list[Submission], run_id: str | None) -> Counter[str]:
    """How often each request was submitted by ``run_id`` (its answer's ``attempt_count``)."""
    return Counter(line.key for s in submissions if s.run_id == run_id for line in s.lines.values())


def given_up(submissions: list[Submission], run_id: str | None, max_submissions: int) -> dict[str, TeacherOutcome]:
    """Request digest -> the failure that ends it for ``run_id``: a failure that would repeat, or no answer
    after ``max_submissions`` submissions. A new run id starts over, as an online run retries failed calls."""
    counts = submissions_per_key(submissions, run_id)
    out: dict[str, TeacherOutcome] = {}
    for s in submissions:
        if s.run_id != run_id or s.collected is None:
            continue
        for cid, failure in s.collected.get("failed", {}).items():
            line = s.lines.get(cid)
            if line is not None:
                out[line.digest] = TeacherOutcome.from_dict(failure)
        for cid, error in s.collected.get("again", {}).items():
            line = s.lines.get(cid)
            if line is not None and counts[line.key] >= max_submissions:
                out[line.digest] = TeacherOutcome(
                    "http_error",
                    None,
                    None,
                    None,
                    f"no answer after {counts[line.key]} batch submissions (last: {error})",
                    attempt_count=counts[line.key],
                )
    return out


def open_keys(submissions: list[Submission]) -> set[str]:
    """Cache keys in a batch that is still running (or being created): nobody submits them again."""
    return {line.key for s in submissions if s.open for line in s.lines.values()}


def of_run(submissions: list[Submission], run_id: str) -> Iterator[Submission]:
    return (s for s in submissions if s.run_id == run_id)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
