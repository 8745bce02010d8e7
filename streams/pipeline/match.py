"""Stage ``match``: story updates x subscriptions -> alerts; also parses subscriptions.

A subscription is its facets (OR within a facet, AND across facets) AND its query (the boolean
language of ``pipeline/query.py``). Subscriptions are compiled into an inverted index
(:class:`Matcher`), so an event is evaluated only against the subscriptions that share at
least one facet value or keyword with it.

One alert per (subscription, story): the first matching article of a story sends
``kind="new"``; every later article of that story sends ``kind="update"`` with the next
revision and the same ``alert_id`` (a hash of subscription id and story id). The state, keyed
by story id, remembers each article's revision and time, so a redelivered story update
re-emits the identical alert instead of a new revision: consumers drop repeats by
(alert_id, revision).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from streams import codecs
from streams.errors import DecodeError, ValidationFailed
from streams.models import (
    FACETS,
    Alert,
    Event,
    EventRecord,
    Rejected,
    Subscription,
    Tier,
    Webhook,
)
from streams.pipeline import query
from streams.pipeline.stories import StoryUpdate

STAGE = "match"
# Articles remembered per (subscription, story) for re-emitting a redelivered revision.
SEEN_MAX = 50
HIGH, MEDIUM = 0.75, 0.5  # confidence tiers


REDACTED = "[redacted]"
_SECRET_TEXT = re.compile(rb'("secret"\s*:\s*)"(?:[^"\\]|\\.)*"')


def _redact(value: Any, found: list[str]) -> Any:
    """``value`` with every string under a key named ``secret`` (at any depth) replaced by
    ``REDACTED``; the secrets go to ``found``."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "secret" and isinstance(v, str):
                found.append(v)
                out[k] = REDACTED
            else:
                out[k] = _redact(v, found)
        return out
    if isinstance(value, list):
        return [_redact(v, found) for v in value]
    return value


def redact_rejected(payload: bytes, rejected: Rejected) -> tuple[bytes, Rejected]:
    """A rejected subscription as its dead letter may show it: webhook secrets replaced by
    ``[redacted]``, in the payload and in the error (a schema error quotes the value). The
    dead-letter topic is read more widely than the subscriptions topic; a replay needs the
    secret put back."""
    try:
        data = codecs.loads(payload)
    except DecodeError:  # not JSON: blank what looks like a secret field
        return _SECRET_TEXT.sub(rb'\1"' + REDACTED.encode() + b'"', payload), rejected
    found: list[str] = []
    clean = _redact(data, found)
    if not found:
        return payload, rejected
    error = rejected.error
    for secret in sorted(set(found), key=len, reverse=True):
        if secret:
            error = error.replace(secret, REDACTED)
    return codecs.dumps(clean), Rejected(rejected.error_type, error)


def parse_subscription(data: Any, validator: Draft202012Validator) -> Subscription | Rejected:
    """Check any decoded JSON value against the subscription schema (which also rejects
    non-objects), compile its query (a parse error names the position), and build the record."""
    error = best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Rejected(ValidationFailed.error_type, f"{where}: {error.message[:300]}")
    webhook = data.get("webhook")
    sub = Subscription(
        id=data["id"],
        name=data.get("name") or data["id"],
        owner=data.get("owner") or "default",
        query=data.get("query"),
        themes=frozenset(data.get("themes", ())),
        countries=frozenset(c.upper() for c in data.get("countries", ())),
        regions=frozenset(r.upper() for r in data.get("regions", ())),
        actors=frozenset(data.get("actors", ())),
        sources=frozenset(data.get("sources", ())),
        keywords=frozenset(data.get("keywords", ())),
        min_confidence=float(data.get("min_confidence", 0.0)),
        mode=data.get("mode", "instant"),
        rate_cap=int(data.get("rate_cap", 0)),
        webhook=Webhook(webhook["url"], webhook["secret"]) if webhook else None,
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
    )
    try:
        compile_subscription(sub)
    except query.QueryError as exc:
        return Rejected(ValidationFailed.error_type, f"query: {exc}")
    return sub


def compile_subscription(sub: Subscription) -> query.Node:
    """Facets AND query, as one query tree. Raises ``QueryError`` for a bad query or value."""
    node = query.from_facets(**{name: sorted(values) for name, values in sub.facets().items()})
    if sub.query:
        node = query.combine(node, query.parse(sub.query))
    if node is None:
        # The schema forbids it; never alert on everything by accident.
        raise query.QueryError(0, "a subscription needs a query or a non-empty facet")
    return node


@dataclass
class Matcher:
    """Every current subscription, compiled into an inverted index."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    index: query.SubscriptionIndex = field(default_factory=query.SubscriptionIndex)

    @classmethod
    def of(cls, subscriptions: Iterable[Subscription]) -> Matcher:
        matcher = cls()
        for sub in subscriptions:
            matcher.put(sub)
        return matcher

    def put(self, sub: Subscription) -> None:
        self.index.put(sub.id, compile_subscription(sub))
        self.subscriptions[sub.id] = sub

    def remove(self, sub_id: str) -> None:
        if self.subscriptions.pop(sub_id, None) is not None:
            self.index.remove(sub_id)

    def __len__(self) -> int:
        return len(self.subscriptions)

    def match(self, record: EventRecord) -> list[tuple[Subscription, dict[str, list[str]]]]:
        """The subscriptions ``record`` satisfies, by id, with the terms that matched."""
        facts = facts_of(record)
        out = []
        for sub_id, terms in self.index.match(facts):
            sub = self.subscriptions[sub_id]
            out.append((sub, _as_written(sub, terms)))
        return out


def _as_written(sub: Subscription, terms: dict[str, list[str]]) -> dict[str, list[str]]:
    """Matched actor and source names as the subscription spells them (the index compares
    them case-folded)."""
    out = dict(terms)
    for facet in ("actors", "sources"):
        if out.get(facet):
            spelled = {" ".join(v.casefold().split()): v for v in getattr(sub, facet)}
            out[facet] = [spelled.get(v, v) for v in out[facet]]
    return out


def facts_of(record: EventRecord) -> query.Facts:
    """What queries can see of an event record (computed once per record)."""
    text = f"{record.title}\n{record.text}" if record.title else record.text
    return query.facts(
        themes=record.themes,
        countries=record.countries,
        regions=record.regions,
        actors=record.actors,
        sources=(record.source,) if record.source else (),
        text=text,
    )


def alert_id(subscription_id: str, story_id: str) -> str:
    """Deterministic: the same subscription and story always give the same id."""
    # A JSON pair, not a joined string: no two different (subscription, story) pairs collide.
    digest = hashlib.sha256(codecs.dumps([subscription_id, story_id])).hexdigest()
    return "al-" + digest[:32]


def assess(
    record: EventRecord, matched: Mapping[str, Iterable[str]]
) -> tuple[float, Tier, Event | None]:
    """Confidence, tier and the evidence event behind an alert.

    The evidence is the most confident asserted event of a matched theme (of any theme when
    the subscription names none). High needs confidence >= 0.75, an asserted (not negated,
    not hypothetical) event, and no ambiguous place name behind a matched country.
    """
    themes = set(matched.get("themes", ())) or set(record.themes)
    candidates = [e for e in record.events if e.theme in themes] or list(record.events)
    best = max(
        candidates,
        key=lambda e: (not (e.negated or e.hypothetical), e.confidence),
        default=None,
    )
    # An actor- or keyword-only match with no event behind it is a weak signal.
    confidence = best.confidence if best is not None else 0.3
    asserted = best is not None and not (best.negated or best.hypothetical)
    countries = set(matched.get("countries", ()))
    ambiguous = any(p.ambiguous for p in record.places if p.country in countries)
    tier: Tier
    if confidence >= HIGH and asserted and not ambiguous:
        tier = "high"
    elif confidence >= MEDIUM and asserted:
        tier = "medium"
    else:
        tier = "low"
    return confidence, tier, best


def match_story(
    update: StoryUpdate,
    matcher: Matcher,
    state: MutableMapping[str, Any],
    now: str,
    clock: float = 0.0,
) -> list[Alert]:
    """Alerts for one story update: a new alert for each subscription the article matches
    that has not alerted on this story yet, an update for each that has.

    A copy (``update.copy_of``) only updates: it carries no extraction of its own, so it
    keeps the confidence, tier and evidence of the article that raised the alert.
    """
    record = update.article
    entry: dict[str, Any] = dict(state.get(update.story_id) or {})
    alerted: dict[str, Any] = dict(entry.get("subs") or {})
    out: list[Alert] = []
    matches = (
        {} if update.copy_of else {sub.id: (sub, terms) for sub, terms in matcher.match(record)}
    )
    for sub_id in sorted(set(alerted) | set(matches)):
        sub = matcher.subscriptions.get(sub_id)
        if sub is None:
            continue  # deleted since it alerted
        known = alerted.get(sub_id)
        seen: dict[str, list[Any]] = dict(known["seen"]) if known else {}
        if record.article_id in seen:  # redelivered: the same revision again
            revision, stamp, terms, judged = seen[record.article_id]
            out.append(_alert(update, sub, terms, revision, stamp, judged))
            continue
        if known is None:
            terms = matches[sub_id][1]
            judged = _judge(record, terms)
            if judged[0] < sub.min_confidence:
                continue  # a later, surer article of the story may still alert
            revision = 1
        else:
            # The story matched once; its later articles update that alert even when they
            # alone would not match (a follow-up that omits the country is the same story).
            terms = matches[sub_id][1] if sub_id in matches else known["terms"]
            judged = known["judged"] if update.copy_of else _judge(record, terms)
            revision = int(known["rev"]) + 1
        seen[record.article_id] = [revision, now, terms, judged]
        if len(seen) > SEEN_MAX:
            seen = dict(list(seen.items())[-SEEN_MAX:])
        alerted[sub_id] = {"rev": revision, "terms": terms, "judged": judged, "seen": seen}
        out.append(_alert(update, sub, terms, revision, now, judged))
    if out:
        # "at": when the story last alerted (``clock``, epoch seconds), for :func:`sweep`.
        state[update.story_id] = {**entry, "subs": alerted, "at": clock}
    return out


def sweep(
    items: Iterable[tuple[str, Any]], state: MutableMapping[str, Any], now: float, keep_s: float
) -> int:
    """Forget stories that have not alerted for ``keep_s`` seconds (their stories have closed:
    a later article starts a new story, so nothing would update them); returns how many."""
    gone = 0
    for key, value in list(items):
        if isinstance(value, dict) and now - float(value.get("at", 0.0)) > keep_s:
            del state[key]
            gone += 1
    return gone


def _judge(record: EventRecord, terms: Mapping[str, list[str]]) -> list[Any]:
    """[confidence, tier, evidence sentence] as stored in the state."""
    confidence, tier, evidence = assess(record, terms)
    sentence = evidence.sentence[:1000] if evidence is not None else None
    return [round(confidence, 2), tier, sentence]


def _alert(
    update: StoryUpdate,
    sub: Subscription,
    terms: Mapping[str, list[str]],
    revision: int,
    alerted_at: str,
    judged: list[Any],
) -> Alert:
    record = update.article
    confidence, tier, evidence = judged
    return Alert(
        alert_id=alert_id(sub.id, update.story_id),
        subscription_id=sub.id,
        subscription_name=sub.name,
        kind="new" if revision == 1 else "update",
        revision=revision,
        story_id=update.story_id,
        article_id=record.article_id,
        title=record.title,
        url=record.url,
        source=record.source,
        published_at=record.published_at,
        matched={f: tuple(terms[f]) for f in FACETS if terms.get(f)},
        primary_theme=record.primary_theme,
        evidence=evidence,
        confidence=float(confidence),
        tier=tier,
        first_seen=update.first_seen,
        source_count=update.source_count,
        article_count=update.article_count,
        sources=tuple(update.sources[-20:]),
        alerted_at=alerted_at,
        owner=sub.owner,
    )
