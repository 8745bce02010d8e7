"""faust agents under ``test_context()``: no broker, in-memory tables, mocked sends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from unittest.mock import AsyncMock, patch

import pytest

# Before streams.app is imported: tables in memory, no RocksDB files from unit tests.
os.environ["TOCSIN_STORE"] = "memory://"
os.environ["TOCSIN_NLP_MODEL"] = "blank"
# One thread of the test process: test_context() runs no worker to own a process pool.
os.environ["TOCSIN_EXTRACT_PROCESSES"] = "0"

from streams import app as tocsin_app


@pytest.fixture()
def test_app() -> Any:
    """The docs' recipe (faust docs/userguide/testing.rst)."""
    tocsin_app.app.finalize()
    tocsin_app.app.flow_control.resume()
    return tocsin_app.app


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
    patchers = [patch.object(getattr(tocsin_app, n), "send", mocks[n]) for n in names]
    for p in patchers:
        p.start()
    try:
        yield mocks
    finally:
        for p in patchers:
            p.stop()
