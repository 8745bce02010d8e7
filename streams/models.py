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
    author: str | None = None  # the byline, when the input has one

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
            author=data.get("author"),
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
    # Who published the copy and when: a copy is one more source of its original's story.
    source: str | None = None
    published_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Duplicate:
        return cls(**{k: data[k] for k in data if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Place:
    """A place mention resolved to an ISO 3166-1 alpha-2 country."""

    text: str
    country: str
    region: str | None = None  # ISO 3166-2 first-level subdivision, when the name is one
    # Other countries' readings of the name were nearly as likely: never a high-tier alert.
    ambiguous: bool = False

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


# Keyword queries see this much of an article: bounds the events topic's message size.
TEXT_MAX = 20_000


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
    # The article's text, cut to TEXT_MAX characters: what keyword queries match.
    text: str = ""
    # The event gate's score (streams/nlp/gate.py): does the article report an incident?
    incident: float | None = None

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
            "text": self.text,
            **({"incident": self.incident} if self.incident is not None else {}),
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
            text=data.get("text") or "",
            incident=data.get("incident"),
        )


Mode = Literal["instant", "hourly", "daily"]
Tier = Literal["high", "medium", "low"]
FACETS: tuple[str, ...] = ("themes", "countries", "regions", "actors", "sources", "keywords")


@dataclass(frozen=True)
class Webhook:
    """Where instant alerts and digests are POSTed, and the secret that signs them."""

    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Subscription:
    """What a user wants to hear about: facets (AND across facets, OR within one) AND an
    optional query in the boolean language of ``pipeline/query.py``."""

    id: str
    name: str
    owner: str = "default"
    query: str | None = None
    themes: frozenset[str] = field(default_factory=frozenset)
    countries: frozenset[str] = field(default_factory=frozenset)
    regions: frozenset[str] = field(default_factory=frozenset)
    actors: frozenset[str] = field(default_factory=frozenset)
    sources: frozenset[str] = field(default_factory=frozenset)
    keywords: frozenset[str] = field(default_factory=frozenset)
    min_confidence: float = 0.0
    mode: Mode = "instant"
    rate_cap: int = 0  # most instant webhook deliveries per hour; 0 = no cap
    webhook: Webhook | None = None
    created_at: str | None = None
    updated_at: str | None = None
    paused: bool = False  # kept, matching nothing until resumed

    def facets(self) -> dict[str, frozenset[str]]:
        return {name: getattr(self, name) for name in FACETS}

    def to_dict(self, *, redact: bool = False) -> dict[str, Any]:
        """The topic's JSON shape; ``redact`` hides the webhook secret (API answers)."""
        out: dict[str, Any] = {"id": self.id, "name": self.name, "owner": self.owner}
        if self.query is not None:
            out["query"] = self.query
        for name, values in self.facets().items():
            out[name] = sorted(values)
        out["min_confidence"] = self.min_confidence
        out["mode"] = self.mode
        out["rate_cap"] = self.rate_cap
        if self.webhook is not None:
            secret = "********" if redact else self.webhook.secret
            out["webhook"] = {"url": self.webhook.url, "secret": secret}
        for stamp in ("created_at", "updated_at"):
            if getattr(self, stamp) is not None:
                out[stamp] = getattr(self, stamp)
        if self.paused:
            out["paused"] = True
        return out


@dataclass(frozen=True)
class Alert:
    """One subscription matched one story (``news.alerts.v1``, key: subscription id).

    ``alert_id`` is the same for every message about one (subscription, story): the first is
    ``kind="new"`` (revision 1), later articles of the story send ``kind="update"`` with the
    next revision. The article fields describe the article that caused this revision.
    """

    alert_id: str
    subscription_id: str
    subscription_name: str
    kind: Literal["new", "update"]
    revision: int
    story_id: str
    article_id: str
    title: str | None
    url: str | None
    source: str | None
    published_at: str | None
    matched: Mapping[str, tuple[str, ...]]
    primary_theme: str | None
    evidence: str | None
    confidence: float
    tier: Tier
    first_seen: str
    source_count: int
    article_count: int
    sources: tuple[str, ...]
    alerted_at: str
    owner: str = "default"
    # The story the alert was raised on, when it has since been merged into ``story_id``.
    merged_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["matched"] = {k: list(v) for k, v in self.matched.items()}
        out["sources"] = list(self.sources)
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
