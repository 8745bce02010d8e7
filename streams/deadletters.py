"""Dead-letter tooling: list what was rejected, and replay it after a fix.

A dead letter (``news.deadletter.v1``) carries the original bytes and where they came from.
Replay sends those bytes, with their original key, back to the topic they were read from: a
Kafka source topic of this deployment, or the raw topic for inputs rejected before they
reached Kafka (``tocsin ingest``, ``POST /api/articles``, the feed poller). A replayed input
that fails again becomes a new dead letter with a new ``failed_at``, so ``--since`` keeps a
replay from picking up its own failures.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from streams import codecs, topics
from streams.errors import DecodeError
from streams.settings import Settings

_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
REPLAY_HEADER = "tocsin-replay-of"


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``2026-11-28T01:00:00Z``, ``2026-11-28`` or a relative ``90s``/``30m``/``2h``/``7d``."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Letter:
    """One dead letter as read back from the topic."""

    record: dict[str, Any]
    partition: int
    offset: int

    @property
    def failed_at(self) -> datetime:
        return parse_since(str(self.record.get("failed_at", "1970-01-01T00:00:00Z")))

    @property
    def payload(self) -> bytes:
        return _decode(self.record.get("payload"), self.record.get("payload_encoding"))

    @property
    def key(self) -> bytes | None:
        return _decode_key(self.record.get("key"), self.record.get("key_encoding"))

    @property
    def source(self) -> str:
        src = self.record.get("source") or {}
        return f"{src.get('topic')}:{src.get('partition')}:{src.get('offset')}"


def _decode(text: Any, encoding: Any) -> bytes:
    if not isinstance(text, str):
        return b""
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def _decode_key(text: Any, encoding: Any) -> bytes | None:
    return None if text is None else _decode(text, encoding)


def select(
    letters: Iterable[Letter], *, stage: str | None = None, since: datetime | None = None
) -> list[Letter]:
    """The letters of ``stage`` (all stages when None) that failed at or after ``since``."""
    return [
        letter
        for letter in letters
        if (stage is None or letter.record.get("stage") == stage)
        and (since is None or letter.failed_at >= since)
    ]


def replay_target(letter: Letter, settings: Settings) -> str:
    """Where a replayed payload goes: its source topic when that is one of this deployment's
    topics, else the raw topic (inputs rejected before Kafka carry a file or URL there)."""
    source_topic = str((letter.record.get("source") or {}).get("topic", ""))
    known = {spec.full_name(settings) for spec in topics.ALL if spec is not topics.DEADLETTER}
    return source_topic if source_topic in known else topics.ARTICLES_RAW.full_name(settings)


async def read_letters(settings: Settings, idle_timeout: float = 2.0) -> list[Letter]:
    """Every dead letter on the topic now (reads until ``idle_timeout`` s without a record)."""
    from streams.kafka_client import consume

    out: list[Letter] = []
    async for record in consume(
        settings, topics.DEADLETTER.full_name(settings), idle_timeout=idle_timeout
    ):
        try:
            value = codecs.loads(record.value)
        except DecodeError:
            continue  # not ours: every letter tocsin writes is JSON
        if isinstance(value, dict):
            out.append(Letter(value, record.partition, record.offset))
    # Letters are keyed by stage, so partitions interleave stages: show them in time order.
    out.sort(key=lambda letter: (str(letter.record.get("failed_at", "")), letter.offset))
    return out


async def replay(settings: Settings, letters: list[Letter]) -> dict[str, int]:
    """Re-send each letter's payload and key; return how many went to each topic."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.brokers,
        acks="all",
        enable_idempotence=True,
        max_request_size=2_000_000,
    )
    await producer.start()
    sent: dict[str, int] = {}
    try:
        futures = []
        for letter in letters:
            target = replay_target(letter, settings)
            # The header lets anyone trace a replayed message back to its dead letter.
            header = f"{letter.partition}:{letter.offset}".encode()
            futures.append(
                await producer.send(
                    target,
                    key=letter.key,
                    value=letter.payload,
                    headers=[(REPLAY_HEADER, header)],
                )
            )
            sent[target] = sent.get(target, 0) + 1
        for future in futures:
            await future
    finally:
        await producer.stop()
    return sent


def describe(letter: Letter, width: int = 100) -> str:
    """One terminal line: when, stage, error type, source position, size, error."""
    rec = letter.record
    error = "".join(ch if ch.isprintable() else " " for ch in str(rec.get("error", "")))
    error = error if len(error) <= width else error[: width - 1] + "…"
    return (
        f"{rec.get('failed_at', '?'):24} {rec.get('stage', '?'):9} "
        f"{rec.get('error_type', '?'):17} {_safe(letter.source, 60):40} "
        f"{len(letter.payload):>8}B  {error}"
    )


def _safe(text: str, limit: int) -> str:
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned if len(cleaned) <= limit else "…" + cleaned[-(limit - 1) :]
