from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from streams import schemas
from streams.deadletters import Letter, parse_since, replay_target, select
from streams.models import Rejected, SourceRef
from streams.pipeline.driver import DEAD_LETTER_PAYLOAD_MAX, dead_letter
from streams.settings import Settings

SETTINGS = Settings(topic_prefix="t.")


def letter(stage: str, topic: str, failed_at: str, payload: bytes = b"\xff") -> Letter:
    record = dead_letter(stage, SourceRef(topic, 1, 7), payload, Rejected("x", "y")).to_dict()
    record["failed_at"] = failed_at
    return Letter(record, 0, 0)


def test_parse_since() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert parse_since("7d", now).day == 21
    assert parse_since("2026-11-28T01:00:00Z") == datetime(2026, 11, 28, 1, tzinfo=UTC)
    assert parse_since("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_since("yesterday")


def test_select_and_targets() -> None:
    letters = [
        letter("validate", "t.news.articles.raw.v1", "2026-11-28T01:00:00Z"),
        letter("validate", "t.news.articles.raw.v1", "2026-11-28T03:00:00Z"),
        letter("ingest", "feeds/a.jsonl", "2026-11-28T03:00:00Z"),
        letter("extract", "t.news.articles.unique.v1", "2026-11-28T03:00:00Z"),
    ]
    since = parse_since("2026-11-28T02:00:00Z")
    assert len(select(letters, stage="validate", since=since)) == 1
    assert len(select(letters, since=since)) == 3
    assert replay_target(letters[0], SETTINGS) == "t.news.articles.raw.v1"
    assert replay_target(letters[2], SETTINGS) == "t.news.articles.raw.v1"  # a file: raw
    assert replay_target(letters[3], SETTINGS) == "t.news.articles.unique.v1"
    assert letters[0].payload == b"\xff"  # base64 round trip


def test_huge_payloads_are_cut_to_fit_a_kafka_message() -> None:
    payload = b"\xfe" * 1_200_000
    record = dead_letter("validate", SourceRef("t", 0, 0), payload, Rejected("e", "m")).to_dict()
    assert len(base64.b64decode(record["payload"])) == DEAD_LETTER_PAYLOAD_MAX
    assert "truncated" in record["error"] and len(record["error"]) <= 2000
    assert len(record["payload"]) < 1_000_000
    schemas.validator("news.deadletter.v1.json").validate(record)
