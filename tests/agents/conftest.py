"""faust agents under ``test_context()``: no broker, in-memory tables, mocked sends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest

from streams import topics
from streams.agents._shell import Shell
from streams.settings import Settings
from streams.worker import build

# Tables in memory, no RocksDB files from unit tests.
os.environ["TOCSIN_STORE"] = "memory://"
os.environ["TOCSIN_NLP_MODEL"] = "blank"
# One thread of the test process: test_context() runs no worker to own a process pool.
os.environ["TOCSIN_EXTRACT_PROCESSES"] = "0"

# The worker the agent tests drive: built as `tocsin worker` builds it.
WORKER: Shell = build(Settings.from_env())


@pytest.fixture()
def test_app() -> Any:
    """The docs' recipe (faust docs/userguide/testing.rst)."""
    WORKER.app.finalize()
    WORKER.app.flow_control.resume()
    return WORKER.app


@pytest.fixture()
def sends() -> Iterator[dict[str, AsyncMock]]:
    """One AsyncMock per outbound topic, keyed by the topic's attribute name."""
    names = [
        "articles_valid",
        "articles_unique",
        "articles_duplicates",
        "events",
        "stories",
        "story_members",
        "story_copies",
        "alerts",
        "digests",
        "deadletter",
        "dedupe_bands",
        "dedupe_verdicts",
    ]
    mocks = {name: AsyncMock() for name in names}
    patchers = [
        patch.object(WORKER.topic(getattr(topics, n.upper())), "send", mocks[n]) for n in names
    ]
    for p in patchers:
        p.start()
    try:
        yield mocks
    finally:
        for p in patchers:
            p.stop()
