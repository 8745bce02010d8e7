"""Fault injection for the integration tests, never used in production: ``tocsin worker`` whose
first join callback takes as many more seconds as its one argument says.

A worker sends no heartbeat while its join callback runs (aiokafka stops the heartbeat task
for the whole join), and opening the tables' RocksDB partitions in that callback
(``tables.on_rebalance``) took longer than the group session timeout on a loaded machine: the
group dropped the worker. This wrapper makes that happen on purpose: it builds the worker as
``tocsin worker`` does, makes the first ``tables.on_rebalance`` of that one process wait
(yielding to the loop, as the stores do between partitions), then runs it. Run it as
``python -m tests.integration.slow_join_worker SECONDS`` with the worker's usual environment.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from streams.settings import Settings
from streams.worker import build, run

log = logging.getLogger(__name__)


def slow_first_rebalance(tables: Any, seconds: float) -> None:
    """Make the first ``tables.on_rebalance`` of ``tables`` block for ``seconds``."""
    original: Callable[..., Awaitable[None]] = tables.on_rebalance
    calls = 0

    async def on_rebalance(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            log.warning("fault injection: the join callback waits %gs", seconds)
            await asyncio.sleep(seconds)
        await original(*args)

    tables.on_rebalance = on_rebalance  # this TableManager instance only


def main() -> None:
    settings = Settings.from_env()
    shell = build(settings)
    slow_first_rebalance(shell.app.tables, float(sys.argv[1]))
    run(shell)


if __name__ == "__main__":
    main()
