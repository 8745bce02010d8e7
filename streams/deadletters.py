"""Dead-letter tooling: list what was rejected, replay it after a fix, or export it to fix by hand.

A dead letter (``news.deadletter.v1``) carries the original bytes and where they came from.
Replay sends those bytes, with their original key, back to the topic they were read from: a
Kafka source topic of this deployment, or the raw topic for inputs rejected before they
reached Kafka (``tocsin ingest``, ``POST /api/articles``, the feed poller). A replayed input
that fails again becomes a new dead letter with a new ``failed_at``, so ``--since`` keeps a
replay from picking up its own failures.

Some letters cannot succeed as they are, whatever is fixed on the tocsin side: an input the
validate stage's own check still refuses (``ingest`` and ``validate`` letters), bytes that are
not JSON, a payload cut to fit the dead letter, a subscription whose secret was redacted.
:func:`blocker` names the reason; ``dlq replay`` holds such letters back, and ``dlq export``
writes letters as editable JSON lines that ``dlq replay --from FILE`` checks and sends back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from streams import codecs, schemas, topics
from streams.errors import DecodeError
from streams.settings import Settings

# Every stage that writes dead letters (a test checks this against the code's STAGE names).
STAGES = (
    "ingest",
    "validate",
    "dedupe",
    "extract",
    "stories",
    "story_copies",
    "match",
    "subscriptions",
    "deliver",
)
# Stages whose letters carry a raw article: the validate stage's check tells whether it passes.
RAW_STAGES = ("ingest", "validate")
SINCE_FORMS = (
    "30m, 2h, 7d, 1h30m (that long ago), today or yesterday (from midnight UTC), a date "
    "2026-11-28 or an RFC 3339 time 2026-11-28T01:00:00Z"
)
SINCE_HELP = f"only letters that failed from this time on: {SINCE_FORMS}"
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
REPLAY_HEADER = "tocsin-replay-of"


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """The forms of :data:`SINCE_FORMS`; ``ValueError`` naming them for anything else."""
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text in ("today", "yesterday"):
        midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight - timedelta(days=1) if text == "yesterday" else midnight
    parts = _DURATION.findall(text)
    if parts and _DURATION.sub("", text).strip() == "":
        delta = timedelta()
        for amount, unit in parts:
            delta += timedelta(**{_UNITS[unit]: int(amount)})
        return now - delta
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time; use {SINCE_FORMS}") from None


def parse_time(value: str) -> datetime:
    """An RFC 3339 time or a date (UTC midnight); a time without an offset is UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_stage(value: str) -> str:
    """``value`` if it is a stage that writes dead letters, else ``ValueError`` listing them."""
    if value not in STAGES:
        raise ValueError(f"unknown stage {value!r}; stages: {', '.join(STAGES)}")
    return value


@dataclass(frozen=True)
class Letter:
    """One dead letter as read back from the topic."""

    record: dict[str, Any]
    partition: int
    offset: int

    @property
    def failed_at(self) -> datetime:
        try:
            return parse_time(str(self.record.get("failed_at", "")))
        except ValueError:
            return datetime(1970, 1, 1, tzinfo=UTC)

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


# -- what cannot succeed as it is ---------------------------------------------------------


def problem(stage: str, payload: bytes, target: str, settings: Settings) -> str | None:
    """Why ``payload`` would fail again on its way to ``target``, or None when nothing local
    says so (the stage's own check for raw articles and subscriptions, JSON for the rest)."""
    from streams.models import Rejected

    if target == topics.ARTICLES_RAW.full_name(settings) or stage in RAW_STAGES:
        from streams.pipeline.validate import validate_article

        article = validate_article(payload, schemas.validator(topics.ARTICLES_RAW.schema_file))
        return f"{article.error_type}: {article.error}" if isinstance(article, Rejected) else None
    try:
        value = codecs.loads(payload)
    except DecodeError as exc:
        return f"decode_error: {exc}"
    if stage == "subscriptions" or target == topics.SUBSCRIPTIONS.full_name(settings):
        from streams.pipeline.match import parse_subscription

        if b"[redacted]" in payload:
            return "its webhook secret was redacted: submit the corrected subscription again"
        sub = parse_subscription(value, schemas.validator(topics.SUBSCRIPTIONS.schema_file))
        return f"{sub.error_type}: {sub.error}" if isinstance(sub, Rejected) else None
    return None


def blocker(letter: Letter, settings: Settings) -> str | None:
    """Why replaying ``letter`` unchanged would only make the same dead letter again, or None."""
    if "[payload truncated" in str(letter.record.get("error", "")):
        return "its payload was cut to fit the dead letter"
    stage = str(letter.record.get("stage", ""))
    return problem(stage, letter.payload, replay_target(letter, settings), settings)


# -- export, fix, send back -----------------------------------------------------------------


def export_line(letter: Letter, settings: Settings) -> dict[str, Any]:
    """A dead letter as one editable JSON line: the payload as JSON when it is JSON
    (``payload_encoding: json``), else as the letter carries it (text or base64)."""
    rec = letter.record
    line: dict[str, Any] = {
        "letter": f"{letter.partition}:{letter.offset}",
        "stage": rec.get("stage"),
        "error_type": rec.get("error_type"),
        "error": rec.get("error"),
        "failed_at": rec.get("failed_at"),
        "source": rec.get("source"),
        "target": replay_target(letter, settings),
        "key": rec.get("key"),
        "key_encoding": rec.get("key_encoding"),
    }
    try:
        line["payload"], line["payload_encoding"] = codecs.loads(letter.payload), "json"
    except DecodeError:
        line["payload"] = rec.get("payload")
        line["payload_encoding"] = rec.get("payload_encoding")
    return line


@dataclass(frozen=True)
class Outgoing:
    """One message to send back: where, with which key and bytes, and which letter it was."""

    target: str
    key: bytes | None
    payload: bytes
    letter: str


def read_export(lines: Iterable[bytes], settings: Settings, name: str) -> Iterator[Outgoing | str]:
    """Each non-empty line of an export file as an :class:`Outgoing`, or as a one-line
    reason (``name:line: ...``) why it cannot be sent as it is."""
    from streams.sources.files import raw_key

    raw_topic = topics.ARTICLES_RAW.full_name(settings)
    known = {spec.full_name(settings) for spec in topics.ALL if spec is not topics.DEADLETTER}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        where = f"{name}:{number}"
        try:
            item = codecs.loads(text)
        except DecodeError as exc:
            yield f"{where}: not a JSON line ({exc})"
            continue
        if not isinstance(item, dict) or "payload" not in item:
            yield f"{where}: expected an object with a payload (a line of `tocsin dlq export`)"
            continue
        target = item.get("target") or raw_topic
        if target not in known:
            yield f"{where}: target {str(target)[:200]!r} is not a topic of this deployment"
            continue
        encoding = item.get("payload_encoding") or "json"
        if encoding == "json":
            payload = codecs.dumps(item["payload"])
        elif encoding in ("utf-8", "base64") and isinstance(item["payload"], str):
            try:
                payload = _decode(item["payload"], encoding)
            except ValueError as exc:
                yield f"{where}: payload is not base64 ({exc})"
                continue
        else:
            yield f"{where}: payload_encoding must be json, utf-8 or base64"
            continue
        reason = problem(str(item.get("stage") or ""), payload, target, settings)
        if reason is not None:
            yield f"{where}: still fails: {reason}"[:600]
            continue
        if target == raw_topic:
            key = raw_key(payload)  # copies of one body share a partition, as `tocsin ingest`
        else:
            key = _decode_key(item.get("key"), item.get("key_encoding"))
        yield Outgoing(target, key, payload, str(item.get("letter") or where))


def outgoing(letter: Letter, settings: Settings) -> Outgoing:
    """A letter's payload and key, unchanged, to its replay target."""
    return Outgoing(
        replay_target(letter, settings),
        letter.key,
        letter.payload,
        f"{letter.partition}:{letter.offset}",
    )


async def replay(settings: Settings, items: Iterable[Outgoing]) -> dict[str, int]:
    """Send each item (acks=all, idempotent); return how many went to each topic. Each carries
    a header naming the dead letter it comes from."""
    from aiokafka import AIOKafkaProducer

    from streams.kafka_client import client_options, require_topics, start_client

    items = list(items)
    await require_topics(settings, {item.target for item in items})
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        max_request_size=2_000_000,
    )
    await start_client(producer)
    sent: dict[str, int] = {}
    try:
        futures = []
        for item in items:
            futures.append(
                await producer.send(
                    item.target,
                    key=item.key,
                    value=item.payload,
                    headers=[(REPLAY_HEADER, item.letter.encode())],
                )
            )
            sent[item.target] = sent.get(item.target, 0) + 1
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
