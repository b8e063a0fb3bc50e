"""A loopback teacher that answers the way real models do (:mod:`answer_shapes`), refusals included.

Plugs the answer-shape generators into the tests' OpenAI-compatible server:
the plan is the mock coach's for the request's first user message, dressed in
the shape picked for that message. ``reject_json_schema`` makes it a server
without structured outputs (HTTP 400 naming ``response_format``, as vLLM
builds without guided decoding, old llama.cpp builds and some proxies answer).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from answer_shapes import REALISTIC_MIX, completion, first_user_message, shape_for
from teacher_server import Reply, TeacherServer

from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest

REJECTION = {
    "error": {
        "message": "response_format type 'json_schema' is not supported by this server",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
}


class RealisticTeacher(TeacherServer):
    def __init__(self, mix: dict[str, float] | None = None, reject_json_schema: bool = False) -> None:
        super().__init__()
        self.mix = mix or REALISTIC_MIX
        self.reject_json_schema = reject_json_schema
        self.coach = MockCoach("realistic-teacher")
        self.shapes: dict[str, str] = {}  # first user message -> shape of its first answer
        self.formats: Counter[str] = Counter()  # response_format types received

    def reply_for(self, case: str, attempt: int, digest: str) -> Reply:
        request = self.bodies[digest]
        kind = (request.get("response_format") or {}).get("type", "none")
        with self._lock:
            self.formats[kind] += 1
        if self.reject_json_schema and kind == "json_schema":
            return Reply(400, raw=json.dumps(REJECTION).encode())
        messages = request["messages"]
        user = first_user_message(messages)
        plan = json.loads(
            self.coach.complete(TeacherRequest([{"role": "user", "content": user}], "m", 0, 1, 1, 0)).content
        )
        shape = shape_for(messages, self.mix)
        if not any(m["role"] == "assistant" for m in messages):
            with self._lock:
                self.shapes[user] = shape
        return Reply(raw=json.dumps(completion(plan, shape)).encode())

    def shape_of(self, query: dict[str, Any]) -> str:
        return self.shapes[first_user_message(query["messages"])]
