"""Exact and near duplicates: right sets, true Jaccard, lowest key kept, input order irrelevant."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitsense_luigi.dataset import dedup


def reference_shingles(text: str, width: int = dedup.SHINGLE_WORDS) -> set[str]:
    """The definition, written the slow obvious way."""
    words = re.findall(r"[^\W_]+", text.lower())
    if not words:
        return set()
    return {" ".join(words[i : i + width]) for i in range(max(1, len(words) - width + 1))}


def reference_jaccard(a: str, b: str) -> float:
    x, y = reference_shingles(a), reference_shingles(b)
    return len(x & y) / len(x | y) if x | y else 1.0


def random_texts(count: int, words: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = [f"w{k}" for k in range(5000)]
    return [" ".join(rng.choice(vocabulary, size=words)) for _ in range(count)]


def edited(text: str, replacements: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = text.split()
    for position in rng.choice(len(words), size=replacements, replace=False):
        words[position] = f"edit{seed}x{position}"
    return " ".join(words)


def test_shingle_sets_match_the_reference_definition():
    texts = [
        "Squat 3x5, then rest!  Squat 3x5, then rest!",
        "one two three",  # shorter than a shingle: one shingle of all its words
        "",
        "¡Ñandú! ÉCOLE école — naïve café, 12 kg; 12 KG",
        '{"name": "Goblet Squat", "sets": 3, "reps": 10, "rir": 2, "load_kg": null}',
        *random_texts(5, 60, seed=1),
    ]
    sets = dedup.shingle_sets(texts)
    for text, hashed in zip(texts, sets, strict=True):
        assert hashed.size == len(reference_shingles(text)), text
        assert np.all(np.diff(hashed.astype(np.int64)) > 0) or hashed.size < 2  # sorted, unique
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            assert dedup.jaccard(sets[i], sets[j]) == pytest.approx(reference_jaccard(texts[i], texts[j]))


def test_near_duplicates_are_found_with_their_true_jaccard_and_dissimilar_texts_are_left():
    base = random_texts(30, 300, seed=2)
    copies = [edited(base[k], replacements=k % 10, seed=k) for k in range(30)]  # 0..9 words edited
    texts = base + copies
    keys = [f"a{k:03d}" for k in range(30)] + [f"b{k:03d}" for k in range(30)]
    found = dedup.deduplicate(keys, texts, threshold=0.9)
    reported = {**{i: (kept, 1.0) for i, kept in found.exact.items()}, **found.near}
    for k in range(30):
        true = reference_jaccard(base[k], copies[k])
        copy = 30 + k
        if true >= 0.9:
            assert copy in reported, (k, true)
            kept, similarity = reported[copy]
            assert kept == k and similarity == pytest.approx(true, abs=1e-4)
        else:
            assert copy not in reported, (k, true)
    assert all(i >= 30 for i in reported)  # the random bases are far apart: none of them is dropped
    assert found.exact == {30: 0, 40: 10, 50: 20}  # zero edits: exact copies


def test_exact_duplicates_ignore_unicode_form_case_and_whitespace():
    texts = [
        "Full body plan:\n3 sets of ten.",
        "full BODY plan: 3 sets   of ten. ",
        "ｆｕｌｌ body plan: 3 sets of ten.",  # full-width letters: NFKC makes them plain
    ]
    found = dedup.deduplicate(["k2", "k1", "k3"], texts, threshold=0.9)
    assert found.exact == {0: 1, 2: 1}  # k1 has the lowest key and survives


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(["a b c d e f", "a b c d e g", "x y z", "p q r s t u v", "a b c d e f"]),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_what_is_dropped_does_not_depend_on_input_order(texts, random):
    keys = [f"q{k:02d}" for k in range(len(texts))]
    order = list(range(len(texts)))
    random.shuffle(order)

    def named(found, ks):
        pairs = {ks[i]: ks[kept] for i, kept in found.exact.items()}
        pairs.update({ks[i]: ks[kept] for i, (kept, _) in found.near.items()})
        return pairs

    first = named(dedup.deduplicate(keys, texts, 0.5), keys)
    shuffled_keys = [keys[i] for i in order]
    second = named(dedup.deduplicate(shuffled_keys, [texts[i] for i in order], 0.5), shuffled_keys)
    assert first == second
    for dropped, kept in first.items():
        assert kept < dropped  # the lowest key of a group survives


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0])
def test_lsh_bands_keep_99_percent_recall_at_the_threshold(threshold):
    bands, rows = dedup.lsh_params(threshold)
    assert bands >= 2 and bands * rows <= dedup.NUM_PERM
    assert 1 - (1 - threshold**rows) ** bands >= dedup.TARGET_RECALL
    # and it is the most selective such banding: one more row per band would lose the recall
    wider = rows + 1
    assert dedup.NUM_PERM // wider < 2 or 1 - (1 - threshold**wider) ** (dedup.NUM_PERM // wider) < 0.99


def test_texts_without_words_and_empty_input():
    found = dedup.deduplicate(["a", "b", "c"], ["!!!", "...", "words here"], threshold=0.9)
    assert found.near == {} and found.exact == {}
    assert dedup.deduplicate([], [], threshold=0.9).near == {}
    with pytest.raises(ValueError, match="unique"):
        dedup.deduplicate(["a", "a"], ["x", "y"], threshold=0.9)
