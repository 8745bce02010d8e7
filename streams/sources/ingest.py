"""``tocsin ingest``: files, folders or stdin -> ``news.articles.raw.v1``, checked on the way.

Each input is checked with the validate stage's own function before it is sent, so a bad
line is reported at once (file and line, reason) instead of only in the worker's dead letters.
Rejected inputs are not dropped: they go to ``news.deadletter.v1`` with stage ``ingest`` and
their file/line as the source, and ``tocsin dlq replay --stage ingest`` re-sends them later.
Valid inputs are sent as they were read (the worker validates them again: one authority).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from streams import codecs, schemas, topics
from streams.models import Rejected, SourceRef
from streams.pipeline.driver import dead_letter
from streams.pipeline.validate import validate_article
from streams.settings import Settings

STAGE = "ingest"
# Unacknowledged sends in flight: bounds memory on huge files while keeping the pipe full.
_WINDOW = 500


@dataclass
class Summary:
    sent: int = 0
    rejected: int = 0
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def line(self, topic: str) -> str:
        return f"sent {self.sent}, rejected {self.rejected} in {self.seconds:.1f}s -> {topic}" + (
            " (rejected inputs are in the dead-letter topic, stage 'ingest')"
            if self.rejected
            else ""
        )


class Progress:
    """One self-overwriting status line on a terminal; silent when ``out`` is not a TTY."""

    def __init__(self, out: TextIO, total_bytes: int, enabled: bool | None = None) -> None:
        self.out = out
        self.total = total_bytes
        self.enabled = out.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done_items: int, rejected: int, done_bytes: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 0.2):
            return
        self.last = now
        rate = done_items / max(now - self.started, 1e-9)
        if self.total:
            share = min(done_bytes / self.total, 1.0)
            filled = int(share * 30)
            bar = f"[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
        else:
            bar = ""
        self.out.write(f"\r{bar}{done_items} inputs, {rejected} rejected, {rate:.0f}/s ")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


async def ingest(
    settings: Settings,
    items: Iterable[tuple[SourceRef, bytes]],
    *,
    progress: Progress | None = None,
    max_reasons: int = 20,
) -> Summary:
    """Check and send every item; return what happened. Waits for every acknowledgement."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka_client import client_options, require_topics, start_client

    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    raw_topic = topics.ARTICLES_RAW.full_name(settings)
    dlq_topic = topics.DEADLETTER.full_name(settings)
    # Sending to a missing topic would create it with the broker's defaults where brokers
    # allow it (one partition, none of tocsin's configs), or wait for it in silence.
    await require_topics(settings, [raw_topic, dlq_topic])
    summary = Summary()
    started = time.monotonic()
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        max_request_size=2_000_000,
        linger_ms=5,
    )
    await start_client(producer)
    pending: list[Any] = []
    done_bytes = 0
    try:
        for source, payload in items:
            done_bytes += len(payload) + 1
            outcome = validate_article(payload, validator)
            if isinstance(outcome, Rejected):
                record = dead_letter(STAGE, source, payload, outcome).to_dict()
                pending.append(
                    await producer.send(dlq_topic, key=STAGE.encode(), value=codecs.dumps(record))
                )
                summary.rejected += 1
                if len(summary.reasons) < max_reasons:
                    summary.reasons.append(
                        f"{source.topic}:{source.offset}: {outcome.error_type}: {outcome.error}"
                    )
            else:
                pending.append(
                    await producer.send(raw_topic, key=outcome.content_hash.encode(), value=payload)
                )
                summary.sent += 1
            if len(pending) >= _WINDOW:
                for future in pending:
                    await future
                pending.clear()
            if progress:
                progress.update(summary.sent + summary.rejected, summary.rejected, done_bytes)
        for future in pending:
            await future
    finally:
        await producer.stop()
        if progress:
            progress.update(summary.sent + summary.rejected, summary.rejected, done_bytes, True)
            progress.close()
    summary.seconds = time.monotonic() - started
    return summary


def print_summary(summary: Summary, topic: str, err: TextIO = sys.stderr) -> None:
    for reason in summary.reasons:
        print(f"rejected {reason[:300]}", file=err)
    if summary.rejected > len(summary.reasons):
        print(f"... and {summary.rejected - len(summary.reasons)} more rejected", file=err)
    print(summary.line(topic))
