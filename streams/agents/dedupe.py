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
on the partition that owns it, whatever the number of workers. The exact-copy index and the
band index are not faust tables: they are rebuilt from news.articles.valid.v1 and
news.dedupe.bands.v1 (``_index.py``), which saves their 1 and 32 changelog records per
article. Expired state is swept inside each agent, for the partition of the event in hand, so
the changelog tombstone goes to the partition the key lives in (faust writes a table change
to the current event's partition).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any

from streams import codecs, topics
from streams.agents import _runner
from streams.agents._boundary import count
from streams.agents._index import LogIndex, PartitionStore
from streams.agents._shell import Shell
from streams.agents._state import partition_items, rocksdb_options, sweep_due, track_memory
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


class Dedupe:
    """The shell of the three dedupe steps: their tables, the band index and their agents."""

    steps = ("dedupe", "dedupe-probe", "dedupe-decide")

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        settings = shell.settings
        self.config = shell.flow.dedupe
        self.step = shell.flow.step("dedupe")
        self.probe = shell.flow.step("dedupe-probe")
        self.decide = shell.flow.step("dedupe-decide")
        self.pending = shell.table("dedupe-gather")
        # The exact-copy index (content hash -> first article) and the band index: each entry
        # comes from a message of the topic the step reads, in that partition's order, so they
        # are rebuilt from those topics rather than written to a changelog (one and 32 records
        # per article; see _index.py).
        self.seen = self._index(
            "dedupe-exact", topics.ARTICLES_VALID.full_name(settings), self._index_exact, True
        )
        self.bands = self._index(
            "dedupe-bands", topics.DEDUPE_BANDS.full_name(settings), self._index_probe
        )
        agent = shell.app.agent
        shell.agents["dedupe"] = agent(shell.topic(topics.ARTICLES_VALID), name="dedupe")(
            self.dedupe_articles
        )
        shell.agents["dedupe-probe"] = agent(shell.topic(topics.DEDUPE_BANDS), name="dedupe-probe")(
            self.probe_bands
        )
        shell.agents["dedupe-decide"] = agent(
            shell.topic(topics.DEDUPE_VERDICTS), name="dedupe-decide"
        )(self.decide_articles)

    def _index(self, name: str, topic: str, apply: Any, timed: bool = False) -> LogIndex:
        """State rebuilt from ``topic``, in a local RocksDB without changelog."""
        settings = self.shell.settings
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
                else Path(self.shell.app.conf.tabledir) / f"{settings.app_id}-index-{topic}"
            ),
            options={
                k: v for k, v in rocksdb_options(settings.table_memory_mb).items() if k != "driver"
            },
        )
        track_memory(index)
        return index

    def _index_exact(self, value: bytes, state: MutableMapping[str, str], timestamp: float) -> None:
        """Apply one message of the valid topic to the exact-copy index, as of when it came."""
        article = Article.from_dict(codecs.loads(value))
        stage.dedupe_exact(article, state, timestamp, self.config.window_s)

    def _index_probe(self, value: bytes, state: MutableMapping[str, str]) -> None:
        """Apply one message of the probe topic to the band index (a rebuild, so no report)."""
        group = stage.ProbeGroup.from_dict(codecs.loads(value))
        stage.probe_group(group, state, time.time(), self.config)

    async def _maybe_sweep(
        self,
        name: str,
        items: Iterable[tuple[str, str]],
        state: MutableMapping[str, str],
        partition: int,
        now: float,
    ) -> None:
        """Expire one partition's state now and then; decisions a stalled gather owes are
        sent."""
        if not sweep_due(name, partition, now):
            return
        try:
            for verdict in stage.sweep(items, state, now, self.config):
                await self._emit(verdict)
                count(SWEEP, "gather_timeout")
        except asyncio.CancelledError:
            raise
        except Exception:
            # Not the event's fault: it was handled already. Log, count, try again next time.
            log.exception("dedupe: sweeping %s partition %s failed", name, partition)
            count(SWEEP, "error")
        else:
            count(SWEEP, "swept")

    async def _emit(self, verdict: Article | Duplicate) -> None:
        if isinstance(verdict, Duplicate):
            # Keyed by the original: the story-copies agent joins a copy to its original's story.
            value = verdict.to_dict()
            await self.shell.topic(topics.ARTICLES_DUPLICATES).send(
                key=verdict.duplicate_of.encode(), value=codecs.dumps(value)
            )
            count(STAGE, "duplicate")
            self.shell.counted(stats.DUPLICATE, value, time.time())
        else:
            await self.shell.topic(topics.ARTICLES_UNIQUE).send(
                key=verdict.id.encode(), value=codecs.dumps(verdict.to_dict())
            )
            count(STAGE, "unique")

    async def dedupe_articles(self, stream: Any) -> None:
        seen = self.seen
        async for event in stream.events():
            partition, offset = event.message.partition, event.message.offset
            state = None
            async with self.shell.boundary(STAGE, event):
                # The index as of this message (see probe_bands).
                state = await _index_at(seen, partition, offset, EXACT_INDEX)
                now = time.time()
                outs = await _runner.run(self.shell, self.step, event, {"dedupe-exact": state}, now)
                if not any(
                    isinstance(o, Emit) and o.topic == topics.ARTICLES_DUPLICATES for o in outs
                ):
                    count(SCATTER, "scattered")
                await self._maybe_sweep(seen.name, seen.items(partition), state, partition, now)
            if state is not None:
                seen.done(partition, offset)

    async def probe_bands(self, stream: Any) -> None:
        bands = self.bands
        async for event in stream.events():
            partition, offset = event.message.partition, event.message.offset
            state = None
            async with self.shell.boundary(STAGE, event):
                # The index as of this message: anything before it this worker has not applied
                # (a lost data directory, a partition back from another worker) is replayed
                # first.
                state = await _index_at(bands, partition, offset, INDEX)
                now = time.time()
                await _runner.run(self.shell, self.probe, event, {"dedupe-bands": state}, now)
                await self._maybe_sweep(bands.name, bands.items(partition), state, partition, now)
            if state is not None:
                # Not when the index could not be brought up to this message: the next one
                # replays what is missing.
                bands.done(partition, offset)

    async def decide_articles(self, stream: Any) -> None:
        pending = self.pending
        async for event in stream.events():
            async with self.shell.boundary(STAGE, event):
                now = time.time()
                await _runner.run(self.shell, self.decide, event, {"dedupe-gather": pending}, now)
                partition = event.message.partition
                await self._maybe_sweep(
                    pending.name, partition_items(pending, partition), pending, partition, now
                )


async def _index_at(index: LogIndex, partition: int, offset: int, counter: str) -> PartitionStore:
    """``index`` as of the message at ``offset``, counting under ``counter`` the earlier
    messages it had to replay first."""
    before = index.replayed
    state = await index.at(partition, offset)
    if index.replayed > before:
        count(counter, "replayed", index.replayed - before)
    return state
