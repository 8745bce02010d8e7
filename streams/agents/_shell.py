"""What one worker's agents, tasks and pages share, built once by :func:`streams.worker.build`
and handed to each of them (nothing is found through a module global)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from faust.web import View

from streams import codecs, topics, topology
from streams.agents import _boundary
from streams.agents._state import table
from streams.agents.subscriptions import SubscriptionRegistry
from streams.app import Tocsin
from streams.models import Rejected
from streams.pipeline import stats
from streams.settings import Settings
from streams.web.feed import AlertFeed


@dataclass
class Shell:
    """The app and its topics, the declared pipeline, the subscriptions and the alert feed;
    ``agents`` (step or task name -> faust agent) and ``parts`` (name -> what registered it)
    are filled in as the worker is built."""

    tocsin: Tocsin
    flow: topology.Topology
    registry: SubscriptionRegistry
    feed: AlertFeed = field(default_factory=AlertFeed)
    agents: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)
    # The statistics (``agents/stats.py``) register here: (record kind, decoded record or
    # None, Kafka timestamp) for every record a step reads or sends that they count, and
    # (partition, now) after every event a step handled, while its context is current.
    on_counted: list[Callable[[str, Mapping[str, Any] | None, float], None]] = field(
        default_factory=list
    )
    on_handled: list[Callable[[int, float], None]] = field(default_factory=list)

    def counted(self, kind: str, record: Mapping[str, Any] | None, timestamp: float) -> None:
        for hook in self.on_counted:
            hook(kind, record, timestamp)

    def handled(self, partition: int, now: float) -> None:
        for hook in self.on_handled:
            hook(partition, now)

    @property
    def letters(self) -> _Letters:
        """The dead-letter topic, each letter counted (``stats.DEAD_LETTER``) once sent."""
        return _Letters(self)

    @property
    def app(self) -> Any:
        return self.tocsin.app

    @property
    def settings(self) -> Settings:
        return self.tocsin.settings

    def topic(self, spec: topics.TopicSpec) -> Any:
        return self.tocsin.topic(spec)

    def joint(self, *specs: topics.TopicSpec) -> Any:
        return self.tocsin.joint(*specs)

    def table(self, name: str) -> Any:
        return table(self.tocsin, name)

    async def dead_letter(
        self,
        stage: str,
        event: Any,
        rejected: Rejected,
        replay: tuple[str, bytes] | None = None,
    ) -> None:
        await _boundary.send_dead_letter(self.letters, stage, event, rejected, replay)

    def boundary(self, stage: str, event: Any) -> AbstractAsyncContextManager[None]:
        """One event's error boundary (``_boundary.stage_boundary``)."""
        return _boundary.stage_boundary(self.letters, stage, event)

    def batch_boundary(
        self, stage: str, events: Sequence[Any]
    ) -> AbstractAsyncContextManager[None]:
        return _boundary.batch_boundary(self.letters, stage, events)


@dataclass(frozen=True)
class _Letters:
    """The dead-letter topic as ``_boundary`` sends to it, counting each letter sent."""

    shell: Shell

    async def send(self, *, key: bytes, value: bytes) -> Any:
        sent = await self.shell.topic(topics.DEADLETTER).send(key=key, value=value)
        self.shell.counted(stats.DEAD_LETTER, codecs.loads(value), time.time())
        return sent


__all__ = ["Shell"]


def page(shell: Shell, path: str, view: Any) -> None:
    """Serve ``view`` (a faust ``View`` class or an ``async def (web, request, ...)`` handler)
    at ``path``; its instances reach ``shell`` as ``self.shell`` (``web.shell``)."""
    if not isinstance(view, type):
        view = View.from_handler(view)
    bound = type(view.__name__, (view,), {"shell": shell, "__module__": view.__module__})
    shell.app.page(path)(bound)
