"""Prometheus metrics of one worker process, all named ``tocsin_*``.

Only ``prometheus_client`` here, so the agent boundary, the faust sensor and the web pages can
all import it. Labels are bounded: stage and outcome names come from code, error types are
truncated, topics are tocsin's own.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.process_collector import ProcessCollector

# `*_created` series double the exposition for little use on a dashboard.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Our own registry: tests and a second import never collide with the library's global one.
REGISTRY = CollectorRegistry(auto_describe=True)
# Process CPU/memory/fds under our prefix; python_gc/python_info are left out (one prefix).
ProcessCollector(registry=REGISTRY, namespace="tocsin")

# Seconds: stage work is milliseconds to seconds, extraction batches and queueing up to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

MESSAGES = Counter(
    "tocsin_messages",
    "Messages handled per stage and outcome (valid, unique, duplicate, event, alert, "
    "deadletter, ...)",
    ["stage", "outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "tocsin_dead_letters",
    "Records sent to the dead-letter topic, by stage and error type",
    ["stage", "error_type"],
    registry=REGISTRY,
)
STAGE_DURATION = Histogram(
    "tocsin_stage_duration_seconds",
    "Time an agent held a record: from the stream handing it over to its ack (batch wait "
    "and spaCy included for extract)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
STAGE_LATENCY = Histogram(
    "tocsin_stage_latency_seconds",
    "From the input record's Kafka timestamp to the stage's ack: queueing plus processing",
    ["stage"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
END_TO_END = Histogram(
    "tocsin_end_to_end_latency_seconds",
    "From a raw article's Kafka timestamp to the first alert of its story being sent (records "
    "whose whole path ran in this worker)",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "tocsin_consumer_lag",
    "Records waiting for an agent on its assigned partitions (end offset minus position)",
    ["stage", "topic"],
    registry=REGISTRY,
)
TABLE_MEMORY = Gauge(
    "tocsin_table_memory_bytes",
    "RocksDB memory (memtables and block cache) of each table's partitions open in this "
    "worker; bounded by TOCSIN_TABLE_MEMORY_MB per partition",
    ["table"],
    registry=REGISTRY,
)
STREAM_STALLED = Gauge(
    "tocsin_stream_stalled",
    "1 when an agent has had lag without progress for longer than TOCSIN_STALL_AFTER",
    ["stage"],
    registry=REGISTRY,
)
ALERTS_DELIVERED = Counter(
    "tocsin_alerts_delivered",
    "Alerts delivered, by sink (kafka: acknowledged by the broker; sse: pushed to a live client; "
    "webhook: answered 2xx)",
    ["sink"],
    registry=REGISTRY,
)
ALERTS_FAILED = Counter(
    "tocsin_alerts_failed",
    "Alerts whose delivery failed, by sink",
    ["sink"],
    registry=REGISTRY,
)
MODEL_LOAD = Gauge(
    "tocsin_model_load_seconds",
    "Seconds the spaCy pipeline took to load in this worker",
    ["model"],
    registry=REGISTRY,
)
SSE_CLIENTS = Gauge(
    "tocsin_sse_clients", "Dashboard clients connected to the live alert stream", registry=REGISTRY
)

for _sink in ("kafka", "sse"):
    ALERTS_DELIVERED.labels(_sink)
    ALERTS_FAILED.labels(_sink)


def exposition() -> tuple[bytes, str]:
    """The registry in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def error_label(error_type: str) -> str:
    return (error_type or "unknown")[:60]
