"""Import every agent, task and page so faust registers them, then hand over to faust."""

from __future__ import annotations

import sys

import streams.agents.monitor  # (#7) sensor, lag/health and alert-feed tasks
import streams.agents.stats  # (#7) windowed stream statistics
import streams.web.dashboard  # noqa: F401  (#7) dashboard, /metrics, /healthz, /readyz
from streams import app as tocsin_app
from streams.agents import (  # noqa: F401
    dedupe,
    deliver,
    extract,
    match,
    stories,
    subscriptions,
    validate,
)
from streams.web import ingest as web_ingest  # noqa: F401
from streams.web import status  # noqa: F401
from streams.web import subscriptions as web_subscriptions  # noqa: F401


def run_worker() -> None:
    """Run ``faust worker`` for the tocsin app until SIGTERM/SIGINT."""
    # faust's CLI spells two of the standard level names its own way.
    names = {"WARNING": "warn", "CRITICAL": "crit"}
    level = names.get(tocsin_app.settings.log_level, tocsin_app.settings.log_level.lower())
    sys.argv = ["tocsin", "worker", "--loglevel", level]
    extract.preload_pool()  # before the group join (see preload_pool)
    tocsin_app.app.main()
