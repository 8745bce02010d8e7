"""Raw articles through a real `tocsin worker` on the real broker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams import codecs, topics
from streams.kafka_client import produce
from streams.pipeline.driver import run_local
from streams.pipeline.match import alert_id
from streams.sources.files import iter_inputs, raw_key
from tests.conftest import SAMPLES, load_subscriptions
from tests.integration.conftest import Namespace, Worker

pytestmark = pytest.mark.integration

KENYA = {
    "id": "kenya-abductions",
    "name": "Abductions in Kenya",
    "themes": ["abduction"],
    "countries": ["KE"],
    "actors": [],
}


async def send(
    ns: Namespace, spec: topics.TopicSpec, values: list[bytes], key: bytes | None = None
) -> list[Any]:
    """Produce and return each record's metadata (partition, offset)."""
    producer = AIOKafkaProducer(bootstrap_servers=ns.settings.brokers, acks="all")
    await producer.start()
    try:
        return [await producer.send_and_wait(ns.name(spec), value=v, key=key) for v in values]
    finally:
        await producer.stop()


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


def alerts_for(records: list[Any], article_id: str) -> list[dict[str, Any]]:
    return [
        v
        for v in values(records)
        if v["subscription_id"] == "kenya-abductions" and v["article_id"] == article_id
    ]


def subscribe(ns: Namespace, worker: Worker, subscription: dict[str, Any]) -> None:
    asyncio.run(
        send(
            ns, topics.SUBSCRIPTIONS, [codecs.dumps(subscription)], key=subscription["id"].encode()
        )
    )
    worker.wait(
        lambda s: (
            s["subscriptions"] >= 1 and s["counts"].get("subscriptions", {}).get("applied", 0) >= 1
        )
    )


@pytest.fixture(scope="module")
def local_sample_run(nlp_model: Any, namespace: Namespace) -> Any:
    # The worker's settings: the local driver reads them as the agents do.
    return run_local(iter_inputs([SAMPLES]), load_subscriptions(), nlp_model, namespace.settings)


def _same_outputs(namespace: Namespace, local: Any) -> None:
    """Every output topic but digests holds, for the samples, what the local run wrote.

    Digests are left out: a local run closes every open window at its end, a worker at the
    hour. Stories compare by (article, copy of) -> story id and alerts by (alert, article):
    their counters and revisions depend on the order Kafka interleaves partitions."""

    sample_ids = {a["id"] for a in local.outputs["valid"]}

    def on_kafka(spec: topics.TopicSpec) -> list[dict[str, Any]]:
        return values(namespace.collect(spec, lambda rs: True))

    def by_id(rows: list[dict[str, Any]], field: str) -> dict[str, dict[str, Any]]:
        return {r[field]: r for r in rows if r[field] in sample_ids}

    for spec, field in (
        (topics.ARTICLES_VALID, "id"),
        (topics.ARTICLES_UNIQUE, "id"),
        (topics.ARTICLES_DUPLICATES, "article_id"),
        (topics.EVENTS, "article_id"),
    ):
        assert by_id(on_kafka(spec), field) == by_id(local.outputs[spec.local_name], field), spec

    def story_rows(rows: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
        return {
            (r["article"]["article_id"], r["copy_of"], r["story_id"])
            for r in rows
            if r["article"]["article_id"] in sample_ids
        }

    assert story_rows(on_kafka(topics.STORIES)) == story_rows(local.outputs["stories"])

    def alert_rows(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(r["alert_id"], r["article_id"]) for r in rows if r["article_id"] in sample_ids}

    assert alert_rows(on_kafka(topics.ALERTS)) == alert_rows(local.outputs["alerts"])

    # Dead letters of the sample inputs: the same stage, error and payload (positions differ:
    # a file line locally, a partition offset on Kafka).
    def letters(rows: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
        return {(r["stage"], r["error_type"], r["payload"]) for r in rows}

    mine = letters(local.outputs["deadletter"])
    payloads = {payload for _stage, _error, payload in mine}
    kafka_letters = {x for x in letters(on_kafka(topics.DEADLETTER)) if x[2] in payloads}
    assert kafka_letters == mine


# First in the module, so the worker's state holds only what the local run saw: an article of
# a later test, published now, would move the stories' high-water mark two years past the
# samples, and every late story update would differ.
def test_samples_give_the_same_alerts_as_the_local_driver(
    namespace: Namespace, worker: Worker, local_sample_run: Any
) -> None:
    subs = load_subscriptions()
    asyncio.run(
        produce(
            namespace.settings,
            namespace.name(topics.SUBSCRIPTIONS),
            [(s.id.encode(), codecs.dumps(s.to_dict())) for s in subs],
        )
    )
    worker.wait(lambda s: s["subscriptions"] >= len(subs))
    inputs = list(iter_inputs([SAMPLES]))
    # s04 is a near copy of s01 on another partition: on Kafka the first to arrive is the
    # original (docs/architecture.md), so it is sent once s01 is decided, as in file order.
    later = [p for _src, p in inputs if b'"id": "s04"' in p]
    first = [p for _src, p in inputs if p not in later]
    asyncio.run(
        produce(
            namespace.settings,
            namespace.name(topics.ARTICLES_RAW),
            [(raw_key(payload), payload) for payload in first],
        )
    )
    namespace.collect(
        topics.ARTICLES_UNIQUE,
        lambda rs: "s01" in {v["id"] for v in values(rs)},
        timeout=60,
    )
    asyncio.run(
        produce(
            namespace.settings,
            namespace.name(topics.ARTICLES_RAW),
            [(raw_key(payload), payload) for payload in later],
        )
    )

    expected = {a["alert_id"] for a in local_sample_run.outputs["alerts"]}
    sample_ids = {a["id"] for a in local_sample_run.outputs["unique"]}
    alerts = namespace.collect(
        topics.ALERTS, lambda rs: expected <= {v["alert_id"] for v in values(rs)}, timeout=120
    )
    got = {v["alert_id"] for v in values(alerts) if v["article_id"] in sample_ids}
    assert got == expected, worker.log_tail()
    assert any(
        a["subscription_id"] == "kenya-abductions" for a in local_sample_run.outputs["alerts"]
    )
    _same_outputs(namespace, local_sample_run)


def test_raw_article_becomes_an_alert(namespace: Namespace, worker: Worker) -> None:
    subscribe(namespace, worker, KENYA)
    article = {
        "id": "it-1",
        "title": "Students abducted in Nairobi",
        "text": "Four students were abducted in Nairobi, Kenya, on Monday, police said.",
    }
    asyncio.run(send(namespace, topics.ARTICLES_RAW, [codecs.dumps(article)]))
    alerts = namespace.collect(topics.ALERTS, lambda rs: bool(alerts_for(rs, "it-1")), timeout=60)
    mine = alerts_for(alerts, "it-1")
    assert len(mine) == 1, worker.log_tail()
    assert mine[0]["kind"] == "new" and mine[0]["revision"] == 1
    assert mine[0]["alert_id"] == alert_id("kenya-abductions", mine[0]["story_id"])
    assert mine[0]["matched"] == {"themes": ["abduction"], "countries": ["KE"]}
    assert mine[0]["title"] == "Students abducted in Nairobi"


def test_malformed_messages_are_dead_letters_and_the_worker_goes_on(
    namespace: Namespace, worker: Worker
) -> None:
    subscribe(namespace, worker, KENYA)
    bad = [b"\xff\xfe not utf-8", b"{not json", b'{"title": "no text"}']
    good = codecs.dumps({"id": "it-2", "text": "Gunmen kidnapped a lawyer in Mombasa, Kenya."})
    meta = asyncio.run(send(namespace, topics.ARTICLES_RAW, [*bad, good]))
    raw_name = namespace.name(topics.ARTICLES_RAW)
    positions = {(m.partition, m.offset) for m in meta[:3]}

    def letters_for_mine(records: list[Any]) -> list[dict[str, Any]]:
        return [
            v
            for v in values(records)
            if v["source"]["topic"] == raw_name
            and (v["source"]["partition"], v["source"]["offset"]) in positions
        ]

    dead = namespace.collect(
        topics.DEADLETTER, lambda rs: len(letters_for_mine(rs)) == 3, timeout=60
    )
    mine = sorted(letters_for_mine(dead), key=lambda v: v["source"]["offset"])
    assert len(mine) == 3, worker.log_tail()
    assert {v["stage"] for v in mine} == {"validate"}
    assert {v["error_type"] for v in mine} == {"decode_error", "schema_violation"}
    by_encoding = {v["payload_encoding"] for v in mine}
    assert by_encoding == {"base64", "utf-8"}  # non-UTF-8 bytes survive, base64-encoded

    alerts = namespace.collect(topics.ALERTS, lambda rs: bool(alerts_for(rs, "it-2")), timeout=60)
    assert alerts_for(alerts, "it-2"), worker.log_tail()
    assert worker.proc is not None and worker.proc.poll() is None


def test_every_raw_message_is_accounted_for(namespace: Namespace, worker: Worker) -> None:
    """Runs after the tests above: valid + rejected == everything produced to the raw topic."""

    async def produced() -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=namespace.settings.brokers)
        await consumer.start()
        try:
            name = namespace.name(topics.ARTICLES_RAW)
            parts = [TopicPartition(name, p) for p in range(namespace.settings.topic_partitions)]
            return sum((await consumer.end_offsets(parts)).values())
        finally:
            await consumer.stop()

    total = asyncio.run(produced())
    assert total > 30

    def counts() -> tuple[int, int, int, int]:
        rejected = [
            v
            for v in values(namespace.collect(topics.DEADLETTER, lambda rs: True))
            if v["stage"] == "validate"
        ]
        return (
            len(namespace.collect(topics.ARTICLES_VALID, lambda rs: True)),
            len(rejected),
            len(namespace.collect(topics.ARTICLES_UNIQUE, lambda rs: True)),
            len(namespace.collect(topics.ARTICLES_DUPLICATES, lambda rs: True)),
        )

    deadline = time.monotonic() + 60
    valid, rejected, unique, duplicates = counts()
    while (
        valid + rejected != total or unique + duplicates != valid
    ) and time.monotonic() < deadline:
        time.sleep(1)
        valid, rejected, unique, duplicates = counts()
    assert valid + rejected == total, worker.log_tail()
    assert unique + duplicates == valid
    assert rejected >= 6 + 3  # the sample invalid lines and the malformed test's messages
