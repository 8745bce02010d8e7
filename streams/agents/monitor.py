"""The worker watching itself: a faust sensor for latencies and deliveries, a task that
measures consumer lag and judges health, and a follower of the alerts topic for the dashboard.

Everything is observed from outside the stage agents (faust's sensor hooks and the agent
boundary), so no agent needs to know it is being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.sensors import Sensor
from faust.streams import current_event

from streams import codecs, metrics, topics, topology
from streams.agents import _hooks as hooks
from streams.agents._boundary import COUNTS
from streams.agents._shell import Shell
from streams.agents._state import rebuilding, table_memory
from streams.kafka_client import client_options
from streams.settings import Settings
from streams.web.feed import RECENT_MAX
from streams.web.health import ProgressTracker, Readiness, Stall, StreamPosition
from streams.web.timeline import Timeline

log = logging.getLogger(__name__)


def carriers(flow: topology.Topology, settings: Settings) -> set[str]:
    """Topics whose records carry an article on its way to an alert, from the declaration:
    every topic a step sends on that is ``traced`` (its key links the hop to the article), bar
    the alerts themselves."""
    return {
        out.topic.full_name(settings)
        for step in flow.steps
        for out in step.outputs
        if out.topic.traced and out.topic != topics.ALERTS
    }


_ORIGINS_MAX = 100_000
_INFLIGHT_MAX = 100_000


class StageSensor(Sensor):
    """Per-stage timings, positions, end-to-end latency and alert deliveries.

    End-to-end latency follows an article by its record keys: the raw record's timestamp is
    remembered under the key of what validate sends (the content hash), then under the key of
    each later hop (article id), until match sends an alert. Hops that ran in another worker
    are not seen, so only paths entirely inside this worker are measured.
    """

    def __init__(
        self,
        raw: str,
        alerts: str,
        carriers: set[str],
        timeline: Timeline,
        checked: asyncio.Event,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.raw, self.alerts, self.carriers = raw, alerts, carriers
        self.timeline = timeline
        self.checked = checked  # set to have the monitor check at once
        self.inflight: dict[tuple[str, str, int, int], float] = {}
        self.origins: OrderedDict[bytes, float] = OrderedDict()
        # (stage, topic, partition) -> next offset to process, as seen by this agent's stream
        self.processed: dict[tuple[str, str, int], int] = {}
        # Where an agent started on a partition it has not processed anything on yet: the
        # group's committed offset when first looked at. Kept, not re-read: faust may commit
        # past records an agent never processed (when an agent crashes), which would hide the
        # very stall /healthz is for.
        self.baselines: dict[tuple[str, str, int], int] = {}
        self.joined = False  # a rebalance has completed: the worker is a member of its group

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> dict[Any, Any]:
        if len(self.inflight) > _INFLIGHT_MAX:  # events that never came out (crashed streams)
            self.inflight.clear()
        self.inflight[(_stage(stream), tp.topic, tp.partition, offset)] = time.monotonic()
        return {}

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: dict[Any, Any] | None = None
    ) -> None:
        stage = _stage(stream)
        self.processed[(stage, tp.topic, tp.partition)] = offset + 1
        started = self.inflight.pop((stage, tp.topic, tp.partition, offset), None)
        if started is not None:
            metrics.STAGE_DURATION.labels(stage).observe(time.monotonic() - started)
        stamp = _timestamp(event)
        if stamp is not None:
            metrics.STAGE_LATENCY.labels(stage).observe(max(0.0, time.time() - stamp))

    def on_rebalance_start(self, app: Any) -> dict[Any, Any]:
        # Positions of partitions this worker may lose (and get back later, behind what
        # another worker did) are forgotten; the group's committed offsets stand in until the
        # agents process again, so a stale position never looks like a stall.
        self.processed.clear()
        self.baselines.clear()
        return {}

    def on_rebalance_return(self, app: Any, state: dict[Any, Any]) -> None:
        # Partitions are assigned: take their baselines (the committed offsets) now rather than
        # at the next periodic check, before an agent that crashes at once lets faust commit
        # past a backlog it never processed (which would hide the stall).
        self.joined = True
        self.checked.set()

    def _origin_of(self, event: Any) -> float | None:
        message = event.message
        if message.topic == self.raw:
            return _timestamp(event)
        key = message.key
        return self.origins.get(key) if isinstance(key, bytes) else None

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        if topic != self.alerts and topic not in self.carriers:
            return topic
        key = message.key if isinstance(message.key, bytes) else None
        source = current_event()
        origin = self._origin_of(source) if source is not None else None
        if origin is None and key is not None:
            # Batched agents (extract) send outside the stream's event context; their input
            # and output share the key (article id).
            origin = self.origins.get(key)
        if origin is None:
            return topic
        if topic == self.alerts:
            # New alerts only: an update's origin is its story's first article, not its own.
            value = message.value if isinstance(message.value, bytes) else b""
            if b'"kind":"new"' in value:
                latency = max(0.0, time.time() - origin)
                metrics.END_TO_END.observe(latency)
                self.timeline.latency(time.time(), latency)
        elif key is not None:
            self.origins[key] = origin
            self.origins.move_to_end(key)
            while len(self.origins) > _ORIGINS_MAX:
                self.origins.popitem(last=False)
        return topic

    def relay_origin(self, old_key: bytes, new_key: bytes) -> None:
        """A hop that changes the key (extract: article id -> story key) carries the origin
        over, so end-to-end latency still links the alert to its raw article."""
        origin = self.origins.get(old_key)
        if origin is not None:
            self.origins[new_key] = origin

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        if state == self.alerts:
            metrics.ALERTS_DELIVERED.labels("kafka").inc()

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        if state == self.alerts:
            metrics.ALERTS_FAILED.labels("kafka").inc()


def _stage(stream: Any) -> str:
    return str(getattr(stream, "prefix", "") or "stream").rsplit(".", 1)[-1]


def _timestamp(event: Any) -> float | None:
    stamp = getattr(event.message, "timestamp", None)
    return float(stamp) if isinstance(stamp, int | float) and stamp > 0 else None


class Monitor:
    """Lag, stalls and readiness, refreshed by :func:`watch` every few seconds."""

    def __init__(self, stall_after: float) -> None:
        self.stall_after = stall_after
        self.tracker = ProgressTracker(stall_after=stall_after)
        self.readiness = Readiness(("(not checked yet)",), False, False, False)
        self.checked_at = 0.0
        self.started = time.time()
        self.recovering_since: float | None = None  # monotonic

    def stalls(self) -> list[Stall]:
        return self.tracker.stalls(time.monotonic())

    def snapshot(self) -> dict[str, Any]:
        stalls = self.stalls()
        return {
            "healthy": not stalls and self._fresh(),
            "stalls": [s.to_dict() for s in stalls],
            "checked_at": self.checked_at,
            "lag": self.tracker.lag_by_stage(),
            "stall_after_s": self.stall_after,
        }

    def _fresh(self) -> bool:
        # The watch task itself is a stream of sorts: if it stopped, nothing above is true.
        return time.time() - self.checked_at < max(30.0, 6 * _INTERVAL) or (
            self.checked_at == 0.0 and time.time() - self.started < 60.0
        )


def handled_by_stage() -> dict[str, int]:
    """Inputs handled per stage since the worker started (a match "alert" outcome counts
    alerts, not inputs, so it is left out)."""
    out: dict[str, int] = {}
    for (stage, outcome), n in COUNTS.items():
        if outcome != "alert":
            out[stage] = out.get(stage, 0) + n
    return out


_INTERVAL = 5.0
RECOVERY_GRACE = 900.0  # seconds of table recovery before waiting work counts as a stall


class Monitoring:
    """One worker's monitoring: the sensor, the lag/health watch, the alert-feed follower and
    the dashboard's timeline. Registered on the app explicitly: the sensor with faust's sensor
    API, the tasks with ``app.task``, the model-load gauge and the key relay on the agents'
    hooks (``_hooks.py``)."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        settings = shell.settings
        self.feed = shell.feed
        # The dashboard's plots: messages/s, lag and latency per minute over the last hour.
        self.timeline = Timeline()
        self.monitor = Monitor(settings.stall_after)
        self.checked = asyncio.Event()  # set to check at once (after a rebalance)
        self.alerts_topic = topics.ALERTS.full_name(settings)
        self.sensor = StageSensor(
            topics.ARTICLES_RAW.full_name(settings),
            self.alerts_topic,
            carriers(shell.flow, settings),
            self.timeline,
            self.checked,
        )
        shell.app.sensors.add(self.sensor)
        hooks.on_rekeyed(self.sensor.relay_origin)
        hooks.on_model_loaded(_model_load_time)
        shell.app.task(self.watch)
        shell.app.task(self.follow_alerts)

    def consumers_by_topic(self) -> dict[str, list[str]]:
        """topic -> names of the agents reading it, from the app's own agent registry."""
        out: dict[str, list[str]] = {}
        for agent in self.shell.app.agents.values():
            for name in getattr(agent.channel, "topics", ()) or ():
                out.setdefault(name, []).append(agent.name.rsplit(".", 1)[-1])
        return out

    def refresh_stall_gauge(self, now: float | None = None) -> None:
        """Set ``tocsin_stream_stalled`` from the tracker as of ``now`` (a scrape between two
        checks sees a stall that has just crossed the limit, as /healthz does)."""
        now = time.monotonic() if now is None else now
        stalled = {s.stage for s in self.monitor.tracker.stalls(now)}
        stages = {s for names in self.consumers_by_topic().values() for s in names}
        for stage in stages | stalled:
            metrics.STREAM_STALLED.labels(stage).set(1 if stage in stalled else 0)

    def tables_recovered(self) -> bool:
        """faust's table recovery has finished (it restarts on every rebalance) and no state
        is being rebuilt from its topic (the band index, after a rebalance or a lost data
        dir)."""
        recovery: Any = getattr(self.shell.app.tables, "recovery", None)
        return bool(recovery is not None and recovery.completed.is_set()) and not rebuilding()

    async def watch(self) -> None:
        """Every few seconds: end offsets and committed positions of every assigned source
        partition, through a separate client (a stalled faust consumer stops updating its own
        high-water marks, so they cannot be trusted for this)."""
        settings = self.shell.settings
        client = AIOKafkaConsumer(
            **client_options(settings),
            group_id=settings.app_id,  # only to read the group's committed offsets; never joins
            enable_auto_commit=False,
            metadata_max_age_ms=5000,
        )
        await client.start()
        try:
            while True:
                self.checked.clear()  # before the check: a rebalance during it asks for another
                try:
                    await self._check(client)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("monitor: check failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.checked.wait(), _INTERVAL)
        finally:
            await client.stop()

    async def _check(self, client: AIOKafkaConsumer) -> None:
        app, sensor, monitor = self.shell.app, self.sensor, self.monitor
        settings = self.shell.settings
        readers = self.consumers_by_topic()
        assigned = [tp for tp in app.consumer.assignment() if tp.topic in readers]
        tps = [TopicPartition(tp.topic, tp.partition) for tp in assigned]
        positions: list[StreamPosition] = []
        if tps:
            ends = await client.end_offsets(tps)
            starts = await client.beginning_offsets(tps)
            # The group's committed offset, once, for partitions an agent has not touched yet.
            untouched = {
                tp
                for tp in tps
                for stage in readers[tp.topic]
                if (stage, tp.topic, tp.partition) not in sensor.processed
                and (stage, tp.topic, tp.partition) not in sensor.baselines
            }
            committed = {tp: await client.committed(tp) for tp in untouched}
            for tp in tps:
                for stage in readers[tp.topic]:
                    ident = (stage, tp.topic, tp.partition)
                    if ident not in sensor.processed and ident not in sensor.baselines:
                        c = committed.get(tp)
                        sensor.baselines[ident] = c if c is not None else starts[tp]
                    position = sensor.processed.get(ident, sensor.baselines.get(ident, starts[tp]))
                    positions.append(
                        StreamPosition(stage, tp.topic, tp.partition, position, ends[tp])
                    )
        now = time.monotonic()
        recovered = self.tables_recovered()
        if recovered:
            monitor.recovering_since = None
        elif monitor.recovering_since is None:
            monitor.recovering_since = now
        # Agents wait while faust restores tables after a rebalance: for a big changelog that
        # takes minutes, and /healthz must not get the worker restarted for it. A recovery that
        # has not finished after RECOVERY_GRACE is itself a stall.
        paused = (
            monitor.recovering_since is not None and now - monitor.recovering_since < RECOVERY_GRACE
        )
        monitor.tracker.observe(positions, now, paused=paused)
        lag: dict[tuple[str, str], int] = {}
        for p in positions:
            lag[(p.stage, p.topic)] = lag.get((p.stage, p.topic), 0) + p.lag
        metrics.CONSUMER_LAG.clear()
        for (stage, topic), n in lag.items():
            metrics.CONSUMER_LAG.labels(stage, topic).set(n)
        self.refresh_stall_gauge(now)
        wall = time.time()
        self.timeline.counts(wall, handled_by_stage())
        self.timeline.lag(wall, monitor.tracker.lag_by_stage())
        for name, size in table_memory().items():
            metrics.TABLE_MEMORY.labels(name).set(size)
        existing = await client.topics()
        wanted = [spec.full_name(settings) for spec in topics.ALL]
        monitor.readiness = Readiness(
            missing_topics=tuple(t for t in wanted if t not in existing),
            recovered=recovered,
            joined=sensor.joined,
            subscriptions_loaded=self.shell.registry.ready.is_set(),
            partitions=len({(tp.topic, tp.partition) for tp in assigned}),
        )
        monitor.checked_at = time.time()

    # ---- alerts for the dashboard ---------------------------------------------------------

    async def follow_alerts(self) -> None:
        """Read the last alerts of every partition, then follow the topic (group-less: every
        worker's dashboard shows all alerts, not only its partitions'). Restarts after errors:
        the dashboard must not go quiet for good because the broker hiccuped."""
        while True:
            try:
                await self._follow_alerts()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("alerts feed: restarting in 5 s")
                await asyncio.sleep(5.0)

    async def _follow_alerts(self) -> None:
        alerts = self.alerts_topic
        consumer = AIOKafkaConsumer(
            **client_options(self.shell.settings),
            group_id=None,
            enable_auto_commit=False,
            metadata_max_age_ms=5000,
        )
        await consumer.start()
        try:
            partitions: set[int] | None = None
            while not partitions:
                await consumer.topics()  # refreshes the cluster metadata
                partitions = consumer.partitions_for_topic(alerts)
                if not partitions:
                    log.warning("alerts feed: waiting for topic %s", alerts)
                    await asyncio.sleep(2.0)
            tps = [TopicPartition(alerts, p) for p in sorted(partitions)]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            backlog = max(1, RECENT_MAX // len(tps))
            for tp in tps:
                consumer.seek(tp, max(starts[tp], ends[tp] - backlog))
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                records = sorted(
                    (r for rs in batches.values() for r in rs),
                    key=lambda r: (r.timestamp, r.offset),
                )
                for record in records:
                    self._add_record(record)
        finally:
            await consumer.stop()

    def _add_record(self, record: Any) -> None:
        try:
            value = codecs.loads(record.value)
        except Exception:  # noqa: BLE001 - a bad record on the alerts topic is not ours to fix
            log.warning("alerts feed: undecodable record at %s/%s", record.partition, record.offset)
            return
        if isinstance(value, dict):
            self.feed.add(value, record.timestamp / 1000.0)


def _model_load_time(model: str, seconds: float) -> None:
    """The extract shell's model load time, as a gauge (registered on its hook)."""
    metrics.MODEL_LOAD.labels(model).set(seconds)
