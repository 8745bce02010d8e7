"""Stream tools shared by the fault tests and the soak and scaling benchmarks: a steady
producer of generated articles, a tap that keeps every record of some topics, worker
processes with their memory and CPU, and the consumer group's lag."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from bench.corpus import Item
from streams import topics, topology
from streams.settings import Settings
from streams.sources.files import raw_key


class Tap:
    """Every record of some topics, read continuously by a group-less consumer in a thread
    (it rides out a broker failure like any client).

    The constructor returns once the consumer is assigned every partition of the topics and
    raises if it cannot be; a consumer that fails later makes every read raise. (A tap that
    died silently in its thread once left a fault test polling an empty list for 600 s.)"""

    def __init__(
        self, settings: Settings, specs: Iterable[topics.TopicSpec], timeout: float = 60.0
    ) -> None:
        self.settings = settings
        self.names = {s.full_name(settings): s.name for s in specs}
        self.records: dict[str, list[Any]] = {s: [] for s in self.names.values()}
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._assigned = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(timeout,), daemon=True)
        self.thread.start()
        if not self._assigned.wait(timeout + 30):
            self.close()
            raise TimeoutError(f"the tap was not assigned {sorted(self.names)} in {timeout:.0f} s")
        self._check()

    def _main(self, timeout: float) -> None:
        try:
            asyncio.run(self._run(timeout))
        except BaseException as exc:  # noqa: BLE001  (raised in the reading thread by _check)
            self.error = exc
        finally:
            self._assigned.set()

    async def _run(self, timeout: float) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.brokers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=3000,
        )
        await consumer.start()
        try:
            # Assigned by hand, not subscribed: a subscribed group-less consumer's start()
            # raises if one metadata answer lacks one of its topics, and a topic created a
            # moment ago is missing from a lagging broker's answer on a three-node cluster; a
            # later answer without it would also drop (and then re-read) its partitions.
            partitions = await topic_partitions(self.settings, list(self.names), timeout)
            consumer.assign(partitions)
            self._assigned.set()
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=300)
                with self.lock:
                    for tp, records in batches.items():
                        self.records[self.names[tp.topic]].extend(records)
        finally:
            await consumer.stop()

    def _check(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the tap's consumer failed: {self.error!r}") from self.error
        if not self.thread.is_alive() and not self._stop.is_set():
            raise RuntimeError("the tap's consumer stopped")

    def values(self, spec: topics.TopicSpec) -> list[dict[str, Any]]:
        self._check()
        with self.lock:
            records = list(self.records[spec.name])
        decoded = [orjson.loads(r.value) for r in records if r.value]
        return [v for v in decoded if isinstance(v, dict)]  # poison tests send other JSON

    def raw(self, spec: topics.TopicSpec) -> list[Any]:
        self._check()
        with self.lock:
            return list(self.records[spec.name])

    def mark(self) -> dict[str, int]:
        """How many records each topic has so far (for :meth:`since`)."""
        self._check()
        with self.lock:
            return {name: len(records) for name, records in self.records.items()}

    def since(self, spec: topics.TopicSpec, mark: dict[str, int]) -> list[dict[str, Any]]:
        """The decoded records of ``spec`` that arrived after ``mark``."""
        self._check()
        with self.lock:
            records = self.records[spec.name][mark[spec.name] :]
        decoded = [orjson.loads(r.value) for r in records if r.value]
        return [v for v in decoded if isinstance(v, dict)]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(30)


async def topic_partitions(
    settings: Settings, names: list[str], timeout: float = 60.0
) -> list[TopicPartition]:
    """Every partition of ``names`` once every broker's metadata has each topic with a leader
    for each partition. A topic created moments ago on a multi-node cluster can be missing
    from a broker that has not yet applied the controller's record; raises TimeoutError
    (naming what is missing) instead of waiting for ever."""
    client = AIOKafkaClient(bootstrap_servers=settings.brokers)
    deadline = time.monotonic() + timeout
    try:
        await client.bootstrap()
        while True:
            missing: set[str] = set()
            partitions: set[TopicPartition] = set()
            # Each broker in turn: a client's metadata request goes to any one of them.
            for broker in client.cluster.brokers():
                try:
                    answer = await client.send(broker.nodeId, MetadataRequest(names, False))
                except KafkaError:
                    missing.add(f"(broker {broker.nodeId} did not answer)")
                    continue
                listed = answer.to_object()["topics"]
                missing |= set(names) - {t["topic"] for t in listed}
                for topic in listed:
                    if topic["error_code"] == 0 and all(
                        p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"]
                    ):
                        partitions |= {
                            TopicPartition(topic["topic"], p["partition"])
                            for p in topic["partitions"]
                        }
                    else:
                        missing.add(topic["topic"])
            if not missing and partitions:
                return sorted(partitions)
            if time.monotonic() > deadline:
                raise TimeoutError(f"not in every broker's metadata: {sorted(missing)}")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


class Feeder:
    """Produces items to the raw topic at a steady rate in a thread (acks=all, idempotent);
    a send that fails is retried, so every item is on the topic in the end."""

    def __init__(self, settings: Settings, items: list[Item], rate: float) -> None:
        self.settings = settings
        self.items = items
        self.rate = rate
        self.sent = 0
        self.retries = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as exc:  # noqa: BLE001  (re-raised in the test thread by join())
            self.error = exc

    async def _run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.brokers,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=60_000,
        )
        await producer.start()
        topic = topics.ARTICLES_RAW.full_name(self.settings)
        try:
            start = time.monotonic()
            for n, item in enumerate(self.items):
                delay = start + n / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                while True:
                    try:
                        await producer.send_and_wait(topic, item.payload, key=raw_key(item.payload))
                        break
                    except KafkaError:
                        self.retries += 1
                        await asyncio.sleep(1)
                self.sent = n + 1
        finally:
            await producer.stop()

    def wait_sent(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.sent} of {count} sent"
            time.sleep(0.2)

    def join(self, timeout: float = 600) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"feeder stuck at {self.sent}/{len(self.items)}"
        assert self.error is None, self.error


# ---- worker processes, their memory and CPU, and the group's lag ---------------------------


def stop_on_sigterm() -> None:
    """Turn SIGTERM (and SIGHUP) into SystemExit, so the ``finally`` blocks that stop the
    workers run. Python's default is to die at once, which left the workers (each in its own
    session) running after ``make soak`` was terminated."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)


class WorkerProcess:
    """``tocsin worker`` (or another module's ``worker`` command) in its own session, stopped
    with SIGTERM then SIGKILL."""

    def __init__(
        self, env: dict[str, str], log: Path, cwd: Path, module: str = "streams.cli"
    ) -> None:
        self.env = env
        self.port = env["TOCSIN_WEB_PORT"]
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "worker"],
            env=env,
            cwd=cwd,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ready(self) -> bool:
        """/readyz answers 200: topics exist, tables recovered, partitions assigned."""
        if self.proc.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{tail}")
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def tree(self) -> list[int]:
        """The worker's pid and its descendants' (the extraction processes)."""
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                children.setdefault(int(fields[1]), []).append(int(entry.name))
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out

    def rss_mb(self) -> float:
        """Resident memory of the worker and its children, MiB."""
        total = 0
        for pid in self.tree():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def table_mb(self) -> float:
        """RocksDB memory of the worker's tables (``tocsin_table_memory_bytes``), MiB; 0 when
        /metrics does not answer."""
        try:
            url = f"http://127.0.0.1:{self.port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tocsin_table_memory_bytes{")
        )
        return total / (1024 * 1024)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) used so far by the worker and its live children."""
        return sum(cpu_seconds(pid) for pid in self.tree())

    def stop(self, grace: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def broker_pids() -> list[int]:
    """Every Kafka broker JVM on this machine (for CPU accounting)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"kafka.Kafka" in cmdline:
                pids.append(int(entry.name))
    return pids


# What the worker group consumes (and commits): every topic a declared step reads, bar the
# ticks (the worker's own timer writes them, so they would never be caught up). The changelogs
# are read outside the group.
CONSUMED = tuple(
    dict.fromkeys(
        topic
        for step in topology.declared().steps
        for topic in step.inputs
        if topic is not topics.DELIVER_TICKS
    )
)


async def group_lag(settings: Settings) -> int:
    """Records of the topics the worker group consumes that it has not committed yet (a
    partition it never committed counts from its start)."""
    async with LagProbe(settings) as probe:
        return await probe.lag()


async def wait_committed(settings: Settings, every: float = 0.1) -> None:
    """Return once the worker group has committed every record of the topics it consumes,
    looking every ``every`` seconds through clients kept open (starting a client per look
    takes about a second, which would blur a burst's end by as much)."""
    async with LagProbe(settings) as probe:
        await probe.wait_committed(every)


class LagProbe:
    """An admin client and an unassigned consumer, started once, to read a group's lag."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.brokers)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=settings.brokers, group_id=None)
        self.tps = [
            TopicPartition(spec.full_name(settings), p)
            for spec in CONSUMED
            for p in range(settings.topic_partitions)
        ]

    async def __aenter__(self) -> LagProbe:
        await self.admin.start()
        try:
            await self.consumer.start()
        except BaseException:
            await self.admin.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.consumer.stop()
        finally:
            await self.admin.close()

    async def wait_committed(self, every: float = 0.1) -> None:
        """Return once the group has no lag, looking every ``every`` seconds."""
        while await self.lag() > 0:
            await asyncio.sleep(every)

    async def lag(self) -> int:
        committed = await self.admin.list_consumer_group_offsets(self.settings.app_id)
        starts = await self.consumer.beginning_offsets(self.tps)
        ends = await self.consumer.end_offsets(self.tps)
        lag = 0
        for tp in self.tps:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            lag += max(0, ends[tp] - position)
        return lag


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
