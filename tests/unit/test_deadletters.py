from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import streams
from streams import codecs, schemas
from streams.deadletters import (
    STAGES,
    Letter,
    Outgoing,
    blocker,
    check_stage,
    export_line,
    parse_since,
    read_export,
    replay_target,
    select,
)
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
    assert parse_since("2026-11-28T03:00:00+02:00") == datetime(2026, 11, 28, 1, tzinfo=UTC)
    # The forms a user types after reading the help (issue 22: `--since yesterday` crashed).
    assert parse_since("yesterday", now) == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_since("Today", now) == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_since("1h30m", now) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert parse_since("90s", now) == datetime(2026, 11, 28, 11, 58, 30, tzinfo=UTC)
    assert parse_since("1w", now).day == 21
    for bad in ("yesterdy", "2h ago", "", "h", "2026-13-01", "-2h"):
        with pytest.raises(ValueError, match="is not a time; use 30m, 2h"):
            parse_since(bad, now)


def test_stages_are_every_stage_that_writes_dead_letters() -> None:
    names = set()
    for path in Path(streams.__file__).parent.rglob("*.py"):
        names |= set(re.findall(r'^(?:STAGE|COPIES) = "([a-z_]+)"$', path.read_text(), re.M))
    assert names - {"stats"} == set(STAGES)  # stats counts; it never dead-letters
    assert check_stage("validate") == "validate"
    with pytest.raises(ValueError, match="unknown stage 'bogus'; stages: ingest, validate"):
        check_stage("bogus")


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


def test_letters_that_cannot_succeed_as_they_are() -> None:
    raw = "t.news.articles.raw.v1"
    broken = letter("ingest", "feeds/a.jsonl", "2026-11-28T03:00:00Z", b'{"text": 5}')
    assert blocker(broken, SETTINGS) == "schema_violation: text: 5 is not of type 'string'"
    fine = letter("validate", raw, "2026-11-28T03:00:00Z", b'{"text": "Protest in Lyon."}')
    assert blocker(fine, SETTINGS) is None  # e.g. rejected by an older release: replayable
    assert "decode_error" in str(blocker(letter("validate", raw, "x", b"\xff"), SETTINGS))
    not_json = letter("extract", "t.news.articles.unique.v1", "x", b"{")
    assert str(blocker(not_json, SETTINGS)).startswith("decode_error")
    assert blocker(letter("extract", "t.news.articles.unique.v1", "x", b"{}"), SETTINGS) is None
    redacted = b'{"id": "s", "webhook": {"url": "https://x.example", "secret": "[redacted]"}}'
    sub = letter("subscriptions", "t.news.subscriptions.v1", "x", redacted)
    assert "redacted" in str(blocker(sub, SETTINGS))
    cut = dead_letter("validate", SourceRef(raw, 0, 0), b"\xfe" * 800_000, Rejected("e", "m"))
    assert "cut" in str(blocker(Letter(cut.to_dict(), 0, 0), SETTINGS))


def test_export_fix_and_read_back() -> None:
    broken = letter("ingest", "feeds/a.jsonl", "2026-11-28T03:00:00Z", b'{"id": "a1", "text": 5}')
    binary = letter("validate", "t.news.articles.raw.v1", "2026-11-28T03:00:00Z", b"\xff\x00")
    lines = [export_line(broken, SETTINGS), export_line(binary, SETTINGS)]
    assert lines[0]["payload"] == {"id": "a1", "text": 5}  # JSON, to edit in place
    assert lines[0]["payload_encoding"] == "json"
    assert lines[0]["target"] == "t.news.articles.raw.v1" and lines[0]["letter"] == "0:0"
    assert lines[1]["payload_encoding"] == "base64"
    as_is = [codecs.dumps(line) for line in lines]
    problems = list(read_export(as_is, SETTINGS, "f.jsonl"))
    assert (
        problems[0] == "f.jsonl:1: still fails: schema_violation: text: 5 is not of type 'string'"
    )
    assert str(problems[1]).startswith("f.jsonl:2: still fails: decode_error: ")
    lines[0]["payload"]["text"] = "Four students were abducted in Nairobi, Kenya, on Monday."
    fixed = list(read_export([codecs.dumps(lines[0]), b"", b"{oops"], SETTINGS, "f.jsonl"))
    out, bad = fixed
    assert isinstance(out, Outgoing) and out.target == "t.news.articles.raw.v1"
    assert codecs.loads(out.payload)["text"].startswith("Four students")
    assert out.key is not None and out.letter == "0:0"  # keyed by content, as `tocsin ingest`
    assert str(bad).startswith("f.jsonl:3: not a JSON line (unexpected character")
    elsewhere = {**lines[0], "target": "someone.elses.topic"}
    (refused,) = read_export([codecs.dumps(elsewhere)], SETTINGS, "f")
    assert refused == "f:1: target 'someone.elses.topic' is not a topic of this deployment"
