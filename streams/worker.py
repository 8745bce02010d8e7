"""Import every agent, task and page so faust registers them, then hand over to faust."""

from __future__ import annotations

import sys

from streams import app as tocsin_app

# Monitoring: stats stage, sensor/lag/alert-feed tasks, dashboard and metrics pages (#7).
from streams.agents import dedupe, extract, match, monitor, stats, subscriptions, validate  # noqa: F401  # noqa: F401, E402
from streams.web import (
    dashboard,  # noqa: F401
    status,  # noqa: F401
)


def run_worker() -> None:
    """Run ``faust worker`` for the tocsin app until SIGTERM/SIGINT."""
    level = tocsin_app.settings.log_level.lower()
    sys.argv = ["tocsin", "worker", "--loglevel", level]
    tocsin_app.app.main()
