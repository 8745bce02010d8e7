"""Helpers of the fault tests: the three-node KRaft cluster and the accounting of a stream
(what became of every article, which alerts it owes)."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.corpus import Item
from bench.stream_tools import Tap, topic_partitions
from streams import topics
from streams.models import Subscription
from streams.pipeline.match import Matcher, alert_id
from streams.pipeline.stories import StoryUpdate

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"
# deploy/kafka/kafka.sh --nodes 3 uses these ports (node N: 9092 + 100 N).
BOOTSTRAP = "127.0.0.1:9192,127.0.0.1:9292,127.0.0.1:9392"


class Cluster:
    """``deploy/kafka/kafka.sh --nodes 3`` in its own directory (the jar cache is shared)."""

    def __init__(self, home: Path) -> None:
        self.env = {
            **os.environ,
            "TOCSIN_KAFKA_HOME": str(home),
            "TOCSIN_KAFKA_LIBS_HOME": os.environ.get(
                "TOCSIN_KAFKA_LIBS_HOME", str(REPO / ".kafka")
            ),
        }
        self.bootstrap = BOOTSTRAP

    def _run(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(KAFKA_SH), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def up(self) -> None:
        self._run("--nodes", "3", "up")

    def down(self) -> None:
        self._run("down", timeout=120)

    def kill(self, node: int) -> None:
        self._run("kill", str(node))

    def start(self, node: int) -> None:
        self._run("start", str(node))


def dead_letter_id(letter: dict[str, Any]) -> str | None:
    """The article id inside a dead letter's payload, if it has one."""
    payload = letter.get("payload") or ""
    try:
        raw = (
            base64.b64decode(payload)
            if letter.get("payload_encoding") == "base64"
            else payload.encode()
        )
        data = orjson.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("id") or data.get("article_id")
    return value if isinstance(value, str) else None


@dataclass
class Accounts:
    """What became of every article of a stream, from the output topics alone."""

    valid: set[str] = field(default_factory=set)
    unique: set[str] = field(default_factory=set)
    duplicates: dict[str, str] = field(default_factory=dict)  # copy -> original
    events: set[str] = field(default_factory=set)
    story_articles: set[str] = field(default_factory=set)
    dead: dict[str, set[str]] = field(default_factory=dict)  # stage -> article ids
    both: set[str] = field(default_factory=set)  # unique and duplicate: must stay empty

    @classmethod
    def read(cls, tap: Tap) -> Accounts:
        acc = cls()
        acc.valid = {v["id"] for v in tap.values(topics.ARTICLES_VALID)}
        acc.unique = {v["id"] for v in tap.values(topics.ARTICLES_UNIQUE)}
        for v in tap.values(topics.ARTICLES_DUPLICATES):
            acc.duplicates[v["article_id"]] = v["duplicate_of"]
        # .get: the poison test puts malformed records on these topics.
        acc.events = {v.get("article_id") for v in tap.values(topics.EVENTS)} - {None}
        acc.story_articles = {
            v["article"].get("article_id")
            for v in tap.values(topics.STORIES)
            if isinstance(v.get("article"), dict)
        } - {None}
        for letter in tap.values(topics.DEADLETTER):
            ident = dead_letter_id(letter)
            if ident is not None:
                acc.dead.setdefault(letter["stage"], set()).add(ident)
        acc.both = acc.unique & set(acc.duplicates)
        return acc

    def missing(self, items: list[Item]) -> dict[str, list[str]]:
        """Per step, the ids that have not (yet) come out of it."""
        ids = [i.article_id for i in items]
        dead = self.dead
        gaps = {
            "validate": [
                a for a in ids if a not in self.valid and a not in dead.get("validate", ())
            ],
            "dedupe": [
                a
                for a in self.valid
                if a not in self.unique
                and a not in self.duplicates
                and a not in dead.get("dedupe", ())
            ],
            "extract": [
                a for a in self.unique if a not in self.events and a not in dead.get("extract", ())
            ],
            # Originals reach the stories as articles, copies as copies of their original.
            "stories": [
                a
                for a in self.events | set(self.duplicates)
                if a not in self.story_articles and a not in dead.get("stories", ())
            ],
        }
        return {step: sorted(v) for step, v in gaps.items() if v}


# Where an article can be on its way: every topic between validation and the stories.
TRACED = (
    topics.ARTICLES_VALID,
    topics.ARTICLES_UNIQUE,
    topics.ARTICLES_DUPLICATES,
    topics.EVENTS,
    topics.STORY_MEMBERS,
    topics.STORY_COPIES,
    topics.STORIES,
    topics.DEADLETTER,
)


async def _read_afresh(tap: Tap) -> tuple[dict[TopicPartition, list[Any]], dict[Any, Any]]:
    """Every record of the traced topics now, read by a new consumer from the start to the end
    offsets of this moment, and the worker group's committed offsets."""
    settings = tap.settings
    names = [spec.full_name(settings) for spec in TRACED]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.brokers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.brokers)
    await consumer.start()
    await admin.start()
    try:
        parts = await topic_partitions(settings, names, 30)
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        for tp, start in (await consumer.beginning_offsets(parts)).items():
            consumer.seek(tp, start)
        records: dict[TopicPartition, list[Any]] = {tp: [] for tp in parts}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [tp for tp in parts if await consumer.position(tp) < ends[tp]]
            if not pending:
                break
            for tp, batch in (await consumer.getmany(*pending, timeout_ms=500)).items():
                records[tp] += [r for r in batch if r.offset < ends[tp]]
        try:
            committed = await admin.list_consumer_group_offsets(settings.app_id)
        except Exception:  # noqa: BLE001 - no group (yet): nothing committed
            committed = {}
        return records, committed
    finally:
        await consumer.stop()
        await admin.close()


def trace(tap: Tap, gaps: dict[str, list[str]], per_step: int = 3) -> str:
    """Where the first missing articles of each step are: every record of the traced topics
    that names them (topic, partition, offset, and the group's committed offset there), read
    afresh; and, per topic, how many records the tap lacks against that fresh read."""
    try:
        records, committed = asyncio.run(_read_afresh(tap))
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
        return f"(no trace: {exc!r})"
    lines = []
    short = {spec.full_name(tap.settings): spec.name for spec in TRACED}
    for step, ids in gaps.items():
        for article_id in ids[:per_step]:
            needle = f'"{article_id}"'.encode()
            lines.append(f"{step} {article_id}:")
            for tp, batch in sorted(records.items()):
                for r in batch:
                    if r.value and needle in r.value:
                        done = committed.get(tp)
                        at = done.offset if done is not None else None
                        lines.append(
                            f"  {short[tp.topic]}[{tp.partition}]@{r.offset} "
                            f"(group committed {at}, end {batch[-1].offset + 1})"
                        )
    fresh: dict[str, int] = {}
    for tp, batch in records.items():
        fresh[short[tp.topic]] = fresh.get(short[tp.topic], 0) + len(batch)
    tapped = {spec.name: len(tap.raw(spec)) for spec in TRACED if spec.name in tap.records}
    lacking = {n: fresh[n] - tapped[n] for n in tapped if fresh.get(n, 0) != tapped[n]}
    lines.append(f"records the tap lacks against a fresh read: {lacking or 'none'}")
    return "\n".join(lines)


def wait_accounted(tap: Tap, items: list[Item], timeout: float, why: Callable[[], str]) -> Accounts:
    """Poll until every item of the stream has come out of every step."""
    deadline = time.monotonic() + timeout
    started = last_report = time.monotonic()
    while True:
        acc = Accounts.read(tap)
        gaps = acc.missing(items)
        if not gaps:
            print(f"accounted for in {time.monotonic() - started:.0f} s", flush=True)
            return acc
        if time.monotonic() - last_report > 30:  # progress, for the log of a slow run
            last_report = time.monotonic()
            print({step: len(v) for step, v in gaps.items()}, flush=True)
        if time.monotonic() > deadline:
            summary = {step: f"{len(v)}: {v[:5]}" for step, v in gaps.items()}
            raise AssertionError(
                f"not accounted for after {timeout:.0f} s: {summary}\n{trace(tap, gaps)}\n{why()}"
            )
        time.sleep(2)


def owed_alerts(tap: Tap, subscriptions: list[Subscription]) -> dict[tuple[str, str], set[str]]:
    """(subscription id, story) -> the alert ids that pay it, for every story update whose
    story (the article with the story's unions) matches a subscription; copies only update
    alerts that exist (they carry no extraction). A story merged into another is one story
    with it: the alert may have been raised on any of the stories merged (it keeps its id)."""
    matcher = Matcher.of(subscriptions)
    updates = [u for u in tap.values(topics.STORIES) if isinstance(u, dict) and "article" in u]
    into: dict[str, str] = {}
    for update in updates:
        for merged in update.get("merged_from") or ():
            into[merged] = update["story_id"]

    def final(story: str) -> str:
        for _hop in range(100):
            if story not in into:
                break
            story = into[story]
        return story

    members: dict[str, set[str]] = {}
    for story in {u["story_id"] for u in updates} | set(into):
        members.setdefault(final(story), set()).add(story)
    owed: dict[tuple[str, str], set[str]] = {}
    for update in updates:
        if update.get("copy_of"):
            continue
        story = final(update["story_id"])
        record = StoryUpdate.from_dict(update).story_record()
        for sub, _terms in matcher.match(record):
            owed[(sub.id, story)] = {alert_id(sub.id, m) for m in members[story]}
    return owed
