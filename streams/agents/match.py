"""Agent ``match``: story updates (key: story id) x subscriptions -> ``news.alerts.v1``
(key: subscription id). Its table, keyed by story id, remembers which subscriptions alerted
on each story (one alert per subscription and story, then updates)."""

from __future__ import annotations

import logging
import time
from typing import Any

from streams import codecs
from streams.agents import _runner
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import JsonState, sweep_due
from streams.pipeline.match import STAGE, sweep
from streams.pipeline.stories import StoryUpdate

log = logging.getLogger(__name__)


class Match:
    """The shell of the match step: its table, its agent (story updates also go to the
    dashboard's story pages) and its sweep."""

    steps = ("match",)

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.state = shell.table("match")
        self.step = shell.flow.step("match")
        # Twice the story window: a story's alert can be updated until its last article is a
        # window old.
        self.keep_s = shell.flow.match_keep_s
        shell.agents["match"] = shell.app.agent(shell.joint(*self.step.inputs), name="match")(
            self.match_alerts
        )

    async def match_alerts(self, stream: Any) -> None:
        shell = self.shell
        async for event in stream.events():
            # Matching before the compacted subscriptions topic is read would miss alerts.
            # Awaited per event, not before the loop: faust subscribes an agent's topics only
            # once its stream is iterated (see Deliver.deliver_alerts).
            await shell.registry.ready.wait()
            async with shell.boundary(STAGE, event):
                data = codecs.loads(event.value)
                StoryUpdate.from_dict(data)  # a malformed update is dead-lettered, not shown
                shell.feed.stories.add(data)  # for the story page
                now = time.time()
                await _runner.run(shell, self.step, event, {"match": JsonState(self.state)}, now)
                count(STAGE, "story_update")
                self._maybe_sweep(event.message.partition, now)

    def _maybe_sweep(self, partition: int, now: float) -> None:
        """Forget, now and then, the stories of this partition that stopped alerting."""
        state = self.state
        if sweep_due(state.name, partition, now):
            # The event in hand is done: a failed sweep is logged and tried again later.
            try:
                view = JsonState(state, partition)
                count(STAGE, "swept", sweep(view.entries(), view, now, self.keep_s))
            except Exception:
                log.exception("sweeping %s partition %s failed", state.name, partition)
