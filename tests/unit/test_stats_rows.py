"""The statistics' aggregate rows (``agents/stats.py``): one row per window, start, partition
and dimension, read back as the same (counter, window start) counts the tally held."""

from __future__ import annotations

from streams.agents.stats import parse_row_key, row_key, rows_of
from streams.pipeline import stats


def test_rows_group_a_tally_by_window_and_dimension_and_read_back_the_same_counts() -> None:
    tally = stats.Tally(every=5.0)
    t0 = 1_733_000_000.0
    event = {"themes": ["riot"], "countries": ["KE", "UG"], "actors": []}
    for i in range(3):
        tally.add(0, t0 + i, stats.counter_keys(stats.EVENT, event), t0)
    tally.add(0, t0, stats.counter_keys(stats.ALERT, {"subscription_id": "s1"}), t0)
    pending = tally.take(0)
    rows = rows_of(pending, partition=4)
    # Per window: total (events, alerts), theme, country, subscription.
    assert len(rows) == 2 * 4
    key = row_key("1m", stats.window_start(t0, 60.0), 4, "country")
    assert rows[key] == {stats.key("country", "KE"): 3, stats.key("country", "UG"): 3}
    read = {}
    for k, counts in rows.items():
        parsed = parse_row_key(k)
        assert parsed is not None
        for counter, n in counts.items():
            read[(parsed[0], parsed[1], counter)] = n
    assert read == pending


def test_rows_written_on_a_stop_are_told_apart_and_still_read() -> None:
    start = stats.window_start(1_733_000_000.0, 3600.0)
    tagged = row_key("1h", start, 2, "total", "stop-1733000001.000")
    assert tagged != row_key("1h", start, 2, "total")
    assert parse_row_key(tagged) == ("1h", start)
    assert parse_row_key("hw") is None and parse_row_key("5m\x1f1.0\x1f0\x1ftotal") is None
