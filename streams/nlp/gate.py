"""The event gate: does an article report a real-world incident at all?

Most news is not an event: sport, markets, culture and politics use the words of violence
and protest ("beat", "battle", "rally", "strike") for other things. Before its incident
themes count, an article is scored by a logistic regression over hashed word and bigram
features of its opening (``streams/nlp/data/gate.json``, trained offline by
``bench/train_gate.py`` on the labelled event data against general news). Inference is
stdlib only: a few microseconds per article, the same on every spaCy model.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson

DATA = Path(__file__).resolve().parent / "data" / "gate.json"
# The opening says what a report is about; bounding it keeps long articles as cheap as short
# notes and keeps length from being a feature: a lead of about a note's length transfers
# better to full articles of an unseen source than a longer opening (bench/train_gate.py --loso).
GATE_CHARS = 1000
BUCKETS = 1 << 18
# Letters only: numbers and dates mark a note's style ("On 3 May 2020"), not its content.
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Month and weekday names mark a source's dateline style ("On 3 May 2020", "This story is from
# March 10"), not whether anything happened: as features they tie the gate to its sources.
_STYLE = frozenset(
    {
        "january", "february", "march", "april", "may", "june", "july", "august", "september",
        "october", "november", "december",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    }
)  # fmt: skip


def feature_keys(text: str) -> set[str]:
    """Lower-cased words and word bigrams of the text's opening, dates' words left out."""
    words = [w for w in _WORD.findall(text[:GATE_CHARS].lower()) if w not in _STYLE]
    keys = set(words)
    keys.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    return keys


def features(text: str) -> dict[int, float]:
    """Hashed binary features, L2-normalised (bucket -> value)."""
    buckets = {zlib.crc32(key.encode()) % BUCKETS for key in feature_keys(text)}
    if not buckets:
        return {}
    value = 1.0 / math.sqrt(len(buckets))
    return dict.fromkeys(buckets, value)


@dataclass(frozen=True)
class Gate:
    """A trained gate: sparse weights by bucket, intercept and the decision threshold."""

    weights: dict[int, float]
    intercept: float
    threshold: float

    def score(self, text: str) -> float:
        """Probability that the text reports an incident, in [0, 1]."""
        z = self.intercept + sum(self.weights.get(b, 0.0) * v for b, v in features(text).items())
        # Clamped: exp overflows past ~700 and the extremes carry no extra meaning.
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def load_gate(path: Path | None = None) -> Gate:
    """The gate in ``path`` (default: the shipped one), cached per path."""
    return _load(path or DATA)


@cache
def _load(path: Path) -> Gate:
    data = orjson.loads(path.read_bytes())
    if data.get("buckets") != BUCKETS:
        raise ValueError(f"{path}: trained for {data.get('buckets')} buckets, not {BUCKETS}")
    weights = {int(b): float(w) for b, w in data["weights"].items()}
    return Gate(weights, float(data["intercept"]), float(data["threshold"]))


# The themes of things that happen to people in one place and time: the gate decides whether
# they count. Ceasefires, diplomacy, humanitarian news and elections are not gated.
INCIDENT_THEMES = frozenset(
    {
        "abduction", "arrest", "protest", "riot", "armed_clash", "attack", "killing",
        "sexual_violence", "explosion", "looting",
    }
)  # fmt: skip
