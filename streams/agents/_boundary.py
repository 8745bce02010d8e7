"""Per-event error boundary: anything a stage raises becomes a dead letter, never a crash.

faust commits an event's offset even when the agent raises, so an exception that escaped would
lose the event *and* kill the agent; catching it here, per event, keeps both.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from streams import codecs, metrics
from streams.models import Rejected, SourceRef
from streams.pipeline.driver import dead_letter

log = logging.getLogger(__name__)

# (stage, outcome) -> count, for /api/status; one worker process's view.
COUNTS: Counter[tuple[str, str]] = Counter()


def count(stage: str, outcome: str, n: int = 1) -> None:
    COUNTS[(stage, outcome)] += n
    metrics.MESSAGES.labels(stage, outcome).inc(n)


def source_of(event: Any) -> SourceRef:
    message = event.message
    return SourceRef(message.topic, message.partition, message.offset)


async def send_dead_letter(
    sink: Any,
    stage: str,
    event: Any,
    rejected: Rejected,
    replay: tuple[str, bytes] | None = None,
) -> None:
    """Route ``event``'s original bytes, with the reason, to the dead-letter topic ``sink``.

    ``replay`` (topic, payload) replaces them when replaying the event itself would not redo
    the failed work (a digest is re-posted from a tick that carries it).
    """
    message = event.message
    payload = message.value if isinstance(message.value, bytes) else codecs.dumps(message.value)
    key = message.key if isinstance(message.key, bytes) else None
    source = source_of(event)
    if replay is not None:
        source = SourceRef(replay[0], source.partition, source.offset)
        payload, key = replay[1], None
    record = dead_letter(stage, source, payload, rejected, key)
    await sink.send(key=stage.encode(), value=codecs.dumps(record.to_dict()))
    count(stage, "deadletter")
    metrics.DEAD_LETTERS.labels(stage, metrics.error_label(rejected.error_type)).inc()


@asynccontextmanager
async def stage_boundary(sink: Any, stage: str, event: Any) -> AsyncIterator[None]:
    """Run one event's work; on an unexpected exception dead-letter the event and go on."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("%s: unexpected error on %s", stage, source_of(event))
        await send_dead_letter(sink, stage, event, Rejected(type(exc).__name__, str(exc)[:2000]))


@asynccontextmanager
async def batch_boundary(sink: Any, stage: str, events: Sequence[Any]) -> AsyncIterator[None]:
    """Run work done for several events at once (an extract batch); on an unexpected exception
    dead-letter every one of them and go on."""
    try:
        yield
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("%s: unexpected error on a batch of %d", stage, len(events))
        rejected = Rejected(type(exc).__name__, str(exc)[:2000])
        for event in events:
            await send_dead_letter(sink, stage, event, rejected)
