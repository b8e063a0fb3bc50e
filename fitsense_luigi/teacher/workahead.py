"""Keeping ``teacher.concurrency`` requests in flight to the last, however Luigi schedules the shards.

With one worker Luigi runs the ``TeacherShard`` tasks one after another, and a
shard that only sends its own requests idles its workers while its slowest
requests finish (the stage reached 0.68 of the bound that way). So when a
shard's own queue runs low, it takes another shard that nobody is building
(its stage lock, taken without waiting) and answers that shard's requests
into the shared cache as well; the shard's task later finds every answer
cached and only writes its file. The stage lock keeps two processes (workers
or hosts on one luigid) off the same shard: a worker that is given a shard
held this way waits for the lock, then builds it from the cache. A kill
anywhere loses at most the requests in flight, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Release = Callable[[], None]


@dataclass
class ShardClaims:
    """Other shards of the stage this process may answer ahead of their tasks."""

    others: dict[int, Sequence[dict[str, Any]]]  # shard -> its queries
    try_lock: Callable[[int], Release | None]  # the shard's stage lock, or None when someone holds it
    is_complete: Callable[[int], bool]
    held: list[Release] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)

    def claim_next(self) -> Sequence[dict[str, Any]] | None:
        """The queries of the next shard nobody is building (its lock now held), or None when none is left."""
        while self.others:
            shard = min(self.others)
            queries = self.others.pop(shard)
            release = self.try_lock(shard)
            if release is None:
                continue
            if self.is_complete(shard):
                release()
                continue
            self.held.append(release)
            self.claimed.append(shard)
            return queries
        return None

    def release_all(self) -> None:
        while self.held:
            self.held.pop()()
