"""Agent ``extract``: unique articles -> event records, spaCy batched in a process pool.

``stream.take_events`` gathers up to ``extract_batch`` articles; the batch is split over
``extract_processes`` processes (each loaded the model once, at start-up) so both cores work
and the event loop keeps heart-beating while spaCy runs (awaiting an executor per event would
process one article at a time, robinhood/faust#730).
"""

from __future__ import annotations

import asyncio
import contextlib
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

# A batch handed to the pool: its events with their decoded articles, and the pool's job.
_Batch = tuple[list[tuple[Any, Article]], "asyncio.Future[list[EventRecord | Rejected]]"]


def start_pool(settings: Settings, model: str) -> ExtractPool:
    """Start the extraction pool for ``model`` and block until every process has loaded it;
    the load time goes to the ``model_loaded`` hook (monitoring's gauge)."""
    started = time.perf_counter()
    spec = ModelSpec(
        model,
        settings.themes_file,
        settings.actors_file,
        settings.places_file,
        nice=settings.extract_nice,
    )
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
        """Read batches and hand each to the pool at once, up to ``extract_inflight`` of them;
        a second task sends their results in the order the batches were read.

        The pool does not idle while a batch's results are sent and the next batch is read,
        and an article that arrives while a batch runs is extracted beside it rather than
        after it. An article's offset is acked only once its results are sent (its message
        holds one extra reference until then), so a crash loses nothing: what was not sent
        is read again."""
        slots = asyncio.Semaphore(self.shell.settings.extract_inflight)
        pending: asyncio.Queue[_Batch] = asyncio.Queue()
        sender = asyncio.create_task(self._send_in_order(stream, pending, slots))
        sender.add_done_callback(_log_failure)
        try:
            async for events in stream.take_events(batch, within=within):
                decoded: list[tuple[Any, Article]] = []
                for event in events:
                    async with self.shell.boundary(STAGE, event):
                        decoded.append((event, Article.from_dict(codecs.loads(event.value))))
                if not decoded:
                    continue
                slot = asyncio.ensure_future(slots.acquire())
                await asyncio.wait({slot, sender}, return_when=asyncio.FIRST_COMPLETED)
                if not slot.done():  # the sender ended: only by an error, raised here
                    slot.cancel()
                    sender.result()
                    raise RuntimeError("extract: the result sender stopped")
                for event, _article in decoded:
                    hooks.hold(event.message)  # take_events acks it; the sender's ack is the last
                articles = [article for _event, article in decoded]
                pending.put_nowait((decoded, asyncio.create_task(pool.extract(articles))))
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            while not pending.empty():  # stopping: their offsets stay uncommitted
                pending.get_nowait()[1].cancel()

    async def _send_in_order(
        self, stream: Any, pending: asyncio.Queue[_Batch], slots: asyncio.Semaphore
    ) -> None:
        shell = self.shell
        while True:
            decoded, job = await pending.get()
            articles = [article for _event, article in decoded]
            results: list[EventRecord | Rejected] | None = None
            async with shell.batch_boundary(STAGE, [event for event, _article in decoded]):
                results = await job
            if results is not None:
                # Sent in stories.order_key order (as run --local does): story ids then do
                # not depend on the order the batch's articles were read from their
                # partitions. Keyed by story key: the stories agent finds every candidate
                # story of it in its partition's table.
                for i, outs in topology.extracted(articles, results):
                    event, article = decoded[i]
                    async with shell.boundary(STAGE, event):
                        for out in outs:
                            if isinstance(out, topology.Emit):
                                hooks.rekeyed(article.id.encode(), out.key.encode())
                        await _runner.send(shell, self.step, event, outs)
            for event, _article in decoded:
                hooks.release(event.message)
                await stream.ack(event)
            slots.release()


def _log_failure(task: asyncio.Task[None]) -> None:
    """Say at once why the sender ended (the reading loop raises it only at its next batch,
    and until then the held articles stay uncommitted: /healthz reports them as a stall)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("extract: the result sender failed", exc_info=task.exception())
