"""Client for the Batch API's control plane: files up and down, batches created, polled and listed.

``POST /v1/files`` (multipart, ``purpose=batch``), ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``GET /v1/batches?after=&limit=`` and
``GET /v1/files/{id}/content``, as OpenAI documents them and LiteLLM's proxy
passes them through. Every call has connect and read time-outs and is retried
like an online request (408, 409, 429, 5xx, time-outs and connection errors;
backoff with full jitter, ``Retry-After`` obeyed up to its cap) except the one
call that costs money: creating a batch is never simply sent again, because a
create whose answer was lost may have created the batch. Each batch carries
its submission id in ``metadata``, and a failed create first looks for a batch
with that id (:meth:`BatchClient.find`) before it tries again; a killed run
does the same on resume. 401, 403 and 404 stop the stage at once with the
same hints as the online client. The key goes only into the Authorization
header; everything read back is redacted before it is kept or shown.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import backoff
import urllib3

from fitsense_luigi.errors import TeacherStageError
from fitsense_luigi.teacher import http_policy
from fitsense_luigi.teacher.connection import route
from fitsense_luigi.teacher.credentials import ApiKey
from fitsense_luigi.teacher.types import TeacherOutcome

log = logging.getLogger("fitsense.teacher.batch")
SUBMISSION = "fitsense_submission"  # metadata key naming the submission a batch was created for
RUN = "fitsense_run"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
LIST_PAGE = 100
LIST_MAX_PAGES = 50  # a submission is looked for among the newest 5,000 batches
DOWNLOAD_CHUNK = 1 << 20


class BatchApiError(TeacherStageError):
    """A control-plane call failed after its retries, or was refused."""


class BatchClient:
    def __init__(
        self,
        base_url: str,
        api_key_env: str,
        *,
        connect_s: float,
        read_s: float,
        max_attempts: int,
        initial_wait_s: float = 0.5,
        max_wait_s: float = 8.0,
        retry_after_cap_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = ApiKey(api_key_env)
        self.max_attempts = max_attempts
        self.initial_wait_s, self.max_wait_s, self.retry_after_cap_s = initial_wait_s, max_wait_s, retry_after_cap_s
        self._timeout = urllib3.Timeout(connect=connect_s, read=read_s)
        self._headers = {"Accept": "application/json", **self.key.headers()}
        self._pool = route(self.base_url).pool()  # proxy and CA bundle as the chat-completions client reads them
        if not self.key.present:
            log.warning("no API key in $%s: calling the Batch API without an Authorization header", api_key_env)

    def __repr__(self) -> str:
        return f"BatchClient(url={self.base_url!r}, key={self.key!r})"

    def close(self) -> None:
        self._pool.clear()

    # -- the calls
    def upload(self, path: Path, filename: str) -> str:
        """Upload one input file (``purpose=batch``); its file id."""
        data = path.read_bytes()
        fields = {"purpose": "batch", "file": (filename, data, "application/jsonl")}
        body = self._json("POST", "/files", f"uploading {filename}", fields=fields)
        return _field(body, "id", "file upload")

    def create(self, input_file_id: str, completion_window: str, metadata: dict[str, str]) -> dict[str, Any]:
        """Create a batch, once: a create whose answer was lost is looked for by its submission id first."""
        payload = {
            "input_file_id": input_file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": completion_window,
            "metadata": metadata,
        }
        waits = self._waits()
        for attempt in range(1, self.max_attempts + 1):
            status, text, wait = self._send("POST", "/batches", json_body=payload)
            if status == 200:
                return _batch(self._decode(text, "creating a batch"))
            if status is not None and not http_policy.should_retry(status, text):
                raise self._refused(status, text, "creating a batch")
            existing = self.find(metadata[SUBMISSION])
            if existing is not None:
                log.info("batch %s was created although its answer was lost: adopting it", existing["id"])
                return existing
            if attempt < self.max_attempts:
                time.sleep(self._wait(waits, wait))
        raise self._gave_up(status, text, "creating a batch")

    def get(self, batch_id: str) -> dict[str, Any]:
        return _batch(self._json("GET", f"/batches/{batch_id}", f"polling batch {batch_id}"))

    def cancel(self, batch_id: str) -> dict[str, Any]:
        return _batch(self._json("POST", f"/batches/{batch_id}/cancel", f"cancelling batch {batch_id}"))

    def find(self, submission: str) -> dict[str, Any] | None:
        """The newest batch created for ``submission`` (its ``metadata``), among the newest few thousand."""
        after = None
        for _ in range(LIST_MAX_PAGES):
            query = f"?limit={LIST_PAGE}" + (f"&after={after}" if after else "")
            page = self._json("GET", f"/batches{query}", "listing batches")
            data = page.get("data") if isinstance(page, dict) else None
            if not isinstance(data, list):
                raise BatchApiError(f"Batch API at {self.base_url}: listing batches: no data list in the answer")
            for batch in data:
                if isinstance(batch, dict) and (batch.get("metadata") or {}).get(SUBMISSION) == submission:
                    return _batch(batch)
            if not page.get("has_more") or not data:
                return None
            after = data[-1].get("id")
        return None

    def download(self, file_id: str, dest: Path) -> Path:
        """``GET /v1/files/{id}/content`` into ``dest`` (streamed: an output file can be hundreds of MB)."""
        waits = self._waits()
        for attempt in range(1, self.max_attempts + 1):
            status, text, wait = self._send("GET", f"/files/{file_id}/content", into=dest)
            if status == 200:
                return dest
            if status is not None and not http_policy.should_retry(status, text):
                raise self._refused(status, text, f"downloading file {file_id}")
            if attempt < self.max_attempts:
                time.sleep(self._wait(waits, wait))
        raise self._gave_up(status, text, f"downloading file {file_id}")

    def lines(self, path: Path) -> Iterator[str]:
        """A downloaded file's lines, redacted (a proxy may echo the Authorization header into an error body)."""
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                yield self.key.redact(line)

    # -- plumbing
    def _json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        waits = self._waits()
        for attempt in range(1, self.max_attempts + 1):
            status, text, wait = self._send(method, path, **kwargs)
            if status == 200:
                return self._decode(text, what)
            if status is not None and not http_policy.should_retry(status, text):
                raise self._refused(status, text, what)
            if attempt < self.max_attempts:
                time.sleep(self._wait(waits, wait))
        raise self._gave_up(status, text, what)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        fields: dict[str, Any] | None = None,
        into: Path | None = None,
    ) -> tuple[int | None, str, float | None]:
        """(HTTP status or None for no answer, redacted text, seconds the server asked us to wait)."""
        url = f"{self.base_url}{path}"
        headers = dict(self._headers)
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                fields=fields,
                headers=headers,
                timeout=self._timeout,
                retries=False,
                redirect=False,
                preload_content=into is None,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return None, f"no answer: {type(exc).__name__}", None
        if into is not None:
            try:
                if response.status == 200:
                    _stream(response, into)
                    return 200, "", None
                text = response.read().decode("utf-8", errors="replace")
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                return None, f"no answer: {type(exc).__name__}", None
            finally:
                response.release_conn()
        else:
            text = response.data.decode("utf-8", errors="replace")
        wait = http_policy.retry_after_s(response.headers) if response.status != 200 else None
        return response.status, self.key.redact(text), wait

    def _decode(self, text: str, what: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            raise BatchApiError(
                f"Batch API at {self.base_url}: {what}: the answer is not JSON ({http_policy.error_detail(text, 80)})",
                permanent=False,
            ) from None

    def _waits(self) -> Iterator[float]:
        waits = backoff.expo(base=2, factor=self.initial_wait_s, max_value=self.max_wait_s)
        next(waits)
        return waits

    def _wait(self, waits: Iterator[float], server_wait: float | None) -> float:
        wait = backoff.full_jitter(next(waits))  # timing only, never data
        return max(wait, min(server_wait, self.retry_after_cap_s)) if server_wait is not None else wait

    def _refused(self, status: int, text: str, what: str) -> BatchApiError:
        detail = f"HTTP {status}: {http_policy.error_detail(text) or 'no detail'}"
        outcome = TeacherOutcome("http_error", None, None, None, detail, http_status=status)
        hint = http_policy.fatal_hint(outcome, self.key.env) if http_policy.is_fatal(outcome) else "fix the request"
        return BatchApiError(f"Batch API at {self.base_url} refused {what} ({detail}): {hint}")

    def _gave_up(self, status: int | None, text: str, what: str) -> BatchApiError:
        detail = f"HTTP {status}: {http_policy.error_detail(text)}" if status is not None else text
        return BatchApiError(
            f"Batch API at {self.base_url}: {what} failed after {self.max_attempts} attempts ({detail}); "
            "the batches already created are recorded under the data root: rerun to pick them up",
            permanent=False,
        )


def _stream(response: Any, into: Path) -> None:
    tmp = into.with_name(into.name + ".part")
    with open(tmp, "wb") as fh:
        for chunk in response.stream(DOWNLOAD_CHUNK):
            fh.write(chunk)
    tmp.replace(into)


def _field(body: Any, name: str, what: str) -> str:
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise BatchApiError(f"{what}: the answer has no {name}", permanent=False)
    return value


def _batch(body: Any) -> dict[str, Any]:
    """A batch object as the API returns it, checked for what the stage reads."""
    _field(body, "id", "batch")
    _field(body, "status", "batch")
    return body
