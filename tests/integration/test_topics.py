"""Topics that are not there yet, or not as declared (issue 22 item 1, issue 19): a worker
started first refuses in one line, or creates them right when told to; `tocsin topics create`
reports and repairs what differs; a consumer started before its topic picks it up, and the
commands that write or read a topic once say in one line that it is missing, at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams import codecs, topics
from streams.kafka_client import check_topics, create_topics, produce
from tests.integration.conftest import REPO, Namespace, Worker
from tests.integration.test_ingestion import cli

pytestmark = pytest.mark.integration

# A worker that starts fast: patterns instead of the model, extraction in the worker.
FAST = {"TOCSIN_NLP_MODEL": "blank", "TOCSIN_EXTRACT_PROCESSES": "0"}


async def _ours(ns: Namespace) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.settings.brokers)
    await admin.start()
    try:
        prefixes = (ns.settings.topic_prefix, ns.settings.app_id + "-")
        return sorted(t for t in await admin.list_topics() if t.startswith(prefixes))
    finally:
        await admin.close()


async def _make(ns: Namespace, *new: NewTopic) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=ns.settings.brokers)
    await admin.start()
    try:
        await admin.create_topics(list(new))
    finally:
        await admin.close()


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_a_worker_started_before_the_topics(broker: str, tmp_path: Path) -> None:
    ns = Namespace(broker, tmp_path, **FAST)
    refused = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=ns.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused
    line = _one_line(refused.stderr)
    wanted = len(topics.ALL) + len(topics.TABLES)
    assert line.startswith(
        f"tocsin: topics on {broker} are not as tocsin needs them: {wanted} missing "
        f"({ns.name(topics.ARTICLES_RAW)}, "
    ), line
    assert line.endswith(
        "run `tocsin topics create` (or start the worker with TOCSIN_CREATE_TOPICS=true)"
    ), line
    assert asyncio.run(_ours(ns)) == []  # asking created nothing

    # Told to, it creates them as `tocsin topics create` would, then works.
    worker = Worker(ns, TOCSIN_CREATE_TOPICS="true")
    worker.start()
    try:
        worker.wait(lambda s: s["subscriptions_ready"], timeout=90)
        assert len(asyncio.run(_ours(ns))) == wanted
        assert asyncio.run(check_topics(ns.settings)) == []
        article = {
            "id": "topics-first",
            "title": "Protest in Nairobi",
            "text": "Police fired tear gas at protesters in Nairobi, Kenya, on Tuesday.",
        }
        raw = [(None, codecs.dumps(article))]
        asyncio.run(produce(ns.settings, ns.name(topics.ARTICLES_RAW), raw))
        events = ns.collect(topics.EVENTS, lambda rs: len(rs) >= 1, timeout=60)
        assert [orjson.loads(r.value)["article_id"] for r in events] == ["topics-first"], (
            worker.log_tail()
        )
        assert f"created {ns.name(topics.EVENTS)}" in worker.log_path.read_text()
    finally:
        worker.stop()


def test_topics_create_reports_and_repairs_what_differs(broker: str, tmp_path: Path) -> None:
    """Topics as a broker's auto-creation would make them (one partition, not compacted) and
    a state topic with a short retention: reported, repaired where that is safe, and the
    worker refuses while a partition count is wrong."""
    ns = Namespace(broker, tmp_path)
    events, subs = ns.name(topics.EVENTS), ns.name(topics.SUBSCRIPTIONS)
    bands = ns.name(topics.DEDUPE_BANDS)
    asyncio.run(
        _make(
            ns,
            NewTopic(events, 1, 1),
            NewTopic(subs, 1, 1, topic_configs={"cleanup.policy": "delete"}),
            NewTopic(bands, 6, 1, topic_configs={"retention.ms": "3600000"}),
        )
    )
    made = cli(ns, "topics", "create")
    assert made.returncode == 1, made
    out = made.stdout.splitlines()
    assert f"DIFFERS  {events}  (partitions 1 (expected 6))" in out
    assert (
        f"DIFFERS  {subs}  (partitions 1 (expected 6); "
        "fixed: cleanup.policy delete (expected compact))"
    ) in out
    window = topics.state_retention_ms(ns.settings)
    assert f"fixed    {bands}  (fixed: retention.ms 3600000 (expected >= {window}))" in out
    assert sum(line.startswith("created  ") for line in out) == len(out) - 3
    assert _one_line(made.stderr) == (
        "tocsin: 2 topics differ from what tocsin needs: add the missing partitions with "
        "`tocsin topics create --add-partitions` (records already there keep their partition)"
    )

    refused = cli(ns, "worker")
    assert refused.returncode == 2, refused
    line = _one_line(refused.stderr)
    assert f"{events} partitions 1 (expected 6); {subs} partitions 1 (expected 6)" in line
    assert "tocsin topics create --add-partitions" in line

    fixed = cli(ns, "topics", "create", "--add-partitions")
    assert fixed.returncode == 0, fixed
    assert f"fixed    {events}  (fixed: partitions 1 (expected 6))" in fixed.stdout
    assert asyncio.run(check_topics(ns.settings)) == []
    again = cli(ns, "topics", "create")
    assert again.returncode == 0 and all(x.startswith("ok ") for x in again.stdout.splitlines())


def test_a_consumer_started_before_its_topic(broker: str, tmp_path: Path) -> None:
    """`tocsin alerts tail` waits for its topic, says so, and reads it once it is made; the
    one-shot commands fail at once with one line."""
    ns = Namespace(broker, tmp_path)
    err = tmp_path / "tail.err"
    command = ["alerts", "tail", "--json", "--count", "1", "--timeout", "60"]
    with err.open("wb") as stderr:
        tail = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", *command],
            env=ns.env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while b"waiting for topic" not in err.read_bytes() and time.monotonic() < deadline:
            assert tail.poll() is None, err.read_text()
            time.sleep(0.2)
        alerts = ns.name(topics.ALERTS)
        assert _one_line(err.read_text()) == (
            f"tocsin: waiting for topic {alerts} to be created (`tocsin topics create`)"
        )

        for args in (
            ["ingest", str(REPO / "streams" / "samples" / "articles.jsonl")],
            ["subscriptions", "list"],
            ["dlq", "list"],
        ):
            # Returns at all (cli() gives up after 120 s): a few seconds' patience, no stall.
            failed = cli(ns, *args)
            assert failed.returncode == 2, failed
            assert "missing" in _one_line(failed.stderr), failed
            assert "run `tocsin topics create`" in failed.stderr
        assert asyncio.run(_ours(ns)) == []

        asyncio.run(create_topics(ns.settings))
        value = {"alert_id": "early", "revision": 1, "kind": "new", "title": "t"}
        asyncio.run(produce(ns.settings, alerts, [(b"k", codecs.dumps(value))]))
        out, _ = tail.communicate(timeout=60)
        assert tail.returncode == 0, err.read_text()
        assert [orjson.loads(x)["alert_id"] for x in out.splitlines()] == ["early"]
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
