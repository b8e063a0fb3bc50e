"""A loopback teacher whose weather a test sets: healthy, a storm (about 30 % of requests fail), or down."""

from __future__ import annotations

from collections import Counter, defaultdict

from tests.teacher.teacher_server import Reply, TeacherServer

RETRY_AFTER_S = 1.0
READ_S = 0.5
RATE_LIMITED = b'{"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}'
FAILURES = {
    "429": Reply(429, raw=RATE_LIMITED, headers={"Retry-After": f"{RETRY_AFTER_S:g}"}),
    "500": Reply(500, raw=b'{"error": {"message": "The server had an error while processing your request"}}'),
    "502": Reply(502, raw=b"<html><body>502 Bad Gateway</body></html>"),
    "503": Reply(503, raw=b'{"error": {"message": "The engine is currently overloaded"}}'),
    "timeout": Reply(delay_s=READ_S + 0.5),
}


class StormyTeacher(TeacherServer):
    """A teacher whose weather is set by ``mode``: healthy, storm (about 30 % fail) or down (all fail after 10)."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "healthy"
        self.failures: dict[str, list[tuple[int, str]]] = defaultdict(list)  # digest -> (attempt, kind)
        self.good_answers = 0
        self.seen: Counter[int] = Counter()  # attempt number -> requests seen with it
        self.tries: Counter[tuple[str, str]] = Counter()

    def reply_for(self, case: str, attempt: int, digest: str) -> Reply:
        kind = None
        with self._lock:  # attempts in this weather (the server's own count spans all of them)
            self.tries[self.mode, digest] += 1
            attempt = self.tries[self.mode, digest]
        if self.mode == "storm" and attempt <= 2:
            with self._lock:  # 3 in 10 first attempts fail, and 1 in 4 of their second attempts
                self.seen[attempt] += 1
                n = self.seen[attempt]
            if (attempt == 1 and n % 10 in (1, 4, 7)) or (attempt == 2 and n % 4 == 1):
                kind = ("429", "500", "timeout", "503", "429", "502", "timeout")[n % 7]
        elif self.mode == "down":
            with self._lock:
                self.good_answers += 1
                down = self.good_answers > 10
            kind = ("500", "502", "503")[attempt % 3] if down else None
        if kind is None:
            return Reply()
        with self._lock:
            self.failures[digest].append((attempt, kind))
        return FAILURES[kind]
