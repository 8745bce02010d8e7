"""Agents ``dedupe``: exact check + scatter, band probe, gather + decide (``pipeline/dedupe.py``).

news.articles.valid.v1 (key content hash) -> dedupe: exact copies -> duplicates, else its band
    probes, one message per partition (of TOCSIN_DEDUPE_PROBE_PARTITIONS) that owns some of its
    band keys -> news.dedupe.bands.v1, and, when there is more than one, the article ->
    news.dedupe.verdicts.v1
news.dedupe.bands.v1 (partition by band key) -> dedupe-probe: a group holding all the keys
    (it carries the article) is decided here -> unique | duplicates; otherwise its report ->
    news.dedupe.verdicts.v1
news.dedupe.verdicts.v1 (key article id) -> dedupe-decide: unique | duplicates

Each table is partitioned like the topic its agent reads, so a key is always read and written
on the partition that owns it, whatever the number of workers. The band index is not a faust
table: it is rebuilt from news.dedupe.bands.v1 itself (``_index.py``), which saves its 32
changelog records per article. Expired state is swept inside
each agent, for the partition of the event in hand, so the changelog tombstone goes to the
partition the key lives in (faust writes a table change to the current event's partition).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from streams import app as tocsin_app
from streams import codecs, topics
from streams.agents import _hooks as hooks
from streams.agents import _runner
from streams.agents._boundary import count, stage_boundary
from streams.agents._index import LogIndex
from streams.agents._state import (
    partition_items,
    rocksdb_options,
    sweep_due,
    table,
    track_memory,
)
from streams.kafka_client import client_options
from streams.models import Article, Duplicate
from streams.pipeline import dedupe as stage
from streams.pipeline import stats
from streams.pipeline.dedupe import STAGE
from streams.topology import Emit

log = logging.getLogger(__name__)
# Per-input outcomes of "dedupe" are unique | duplicate | deadletter (the dashboard sums them);
# the intermediate steps are counted under their own names.
SCATTER = "dedupe-scatter"
SWEEP = "dedupe-sweep"
INDEX = "dedupe-index"  # probe messages applied again to rebuild the band index
EXACT_INDEX = "dedupe-exact-index"  # valid messages applied again to rebuild the exact index
CONFIG = _runner.FLOW.dedupe
STEP = _runner.FLOW.step("dedupe")
PROBE = _runner.FLOW.step("dedupe-probe")
DECIDE = _runner.FLOW.step("dedupe-decide")


pending = table("dedupe-gather")


def _index_probe(value: bytes, state: MutableMapping[str, str]) -> None:
    """Apply one message of the probe topic to the band index (a rebuild, so no report)."""
    stage.probe_group(stage.ProbeGroup.from_dict(codecs.loads(value)), state, time.time(), CONFIG)


def _index_exact(value: bytes, state: MutableMapping[str, str], timestamp: float) -> None:
    """Apply one message of the valid topic to the exact-copy index, as of when it came."""
    stage.dedupe_exact(Article.from_dict(codecs.loads(value)), state, timestamp, CONFIG.window_s)


def _index(name: str, topic: str, apply: Any, timed: bool = False) -> LogIndex:
    """State rebuilt from ``topic`` (``_index.py``), in a local RocksDB without changelog."""
    settings = tocsin_app.settings
    index = LogIndex(
        name,
        topic,
        apply,
        timed=timed,
        client=client_options(settings),
        data_dir=(
            None
            if settings.store.startswith("memory")
            # Per app id, like the changelogs: a new app id builds its own index.
            else Path(tocsin_app.app.conf.tabledir) / f"{settings.app_id}-index-{topic}"
        ),
        options={
            k: v for k, v in rocksdb_options(settings.table_memory_mb).items() if k != "driver"
        },
    )
    track_memory(index)
    return index


# The exact-copy index (content hash -> first article): one entry per article, each from a
# message of the valid topic in that partition's order, so it is rebuilt from that topic
# rather than written to a changelog (one record per article).
_VALID_TOPIC = topics.ARTICLES_VALID.full_name(tocsin_app.settings)
seen = _index("dedupe-exact", _VALID_TOPIC, _index_exact, timed=True)

# The band index: one entry per band per article, so it is rebuilt from the probe topic it is
# derived from rather than written to a changelog 32 times per article (see _index.py).
_BANDS_TOPIC = topics.DEDUPE_BANDS.full_name(tocsin_app.settings)
bands = _index("dedupe-bands", _BANDS_TOPIC, _index_probe)


async def _maybe_sweep(
    name: str,
    items: Iterable[tuple[str, str]],
    state: MutableMapping[str, str],
    partition: int,
    now: float,
) -> None:
    """Expire one partition's state now and then; decisions a stalled gather owes are sent."""
    if not sweep_due(name, partition, now):
        return
    try:
        for verdict in stage.sweep(items, state, now, CONFIG):
            await _emit(verdict)
            count(SWEEP, "gather_timeout")
    except asyncio.CancelledError:
        raise
    except Exception:
        # Not the event's fault: it was handled already. Log, count, try again next time.
        log.exception("dedupe: sweeping %s partition %s failed", name, partition)
        count(SWEEP, "error")
    else:
        count(SWEEP, "swept")


async def _emit(verdict: Article | Duplicate) -> None:
    if isinstance(verdict, Duplicate):
        # Keyed by the original: the story-copies agent joins a copy to its original's story.
        value = verdict.to_dict()
        await tocsin_app.articles_duplicates.send(
            key=verdict.duplicate_of.encode(), value=codecs.dumps(value)
        )
        count(STAGE, "duplicate")
        hooks.counted(stats.DUPLICATE, value, time.time())
    else:
        await tocsin_app.articles_unique.send(
            key=verdict.id.encode(), value=codecs.dumps(verdict.to_dict())
        )
        count(STAGE, "unique")


@tocsin_app.app.agent(tocsin_app.articles_valid, name="dedupe")
async def dedupe_articles(stream: Any) -> None:
    async for event in stream.events():
        partition, offset = event.message.partition, event.message.offset
        state = None
        async with stage_boundary(STAGE, event):
            # The index as of this message (see probe_bands).
            before = seen.replayed
            state = await seen.at(partition, offset)
            if seen.replayed > before:
                count(EXACT_INDEX, "replayed", seen.replayed - before)
            now = time.time()
            outs = await _runner.run(STEP, event, {"dedupe-exact": state}, now)
            if not any(isinstance(o, Emit) and o.topic == topics.ARTICLES_DUPLICATES for o in outs):
                count(SCATTER, "scattered")
            await _maybe_sweep(seen.name, seen.items(partition), state, partition, now)
        if state is not None:
            seen.done(partition, offset)


@tocsin_app.app.agent(tocsin_app.dedupe_bands, name="dedupe-probe")
async def probe_bands(stream: Any) -> None:
    async for event in stream.events():
        partition, offset = event.message.partition, event.message.offset
        state = None
        async with stage_boundary(STAGE, event):
            # The index as of this message: anything before it this worker has not applied
            # (a lost data directory, a partition back from another worker) is replayed first.
            before = bands.replayed
            state = await bands.at(partition, offset)
            if bands.replayed > before:
                count(INDEX, "replayed", bands.replayed - before)
            now = time.time()
            await _runner.run(PROBE, event, {"dedupe-bands": state}, now)
            await _maybe_sweep(bands.name, bands.items(partition), state, partition, now)
        if state is not None:
            # Not when the index could not be brought up to this message: the next one
            # replays what is missing.
            bands.done(partition, offset)


@tocsin_app.app.agent(tocsin_app.dedupe_verdicts, name="dedupe-decide")
async def decide_articles(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            now = time.time()
            await _runner.run(DECIDE, event, {"dedupe-gather": pending}, now)
            partition = event.message.partition
            await _maybe_sweep(
                pending.name, partition_items(pending, partition), pending, partition, now
            )
