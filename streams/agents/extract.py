"""Agent ``extract``: unique articles -> event records, spaCy batched in a process pool.

``stream.take_events`` gathers up to ``extract_batch`` articles; the batch is split over
``extract_processes`` processes (each loaded the model once, at start-up) so both cores work
and the event loop keeps heart-beating while spaCy runs (awaiting an executor per event would
process one article at a time, robinhood/faust#730).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from streams import codecs, topics, topology
from streams.agents import _hooks as hooks
from streams.agents import _runner
from streams.agents._shell import Shell
from streams.models import Article, EventRecord, Rejected
from streams.nlp.pool import ExtractPool, ModelSpec
from streams.pipeline.extract import STAGE
from streams.settings import Settings

log = logging.getLogger(__name__)


def start_pool(settings: Settings, model: str) -> ExtractPool:
    """Start the extraction pool for ``model`` and block until every process has loaded it;
    the load time goes to the ``model_loaded`` hook (monitoring's gauge)."""
    started = time.perf_counter()
    spec = ModelSpec(model, settings.themes_file, settings.actors_file, settings.places_file)
    pool = ExtractPool(spec, settings.extract_processes)
    pool.start_blocking()
    hooks.model_loaded(model, time.perf_counter() - started)
    return pool


class Extract:
    """The shell of the batched extract step: its process pool and its agent."""

    steps = ("extract",)

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.step = shell.flow.step("extract")
        self.pool: ExtractPool | None = None
        shell.agents["extract"] = shell.app.agent(
            shell.topic(topics.ARTICLES_UNIQUE), name="extract"
        )(self.extract_events)

    async def get_pool(self) -> ExtractPool:
        """One pool per worker: the model is loaded once in each of its processes, off the
        event loop."""
        if self.pool is None:
            settings = self.shell.settings
            loop = asyncio.get_running_loop()
            self.pool = await loop.run_in_executor(None, start_pool, settings, settings.nlp_model)
        return self.pool

    def preload(self) -> None:
        """Load the model before the worker joins its consumer group.

        The group gives a joining worker no heartbeat until its partition-assignment callback
        returns, and that callback opens every table partition (RocksDB). Loading spaCy at the
        same time slows it on a small machine past a short session timeout: the group then drops
        the worker and rebalances a second time. Loaded first, the model costs the same seconds
        once, before the join, and nothing can process an article without it anyway. A model
        that fails to load here is loaded again by the agent, whose failure then shows as a
        stall in /healthz with the web server up (tests/integration/test_health_stall.py)."""
        settings = self.shell.settings
        model = settings.nlp_model
        if self.pool is None:
            try:
                self.pool = start_pool(settings, model)
            except Exception:  # any load error: the agent loads it again and reports it
                log.exception("extract: loading %s before the group join failed", model)

    def close_pool(self) -> None:
        """Stop the extraction processes (worker shutdown)."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    async def extract_events(self, stream: Any) -> None:
        settings = self.shell.settings
        pool = await self.get_pool()
        try:
            await self._consume(stream, pool, settings.extract_batch, settings.extract_within)
        finally:
            self.close_pool()

    async def _consume(self, stream: Any, pool: ExtractPool, batch: int, within: float) -> None:
        shell = self.shell
        async for events in stream.take_events(batch, within=within):
            decoded: list[tuple[Any, Article]] = []
            for event in events:
                async with shell.boundary(STAGE, event):
                    decoded.append((event, Article.from_dict(codecs.loads(event.value))))
            if not decoded:
                continue
            articles = [article for _event, article in decoded]
            results: list[EventRecord | Rejected] | None = None
            async with shell.batch_boundary(STAGE, [event for event, _article in decoded]):
                results = await pool.extract(articles)
            if results is None:
                continue
            # Sent in stories.order_key order (as run --local does): story ids then do not
            # depend on the order the batch's articles were read from their partitions. Keyed
            # by story key: the stories agent finds every candidate story of it in its
            # partition's table.
            for i, outs in topology.extracted(articles, results):
                event, article = decoded[i]
                async with shell.boundary(STAGE, event):
                    for out in outs:
                        if isinstance(out, topology.Emit):
                            hooks.rekeyed(article.id.encode(), out.key.encode())
                    await _runner.send(shell, self.step, event, outs)
