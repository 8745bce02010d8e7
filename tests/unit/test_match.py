from __future__ import annotations

from streams import schemas, topics
from streams.models import EventRecord, Evidence, Rejected, Subscription
from streams.pipeline.match import alert_id, match_event, parse_subscription

VALIDATOR = schemas.validator(topics.SUBSCRIPTIONS.schema_file)


def record(**kw: object) -> EventRecord:
    base: dict[str, object] = {
        "article_id": "s01",
        "themes": ("abduction", "protest"),
        "primary_theme": "abduction",
        "countries": ("KE",),
        "actors": ("William Ruto",),
        "evidence": (Evidence("abduction", "abducted", "Eighty people were abducted."),),
    }
    base.update(kw)
    return EventRecord(**base)  # type: ignore[arg-type]


def sub(id_: str, **facets: list[str]) -> Subscription:
    parsed = parse_subscription({"id": id_, **facets}, VALIDATOR)
    assert isinstance(parsed, Subscription)
    return parsed


def test_all_non_empty_facets_must_match() -> None:
    subs = [
        sub("ke-abd", themes=["abduction"], countries=["ke"]),
        sub("ng-abd", themes=["abduction"], countries=["NG"]),
        sub("ruto", actors=["William Ruto"]),
        sub("ke-arrest", themes=["arrest"], countries=["KE"]),
    ]
    alerts = match_event(record(), subs)
    assert [a.subscription_id for a in alerts] == ["ke-abd", "ruto"]
    ke = alerts[0]
    assert ke.matched == {"themes": ("abduction",), "countries": ("KE",)}
    assert ke.evidence == "Eighty people were abducted."
    assert ke.alert_id == alert_id("ke-abd", "s01")


def test_alert_ids_are_deterministic_and_distinct() -> None:
    assert alert_id("a", "b") == alert_id("a", "b")
    assert alert_id("a", "b") != alert_id("b", "a")
    assert alert_id("a\x1fb", "c") != alert_id("a", "b\x1fc")


def test_subscription_without_any_facet_is_rejected() -> None:
    assert isinstance(parse_subscription({"id": "all"}, VALIDATOR), Rejected)
    assert isinstance(parse_subscription({"id": "all", "themes": []}, VALIDATOR), Rejected)


def test_subscription_schema_errors_are_reported() -> None:
    outcome = parse_subscription({"id": "x y", "themes": ["abduction"]}, VALIDATOR)
    assert isinstance(outcome, Rejected) and "id" in outcome.error
    outcome = parse_subscription({"id": "x", "countries": ["KEN"]}, VALIDATOR)
    assert isinstance(outcome, Rejected)
