"""faust's floor: tocsin's faust app doing no work, hop by hop.

The framework the owner chose costs something per record before any stage runs. This measures
it with tocsin's own app (``streams.app.create_app``: at-least-once, acks=all, the idempotent
producer and its draining buffer, linger from the settings, RocksDB tables, concurrency 1) and
a chain of no-op agents: agent *i* reads ``floor-<tag>.<i>`` and sends every record unchanged
to ``floor-<tag>.<i+1>``, optionally writing it to a table first (one changelog record, as a
stage's state update is). One worker process, 6 partitions per topic, a warm-up burst, then
bursts produced at once; a burst's rate is its records over the span of their output
timestamps in the last topic (faust commits only every 2.8 s, which would dominate a timing
until the commit). Beside it, the bare aiokafka loop of ``bench.compare`` on the same
payloads, so the ratios are of one run.

    deploy/with-kafka.sh .venv/bin/python -m bench.faust_floor --hops 1,2 --writes 0,1,8,32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.compare import CORPORA, DATA, bare_loop, read_topic
from bench.stream_tools import WorkerProcess, free_port

REPO = Path(__file__).resolve().parent.parent
PARTITIONS = 6


def _topic_names(tag: str, hops: int) -> list[str]:
    return [f"floor-{tag}.{i}" for i in range(hops + 1)]


# --- the worker (``python -m bench.faust_floor worker``, configured by FLOOR_* variables) ---


def run_worker() -> None:
    """tocsin's faust app with FLOOR_HOPS no-op agents, each writing FLOOR_WRITES table rows
    per record."""
    from streams.agents._state import table
    from streams.app import create_app
    from streams.settings import Settings

    tag, hops = os.environ["FLOOR_TAG"], int(os.environ["FLOOR_HOPS"])
    writes = int(os.environ.get("FLOOR_WRITES", "0"))
    tocsin = create_app(Settings.from_env())
    app = tocsin.app
    names = _topic_names(tag, hops)
    chain = [
        app.topic(n, key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)
        for n in names
    ]

    def hop(i: int) -> None:
        source, sink = chain[i], chain[i + 1]
        state = table(tocsin, f"floor-{i}") if writes else None

        async def forward(stream: Any) -> None:
            async for event in stream.events():
                if state is not None:  # a stage's state updates: a changelog record each
                    key = event.key.decode()
                    for w in range(writes):
                        state[f"{key}.{w}"] = "x"
                await sink.send(key=event.key, value=event.value)

        app.agent(source, name=f"floor-hop-{i}")(forward)

    for i in range(hops):
        hop(i)
    sys.argv = ["floor", "worker", "--loglevel", "warn"]
    app.main()


# --- the driver -----------------------------------------------------------------------------


async def _lag(broker: str, group: str, names: list[str]) -> tuple[int, int]:
    """(records not yet committed by ``group`` on the consumed topics, records in the sink)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        consumed = [TopicPartition(n, p) for n in names[:-1] for p in range(PARTITIONS)]
        sink = [TopicPartition(names[-1], p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(consumed + sink)
        lag = 0
        for tp in consumed:
            done = committed.get(tp)
            lag += ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
        return lag, sum(ends[tp] for tp in sink)
    finally:
        await consumer.stop()
        await admin.close()


async def _stamps(broker: str, topic: str, first: int) -> list[int]:
    """Timestamps (ms) of the records of ``topic`` whose key numbers ``first`` or later."""
    consumer = AIOKafkaConsumer(bootstrap_servers=broker, group_id=None)
    await consumer.start()
    try:
        return [
            r.timestamp
            async for r in read_topic(consumer, topic, PARTITIONS)
            if r.key is not None and int(r.key[1:]) >= first
        ]
    finally:
        await consumer.stop()


async def _create(broker: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def _produce(broker: str, topic: str, payloads: list[bytes], start: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, p, key=f"a{start + i}".encode())
            for i, p in enumerate(payloads)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Floor:
    """One floor worker with fresh topics, group and state."""

    def __init__(self, broker: str, hops: int, writes: int, tmp: Path) -> None:
        self.broker, self.tag = broker, uuid.uuid4().hex[:8]
        self.names = _topic_names(self.tag, hops)
        self.group = f"floor-{self.tag}"
        self.sent = 0
        asyncio.run(_create(broker, self.names))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
            "TOCSIN_BROKER": broker,
            "TOCSIN_APP_ID": self.group,
            "TOCSIN_TOPIC_PREFIX": f"floor-{self.tag}-",
            "TOCSIN_DATA_DIR": str(tmp / f"data-{self.tag}"),
            "TOCSIN_WEB_PORT": str(free_port()),
            "TOCSIN_LOG_LEVEL": "WARNING",
            "FLOOR_TAG": self.tag,
            "FLOOR_HOPS": str(hops),
            "FLOOR_WRITES": str(writes),
        }
        self.worker = WorkerProcess(env, tmp / f"floor-{self.tag}.log", REPO, "bench.faust_floor")

    def burst(self, payloads: list[bytes], timeout: float = 300.0) -> float:
        """Records per second through every hop (see the module doc for how it is timed)."""
        first = self.sent
        start = time.monotonic()
        asyncio.run(_produce(self.broker, self.names[0], payloads, first))
        self.sent += len(payloads)
        while True:
            if self.worker.proc.poll() is not None:
                raise RuntimeError(f"floor worker exited; see {self.worker.log}")
            lag, out = asyncio.run(_lag(self.broker, self.group, self.names))
            if lag == 0 and out >= self.sent:
                break
            if time.monotonic() - start > timeout:
                raise RuntimeError(
                    f"burst not done in {timeout} s (lag {lag}); see {self.worker.log}"
                )
            time.sleep(0.5)
        stamps = asyncio.run(_stamps(self.broker, self.names[-1], first))
        return (len(stamps) - 1) / ((max(stamps) - min(stamps)) / 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--corpus", default="bbc", choices=sorted(CORPORA))
    parser.add_argument("--articles", type=int, default=1000, help="per burst")
    parser.add_argument("--hops", default="1,2,4", help="chain lengths to run")
    parser.add_argument("--writes", default="0,1,8", help="table rows each hop writes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    broker = os.environ.get("TOCSIN_BROKER", "localhost:9094")
    items = list(CORPORA[args.corpus](args.data))
    import orjson

    payloads = [orjson.dumps(i) for i in items[: args.articles]]
    print(
        f"faust floor, {args.corpus}: bursts of {len(payloads)} records "
        f"({statistics.mean(map(len, payloads)):.0f} bytes), median of {args.repeat}",
        flush=True,
    )
    bare = [asyncio.run(bare_loop(broker, payloads)) for _ in range(args.repeat)]
    bare_rate = statistics.median(bare)
    print(f"  bare aiokafka loop, 1 hop: {bare_rate:,.0f} records/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="tocsin-floor-") as tmp:
        for hops in [int(h) for h in args.hops.split(",")]:
            for writes in [int(w) for w in args.writes.split(",")]:
                floor = Floor(broker, hops, writes, Path(tmp))
                try:
                    floor.burst(payloads[:50])  # the group joins, partitions assigned, warm
                    rates = [floor.burst(payloads) for _ in range(args.repeat)]
                finally:
                    floor.worker.stop()
                rate = statistics.median(rates)
                what = f"{writes} table write(s) per record per hop"
                print(
                    f"  faust, {hops} no-op hop(s), {what}: {rate:,.0f} records/s "
                    f"= {rate / bare_rate:.2f}x the bare loop; "
                    f"{1000 / rate / hops:.2f} ms per record per hop "
                    f"(runs: {', '.join(f'{r:.0f}' for r in rates)})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        run_worker()
    else:
        sys.exit(main())
