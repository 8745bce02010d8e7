"""A deterministic stream of news-like raw articles for fault tests, soak and scaling runs.

Needs no data files (a fresh clone has no ``../shared``). Each original reports one event
(abduction, protest, arrest, explosion, riot or killing) in a town of one of twelve countries,
padded with filler drawn at random from a large made-up vocabulary, so two originals share
almost no 5-word shingle. Mixed in, as a real feed has them: exact copies (same text from
another source), near copies (2% of the words changed) and invalid records (validate rejects
them). :func:`expected_kind` says what dedupe must make of each.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import orjson

Kind = Literal["original", "exact", "near", "invalid"]

TOWNS = (
    ("Nairobi", "Kenya"),
    ("Mombasa", "Kenya"),
    ("Lagos", "Nigeria"),
    ("Kano", "Nigeria"),
    ("Kabul", "Afghanistan"),
    ("Lima", "Peru"),
    ("Manila", "Philippines"),
    ("Dhaka", "Bangladesh"),
    ("Karachi", "Pakistan"),
    ("Bogota", "Colombia"),
    ("Khartoum", "Sudan"),
    ("Mogadishu", "Somalia"),
    ("Baghdad", "Iraq"),
    ("Caracas", "Venezuela"),
)
EVENTS = (
    (
        "abduction",
        "{n} {who} abducted in {town}",
        "Gunmen abducted {n} {who} from a {site} in {town}, {country}, on {day}, police said.",
    ),
    (
        "protest",
        "Thousands protest in {town}",
        "Thousands of {who} protested in {town}, {country}, on {day} against the new tax law.",
    ),
    (
        "arrest",
        "Police arrest {n} in {town}",
        "Police arrested {n} {who} in {town}, {country}, on {day} after a raid on a {site}.",
    ),
    (
        "explosion",
        "Bomb kills {n} in {town}",
        "A bomb exploded at a {site} in {town}, {country}, on {day}, killing {n} {who}.",
    ),
    (
        "riot",
        "Riots in {town}",
        "Rioters torched a {site} in {town}, {country}, on {day} and police fired tear gas.",
    ),
    (
        "killing",
        "{n} {who} killed in {town}",
        "Gunmen shot dead {n} {who} near a {site} in {town}, {country}, on {day}.",
    ),
)
WHO = ("students", "farmers", "workers", "traders", "villagers", "teachers", "nurses")
SITES = ("school", "market", "hostel", "church", "bus station", "hospital", "police post")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SOURCES = tuple(f"wire-{i:02d}" for i in range(12))
_SYLLABLES = ("ba", "ko", "ri", "ta", "mu", "ne", "so", "la", "vi", "de", "go", "pa", "zu", "ki")


@dataclass(frozen=True)
class Item:
    """One raw record of the stream and what it is."""

    article_id: str
    kind: Kind
    payload: bytes
    copy_of: str | None = None  # the original of an exact or near copy


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _record(article_id: str, title: str, text: str, source: str, hour: int) -> dict[str, object]:
    return {
        "id": article_id,
        "title": title,
        "text": text,
        "url": f"https://{source}.example/{article_id}",
        "source": source,
        "published_at": f"2026-11-{1 + hour // 24 % 27:02d}T{hour % 24:02d}:00:00Z",
        "language": "en",
    }


def generate(
    n: int,
    *,
    seed: int = 8,
    prefix: str = "a",
    exact: float = 0.08,
    near: float = 0.08,
    invalid: float = 0.03,
    filler_words: int = 160,
) -> list[Item]:
    """``n`` records: originals, then (at the given shares) copies of an earlier original and
    invalid records, interleaved in a fixed order. A copy always comes after its original."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    items: list[Item] = []
    originals: list[tuple[str, dict[str, object]]] = []
    for i in range(n):
        article_id = f"{prefix}{i:06d}"
        roll = rng.random()
        if originals and roll < exact:
            orig_id, orig = rng.choice(originals)
            source = rng.choice(SOURCES)
            copy = {**orig, "id": article_id, "source": source}
            copy["url"] = f"https://{source}.example/{article_id}"
            items.append(Item(article_id, "exact", orjson.dumps(copy), orig_id))
        elif originals and roll < exact + near:
            orig_id, orig = rng.choice(originals)
            words = str(orig["text"]).split(" ")
            for j in rng.sample(range(len(words)), max(1, len(words) // 50)):
                words[j] = rng.choice(vocab)
            source = rng.choice(SOURCES)
            copy = {**orig, "id": article_id, "source": source, "text": " ".join(words)}
            copy["url"] = f"https://{source}.example/{article_id}"
            items.append(Item(article_id, "near", orjson.dumps(copy), orig_id))
        elif roll < exact + near + invalid:
            # Valid JSON that the schema refuses: no text.
            bad = {"id": article_id, "title": "No body", "text": ""}
            items.append(Item(article_id, "invalid", orjson.dumps(bad)))
        else:
            _theme, title, lead = rng.choice(EVENTS)
            town, country = rng.choice(TOWNS)
            fill = {
                "n": rng.randint(2, 40),
                "who": rng.choice(WHO),
                "site": rng.choice(SITES),
                "day": rng.choice(DAYS),
                "town": town,
                "country": country,
            }
            body = " ".join(rng.choice(vocab) for _ in range(filler_words))
            text = f"{lead.format(**fill)} {body.capitalize()}."
            record = _record(
                article_id, title.format(**fill), text, rng.choice(SOURCES), rng.randrange(600)
            )
            originals.append((article_id, record))
            items.append(Item(article_id, "original", orjson.dumps(record)))
    return items


def iter_payloads(items: list[Item]) -> Iterator[bytes]:
    for item in items:
        yield item.payload
