"""Near-duplicate fingerprints: MinHash over word shingles of the cleaned body, cut into LSH bands.

Two bodies whose shingle sets have Jaccard similarity ``s`` agree on one MinHash value with
probability ``s``, on a band of ``rows`` values with probability ``s**rows``, and so share at
least one of ``bands`` bands with probability ``1 - (1 - s**rows)**bands`` (the LSH S-curve).
Articles that share a band are candidates; how many of the ``bands`` they share estimates their
similarity: ``s ≈ (shared / bands) ** (1 / rows)``.

MinHash is rensa's ``RMinHash`` (Rust): 45x faster than datasketch on the same shingles and
permutations count (``bench/dedupe.py --compare``). Its seeded permutations are part of the
stored state: changing the seed, the shingle size or the band layout makes new articles miss
old ones until the window has rolled over, so they are configuration, not code, and documented.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rensa import RMinHash

SEED = 1_717  # fixed: signatures are compared across processes and restarts

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Layout:
    """LSH layout: ``bands`` bands of ``rows`` MinHash values; shingles of ``shingle`` words."""

    bands: int = 32
    rows: int = 3
    shingle: int = 5

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def candidate_probability(self, similarity: float) -> float:
        """Chance that two bodies with this Jaccard similarity share at least one band."""
        return float(1.0 - (1.0 - similarity**self.rows) ** self.bands)


def words(text: str) -> list[str]:
    """Lower-cased word tokens; punctuation and whitespace differences do not count."""
    return _WORD.findall(text.lower())


def shingles(text: str, size: int) -> list[str]:
    """Overlapping ``size``-word shingles; a body shorter than that is one shingle."""
    tokens = words(text)
    if len(tokens) <= size:
        return [" ".join(tokens)]
    return [" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]


def signature(text: str, layout: Layout) -> list[int]:
    """The MinHash signature (``layout.num_perm`` 32-bit values) of ``text``'s shingle set."""
    minhash = RMinHash(num_perm=layout.num_perm, seed=SEED)
    minhash.update(shingles(text, layout.shingle))
    return [int(v) for v in minhash.digest()]


def band_keys(sig: Sequence[int], layout: Layout) -> list[str]:
    """One routing key per band: a hash of the band's index and its ``rows`` values.

    The index is part of the key so that equal values in different bands do not collide.
    """
    keys = []
    for band in range(layout.bands):
        values = sig[band * layout.rows : (band + 1) * layout.rows]
        raw = band.to_bytes(2, "big") + b"".join(v.to_bytes(4, "big") for v in values)
        keys.append(hashlib.blake2b(raw, digest_size=12).hexdigest())
    return keys


def band_vector(keys: Sequence[str]) -> str:
    """Sixteen bits of each band key, as hex: enough to count the bands two articles share.

    Stored with every index entry so the gather step can tell how many bands a candidate shares
    in all, not just those it was found in. A false match has probability 1/65,536 per band
    (with 8 bits, 1/256, one pair in 15 at 0.85 similarity had a phantom shared band).
    """
    return "".join(key[:4] for key in keys)


def shared_bands(vec_a: str, vec_b: str) -> set[int]:
    """Indices of the bands on which two band vectors agree."""
    n = min(len(vec_a), len(vec_b)) // 4
    return {i for i in range(n) if vec_a[4 * i : 4 * i + 4] == vec_b[4 * i : 4 * i + 4]}


def estimate_similarity(shared: int, layout: Layout) -> float:
    """Jaccard similarity estimated from the number of shared bands."""
    if shared <= 0:
        return 0.0
    return float(min(1.0, (shared / layout.bands) ** (1.0 / layout.rows)))
