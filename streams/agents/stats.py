"""Stream statistics, counted inside the steps and written as aggregates.

The steps report what they read and send through the explicit hooks (``_hooks.counted``):
every raw article a validate step reads, every duplicate, event and alert a step sends and
every dead letter. :func:`streams.pipeline.stats.counter_keys` says which counters a record
moves; the sums wait in memory (:class:`stats.Tally`, one for the worker) and are written
every :data:`EVERY` seconds by the next event any step handles, as one row per window, window
start, partition and dimension holding every counter of that dimension (a JSON object), added
to the row already there. Under load that is a few rows per interval instead of a row per
counter per record (they were ~8 of an article's Kafka records when a stats agent read the
counted topics and wrote a windowed table row per counter).

What is lost: on a crash, the sums of the last interval (the deliver ticks,
``TOCSIN_DIGEST_TICK``, bring an idle worker's sums out within one tick). On a clean stop
nothing: the sums still pending are sent to the changelog as rows of their own once the
agents have stopped (``on_before_shutdown``), before faust's last producer flush.

Why no timer writes the rows: faust writes a table row, and its changelog record, to the
partition of the event in hand and refuses a write outside one; a write from a borrowed event
is attributed to that event. The earlier attempt to write sums periodically counted a
``take_events`` batch of the stats agent and wrote with its last event made current; in CI a
commit then hung 90 s ("Timer commit is overlapping") until new records reached that stream.
Here no step holds events back and every row is written from the event a step is handling,
inside its normal flow, so a commit never waits on the counting.

Counting never dead-letters: the records counted are already in an output topic, and a
dead letter counted here must not produce another one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

from streams import app as tocsin_app
from streams import codecs
from streams.agents import _hooks as hooks
from streams.agents._boundary import count
from streams.agents._state import JsonState, partition_items, sweep_due, table
from streams.agents.monitor import feed
from streams.pipeline import stats

log = logging.getLogger(__name__)

EVERY = 5.0  # seconds between writes of the pending sums
SEP = stats.SEP
rows = table("stats")
# Sums not written yet, for the whole worker (the rows say which partition wrote them).
TALLY = stats.Tally(every=EVERY)
_WORKER = 0  # the one Tally slot
_last_partition: int | None = None


def counted(kind: str, record: Mapping[str, Any] | None, timestamp: float) -> None:
    """One record of ``kind`` (``stats.KINDS``) read or sent by a step at ``timestamp``
    (its Kafka timestamp: windows are counted by when a record was produced)."""
    try:
        keys = stats.counter_keys(kind, record)
        if kind == stats.EVENT and record is not None:
            feed.add_event(dict(record))  # for the alert page's event details
        TALLY.add(_WORKER, timestamp, keys, time.time())
        # keys[0] is the record's own figure: an alert update counts as alert_updates here
        # as in /api/stats, so /api/status and /api/stats agree on "alerts".
        count(stats.STAGE, keys[0])
    except Exception:
        log.exception("stats: could not count a record of %s", kind)
        count(stats.STAGE, "error")


def handled(partition: int, now: float) -> None:
    """A step handled an event of ``partition`` (its context is current): write the pending
    sums to that partition's rows when due, and expire old rows now and then."""
    global _last_partition
    _last_partition = partition
    try:
        if TALLY.due(_WORKER, now):
            _add_rows(JsonState(rows), group(TALLY.take(_WORKER), partition))
            count(stats.STAGE, "written")
        if sweep_due(rows.name, partition, now):
            view = JsonState(rows, partition)
            for key, _value in view.entries():
                if expired(key, now):
                    del view[key]
    except Exception:
        log.exception("stats: could not write partition %s's rows", partition)
        count(stats.STAGE, "error")


def row_key(window: str, start: float, partition: int, dimension: str, tag: str = "") -> str:
    parts = [window, repr(float(start)), str(partition), dimension]
    return SEP.join([*parts, tag] if tag else parts)


def parse_row_key(key: str) -> tuple[str, float] | None:
    """(window name, window start) of a row key; None for anything else."""
    parts = key.split(SEP)
    if len(parts) < 4 or parts[0] not in stats.WINDOWS:
        return None
    try:
        return parts[0], float(parts[1])
    except ValueError:
        return None


def expired(key: str, now: float) -> bool:
    parsed = parse_row_key(key)
    if parsed is None:
        return False
    window = stats.WINDOWS[parsed[0]]
    return now - parsed[1] > window.expires


def group(sums: stats.Pending, partition: int, tag: str = "") -> dict[str, dict[str, int]]:
    """Pending sums as rows: row key -> {counter key: count}."""
    out: dict[str, dict[str, int]] = {}
    for (name, start, k), n in sums.items():
        dimension = stats.split_key(k)[0] if SEP in k else "total"
        row = out.setdefault(row_key(name, start, partition, dimension, tag), {})
        row[k] = row.get(k, 0) + n
    return out


def _add_rows(view: JsonState, new: Mapping[str, Mapping[str, int]]) -> None:
    for key, counts in new.items():
        row = dict(view.get(key) or {})
        for k, n in counts.items():
            row[k] = int(row.get(k, 0)) + n
        view[key] = row


async def _write_on_stop(app: Any, **kwargs: Any) -> None:
    """The agents have stopped: send what is still pending as rows of their own, straight to
    the changelog (the tables are closed; a restart restores them from it)."""
    sums = TALLY.take(_WORKER)
    if not sums or _last_partition is None:
        return
    tag = f"stop-{time.time():.3f}"
    topic = rows.changelog_topic
    for key, counts in group(sums, _last_partition, tag).items():
        try:
            await topic.send(
                key=key,
                value=codecs.dumps(counts).decode(),
                partition=_last_partition,
                key_serializer=rows.key_serializer,
                value_serializer=rows.value_serializer,
            )
        except Exception:
            log.exception("stats: could not write the pending sums on stop")
            return


hooks.on_counted(counted)
hooks.on_handled(handled)
tocsin_app.app.on_before_shutdown.connect(_write_on_stop)  # type: ignore[arg-type]


def entries(window: str) -> Iterator[stats.Entry]:
    """Every (counter key, window start) -> count of ``window`` in this worker's assigned
    partitions' rows, and the sums not written yet."""
    for key, raw in list(partition_items_all()):
        parsed = parse_row_key(key)
        if parsed is None or parsed[0] != window:
            continue
        try:
            counts = codecs.loads(raw)
            for k, n in counts.items():
                yield (str(k), parsed[1]), int(n)
        except (TypeError, ValueError, AttributeError):
            continue
    yield from TALLY.entries(window, time.time())


def partition_items_all() -> Iterator[tuple[str, str]]:
    """(key, raw value) of every row this worker holds."""
    dbs = getattr(rows.data, "_dbs", None)
    if dbs is None:
        yield from list(rows.data.items())
        return
    for partition in list(dbs):
        yield from partition_items(rows, partition)
