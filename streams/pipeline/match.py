"""Stage ``match``: event records x subscriptions -> alerts; also parses subscriptions.

A subscription lists facets (themes, countries, actors). Within a facet any value may match
(OR); every non-empty facet must match (AND). The alert id is a hash of subscription id and
article id, so a redelivered event yields the same alert id and consumers can drop repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from streams import codecs
from streams.errors import ValidationFailed
from streams.models import Alert, EventRecord, Rejected, Subscription

STAGE = "match"
FACETS = ("themes", "countries", "actors")


def parse_subscription(data: Any, validator: Draft202012Validator) -> Subscription | Rejected:
    """Check any decoded JSON value against the subscription schema (which also rejects
    non-objects) and build the frozen record."""
    error = best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return Rejected(ValidationFailed.error_type, f"{where}: {error.message[:300]}")
    return Subscription(
        id=data["id"],
        name=data.get("name") or data["id"],
        themes=frozenset(data.get("themes", ())),
        countries=frozenset(c.upper() for c in data.get("countries", ())),
        actors=frozenset(data.get("actors", ())),
    )


def alert_id(subscription_id: str, article_id: str) -> str:
    """Deterministic: the same subscription and article always give the same id."""
    # A JSON pair, not a joined string: no two different (subscription, article) pairs collide.
    digest = hashlib.sha256(codecs.dumps([subscription_id, article_id])).hexdigest()
    return "al-" + digest[:32]


def match_event(record: EventRecord, subscriptions: Iterable[Subscription]) -> list[Alert]:
    """Every subscription the record satisfies, as alerts (in subscription id order)."""
    have = {
        "themes": set(record.themes),
        "countries": set(record.countries),
        "actors": set(record.actors),
    }
    alerts = []
    for sub in sorted(subscriptions, key=lambda s: s.id):
        wanted = {"themes": sub.themes, "countries": sub.countries, "actors": sub.actors}
        if not any(wanted.values()):
            continue  # the schema forbids it; never alert on everything by accident
        matched = {f: tuple(sorted(have[f] & wanted[f])) for f in FACETS if wanted[f]}
        if all(matched.values()):
            alerts.append(_alert(record, sub, matched))
    return alerts


def _alert(record: EventRecord, sub: Subscription, matched: dict[str, tuple[str, ...]]) -> Alert:
    themes = matched.get("themes") or record.themes
    evidence = next((e.sentence for e in record.evidence if e.theme in themes), None)
    return Alert(
        alert_id=alert_id(sub.id, record.article_id),
        subscription_id=sub.id,
        subscription_name=sub.name,
        article_id=record.article_id,
        title=record.title,
        url=record.url,
        source=record.source,
        published_at=record.published_at,
        matched=matched,
        primary_theme=record.primary_theme,
        evidence=evidence,
    )
