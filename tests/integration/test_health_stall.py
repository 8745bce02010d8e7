"""/healthz on a real stall: the process and its web server are up, but one agent has work
waiting and makes no progress (here: extract cannot load its model), which is what faust's silent
stalls (#175) look like from outside."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from streams import codecs, topics
from streams.kafka_client import create_topics
from tests.integration.conftest import Namespace, Worker
from tests.integration.test_monitoring import get, scrape, value
from tests.integration.test_worker import send

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stalled_worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    ns = Namespace(broker, Path(tmp_path_factory.mktemp("stall")))
    ns.env["TOCSIN_NLP_MODEL"] = f"no_such_model_{uuid.uuid4().hex[:6]}"
    ns.env["TOCSIN_STALL_AFTER"] = "3"
    asyncio.run(create_topics(ns.settings))
    w = Worker(ns)
    w.start()
    try:
        w.wait(lambda s: s["subscriptions_ready"])
        yield w
    finally:
        w.stop()


def test_healthz_reports_the_stream_that_stopped(stalled_worker: Worker) -> None:
    worker = stalled_worker
    status, _h, body = get(worker, "/healthz")
    assert status == 200, body  # nothing waiting yet: an idle stream is healthy
    # The monitor takes each partition's starting point the first time it looks at it; a
    # record that arrives before that look, on a partition faust then commits past for the
    # crashed agent, is invisible to it. Send once extract's partitions are watched.
    deadline = time.monotonic() + 30
    while "extract" not in orjson.loads(get(worker, "/healthz")[2])["lag"]:
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.5)
    article = {"id": "stall-1", "text": "Protesters marched in Nairobi, Kenya, on Monday."}
    asyncio.run(send(worker.ns, topics.ARTICLES_RAW, [codecs.dumps(article)]))

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _h, body = get(worker, "/healthz")
        # With a 3 s threshold the dedupe scatter/gather agents (33 band messages for this one
        # article) can be flagged for a moment before the article reaches extract: wait for it.
        if status == 503 and "extract" in {s["stage"] for s in orjson.loads(body)["stalls"]}:
            break
        time.sleep(1)
    assert status == 503, f"never unhealthy: {body!r}\n{worker.log_tail()}"
    health = orjson.loads(body)
    assert not health["healthy"]
    assert {s["stage"] for s in health["stalls"]} == {"extract"}, health
    [stall] = health["stalls"]
    assert stall["lag"] >= 1 and stall["topic"].endswith(topics.ARTICLES_UNIQUE.name)
    samples = scrape(worker)
    assert value(samples, "tocsin_stream_stalled", stage="extract") == 1
    assert value(samples, "tocsin_stream_stalled", stage="validate") == 0
    assert value(samples, "tocsin_messages_total", stage="dedupe", outcome="unique") == 1
    assert worker.proc is not None and worker.proc.poll() is None  # the process is still up
