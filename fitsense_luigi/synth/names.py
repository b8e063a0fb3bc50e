"""Names and e-mail addresses from Faker's en_US person data, drawn with numpy.

Faker's own ``name()`` costs a Python call per row; its en_US provider ships the
name lists *with their US frequencies*, so drawing from those lists with a
seeded numpy generator gives the same names at the same rates, for a whole
block at once. Addresses sit on the reserved example domains (RFC 2606) and
end in a number that is a bijection of the user's index, so they are unique
without any global bookkeeping.
"""

from __future__ import annotations

import numpy as np
from faker.providers.person.en_US import Provider as PersonNames

TEXT = np.dtypes.StringDType()
RESERVED_DOMAINS = np.array(["example.com", "example.org", "example.net"], dtype=TEXT)
_SCRAMBLE_SPACE = 1_000_000  # indices below this get a scrambled number of at most 6 digits


def _weighted(names: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    words = np.array(list(names), dtype=TEXT)
    cumulative = np.cumsum(np.array(list(names.values()), dtype=np.float64))
    return words, np.strings.lower(words), cumulative / cumulative[-1]


_FIRST = {0: _weighted(PersonNames.first_names_female), 1: _weighted(PersonNames.first_names_male)}
_LAST = _weighted(PersonNames.last_names)


def _draw(rng: np.random.Generator, table: tuple[np.ndarray, np.ndarray, np.ndarray], n: int):
    pick = np.searchsorted(table[2], rng.random(n), side="right").clip(0, table[0].size - 1)
    return table[0][pick], table[1][pick]


def draw_names(rng: np.random.Generator, sex: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(display name, lowercase first, lowercase last) for each person, by sex and US name frequency."""
    n = sex.size
    female, female_low = _draw(rng, _FIRST[0], n)
    male, male_low = _draw(rng, _FIRST[1], n)
    first = np.where(sex == 1, male, female)
    first_low = np.where(sex == 1, male_low, female_low)
    last, last_low = _draw(rng, _LAST, n)
    return np.strings.add(np.strings.add(first, " "), last), first_low, last_low


def email_numbers(index: np.ndarray) -> np.ndarray:
    """A number per user that looks arbitrary but is unique: an affine bijection below one million."""
    scrambled = (index.astype(np.int64) * 7919 + 104_729) % _SCRAMBLE_SPACE
    return np.where(index < _SCRAMBLE_SPACE, scrambled, index)


def draw_emails(rng: np.random.Generator, index: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """first.last42@example.com, flast42@..., first_last42@... or firstlast42@..."""
    initial = np.strings.slice(first, 0, 1)
    styles = np.stack(
        [
            np.strings.add(np.strings.add(first, "."), last),
            np.strings.add(initial, last),
            np.strings.add(np.strings.add(first, "_"), last),
            np.strings.add(first, last),
        ]
    )
    style = rng.choice(4, index.size, p=[0.45, 0.25, 0.1, 0.2])
    local = np.strings.add(styles[style, np.arange(index.size)], email_numbers(index).astype(TEXT))
    domain = RESERVED_DOMAINS[rng.integers(0, RESERVED_DOMAINS.size, index.size)]
    return np.strings.add(np.strings.add(local, "@"), domain)
