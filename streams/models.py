"""Frozen records that flow between stages; ``to_dict`` gives the JSON shape of each topic.

The JSON shapes are published as JSON Schemas in ``schemas/`` (file name = topic name); a
contract test checks that what these records serialise to validates against them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class SourceRef:
    """Where an input came from: a Kafka position, or a file and line in local mode."""

    topic: str
    partition: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Article:
    """A validated, normalised article (``news.articles.valid.v1`` and ``.unique.v1``)."""

    id: str
    content_hash: str
    text: str
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    source: str | None = None
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Article:
        return cls(
            id=data["id"],
            content_hash=data["content_hash"],
            text=data["text"],
            title=data.get("title"),
            url=data.get("url"),
            published_at=data.get("published_at"),
            source=data.get("source"),
            language=data.get("language"),
        )


@dataclass(frozen=True)
class Duplicate:
    """An article dropped as a copy of an earlier one (``news.articles.duplicates.v1``)."""

    article_id: str
    duplicate_of: str
    kind: Literal["exact", "near"]
    similarity: float
    matched_on: Literal["content", "url", "minhash"]
    title: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Place:
    """A place mention resolved to an ISO 3166-1 alpha-2 country."""

    text: str
    country: str
    region: str | None = None  # ISO 3166-2 first-level subdivision, when the name is one

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """The sentence that made us tag an article with a theme."""

    theme: str
    trigger: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Event:
    """One reported happening: a trigger in a sentence, who did it to whom, and where."""

    theme: str
    trigger: str
    sentence: str
    actor: str | None = None
    target: str | None = None
    places: tuple[Place, ...] = ()
    negated: bool = False
    hypothetical: bool = False
    confidence: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["places"] = [p.to_dict() for p in self.places]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        return cls(
            theme=data["theme"],
            trigger=data["trigger"],
            sentence=data["sentence"],
            actor=data.get("actor"),
            target=data.get("target"),
            places=tuple(Place(**p) for p in data.get("places", ())),
            negated=bool(data.get("negated", False)),
            hypothetical=bool(data.get("hypothetical", False)),
            confidence=float(data.get("confidence", 0.5)),
        )


@dataclass(frozen=True)
class EventRecord:
    """What an article reports (``news.events.v1``, key: article id)."""

    article_id: str
    themes: tuple[str, ...]
    primary_theme: str | None
    countries: tuple[str, ...]
    actors: tuple[str, ...]
    places: tuple[Place, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    title: str | None = None
    url: str | None = None
    source: str | None = None
    published_at: str | None = None
    model: str = ""
    events: tuple[Event, ...] = ()
    regions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "themes": list(self.themes),
            "primary_theme": self.primary_theme,
            "countries": list(self.countries),
            "actors": list(self.actors),
            "places": [p.to_dict() for p in self.places],
            "evidence": [e.to_dict() for e in self.evidence],
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published_at": self.published_at,
            "model": self.model,
            "events": [e.to_dict() for e in self.events],
            "regions": list(self.regions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventRecord:
        return cls(
            article_id=data["article_id"],
            themes=tuple(data.get("themes", ())),
            primary_theme=data.get("primary_theme"),
            countries=tuple(data.get("countries", ())),
            actors=tuple(data.get("actors", ())),
            places=tuple(Place(**p) for p in data.get("places", ())),
            evidence=tuple(Evidence(**e) for e in data.get("evidence", ())),
            title=data.get("title"),
            url=data.get("url"),
            source=data.get("source"),
            published_at=data.get("published_at"),
            model=data.get("model", ""),
            events=tuple(Event.from_dict(e) for e in data.get("events", ())),
            regions=tuple(data.get("regions", ())),
        )


@dataclass(frozen=True)
class Subscription:
    """What a user wants to hear about. An empty facet matches anything."""

    id: str
    name: str
    themes: frozenset[str] = field(default_factory=frozenset)
    countries: frozenset[str] = field(default_factory=frozenset)
    actors: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "themes": sorted(self.themes),
            "countries": sorted(self.countries),
            "actors": sorted(self.actors),
        }


@dataclass(frozen=True)
class Alert:
    """One subscription matched one article (``news.alerts.v1``, key: subscription id)."""

    alert_id: str
    subscription_id: str
    subscription_name: str
    article_id: str
    title: str | None
    url: str | None
    source: str | None
    published_at: str | None
    matched: Mapping[str, tuple[str, ...]]
    primary_theme: str | None
    evidence: str | None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["matched"] = {k: list(v) for k, v in self.matched.items()}
        return out


@dataclass(frozen=True)
class DeadLetter:
    """A rejected input with everything needed to understand and replay it."""

    stage: str
    error_type: str
    error: str
    source: SourceRef
    payload: bytes
    failed_at: str
    key: bytes | None = None

    def to_dict(self) -> dict[str, Any]:
        text, encoding = encode_payload(self.payload)
        key_text, key_encoding = encode_payload(self.key) if self.key is not None else (None, None)
        return {
            "stage": self.stage,
            "error_type": self.error_type,
            "error": self.error,
            "source": self.source.to_dict(),
            "payload": text,
            "payload_encoding": encoding,
            "key": key_text,
            "key_encoding": key_encoding,
            "failed_at": self.failed_at,
        }


def encode_payload(raw: bytes) -> tuple[str, str]:
    """Keep UTF-8 payloads readable; carry anything else losslessly as base64."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


@dataclass(frozen=True)
class Rejected:
    """A stage's verdict that an input is bad; the shell turns it into a :class:`DeadLetter`."""

    error_type: str
    error: str
