"""The thin shell: each agent decodes, calls its stage, routes and never crashes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock

import orjson

from streams import codecs, topics
from streams.models import EventRecord, SourceRef, Subscription
from streams.pipeline import dedupe as dedupe_stage
from streams.pipeline.stories import story_key
from streams.schemas import validator
from tests.agents.conftest import WORKER

AGENTS = WORKER.agents
DEDUPE = WORKER.parts["dedupe"]
registry = WORKER.registry


async def eventually(condition: Any, timeout: float = 60.0) -> None:
    """Wait for work the agent hands to its executor thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def sent(mock: AsyncMock) -> list[tuple[bytes, dict[str, Any]]]:
    return [(c.kwargs["key"], orjson.loads(c.kwargs["value"])) for c in mock.call_args_list]


async def test_validate_routes_valid_and_rejected(
    test_app: Any, sends: dict[str, AsyncMock]
) -> None:
    async with AGENTS["validate"].test_context() as agent:
        await agent.put(b'{"id": "v1", "text": "Riots in Paris."}')
        await agent.put(b"\xff not utf-8")
        await agent.put(b'{"text": 7}')
        await agent.put(b'{"id": "v2", "text": "Protest in Nairobi."}')  # still processing
    valid = sent(sends["articles_valid"])
    assert [v["id"] for _k, v in valid] == ["v1", "v2"]
    assert all(k == v["content_hash"].encode() for k, v in valid)
    letters = sent(sends["deadletter"])
    assert [(k, v["error_type"]) for k, v in letters] == [
        (b"validate", "decode_error"),
        (b"validate", "schema_violation"),
    ]
    assert letters[0][1]["payload_encoding"] == "base64"
    assert set(letters[0][1]["source"]) == {"topic", "partition", "offset"}


async def test_dedupe_scatters_probes_and_gathers(
    test_app: Any, sends: dict[str, AsyncMock]
) -> None:
    """The three dedupe agents chained by hand: exact copy, near copy, and a broken record."""
    text = (
        "Police in Nairobi said on Monday that four students were abducted from a hostel by "
        "armed men, and that officers were searching the city and the roads leading out of it."
    )
    article = {
        "id": "d1",
        "content_hash": "ab" * 32,
        "text": text,
        "title": None,
        "url": None,
        "published_at": None,
        "source": None,
        "language": None,
    }
    near = {**article, "id": "d3", "content_hash": "cd" * 32, "text": text + " More soon."}
    async with AGENTS["dedupe"].test_context() as agent:
        await agent.put(codecs.dumps(article))
        await agent.put(codecs.dumps({**article, "id": "d2"}))  # same content hash
        await agent.put(codecs.dumps(near))
        await agent.put(b'{"no": "fields"}')  # a broken upstream record: dead letter, not a crash
    assert [(v["article_id"], v["kind"]) for _k, v in sent(sends["articles_duplicates"])] == [
        ("d2", "exact")
    ]
    assert [v["error_type"] for _k, v in sent(sends["deadletter"])] == ["KeyError"]
    probes = sent(sends["dedupe_bands"])
    # One message per partition that owns some of an article's band keys, sent to that
    # partition: every band of both scattered articles (no URLs) exactly once.
    partitions = DEDUPE.config.probe_partitions
    assert len(probes) <= 2 * partitions
    assert sorted(b for _k, v in probes for _key, b in v["bands"]) == sorted(
        2 * list(range(DEDUPE.config.layout.bands))
    )
    for call, (key, value) in zip(sends["dedupe_bands"].call_args_list, probes, strict=True):
        assert key == value["article_id"].encode()
        owners = {dedupe_stage.probe_partition(k, partitions) for k, _b in value["bands"]}
        assert owners == {call.kwargs["partition"]}
    async with AGENTS["dedupe-probe"].test_context() as agent:
        for _k, value in probes:
            await agent.put(codecs.dumps(value))
    gathered = sent(sends["dedupe_verdicts"])
    assert all(k == v["article_id"].encode() for k, v in gathered)
    async with AGENTS["dedupe-decide"].test_context() as agent:
        for _k, value in gathered:
            await agent.put(codecs.dumps(value))
    assert [v["id"] for _k, v in sent(sends["articles_unique"])] == ["d1"]
    dups = [
        (v["article_id"], v["duplicate_of"], v["kind"])
        for _k, v in sent(sends["articles_duplicates"])
    ]
    assert dups == [("d2", "d1", "exact"), ("d3", "d1", "near")]


async def test_extract_batches_off_the_loop(test_app: Any, sends: dict[str, AsyncMock]) -> None:
    article = {
        "id": "e1",
        "content_hash": "cd" * 32,
        "text": "Gunmen abducted ten people in Nairobi.",
        "title": "Abductions in Kenya",
        "url": None,
        "published_at": None,
        "source": None,
        "language": None,
    }
    async with AGENTS["extract"].test_context() as agent:
        await agent.put(codecs.dumps(article))
        await agent.put(b"[]")
        await eventually(lambda: sends["events"].call_count >= 1)
    events = sent(sends["events"])
    assert len(events) == 1
    key, record = events[0]
    assert "abduction" in record["themes"] and "KE" in record["countries"]
    # Keyed by story key (the language space): every candidate story is on one partition.
    assert key == story_key(EventRecord.from_dict(record)).encode() == b"en"
    assert [v["stage"] for _k, v in sent(sends["deadletter"])] == ["extract"]


async def test_a_failing_extraction_pool_dead_letters_its_batch(
    test_app: Any, sends: dict[str, AsyncMock], monkeypatch: Any
) -> None:
    """``pool.extract`` runs inside the error boundary: its failure is data, not a crash."""
    article = {
        "id": "e2",
        "content_hash": "ef" * 32,
        "text": "Gunmen abducted ten people in Nairobi.",
        "title": None,
        "url": None,
        "published_at": None,
        "source": None,
        "language": None,
    }
    pool = await WORKER.parts["extract"].get_pool()

    async def broken(articles: Any) -> Any:
        raise RuntimeError("extraction process died")

    monkeypatch.setattr(pool, "extract", broken)
    async with AGENTS["extract"].test_context() as agent:
        await agent.put(codecs.dumps(article))
        await eventually(lambda: sends["deadletter"].call_count >= 1)
    letters = [v for _k, v in sent(sends["deadletter"])]
    assert [(v["stage"], v["error_type"]) for v in letters] == [("extract", "RuntimeError")]
    assert orjson.loads(letters[0]["payload"])["id"] == "e2"
    assert sends["events"].call_count == 0


async def test_a_failing_band_index_dead_letters_the_probe(
    test_app: Any, sends: dict[str, AsyncMock], monkeypatch: Any
) -> None:
    """``bands.at`` (the index rebuild) runs inside the error boundary too."""

    async def broken(partition: int, offset: int) -> Any:
        raise OSError("index store unreadable")

    monkeypatch.setattr(DEDUPE.bands, "at", broken)
    async with AGENTS["dedupe-probe"].test_context() as agent:
        await agent.put(b'{"article_id": "p1", "probes": []}')
    letters = [v for _k, v in sent(sends["deadletter"])]
    assert [(v["stage"], v["error_type"]) for v in letters] == [("dedupe", "OSError")]


async def test_stories_then_match_send_one_alert_then_an_update(
    test_app: Any, sends: dict[str, AsyncMock]
) -> None:
    registry.clear()
    registry.apply(
        b"ke",
        codecs.dumps({"id": "ke", "themes": ["abduction"], "countries": ["KE"]}),
        SourceRef("t", 0, 0),
    )
    registry.apply(
        b"ng",
        codecs.dumps({"id": "ng", "query": "theme:abduction AND country:NG"}),
        SourceRef("t", 0, 1),
    )
    registry.ready.set()

    def record(article_id: str, source: str) -> dict[str, Any]:
        return {
            "article_id": article_id,
            "themes": ["abduction"],
            "primary_theme": "abduction",
            "countries": ["KE"],
            "actors": ["Kenya National Commission on Human Rights"],
            "places": [{"text": "nairobi", "country": "KE", "region": "KE-30"}],
            "evidence": [],
            "title": "Rights commission reports 82 abductions in Nairobi",
            "url": None,
            "source": source,
            "published_at": "2024-11-26T06:15:00Z",
            "model": "blank-en",
        }

    async with AGENTS["stories"].test_context() as agent:
        await agent.put(codecs.dumps(record("e1", "Nairobi Daily")))
        await agent.put(codecs.dumps(record("e2", "Lakeside Herald")))
        await agent.put(b"{}")  # not an event record: a dead letter, and the agent goes on
    updates = sent(sends["stories"])
    assert len(updates) == 2 and updates[0][0] == updates[1][0] == b"en"  # keyed by story key
    assert [u["source_count"] for _k, u in updates] == [1, 2]
    # The same agent matched each update (stories and match are one step).
    alerts = sent(sends["alerts"])
    assert [(k, v["subscription_id"], v["kind"], v["revision"]) for k, v in alerts] == [
        (b"ke", "ke", "new", 1),
        (b"ke", "ke", "update", 2),
    ]
    assert alerts[0][1]["alert_id"] == alerts[1][1]["alert_id"]
    assert [v["stage"] for _k, v in sent(sends["deadletter"])] == ["stories"]


async def test_story_copies_dead_letters_follow_the_dead_letter_schema(
    test_app: Any, sends: dict[str, AsyncMock]
) -> None:
    async with AGENTS["story-copies"].test_context() as agent:
        await agent.put(b"{}")  # neither a duplicate nor a membership
    letters = sent(sends["deadletter"])
    assert [v["stage"] for _k, v in letters] == ["story_copies"]
    check = validator(topics.DEADLETTER.schema_file)
    assert not list(check.iter_errors(letters[0][1]))


def test_registry_applies_updates_tombstones_and_rejects_bad_records() -> None:
    registry.clear()
    src = SourceRef("subs", 0, 0)
    assert registry.apply(b"a", codecs.dumps({"id": "a", "themes": ["riot"]}), src) is None
    assert isinstance(registry.current["a"], Subscription)
    assert registry.apply(b"a", None, src) is None
    assert "a" not in registry.current
    bad = registry.apply(b"b", codecs.dumps({"id": "b"}), src)
    assert bad is not None and bad.stage == "subscriptions"
    mismatch = registry.apply(b"c", codecs.dumps({"id": "d", "themes": ["riot"]}), src)
    assert mismatch is not None and mismatch.error_type == "key_mismatch"
    assert registry.apply(b"e", b"{", src) is not None


def test_rejected_subscriptions_leave_their_webhook_secret_out_of_dead_letters() -> None:
    src = SourceRef("subs", 0, 3)
    bad = {"id": "s", "themes": ["riot"], "webhook": {"url": "ftp://x", "secret": "hunter2-xyz"}}
    letter = registry.apply(b"s", codecs.dumps(bad), src)
    assert letter is not None and letter.stage == "subscriptions"
    assert b"hunter2" not in codecs.dumps(letter.to_dict())
    assert orjson.loads(letter.payload)["webhook"] == {"url": "ftp://x", "secret": "[redacted]"}
    short = {
        "id": "s",
        "themes": ["riot"],
        "webhook": {"url": "https://x.example", "secret": "hunter2"},
    }
    letter = registry.apply(b"s", codecs.dumps(short), src)
    assert letter is not None and letter.error == "webhook/secret: expected at least 16 characters"
    broken = b'{"id": "s", "webhook": {"secret": "hunter2-xyz", "url": '
    letter = registry.apply(b"s", broken, src)
    assert letter is not None and b"hunter2" not in letter.payload


async def test_a_dead_letter_can_carry_what_replays_the_failed_work(
    test_app: Any, sends: dict[str, AsyncMock]
) -> None:
    from streams.models import Rejected

    message = SimpleNamespace(topic="ticks", partition=3, offset=7, key=None, value=b"{}")
    tick = b'{"sent_at": 1, "digest": {}}'
    await WORKER.dead_letter(
        "deliver", SimpleNamespace(message=message), Rejected("webhook_failed", "x"), ("t2", tick)
    )
    ((_key, letter),) = sent(sends["deadletter"])
    assert letter["source"] == {"topic": "t2", "partition": 3, "offset": 7}
    assert letter["payload"] == tick.decode() and letter["key"] is None


def test_worker_producer_is_idempotent_with_acks_all(test_app: Any) -> None:
    """faust enables idempotence only for exactly_once; ours asks for it at least once too, so
    a retried send after a leader change is not written twice."""
    settings = test_app.producer._settings_extra()
    assert settings["enable_idempotence"] is True and settings["acks"] == "all"


async def test_producer_flush_waits_for_every_buffered_table_write(test_app: Any) -> None:
    """faust's buffer flush returns once a send takes over 0.1 s, with writes still queued;
    ours returns only when all were handed to the client (faust flushes before it commits
    offsets, so a commit must not get ahead of table writes)."""
    from faust.transport.producer import ProducerBuffer

    from streams.app import DrainingBuffer

    async def drained(buffer_type: type) -> list[int]:
        published: list[int] = []

        class Channel:
            async def publish_message(self, fut: Any, wait: bool = False) -> None:
                await asyncio.sleep(0.15)  # slower than faust's 0.1 s patience
                published.append(fut.n)

        buffer = buffer_type(loop=asyncio.get_running_loop())
        buffer.app = test_app
        await buffer.start()
        try:
            for n in range(3):
                buffer.put(SimpleNamespace(n=n, message=SimpleNamespace(channel=Channel())))
            await buffer.flush()
            return list(published)
        finally:
            while len(published) < 3:  # let the rest go before stopping
                await asyncio.sleep(0.05)
            await buffer.stop()

    assert await drained(DrainingBuffer) == [0, 1, 2]
    assert await drained(ProducerBuffer) != [0, 1, 2]  # the faust behaviour it replaces


def test_tables_open_rocksdb_within_their_memory_budget(tmp_path: Any) -> None:
    from faust.stores.rocksdb import RocksDBOptions

    from streams.agents._state import rocksdb_options, table_memory

    options = rocksdb_options(32)
    assert options["driver"] == "rocksdict"
    rocks = RocksDBOptions(
        **{k: v for k, v in options.items() if k != "driver"}, use_rocksdict=True
    )
    assert (rocks.write_buffer_size, rocks.max_write_buffer_number) == (8 << 20, 2)
    assert rocks.block_cache_size == 16 << 20
    db = rocks.open(tmp_path / "db")
    db[b"k"] = b"v" * 1000
    assert db.property_int_value("rocksdb.cur-size-all-mem-tables") > 1000
    db.close()
    sizes = table_memory()  # the agent tests' memory store: every table, no RocksDB bytes
    assert {"dedupe-bands", "stories", "story-copies"} <= set(sizes)
    assert set(sizes.values()) == {0}


async def test_deliver_and_stories_iterate_their_streams_before_the_subscriptions_load() -> None:
    """faust hands a topic's records to an agent only once the agent's stream is iterated:
    an agent that awaits the subscriptions before its loop lets the records fetched meanwhile
    go to any other reader of the topic in the app, which commits them, and after a worker
    restart an alert is never POSTed (seen in the worker-kill fault test when a stats agent
    also read news.alerts.v1). Both agents that need the subscriptions iterate at once and
    wait per event."""

    class Probe:
        def __init__(self) -> None:
            self.iterated = asyncio.Event()

        async def events(self) -> AsyncIterator[Any]:
            self.iterated.set()
            await asyncio.Event().wait()  # no record comes
            yield None

    was_ready = registry.ready.is_set()
    registry.ready.clear()
    try:
        for name in ("deliver", "stories"):
            probe = Probe()
            task = asyncio.ensure_future(AGENTS[name].fun(probe))
            try:
                await asyncio.wait_for(probe.iterated.wait(), 5)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        if was_ready:
            registry.ready.set()


async def test_statistics_due_without_an_event_in_hand_wait_for_the_next_one(
    test_app: Any, sends: dict[str, AsyncMock], monkeypatch: Any
) -> None:
    """The extract agent reads batches (``take_events``), which faust consumes in another task:
    it has no event in hand, and faust refuses a table write there. Sums that fall due while
    it reports a batch wait for the next event a step handles instead of being lost (a
    worker-kill fault run logged "Cannot modify table key from outside of stream iteration")."""
    from streams.agents._boundary import COUNTS
    from streams.agents.stats import parse_row_key
    from streams.pipeline import stats

    part = WORKER.parts["stats"]
    counter = stats.counter_keys(stats.ARTICLE_IN, None)[0]

    def written() -> int:
        """The articles read, as the 1-minute rows hold them."""
        rows = [(parse_row_key(k), raw) for k, raw in list(part.rows.items()) if raw]
        return sum(codecs.loads(raw).get(counter, 0) for p, raw in rows if p and p[0] == "1m")

    monkeypatch.setattr(part.tally, "every", 0.0)  # every handled event is due
    errors = COUNTS[(stats.STAGE, "error")]
    before = written()
    part.tally.take(0)
    part.counted(stats.ARTICLE_IN, None, time.time())
    part.handled(3, time.time())  # as the extract agent reports a batch: no event in hand
    assert COUNTS[(stats.STAGE, "error")] == errors
    assert sum(n for _k, n in part.tally.entries("1m", time.time())) == 1  # still pending
    async with AGENTS["validate"].test_context() as agent:
        await agent.put(b'{"id": "st1", "text": "Riots in Paris."}')
    assert COUNTS[(stats.STAGE, "error")] == errors
    assert list(part.tally.entries("1m", time.time())) == []
    assert written() == before + 2  # the one that waited and the validate step's own read
