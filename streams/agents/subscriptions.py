"""Every worker's own copy of all subscriptions, read from the compacted topic.

A faust GlobalTable was reported not to propagate updates between workers (faust-streaming
#283), so each worker runs a group-less aiokafka consumer over every partition of
``news.subscriptions.v1`` from the beginning, and keeps following it. A null value (tombstone)
deletes a subscription. ``ready`` is set once the topic has been read up to its end as of
start-up, so the match agent never runs on a half-loaded set.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams import codecs, schemas, topics
from streams.agents._boundary import count
from streams.errors import DecodeError
from streams.kafka_client import client_options
from streams.models import DeadLetter, Rejected, SourceRef, Subscription
from streams.pipeline.driver import dead_letter
from streams.pipeline.match import Matcher, parse_subscription, redact_rejected
from streams.pipeline.names import Names, load_names
from streams.settings import Settings

log = logging.getLogger(__name__)
STAGE = "subscriptions"


def names(settings: Settings) -> Names:
    """Typed values resolved with the theme and actor files the extract stage uses."""
    return load_names(settings.themes_file, settings.actors_file)


class SubscriptionRegistry:
    """The latest subscription per id, as seen by this worker, compiled for matching."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.matcher = Matcher(names=names)
        self.ready = asyncio.Event()
        # Highest offset applied per partition, so an API call can wait for its own write.
        self.applied: dict[int, int] = {}
        self._progress = asyncio.Condition()

    def clear(self) -> None:
        """Forget every subscription (tests)."""
        self.matcher = Matcher(names=self.names)

    @property
    def current(self) -> dict[str, Subscription]:
        return self.matcher.subscriptions

    def apply(self, key: bytes | None, value: bytes | None, source: SourceRef) -> DeadLetter | None:
        """Apply one record of the topic; return a dead letter for an invalid one."""
        if key is None:
            return dead_letter(STAGE, source, value or b"", Rejected("missing_key", "no key"))
        sub_id = key.decode("utf-8", errors="replace")
        if not value:
            self.matcher.remove(sub_id)
            return None
        try:
            data = codecs.loads(value)
        except DecodeError as exc:
            reason = Rejected(exc.error_type, str(exc))
            return dead_letter(STAGE, source, *redact_rejected(value, reason), key)
        parsed = parse_subscription(
            data, schemas.validator(topics.SUBSCRIPTIONS.schema_file), self.matcher.names
        )
        if isinstance(parsed, Rejected):
            return dead_letter(STAGE, source, *redact_rejected(value, parsed), key)
        if parsed.id != sub_id:
            reason = Rejected("key_mismatch", f"key {sub_id!r} != id {parsed.id!r}")
            return dead_letter(STAGE, source, *redact_rejected(value, reason), key)
        self.matcher.put(parsed)
        return None

    async def mark(self, partition: int, offset: int) -> None:
        """Record that the record at ``offset`` of ``partition`` has been applied."""
        async with self._progress:
            self.applied[partition] = max(offset, self.applied.get(partition, -1))
            self._progress.notify_all()

    async def wait_applied(self, partition: int, offset: int, timeout: float) -> bool:
        """Wait until this worker has applied ``offset`` of ``partition`` (read-your-writes
        for the API); False on timeout."""
        async with self._progress:
            try:
                await asyncio.wait_for(
                    self._progress.wait_for(lambda: self.applied.get(partition, -1) >= offset),
                    timeout,
                )
            except TimeoutError:
                return False
        return True


async def _apply(registry: SubscriptionRegistry, deadletter: Any, record: Any) -> None:
    source = SourceRef(record.topic, record.partition, record.offset)
    try:
        rejected = registry.apply(record.key, record.value, source)
    finally:
        await registry.mark(record.partition, record.offset)
    if rejected is None:
        count(STAGE, "applied")
        return
    await deadletter.send(key=STAGE.encode(), value=codecs.dumps(rejected.to_dict()))
    count(STAGE, "deadletter")


async def follow_subscriptions(
    settings: Settings, registry: SubscriptionRegistry, deadletter: Any
) -> None:
    """Read the compacted topic from the start and keep following it until shutdown (a task
    of the worker, ``streams/worker.py``)."""
    name = topics.SUBSCRIPTIONS.full_name(settings)
    # Without a group id aiokafka assigns this consumer every partition of the topic.
    consumer = AIOKafkaConsumer(
        name,
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        metadata_max_age_ms=5000,
    )
    await consumer.start()
    end: dict[Any, int] | None = None  # high watermarks at start-up
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    await _apply(registry, deadletter, record)
            if registry.ready.is_set():
                continue
            assigned = consumer.assignment()
            if not assigned:
                log.warning("waiting for subscriptions topic %s (run `tocsin topics create`)", name)
                continue
            if end is None:
                end = await consumer.end_offsets(list(assigned))
            positions = {tp: await consumer.position(tp) for tp in assigned}
            if all(positions[tp] >= end[tp] for tp in assigned):
                log.info("subscriptions loaded: %d", len(registry.current))
                registry.ready.set()
    finally:
        await consumer.stop()
