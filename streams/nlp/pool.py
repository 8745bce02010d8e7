"""Extraction off the event loop on every core: a process pool with the model loaded once in
each process.

Threads do not help: spaCy holds the GIL for most of its work, and a busy GIL starves the
event loop (heartbeats, commits). Processes are started with ``spawn`` (forking a process that
runs an event loop and Kafka client threads is unsafe), the model is loaded by the pool
initializer, and a batch is cut into one chunk per process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from spacy.language import Language

from streams.models import Article, EventRecord, Rejected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """What every process loads: the model and the taxonomy/gazetteer files."""

    model: str
    themes_file: Path | None = None
    actors_file: Path | None = None
    places_file: Path | None = None

    def build(self) -> Language:
        from streams.nlp import build_nlp

        return build_nlp(self.model, self.themes_file, self.actors_file, self.places_file)


_nlp: Language | None = None


def _init_process(spec: ModelSpec, level: int, ready: Any) -> None:
    """Pool initializer: load the model once in this process, then wait until every process
    has (so start-up loads them all, not just the first). Ctrl-C is the parent's to handle
    (it shuts the pool down); a child dying on SIGINT would break the pool."""
    global _nlp
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=level, format=f"[extract pid {os.getpid()}] %(message)s")
    _nlp = spec.build()
    ready.wait(timeout=600)


def _run(articles: list[Article]) -> list[EventRecord | Rejected]:
    from streams.pipeline.extract import extract_batch

    assert _nlp is not None, "pool initializer did not run"
    return extract_batch(_nlp, articles)


def _model_of_process() -> str:
    from streams.nlp import model_name

    assert _nlp is not None
    time.sleep(0.2)  # let the other start-up tasks go to the other processes
    return f"{model_name(_nlp)} in pid {os.getpid()}"


class ExtractPool:
    """``await pool.extract(articles)`` runs the extract stage in ``processes`` processes
    (0: one thread of this process, the model loaded here)."""

    def __init__(self, spec: ModelSpec, processes: int) -> None:
        self.spec = spec
        self.processes = processes
        self._executor: Executor | None = None
        self._local: Language | None = None

    def _start(self) -> Executor:
        if self.processes == 0:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacy")
        context = get_context("spawn")
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=context,
            initializer=_init_process,
            initargs=(
                self.spec,
                logging.getLogger().getEffectiveLevel() or logging.INFO,
                context.Barrier(self.processes),
            ),
        )

    def start_blocking(self) -> list[str]:
        """Start the processes and load the model in each (blocks until all have); returns
        what each loaded. Call it off the event loop (see :meth:`start`)."""
        self._executor = self._start()
        if self.processes == 0:
            from streams.nlp import model_name

            self._local = self.spec.build()
            loaded = [f"{model_name(self._local)} in a thread of pid {os.getpid()}"]
        else:
            # One task per process at once makes the pool start (and load) every process.
            futures = [self._executor.submit(_model_of_process) for _ in range(self.processes)]
            loaded = [future.result() for future in futures]
        for line in loaded:
            log.info("extract: NLP model %s", line)
        return loaded

    async def start(self) -> list[str]:
        """:meth:`start_blocking` on a helper thread: the event loop keeps running."""
        return await asyncio.get_running_loop().run_in_executor(None, self.start_blocking)

    async def extract(self, articles: list[Article]) -> list[EventRecord | Rejected]:
        """One result per article, in order; a crashed process is replaced and the batch
        retried once, then its articles are rejected (dead letters), never lost."""
        if self._executor is None:
            await self.start()
        for attempt in (1, 2):
            try:
                return await self._extract(articles)
            except BrokenProcessPool as exc:
                log.error("extract: a pool process died (%s); restarting the pool", exc)
                self.close()
                await self.start()
                if attempt == 2:
                    return [Rejected("ExtractorCrashed", str(exc)[:500]) for _ in articles]
        raise AssertionError("unreachable")

    async def _extract(self, articles: list[Article]) -> list[EventRecord | Rejected]:
        from streams.pipeline.extract import extract_batch

        loop = asyncio.get_running_loop()
        assert self._executor is not None
        if self.processes == 0:
            assert self._local is not None
            return await loop.run_in_executor(self._executor, extract_batch, self._local, articles)
        size = -(-len(articles) // self.processes)
        chunks = [articles[i : i + size] for i in range(0, len(articles), size)]
        parts = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _run, chunk) for chunk in chunks)
        )
        return [result for part in parts for result in part]

    def close(self) -> None:
        """Stop the processes (idempotent); pending work is cancelled."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
