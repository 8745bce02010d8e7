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

from streams import app as tocsin_app
from streams import codecs, topology
from streams.agents import _hooks as hooks
from streams.agents import _runner
from streams.agents._boundary import batch_boundary, stage_boundary
from streams.models import Article, EventRecord, Rejected
from streams.nlp.pool import ExtractPool, ModelSpec
from streams.pipeline.extract import STAGE

log = logging.getLogger(__name__)
_pool: ExtractPool | None = None
STEP = _runner.FLOW.step("extract")


def start_pool(model: str) -> ExtractPool:
    """Start the extraction pool for ``model`` and block until every process has loaded it;
    the load time goes to the ``model_loaded`` hook (monitoring's gauge)."""
    settings = tocsin_app.settings
    started = time.perf_counter()
    spec = ModelSpec(model, settings.themes_file, settings.actors_file, settings.places_file)
    pool = ExtractPool(spec, settings.extract_processes)
    pool.start_blocking()
    hooks.model_loaded(model, time.perf_counter() - started)
    return pool


async def _get_pool() -> ExtractPool:
    """One pool per worker: the model is loaded once in each of its processes, off the
    event loop."""
    global _pool
    if _pool is None:
        loop = asyncio.get_running_loop()
        _pool = await loop.run_in_executor(None, start_pool, tocsin_app.settings.nlp_model)
    return _pool


def preload_pool() -> None:
    """Load the model before the worker joins its consumer group.

    The group gives a joining worker no heartbeat until its partition-assignment callback
    returns, and that callback opens every table partition (RocksDB). Loading spaCy at the
    same time slows it on a small machine past a short session timeout: the group then drops
    the worker and rebalances a second time. Loaded first, the model costs the same seconds
    once, before the join, and nothing can process an article without it anyway. A model
    that fails to load here is loaded again by the agent, whose failure then shows as a stall
    in /healthz with the web server up (tests/integration/test_health_stall.py)."""
    global _pool
    model = tocsin_app.settings.nlp_model
    if _pool is None:
        try:
            _pool = start_pool(model)
        except Exception:  # any load error: the agent loads it again and reports it
            log.exception("extract: loading %s before the group join failed", model)


def close_pool() -> None:
    """Stop the extraction processes (worker shutdown)."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


@tocsin_app.app.agent(tocsin_app.articles_unique, name="extract")
async def extract_events(stream: Any) -> None:
    settings = tocsin_app.settings
    pool = await _get_pool()
    try:
        await _consume(stream, pool, settings.extract_batch, settings.extract_within)
    finally:
        close_pool()


async def _consume(stream: Any, pool: ExtractPool, batch: int, within: float) -> None:
    async for events in stream.take_events(batch, within=within):
        decoded: list[tuple[Any, Article]] = []
        for event in events:
            async with stage_boundary(STAGE, event):
                decoded.append((event, Article.from_dict(codecs.loads(event.value))))
        if not decoded:
            continue
        articles = [article for _event, article in decoded]
        results: list[EventRecord | Rejected] | None = None
        async with batch_boundary(STAGE, [event for event, _article in decoded]):
            results = await pool.extract(articles)
        if results is None:
            continue
        # Sent in stories.order_key order (as run --local does): story ids then do not depend
        # on the order the batch's articles were read from their partitions. Keyed by story
        # key: the stories agent finds every candidate story of it in its partition's table.
        for i, outs in topology.extracted(articles, results):
            event, article = decoded[i]
            async with stage_boundary(STAGE, event):
                for out in outs:
                    if isinstance(out, topology.Emit):
                        hooks.rekeyed(article.id.encode(), out.key.encode())
                await _runner.send(STEP, event, outs)
