"""State rebuilt from the topic it is derived from, instead of from a changelog.

A faust table writes one changelog record per key it sets, and through faust each record
costs the worker's one event loop ~0.3 ms (``bench/faust_floor.py``). The LSH band index sets
one key per band, 32 per article: a third of the loop's time per article. But every entry of
the index comes from a message of ``news.dedupe.bands.v1``, in the order of that topic's
partition, so that partition *is* the index's log (Kafka Streams restores a table from its
source topic the same way). :class:`LogIndex` keeps each partition's index in a local store
with no changelog, plus the offset of the next message it has to apply. Before the agent
handles the message at offset ``o`` it applies whatever came before ``o`` that this store has
not seen: nothing in the steady state; after a restart with a lost data directory, or when a
partition comes back from another worker, the messages in between, read again from the topic.

Applying a message twice must be harmless: a message applied but not yet committed is handed
to the agent again after a crash (at-least-once). The band index's probe is such an
operation (an article already indexed leaves the bucket as it is).

The topic's retention must cover the state's window, or a rebuild misses the oldest entries
(:func:`streams.kafka_client.create_topics` sets it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.stores.rocksdb import RocksDBOptions

log = logging.getLogger(__name__)

# The next offset to apply; outside the keys the stage sees (they are text, never this byte).
_NEXT = b"\x00next"


class PartitionStore(MutableMapping[str, str]):
    """One partition's state: a local RocksDB (or a dict with the memory store), no changelog."""

    def __init__(self, db: Any | None) -> None:
        self._db = db
        self._dict: dict[bytes, bytes] = {}
        self._next: int | None = None  # next_offset, read once: it is checked on every message

    def _get(self, key: bytes) -> bytes | None:
        if self._db is None:
            return self._dict.get(key)
        value = self._db.get(key)
        return bytes(value) if value is not None else None

    def _set(self, key: bytes, value: bytes) -> None:
        if self._db is None:
            self._dict[key] = value
        else:
            self._db[key] = value

    @property
    def next_offset(self) -> int:
        if self._next is None:
            raw = self._get(_NEXT)
            self._next = int(raw) if raw is not None else 0
        return self._next

    @next_offset.setter
    def next_offset(self, offset: int) -> None:
        self._set(_NEXT, str(offset).encode())
        self._next = offset

    def __getitem__(self, key: str) -> str:
        raw = self._get(key.encode())
        if raw is None:
            raise KeyError(key)
        return raw.decode()

    def get(self, key: str, default: Any = None) -> Any:
        # Most band keys are new: Mapping.get would raise and catch a KeyError for each.
        raw = self._get(key.encode())
        return default if raw is None else raw.decode()

    def __setitem__(self, key: str, value: str) -> None:
        self._set(key.encode(), value.encode())

    def __delitem__(self, key: str) -> None:
        raw = key.encode()
        if self._get(raw) is None:
            raise KeyError(key)
        if self._db is None:
            del self._dict[raw]
        else:
            del self._db[raw]

    def _keys(self) -> Iterator[bytes]:
        keys = self._dict.keys() if self._db is None else self._db.keys()
        return (bytes(k) for k in keys if bytes(k) != _NEXT)

    def __iter__(self) -> Iterator[str]:
        return (k.decode() for k in list(self._keys()))

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())

    def memory(self) -> int:
        """Bytes RocksDB holds in memory (memtables, block cache); 0 for a dict."""
        if self._db is None:
            return 0
        total = 0
        for prop in ("rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage"):
            total += int(self._db.property_int_value(prop) or 0)
        return total

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class LogIndex:
    """Per-partition state of one topic, rebuilt by replaying that topic.

    ``apply(value, state)`` applies one message of the topic to a partition's state (with
    ``timed``, ``apply(value, state, timestamp)``: the message's Kafka timestamp in seconds,
    for state that keeps when each entry came); the agent calls :meth:`at` before handling a
    message and :meth:`done` after."""

    def __init__(
        self,
        name: str,
        topic: str,
        apply: Callable[..., None],
        *,
        timed: bool = False,
        client: Mapping[str, Any],
        data_dir: Path | None,
        options: dict[str, Any],
    ) -> None:
        self.name = name
        self.topic = topic
        self._apply = apply
        self._timed = timed
        self._client = dict(client)  # connection arguments (kafka_client.client_options)
        self._dir = data_dir / name if data_dir is not None else None
        self._options = options
        self._parts: dict[int, PartitionStore] = {}
        self.replayed = 0  # messages applied from the topic, not from the agent's stream
        self.rebuilding = False  # a replay is running (the monitor treats it as recovery)

    def partition(self, partition: int) -> PartitionStore:
        """The local state of ``partition``, opened on first use."""
        store = self._parts.get(partition)
        if store is None:
            db = None
            if self._dir is not None:
                self._dir.mkdir(parents=True, exist_ok=True)
                rocks = RocksDBOptions(**self._options, use_rocksdict=True)
                db = rocks.open(self._dir / f"p{partition}")
            store = self._parts[partition] = PartitionStore(db)
        return store

    async def at(self, partition: int, offset: int) -> PartitionStore:
        """The state of ``partition`` as of just before the message at ``offset``.

        Messages before ``offset`` this store has not applied are read from the topic and
        applied first. A broker error is retried (the agent waits, as it would for any fetch):
        state missing entries would pass copies as unique."""
        store = self.partition(partition)
        delay = 0.5
        while store.next_offset < offset:
            self.rebuilding = True
            try:
                await self._replay(partition, store, offset)
            except KafkaError as exc:
                log.warning(
                    "%s: replaying %s[%d] up to %d failed (%s); retrying",
                    *(self.name, self.topic, partition, offset, exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                self.rebuilding = False
        return store

    def done(self, partition: int, offset: int) -> None:
        """The message at ``offset`` is applied."""
        store = self.partition(partition)
        if store.next_offset <= offset:
            store.next_offset = offset + 1

    async def _replay(self, partition: int, store: PartitionStore, until: int) -> None:
        tp = TopicPartition(self.topic, partition)
        consumer = AIOKafkaConsumer(
            **self._client,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            first = (await consumer.beginning_offsets([tp]))[tp]
            start = max(store.next_offset, first)
            if start >= until:  # the topic no longer holds what is missing
                store.next_offset = until
                return
            log.info(
                "%s: rebuilding %s[%d] from offset %d to %d",
                *(self.name, self.topic, partition, start, until),
            )
            consumer.seek(tp, start)
            while store.next_offset < until:
                batches = await consumer.getmany(tp, timeout_ms=1000)
                for record in batches.get(tp, []):
                    if record.offset >= until:  # past the gap offsets may leave before it
                        store.next_offset = until
                        break
                    if record.value is not None:
                        self._apply_one(record, store, partition)
                    self.replayed += 1
                    store.next_offset = record.offset + 1
                if not batches and await consumer.position(tp) >= until:
                    store.next_offset = until  # offsets up to ``until`` hold no record
                # Let the rest of the worker run between batches of a long rebuild.
                await asyncio.sleep(0)
        finally:
            await consumer.stop()

    def _apply_one(self, record: Any, store: PartitionStore, partition: int) -> None:
        try:
            if self._timed:
                self._apply(record.value, store, record.timestamp / 1000)
            else:
                self._apply(record.value, store)
        except Exception:  # dead-lettered when it was live: skipped again
            log.exception(
                "%s: %s[%d]@%d does not apply", self.name, self.topic, partition, record.offset
            )

    def items(self, partition: int) -> Iterator[tuple[str, str]]:
        """(key, value) of one partition, read lazily (a sweep reads them only when due)."""
        store = self.partition(partition)
        for key in store:
            yield key, store[key]

    def memory(self) -> int:
        """RocksDB memory of the open partitions."""
        return sum(s.memory() for s in self._parts.values())

    def close(self) -> None:
        for store in self._parts.values():
            store.close()
        self._parts.clear()
