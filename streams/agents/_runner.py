"""The generic shell around a declared step (``streams/topology.py``): hand the event to the
step's handler, send what it emits, count its outcomes, dead-letter its rejections.

Agents call :func:`run` inside their per-event boundary, so everything a step does for one
event, decoding included, is inside the error boundary. :func:`agent` is the whole agent of a
step that needs nothing else: every step without a shell of its own in ``streams/worker.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from streams import codecs, topics, topology
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import JsonState
from streams.pipeline import stats

# What the statistics count (``agents/stats.py``): records a step reads, and records a step
# sends, by topic.
_READ_KIND = {topics.ARTICLES_RAW.name: stats.ARTICLE_IN}
_SENT_KIND = {
    topics.ARTICLES_DUPLICATES.name: stats.DUPLICATE,
    topics.EVENTS.name: stats.EVENT,
    topics.ALERTS.name: stats.ALERT,
}


def message_of(shell: Shell, step: topology.Step, event: Any) -> topology.Message:
    """The declared form of a faust event (raw bytes, as every topic is read)."""
    value = event.value if isinstance(event.value, bytes) else b""
    topic = event.message.topic
    spec = next((s for s in step.inputs if s.full_name(shell.settings) == topic), step.inputs[0])
    return topology.Message(spec, value, event.message.partition)


async def send(
    shell: Shell,
    step: topology.Step,
    event: Any,
    outs: list[topology.Out],
    post: Callable[[topology.Post], Awaitable[None]] | None = None,
) -> None:
    """Send a step's outputs for ``event``, in order: records to their topics (counted under
    the step's stage, or the one an output names), rejections to the dead letters, webhook
    calls to ``post`` (the deliver shell's), state changes that wait for what came before
    (``Then``) applied."""
    for out in outs:
        if isinstance(out, topology.Emit):
            await shell.topic(out.topic).send(
                key=out.key.encode(), value=codecs.dumps(out.value), partition=out.partition
            )
            if out.outcome is not None:
                count(out.stage or step.stage, out.outcome)
            kind = _SENT_KIND.get(out.topic.name)
            if kind is not None:
                shell.counted(kind, out.value, time.time())
        elif isinstance(out, topology.Reject):
            await shell.dead_letter(out.stage or step.stage, event, out.rejected)
        elif isinstance(out, topology.Post):
            assert post is not None, f"{step.name} makes webhook calls: it needs a poster"
            await post(out)
        elif isinstance(out, topology.Then):
            out.apply()
    shell.handled(event.message.partition, time.time())


async def run(
    shell: Shell,
    step: topology.Step,
    event: Any,
    states: Mapping[str, MutableMapping[str, Any]],
    now: float | None = None,
    post: Callable[[topology.Post], Awaitable[None]] | None = None,
) -> list[topology.Out]:
    """``event`` through ``step``: its outputs sent; returned for what the agent adds."""
    assert step.handle is not None, f"{step.name} is a batch step"
    message = message_of(shell, step, event)
    kind = _READ_KIND.get(message.topic.name)
    if kind is not None:
        stamp = event.message.timestamp
        shell.counted(kind, None, stamp if isinstance(stamp, int | float) else time.time())
    outs = step.handle(message, states, time.time() if now is None else now)
    await send(shell, step, event, outs, post)
    return outs


def states_of(shell: Shell, step: topology.Step) -> dict[str, MutableMapping[str, Any]]:
    """A table per declared state: ``raw`` as it is (str -> str), ``json`` as JSON values."""
    out: dict[str, MutableMapping[str, Any]] = {}
    for spec in step.state:
        if spec.kind == "index":
            raise ValueError(f"{step.name}: an index state needs a shell of its own")
        created = shell.table(spec.name)
        out[spec.name] = created if spec.kind == "raw" else JsonState(created)
    return out


def agent(shell: Shell, step: topology.Step) -> Any:
    """The faust agent of ``step``: its inputs read as one co-partitioned stream, its state in
    tables named after the declared states, each event through :func:`run` in its boundary."""
    states = states_of(shell, step)

    async def consume(stream: Any) -> None:
        async for event in stream.events():
            async with shell.boundary(step.stage, event):
                await run(shell, step, event, states)

    consume.__name__ = consume.__qualname__ = step.name.replace("-", "_")
    return shell.app.agent(shell.joint(*step.inputs), name=step.name)(consume)
