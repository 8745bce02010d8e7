"""The faust application, configured once from :class:`Settings`, and its topics."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer

from streams import topics
from streams.kafka_client import faust_credentials
from streams.settings import Settings

settings = Settings.from_env()


class DrainingBuffer(ProducerBuffer):  # type: ignore[misc]
    """faust's buffer of table changelog writes, with a ``flush`` that really drains it.

    faust flushes the producer before it commits offsets, so a commit never gets ahead of the
    table writes of the events it covers. But ``ProducerBuffer.flush`` returns as soon as one
    send takes longer than 0.1 s (a busy loop, a leader election), with writes still queued,
    and it does not wait for the write being handed to the client at that moment. A worker
    killed just after such a commit lost those table writes for good: found in the fault
    tests as band-index entries missing after a restart. This flush returns only when nothing
    is queued or being handed over (or the buffer is stopping)."""

    _handing_over = 0

    async def _send_pending(self, fut: Any) -> None:
        self._handing_over += 1
        try:
            await super()._send_pending(fut)
        finally:
            self._handing_over -= 1

    async def flush(self) -> None:
        while (self.size or self._handing_over) and not self.should_stop:
            await super().flush()
            if self.size or self._handing_over:
                await asyncio.sleep(0.005)
        if self.should_stop:  # stopping: faust's own flush (it refuses a non-empty buffer)
            await super().flush()


class IdempotentProducer(faust_aiokafka.Producer):  # type: ignore[misc]
    """faust's producer with ``enable_idempotence`` (faust sets it only for exactly_once) and
    a :class:`DrainingBuffer`.

    With acks=all, a send retried after a broker failover (the leader moved, the ack was lost)
    would otherwise be written twice; the idempotent producer's sequence numbers let the new
    leader drop the second copy."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.threaded_producer is None:  # the threaded producer keeps its own queue
            self.buffer = DrainingBuffer(loop=self.loop, beacon=self.beacon)
            self.buffer.app = self.app

    def _settings_extra(self) -> Any:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


# The one faust app in the process: its transport builds its producers from this class.
faust_aiokafka.Transport.Producer = IdempotentProducer


class QuietWorker(faust.Worker):  # type: ignore[misc]
    """faust's worker without its terminal spinner.

    At a log level of WARNING or above, faust sets the root logger to DEBUG so a spinner
    handler can spin on every record: every debug call in faust and aiokafka then built a log
    record, about 5% of a loaded worker's CPU in a profile (docs/benchmarks.md). A server has
    no terminal to spin on."""

    def on_setup_root_logger(self, logger: Any, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


app = faust.App(
    settings.app_id,
    broker=[f"kafka://{b}" for b in settings.brokers],
    # TLS and SASL as configured (TOCSIN_BROKER_SECURITY_PROTOCOL ...), as every other client.
    broker_credentials=faust_credentials(settings),
    store=settings.store,
    datadir=str(settings.data_dir),
    autodiscover=False,
    # At-least-once plus deterministic ids downstream; faust's exactly_once is fragile
    # (faust-streaming #323, #517, #47).
    processing_guarantee="at_least_once",
    producer_acks=-1,
    # Raw articles may be up to ~1 MB (the validate stage's limit); faust's default request
    # limit (1,000,000 bytes) is below that, the broker's (1 MiB + 12) is not.
    producer_max_request_size=1_048_576,
    producer_linger=settings.producer_linger_ms / 1000,
    broker_session_timeout=settings.broker_session_timeout,
    broker_heartbeat_interval=settings.broker_heartbeat_interval,
    Worker=QuietWorker,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.replication_factor,
    # No on_leader tasks here, and leader-topic creation has failed on Kafka 4 (#667).
    topic_disable_leader=True,
    table_standby_replicas=0,
    key_serializer="raw",
    value_serializer="raw",
    consumer_auto_offset_reset="earliest",
    web_enabled=True,
    web_bind=settings.web_host,
    web_host=settings.web_host,
    web_port=settings.web_port,
    # faust's /table/ view would serve table contents to anyone who can reach the port.
    web_tables_enabled=settings.verbose_web,
    web_graph_enabled=settings.verbose_web,
    web_router_enabled=settings.verbose_web,
    web_stats_enabled=settings.verbose_web,
)


def topic(spec: topics.TopicSpec, **kwargs: Any) -> Any:
    """The faust topic for ``spec``: raw bytes both ways (agents decode inside their
    per-event boundary), partitions and compaction from the single declaration."""
    return app.topic(
        spec.full_name(settings),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        compacting=spec.compacted or None,
        config={k: v for k, v in spec.configs(settings).items() if k != "cleanup.policy"} or None,
        **kwargs,
    )


articles_raw = topic(topics.ARTICLES_RAW)
articles_valid = topic(topics.ARTICLES_VALID)
articles_unique = topic(topics.ARTICLES_UNIQUE)
articles_duplicates = topic(topics.ARTICLES_DUPLICATES)
events = topic(topics.EVENTS)
stories = topic(topics.STORIES)
story_members = topic(topics.STORY_MEMBERS)
story_copies = topic(topics.STORY_COPIES)
alerts = topic(topics.ALERTS)
digests = topic(topics.DIGESTS)
deadletter = topic(topics.DEADLETTER)
subscriptions = topic(topics.SUBSCRIPTIONS)
dedupe_bands = topic(topics.DEDUPE_BANDS)
dedupe_verdicts = topic(topics.DEDUPE_VERDICTS)
deliver_ticks = topic(topics.DELIVER_TICKS)


def joint(*specs: topics.TopicSpec) -> Any:
    """Several co-partitioned topics read as one stream: faust assigns their partitions
    together, so the records of one key meet on one partition (and its table)."""
    return app.topic(
        *(s.full_name(settings) for s in specs),
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
        config=settings.topic_configs or None,
    )


# Stories read extracted articles and the copies joined to their stories (key: story key);
# the story-copies step reads memberships and duplicates (key: original article id).
stories_input = joint(topics.EVENTS, topics.STORY_COPIES)
copies_input = joint(topics.STORY_MEMBERS, topics.ARTICLES_DUPLICATES)
# The deliver agent reads alerts and ticks as one co-partitioned stream: a tick on partition p
# closes the digests that alerts of partition p opened (its table writes go to partition p).
deliver_input = joint(topics.ALERTS, topics.DELIVER_TICKS)
