"""The faust application, built by :func:`create_app` from :class:`Settings` (nothing is read
from the environment or built on import), and its topics."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from mode import Service

from streams import topics
from streams.kafka_client import faust_credentials
from streams.settings import Settings

log = logging.getLogger(__name__)


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


# How long a partition's commit may wait on a record that no agent acknowledged, while later
# ones were, before the record is read again (see ContiguousConsumer).
HOLE_HEAL_S = 20.0


class ContiguousConsumer(faust_aiokafka.Consumer):  # type: ignore[misc]
    """faust's consumer, committing an offset only when every record before it was acked.

    faust counts a jump in a partition's offsets as a gap to fill (meant for compacted topics
    and transaction markers: tocsin's agents read neither), and its commit passes one unacked
    record at the head of a partition (``min(acked) - committed > 1``). Its read position and
    the fetcher's can part after a rebalance: a traced run showed a second seek to the
    committed offsets (faust's ``getmany`` seeks when it finds the flow stopped) finish after
    the new generation's, and faust then filled a gap; records the fetcher delivers again
    below the read position are dropped as read. The worker-kill fault test found the group's
    committed offset past records that no agent processed (articles lost at dedupe, extract
    and stories); those two rules are what let a commit pass a record never acked.

    Here no gap is filled, and a commit advances only over acked offsets contiguous from the
    committed one, so such a record holds its partition's commit back. A partition held back
    for ``HOLE_HEAL_S`` with nothing newer committed is sought back to its committed offset:
    its records are read again (each step sends again what it sent; ``docs/architecture.md``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holes: dict[Any, tuple[int, float]] = {}  # tp -> (committed offset, since)
        self._read_offset = self._positions = ReadPositions(lambda: None)
        self._skips: dict[Any, int] = {}  # tp -> the first offset of the last skip logged

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        if self._skips.get(tp) != offset_from:  # once per skip, not per record after it
            self._skips[tp] = offset_from
            log.warning(
                "consumer: %s jumped from %s to %s; its read position stays until the records "
                "between are read",
                tp,
                offset_from - 1,
                offset_to,
            )

    async def seek(self, partition: Any, offset: int) -> None:
        await self._seek(partition, offset)
        self._positions.seek(partition, offset if offset else None)

    def _new_offset(self, tp: Any) -> int | None:
        return contiguous_offset(
            self._acked[tp], self._acked_index[tp], self._committed_offset.get(tp)
        )

    @Service.timer(HOLE_HEAL_S / 4)
    async def _heal_holes(self) -> None:
        now = time.monotonic()
        assigned = self.assignment()
        for tp, acked in list(self._acked.items()):
            committed = self._committed_offset.get(tp)
            if not acked or committed is None or min(acked) <= committed or tp not in assigned:
                self._holes.pop(tp, None)
                continue
            seen = self._holes.get(tp)
            if seen is None or seen[0] != committed:
                self._holes[tp] = (committed, now)
            elif now - seen[1] >= HOLE_HEAL_S:
                log.warning(
                    "consumer: %s waits on offset %s (acked from %s on): reading it again",
                    tp,
                    committed,
                    min(acked),
                )
                del self._holes[tp]
                await self.seek(tp, committed)


class ReadPositions(defaultdict[Any, int | None]):
    """faust's last read offset per partition, which a record fetched past unread offsets does
    not move: records a seek fetches again from below it are then delivered, not dropped as
    read (a record delivered twice is a redelivery, which every step handles). Seeks set it
    in either direction."""

    def __setitem__(self, tp: Any, offset: int | None) -> None:
        current = self.get(tp)
        if current is not None and offset is not None and offset > current + 1:
            return
        super().__setitem__(tp, offset)

    def seek(self, tp: Any, offset: int | None) -> None:
        super().__setitem__(tp, offset)


def contiguous_offset(acked: list[int], index: set[int], committed: int | None) -> int | None:
    """The offset to commit for a partition: one past the run of acked offsets that starts at
    ``committed`` (``None``: nothing committed yet, the run starts at the lowest acked), or
    ``None`` while the record at ``committed`` is not acked. The run leaves ``acked`` and
    ``index``; offsets below ``committed`` (acked before a seek forward) are dropped."""
    acked.sort()
    while acked and committed is not None and acked[0] < committed:
        index.discard(acked.pop(0))
    if not acked or (committed is not None and acked[0] != committed):
        return None
    end = 1
    while end < len(acked) and acked[end] == acked[end - 1] + 1:
        end += 1
    run = acked[:end]
    del acked[:end]
    index.difference_update(run)
    return run[-1] + 1


class Transport(faust_aiokafka.Transport):  # type: ignore[misc]
    """faust's Kafka transport building :class:`IdempotentProducer` producers and
    :class:`ContiguousConsumer` consumers; :class:`TocsinApp` uses it in place of the one its
    broker URL names (nothing is patched process-wide)."""

    Consumer = ContiguousConsumer
    Producer = IdempotentProducer


class QuietWorker(faust.Worker):  # type: ignore[misc]
    """faust's worker without its terminal spinner.

    At a log level of WARNING or above, faust sets the root logger to DEBUG so a spinner
    handler can spin on every record: every debug call in faust and aiokafka then built a log
    record, about 5% of a loaded worker's CPU in a profile (docs/benchmarks.md). A server has
    no terminal to spin on."""

    def on_setup_root_logger(self, logger: Any, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


class TocsinApp(faust.App):  # type: ignore[misc]
    """faust's App with tocsin's transport and explicit web-server hooks.

    faust builds its transports from the broker URL's scheme; this app builds
    :class:`Transport` instead (same URL, same settings), so only its own producers are
    idempotent. ``on_webserver_init`` is faust's documented hook for the aiohttp application;
    it runs every function given to :meth:`on_web_init`, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.web_init_hooks: list[Callable[[Any], None]] = []
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return Transport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return Transport(self.conf.broker_producer, self)

    def on_web_init(self, hook: Callable[[Any], None]) -> None:
        """Call ``hook(web)`` when the web server is set up, before it starts."""
        self.web_init_hooks.append(hook)

    def on_webserver_init(self, web: Any) -> None:
        for hook in self.web_init_hooks:
            hook(web)


@dataclass
class Tocsin:
    """One worker's faust app, the settings it was built from and a faust topic per declared
    topic."""

    settings: Settings
    app: TocsinApp
    channels: dict[str, Any] = field(default_factory=dict)  # spec name -> faust topic

    def topic(self, spec: topics.TopicSpec) -> Any:
        """The faust topic of ``spec``: raw bytes both ways (agents decode inside their
        per-event boundary), partitions and compaction from the declaration."""
        found = self.channels.get(spec.name)
        if found is None:
            found = self.channels[spec.name] = self.app.topic(
                spec.full_name(self.settings),
                key_serializer="raw",
                value_serializer="raw",
                partitions=self.settings.topic_partitions,
                compacting=spec.compacted or None,
                config={
                    k: v for k, v in spec.configs(self.settings).items() if k != "cleanup.policy"
                }
                or None,
            )
        return found

    def joint(self, *specs: topics.TopicSpec) -> Any:
        """Several co-partitioned topics read as one stream: faust assigns their partitions
        together, so the records of one key meet on one partition (and its table)."""
        if len(specs) == 1:
            return self.topic(specs[0])
        return self.app.topic(
            *(s.full_name(self.settings) for s in specs),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.settings.topic_partitions,
            config=self.settings.topic_configs or None,
        )


def create_app(settings: Settings, specs: Iterable[topics.TopicSpec] | None = None) -> Tocsin:
    """The faust app for ``settings``, with a topic object for each of ``specs`` (default:
    every declared topic, ``topics.ALL``)."""
    app = TocsinApp(
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
    tocsin = Tocsin(settings, app)
    for spec in topics.ALL if specs is None else specs:
        tocsin.topic(spec)
    return tocsin
