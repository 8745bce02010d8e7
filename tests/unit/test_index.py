"""The local store of a state rebuilt from its topic (``streams/agents/_index.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from pathlib import Path

from streams.agents._index import LogIndex

OPTIONS = {"write_buffer_size": 1 << 20, "max_write_buffer_number": 2, "block_cache_size": 1 << 20}


def _apply(value: bytes, state: MutableMapping[str, str]) -> None:
    state[value.decode()] = "1"


def _index(data_dir: Path | None) -> LogIndex:
    # No broker: only the last test asks for offsets the store lacks, and waits for one.
    return LogIndex(
        "t",
        "topic",
        _apply,
        client={"bootstrap_servers": ["127.0.0.1:1"]},
        data_dir=data_dir,
        options=OPTIONS,
    )


def test_rocksdb_partitions_keep_their_entries_and_next_offset_across_a_reopen(
    tmp_path: Path,
) -> None:
    index = _index(tmp_path)
    store = asyncio.run(index.at(3, 0))  # a fresh partition starts at offset 0: nothing to replay
    store["band:1"] = "[1]"
    store["band:2"] = "[2]"
    del store["band:1"]
    index.done(3, 0)
    index.done(3, 1)
    index.done(3, 0)  # a redelivered message never moves the offset back
    assert (dict(store), store.next_offset, len(store)) == ({"band:2": "[2]"}, 2, 1)
    assert list(index.items(3)) == [("band:2", "[2]")]  # the offset is not an entry
    assert index.partition(4) is not store and len(index.partition(4)) == 0
    index.close()
    again = _index(tmp_path)
    store = asyncio.run(again.at(3, 2))
    assert (dict(store), store.next_offset) == ({"band:2": "[2]"}, 2)
    again.close()


def test_the_memory_store_starts_empty_each_time() -> None:
    index = _index(None)
    store = asyncio.run(index.at(0, 0))
    store["k"] = "v"
    index.done(0, 0)
    assert (dict(store), store.next_offset, index.memory()) == ({"k": "v"}, 1, 0)
    assert dict(_index(None).partition(0)) == {}


def test_get_and_missing_keys(tmp_path: Path) -> None:
    for data_dir in (tmp_path, None):
        store = _index(data_dir).partition(0)
        store["a"] = "1"
        assert (store.get("a"), store.get("b"), store.get("b", "x"), "b" in store) == (
            "1",
            None,
            "x",
            False,
        )


async def test_a_replay_is_a_recovery_and_waits_out_a_broker_it_cannot_reach() -> None:
    """Offsets before the one in hand that the store has not applied are read from the topic;
    with no broker the agent waits (copies must not pass for want of the index), flagged as
    rebuilding so the monitor treats it as recovery, not as a stall."""
    index = _index(None)
    task = asyncio.create_task(index.at(0, 5))
    for _ in range(200):
        if index.rebuilding:
            break
        await asyncio.sleep(0.05)
    assert index.rebuilding and not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not index.rebuilding and index.partition(0).next_offset == 0
