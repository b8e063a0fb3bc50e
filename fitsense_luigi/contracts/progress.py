"""The progress callback long domain functions accept: ``progress(done, total, message)``.

The runtime passes one that shows the figures in the central scheduler's UI;
domain code never knows who listens.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, message: str) -> None:
    """The callback for callers that do not listen."""
