"""The world in parts: fixed ranges of users that separate tasks generate, and query, side by side.

A part is ``run.users_per_part`` consecutive users (the last part fewer).
Users are drawn in fixed blocks (``synth.population.BLOCK``, which divides the
part size), so a part's rows are exactly the rows those users have in a world
generated in one go: splitting the world changes which file a row lands in,
never the row. The number of parts follows the users and the part size alone
(never the workers), so one worker and eight write the same files. A world
stage's manifest lists its parts' files in part order; read in that order they
are the whole table.
"""

from __future__ import annotations


def world_parts(users: int, users_per_part: int) -> list[range]:
    """The users of each part, in order (at least one part, empty for an empty world)."""
    return [range(start, min(start + users_per_part, users)) for start in range(0, max(users, 1), users_per_part)]
