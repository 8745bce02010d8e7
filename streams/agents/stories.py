"""Agents ``stories`` and ``story-copies`` (``pipeline/stories.py``).

news.events.v1 + news.stories.copies.v1 (key: story key) -> stories: the story update ->
    news.stories.v1 (key: story key, so the match stage sees a story and the stories merged
    into it on one partition) and the article's membership -> news.stories.members.v1
news.stories.members.v1 + news.articles.duplicates.v1 (key: original article id) ->
    story-copies: each copy, once its original's story is known -> news.stories.copies.v1;
    aliases and forwarded copies (an original that turned out a copy) -> news.stories.members.v1

Both agents read two co-partitioned topics as one stream, so everything about one key meets
on one partition and its table.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from streams import app as tocsin_app
from streams import topics
from streams.agents import _runner
from streams.agents._boundary import count, stage_boundary
from streams.agents._state import JsonState, SplitState, sweep_due, table
from streams.pipeline import stories as stage
from streams.pipeline.stories import STAGE

# The stage name in dead letters and counters (the schema allows [a-z_]); the agent and its
# table keep the name "story-copies".
COPIES = "story_copies"
CONFIG = _runner.FLOW.stories
COPY_TOPIC = topics.STORY_COPIES.full_name(tocsin_app.settings)
log = logging.getLogger(__name__)
state = table("stories")
copies = table("story-copies")


STEP = _runner.FLOW.step("stories")
COPIES_STEP = _runner.FLOW.step("story-copies")


# The derived part of each partition's story state (term postings, memberships, high-water
# mark: ``stage.derived``), in memory: 18 of the 19 keys an article sets, which as table rows
# were 18 changelog records per article. Rebuilt from the partition's stories on first use in
# this process and after the partition was revoked (another worker may have changed it).
DERIVED: dict[int, dict[str, Any]] = {}


def _derived(partition: int) -> dict[str, Any]:
    """The derived state of ``partition``, rebuilt from its stories when not held here."""
    memory = DERIVED.get(partition)
    if memory is None:
        view = JsonState(state, partition)
        entries = view.entries()
        for key, _value in entries:
            if stage.derived(key):
                del view[key]  # written by a worker that still kept them in the table
        live = [value for key, value in entries if key.startswith("s:")]
        memory = DERIVED[partition] = stage.rebuild(live, CONFIG)
    return memory


async def _forget_derived(app: Any, *args: Any, **kwargs: Any) -> None:
    """Partitions revoked: their derived state is rebuilt if they come back."""
    revoked = args[0] if args else kwargs.get("revoked", ())
    for tp in revoked:
        DERIVED.pop(tp.partition, None)


tocsin_app.app.on_partitions_revoked.connect(_forget_derived)  # type: ignore[arg-type]


def view_of(partition: int) -> SplitState:
    """The stories state of ``partition`` as the stage sees it."""
    return SplitState(JsonState(state), _derived(partition), stage.derived)


@tocsin_app.app.agent(tocsin_app.stories_input, name="stories")
async def group_stories(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            now = time.time()
            partition = event.message.partition
            await _runner.run(STEP, event, {"stories": view_of(partition)}, now)
            if event.message.topic != COPY_TOPIC:
                _maybe_sweep_stories(partition, now)


@tocsin_app.app.agent(tocsin_app.copies_input, name="story-copies")
async def join_copies(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(COPIES, event):
            now = time.time()
            await _runner.run(COPIES_STEP, event, {"story-copies": JsonState(copies)}, now)
            _maybe_sweep(event.message.partition, now)


def _maybe_sweep(partition: int, now: float) -> None:
    """Expire one partition's memberships and waiting copies now and then."""
    if sweep_due(copies.name, partition, now):
        # The event in hand is done: a failed sweep is logged and tried again later.
        try:
            view = JsonState(copies, partition)
            count(COPIES, "swept", stage.sweep_copies(view.entries(), view, now, CONFIG.window_s))
        except Exception:
            log.exception("sweeping %s partition %s failed", copies.name, partition)


def _maybe_sweep_stories(partition: int, now: float) -> None:
    """Delete, now and then, what fell out of the story window (never a candidate again)."""
    if sweep_due(state.name, partition, now):
        # The event in hand is done: a failed sweep is logged and tried again later.
        try:
            persisted = JsonState(state, partition)
            view = SplitState(persisted, _derived(partition), stage.derived)
            items = persisted.entries() + list(_derived(partition).items())
            count(STAGE, "swept", stage.sweep(items, view, CONFIG))
        except Exception:
            log.exception("sweeping %s partition %s failed", state.name, partition)
