"""Stream statistics: which counters a record moves, and how windows add up."""

from __future__ import annotations

import pytest

from streams.pipeline import stats
from streams.pipeline.stats import WINDOWS, counter_keys, key, series, top, totals

MINUTE = WINDOWS["1m"]
HOUR = WINDOWS["1h"]
NOW = 1_800_000_030.0  # 30 s into a minute
M0 = NOW - 30.0  # start of the current minute


def test_every_kind_counts_one_record_even_when_it_cannot_be_decoded() -> None:
    for kind in stats.KINDS:
        assert counter_keys(kind, None) == [kind]
    with pytest.raises(ValueError):
        counter_keys("bogus", None)


def test_an_event_counts_each_theme_country_and_actor_once() -> None:
    record = {
        "themes": ["abduction", "protest", "abduction"],
        "countries": ["KE"],
        "actors": ["William Ruto", 7, ""],
    }
    assert sorted(counter_keys(stats.EVENT, record)) == sorted(
        [
            "events",
            key("theme", "abduction"),
            key("theme", "protest"),
            key("country", "KE"),
            key("actor", "William Ruto"),
        ]
    )


def test_alerts_count_by_subscription_and_dead_letters_by_stage() -> None:
    assert counter_keys(stats.ALERT, {"subscription_id": "kenya"}) == [
        "alerts",
        key("subscription", "kenya"),
    ]
    assert counter_keys(stats.DEAD_LETTER, {"stage": "validate"}) == [
        "deadletters",
        key("deadletter_stage", "validate"),
    ]
    assert counter_keys(stats.DUPLICATE, {"article_id": "x"}) == ["duplicates"]


def test_untrusted_values_are_bounded_and_cannot_forge_a_key() -> None:
    long_actor = "A" * 10_000
    forged = f"x{stats.SEP}y"
    keys = counter_keys(
        stats.EVENT, {"actors": [long_actor, forged] + [f"a{i}" for i in range(500)]}
    )
    assert all(len(k) <= len("actor") + 1 + stats.MAX_VALUE for k in keys)
    assert all(k.count(stats.SEP) <= 1 for k in keys)
    assert len(keys) <= stats.MAX_PER_RECORD + 1


def test_totals_add_partitions_and_windows_inside_the_range_only() -> None:
    theme = key("theme", "abduction")
    entries = [
        ((theme, M0), 2),  # partition 0, this minute
        ((theme, M0), 3),  # partition 3, this minute: same key, another store
        ((theme, M0 - 60 * 59), 1),  # 59 minutes ago: inside the last hour
        ((theme, M0 - 60 * 60), 100),  # 60 minutes ago: outside
        ((key("theme", "protest"), M0), 4),
        ((key("country", "KE"), M0), 9),
        (("articles_in", M0), 7),
    ]
    assert totals(entries, "theme", NOW, MINUTE, 60) == {"abduction": 6, "protest": 4}
    assert totals(entries, "theme", NOW, MINUTE, 1) == {"abduction": 5, "protest": 4}
    assert totals(entries, "country", NOW, MINUTE, 60) == {"KE": 9}
    assert totals(entries, "total", NOW, MINUTE, 60) == {"articles_in": 7}


def test_hour_windows_cover_the_last_day() -> None:
    h0 = stats.window_start(NOW, HOUR.size)
    entries = [
        (("alerts", h0 - 3600 * 23), 1),
        (("alerts", h0 - 3600 * 24), 1),
        (("alerts", h0), 2),
    ]
    assert totals(entries, "total", NOW, HOUR, 24) == {"alerts": 3}


def test_series_has_every_window_oldest_first_with_zeros() -> None:
    entries = [(("articles_in", M0), 2), (("articles_in", M0), 1), (("articles_in", M0 - 120), 5)]
    assert series(entries, "articles_in", NOW, MINUTE, 3) == [
        (M0 - 120, 5),
        (M0 - 60, 0),
        (M0, 3),
    ]


def test_top_orders_by_count_then_name() -> None:
    assert top({"b": 2, "a": 2, "c": 5, "d": 1}, 3) == [("c", 5), ("a", 2), ("b", 2)]


def test_window_expiry_keeps_what_the_api_can_ask_for() -> None:
    # /api/stats accepts periods up to `keep`; those windows must not have expired yet.
    assert MINUTE.expires >= 60 * 60 and HOUR.expires >= 24 * 3600


def test_alert_updates_are_counted_apart_from_alerts() -> None:
    new = {"subscription_id": "ke", "kind": "new"}
    assert counter_keys(stats.ALERT, new) == ["alerts", "subscription\x1fke"]
    assert counter_keys(stats.ALERT, {**new, "kind": "update"}) == ["alert_updates"]


def test_tally_sums_per_partition_and_window_until_taken() -> None:
    tally = stats.Tally(every=2.0)
    t = 7_200.0 + 59.0  # the last second of a minute; the next record opens the next minute
    tally.add(0, t, [key("articles_in")], now=100.0)
    tally.add(0, t, [key("articles_in"), key("theme", "abduction")], now=100.5)
    tally.add(0, t + 1, [key("articles_in")], now=101.0)
    tally.add(3, t, [key("articles_in")], now=101.0)
    assert not tally.due(0, 101.9) and tally.due(0, 102.0) and not tally.due(1, 500.0)
    sums = tally.take(0)
    assert sums == {
        ("1m", 7_200.0, "articles_in"): 2,
        ("1m", 7_260.0, "articles_in"): 1,
        ("1m", 7_200.0, "theme\x1fabduction"): 1,
        ("1h", 7_200.0, "articles_in"): 3,
        ("1h", 7_200.0, "theme\x1fabduction"): 1,
    }
    # Taken sums are the caller's to write; partition 3 is still pending and still reported.
    assert not tally.due(0, 1_000.0) and tally.take(0) == {}
    assert list(tally.entries("1h", now=t + 10)) == [(("articles_in", 7_200.0), 1)]


def test_tally_entries_add_up_with_table_rows_and_skip_expired_windows() -> None:
    tally = stats.Tally(every=2.0)
    minute = WINDOWS["1m"]
    tally.add(1, 60.0, [key("alerts")], now=0.0)
    tally.add(2, 60.0, [key("alerts")], now=0.0)
    written: list[stats.Entry] = [(("alerts", 60.0), 5)]
    now = 90.0
    assert totals([*written, *tally.entries("1m", now)], "total", now, minute, 1) == {"alerts": 7}
    assert list(tally.entries("1m", 60.0 + minute.expires + 1)) == []


def test_alert_updates_are_a_figure_of_their_own() -> None:
    """Issue 22: /api/stats said alerts 3 where /api/status said 4 (updates counted in)."""
    update = {"kind": "update", "subscription_id": "kenya"}
    assert counter_keys(stats.ALERT, update) == [stats.ALERT_UPDATE]
    entries = [(("alerts", M0), 3), (("alert_updates", M0), 1), (("other", M0), 5)]
    assert totals(entries, "total", NOW, MINUTE, 60) == {"alerts": 3, "alert_updates": 1}
    assert set(stats.MEANING) == {*stats.KINDS, stats.ALERT_UPDATE}
