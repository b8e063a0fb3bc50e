"""The fake teacher's own promises (tests.support.teacher): what the other tests count on it to count right."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest

from fitsense_luigi.teacher.mock import MockCoach
from fitsense_luigi.teacher.types import TeacherRequest
from tests.support import teacher
from tests.support.teacher import Reply, TeacherServer


def post(server: TeacherServer, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-x"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


BODY = {"model": "m", "seed": 7, "messages": [{"role": "user", "content": "[case:one] Build me a plan."}]}


def test_an_answer_is_counted_before_its_client_can_read_it(server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race behind "9 != 10 answers": a server that counts after writing lags behind its client whenever the
    handler thread is descheduled between the two. Here it is held there on purpose, deterministically."""
    srv = server()
    after_write = threading.Event()
    done_writing = srv._written

    def stalled(sent, delivered):  # the handler, after the answer left, stalls until the test has looked
        after_write.wait(30)
        done_writing(sent, delivered)

    monkeypatch.setattr(srv, "_written", stalled)
    try:
        answer = post(srv, BODY)  # the client holds the whole answer
        assert answer["choices"][0]["message"]["content"]
        assert srv.total_answered() == 1
        assert [digest for _, digest in srv.delivered_since(0)] == list(srv.attempts())
    finally:
        after_write.set()
    srv.settle()
    assert srv.total_answered() == 1


def test_an_error_answer_is_answered_but_not_billed(server) -> None:
    srv = server(lambda call: teacher.error(503, "overloaded") if call.attempt == 1 else Reply())
    with pytest.raises(urllib.error.HTTPError) as caught:
        post(srv, BODY)
    assert caught.value.code == 503 and json.loads(caught.value.read()) == {"error": {"message": "overloaded"}}
    post(srv, BODY)
    assert srv.total_answered() == 2 and len(srv.delivered_since(0)) == 1
    assert srv.cases() == {"one": 2} and srv.authorization == {"Bearer sk-x"}


def test_the_default_answer_is_what_the_mock_coach_answers_the_same_request(server) -> None:
    srv = server()
    answer = post(srv, BODY)
    expected = MockCoach("m").complete(TeacherRequest(BODY["messages"], "m", 0.0, 1.0, 100, 7))
    assert answer["choices"][0]["message"]["content"] == expected.content
    assert answer["model"] == "m" and answer["choices"][0]["finish_reason"] == "stop"


def test_a_client_that_hung_up_is_seen_without_reading_its_socket() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert not teacher._peer_closed(ours)
        theirs.sendall(b"next request")  # unread data is not a hang-up, and stays unread
        assert not teacher._peer_closed(ours) and ours.recv(100) == b"next request"
        theirs.close()
        assert teacher._peer_closed(ours)


def test_weather_fails_three_in_ten_first_attempts_in_a_storm_and_everything_after_ten_when_down() -> None:
    weather = teacher.Weather()
    weather.mode = "storm"
    calls = [teacher.Call("", 1, f"d{k}", {}) for k in range(100)]
    failed = [call.digest for call in calls if weather(call).status != 200 or weather.failures.get(call.digest)]
    assert len(failed) == 30
    weather.mode = "down"
    statuses = [weather(teacher.Call("", 1, f"x{k}", {})).status for k in range(20)]
    assert statuses[:10] == [200] * 10 and all(s >= 500 for s in statuses[10:])
