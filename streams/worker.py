"""A worker, built explicitly: the faust app for the settings, an agent for every declared step
(``streams/topology.py``), the worker's own tasks, monitoring and pages; then faust runs it.

Nothing registers itself on import: :func:`build` makes every registration, in flow order.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from streams import topics, topology
from streams.agents import _runner
from streams.agents._shell import Shell
from streams.agents.dedupe import Dedupe
from streams.agents.deliver import Deliver
from streams.agents.extract import Extract
from streams.agents.monitor import Monitoring
from streams.agents.stats import Stats
from streams.agents.stories import Stories
from streams.agents.subscriptions import SubscriptionRegistry, follow_subscriptions, names
from streams.app import create_app
from streams.pipeline.match import Matcher
from streams.settings import Settings
from streams.web import dashboard, ingest, session, status
from streams.web import subscriptions as web_subscriptions

# Steps whose agent does more than run the step's handler (an index, a process pool, sweeps,
# webhooks): the shell that registers them, by step name. Every other declared step gets the
# generic agent (``_runner.agent``).
SHELLS: dict[str, Callable[[Shell], Any]] = {
    name: shell for shell in (Dedupe, Extract, Stories, Deliver) for name in shell.steps
}


Declare = Callable[[Settings, Callable[[], Matcher]], topology.Topology]


def build(settings: Settings, declare: Declare = topology.build) -> Shell:
    """Every agent, table, task and page of a worker for ``settings``, on a new faust app, for
    the pipeline ``declare`` gives (``topology.build``; a test passes a changed copy)."""
    registry = SubscriptionRegistry(names(settings))
    flow = declare(settings, lambda: registry.matcher)
    tocsin = create_app(settings, topics.topics_of(flow))
    shell = Shell(tocsin, flow, registry)
    for step in shell.flow.steps:
        if step.name in shell.agents:
            continue  # registered with another step of its shell
        make = SHELLS.get(step.name)
        if make is None:
            shell.agents[step.name] = _runner.agent(shell, step)
        else:
            shell.parts[step.name] = make(shell)
    deadletter = shell.topic(topics.DEADLETTER)

    async def subscriptions_task() -> None:
        await follow_subscriptions(settings, registry, deadletter)

    shell.app.task(subscriptions_task)
    stats = shell.parts["stats"] = Stats(shell)
    monitoring = shell.parts["monitor"] = Monitoring(shell)
    dashboard.register(shell, monitoring, stats)
    session.register(shell)
    ingest.register(shell)
    status.register(shell)
    web_subscriptions.register(shell)
    return shell


def run_worker(settings: Settings) -> None:
    """Run ``faust worker`` for a worker built from ``settings`` until SIGTERM/SIGINT."""
    run(build(settings))


def run(shell: Shell) -> None:
    """Run ``faust worker`` for a built worker until SIGTERM/SIGINT."""
    settings = shell.settings
    # faust's CLI spells two of the standard level names its own way.
    levels = {"WARNING": "warn", "CRITICAL": "crit"}
    level = levels.get(settings.log_level, settings.log_level.lower())
    sys.argv = ["tocsin", "worker", "--loglevel", level]
    shell.parts["extract"].preload()  # before the group join (see Extract.preload)
    shell.app.main()
