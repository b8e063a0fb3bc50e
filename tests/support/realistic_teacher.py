"""A loopback teacher that answers the way real models do (:mod:`tests.support.answer_shapes`), refusals included.

:class:`RealisticAnswers` is a script for the tests' one fake server
(:class:`tests.support.teacher.TeacherServer`): the plan is the mock coach's for
the request's first user message, dressed in the shape picked for that
message. ``reject_json_schema`` makes it a server without structured outputs
(HTTP 400 naming ``response_format``, as vLLM builds without guided decoding,
old llama.cpp builds and some proxies answer). :class:`RealisticTeacher` is that
server with the script inside.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest
from tests.support.answer_shapes import REALISTIC_MIX, completion, first_user_message, shape_for
from tests.support.teacher import Call, Reply, TeacherServer, error


class RealisticAnswers:
    def __init__(self, mix: dict[str, float] | None = None, reject_json_schema: bool = False) -> None:
        self.mix = mix or REALISTIC_MIX
        self.reject_json_schema = reject_json_schema
        self.coach = MockCoach("realistic-teacher")
        self.shapes: dict[str, str] = {}  # first user message -> shape of its first answer
        self.formats: Counter[str] = Counter()  # response_format types received
        self._lock = threading.Lock()

    def __call__(self, call: Call) -> Reply:
        request = call.body
        kind = (request.get("response_format") or {}).get("type", "none")
        with self._lock:
            self.formats[kind] += 1
        if self.reject_json_schema and kind == "json_schema":
            return error(
                400,
                "response_format type 'json_schema' is not supported by this server",
                type="invalid_request_error",
                param="response_format",
            )
        messages = request["messages"]
        user = first_user_message(messages)
        asked = TeacherRequest([{"role": "user", "content": user}], "m", 0, 1, 1, 0)
        plan = json.loads(self.coach.complete(asked).content)
        shape = shape_for(messages, self.mix)
        if not any(m["role"] == "assistant" for m in messages):
            with self._lock:
                self.shapes[user] = shape
        return Reply(raw=json.dumps(completion(plan, shape)).encode())

    def shape_of(self, query: dict[str, Any]) -> str:
        return self.shapes[first_user_message(query["messages"])]


class RealisticTeacher(TeacherServer):
    """The fake server answering with :class:`RealisticAnswers`."""

    def __init__(self, mix: dict[str, float] | None = None, reject_json_schema: bool = False) -> None:
        self.answers = RealisticAnswers(mix, reject_json_schema)
        super().__init__(self.answers)

    @property
    def formats(self) -> Counter[str]:
        return self.answers.formats

    def shape_of(self, query: dict[str, Any]) -> str:
        return self.answers.shape_of(query)
