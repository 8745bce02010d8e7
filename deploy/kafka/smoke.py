"""Smoke test for the local broker started by deploy/kafka/kafka.sh (needs aiokafka).

    python deploy/kafka/smoke.py --bootstrap 127.0.0.1:9092 [--topic T] [--rf 1] [--txn]

Creates the topic if missing (AIOKafkaAdminClient), produces one message with acks=all,
then consumes the topic from the beginning with a fresh group until that message is seen.
With --txn it also does a transactional produce + send_offsets_to_transaction and a
read_committed consume (the path faust's exactly_once uses). Exit 0 on success.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError


async def ensure_topic(bootstrap: str, topic: str, partitions: int, rf: int) -> None:
    # AIOKafkaAdminClient sends to one node (least loaded / "controller") without failing over,
    # so with a node down a call can hit the dead node: retry with a fresh client.
    for attempt in range(1, 7):
        try:
            return await _ensure_topic(bootstrap, topic, partitions, rf)
        except (TimeoutError, KafkaError, OSError) as exc:
            print(f"admin attempt {attempt} failed: {exc!r}; retrying")
            await asyncio.sleep(1)
    raise RuntimeError("admin client failed 6 times")


async def _ensure_topic(bootstrap: str, topic: str, partitions: int, rf: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        try:
            resp = await admin.create_topics([NewTopic(topic, partitions, rf)])
            codes = [t[1] for t in getattr(resp, "topic_errors", [])]
            if any(c not in (0, TopicAlreadyExistsError.errno) for c in codes):
                raise RuntimeError(f"create_topics({topic}) failed: {resp}")
            if TopicAlreadyExistsError.errno in codes:
                print(f"topic {topic}: already exists")
            else:
                print(f"topic {topic}: created (partitions={partitions}, rf={rf})")
        except TopicAlreadyExistsError:
            print(f"topic {topic}: already exists")
        for _ in range(50):  # wait until the metadata shows a leader for every partition
            desc = await admin.describe_topics([topic])
            parts = desc[0].get("partitions", []) if desc else []
            if parts and all(p.get("leader", -1) >= 0 for p in parts):
                for p in parts:
                    print(
                        f"  partition {p['partition']}: leader={p['leader']} "
                        f"replicas={p['replicas']} isr={p['isr']}"
                    )
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"topic {topic} has no leader")
    finally:
        await admin.close()


async def consume_until(
    bootstrap: str, topic: str, wanted: set[bytes], isolation: str, timeout: float
) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"smoke-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        isolation_level=isolation,
    )
    await consumer.start()
    try:
        missing = set(wanted)
        deadline = time.monotonic() + timeout
        while missing and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for msgs in batches.values():
                missing.difference_update(m.value for m in msgs)
        if missing:
            raise RuntimeError(
                f"{len(missing)} message(s) not consumed from {topic} within {timeout}s"
            )
        await consumer.commit()
    finally:
        await consumer.stop()


async def plain(bootstrap: str, topic: str) -> None:
    """One message per partition (so partitions led by a dead node are exercised too)."""
    run = uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = set()
    try:
        for p in sorted(await producer.partitions_for(topic)):
            value = f"hello {run} p{p}".encode()
            t0 = time.monotonic()
            md = await producer.send_and_wait(topic, value, key=b"k", partition=p)
            took = time.monotonic() - t0
            print(f"produced (acks=all) to {md.topic}[{md.partition}]@{md.offset} in {took:.2f}s")
            sent.add(value)
    finally:
        await producer.stop()
    await consume_until(bootstrap, topic, sent, "read_uncommitted", 30)
    print(f"consumed all {len(sent)} back")


async def txn(bootstrap: str, topic: str) -> None:
    value = f"txn {uuid.uuid4()}".encode()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"smoke-tx-{uuid.uuid4().hex[:8]}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, value)
            await producer.send_offsets_to_transaction(
                {TopicPartition(topic, 0): 0}, f"smoke-txgroup-{uuid.uuid4().hex[:8]}"
            )
        print("transactional produce + send_offsets_to_transaction committed")
    finally:
        await producer.stop()
    await consume_until(bootstrap, topic, {value}, "read_committed", 30)
    print("consumed it back with read_committed")


async def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="tocsin-smoke")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--rf", type=int, default=1)
    ap.add_argument("--txn", action="store_true", help="also test transactions")
    a = ap.parse_args()
    t0 = time.monotonic()
    await ensure_topic(a.bootstrap, a.topic, a.partitions, a.rf)
    await plain(a.bootstrap, a.topic)
    if a.txn:
        await txn(a.bootstrap, a.topic)
    print(f"smoke OK in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
