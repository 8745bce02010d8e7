"""Per-minute aggregates of the worker's own figures for the dashboard's plots: messages/s and
lag per stage, and produce-to-alert latency (p50, p99), over the last hour.

The windowed stats tables count records by topic; these figures are not records (a counter's
rate, a lag reading, a latency), so they are kept here instead: a bounded ring of minute
buckets, fed by the monitor every few seconds. Pure: no faust, no clock of its own (``now`` is
passed in), so the tests drive it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MINUTE = 60.0
KEEP = 60  # minutes kept: the last hour
SAMPLES_MAX = 2000  # latencies kept per minute (a uniform sample beyond that)


@dataclass
class Bucket:
    """One minute: inputs handled per stage, the highest lag seen per stage, latencies."""

    start: float
    handled: dict[str, int] = field(default_factory=dict)
    lag: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    latency_count: int = 0  # all latencies observed, of which ``latencies`` is a sample


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Timeline:
    """The ring of minute buckets (at most ``keep``, oldest forgotten first)."""

    def __init__(
        self, keep: int = KEEP, samples_max: int = SAMPLES_MAX, seed: int | None = None
    ) -> None:
        self.keep = keep
        self.samples_max = samples_max
        self.buckets: deque[Bucket] = deque(maxlen=keep)
        self.totals: dict[str, int] = {}  # the last cumulative count seen per stage
        self._random = random.Random(seed)

    def _bucket(self, now: float) -> Bucket:
        start = math.floor(now / MINUTE) * MINUTE
        if self.buckets and self.buckets[-1].start == start:
            return self.buckets[-1]
        if self.buckets and self.buckets[-1].start > start:
            # A clock step backwards: count into the newest bucket rather than reorder.
            return self.buckets[-1]
        bucket = Bucket(start)
        self.buckets.append(bucket)
        return bucket

    def counts(self, now: float, totals: Mapping[str, int]) -> None:
        """Cumulative inputs handled per stage: the increase since the last call is added to
        the current minute (a counter that went down was reset: its value is the increase).
        The first reading of a stage only sets its baseline."""
        bucket = self._bucket(now)
        for stage, total in totals.items():
            before = self.totals.get(stage)
            self.totals[stage] = total
            if before is None:
                bucket.handled.setdefault(stage, 0)
                continue
            delta = total - before if total >= before else total
            bucket.handled[stage] = bucket.handled.get(stage, 0) + delta

    def lag(self, now: float, lag: Mapping[str, int | None]) -> None:
        """A lag reading per stage; a minute keeps the highest."""
        bucket = self._bucket(now)
        for stage, value in lag.items():
            if value is not None:
                bucket.lag[stage] = max(bucket.lag.get(stage, 0), int(value))

    def latency(self, now: float, seconds: float) -> None:
        """One produce-to-alert latency; beyond ``samples_max`` in a minute a uniform sample
        (reservoir) is kept, so memory stays bounded under load."""
        bucket = self._bucket(now)
        bucket.latency_count += 1
        if len(bucket.latencies) < self.samples_max:
            bucket.latencies.append(seconds)
            return
        slot = self._random.randrange(bucket.latency_count)
        if slot < self.samples_max:
            bucket.latencies[slot] = seconds

    def series(self, now: float, minutes: int = KEEP) -> list[dict[str, Any]]:
        """The last ``minutes`` minutes (the current one included), oldest first; a minute
        without readings has empty maps and null latencies. Rates are per second over the
        part of the minute that has passed."""
        minutes = max(1, min(minutes, self.keep))
        current = math.floor(now / MINUTE) * MINUTE
        by_start = {b.start: b for b in self.buckets}
        out = []
        for i in range(minutes - 1, -1, -1):
            start = current - i * MINUTE
            bucket = by_start.get(start)
            elapsed = max(1.0, min(MINUTE, now - start))
            if bucket is None:
                out.append(
                    {"start": start, "rate": {}, "lag": {}, "p50": None, "p99": None, "n": 0}
                )
                continue
            out.append(
                {
                    "start": start,
                    "rate": {s: round(n / elapsed, 3) for s, n in bucket.handled.items()},
                    "lag": dict(bucket.lag),
                    "p50": percentile(bucket.latencies, 50),
                    "p99": percentile(bucket.latencies, 99),
                    "n": bucket.latency_count,
                }
            )
        return out
