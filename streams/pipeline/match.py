"""Stage ``match``: story updates x subscriptions -> alerts; also parses subscriptions.

A subscription is its facets (OR within a facet, AND across facets) AND its query (the boolean
language of ``pipeline/query.py``). Subscriptions are compiled into an inverted index
(:class:`Matcher`), so an event is evaluated only against the subscriptions that share at
least one facet value or keyword with it.

One alert per (subscription, story): a subscription is matched against the story (the
article with the story's unions of themes, countries, regions and actors), and the first
article with which the story matches it sends ``kind="new"``, even when that is the story's
third article; every later article of that story sends ``kind="update"`` with the next
revision and the same ``alert_id`` (a hash of subscription id and story id). The state, keyed
by story id, remembers each article's revision and time, so a redelivered story update
re-emits the identical alert instead of a new revision: consumers drop repeats by
(alert_id, revision).

Merged stories: a story update with ``merged_from`` takes over the alerts of the merged
stories (their state entries sit on the same partition: story updates are keyed by story
key). A subscription that alerted on a merged story gets no second alert; its later updates
keep that alert's id, carry the surviving story id and say ``merged_from``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

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
from streams.pipeline.names import load_names
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


# Facets whose values are resolved from what users type (names, codes, synonyms).
RESOLVED = {"themes": "theme", "countries": "country", "regions": "region", "actors": "actor"}
MAX_ERRORS = 10


def parse_subscription(
    data: Any, validator: Draft202012Validator, names: query.Resolver | None = None
) -> Subscription | Rejected:
    """Resolve the typed facet values (themes through their synonyms, countries and regions
    by name or code, actors through the gazetteer: ``names``, the shipped data by default),
    check the result against the subscription schema (which also rejects non-objects),
    compile its query (a parse error names the position), and build the record. Every
    error names its field and what is expected."""
    names = names or load_names()
    errors: list[str] = []
    if isinstance(data, dict):
        data = dict(data)
        for facet, fieldname in RESOLVED.items():
            values = data.get(facet)
            if isinstance(values, list):
                data[facet] = _resolve_facet(facet, fieldname, values, names, errors)
    if not errors:
        errors = schema_errors(data, validator)
    if errors:
        return Rejected(ValidationFailed.error_type, "; ".join(errors[:MAX_ERRORS]))
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
        paused=bool(data.get("paused", False)),
    )
    try:
        compile_subscription(sub, names)
    except query.QueryError as exc:
        return Rejected(ValidationFailed.error_type, f"query: {exc}")
    return sub


def _resolve_facet(
    facet: str, fieldname: str, values: list[Any], names: query.Resolver, errors: list[str]
) -> list[Any]:
    """The facet's values resolved (an unknown actor stays as typed), each once; what
    cannot be resolved goes to ``errors`` as "facet/index: reason"."""
    out: list[Any] = []
    for i, value in enumerate(values):
        bad = not isinstance(value, str) or not value.strip() or len(value) > query.MAX_VALUE
        if bad or len(errors) >= MAX_ERRORS:
            out.append(value)  # the schema names the problem (or enough has been said)
            continue
        try:
            resolved = names.resolve(fieldname, value.strip())
        except ValueError as exc:
            errors.append(f"{facet}/{i}: {exc}"[:500])
            continue
        resolved = resolved if resolved is not None else value.strip()
        if resolved not in out:
            out.append(resolved)
    return out


# What a subscription's fields hold, for error messages ("id: expected ...").
_EXPECTED = {
    "id": "1-128 letters, digits, '.', '_' or '-'",
    "owner": "1-128 letters, digits, '.', '_', '@' or '-'",
    "themes": "a theme id or one of its synonyms",
    "countries": "an ISO 3166-1 code or country name",
    "regions": "an ISO 3166-2 code like KE-30 or a region name",
    "url": "an http(s):// URL",
    "created_at": "an RFC 3339 UTC time like 2026-01-31T09:00:00Z",
    "updated_at": "an RFC 3339 UTC time like 2026-01-31T09:00:00Z",
}
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def schema_errors(data: Any, validator: Draft202012Validator) -> list[str]:
    """Every schema error as "field: what is expected", without quoting whole values
    ("(root): {...} is not valid under any of the given schemas" says neither)."""
    if not isinstance(data, dict):
        return [f"(root): expected a JSON object, got {_JSON_TYPES.get(type(data), 'a value')}"]
    out: list[str] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        message = _explain(error, validator.schema)
        if message not in out:
            out.append(message)
    return out


def _explain(error: ValidationError, schema: dict[str, Any]) -> str:
    path = [str(p) for p in error.absolute_path]
    where = "/".join(path) or "(root)"
    name = next((p for p in reversed(path) if not p.isdigit()), "")
    value = error.instance
    kind = error.validator
    if kind == "anyOf" and not path:
        facets = ", ".join(query.PLURAL.values())
        return f"a subscription needs a query or at least one non-empty facet ({facets})"
    if kind == "required":
        missing = [k for k in error.validator_value if k not in (value or {})]
        return f"{'/'.join([*path, missing[0]]) if missing else where}: required"
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        prefix = "/".join(path) + "/" if path else ""
        shown = ", ".join(f"{prefix}{k}" for k in extra) or where
        return f"{shown}: unknown field (expected one of: {', '.join(allowed)})"
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        got = _JSON_TYPES.get(type(value), "a value")
        return f"{where}: expected {expected}, got {got}"
    if kind == "pattern":
        what = _EXPECTED.get(name, f"a value matching {error.validator_value}")
        return f"{where}: {_short(value)} is not {what}"
    if kind == "enum":
        options = ", ".join(map(str, error.validator_value))
        return f"{where}: {_short(value)} is not one of {options}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}.get(kind, "<")
        return f"{where}: expected a number {bound} {error.validator_value}, got {_short(value)}"
    if kind in ("minLength", "maxLength"):
        word = "at least" if kind == "minLength" else "at most"
        return f"{where}: expected {word} {error.validator_value} characters"
    if kind in ("minItems", "maxItems"):
        word = "at least" if kind == "minItems" else "at most"
        return f"{where}: expected {word} {error.validator_value} values"
    if kind == "uniqueItems":
        return f"{where}: values must be unique"
    return f"{where}: {error.message[:200]}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def compile_subscription(sub: Subscription, names: query.Resolver | None = None) -> query.Node:
    """Facets AND query, as one query tree, its values resolved through ``names`` (the
    shipped data by default). Raises ``QueryError`` for a bad query or value."""
    names = names or load_names()
    facets = {name: sorted(values) for name, values in sub.facets().items()}
    node = query.from_facets(**facets, names=names)
    if sub.query:
        node = query.combine(node, query.parse(sub.query, names))
    if node is None:
        # The schema forbids it; never alert on everything by accident.
        raise query.QueryError(0, "a subscription needs a query or a non-empty facet")
    return node


@dataclass
class Matcher:
    """Every current subscription, compiled into an inverted index."""

    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    index: query.SubscriptionIndex = field(default_factory=query.SubscriptionIndex)
    # Resolves typed values (query actors and themes); None: the shipped data.
    names: query.Resolver | None = None

    @classmethod
    def of(
        cls, subscriptions: Iterable[Subscription], names: query.Resolver | None = None
    ) -> Matcher:
        matcher = cls(names=names)
        for sub in subscriptions:
            matcher.put(sub)
        return matcher

    def put(self, sub: Subscription) -> None:
        self.index.put(sub.id, compile_subscription(sub, self.names))
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
            if sub.paused:
                continue
            out.append((sub, _as_written(sub, terms)))
        return out


def _as_written(sub: Subscription, terms: dict[str, list[str]]) -> dict[str, list[str]]:
    """Matched actor and source names as the subscription spells them (the index compares
    them case-folded)."""
    out = dict(terms)
    for facet in ("actors", query.TEXT_ACTORS, "sources"):
        if out.get(facet):
            spelled = {" ".join(v.casefold().split()): v for v in _spellings(sub, facet)}
            out[facet] = [spelled.get(v, v) for v in out[facet]]
    return out


def _spellings(sub: Subscription, facet: str) -> Iterable[str]:
    return sub.actors if facet == query.TEXT_ACTORS else getattr(sub, facet)


# What an alert's "matched" may hold: the facets, and actors found only as text.
MATCHED = (*FACETS, query.TEXT_ACTORS)


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
    folded = _fold_merged(update, state, alerted)
    out: list[Alert] = []
    story = update.story_record()
    matches = (
        {} if update.copy_of else {sub.id: (sub, terms) for sub, terms in matcher.match(story)}
    )
    for sub_id in sorted(set(alerted) | set(matches)):
        sub = matcher.subscriptions.get(sub_id)
        if sub is None:
            continue  # deleted since it alerted
        known = alerted.get(sub_id)
        seen: dict[str, list[Any]] = dict(known["seen"]) if known else {}
        if known and record.article_id in seen:  # redelivered: the same revision again
            revision, stamp, terms, judged = seen[record.article_id]
            out.append(_alert(update, sub, terms, revision, stamp, judged, known.get("from")))
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
        merged = {k: known[k] for k in ("from",) if known and k in known}
        alerted[sub_id] = {
            "rev": revision,
            "terms": terms,
            "judged": judged,
            "seen": seen,
            **merged,
        }
        out.append(_alert(update, sub, terms, revision, now, judged, merged.get("from")))
    if out or folded:
        # "at": when the story last alerted (``clock``, epoch seconds), for :func:`sweep`.
        state[update.story_id] = {**entry, "subs": alerted, "at": clock}
    return out


def _fold_merged(
    update: StoryUpdate, state: MutableMapping[str, Any], alerted: dict[str, Any]
) -> bool:
    """Take over the alerts of the stories merged into ``update``'s (their entries leave
    the state); returns whether any was folded in. A subscription that alerted on both
    keeps the surviving story's alert."""
    folded = False
    for merged_id in update.merged_from:
        gone = state.get(merged_id)
        if gone is None:
            continue  # folded already, or it never alerted
        for sub_id, known in sorted((gone.get("subs") or {}).items()):
            if sub_id not in alerted:
                origin = known.get("from") or merged_id
                alerted[sub_id] = {**known, "from": origin}
        del state[merged_id]
        folded = True
    return folded


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
    merged_from: str | None = None,
) -> Alert:
    record = update.article
    confidence, tier, evidence = judged
    return Alert(
        # An alert raised on a story merged since keeps its id: consumers thread by it.
        alert_id=alert_id(sub.id, merged_from or update.story_id),
        merged_from=merged_from,
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
        matched={f: tuple(terms[f]) for f in MATCHED if terms.get(f)},
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
