"""The dashboard's per-minute ring (messages/s, lag, latency) and its counts by country."""

from __future__ import annotations

from streams.web.geo import alert_countries, by_country
from streams.web.timeline import Timeline, percentile


def test_counter_increases_land_in_their_minute_as_rates() -> None:
    t = Timeline(keep=5)
    t.counts(600.0, {"validate": 100})  # the first reading is only a baseline
    t.counts(630.0, {"validate": 160})
    t.counts(665.0, {"validate": 190})
    rows = t.series(690.0, minutes=2)
    assert [r["start"] for r in rows] == [600.0, 660.0]
    assert rows[0]["rate"] == {"validate": 1.0}  # 60 in a full minute
    assert rows[1]["rate"] == {"validate": 1.0}  # 30 in the 30 s passed of this minute


def test_a_counter_reset_counts_its_new_value_and_lag_keeps_the_highest() -> None:
    t = Timeline()
    t.counts(0.0, {"match": 50})
    t.counts(10.0, {"match": 7})
    t.lag(10.0, {"match": 3, "extract": None})
    t.lag(20.0, {"match": 9})
    t.lag(30.0, {"match": 4})
    row = t.series(60.0, minutes=2)[0]
    assert row["rate"] == {"match": round(7 / 60, 3)} and row["lag"] == {"match": 9}


def test_the_ring_is_bounded_and_missing_minutes_are_empty() -> None:
    t = Timeline(keep=3)
    for minute in range(10):
        t.lag(minute * 60.0, {"s": minute})
    assert len(t.buckets) == 3 and t.buckets[0].start == 420.0
    rows = t.series(11 * 60.0, minutes=3)
    assert [r["lag"] for r in rows] == [{"s": 9}, {}, {}]
    assert rows[-1]["p50"] is None and rows[-1]["n"] == 0


def test_latency_percentiles_from_a_bounded_sample() -> None:
    t = Timeline(samples_max=100, seed=1)
    for i in range(1, 1001):
        t.latency(5.0, float(i))
    bucket = t.buckets[-1]
    assert len(bucket.latencies) == 100 and bucket.latency_count == 1000
    row = t.series(30.0, minutes=1)[0]
    assert row["n"] == 1000 and 300 < row["p50"] < 700 and row["p99"] > 900
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0], 99) == 2.0
    assert percentile([], 50) is None


def test_countries_of_an_alert_and_rows_for_the_map() -> None:
    assert alert_countries({"matched": {"countries": ["ke"]}}, None) == ["KE"]
    assert alert_countries({"matched": {}}, {"countries": ["UG", "KE"]}) == ["KE", "UG"]
    assert alert_countries({}, None) == []
    alerts = [
        {"countries": ["KE"], "received_at": 100.0},
        {"countries": ["KE", "XX"], "received_at": 200.0},
        {"countries": ["UG"], "received_at": 10.0},  # before the window
    ]
    rows = by_country({"KE": 3, "FR": 5, "DE": 0}, alerts, since=50.0)
    assert [r["code"] for r in rows] == ["KE", "XX", "FR"]
    kenya = rows[0]
    assert (kenya["numeric"], kenya["events"], kenya["alerts"]) == ("404", 3, 2)
    assert rows[1]["numeric"] is None  # not an ISO code: listed, not on the map
