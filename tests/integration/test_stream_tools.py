"""The fault tests' observer (``bench.stream_tools.Tap``) on the real broker: it picks up a
topic created after it started, and fails loudly, naming the topic, when one never appears
(it once died silently and left a fault test polling an empty tap for 600 s)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from bench.stream_tools import Tap
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from tests.integration.conftest import Namespace

pytestmark = pytest.mark.integration


def test_a_tap_started_before_its_topics_exist_reads_them_once_created(
    broker: str, tmp_path: Path
) -> None:
    ns = Namespace(broker, tmp_path)
    creator = threading.Timer(1.5, lambda: asyncio.run(create_topics(ns.settings)))
    creator.start()
    started = time.monotonic()
    tap = Tap(ns.settings, [topics.ARTICLES_VALID, topics.DEADLETTER], timeout=60)
    try:
        creator.join()
        assert time.monotonic() - started >= 1.5  # it waited for the topics
        sent = [{"id": f"a-{n}"} for n in range(20)]
        asyncio.run(
            produce(
                ns.settings,
                ns.name(topics.ARTICLES_VALID),
                [(v["id"].encode(), codecs.dumps(v)) for v in sent],
            )
        )
        deadline = time.monotonic() + 30
        while len(tap.values(topics.ARTICLES_VALID)) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(v["id"] for v in tap.values(topics.ARTICLES_VALID)) == sorted(
            v["id"] for v in sent
        )
        assert tap.values(topics.DEADLETTER) == []
    finally:
        tap.close()


def test_a_tap_whose_topic_never_appears_fails_naming_it(broker: str, tmp_path: Path) -> None:
    ns = Namespace(broker, tmp_path)
    with pytest.raises(RuntimeError, match=r"news\.stories\.v1") as raised:
        Tap(ns.settings, [topics.STORIES], timeout=2)
    assert isinstance(raised.value.__cause__, TimeoutError)
