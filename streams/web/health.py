"""Liveness by progress, not by process: a stream that has lag but has not moved is stalled.

faust workers are known to stop consuming silently while the process, its web server and its
heartbeats stay up (faust-streaming #175). So ``/healthz`` does not ask "is the process up?"
but, per stream partition, "is there work waiting, and has the position moved recently?".
Pure logic: the shell feeds positions and end offsets; nothing here imports faust.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StreamPosition:
    """One agent's position on one partition: the next offset it will process, and the end."""

    stage: str
    topic: str
    partition: int
    position: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.position)


@dataclass
class _Track:
    position: int
    waiting_since: float | None  # when lag appeared with this position; None: no lag


@dataclass(frozen=True)
class Stall:
    stage: str
    topic: str
    partition: int
    position: int
    lag: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "topic": self.topic,
            "partition": self.partition,
            "position": self.position,
            "lag": self.lag,
            "stalled_for_s": round(self.seconds, 1),
        }


@dataclass
class ProgressTracker:
    """Remembers, per (stage, topic, partition), since when work has waited without progress.

    A partition that just received messages after a quiet spell is not stalled: the clock
    starts when lag first appears at an unchanged position, and resets whenever the position
    moves or the lag is gone.
    """

    stall_after: float
    _tracks: dict[tuple[str, str, int], _Track] = field(default_factory=dict)
    _last: dict[tuple[str, str, int], StreamPosition] = field(default_factory=dict)

    def observe(self, positions: list[StreamPosition], now: float, paused: bool = False) -> None:
        """Record the positions seen at ``now``. ``paused``: the agents are held on purpose
        (table recovery after a rebalance), so waiting work is not a stall yet; the clock
        starts once they run again."""
        seen = set()
        for p in positions:
            ident = (p.stage, p.topic, p.partition)
            seen.add(ident)
            self._last[ident] = p
            track = self._tracks.get(ident)
            if paused or track is None or track.position != p.position or p.lag == 0:
                self._tracks[ident] = _Track(p.position, now if p.lag > 0 and not paused else None)
            elif track.waiting_since is None:
                track.waiting_since = now
        # Partitions moved to another worker after a rebalance are no longer ours to judge.
        for ident in set(self._tracks) - seen:
            del self._tracks[ident]
            self._last.pop(ident, None)

    def stalls(self, now: float) -> list[Stall]:
        out = []
        for ident, track in sorted(self._tracks.items()):
            if track.waiting_since is None:
                continue
            waited = now - track.waiting_since
            if waited >= self.stall_after:
                p = self._last[ident]
                out.append(Stall(p.stage, p.topic, p.partition, p.position, p.lag, waited))
        return out

    def lag_by_stage(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self._last.values():
            out[p.stage] = out.get(p.stage, 0) + p.lag
        return out

    def positions(self) -> list[StreamPosition]:
        return [self._last[k] for k in sorted(self._last)]


@dataclass(frozen=True)
class Readiness:
    """What /readyz checks: topics exist, table recovery finished, the worker has joined its
    group, subscriptions loaded.

    Joined, not "has partitions": with more workers than partitions some hold none, yet serve
    the API and stand by for a failover; requiring partitions kept them unready for good."""

    missing_topics: tuple[str, ...]
    recovered: bool
    joined: bool
    subscriptions_loaded: bool
    partitions: int = 0  # reported, not required

    @property
    def ready(self) -> bool:
        return (
            not self.missing_topics and self.recovered and self.joined and self.subscriptions_loaded
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "missing_topics": list(self.missing_topics),
            "tables_recovered": self.recovered,
            "joined_group": self.joined,
            "partitions_assigned": self.partitions,
            "subscriptions_loaded": self.subscriptions_loaded,
        }
