"""The dashboard's alert feed: bounded, one entry per alert id, slow live clients dropped."""

from __future__ import annotations

from typing import Any

from streams.web.feed import AlertFeed


def alert(n: int, **extra: Any) -> dict[str, Any]:
    return {"alert_id": f"al-{n}", "subscription_id": "s", "title": f"t{n}", **extra}


async def test_redelivered_alerts_are_kept_and_sent_once() -> None:
    feed = AlertFeed()
    queue = feed.subscribe()
    assert feed.add(alert(1), 1.0)
    assert not feed.add(alert(1), 2.0)
    assert queue.qsize() == 1
    assert (await queue.get())["received_at"] == 1.0


async def test_the_recent_list_is_bounded_and_lookups_follow_it() -> None:
    feed = AlertFeed(maxlen=3)
    for n in range(5):
        feed.add(alert(n), float(n))
    assert [a["alert_id"] for a in feed.recent] == ["al-2", "al-3", "al-4"]
    assert set(feed.by_id) == {"al-2", "al-3", "al-4"}


async def test_a_client_that_falls_behind_is_dropped_not_buffered() -> None:
    feed = AlertFeed(queue_size=2)
    slow = feed.subscribe()
    fast = feed.subscribe()
    for n in range(3):
        feed.add(alert(n), float(n))
        while not fast.empty():
            fast.get_nowait()
    assert slow not in feed.clients and fast in feed.clients
    assert slow.qsize() == 2
    feed.unsubscribe(fast)
    assert not feed.clients


def test_only_known_fields_are_kept_and_each_is_bounded() -> None:
    feed = AlertFeed()
    feed.add(
        alert(
            1,
            title="x" * 100_000,
            evidence=["not", "a", "string"],
            matched={"themes": ["abduction"] * 1000, "bad": "not a list"},
            extra="dropped",
        ),
        0.0,
    )
    kept = feed.by_id["al-1"]
    assert "extra" not in kept and kept["evidence"] is None
    assert len(kept["title"]) <= 4000
    assert kept["matched"] == {"themes": ["abduction"] * 50}


def test_an_alert_without_an_id_is_ignored() -> None:
    feed = AlertFeed()
    assert not feed.add({"title": "no id"}, 0.0)
    assert not feed.recent


def test_event_records_are_bounded_and_the_oldest_go_first() -> None:
    feed = AlertFeed()
    for n in range(2005):
        feed.add_event({"article_id": f"a{n}", "themes": ["riot"], "evidence": "not a list"})
    assert len(feed.events) == 2000 and "a0" not in feed.events and "a2004" in feed.events
    assert feed.events["a2004"]["evidence"] == []
    feed.add_event({"article_id": "", "themes": []})
    assert "" not in feed.events


def test_the_story_page_keeps_the_latest_stories_and_follows_merges() -> None:
    from streams.web.feed import Stories

    stories = Stories(maxlen=2)
    base = {
        "title": "Abductions in Kenya",
        "first_seen": "2024-11-26T06:15:00Z",
        "last_seen": "2024-11-26T06:15:00Z",
        "article_count": 1,
        "source_count": 1,
        "themes": ["abduction"],
        "articles": [["s01", "Abductions", "Nairobi Daily", "javascript:x", None], ["bad"]],
    }
    stories.add({**base, "story_id": "st-a"})
    stories.add({**base, "story_id": "st-b", "title": "x" * 5000})
    assert stories.get("st-a")["articles"] == [  # type: ignore[index]
        {
            "article_id": "s01",
            "title": "Abductions",
            "source": "Nairobi Daily",
            "url": "javascript:x",  # kept as text: the page links http(s) only
            "published_at": None,
        }
    ]
    assert len(stories.get("st-b")["title"]) < 5000  # type: ignore[index]
    stories.add({**base, "story_id": "st-a", "merged_from": ["st-b"], "article_count": 3})
    merged = stories.get("st-b")
    assert merged is not None and merged["merged_into"] == "st-a"
    assert merged["article_count"] == 3
    stories.add({**base, "story_id": "st-c"})
    stories.add({**base, "story_id": "st-d"})
    assert stories.get("st-a") is None and len(stories.by_id) == 2  # bounded


def story(n: int, articles: int) -> dict[str, Any]:
    return {
        "story_id": f"st-{n}",
        "title": f"story {n}",
        "article_count": articles,
        "countries": ["UG"],
        "articles": [["a", "t", "s", "https://x", "2024-01-01T00:00:00Z"]],
    }


async def test_stories_newest_first_new_or_updated_and_alert_countries() -> None:
    feed = AlertFeed()
    feed.stories.add(story(1, 1))
    feed.stories.add(story(2, 3))
    feed.stories.add(story(1, 2))  # updated: now the newest
    latest = feed.stories.latest(5)
    assert [(s["story_id"], s["status"]) for s in latest] == [
        ("st-1", "updated"),
        ("st-2", "updated"),
    ]
    assert "articles" not in latest[0]
    feed.stories.add(story(3, 1))
    assert feed.stories.latest(1)[0]["status"] == "new"
    # An alert's countries: what its subscription matched, else its story's.
    feed.add(alert(1, story_id="st-3"), 1.0)
    feed.add(alert(2, story_id="st-9", matched={"countries": ["KE"]}), 2.0)
    assert feed.by_id["al-1"]["countries"] == ["UG"]
    assert feed.by_id["al-2"]["countries"] == ["KE"]
