"""The generic shell around a declared step (``streams/topology.py``): hand the event to the
step's handler, send what it emits, count its outcomes, dead-letter its rejections.

Agents call :func:`run` inside their per-event ``stage_boundary``, so everything a step does
for one event, decoding included, is inside the error boundary.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from streams import app as tocsin_app
from streams import codecs, topics, topology
from streams.agents import _hooks as hooks
from streams.agents._boundary import count, send_dead_letter
from streams.agents.subscriptions import registry
from streams.pipeline import stats

FLOW = topology.build(tocsin_app.settings, lambda: registry.matcher)

# Declared topic -> its faust topic object (``app.py``).
_OUT: dict[str, Any] = {
    topics.ARTICLES_VALID.name: tocsin_app.articles_valid,
    topics.ARTICLES_UNIQUE.name: tocsin_app.articles_unique,
    topics.ARTICLES_DUPLICATES.name: tocsin_app.articles_duplicates,
    topics.EVENTS.name: tocsin_app.events,
    topics.STORIES.name: tocsin_app.stories,
    topics.STORY_MEMBERS.name: tocsin_app.story_members,
    topics.STORY_COPIES.name: tocsin_app.story_copies,
    topics.ALERTS.name: tocsin_app.alerts,
    topics.DIGESTS.name: tocsin_app.digests,
    topics.DEDUPE_BANDS.name: tocsin_app.dedupe_bands,
    topics.DEDUPE_VERDICTS.name: tocsin_app.dedupe_verdicts,
}
_BY_FULL_NAME = {spec.full_name(tocsin_app.settings): spec for spec in topics.ALL}
# What the statistics count: records a step reads, and records a step sends, by topic.
_READ_KIND = {topics.ARTICLES_RAW.name: stats.ARTICLE_IN}
_SENT_KIND = {
    topics.ARTICLES_DUPLICATES.name: stats.DUPLICATE,
    topics.EVENTS.name: stats.EVENT,
    topics.ALERTS.name: stats.ALERT,
}


def message_of(step: topology.Step, event: Any) -> topology.Message:
    """The declared form of a faust event (raw bytes, as every topic is read)."""
    value = event.value if isinstance(event.value, bytes) else b""
    spec = _BY_FULL_NAME.get(event.message.topic)
    if spec is None or spec not in step.inputs:
        spec = step.inputs[0]
    return topology.Message(spec, value, event.message.partition)


async def send(step: topology.Step, event: Any, outs: list[topology.Out]) -> None:
    """Send a step's outputs for ``event``: records to their topics (counted under the step's
    stage), rejections to the dead letters. Webhook posts are the deliver agent's."""
    for out in outs:
        if isinstance(out, topology.Emit):
            await _OUT[out.topic.name].send(
                key=out.key.encode(), value=codecs.dumps(out.value), partition=out.partition
            )
            if out.outcome is not None:
                count(step.stage, out.outcome)
            kind = _SENT_KIND.get(out.topic.name)
            if kind is not None:
                hooks.counted(kind, out.value, time.time())
        elif isinstance(out, topology.Reject):
            await send_dead_letter(step.stage, event, out.rejected)
    hooks.handled(event.message.partition, time.time())


async def run(
    step: topology.Step,
    event: Any,
    states: Mapping[str, MutableMapping[str, Any]],
    now: float | None = None,
) -> list[topology.Out]:
    """``event`` through ``step``: its outputs sent; returned for what the agent adds."""
    assert step.handle is not None, f"{step.name} is a batch step"
    message = message_of(step, event)
    kind = _READ_KIND.get(message.topic.name)
    if kind is not None:
        stamp = event.message.timestamp
        hooks.counted(kind, None, stamp if isinstance(stamp, int | float) else time.time())
    outs = step.handle(message, states, time.time() if now is None else now)
    await send(step, event, outs)
    return outs
