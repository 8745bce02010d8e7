"""The match stage: subscriptions (facets AND query) x story updates -> one alert per story."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streams import schemas, topics
from streams.models import Event, EventRecord, Evidence, Place, Rejected, Subscription
from streams.pipeline.match import Matcher, alert_id, assess, match_story, parse_subscription
from streams.pipeline.stories import StoryUpdate

VALIDATOR = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
ALERT_VALIDATOR = schemas.validator(topics.ALERTS.schema_file)
SENTENCE = "Eighty people were abducted in Nairobi."


def record(article_id: str = "s01", **kw: Any) -> EventRecord:
    base: dict[str, Any] = {
        "article_id": article_id,
        "themes": ("abduction", "protest"),
        "primary_theme": "abduction",
        "countries": ("KE",),
        "actors": ("William Ruto",),
        "places": (Place("nairobi", "KE", "KE-30"),),
        "regions": ("KE-30",),
        "evidence": (Evidence("abduction", "abducted", SENTENCE),),
        "events": (Event("abduction", "abducted", SENTENCE, confidence=0.85),),
        "title": "Abductions in Kenya",
        "source": "Nairobi Daily",
        "text": "Eighty people were abducted in Nairobi since June, a rights group said.",
    }
    base.update(kw)
    return EventRecord(**base)


def update(rec: EventRecord, story: str = "st-" + "a" * 24, n: int = 1) -> StoryUpdate:
    return StoryUpdate(
        story_id=story,
        key="abduction|KE",
        is_new=n == 1,
        article=rec,
        first_seen="2024-11-26T06:15:00Z",
        last_seen="2024-11-26T06:15:00Z",
        article_count=n,
        source_count=n,
        sources=tuple(f"src{i}" for i in range(n)),
        article_ids=(rec.article_id,),
        title=rec.title,
    )


def sub(id_: str, **fields: Any) -> Subscription:
    parsed = parse_subscription({"id": id_, **fields}, VALIDATOR)
    assert isinstance(parsed, Subscription), parsed
    return parsed


def test_all_non_empty_facets_must_match() -> None:
    matcher = Matcher.of(
        [
            sub("ke-abd", themes=["abduction"], countries=["ke"]),
            sub("ng-abd", themes=["abduction"], countries=["NG"]),
            sub("ruto", actors=["william ruto"]),
            sub("ke-arrest", themes=["arrest"], countries=["KE"]),
        ]
    )
    alerts = match_story(update(record()), matcher, {}, "2024-11-26T06:15:01Z")
    assert [a.subscription_id for a in alerts] == ["ke-abd", "ruto"]
    ke = alerts[0]
    assert ke.matched == {"themes": ("abduction",), "countries": ("KE",)}
    assert ke.evidence == SENTENCE
    assert ke.alert_id == alert_id("ke-abd", "st-" + "a" * 24)
    assert (ke.kind, ke.revision, ke.tier, ke.confidence) == ("new", 1, "high", 0.85)
    for alert in alerts:
        assert not list(ALERT_VALIDATOR.iter_errors(alert.to_dict()))


def test_queries_combine_with_facets() -> None:
    matcher = Matcher.of(
        [
            sub("q1", query='theme:abduction AND country:KE AND NOT actor:"Al-Shabaab"'),
            sub("q2", query='theme:abduction AND actor:"Al-Shabaab"'),
            sub("q3", countries=["KE"], query='"rights group" OR kidnapping'),
            sub("q4", query='region:KE-30 AND source:"nairobi daily"'),
            sub("q5", countries=["NG"], query="abducted"),
        ]
    )
    alerts = match_story(update(record()), matcher, {}, "t")
    assert [a.subscription_id for a in alerts] == ["q1", "q3", "q4"]


def test_one_alert_per_story_then_updates_with_the_same_id() -> None:
    matcher = Matcher.of([sub("ke", themes=["abduction"], countries=["KE"])])
    state: dict[str, Any] = {}
    first = match_story(update(record("a1")), matcher, state, "t1")
    second = match_story(update(record("a2"), n=2), matcher, state, "t2")
    # A later article that alone would not match (no country) still updates the story's alert.
    third = match_story(update(record("a3", countries=()), n=3), matcher, state, "t3")
    assert [(a.kind, a.revision) for a in first + second + third] == [
        ("new", 1),
        ("update", 2),
        ("update", 3),
    ]
    assert len({a.alert_id for a in first + second + third}) == 1
    assert third[0].source_count == 3 and third[0].sources == ("src0", "src1", "src2")
    # Another story of the same subscription is a new alert.
    other = match_story(update(record("b1"), story="st-" + "b" * 24), matcher, state, "t4")
    assert other[0].kind == "new" and other[0].alert_id != first[0].alert_id


def test_a_redelivered_update_re_emits_the_identical_alert() -> None:
    matcher = Matcher.of([sub("ke", themes=["abduction"], countries=["KE"])])
    state: dict[str, Any] = {}
    first = match_story(update(record("a1")), matcher, state, "t1")
    match_story(update(record("a2"), n=2), matcher, state, "t2")
    again = match_story(update(record("a1")), matcher, state, "t9")
    assert again == first


def test_a_deleted_subscription_stops_alerting_and_updating() -> None:
    ke = sub("ke", themes=["abduction"], countries=["KE"])
    matcher = Matcher.of([ke])
    state: dict[str, Any] = {}
    assert match_story(update(record("a1")), matcher, state, "t1")
    matcher.remove("ke")
    assert match_story(update(record("a2"), n=2), matcher, state, "t2") == []
    assert match_story(update(record("c1"), story="st-" + "c" * 24), matcher, state, "t") == []


def test_min_confidence_and_tiers() -> None:
    weak = (Event("abduction", "abducted", SENTENCE, confidence=0.55),)
    matcher = Matcher.of([sub("sure", themes=["abduction"], min_confidence=0.8)])
    assert match_story(update(record(events=weak)), matcher, {}, "t") == []
    assert assess(record(events=weak), {"themes": ["abduction"]})[1] == "medium"
    negated = (Event("abduction", "abducted", SENTENCE, negated=True, confidence=0.9),)
    assert assess(record(events=negated), {"themes": ["abduction"]})[1] == "low"
    ambiguous = (Place("paris", "FR", ambiguous=True),)
    conf, tier, _e = assess(record(places=ambiguous, countries=("FR",)), {"countries": ["FR"]})
    assert conf == 0.85 and tier == "medium"
    assert assess(record(events=()), {"actors": ["William Ruto"]})[1] == "low"


def test_alert_ids_are_deterministic_and_distinct() -> None:
    assert alert_id("a", "b") == alert_id("a", "b")
    assert alert_id("a", "b") != alert_id("b", "a")
    assert alert_id("a\x1fb", "c") != alert_id("a", "b\x1fc")


def test_subscription_without_any_facet_or_query_is_rejected() -> None:
    assert isinstance(parse_subscription({"id": "all"}, VALIDATOR), Rejected)
    assert isinstance(parse_subscription({"id": "all", "themes": []}, VALIDATOR), Rejected)


def test_subscription_schema_and_query_errors_are_reported() -> None:
    outcome = parse_subscription({"id": "x y", "themes": ["abduction"]}, VALIDATOR)
    assert isinstance(outcome, Rejected) and "id" in outcome.error
    outcome = parse_subscription({"id": "x", "countries": ["KENX"]}, VALIDATOR)
    assert isinstance(outcome, Rejected) and "countries/0: unknown country 'KENX'" in outcome.error
    outcome = parse_subscription({"id": "x", "query": "theme:abduction AND ("}, VALIDATOR)
    assert isinstance(outcome, Rejected) and "position" in outcome.error
    outcome = parse_subscription({"id": "x", "query": "colour:red"}, VALIDATOR)
    assert isinstance(outcome, Rejected) and "position 0" in outcome.error


def test_secrets_are_redacted_on_request() -> None:
    hooked = sub("h", themes=["riot"], webhook={"url": "https://x.example/h", "secret": "s" * 20})
    assert hooked.to_dict()["webhook"]["secret"] == "s" * 20
    assert hooked.to_dict(redact=True)["webhook"]["secret"] == "********"
    assert "s" * 20 not in repr(hooked)


def test_stories_that_stopped_alerting_are_swept() -> None:
    from streams.pipeline.match import sweep

    matcher = Matcher.of([sub("ke", themes=["abduction"], countries=["KE"])])
    state: dict[str, Any] = {}
    match_story(update(record("a1")), matcher, state, "t1", clock=100.0)
    match_story(update(record("b1"), story="st-" + "b" * 24), matcher, state, "t2", clock=900.0)
    assert sweep(list(state.items()), state, now=1000.0, keep_s=500.0) == 1
    assert list(state) == ["st-" + "b" * 24]


def _story(rec: EventRecord, story: str, n: int, themes: tuple[str, ...], **kw: Any) -> StoryUpdate:
    base = update(rec, story, n)
    return StoryUpdate(**{**base.__dict__, "themes": themes, "countries": ("KE",), **kw})


def test_a_story_matches_by_the_union_of_its_articles() -> None:
    """A protest that turns into a riot alerts the riot subscription on the article that made
    it a riot, and stays one alert (now updated) for the protest subscription."""
    matcher = Matcher.of(
        [sub("protests", themes=["protest"]), sub("riots", themes=["riot"], countries=["KE"])]
    )
    story, state = "st-" + "c" * 24, {}
    protest = record(themes=("protest",), primary_theme="protest")
    riot = record(themes=("riot",), primary_theme="riot")
    first = match_story(_story(protest, story, 1, ("protest",)), matcher, state, "t1")
    second = match_story(
        _story(record("s02", themes=("protest",)), story, 2, ("protest",)), matcher, state, "t2"
    )
    third = match_story(
        _story(replace(riot, article_id="s03"), story, 3, ("protest", "riot")), matcher, state, "t3"
    )
    assert [(a.subscription_id, a.kind, a.revision) for a in first] == [("protests", "new", 1)]
    assert [(a.subscription_id, a.kind, a.revision) for a in second] == [("protests", "update", 2)]
    assert [(a.subscription_id, a.kind, a.revision) for a in third] == [
        ("protests", "update", 3),
        ("riots", "new", 1),
    ]
    # The riot article alone would match the protest subscription too: still no second alert.
    assert len({a.alert_id for a in first + second + third}) == 2


def test_a_merged_story_keeps_the_alerts_of_both() -> None:
    """Alerts already sent stay valid: after a merge no subscription alerts again, updates
    carry the surviving story id, keep their alert's id and say which story it was."""
    matcher = Matcher.of([sub("ke", countries=["KE"]), sub("ruto", actors=["william ruto"])])
    a, b, state = "st-" + "a" * 24, "st-" + "b" * 24, {}
    no_ruto = record("a1", actors=(), text="Eighty people were abducted in Nairobi.")
    first = match_story(_story(no_ruto, a, 1, ("abduction",), actors=()), matcher, state, "t1")
    other = match_story(_story(record("b1"), b, 1, ("abduction",)), matcher, state, "t2")
    assert sorted((x.subscription_id, x.story_id) for x in first + other) == [
        ("ke", a),
        ("ke", b),
        ("ruto", b),
    ]
    bridge = _story(record("c1"), a, 3, ("abduction",), merged_from=(b,), actors=("William Ruto",))
    merged = match_story(bridge, matcher, state, "2024-11-26T08:00:00Z")
    assert [(x.subscription_id, x.kind, x.revision, x.story_id) for x in merged] == [
        ("ke", "update", 2, a),
        ("ruto", "update", 2, a),
    ]
    ke, ruto = merged
    assert ke.alert_id == alert_id("ke", a) and ke.merged_from is None
    assert ruto.alert_id == alert_id("ruto", b) and ruto.merged_from == b
    assert b not in state  # folded into the survivor's entry
    for alert in merged:
        assert not list(ALERT_VALIDATOR.iter_errors(alert.to_dict()))
    # Redelivered: the same revisions again, nothing new.
    again = match_story(bridge, matcher, state, "t4")
    assert [(x.alert_id, x.revision, x.merged_from) for x in again] == [
        (x.alert_id, x.revision, x.merged_from) for x in merged
    ]


def test_a_paused_subscription_matches_nothing_until_resumed() -> None:
    paused = sub("ke-paused", themes=["abduction"], countries=["KE"], paused=True)
    assert paused.paused and paused.to_dict()["paused"] is True
    assert "paused" not in sub("ke", countries=["KE"]).to_dict()  # the usual record unchanged
    matcher = Matcher.of([paused])
    assert match_story(update(record()), matcher, {}, "t") == []
    matcher.put(replace(paused, paused=False))
    assert [a.subscription_id for a in match_story(update(record()), matcher, {}, "t")] == [
        "ke-paused"
    ]
