"""Integration fixtures: the real broker that `make test` starts, and real worker processes.

Every test module gets its own topic prefix, consumer group and state directory, so modules
never see each other's messages. Under CI=true a missing broker fails the run instead of
skipping it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from streams import topics
from streams.kafka_client import client_options, create_topics, partitions_of, start_client
from streams.settings import Settings

BROKER = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
REPO = Path(__file__).resolve().parents[2]


def _broker_up() -> bool:
    host, port = BROKER.split(",")[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def broker() -> str:
    if not _broker_up():
        message = (
            f"no Kafka broker at {BROKER}; `make test` starts one "
            "(deploy/with-kafka.sh), or run deploy/kafka/kafka.sh up"
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return BROKER


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Namespace:
    """A private set of topics and a consumer group on the shared broker."""

    def __init__(self, broker: str, tmp: Path, **env: str) -> None:
        tag = uuid.uuid4().hex[:8]
        self.env = {
            **os.environ,
            "TOCSIN_BROKER": broker,
            "TOCSIN_TOPIC_PREFIX": f"it-{tag}.",
            "TOCSIN_APP_ID": f"it-{tag}",
            "TOCSIN_DATA_DIR": str(tmp / "data"),
            "TOCSIN_STORE": "rocksdb://",
            "TOCSIN_WEB_PORT": str(free_port()),
            "TOCSIN_LOG_LEVEL": "INFO",
            # A killed worker's partitions wait out the session timeout (faust's 60 s by
            # default) before the group hands them on; 30 s keeps the kill tests shorter. Not
            # less: a worker sends no heartbeat while it opens its tables in the join callback,
            # which took up to 12 s with the suite's two processes on two cores, and a worker
            # dropped from the group then (10 s) rejoined and consumed nothing more.
            "TOCSIN_BROKER_SESSION_TIMEOUT": "30",
            "TOCSIN_BROKER_HEARTBEAT_INTERVAL": "1",
        }
        self.env.pop("TOCSIN_NLP_MODEL", None)
        self.env.update(env)
        self.settings = Settings.from_env(
            {
                k: v
                for k, v in self.env.items()
                if k.startswith("TOCSIN_") and not k.startswith("TOCSIN_KAFKA_")
            }
        )
        self.tmp = tmp

    def name(self, spec: topics.TopicSpec) -> str:
        return spec.full_name(self.settings)

    def collect(
        self, spec: topics.TopicSpec, until: Callable[[list[Any]], bool], timeout: float = 90.0
    ) -> list[Any]:
        """Every record of the topic, read until ``until(records)`` holds with the reader at
        the end of every partition, or until the deadline."""
        return asyncio.run(self._collect(self.name(spec), until, timeout))

    async def _collect(
        self, topic: str, until: Callable[[list[Any]], bool], timeout: float
    ) -> list[Any]:
        # One reader that keeps reading, with the condition checked whenever it has caught up
        # with the topic's end offsets: re-reading the topic until 1.5 s without a record, then
        # sleeping, cost seconds per look while a worker was still producing.
        deadline = time.monotonic() + timeout
        partitions = await partitions_of(self.settings, topic)
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await start_client(consumer)
        consumer.assign(partitions)
        records: list[Any] = []
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(batch)
                ends = await consumer.end_offsets(partitions)
                at_end = [await consumer.position(tp) >= end for tp, end in ends.items()]
                if (all(at_end) and until(records)) or time.monotonic() > deadline:
                    return records
        finally:
            await consumer.stop()

    async def _read_all(self, spec: topics.TopicSpec) -> list[Any]:
        """Every record the topic holds now."""
        return await self._collect(self.name(spec), lambda rs: True, 30.0)


class Worker:
    """`tocsin worker` as a real process; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, ns: Namespace, command: list[str] | None = None, **env: str) -> None:
        """``env`` overrides the namespace's (a second worker needs its own data dir and
        web port); ``command`` replaces ``python -m streams.cli worker`` (a fault-injecting
        wrapper)."""
        self.ns = ns
        self.command = command or [sys.executable, "-m", "streams.cli", "worker"]
        self.env = {**ns.env, **env}
        self.log_path = ns.tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TOCSIN_WEB_PORT']}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def status(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(self.url + "/api/status", timeout=2) as response:
                data: dict[str, Any] = orjson.loads(response.read())
                return data
        except OSError:
            return None

    def wait(
        self, condition: Callable[[dict[str, Any]], bool], timeout: float = 120.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            status = self.status()
            if status is not None and condition(status):
                return status
            time.sleep(0.5)
        pytest.fail(
            f"worker condition not met in {timeout}s; status={self.status()}\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the worker and its children (the extraction processes)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 20.0) -> None:
        stop_all([self], grace)


def stop_all(workers: list[Worker], grace: float = 20.0) -> None:
    """SIGTERM every worker at once, then wait (SIGKILL after ``grace`` s): a worker takes
    seconds to close its tables, and stopping them one by one added that up."""
    running = [w.proc for w in workers if w.proc is not None and w.proc.poll() is None]
    for proc in running:
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.fixture(scope="module")
def namespace(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    ns = Namespace(broker, tmp_path_factory.mktemp("ns"))
    asyncio.run(create_topics(ns.settings))
    return ns


@pytest.fixture(scope="module")
def worker(namespace: Namespace) -> Iterator[Worker]:
    w = Worker(namespace)
    w.start()
    try:
        w.wait(lambda s: s["subscriptions_ready"])
        yield w
    finally:
        w.stop()
