"""Agent ``stats``: counts what flows, in tumbling windows of 1 minute and 1 hour.

Reads the raw, duplicates, dead-letter, events and alerts topics; :func:`counter_keys` says
which counters a record moves; they are summed per partition (:class:`stats.Tally`) and the
sums added to two faust windowed tables (RocksDB, changelog compacted) every 2 s, or at once
when the partition has nothing more queued. A counter is kept per source partition (faust
stores a table row in the partition of the event that wrote it), so :func:`entries` reads every
assigned partition's rows, plus the sums not written yet, and the pure
:func:`streams.pipeline.stats.totals` adds them up.

Counting never dead-letters: the records counted are already in an output topic, and a
dead letter counted here must not produce another one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from streams import codecs, topics
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import rocksdb_options, track_memory
from streams.pipeline import stats

log = logging.getLogger(__name__)


class Stats:
    """The stats agent, its windowed tables and its unwritten sums."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        settings = shell.settings
        self.kind_of_topic = {
            topics.ARTICLES_RAW.full_name(settings): stats.ARTICLE_IN,
            topics.ARTICLES_DUPLICATES.full_name(settings): stats.DUPLICATE,
            topics.DEADLETTER.full_name(settings): stats.DEAD_LETTER,
            topics.EVENTS.full_name(settings): stats.EVENT,
            topics.ALERTS.full_name(settings): stats.ALERT,
        }
        counted = shell.app.topic(
            *self.kind_of_topic,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )
        self.tables: dict[str, Any] = {name: self._table(w) for name, w in stats.WINDOWS.items()}
        # Sums per partition, written every 2 s or when the partition has caught up (see
        # stats.Tally): under load one changelog row per counter and window instead of one per
        # record.
        self.tally = stats.Tally(every=2.0)
        shell.agents["stats"] = shell.app.agent(counted, name="stats")(self.count_stream)

    def _table(self, window: stats.Window) -> Any:
        settings = self.shell.settings
        table = self.shell.app.Table(
            f"stats-{window.name}",
            default=int,
            partitions=settings.topic_partitions,
            options=rocksdb_options(settings.table_memory_mb),
            extra_topic_configs=settings.topic_configs,
        )
        track_memory(table)
        # Rows are written relative to the window of the counted records' Kafka timestamps
        # (when they were produced), so a backlog processed late still lands in the minute it
        # happened. faust expires old windows itself (tombstones on a compacted changelog;
        # retention.ms does not apply to a compact-only topic, which avoids the
        # empty-changelog recovery bug #597).
        return table.tumbling(window.size, expires=window.expires).relative_to_stream()

    async def count_stream(self, stream: Any) -> None:
        feed = self.shell.feed
        async for event in stream.events():
            kind = self.kind_of_topic.get(event.message.topic)
            if kind is None:
                continue
            try:
                try:
                    record = codecs.loads(event.value) if isinstance(event.value, bytes) else None
                except Exception:  # noqa: BLE001 - undecodable input is counted, not rejected
                    record = None
                keys = stats.counter_keys(kind, record if isinstance(record, dict) else None)
                if kind == stats.EVENT and isinstance(record, dict):
                    feed.add_event(record)  # for the alert page's event details
                now = time.time()
                partition = event.message.partition
                # Windows are counted by the record's Kafka timestamp (when it was produced).
                self.tally.add(partition, event.message.timestamp, keys, now)
                if self.tally.due(partition, now) or self._caught_up(event):
                    self._write(self.tally.take(partition))
                # keys[0] is the record's own figure: an alert update counts as alert_updates
                # here as in /api/stats, so /api/status and /api/stats agree on "alerts".
                count(stats.STAGE, keys[0])
            except Exception:
                log.exception("stats: could not count %s", event.message.tp)
                count(stats.STAGE, "error")

    def _caught_up(self, event: Any) -> bool:
        """No later record of the event's partition is known: its sums are written now, so an
        idle stream holds nothing in memory (a worker stopped after its input settled loses no
        count; only one stopped or killed with records still queued loses up to 2 s of
        them)."""
        message = event.message
        try:
            high = self.shell.app.consumer.highwater(message.tp)
        except Exception:  # noqa: BLE001 - no consumer (agent tests) or no fetch yet: write now
            return True
        return high is None or bool(message.offset + 1 >= high)

    def _write(self, sums: stats.Pending) -> None:
        """Add one partition's sums to the window tables, from an event of that partition."""
        by_window: dict[tuple[str, float], list[tuple[str, int]]] = {}
        for (name, start, k), n in sums.items():
            by_window.setdefault((name, start), []).append((k, n))
        for (name, start), counts in by_window.items():
            table = self.tables[name].relative_to(start)  # the window the records fell in
            for k, n in counts:
                table[k] += n

    def entries(self, window: str) -> Iterator[stats.Entry]:
        """Every (counter key, window start) -> count row of this worker's assigned
        partitions, and the sums not written yet."""
        table = self.tables[window].table
        for raw_key, value in table.data.items():
            try:
                k, (start, _end) = raw_key
                yield (str(k), float(start)), int(value)
            except (TypeError, ValueError):
                continue
        yield from self.tally.entries(window, time.time())
