"""What one worker's agents, tasks and pages share, built once by :func:`streams.worker.build`
and handed to each of them (nothing is found through a module global)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from faust.web import View

from streams import topics, topology
from streams.agents import _boundary
from streams.agents._state import table
from streams.agents.subscriptions import SubscriptionRegistry
from streams.app import Tocsin
from streams.models import Rejected
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
        await _boundary.send_dead_letter(
            self.topic(topics.DEADLETTER), stage, event, rejected, replay
        )

    def boundary(self, stage: str, event: Any) -> AbstractAsyncContextManager[None]:
        """One event's error boundary (``_boundary.stage_boundary``)."""
        return _boundary.stage_boundary(self.topic(topics.DEADLETTER), stage, event)

    def batch_boundary(
        self, stage: str, events: Sequence[Any]
    ) -> AbstractAsyncContextManager[None]:
        return _boundary.batch_boundary(self.topic(topics.DEADLETTER), stage, events)


__all__ = ["Shell"]


def page(shell: Shell, path: str, view: Any) -> None:
    """Serve ``view`` (a faust ``View`` class or an ``async def (web, request, ...)`` handler)
    at ``path``; its instances reach ``shell`` as ``self.shell`` (``web.shell``)."""
    if not isinstance(view, type):
        view = View.from_handler(view)
    bound = type(view.__name__, (view,), {"shell": shell, "__module__": view.__module__})
    shell.app.page(path)(bound)
