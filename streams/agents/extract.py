"""Agent ``extract``: unique articles -> event records, spaCy batched on a worker thread.

``stream.take_events`` gathers up to ``extract_batch`` articles; ``nlp.pipe`` runs on a
dedicated thread so the event loop keeps heart-beating while spaCy works (awaiting an
executor per event would process one article at a time, robinhood/faust#730).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spacy.language import Language

from streams import app as tocsin_app
from streams import codecs
from streams.agents._boundary import count, send_dead_letter, stage_boundary
from streams.models import Article, Rejected
from streams.nlp import build_nlp
from streams.pipeline.extract import STAGE, extract_batch

log = logging.getLogger(__name__)
# One thread: a spaCy pipeline is not meant to be called from two threads at once.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacy")
_nlp: Language | None = None


async def _model() -> Language:
    """Load the model once per worker, off the event loop."""
    global _nlp
    if _nlp is None:
        loop = asyncio.get_running_loop()
        _nlp = await loop.run_in_executor(_executor, build_nlp, tocsin_app.settings.nlp_model)
    return _nlp


@tocsin_app.app.agent(tocsin_app.articles_unique, name="extract")
async def extract_events(stream: Any) -> None:
    settings = tocsin_app.settings
    nlp = await _model()
    loop = asyncio.get_running_loop()
    async for events in stream.take_events(settings.extract_batch, within=settings.extract_within):
        decoded: list[tuple[Any, Article]] = []
        for event in events:
            async with stage_boundary(STAGE, event):
                decoded.append((event, Article.from_dict(codecs.loads(event.value))))
        if not decoded:
            continue
        articles = [article for _event, article in decoded]
        results = await loop.run_in_executor(_executor, extract_batch, nlp, articles)
        for (event, article), result in zip(decoded, results, strict=True):
            async with stage_boundary(STAGE, event):
                if isinstance(result, Rejected):
                    await send_dead_letter(STAGE, event, result)
                    continue
                await tocsin_app.events.send(
                    key=article.id.encode(), value=codecs.dumps(result.to_dict())
                )
                count(STAGE, "event")
