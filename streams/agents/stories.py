"""Agents ``stories`` and ``story-copies`` (``pipeline/stories.py``, ``pipeline/match.py``).

news.events.v1 + news.stories.copies.v1 (key: story key) -> stories: the story update ->
    news.stories.v1 (key: story key, for downstream readers and the dashboard), the article's
    membership -> news.stories.members.v1, and the update matched against the subscriptions
    in the same agent -> news.alerts.v1 (key: subscription id). The match table is keyed by
    story id and lives on the story key's partition, with the stories merged into a story.
news.stories.members.v1 + news.articles.duplicates.v1 (key: original article id) ->
    story-copies: each copy, once its original's story is known -> news.stories.copies.v1;
    aliases and forwarded copies (an original that turned out a copy) -> news.stories.members.v1

Both agents read two co-partitioned topics as one stream, so everything about one key meets
on one partition and its table.
"""

from __future__ import annotations

import time
from typing import Any

from streams import topics, topology
from streams.agents import _runner
from streams.agents._boundary import count
from streams.agents._shell import Shell
from streams.agents._state import JsonState, SplitState, sweep_now_and_then
from streams.pipeline import match
from streams.pipeline import stories as stage
from streams.pipeline.stories import STAGE

# The stage name in dead letters and counters (the schema allows [a-z_]); the agent and its
# table keep the name "story-copies".
COPIES = "story_copies"


class Stories:
    """The shell of the stories (with match) and story-copies steps: their tables, agents and
    sweeps."""

    steps = ("stories", "story-copies")

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.config = shell.flow.stories
        self.copy_topic = topics.STORY_COPIES.full_name(shell.settings)
        self.state = shell.table("stories")
        self.copies = shell.table("story-copies")
        self.matched = shell.table("match")
        # Twice the story window: a story's alert can be updated until its last article is a
        # window old.
        self.keep_s = shell.flow.match_keep_s
        # The derived part of each partition's story state (term postings, memberships,
        # high-water mark: ``stage.derived``), in memory: 18 of the 19 keys an article sets,
        # which as table rows were 18 changelog records per article. Rebuilt from the
        # partition's stories on first use in this process and after the partition was revoked
        # (another worker may have changed it).
        self.derived: dict[int, dict[str, Any]] = {}
        shell.app.on_partitions_revoked.connect(self._forget_derived)
        self.step = shell.flow.step("stories")
        self.copies_step = shell.flow.step("story-copies")
        shell.agents["stories"] = shell.app.agent(shell.joint(*self.step.inputs), name="stories")(
            self.group_stories
        )
        shell.agents["story-copies"] = shell.app.agent(
            shell.joint(*self.copies_step.inputs), name="story-copies"
        )(self.join_copies)

    def _derived(self, partition: int) -> dict[str, Any]:
        """The derived state of ``partition``, rebuilt from its stories when not held here."""
        memory = self.derived.get(partition)
        if memory is None:
            view = JsonState(self.state, partition)
            entries = view.entries()
            for key, _value in entries:
                if stage.derived(key):
                    del view[key]  # written by a worker that still kept them in the table
            live = [value for key, value in entries if key.startswith("s:")]
            memory = self.derived[partition] = stage.rebuild(live, self.config)
        return memory

    async def _forget_derived(self, app: Any, *args: Any, **kwargs: Any) -> None:
        """Partitions revoked: their derived state is rebuilt if they come back."""
        revoked = args[0] if args else kwargs.get("revoked", ())
        for tp in revoked:
            self.derived.pop(tp.partition, None)

    def view_of(self, partition: int) -> SplitState:
        """The stories state of ``partition`` as the stage sees it."""
        return SplitState(JsonState(self.state), self._derived(partition), stage.derived)

    async def group_stories(self, stream: Any) -> None:
        shell = self.shell
        async for event in stream.events():
            # Matching before the compacted subscriptions topic is read would miss alerts.
            # Awaited per event, not before the loop: faust subscribes an agent's topics only
            # once its stream is iterated (see Deliver.deliver_alerts).
            await shell.registry.ready.wait()
            async with shell.boundary(STAGE, event):
                now = time.time()
                partition = event.message.partition
                states = {"stories": self.view_of(partition), "match": JsonState(self.matched)}
                outs = await _runner.run(shell, self.step, event, states, now)
                for out in outs:
                    if isinstance(out, topology.Emit) and out.topic == topics.STORIES:
                        shell.feed.stories.add(out.value)  # for the story page
                        count(match.STAGE, "story_update")
                if event.message.topic != self.copy_topic:
                    self._maybe_sweep_stories(partition, now)
                self._maybe_sweep_match(partition, now)

    async def join_copies(self, stream: Any) -> None:
        shell = self.shell
        async for event in stream.events():
            async with shell.boundary(COPIES, event):
                now = time.time()
                states = {"story-copies": JsonState(self.copies)}
                await _runner.run(shell, self.copies_step, event, states, now)
                self._maybe_sweep(event.message.partition, now)

    def _maybe_sweep(self, partition: int, now: float) -> None:
        """Expire one partition's memberships and waiting copies now and then."""

        def sweep() -> int:
            view = JsonState(self.copies, partition)
            return stage.sweep_copies(view.entries(), view, now, self.config.window_s)

        sweep_now_and_then(self.copies.name, partition, now, COPIES, sweep)

    def _maybe_sweep_match(self, partition: int, now: float) -> None:
        """Forget, now and then, the stories of this partition that stopped alerting."""

        def sweep() -> int:
            view = JsonState(self.matched, partition)
            return match.sweep(view.entries(), view, now, self.keep_s)

        sweep_now_and_then(self.matched.name, partition, now, match.STAGE, sweep)

    def _maybe_sweep_stories(self, partition: int, now: float) -> None:
        """Delete, now and then, what fell out of the story window (never a candidate again)."""

        def sweep() -> int:
            persisted = JsonState(self.state, partition)
            view = SplitState(persisted, self._derived(partition), stage.derived)
            items = persisted.entries() + list(self._derived(partition).items())
            return stage.sweep(items, view, self.config)

        sweep_now_and_then(self.state.name, partition, now, STAGE, sweep)
