"""Liveness by progress: lag without progress for long enough is a stall, nothing else is."""

from __future__ import annotations

import subprocess
import sys

from streams.web.health import ProgressTracker, Readiness, StreamPosition


def pos(position: int, end: int, stage: str = "extract", partition: int = 0) -> StreamPosition:
    return StreamPosition(stage, "news.articles.unique.v1", partition, position, end)


def test_lag_without_progress_for_longer_than_the_limit_is_a_stall() -> None:
    t = ProgressTracker(stall_after=60)
    t.observe([pos(10, 15)], now=0)
    t.observe([pos(10, 15)], now=59)
    assert t.stalls(now=59) == []
    t.observe([pos(10, 20)], now=61)  # more arrives, still no progress
    [stall] = t.stalls(now=61)
    assert (stall.stage, stall.partition, stall.position, stall.lag) == ("extract", 0, 10, 10)
    assert stall.seconds >= 60


def test_progress_resets_the_clock() -> None:
    t = ProgressTracker(stall_after=60)
    t.observe([pos(10, 100)], now=0)
    t.observe([pos(11, 100)], now=50)
    t.observe([pos(11, 100)], now=100)
    assert t.stalls(now=100) == []  # waiting since 50 only
    assert t.stalls(now=111) != []


def test_table_recovery_is_not_a_stall_and_the_clock_starts_after_it() -> None:
    t = ProgressTracker(stall_after=60)
    t.observe([pos(10, 100)], now=0, paused=True)
    t.observe([pos(10, 100)], now=300, paused=True)  # a long recovery: agents held on purpose
    assert t.stalls(now=300) == []
    t.observe([pos(10, 100)], now=305)  # recovered, still not moving: the clock starts here
    assert t.stalls(now=364) == []
    assert [s.seconds for s in t.stalls(now=366)] == [61]


def test_an_idle_stream_is_healthy_and_new_work_starts_a_fresh_clock() -> None:
    t = ProgressTracker(stall_after=60)
    t.observe([pos(10, 10)], now=0)
    t.observe([pos(10, 10)], now=3600)  # an hour with nothing to do
    assert t.stalls(now=3600) == []
    t.observe([pos(10, 11)], now=3601)  # a message arrives
    assert t.stalls(now=3601) == []
    assert t.stalls(now=3661) != []


def test_each_stage_and_partition_is_judged_alone() -> None:
    t = ProgressTracker(stall_after=10)
    t.observe([pos(5, 9, "extract", 0), pos(3, 3, "extract", 1), pos(7, 9, "stats", 0)], now=0)
    t.observe([pos(5, 9, "extract", 0), pos(3, 3, "extract", 1), pos(9, 9, "stats", 0)], now=20)
    assert [(s.stage, s.partition) for s in t.stalls(now=20)] == [("extract", 0)]
    assert t.lag_by_stage() == {"extract": 4, "stats": 0}


def test_partitions_revoked_in_a_rebalance_are_forgotten() -> None:
    t = ProgressTracker(stall_after=10)
    t.observe([pos(1, 5, partition=0), pos(1, 5, partition=1)], now=0)
    t.observe([pos(1, 5, partition=1)], now=30)
    assert [s.partition for s in t.stalls(now=30)] == [1]


def test_readiness_needs_everything() -> None:
    ok = Readiness((), True, True, True)
    assert ok.ready and ok.to_dict()["ready"] is True
    assert not Readiness(("news.alerts.v1",), True, True, True).ready
    assert not Readiness((), False, True, True).ready
    assert not Readiness((), True, False, True).ready
    assert not Readiness((), True, True, False).ready
    # A member of the group with no partitions (more workers than partitions) is ready.
    spare = Readiness((), True, True, True, partitions=0)
    assert spare.ready and spare.to_dict()["partitions_assigned"] == 0


def test_health_logic_imports_no_streaming_shell() -> None:
    code = (
        "import sys, streams.web.health\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'aiokafka', 'mode')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
