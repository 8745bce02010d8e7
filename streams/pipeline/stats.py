"""Stream statistics: which counters one record moves, and how windows add up.

The stats agent feeds every record it sees on the raw, duplicates, dead-letter, events and
alerts topics through :func:`counter_keys` and adds one to each key in a tumbling-window table
(1 minute and 1 hour). :func:`totals` and :func:`series` read such a table back. Pure: no
faust import; tables are plain mappings here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

STAGE = "stats"

# Record kinds, one per topic the stats agent reads.
ARTICLE_IN = "articles_in"
DUPLICATE = "duplicates"
DEAD_LETTER = "deadletters"
EVENT = "events"
ALERT = "alerts"
KINDS = (ARTICLE_IN, DUPLICATE, DEAD_LETTER, EVENT, ALERT)
# An alert message of kind "update" (another article of a story already alerted) counts here,
# not as an alert: "alerts" is what users were alerted to, one per story and subscription.
ALERT_UPDATE = "alert_updates"
# What each figure of ``by=total`` (and each ``stats`` outcome of /api/status) counts.
MEANING = {
    ARTICLE_IN: "raw article records read (valid or not)",
    DUPLICATE: "articles dropped as copies of earlier ones",
    DEAD_LETTER: "dead letters written, any stage",
    EVENT: "event records (one per unique article extracted)",
    ALERT: "new alerts: the first alert of a story for a subscription",
    ALERT_UPDATE: "updates of an alert already sent (more articles or sources of its story)",
}

# Dimensions a key can be grouped by (`/api/stats?by=...`); "total" are the bare kind counts.
DIMENSIONS = ("total", "theme", "country", "actor", "subscription", "deadletter_stage")

SEP = "\x1f"  # unit separator: cannot occur in a theme, country code or bounded value below
MAX_VALUE = 120  # bound untrusted values (actor names, subscription ids) used as table keys
MAX_PER_RECORD = 50  # bound how many keys one record may touch


@dataclass(frozen=True)
class Window:
    """A tumbling window size, and how many past windows to keep and report."""

    name: str
    size: float  # seconds
    keep: int  # windows kept before expiry

    @property
    def expires(self) -> float:
        return self.size * self.keep


WINDOWS: dict[str, Window] = {
    # 1-minute windows for two hours: the last hour by minute, plus slack for late records.
    "1m": Window("1m", 60.0, 120),
    # 1-hour windows for two days: the last day by hour.
    "1h": Window("1h", 3600.0, 48),
}


def key(dimension: str, value: str = "") -> str:
    """The table key of one counter, e.g. ``theme\\x1fabduction``; bare kinds have no value."""
    value = _clean(value)
    return f"{dimension}{SEP}{value}" if value else dimension


def split_key(k: str) -> tuple[str, str]:
    dimension, _sep, value = k.partition(SEP)
    return dimension, value


def _clean(value: Any) -> str:
    text = str(value).replace(SEP, " ").strip()
    return text[:MAX_VALUE]


def _values(record: Mapping[str, Any], field: str) -> list[str]:
    raw = record.get(field)
    if not isinstance(raw, list | tuple):
        return []
    out = []
    for item in raw[:MAX_PER_RECORD]:
        if isinstance(item, str) and _clean(item):
            out.append(_clean(item))
    return sorted(set(out))


def counter_keys(kind: str, record: Mapping[str, Any] | None) -> list[str]:
    """The counters one record of ``kind`` increments (each at most once).

    ``record`` is the decoded JSON value; ``None`` when it could not be decoded, which still
    counts as one record of its kind (a raw article that is not JSON is still an article in).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    if kind == ALERT and record is not None and record.get("kind") == "update":
        # A later article of a story already alerted: counted apart, so "alerts" counts
        # what users were alerted to, one per story and subscription.
        return [key(ALERT_UPDATE)]
    keys = [key(kind)]
    if record is None:
        return keys
    if kind == DEAD_LETTER:
        stage = record.get("stage")
        if isinstance(stage, str) and stage:
            keys.append(key("deadletter_stage", stage))
    elif kind == EVENT:
        keys += [key("theme", v) for v in _values(record, "themes")]
        keys += [key("country", v) for v in _values(record, "countries")]
        keys += [key("actor", v) for v in _values(record, "actors")]
    elif kind == ALERT:
        sub = record.get("subscription_id")
        if isinstance(sub, str) and _clean(sub):
            keys.append(key("subscription", sub))
    return keys[: MAX_PER_RECORD * 3 + 1]


def window_start(timestamp: float, size: float) -> float:
    return timestamp - (timestamp % size)


# One entry of a windowed table read back: (counter key, window start) -> count. The same
# (key, start) may appear more than once (one per partition store); entries add up.
Entry = tuple[tuple[str, float], int]


def _in_range(start: float, now: float, window: Window, periods: int) -> bool:
    current = window_start(now, window.size)
    return current - (periods - 1) * window.size <= start <= current


def totals(
    entries: Iterable[Entry], dimension: str, now: float, window: Window, periods: int
) -> dict[str, int]:
    """Counts per value of ``dimension`` over the last ``periods`` windows (current included).

    For ``dimension="total"`` the values are the record kinds and ``alert_updates``.
    """
    out: dict[str, int] = {}
    for (k, start), count in entries:
        if not _in_range(start, now, window, periods):
            continue
        dim, value = split_key(k)
        if dimension == "total":
            if value or dim not in MEANING:
                continue
            value = dim
        elif dim != dimension:
            continue
        out[value] = out.get(value, 0) + int(count)
    return out


def series(
    entries: Iterable[Entry], counter: str, now: float, window: Window, periods: int
) -> list[tuple[float, int]]:
    """(window start, count) of one counter key for each of the last ``periods`` windows,
    oldest first, zeros included."""
    current = window_start(now, window.size)
    starts = [current - i * window.size for i in range(periods - 1, -1, -1)]
    counts = dict.fromkeys(starts, 0)
    for (k, start), count in entries:
        if k == counter and start in counts:
            counts[start] += int(count)
    return [(s, counts[s]) for s in starts]


def top(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` largest counts, ties by name, for stable charts."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


# A pending count: (window name, window start, counter key) -> how many.
Pending = dict[tuple[str, float, str], int]


class Tally:
    """Counts not yet written to the window tables, per source partition.

    Writing a table row per counter per record made the stats tables' changelogs ~a quarter
    of every record a worker wrote (docs/benchmarks.md). The agent adds each record's keys
    here and writes a partition's sums every ``every`` seconds, or sooner when the partition
    has nothing more queued, from an event of that partition (faust writes a row to the
    changelog partition of the event in hand): under load one row per counter and window
    instead of one per record. :meth:`entries` reports what is pending too, so a reader sees
    every count at once; only a worker stopped or killed while records are queued loses its
    pending sums (at most ``every`` seconds of counting per partition, the counters being
    monitoring figures, not data).
    """

    def __init__(self, every: float = 2.0, windows: Mapping[str, Window] = WINDOWS) -> None:
        self.every = every
        self.windows = dict(windows)
        self._pending: dict[int, Pending] = {}
        self._since: dict[int, float] = {}

    def add(self, partition: int, timestamp: float, keys: Iterable[str], now: float) -> None:
        pending = self._pending.get(partition)
        if pending is None:
            pending = self._pending[partition] = {}
            self._since[partition] = now
        for name, window in self.windows.items():
            start = window_start(timestamp, window.size)
            for k in keys:
                slot = (name, start, k)
                pending[slot] = pending.get(slot, 0) + 1

    def due(self, partition: int, now: float) -> bool:
        """Whether ``partition``'s sums should be written now."""
        since = self._since.get(partition)
        return since is not None and now - since >= self.every

    def take(self, partition: int) -> Pending:
        """``partition``'s sums, forgotten here: the caller writes them."""
        self._since.pop(partition, None)
        return self._pending.pop(partition, {})

    def entries(self, window: str, now: float) -> Iterator[Entry]:
        """Pending counts of ``window``, every partition, still inside its expiry."""
        expires = self.windows[window].expires
        for pending in list(self._pending.values()):
            for (name, start, k), n in list(pending.items()):
                if name == window and now - start <= expires:
                    yield (k, start), n
