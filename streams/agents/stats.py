"""Stream statistics, counted inside the steps and written as aggregates.

The steps report what they read and send through the shell (``Shell.counted``): every raw
article a step reads, every duplicate, event and alert a step sends, every dead letter.
:func:`streams.pipeline.stats.counter_keys` says which counters a record moves; the sums wait
in memory (one :class:`stats.Tally` for the worker) and are written every :data:`EVERY`
seconds by the next event any step handles (``Shell.handled``), as one row per window, window
start, partition and dimension holding every counter of that dimension (a JSON object), added
to the row already there. Under load that is a few rows per interval instead of a row per
counter per record (~8 of an article's Kafka records when a stats agent read the counted
topics and wrote a windowed-table row per counter).

What is lost: on a crash, the sums of the last interval (an idle worker's go out with the next
deliver tick, ``TOCSIN_DIGEST_TICK``). On a clean stop nothing: once the agents have stopped,
the sums still pending are sent to the changelog as rows of their own
(``on_before_shutdown``), before faust's last producer flush.

Why no timer writes the rows: faust writes a table row, and its changelog record, to the
partition of the event in hand and refuses a write outside one. The earlier attempt to write
sums periodically counted a ``take_events`` batch of the stats agent and wrote them with its
last event made current; in CI an offset commit then hung 90 s ("Timer commit is
overlapping") until new records reached that stream. Its cause was not isolated; here no step
holds events back and every row is written from the event a step is handling, in its normal
flow.

Counting never dead-letters: the records counted are already in an output topic, and a
dead letter counted here must not produce another one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from faust import current_event

from streams import codecs
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import JsonState, partition_items, sweep_due
from streams.pipeline import stats

log = logging.getLogger(__name__)

EVERY = 5.0  # seconds between writes of the pending sums
_WORKER = 0  # the one slot of the worker's Tally


def row_key(window: str, start: float, partition: int, dimension: str, tag: str = "") -> str:
    """The key of one row: window name, window start, partition, dimension (and a tag for
    rows written on a stop)."""
    parts = [window, repr(float(start)), str(partition), dimension]
    return stats.SEP.join([*parts, tag] if tag else parts)


def parse_row_key(key: str) -> tuple[str, float] | None:
    """(window name, window start) of a row key; None for anything else."""
    parts = key.split(stats.SEP)
    if len(parts) < 4 or parts[0] not in stats.WINDOWS:
        return None
    try:
        return parts[0], float(parts[1])
    except ValueError:
        return None


def rows_of(sums: stats.Pending, partition: int, tag: str = "") -> dict[str, dict[str, int]]:
    """Pending sums as rows: row key -> {counter key: count}."""
    out: dict[str, dict[str, int]] = {}
    for (name, start, k), n in sums.items():
        dimension = stats.split_key(k)[0] if stats.SEP in k else "total"
        row = out.setdefault(row_key(name, start, partition, dimension, tag), {})
        row[k] = row.get(k, 0) + n
    return out


class Stats:
    """The statistics' table of aggregate rows and the worker's unwritten sums."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.rows = shell.table("stats")
        self.tally = stats.Tally(every=EVERY)
        self._last_partition: int | None = None
        shell.on_counted.append(self.counted)
        shell.on_handled.append(self.handled)
        shell.app.on_before_shutdown.connect(self._write_on_stop)

    def counted(self, kind: str, record: Mapping[str, Any] | None, timestamp: float) -> None:
        """One record of ``kind`` read or sent by a step, produced at ``timestamp`` (windows
        are counted by when a record was produced)."""
        try:
            keys = stats.counter_keys(kind, record)
            if kind == stats.EVENT and record is not None:
                self.shell.feed.add_event(dict(record))  # for the alert page's event details
            self.tally.add(_WORKER, timestamp, keys, time.time())
            # keys[0] is the record's own figure: an alert update counts as alert_updates
            # here as in /api/stats, so /api/status and /api/stats agree on "alerts".
            count(stats.STAGE, keys[0])
        except Exception:
            log.exception("stats: could not count a record of %s", kind)
            count(stats.STAGE, "error")

    def handled(self, partition: int, now: float) -> None:
        """A step handled an event of ``partition``: write the pending sums to that
        partition's rows when due; expire old rows now and then.

        Only with an event in hand: the extract agent's batches (``take_events``) are read by
        faust in another task, so that agent has none and faust refuses a table write there
        (``TypeError``); taken then, a due interval's sums were lost. They wait for the next
        event a step handles instead."""
        self._last_partition = partition
        if current_event() is None:
            return
        try:
            if self.tally.due(_WORKER, now):
                view = JsonState(self.rows)
                for key, counts in rows_of(self.tally.take(_WORKER), partition).items():
                    row = dict(view.get(key) or {})
                    for k, n in counts.items():
                        row[k] = int(row.get(k, 0)) + n
                    view[key] = row
            if sweep_due(self.rows.name, partition, now):
                mine = JsonState(self.rows, partition)
                for key, _value in mine.entries():
                    parsed = parse_row_key(key)
                    if parsed and now - parsed[1] > stats.WINDOWS[parsed[0]].expires:
                        del mine[key]
        except Exception:
            log.exception("stats: could not write partition %s's rows", partition)
            count(stats.STAGE, "error")

    async def _write_on_stop(self, app: Any, **kwargs: Any) -> None:
        """The agents have stopped: send what is still pending as rows of their own, straight
        to the changelog (the tables are closed; a restart restores the rows from it)."""
        sums = self.tally.take(_WORKER)
        partition = self._last_partition
        if not sums or partition is None:
            return
        tag = f"stop-{time.time():.3f}"
        changelog = self.rows.changelog_topic
        try:
            for key, counts in rows_of(sums, partition, tag).items():
                await changelog.send(
                    key=key,
                    value=codecs.dumps(counts).decode(),
                    partition=partition,
                    key_serializer=self.rows.key_serializer,
                    value_serializer=self.rows.value_serializer,
                )
        except Exception:
            log.exception("stats: could not write the pending sums on stop")

    def entries(self, window: str) -> Iterator[stats.Entry]:
        """Every (counter key, window start) -> count of ``window`` in the rows of this
        worker's assigned partitions, and the sums not written yet."""
        store = self.rows.data
        dbs = getattr(store, "_dbs", None)
        items = (
            list(store.items())
            if dbs is None
            else [kv for p in list(dbs) for kv in partition_items(self.rows, p)]
        )
        for key, raw in items:
            parsed = parse_row_key(key)
            if parsed is None or parsed[0] != window or raw is None:
                continue
            try:
                for k, n in codecs.loads(raw).items():
                    yield (str(k), parsed[1]), int(n)
            except (TypeError, ValueError, AttributeError):
                continue
        yield from self.tally.entries(window, time.time())
