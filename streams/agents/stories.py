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
from streams import codecs, topics
from streams.agents._boundary import count, stage_boundary
from streams.agents._state import JsonState, sweep_due, table
from streams.models import EventRecord
from streams.pipeline import stories as stage
from streams.pipeline.stories import STAGE

# The stage name in dead letters and counters (the schema allows [a-z_]); the agent and its
# table keep the name "story-copies".
COPIES = "story_copies"
CONFIG = stage.StoryConfig.from_settings(tocsin_app.settings)
COPY_TOPIC = topics.STORY_COPIES.full_name(tocsin_app.settings)
MEMBER_TOPIC = topics.STORY_MEMBERS.full_name(tocsin_app.settings)
log = logging.getLogger(__name__)
state = table("stories")
copies = table("story-copies")


async def _send(update: stage.StoryUpdate) -> None:
    await tocsin_app.stories.send(key=update.key.encode(), value=codecs.dumps(update.to_dict()))


@tocsin_app.app.agent(tocsin_app.stories_input, name="stories")
async def group_stories(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(STAGE, event):
            data = codecs.loads(event.value)
            now = time.time()
            if event.message.topic == COPY_TOPIC:
                copied = stage.add_copy(data, JsonState(state), now, CONFIG)
                await _send(copied)
                count(STAGE, "copy")
                continue
            record = EventRecord.from_dict(data)
            update = stage.assign(record, JsonState(state), now, CONFIG)
            _maybe_sweep_stories(event.message.partition, now)
            await _send(update)
            member = stage.membership(update)
            await tocsin_app.story_members.send(
                key=record.article_id.encode(), value=codecs.dumps(member)
            )
            count(STAGE, "new" if update.is_new else "joined")


@tocsin_app.app.agent(tocsin_app.copies_input, name="story-copies")
async def join_copies(stream: Any) -> None:
    async for event in stream.events():
        async with stage_boundary(COPIES, event):
            kind = "member" if event.message.topic == MEMBER_TOPIC else "duplicate"
            data = codecs.loads(event.value)
            now = time.time()
            joined = stage.join_copy(kind, data, JsonState(copies), now)
            for message in joined.copies:
                await tocsin_app.story_copies.send(
                    key=message["key"].encode(), value=codecs.dumps(message)
                )
                count(COPIES, "joined")
            for key, relay in joined.relays:
                await tocsin_app.story_members.send(key=key.encode(), value=codecs.dumps(relay))
                if "forward" in relay:
                    count(COPIES, "forwarded")
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
