"""Small aiokafka helpers for the CLI and tests: create topics, produce, consume."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from streams import topics
from streams.settings import Settings


async def create_topics(settings: Settings) -> list[str]:
    """Create every topic in ``topics.ALL`` and every table changelog that does not exist yet;
    return those created. A topic state is rebuilt from that exists with a shorter retention
    than the state's window gets the window's."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.brokers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        # Topics, then the tables' changelogs (compacted, as faust makes them).
        configs = {spec.full_name(settings): spec.configs(settings) for spec in topics.ALL}
        changelog = {**settings.topic_configs, "cleanup.policy": "compact"}
        configs |= {topics.changelog_name(settings, t): changelog for t in topics.TABLES}
        wanted = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            for name, config in configs.items()
            if name not in existing
        ]
        if wanted:
            # A concurrent creator may win the race; the topics then exist, which is the goal.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        for spec in topics.ALL:
            if spec.holds_state and spec.full_name(settings) in existing:
                await _keep_state_retention(admin, spec.full_name(settings), settings)
        return [t.name for t in wanted]
    finally:
        await admin.close()


async def _keep_state_retention(admin: AIOKafkaAdminClient, name: str, settings: Settings) -> None:
    """Raise ``name``'s retention to the state window's if it is shorter (a topic made before
    state was rebuilt from it, or by hand)."""
    wanted = topics.state_retention_ms(settings)
    resource = ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": None})
    (response,) = await admin.describe_configs([resource])
    for _code, _msg, _type, _name, entries in response.resources:
        for entry in entries:
            if entry[0] == "retention.ms" and 0 <= int(entry[1]) < wanted:
                # AlterConfigs replaces the topic's own configs: give all tocsin sets.
                configs = {**settings.topic_configs, "retention.ms": str(wanted)}
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs)])


async def produce(
    settings: Settings, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> int:
    """Send (key, value) pairs with acks=all and idempotence; return how many were sent."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.brokers,
        acks="all",
        enable_idempotence=True,
        max_request_size=2_000_000,
    )
    await producer.start()
    sent = 0
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        for future in futures:
            await future
            sent += 1
    finally:
        await producer.stop()
    return sent


async def consume(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = True,
    timeout: float | None = None,
    idle_timeout: float | None = None,
) -> AsyncIterator[Any]:
    """Yield records of ``topic`` (all partitions, no consumer group) until ``timeout``
    seconds in total, or ``idle_timeout`` seconds without a record, have passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.brokers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    started = last = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if timeout is not None and now - started > timeout:
                return
            if idle_timeout is not None and now - last > idle_timeout:
                return
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    last = time.monotonic()
                    yield record
            await asyncio.sleep(0)
    finally:
        await consumer.stop()


async def read_compacted(
    settings: Settings, topic: str, timeout: float = 30.0
) -> dict[bytes, bytes]:
    """The latest value per key of ``topic`` as of now (a null value deletes the key)."""
    # Without a group id aiokafka assigns this consumer every partition of the topic.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.brokers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    latest: dict[bytes, bytes] = {}
    deadline = time.monotonic() + timeout
    try:
        if topic not in await consumer.topics():
            return latest
        end: dict[Any, int] | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    if record.key is None:
                        continue
                    if record.value:
                        latest[record.key] = record.value
                    else:
                        latest.pop(record.key, None)
            assigned = consumer.assignment()
            if not assigned:
                continue
            if end is None:
                end = await consumer.end_offsets(list(assigned))
            positions = [await consumer.position(tp) for tp in assigned]
            if all(pos >= end[tp] for pos, tp in zip(positions, assigned, strict=True)):
                return latest
        raise TimeoutError(f"could not read {topic} to its end in {timeout:.0f} s")
    finally:
        await consumer.stop()
