"""Exact and near-duplicate answers, found the same way whatever order they arrive in.

Exact duplicates: same text after Unicode NFKC, case folding and whitespace
collapsing. Near duplicates: Jaccard similarity of the sets of word 5-gram
shingles at or above the configured threshold. Candidate pairs come from
MinHash signatures in a banded LSH index (``datasketch``), and every candidate
is confirmed on the exact shingle sets, so a pair is only ever reported with its
true Jaccard; what LSH can do is miss a pair right at the threshold (the bands
are chosen so that at most 1 % of the pairs at J = t are missed, and fewer above).

Which copy is kept does not depend on input order: answers are visited in
``key`` order (the query id) and each is compared with the answers already
kept, so of a group of duplicates the one with the lowest key survives.
Tokens are hashed by content (not by a vocabulary built in arrival order), so
signatures, and therefore the candidates LSH proposes, depend on the text alone.
Tokenising and shingling run vectorised in Arrow and numpy; the per-answer work
left in Python is one MinHash update and one LSH query.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SHINGLE_WORDS = 5
NUM_PERM = 128
TARGET_RECALL = 0.99  # of the pairs exactly at the threshold; pairs above it are found more surely still
ESTIMATE_SLACK = 0.15  # candidates whose MinHash estimate is this far below the threshold are not checked
MINHASH_SEED = 1  # fixed so that signatures, and the pairs LSH proposes, are the same in every run
_WORD_SPLIT = r"[^\p{L}\p{N}]+"
_ROLL = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: odd, so the rolling product stays a bijection per step
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_CHUNK = 1024  # texts shingled at once: about 60 MB of numpy temporaries
_OWNER_BITS = np.uint64(24)  # enough for a chunk's text index
_HASH_BITS = np.uint64(64) - _OWNER_BITS
_HASH_MASK = np.uint64((1 << 40) - 1)


@dataclass
class DedupResult:
    exact: dict[int, int] = field(default_factory=dict)  # dropped index -> kept index
    near: dict[int, tuple[int, float]] = field(default_factory=dict)  # dropped index -> (kept index, Jaccard)
    bands: int = 0
    rows_per_band: int = 0
    candidate_pairs: int = 0  # LSH candidates checked on the exact shingle sets


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def deduplicate(
    keys: Sequence[str], texts: Sequence[str], threshold: float, progress: Callable[[int, int], None] | None = None
) -> DedupResult:
    """Duplicates among ``texts``; of each group the text with the lowest key is kept."""
    if len(keys) != len(texts):
        raise ValueError("keys and texts must have the same length")
    if len(set(keys)) != len(keys):
        raise ValueError("keys must be unique")
    order = sorted(range(len(keys)), key=keys.__getitem__)
    result = DedupResult(exact=exact_duplicates(order, texts))
    survivors = [i for i in order if i not in result.exact]
    _near_duplicates(survivors, [texts[i] for i in survivors], threshold, result, progress)
    return result


def exact_duplicates(order: Sequence[int], texts: Sequence[str]) -> dict[int, int]:
    """Dropped index -> kept index; ``order`` lists the indexes, the one to keep first."""
    first: dict[bytes, int] = {}
    dropped: dict[int, int] = {}
    for i in order:
        digest = hashlib.blake2b(normalise(texts[i]).encode("utf-8"), digest_size=16).digest()
        kept = first.setdefault(digest, i)
        if kept != i:
            dropped[i] = kept
    return dropped


def shingle_sets(texts: Sequence[str], width: int = SHINGLE_WORDS) -> list[np.ndarray]:
    """Per text, the sorted unique 64-bit hashes of its ``width``-word shingles.

    Words are maximal runs of letters and digits after NFKC and lower-casing. A
    text with fewer than ``width`` words is one shingle of all its words; a text
    without words has an empty set. Texts are processed in chunks so that memory
    stays flat however many there are (word hashes depend on the word alone, so
    chunks agree with each other).
    """
    out: list[np.ndarray] = []
    for start in range(0, len(texts), _CHUNK):
        out.extend(_shingle_chunk(texts[start : start + _CHUNK], width))
    return out


def _shingle_chunk(texts: Sequence[str], width: int) -> list[np.ndarray]:
    folded = pc.utf8_lower(pc.utf8_normalize(pa.array(texts, pa.large_string()), "NFKC"))
    words = pc.split_pattern_regex(folded, _WORD_SPLIT)
    flat, owner = pc.list_flatten(words), pc.list_parent_indices(words)
    keep = pc.not_equal(flat, "")
    flat, owner = pc.filter(flat, keep), pc.filter(owner, keep).to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(flat)
    vocabulary = encoded.dictionary.to_pylist()
    word_hash = np.fromiter(
        (int.from_bytes(hashlib.blake2b(w.encode("utf-8"), digest_size=8).digest(), "little") for w in vocabulary),
        dtype=np.uint64,
        count=len(vocabulary),
    )
    tokens = word_hash[encoded.indices.to_numpy(zero_copy_only=False)] if len(vocabulary) else np.empty(0, np.uint64)
    counts = np.bincount(owner, minlength=len(texts))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    at = np.arange(tokens.size)
    position = at - starts[owner]
    length = counts[owner]
    rolled = np.zeros(tokens.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            inside = position + j < length  # the shingle's j-th word is still in the same text
            ahead = tokens[np.minimum(at + j, max(tokens.size - 1, 0))]
            rolled = np.where(inside, rolled * _ROLL + ahead + np.uint64(j), rolled)
        rolled = _fmix64(rolled)
    valid = (position + width <= length) | ((position == 0) & (length < width))
    # One sortable key per shingle: the text's index in the top bits, the shingle hash below it. The
    # hash keeps 64 - _OWNER_BITS bits, plenty for the few hundred shingles of one text.
    keyed = np.sort((owner[valid].astype(np.uint64) << _HASH_BITS) | (rolled[valid] >> _OWNER_BITS))
    keyed = keyed[np.concatenate(([True], keyed[1:] != keyed[:-1]))]  # np.unique, without its slow hash path
    owner = (keyed >> _HASH_BITS).astype(np.int64)
    hashes = keyed & _HASH_MASK
    bounds = np.searchsorted(owner, np.arange(len(texts) + 1))
    return [hashes[bounds[k] : bounds[k + 1]] for k in range(len(texts))]


def lsh_params(threshold: float, num_perm: int = NUM_PERM, recall: float = TARGET_RECALL) -> tuple[int, int]:
    """(bands, rows per band): the most selective banding that still proposes ``recall`` of the pairs at J = t.

    A pair with Jaccard J becomes a candidate with probability 1 - (1 - J^r)^b.
    datasketch's default balances false positives against false negatives;
    here a false positive only costs one exact Jaccard, while a false negative
    is a duplicate left in the data, so recall at the threshold is fixed first.
    """
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if bands >= 2 and 1 - (1 - threshold**rows) ** bands >= recall:
            return bands, rows
    return num_perm, 1


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique hash arrays."""
    if a.size == 0 or b.size == 0:
        return 1.0 if a.size == b.size else 0.0
    at = np.searchsorted(b, a)
    common = int(np.count_nonzero(b[np.minimum(at, b.size - 1)] == a))
    return common / (a.size + b.size - common)


def _near_duplicates(
    indexes: list[int],
    texts: list[str],
    threshold: float,
    result: DedupResult,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Visit texts in order; each is dropped if a kept one is similar enough, else kept and indexed.

    LSH proposes candidates; the MinHash estimate discards the ones clearly
    below the threshold (``ESTIMATE_SLACK`` is over 5 standard deviations of the
    estimate at J = t, so a true pair is practically never discarded); the
    exact Jaccard of the shingle sets decides the rest.
    """
    from datasketch import MinHash, MinHashLSH

    result.bands, result.rows_per_band = lsh_params(threshold)
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(result.bands, result.rows_per_band))
    sets = shingle_sets(texts)
    kept_signatures = np.zeros((len(texts), NUM_PERM), dtype=np.uint32)
    folded = ((((s >> np.uint64(32)) ^ s) & np.uint64(0xFFFFFFFF)).tolist() for s in sets)
    signatures = MinHash.generator(folded, num_perm=NUM_PERM, seed=MINHASH_SEED, hashfunc=_same, scheme="affine32")
    for k, signature in enumerate(signatures):
        if progress and (k % 5000 == 0 or k == len(indexes) - 1):
            progress(k + 1, len(indexes))
        if sets[k].size == 0:  # no words: nothing to compare on
            continue
        candidates = np.array(sorted(lsh.query(signature)), dtype=np.int64)
        result.candidate_pairs += candidates.size
        best: tuple[int, float] | None = None
        if candidates.size:
            estimate = (kept_signatures[candidates] == signature.hashvalues).mean(axis=1)
            for other in candidates[estimate >= threshold - ESTIMATE_SLACK].tolist():
                similarity = jaccard(sets[k], sets[other])
                if similarity >= threshold and (best is None or similarity > best[1]):
                    best = (other, similarity)
        if best is None:
            lsh.insert(k, signature, check_duplication=False)
            kept_signatures[k] = signature.hashvalues
        else:
            result.near[indexes[k]] = (indexes[best[0]], round(best[1], 4))


def _same(value: int) -> int:
    """Shingles arrive already hashed: MinHash only needs them as they are."""
    return value


def _fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads the rolled shingle values over all bits."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(33))
        x = x * _M1
        x = x ^ (x >> np.uint64(33))
        x = x * _M2
        return x ^ (x >> np.uint64(33))
