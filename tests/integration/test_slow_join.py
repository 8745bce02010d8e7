"""A worker the group drops while its join callback runs (aiokafka sends no heartbeat during
the callback, and opening the tables' RocksDB partitions there took longer than the session
timeout on a loaded machine) rejoins, is assigned every partition again, and must then
consume. A worker once logged "Worker ready" after such a rejoin and consumed nothing
(docs/benchmarks.md); faust-streaming #523/#629 describe stalls of the same kind."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson
import pytest

from streams import codecs, topics
from streams.kafka_client import create_topics
from tests.integration.conftest import Namespace, Worker
from tests.integration.test_dedupe import body, raw
from tests.integration.test_worker import send

pytestmark = pytest.mark.integration

# The broker's smallest session timeout (group.min.session.timeout.ms) is 6 s; the first join
# callback then takes 8 s more (tests/integration/slow_join_worker.py), so the group drops
# the worker while it runs.
SESSION_TIMEOUT = 6
SLOW_JOIN = 8
DROPPED = "member_id was not recognized"
ARTICLES = 24


def test_a_worker_dropped_during_a_slow_join_consumes_after_it_rejoins(
    broker: str, tmp_path: Path
) -> None:
    ns = Namespace(
        broker,
        tmp_path,
        TOCSIN_BROKER_SESSION_TIMEOUT=str(SESSION_TIMEOUT),
        TOCSIN_BROKER_HEARTBEAT_INTERVAL="1",
    )
    asyncio.run(create_topics(ns.settings))
    worker = Worker(
        ns,
        [sys.executable, "-m", "tests.integration.slow_join_worker", str(SLOW_JOIN)],
    )
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while DROPPED not in worker.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, f"never dropped:\n{worker.log_tail()}"
            time.sleep(0.5)
        worker.wait(lambda s: s["subscriptions_ready"])
        # Enough distinct articles that every partition of every stage sees some: a stall
        # seen before was one partition left unread, not the whole worker.
        articles = [raw(f"slow-join-{i}", body(2000 + i), 10) for i in range(ARTICLES)]
        asyncio.run(send(ns, topics.ARTICLES_RAW, [codecs.dumps(a) for a in articles]))
        unique = ns.collect(topics.ARTICLES_UNIQUE, lambda rs: len(rs) >= ARTICLES, timeout=40)
        missing = {a["id"] for a in articles} - {orjson.loads(r.value)["id"] for r in unique}
        assert not missing, (
            f"not consumed after the rejoin: {sorted(missing)}\n{worker.log_tail(80)}"
        )
    finally:
        worker.stop()
