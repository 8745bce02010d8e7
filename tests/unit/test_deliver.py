"""The deliver stage's decisions: instant sends, rate caps, digest windows."""

from __future__ import annotations

from typing import Any

from streams import codecs
from streams.models import Subscription, Webhook
from streams.pipeline import deliver

HOOK = Webhook("https://hooks.example.org/x", "s" * 20)
T0 = 1_732_600_800.0  # 2024-11-26T06:00:00Z, an hour boundary


def alert(n: int, revision: int = 1, sub: str = "s1") -> dict[str, Any]:
    return {
        "alert_id": f"al-{n:032x}",
        "subscription_id": sub,
        "kind": "new" if revision == 1 else "update",
        "revision": revision,
        "title": f"story {n}",
    }


def test_instant_with_a_webhook_sends_every_message_with_a_stable_delivery_id() -> None:
    sub = Subscription("s1", "S", webhook=HOOK)
    state: dict[str, Any] = {}
    first = deliver.route(alert(1), sub, state, T0)
    again = deliver.route(alert(1), sub, state, T0 + 5)
    update = deliver.route(alert(1, revision=2), sub, state, T0 + 6)
    assert [s.event for s in first + update] == ["alert.created", "alert.updated"]
    assert first[0].delivery_id == again[0].delivery_id != update[0].delivery_id
    body = codecs.loads(first[0].body)
    assert body == {"type": "alert.created", "data": alert(1)}


def test_nothing_to_send_without_a_webhook_or_a_subscription() -> None:
    state: dict[str, Any] = {}
    assert deliver.route(alert(1), Subscription("s1", "S"), state, T0) == []
    assert deliver.route(alert(1), None, state, T0) == []
    assert state == {}


def test_over_the_rate_cap_alerts_wait_for_the_hourly_digest() -> None:
    sub = Subscription("s1", "S", webhook=HOOK, rate_cap=2)
    state: dict[str, Any] = {}
    sent = [deliver.route(alert(n), sub, state, T0 + n) for n in range(5)]
    assert [len(s) for s in sent] == [1, 1, 0, 0, 0]
    assert deliver.due(state, T0 + 3599) == []
    (digest,) = deliver.due(state, T0 + 3600)
    assert digest.mode == "hourly" and digest.alert_count == 3
    assert [a["title"] for a in digest.alerts] == ["story 2", "story 3", "story 4"]
    # An hour later the cap has room again.
    assert len(deliver.route(alert(9), sub, state, T0 + 3601)) == 1


def test_digest_mode_collects_a_window_and_keeps_the_newest_revision() -> None:
    sub = Subscription("s1", "Daily", mode="daily", webhook=HOOK)
    state: dict[str, Any] = {}
    for n in range(3):
        assert deliver.route(alert(n), sub, state, T0 + n) == []
    deliver.route(alert(1, revision=3), sub, state, T0 + 10)
    assert deliver.due(state, T0 + 3600) == []  # a daily window: not an hour
    (digest,) = deliver.due(state, T0 + 86400)
    assert digest.alert_count == 3 and digest.window_start == "2024-11-26T00:00:00Z"
    assert [(a["alert_id"][-1], a["revision"]) for a in digest.alerts] == [
        ("0", 1),
        ("2", 1),
        ("1", 3),
    ]
    # Due again until delivered (a worker killed in between sends it again), then gone.
    assert deliver.due(state, T0 + 86400) == [digest]
    deliver.delivered(state, digest)
    assert deliver.due(state, T0 + 86400) == [] and state == {}
    # (Real alerts in a digest are checked against news.digests.v1 by the contract tests.)
    assert digest.to_dict()["omitted"] == 0
    assert deliver.digest_send(digest).delivery_id == digest.digest_id


def test_a_digest_lists_at_most_digest_max_and_counts_the_rest() -> None:
    sub = Subscription("s1", "S", mode="hourly")
    state: dict[str, Any] = {}
    for n in range(deliver.DIGEST_MAX + 7):
        deliver.route(alert(n), sub, state, T0)
    (digest,) = deliver.due(state, T0 + 3600)
    assert digest.alert_count == deliver.DIGEST_MAX + 7
    assert digest.to_dict()["omitted"] == 7


def test_digests_belong_to_the_scope_that_opened_them() -> None:
    sub = Subscription("s1", "S", mode="hourly")
    state: dict[str, Any] = {}
    deliver.route(alert(1), sub, state, T0, scope="3")
    assert deliver.due(state, T0 + 7200, scope="1") == []
    assert len(deliver.due(state, T0 + 7200, scope="3")) == 1


def test_a_delivery_is_remembered_for_a_day_then_forgotten() -> None:
    state: dict[str, Any] = {"digest:0:s": {"end": 1.0}}
    assert not deliver.already_sent(state, "al-1.1")
    deliver.mark_sent(state, "al-1.1", 100.0)
    deliver.mark_sent(state, "al-1.2", 100.0 + deliver.DAY)
    assert deliver.already_sent(state, "al-1.1") and not deliver.already_sent(state, "al-1.3")
    assert deliver.forget_sent(state, 100.0 + deliver.DAY) == 0
    assert deliver.forget_sent(state, 101.0 + deliver.DAY) == 1
    assert set(state) == {"digest:0:s", "sent:al-1.2"}
