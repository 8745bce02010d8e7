"""Agent ``match``: story updates (key: story id) x subscriptions -> ``news.alerts.v1``
(key: subscription id). Its table, keyed by story id, remembers which subscriptions alerted
on each story (one alert per subscription and story, then updates)."""

from __future__ import annotations

import logging
import time
from typing import Any

from streams import app as tocsin_app
from streams import codecs
from streams.agents import _runner
from streams.agents._boundary import count, stage_boundary
from streams.agents._state import JsonState, sweep_due, table
from streams.agents.monitor import feed
from streams.agents.subscriptions import registry
from streams.pipeline.match import STAGE, sweep
from streams.pipeline.stories import StoryUpdate

log = logging.getLogger(__name__)
state = table("match")
STEP = _runner.FLOW.step("match")


@tocsin_app.app.agent(tocsin_app.stories, name="match")
async def match_alerts(stream: Any) -> None:
    async for event in stream.events():
        # Matching before the compacted subscriptions topic is read would miss alerts. Awaited
        # per event, not before the loop: faust subscribes an agent's topics only once its
        # stream is iterated (see deliver_alerts).
        await registry.ready.wait()
        async with stage_boundary(STAGE, event):
            data = codecs.loads(event.value)
            StoryUpdate.from_dict(data)  # a malformed update is dead-lettered, not shown
            feed.stories.add(data)  # for the story page
            now = time.time()
            await _runner.run(STEP, event, {"match": JsonState(state)}, now)
            count(STAGE, "story_update")
            _maybe_sweep(event.message.partition, now)


# Twice the story window: a story's alert can be updated until its last article is a window old.
KEEP_S = _runner.FLOW.match_keep_s


def _maybe_sweep(partition: int, now: float) -> None:
    """Forget, now and then, the stories of this partition that stopped alerting."""
    if sweep_due(state.name, partition, now):
        # The event in hand is done: a failed sweep is logged and tried again later.
        try:
            view = JsonState(state, partition)
            count(STAGE, "swept", sweep(view.entries(), view, now, KEEP_S))
        except Exception:
            log.exception("sweeping %s partition %s failed", state.name, partition)
