"""Properties of the MinHash/LSH fingerprints the near-duplicate check relies on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.pipeline import fingerprint
from streams.pipeline.fingerprint import Layout

LAYOUT = Layout()
words = st.lists(st.sampled_from([f"w{i}" for i in range(300)]), min_size=1, max_size=120)


def vector(text: str) -> str:
    return fingerprint.band_vector(
        fingerprint.band_keys(fingerprint.signature(text, LAYOUT), LAYOUT)
    )


@given(words)
def test_case_spacing_and_punctuation_do_not_change_the_bands(tokens: list[str]) -> None:
    plain = " ".join(tokens)
    noisy = "  " + ",\n".join(t.upper() for t in tokens) + " !"
    assert fingerprint.band_keys(fingerprint.signature(plain, LAYOUT), LAYOUT) == (
        fingerprint.band_keys(fingerprint.signature(noisy, LAYOUT), LAYOUT)
    )


@given(words, words)
def test_shared_bands_are_symmetric_and_bounded(a: list[str], b: list[str]) -> None:
    va, vb = vector(" ".join(a)), vector(" ".join(b))
    shared = fingerprint.shared_bands(va, vb)
    assert shared == fingerprint.shared_bands(vb, va)
    assert shared <= set(range(LAYOUT.bands))
    assert fingerprint.shared_bands(va, va) == set(range(LAYOUT.bands))
    assert 0.0 <= fingerprint.estimate_similarity(len(shared), LAYOUT) <= 1.0


def test_estimate_is_monotonic_and_exact_at_the_ends() -> None:
    values = [fingerprint.estimate_similarity(k, LAYOUT) for k in range(LAYOUT.bands + 1)]
    assert values == sorted(values)
    assert values[0] == 0.0 and values[-1] == 1.0


def test_candidate_probability_is_the_s_curve() -> None:
    assert LAYOUT.candidate_probability(0.5) > 0.98
    assert LAYOUT.candidate_probability(0.05) < 0.01
    assert LAYOUT.num_perm == 96


def test_short_bodies_are_one_shingle() -> None:
    assert fingerprint.shingles("Two words", 5) == ["two words"]
    assert len(fingerprint.shingles("a b c d e f", 5)) == 2
