"""Faust tables as the ``MutableMapping`` state the pure stages take.

Values are stored as JSON text (the stages keep plain dicts/lists), so the changelog is
readable and the RocksDB store needs no pickling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from rocksdict import DbClosedError

from streams import codecs
from streams.agents._boundary import count
from streams.agents._index import LogIndex
from streams.app import Tocsin

log = logging.getLogger(__name__)


def rocksdb_options(memory_mb: int) -> dict[str, Any]:
    """faust RocksDB options within ``memory_mb`` per table partition.

    faust's defaults (64 MiB write buffers x 3 and a 2 GiB block cache, per partition of every
    table) let a worker with a few dozen open partitions grow to gigabytes before RocksDB
    flushes; the soak run showed RSS climbing with the unflushed memtables. Half goes to the
    block cache, half to two write buffers."""
    mib = 1024 * 1024
    return {
        "driver": "rocksdict",  # not python-rocksdb: maintained wheels (faust-streaming #469)
        "write_buffer_size": max(1, memory_mb // 4) * mib,
        "max_write_buffer_number": 2,
        "block_cache_size": max(1, memory_mb // 2) * mib,
    }


_TABLES: list[Any] = []


def table(tocsin: Tocsin, name: str) -> Any:
    """A str -> str table of ``tocsin``'s app, partitioned like the topic of the agent that
    owns it."""
    settings = tocsin.settings
    created = tocsin.app.Table(
        name,
        default=None,
        partitions=settings.topic_partitions,
        key_type=str,
        value_type=str,
        options=rocksdb_options(settings.table_memory_mb),
        extra_topic_configs=settings.topic_configs,
    )
    return track_memory(created)


def track_memory(table_: Any) -> Any:
    """Count ``table_``'s RocksDB memory in :func:`table_memory`."""
    _TABLES.append(table_)
    return table_


def table_memory() -> dict[str, int]:
    """Bytes RocksDB holds in memory (memtables, block cache) per table, over the partitions
    open in this worker; empty with the memory store."""
    out: dict[str, int] = {}
    for t in _TABLES:
        if isinstance(t, LogIndex):
            try:
                out[t.name] = t.memory()
            except DbClosedError:
                out[t.name] = 0
            continue
        dbs = getattr(t.data, "_dbs", None) or {}
        total = 0
        for db in list(dbs.values()):
            for prop in ("rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage"):
                try:
                    total += int(db.property_int_value(prop) or 0)
                except (DbClosedError, AttributeError):  # closed in a rebalance; other driver
                    continue
        out[t.name] = total
    return out


def rebuilding() -> bool:
    """Some state is being rebuilt from its topic (``_index.py``): a recovery, for the monitor."""
    return any(isinstance(t, LogIndex) and t.rebuilding for t in _TABLES)


# State sweeps run inside agents (a tombstone goes to the partition of the event in hand), at
# most this often per table and partition.
SWEEP_EVERY_S = 600.0
_last_sweep: dict[tuple[str, int], float] = {}


def sweep_due(table_name: str, partition: int, now: float) -> bool:
    """True when ``partition`` of ``table_name`` has not been swept for SWEEP_EVERY_S (and
    marks it swept now)."""
    mark = (table_name, partition)
    if now - _last_sweep.get(mark, now - SWEEP_EVERY_S - 1) <= SWEEP_EVERY_S:
        return False
    _last_sweep[mark] = now
    return True


def sweep_now_and_then(
    table_name: str, partition: int, now: float, stage: str, sweep: Callable[[], int]
) -> None:
    """Run ``sweep`` (which returns how many entries it removed) for one partition when
    :func:`sweep_due`, counting the removed under ``stage``. The event in hand is done by
    then: a failed sweep is logged and tried again later."""
    if not sweep_due(table_name, partition, now):
        return
    try:
        count(stage, "swept", sweep())
    except Exception:
        log.exception("sweeping %s partition %s failed", table_name, partition)


def partition_items(table_: Any, partition: int) -> Iterator[tuple[str, str]]:
    """(key, value) of one partition of ``table_``.

    faust's RocksDB store keeps one database per partition; the in-memory store of agent tests
    has one dict for all, and its changelog is never read back.
    """
    store = table_.data
    dbs = getattr(store, "_dbs", None)
    if dbs is None:
        yield from list(store.items())
        return
    db = dbs.get(partition)
    if db is None:
        return
    for raw_key, raw_value in list(store._visible_items(db)):
        yield store._decode_key(raw_key), store._decode_value(raw_value)


class JsonState(MutableMapping[str, Any]):
    """A table (or any str -> str mapping) seen as str -> JSON value.

    Iteration covers one partition when ``partition`` is given (what a stage may change while
    handling an event of that partition), else every key of the store.
    """

    def __init__(self, table_: Any, partition: int | None = None) -> None:
        self._table = table_
        self._partition = partition

    def __getitem__(self, key: str) -> Any:
        raw = self._table[key]
        if raw is None:
            raise KeyError(key)
        return codecs.loads(raw)

    def __setitem__(self, key: str, value: Any) -> None:
        self._table[key] = codecs.dumps(value).decode()

    def __delitem__(self, key: str) -> None:
        del self._table[key]

    def __iter__(self) -> Iterator[str]:
        if self._partition is None:
            return iter(list(self._table.keys()))
        return iter([k for k, _v in partition_items(self._table, self._partition)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def entries(self) -> list[tuple[str, Any]]:
        """(key, decoded value) of this view's partition (or of everything), read once."""
        if self._partition is None:
            return [(k, self[k]) for k in list(self._table.keys())]
        return [
            (k, codecs.loads(v))
            for k, v in partition_items(self._table, self._partition)
            if v is not None
        ]

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._table.get(key)
        return default if raw is None else codecs.loads(raw)


class SplitState(MutableMapping[str, Any]):
    """A stage's state with the keys ``local(key)`` selects kept in ``memory`` (no changelog)
    and the rest in ``persisted`` (a table view): for state derived from the persisted part,
    rebuilt from it after a restart instead of written to the changelog on every change."""

    def __init__(
        self,
        persisted: MutableMapping[str, Any],
        memory: MutableMapping[str, Any],
        local: Callable[[str], bool],
    ) -> None:
        self._persisted = persisted
        self._memory = memory
        self._local = local

    def _of(self, key: str) -> MutableMapping[str, Any]:
        return self._memory if self._local(key) else self._persisted

    def __getitem__(self, key: str) -> Any:
        return self._of(key)[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._of(key).get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._of(key)[key] = value

    def __delitem__(self, key: str) -> None:
        del self._of(key)[key]

    def __iter__(self) -> Iterator[str]:
        return iter([k for k in self._persisted if not self._local(k)] + list(self._memory))

    def __len__(self) -> int:
        return sum(1 for _ in self)
