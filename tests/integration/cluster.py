"""Helpers of the fault tests: the three-node KRaft cluster, a topic tap, a steady producer and
the accounting of a stream (what became of every article, which alerts it owes)."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from bench.corpus import Item
from streams import topics
from streams.models import EventRecord, Subscription
from streams.pipeline.match import Matcher, alert_id
from streams.sources.files import raw_key
from tests.integration.conftest import Namespace

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


class Tap:
    """Every record of some topics, read continuously by a group-less consumer in a thread
    (it rides out a broker failure like any client)."""

    def __init__(self, ns: Namespace, specs: Iterable[topics.TopicSpec]) -> None:
        self.ns = ns
        self.names = {ns.name(s): s.name for s in specs}
        self.records: dict[str, list[Any]] = {s: [] for s in self.names.values()}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.names,
            bootstrap_servers=self.ns.settings.brokers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=3000,
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=300)
                with self.lock:
                    for tp, records in batches.items():
                        self.records[self.names[tp.topic]].extend(records)
        finally:
            await consumer.stop()

    def values(self, spec: topics.TopicSpec) -> list[dict[str, Any]]:
        with self.lock:
            records = list(self.records[spec.name])
        decoded = [orjson.loads(r.value) for r in records if r.value]
        return [v for v in decoded if isinstance(v, dict)]  # poison tests send other JSON

    def raw(self, spec: topics.TopicSpec) -> list[Any]:
        with self.lock:
            return list(self.records[spec.name])

    def mark(self) -> dict[str, int]:
        """How many records each topic has so far (for :meth:`since`)."""
        with self.lock:
            return {name: len(records) for name, records in self.records.items()}

    def since(self, spec: topics.TopicSpec, mark: dict[str, int]) -> list[dict[str, Any]]:
        """The decoded records of ``spec`` that arrived after ``mark``."""
        with self.lock:
            records = self.records[spec.name][mark[spec.name] :]
        decoded = [orjson.loads(r.value) for r in records if r.value]
        return [v for v in decoded if isinstance(v, dict)]

    def close(self) -> None:
        self._stop.set()
        self.thread.join(30)


class Feeder:
    """Produces items to the raw topic at a steady rate in a thread (acks=all, idempotent);
    a send that fails is retried, so every item is on the topic in the end."""

    def __init__(self, ns: Namespace, items: list[Item], rate: float) -> None:
        self.ns = ns
        self.items = items
        self.rate = rate
        self.sent = 0
        self.retries = 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as exc:  # noqa: BLE001  (re-raised in the test thread by join())
            self.error = exc

    async def _run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.ns.settings.brokers,
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=60_000,
        )
        await producer.start()
        topic = self.ns.name(topics.ARTICLES_RAW)
        try:
            start = time.monotonic()
            for n, item in enumerate(self.items):
                delay = start + n / self.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                while True:
                    try:
                        await producer.send_and_wait(topic, item.payload, key=raw_key(item.payload))
                        break
                    except KafkaError:
                        self.retries += 1
                        await asyncio.sleep(1)
                self.sent = n + 1
        finally:
            await producer.stop()

    def wait_sent(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while self.sent < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.sent} of {count} sent"
            time.sleep(0.2)

    def join(self, timeout: float = 600) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"feeder stuck at {self.sent}/{len(self.items)}"
        assert self.error is None, self.error


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
            raise AssertionError(f"not accounted for after {timeout:.0f} s: {summary}\n{why()}")
        time.sleep(2)


def owed_alerts(tap: Tap, subscriptions: list[Subscription]) -> dict[str, str]:
    """alert id -> subscription id for every story update of an article that matches a
    subscription (copies only update alerts that exist: they carry no extraction)."""
    matcher = Matcher.of(subscriptions)
    owed: dict[str, str] = {}
    for update in tap.values(topics.STORIES):
        if update.get("copy_of") or "article" not in update:
            continue
        record = EventRecord.from_dict(update["article"])
        for sub, _terms in matcher.match(record):
            owed[alert_id(sub.id, update["story_id"])] = sub.id
    return owed
