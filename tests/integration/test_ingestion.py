"""Ingestion on the real broker with one real worker: accounting of a hostile mix of inputs,
POST /api/articles, every CLI source (JSONL, stdin, text and HTML pages, feeds) and a
dead-letter replay round trip."""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams import codecs, topics
from streams.deadletters import REPLAY_HEADER
from streams.kafka_client import consume
from tests.conftest import KENYA_PAGE, REPO
from tests.integration.conftest import Namespace, Worker
from tests.integration.test_monitoring import get, wait_for

pytestmark = pytest.mark.integration

TOKEN = "it-token-" + "x" * 16
MAX_BYTES = 3_000_000


@pytest.fixture(scope="module")
def namespace(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    from streams.kafka_client import create_topics

    ns = Namespace(broker, tmp_path_factory.mktemp("ingest"))
    ns.env["TOCSIN_INGEST_TOKEN"] = TOKEN
    ns.env["TOCSIN_INGEST_MAX_BYTES"] = str(MAX_BYTES)
    ns.env["TOCSIN_NLP_MODEL"] = "blank"  # ingestion is under test here, not extraction
    ns.env["TOCSIN_FEEDS_FILE"] = str(ns.tmp / "feeds.sqlite")
    ns.env["TOCSIN_FEEDS_HOST_DELAY"] = "0.05"
    asyncio.run(create_topics(ns.settings))
    return ns


def values(records: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records]


async def produce_raw(ns: Namespace, payloads: list[bytes]) -> list[Any]:
    producer = AIOKafkaProducer(
        bootstrap_servers=ns.settings.brokers, acks="all", max_request_size=2_000_000
    )
    await producer.start()
    try:
        futures = [await producer.send(ns.name(topics.ARTICLES_RAW), value=p) for p in payloads]
        return [await f for f in futures]
    finally:
        await producer.stop()


def cli(ns: Namespace, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=ns.env,
        cwd=REPO,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result


def post(worker: Worker, body: bytes, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(worker.url + "/api/articles", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


def article(i: int, tag: str) -> dict[str, Any]:
    return {
        "id": f"{tag}-{i}",
        "title": f"Report {i}",
        "text": f"Report {i} ({tag}): police in Mombasa, Kenya, said {i} people were detained "
        "after a protest over fuel prices on Thursday.",
    }


def test_accounting_of_a_hostile_mix(namespace: Namespace, worker: Worker) -> None:
    """N inputs of every bad kind: valid + rejected == N exactly; nothing stuck."""
    valid = [codecs.dumps(article(i, "acc")) for i in range(12)]
    duplicates = [
        codecs.dumps({**article(0, "acc"), "id": f"acc-dup-{i}"}) for i in range(3)
    ]  # same body as acc-0: valid, then dropped by dedupe as duplicates
    bad = [
        b"{not json",
        b'{"text": "unterminated',
        b"",
        b"\xff\xfe\x00garbage",
        b'{"text": "caf\xe9 latin-1"}',
        b'{"text": "' + b"x" * 1_000_001 + b'"}',  # over 1,000,000 characters
        b'{"text": "' + "\u00e9".encode() * 520_000 + b'"}',  # over the message byte limit
        b'{"title": "no text"}',
        b'{"id": "m", "url": "https://example.com/"}',
        b'{"text": 42}',
        b'{"text": "ok", "title": ["not", "a", "string"]}',
        b'{"text": "ok", "published_at": 20241203}',
        b'{"text": "ok", "url": "not a url"}',
        b"[]",
        b"null",
    ]
    inputs = [*valid, *duplicates, *bad]
    meta = asyncio.run(produce_raw(namespace, inputs))
    n = len(inputs)
    positions = {(m.partition, m.offset) for m in meta}
    raw_name = namespace.name(topics.ARTICLES_RAW)

    def mine_valid(rs: list[Any]) -> list[dict[str, Any]]:
        return [v for v in values(rs) if str(v["id"]).startswith("acc-")]

    def mine_dead(rs: list[Any]) -> list[dict[str, Any]]:
        return [
            v
            for v in values(rs)
            if v["source"]["topic"] == raw_name
            and (v["source"]["partition"], v["source"]["offset"]) in positions
        ]

    ok = namespace.collect(topics.ARTICLES_VALID, lambda rs: len(mine_valid(rs)) >= 15)
    dead = namespace.collect(topics.DEADLETTER, lambda rs: len(mine_dead(rs)) >= len(bad))
    assert len(mine_valid(ok)) == len(valid) + len(duplicates), worker.log_tail()
    assert len(mine_dead(dead)) == len(bad), worker.log_tail()
    assert len(mine_valid(ok)) + len(mine_dead(dead)) == n
    letters = mine_dead(dead)
    assert {v["stage"] for v in letters} == {"validate"}
    assert {v["error_type"] for v in letters} == {"decode_error", "schema_violation"}
    assert sum(v["payload_encoding"] == "base64" for v in letters) == 2  # the non-UTF-8 ones
    assert any("truncated" in v["error"] for v in letters)  # the 1 MB ones still fit

    ids = {v["id"] for v in mine_valid(ok)}

    def dedupe_verdicts() -> tuple[set[str], set[str]]:
        unique = namespace.collect(topics.ARTICLES_UNIQUE, lambda rs: True)
        dups = namespace.collect(topics.ARTICLES_DUPLICATES, lambda rs: True)
        return (
            {v["id"] for v in values(unique)} & ids,
            {v["article_id"] for v in values(dups)} & ids,
        )

    # Wait until every valid id has a verdict, not for a count of unique ones: the 12 reports
    # differ by a number only, so dedupe may call some of them near-duplicates of another.
    deadline = time.monotonic() + 90
    unique_ids, dup_ids = dedupe_verdicts()
    while len(unique_ids | dup_ids) < len(ids) and time.monotonic() < deadline:
        time.sleep(1)
        unique_ids, dup_ids = dedupe_verdicts()
    n_unique, n_dups = len(unique_ids), len(dup_ids)
    assert n_unique + n_dups == len(valid) + len(duplicates)
    assert n_dups >= 3
    # Still healthy: alive, answering, and still processing new input.
    assert worker.proc is not None and worker.proc.poll() is None
    asyncio.run(produce_raw(namespace, [codecs.dumps(article(99, "after"))]))
    after = namespace.collect(
        topics.ARTICLES_VALID, lambda rs: "after-99" in {v["id"] for v in values(rs)}
    )
    assert "after-99" in {v["id"] for v in values(after)}
    assert worker.status() is not None

    # Nothing stuck: /healthz healthy and the validate stage's consumer lag back to zero.
    def caught_up() -> bool:
        status, _h, body = get(worker, "/healthz")
        health = orjson.loads(body)
        return status == 200 and health["healthy"] and health["lag"].get("validate", 1) == 0

    wait_for(caught_up, 60, "healthy /healthz with no validate lag", worker)


def test_post_articles(namespace: Namespace, worker: Worker) -> None:
    one = codecs.dumps(article(1, "http"))
    assert post(worker, one, token=None)[0] == 401
    assert post(worker, one, token="wrong")[0] == 401
    assert post(worker, b"x" * (MAX_BYTES + 1))[0] == 413
    assert post(worker, b"{nope")[0] == 400
    assert post(worker, b"[]")[0] == 400

    status, body = post(worker, one)
    assert status == 200 and body["accepted"] == 1 and body["items"][0]["id"] == "http-1"

    batch = [article(2, "http"), {"text": 5}, {"title": "no text"}, article(3, "http")]
    status, body = post(worker, codecs.dumps(batch))
    assert status == 200
    assert (body["accepted"], body["rejected"]) == (2, 2)
    verdicts = {item["index"]: item for item in body["items"]}
    assert verdicts[1]["status"] == "rejected" and "text" in verdicts[1]["error"]
    assert verdicts[2]["error_type"] == "schema_violation"
    assert verdicts[3] == {"index": 3, "status": "accepted", "id": "http-3"}

    wanted = {"http-1", "http-2", "http-3"}
    ok = namespace.collect(
        topics.ARTICLES_VALID, lambda rs: wanted <= {v["id"] for v in values(rs)}
    )
    assert wanted <= {v["id"] for v in values(ok)}
    dead = namespace.collect(
        topics.DEADLETTER,
        lambda rs: (
            sum(
                v["stage"] == "ingest" and v["source"]["topic"].startswith("http")
                for v in values(rs)
            )
            >= 2
        ),
    )
    http_letters = [v for v in values(dead) if v["source"]["topic"].startswith("http")]
    assert sorted(v["source"]["offset"] for v in http_letters)[-2:] == [1, 2]


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Site(*a, directory=str(root))
    )
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (root / "story.html").write_text(
        "<html><head><title>Lawyer kidnapped in Mombasa</title></head><body><article>"
        "<h1>Lawyer kidnapped in Mombasa</h1>"
        "<p>Gunmen kidnapped a human rights lawyer in Mombasa, Kenya, on Wednesday, "
        "colleagues said, the third such abduction in the port city this month.</p>"
        "<p>Police said they were searching for a white van seen near the lawyer's office.</p>"
        "</article></body></html>"
    )
    (root / "feed.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Coast Wire</title>'
        f"<link>{base}/</link><description>d</description>"
        f"<item><guid>cw-1</guid><title>Lawyer kidnapped</title><link>{base}/story.html</link>"
        "<description>Teaser.</description></item></channel></rss>"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def test_every_cli_source_reaches_the_valid_topic(
    namespace: Namespace, worker: Worker, site: str, tmp_path: Path
) -> None:
    jsonl = tmp_path / "batch.jsonl"
    jsonl.write_bytes(codecs.dumps(article(1, "cli")) + b"\n{broken\n")
    html = tmp_path / "page.html"
    html.write_bytes(urllib.request.urlopen(site + "/story.html", timeout=10).read())
    result = cli(namespace, "ingest", str(jsonl), str(KENYA_PAGE), str(html))
    assert result.returncode == 0, result.stderr
    assert "sent 3, rejected 1" in result.stdout
    assert f"{jsonl}:2: decode_error" in result.stderr

    result = cli(namespace, "ingest", "-", stdin=codecs.dumps(article(2, "cli")) + b"\n")
    assert result.returncode == 0 and "sent 1, rejected 0" in result.stdout, result.stderr

    assert cli(namespace, "feeds", "add", site + "/feed.xml", "--interval", "60").returncode == 0
    result = cli(namespace, "feeds", "poll", "--once")
    assert result.returncode == 0, result.stderr
    assert "sent 1 entries" in result.stdout and "fetched 1 pages" in result.stdout
    result = cli(namespace, "feeds", "poll", "--once")  # not due: nothing again
    assert "polled 0 feeds" in result.stdout and "sent 0" in result.stdout
    assert "sent 1" in cli(namespace, "feeds", "list").stdout

    def wanted(vs: list[dict[str, Any]]) -> dict[str, bool]:
        titles = [str(v.get("title")) for v in vs]
        ids = {v["id"] for v in vs}
        return {
            "jsonl": "cli-1" in ids,
            "stdin": "cli-2" in ids,
            "text page": any(t.startswith("Rights commission counts") for t in titles),
            "html page": any(t == "Lawyer kidnapped in Mombasa" for t in titles),
            "feed": any(
                t == "Lawyer kidnapped" and "Police said" in v["text"]
                for t, v in zip(titles, vs, strict=True)
            ),
        }

    ok = namespace.collect(topics.ARTICLES_VALID, lambda rs: all(wanted(values(rs)).values()))
    assert all(wanted(values(ok)).values()), (wanted(values(ok)), worker.log_tail())


def test_dead_letter_replay_round_trip(namespace: Namespace, worker: Worker) -> None:
    started = time.time()
    bad = b'{"id": "replay-me", "text": 7}'
    (meta,) = asyncio.run(produce_raw(namespace, [bad]))
    raw_name = namespace.name(topics.ARTICLES_RAW)

    def letters_of(rs: list[Any]) -> list[dict[str, Any]]:
        return [v for v in values(rs) if v["payload"] == bad.decode()]

    namespace.collect(topics.DEADLETTER, lambda rs: len(letters_of(rs)) >= 1)
    listing = cli(namespace, "dlq", "list", "--stage", "validate", "--json", "--since", "5m")
    listed = [orjson.loads(line) for line in listing.stdout.splitlines()]
    assert any(v["payload"] == bad.decode() for v in listed), listing.stderr
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started - 1))
    dry = cli(namespace, "dlq", "replay", "--stage", "validate", "--since", since, "--dry-run")
    assert "would replay 0 dead letters; held back 1" in dry.stdout, dry
    # As it is, the letter can only fail again: held back unless forced (a fix by hand goes
    # through `dlq export` and `replay --from`, tests/integration/test_first_hour.py).
    held = cli(namespace, "dlq", "replay", "--stage", "validate", "--since", since)
    assert held.returncode == 1 and "cannot succeed as it is" in held.stdout, held

    result = cli(namespace, "dlq", "replay", "--stage", "validate", "--since", since, "--force")
    assert result.returncode == 0 and f"to {raw_name}" in result.stdout, result.stderr

    async def replayed() -> list[Any]:
        return [
            r
            async for r in consume(namespace.settings, raw_name, idle_timeout=2, timeout=30)
            if r.value == bad and any(h[0] == REPLAY_HEADER for h in (r.headers or ()))
        ]

    copies = asyncio.run(replayed())
    assert copies and all((c.partition, c.offset) != (meta.partition, meta.offset) for c in copies)
    # The worker sees the replayed bytes again: a second dead letter, from the new position.
    dead = namespace.collect(topics.DEADLETTER, lambda rs: len(letters_of(rs)) >= 2)
    positions = {(v["source"]["partition"], v["source"]["offset"]) for v in letters_of(dead)}
    assert (meta.partition, meta.offset) in positions and len(positions) >= 2
