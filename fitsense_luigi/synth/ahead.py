"""Run an iterator one step ahead in a background thread, so generating the next block overlaps writing this one.

numpy and Arrow's Parquet writer release the GIL for their heavy work, so on
two cores the next block is being generated while the current one is encoded
and written. Order is kept (one queue, one producer), so the output is the same
bytes; an exception in the producer is raised in the consumer; and a consumer
that stops early (an error while writing) stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def ahead(items: Iterable[T], depth: int = 16) -> Iterator[T]:
    """Yield ``items`` in order while the next ones (up to ``depth``) are produced in a thread."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, which re-raises it
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="synth-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = channel.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
