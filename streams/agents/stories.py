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
from streams.agents._state import JsonState, sweep_due, table
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


@tocsin_app.app.agent(tocsin_app.stories_input, name="stories")
async def group_stories(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            now = time.time()
            await _runner.run(STEP, event, {"stories": JsonState(state)}, now)
            if event.message.topic != COPY_TOPIC:
                _maybe_sweep_stories(event.message.partition, now)


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
            view = JsonState(state, partition)
            count(STAGE, "swept", stage.sweep(view.entries(), view, CONFIG))
        except Exception:
            log.exception("sweeping %s partition %s failed", state.name, partition)
