"""Near-duplicate dedupe on the real broker: 6 partitions, two workers, one worker, a restart."""

from __future__ import annotations

import asyncio
import copy
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2

from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.pipeline.normalize import content_hash
from tests.integration.conftest import Namespace, Worker, free_port, stop_all

pytestmark = pytest.mark.integration

_WORDS = (
    "government police minister court election protest army rebels village city council water "
    "market bank report said officials people killed arrested talks capital border river storm"
)
VOCAB = _WORDS.split()


def body(seed: int, n: int = 150) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(VOCAB) + str(rng.randrange(60)) for _ in range(n)) + "."


def edited(text: str, seed: int) -> str:
    """A light edit: 3% of the words replaced, a sign-off appended."""
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), len(words) // 33):
        words[i] = "changed" + str(i)
    return " ".join(words) + " Reporting by staff."


def raw(id_: str, text: str, day: int) -> dict[str, Any]:
    return {"id": id_, "text": text, "published_at": f"2024-11-{day:02d}T08:00:00Z"}


ORIGINALS = [raw(f"orig-{i}", body(i), 10) for i in range(8)]
COPIES = [raw(f"copy-{i}", edited(body(i), i), 11) for i in range(8)]
UNRELATED = [raw(f"other-{i}", body(1000 + i), 11) for i in range(4)]
# Sent together: the two copies of each pair race through the partitions.
RACE_A = [raw(f"race-a-{i}", body(500 + i), 12) for i in range(4)]
RACE_B = [raw(f"race-b-{i}", edited(body(500 + i), 50 + i), 13) for i in range(4)]
AFTER_RESTART = [raw(f"late-{i}", edited(body(i), 99), 20) for i in range(3)]


def partition_of(text: str, partitions: int) -> int:
    """The partition of news.articles.valid.v1 an article lands on (key: content hash)."""
    from streams.pipeline.normalize import clean_body

    return int((murmur2(content_hash(clean_body(text)).encode()) & 0x7FFFFFFF) % partitions)


def send(ns: Namespace, articles: list[dict[str, Any]]) -> None:
    asyncio.run(
        produce(
            ns.settings,
            ns.name(topics.ARTICLES_RAW),
            [(a["id"].encode(), codecs.dumps(a)) for a in articles],
        )
    )


def decided(ns: Namespace, ids: set[str], timeout: float = 90.0) -> dict[str, Any]:
    """article id -> duplicate record, or None for unique, once every id in ``ids`` is out."""

    async def read_both() -> tuple[list[Any], list[Any]]:
        unique, dups = await asyncio.gather(
            ns._read_all(topics.ARTICLES_UNIQUE), ns._read_all(topics.ARTICLES_DUPLICATES)
        )
        return unique, dups

    def verdicts() -> dict[str, Any]:
        out: dict[str, Any] = {}
        unique, dups = asyncio.run(read_both())
        for r in unique:
            out.setdefault(orjson.loads(r.value)["id"], None)
        for r in dups:
            value = orjson.loads(r.value)
            out[value["article_id"]] = value
        return out

    import time

    deadline = time.monotonic() + timeout
    got = verdicts()
    while not ids <= set(got) and time.monotonic() < deadline:
        time.sleep(1)
        got = verdicts()
    missing = ids - set(got)
    assert not missing, f"no verdict for {sorted(missing)}"
    return got


def worker_on(ns: Namespace, data_dir: Path) -> Worker:
    """Another worker process of the same app (same group), with its own state and port."""
    other = copy.copy(ns)
    other.env = {**ns.env, "TOCSIN_DATA_DIR": str(data_dir), "TOCSIN_WEB_PORT": str(free_port())}
    w = Worker(other)
    w.start()
    return w


def run_scenario(ns: Namespace) -> dict[str, Any]:
    """Originals; once they are decided, their copies, unrelated articles and racing pairs."""
    send(ns, ORIGINALS)
    decided(ns, {a["id"] for a in ORIGINALS})
    later = COPIES + UNRELATED + RACE_A + RACE_B
    send(ns, later)
    return decided(ns, {a["id"] for a in later})


def summary(verdicts: dict[str, Any]) -> dict[str, Any]:
    return {k: None if v is None else (v["duplicate_of"], v["kind"]) for k, v in verdicts.items()}


WORKERS: list[Worker] = []


@pytest.fixture(scope="module")
def two_workers(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Namespace]:
    # Probes spread over every partition, so both workers probe (the one-worker run below
    # keeps the default, one probe partition, and must reach the same verdicts).
    ns = Namespace(broker, tmp_path_factory.mktemp("dedupe2"), TOCSIN_DEDUPE_PROBE_PARTITIONS="6")
    asyncio.run(create_topics(ns.settings))
    workers = [worker_on(ns, ns.tmp / "w1"), worker_on(ns, ns.tmp / "w2")]
    WORKERS[:] = workers
    try:
        for w in workers:
            w.wait(lambda s: s["subscriptions_ready"])
        yield ns
    finally:
        stop_all(workers)


@pytest.fixture(scope="module")
def two_worker_verdicts(two_workers: Namespace) -> dict[str, Any]:
    return run_scenario(two_workers)


def test_topics_have_six_partitions_and_copies_land_apart(two_workers: Namespace) -> None:
    n = two_workers.settings.topic_partitions
    assert n >= 6
    apart = [
        i
        for i in range(len(ORIGINALS))
        if partition_of(ORIGINALS[i]["text"], n) != partition_of(COPIES[i]["text"], n)
    ]
    assert len(apart) >= 4, "the scenario must include copies hashed to other partitions"


def test_two_workers_catch_near_duplicates_across_partitions(
    two_worker_verdicts: dict[str, Any],
) -> None:
    got = summary(two_worker_verdicts)
    for i in range(len(ORIGINALS)):
        assert got[f"orig-{i}"] is None
        assert got[f"copy-{i}"] == (f"orig-{i}", "near")
    for i in range(len(UNRELATED)):
        assert got[f"other-{i}"] is None


def test_both_workers_worked_and_swept_their_state(two_worker_verdicts: dict[str, Any]) -> None:
    for w in WORKERS:
        counts = (w.status() or {}).get("counts", {})
        scatter, sweep = counts.get("dedupe-scatter", {}), counts.get("dedupe-sweep", {})
        assert scatter.get("scattered", 0) > 0, w.log_tail()  # each owns some partitions
        assert sweep.get("swept", 0) > 0 and not sweep.get("error"), w.log_tail()


def test_racing_copies_agree_on_one_original(two_worker_verdicts: dict[str, Any]) -> None:
    got = summary(two_worker_verdicts)
    for i in range(len(RACE_A)):
        pair = {got[f"race-a-{i}"], got[f"race-b-{i}"]}
        assert None in pair and len(pair) == 2, pair  # exactly one original, one copy


@pytest.fixture(scope="module")
def one_worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    ns = Namespace(broker, tmp_path_factory.mktemp("dedupe1"))
    asyncio.run(create_topics(ns.settings))
    holder = {"worker": worker_on(ns, ns.tmp / "w1")}
    try:
        holder["worker"].wait(lambda s: s["subscriptions_ready"])
        yield ns, holder
    finally:
        holder["worker"].stop()


def test_one_worker_gives_the_same_verdicts(
    one_worker: Any, two_worker_verdicts: dict[str, Any]
) -> None:
    ns, _holder = one_worker
    got = summary(run_scenario(ns))
    expected = summary(two_worker_verdicts)
    sequential = {a["id"] for a in ORIGINALS + COPIES + UNRELATED}
    assert {k: got[k] for k in sequential} == {k: expected[k] for k in sequential}
    for i in range(len(RACE_A)):
        assert None in {got[f"race-a-{i}"], got[f"race-b-{i}"]}


def test_state_survives_a_restart_from_the_changelogs_and_the_probe_topic(one_worker: Any) -> None:
    ns, holder = one_worker
    decided(ns, {a["id"] for a in ORIGINALS})
    holder["worker"].stop()
    probes = len(asyncio.run(ns._read_all(topics.DEDUPE_BANDS)))
    # A fresh data dir: nothing local survives, the tables must come back from the changelogs
    # and the band index from the probe topic it was built from.
    shutil.rmtree(ns.tmp / "w1", ignore_errors=True)
    holder["worker"] = worker_on(ns, ns.tmp / "w1-new")
    holder["worker"].wait(lambda s: s["subscriptions_ready"])
    send(ns, [*AFTER_RESTART, ORIGINALS[5] | {"id": "exact-after-restart"}])
    got = summary(decided(ns, {a["id"] for a in AFTER_RESTART} | {"exact-after-restart"}))
    assert got["exact-after-restart"] == ("orig-5", "exact")
    for i, late in enumerate(AFTER_RESTART):
        # Both orig-i and copy-i qualify: the earliest published is named.
        assert got[late["id"]] is not None and got[late["id"]][1] == "near"
        assert got[late["id"]][0] == f"orig-{i}"
    status = holder["worker"].status()
    assert status is not None
    # Every probe message the first worker applied, read again once (one probe partition).
    replayed = status["counts"].get("dedupe-index", {}).get("replayed", 0)
    assert replayed == probes, holder["worker"].log_tail()


async def _retention_ms(broker: str, name: str, expected: int) -> int | None:
    """The topic's retention once it reads ``expected`` (configs propagate to the broker's
    metadata a moment after a create or alter), else the last value read within 15 s."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        got = None
        for _ in range(30):
            resource = ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": None})
            (response,) = await admin.describe_configs([resource])
            ((_code, _msg, _type, _name, entries),) = response.resources
            got = next((int(e[1]) for e in entries if e[0] == "retention.ms"), None)
            if got == expected:
                break
            await asyncio.sleep(0.5)
        return got
    finally:
        await admin.close()


async def _make_topic(broker: str, name: str, configs: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 6, 1, topic_configs=configs)])
    finally:
        await admin.close()


def test_the_probe_topic_keeps_the_dedupe_window(broker: str, tmp_path: Path) -> None:
    """The band index is rebuilt from the probe topic, so the topic must keep the window's
    messages: made so, and raised on a topic made before with the broker's default (7 days)."""
    window = topics.state_retention_ms(Namespace(broker, tmp_path).settings)
    assert window == 15 * 86_400_000  # the 14-day window and a day to spare
    fresh = Namespace(broker, tmp_path)
    asyncio.run(create_topics(fresh.settings))
    probes, alerts = fresh.name(topics.DEDUPE_BANDS), fresh.name(topics.ALERTS)
    assert asyncio.run(_retention_ms(broker, probes, window)) == window
    week = 7 * 86_400_000
    assert asyncio.run(_retention_ms(broker, alerts, week)) == week  # the broker's default
    old = Namespace(broker, tmp_path)
    probes = old.name(topics.DEDUPE_BANDS)
    asyncio.run(_make_topic(broker, probes, {"retention.ms": "3600000"}))
    assert asyncio.run(_retention_ms(broker, probes, 3_600_000)) == 3_600_000
    asyncio.run(create_topics(old.settings))
    assert asyncio.run(_retention_ms(broker, probes, window)) == window
