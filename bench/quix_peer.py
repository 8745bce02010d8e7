"""A Quix Streams peer of tocsin's validate / dedupe / match stages, for throughput comparison.

One Quix Streams ``Application`` (fresh consumer group, ``auto_offset_reset="earliest"``, state
in its own temporary directory, ``processing_guarantee="at-least-once"``, Quix's defaults
otherwise: changelog topics on, 5 s commit interval) runs tocsin's own pure stage functions
(``streams/pipeline``), called as the local driver (``pipeline/driver.py``) and the faust
agents (``agents/dedupe.py``) call them, over these topics (all but the source created here
with ONE partition, names prefixed ``quix-<tag>.``)::

    source (raw bytes, any key, any partition count)
      -> validate.validate_article -> news.deadletter.v1 (a driver.dead_letter record, key
         "validate") | news.articles.valid.v1 (key: content hash)
    valid (key content hash; state: dedupe_exact's "c:<hash>")
      -> dedupe.dedupe_exact -> news.articles.duplicates.v1 (key: the original's id)
      -> else dedupe.scatter: its gather record -> news.dedupe.verdicts.v1 (key article id)
         and dedupe.group_probes(probes, 1): one group -> news.dedupe.bands.v1 (key "0")
    bands (key "0"; state: the band buckets)
      -> dedupe.probe_group -> its report -> verdicts (key article id)
    verdicts (key article id; state: gather's "a:"/"p:"/"d:" entries)
      -> dedupe.gather -> duplicates (key: the original's id) | news.articles.unique.v1
    unique (key article id; state: match_story's entries)
      -> an EventRecord without NLP -> match.match_story -> news.alerts.v1 (key subscription id)

State is Quix's (``apply(..., stateful=True)``), seen by the stage functions through
:class:`StateMap`, a ``MutableMapping`` over Quix's ``State`` (get/set/delete/exists). Quix
scopes state by message key, so each step is keyed as the faust agent's table is read: the
exact check by content hash, the gather step by article id, and the band probe by its owning
partition ("0": with one bands partition every band bucket lives under that one key, as a
faust table partition holds every band key routed to it). Sweeps (``dedupe.sweep``,
``match.sweep``) need to iterate the state, which Quix's ``State`` cannot, so they are skipped:
a benchmark run is far shorter than any expiry window.

Match without NLP: each unique article's ``EventRecord`` has no themes, countries, actors,
places or events; ``title`` is the article's title and ``text`` its body (cut to
``TEXT_MAX`` as extract cuts it), and ``match.facts_of`` reads title + body, so keyword queries
see both and facet queries (``theme:``, ``country:``...) cannot match. There is no stories
stage: each unique article is a story of its own (id ``stories.story_id(story_key, article
id)``), so every alert is ``kind="new"``.

Every input ends in exactly one of deadletter / duplicates / unique (plus its alerts).
:func:`run_quix` times from the first record processed (so topic creation, assignment and
recovery are excluded) to the moment the n-th input reached its final output, then stops the
app (which commits and flushes). Call it from the main thread: Quix installs signal handlers
(restored afterwards).

    .venv/bin/python -m bench.quix_peer --broker 127.0.0.1:9096 --corpus bbc --articles 500
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from itertools import islice
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from quixstreams import Application, State, message_context
from quixstreams.models import TopicConfig

from streams import schemas, topics
from streams.models import TEXT_MAX, Article, Duplicate, EventRecord, Rejected, SourceRef
from streams.pipeline import dedupe, match, stories, validate
from streams.pipeline.driver import dead_letter, now_rfc3339
from streams.sources.files import iter_inputs

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CORPORA = {"bbc": DATA / "bbc-news-2225" / "bbc_news.jsonl"}
BANDS_KEY = "0"  # the one bands partition: every band bucket lives under this Quix state key
CATCH_ALL = {"id": "bench-all", "name": "Everything", "query": "the OR a OR of"}

V = TypeVar("V")
_MISSING = object()


class StateMap(MutableMapping[str, V], Generic[V]):
    """A Quix ``State`` as the ``MutableMapping`` tocsin's stage functions take.

    Lookups, writes and deletes only; iteration and ``len`` raise ``TypeError`` (Quix's state
    of one key cannot be listed), which is why the stages' sweeps are not run."""

    __slots__ = ("_state",)

    def __init__(self, state: State) -> None:
        self._state = state

    def __getitem__(self, key: str) -> V:
        value = self._state.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None) -> Any:
        return self._state.get(key, default)

    def __setitem__(self, key: str, value: V) -> None:
        self._state.set(key, value)

    def __delitem__(self, key: str) -> None:
        if not self._state.exists(key):
            raise KeyError(key)
        self._state.delete(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._state.exists(key)

    def __iter__(self) -> Iterator[str]:
        raise TypeError("Quix state cannot be iterated: sweeps are not supported")

    def __len__(self) -> int:
        raise TypeError("Quix state has no length")


def event_record(article: Article) -> EventRecord:
    """What extract would emit for ``article`` with no NLP: no facets, title and body only."""
    return EventRecord(
        article_id=article.id,
        themes=(),
        primary_theme=None,
        countries=(),
        actors=(),
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        text=article.text[:TEXT_MAX],
    )


def solo_story(record: EventRecord, now: float) -> stories.StoryUpdate:
    """``record`` as the first (and only) article of its own story."""
    key = stories.story_key(record)
    seen = stories.rfc3339(stories.event_time(record, now))
    sources = (record.source,) if record.source else ()
    return stories.StoryUpdate(
        story_id=stories.story_id(key, record.article_id),
        key=key,
        is_new=True,
        article=record,
        first_seen=seen,
        last_seen=seen,
        article_count=1,
        source_count=len(sources),
        sources=sources,
        article_ids=(record.article_id,),
        title=record.title,
    )


def parse_subscriptions(data: list[dict[str, Any]]) -> match.Matcher:
    """tocsin's matcher over ``data`` (subscription dicts); a bad one raises ``ValueError``."""
    validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
    subs = []
    for item in data:
        sub = match.parse_subscription(item, validator)
        if isinstance(sub, Rejected):
            raise ValueError(f"subscription {item.get('id')!r}: {sub.error}")
        subs.append(sub)
    return match.Matcher.of(subs)


class _Progress:
    """Inputs that reached their final output; stops the app at ``n``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.counts: dict[str, int] = {}
        self.app: Application | None = None

    def start(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def count(self, output: str, k: int = 1) -> None:
        self.counts[output] = self.counts.get(output, 0) + k

    def finish(self, output: str) -> None:
        self.count(output)
        self.done += 1
        if self.done == self.n:
            self.finished = time.perf_counter()
            assert self.app is not None
            self.app.stop()


def run_quix(
    broker: str,
    source_topic: str,
    n: int,
    subscriptions: list[dict[str, Any]],
    timeout: float = 600,
) -> dict[str, Any]:
    """Validate, dedupe and match the ``n`` raw articles in ``source_topic`` with Quix Streams.

    Returns ``{"articles": n, "seconds": s, "rate": n / s, "outputs": {...}}``, ``s`` from the
    first record processed to the n-th input's final output. ``outputs`` counts messages sent:
    valid, deadletter, duplicates (= duplicates_exact + duplicates_near), unique, bands (probe
    groups), matched (unique articles through the matcher) and alerts. Raises ``TimeoutError``
    if not all ``n`` are through within ``timeout`` seconds of the app's start."""
    matcher = parse_subscriptions(subscriptions)
    config = dedupe.DedupeConfig()
    raw_validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    tag = uuid.uuid4().hex[:8]
    progress = _Progress(n)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    timer: threading.Timer | None = None
    with tempfile.TemporaryDirectory(prefix="quix-peer-") as state_dir:
        app = Application(
            broker_address=broker,
            consumer_group=f"quix-peer-{tag}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            processing_guarantee="at-least-once",
            loglevel="WARNING",
        )
        progress.app = app
        one = TopicConfig(num_partitions=1, replication_factor=1)

        def topic(spec: topics.TopicSpec) -> Any:
            return app.topic(
                f"quix-{tag}.{spec.name}", key_serializer="str", key_deserializer="str", config=one
            )

        source = app.topic(source_topic, value_deserializer="bytes", key_deserializer="bytes")
        valid, bands, verdicts = (
            topic(topics.ARTICLES_VALID),
            topic(topics.DEDUPE_BANDS),
            topic(topics.DEDUPE_VERDICTS),
        )
        unique, duplicates = topic(topics.ARTICLES_UNIQUE), topic(topics.ARTICLES_DUPLICATES)
        deadletter, alerts = topic(topics.DEADLETTER), topic(topics.ALERTS)

        def validate_step(payload: bytes) -> dict[str, Any]:
            progress.start()
            outcome = validate.validate_article(payload, raw_validator)
            if isinstance(outcome, Rejected):
                ctx = message_context()
                ref = SourceRef(ctx.topic, ctx.partition, ctx.offset)
                progress.finish("deadletter")
                return dead_letter(validate.STAGE, ref, payload, outcome).to_dict()
            progress.count("valid")
            return outcome.to_dict()

        def exact_step(value: dict[str, Any], state: State) -> list[dict[str, Any]]:
            now = time.time()
            article = Article.from_dict(value)
            verdict = dedupe.dedupe_exact(article, StateMap[str](state), now, config.window_s)
            if isinstance(verdict, Duplicate):
                progress.finish("duplicates")
                progress.count("duplicates_exact")
                return [verdict.to_dict()]
            record, probes = dedupe.scatter(article, config, now)
            groups = dedupe.group_probes(probes, 1)
            progress.count("bands", len(groups))
            return [record, *(g.to_dict() for g in groups.values())]

        def probe_step(value: dict[str, Any], state: State) -> dict[str, Any]:
            group = dedupe.ProbeGroup.from_dict(value)
            return dedupe.probe_group(group, StateMap[str](state), time.time(), config)

        def gather_step(value: dict[str, Any], state: State) -> dict[str, Any] | None:
            verdict = dedupe.gather(value, StateMap[str](state), time.time(), config)
            if isinstance(verdict, Duplicate):
                progress.finish("duplicates")
                progress.count("duplicates_near")
            elif verdict is not None:
                progress.count("unique")
            return None if verdict is None else verdict.to_dict()

        def match_step(value: dict[str, Any], state: State) -> list[dict[str, Any]]:
            now = time.time()
            update = solo_story(event_record(Article.from_dict(value)), now)
            found = match.match_story(update, matcher, StateMap[Any](state), now_rfc3339(), now)
            progress.count("alerts", len(found))
            progress.finish("matched")
            return [a.to_dict() for a in found]

        # Each message goes to one topic, chosen by its content: no branch copies the value.
        app.dataframe(source).apply(validate_step).to_topic(
            lambda v, *_: deadletter if "stage" in v else valid,
            key=lambda v: v["stage"] if "stage" in v else v["content_hash"],
        )
        app.dataframe(valid).apply(exact_step, stateful=True, expand=True).to_topic(
            lambda v, *_: (
                duplicates
                if "duplicate_of" in v
                else (verdicts if v.get("type") == "article" else bands)
            ),
            key=lambda v: (
                v.get("duplicate_of")
                or (v["article_id"] if v.get("type") == "article" else BANDS_KEY)
            ),
        )
        app.dataframe(bands).apply(probe_step, stateful=True).to_topic(
            verdicts, key=lambda v: v["article_id"]
        )
        app.dataframe(verdicts).apply(gather_step, stateful=True).filter(
            lambda v: v is not None
        ).to_topic(
            lambda v, *_: duplicates if "duplicate_of" in v else unique,
            key=lambda v: v.get("duplicate_of") or v["id"],
        )
        app.dataframe(unique).apply(match_step, stateful=True, expand=True).to_topic(
            alerts, key=lambda v: v["subscription_id"]
        )

        timer = threading.Timer(timeout, app.stop)
        timer.daemon = True
        try:
            timer.start()
            app.run()
        finally:
            timer.cancel()
            app.stop()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
    if progress.finished is None or progress.started is None:
        raise TimeoutError(
            f"Quix peer: {progress.done} of {n} inputs through in {timeout:.0f} s "
            f"({progress.counts})"
        )
    seconds = progress.finished - progress.started
    return {
        "articles": n,
        "seconds": round(seconds, 3),
        "rate": n / seconds,
        "outputs": dict(sorted(progress.counts.items())),
    }


# -- standalone -------------------------------------------------------------------------------


def corpus_payloads(name: str, n: int) -> list[bytes]:
    """The first ``n`` lines of a corpus, as raw-article payloads (read in place)."""
    return [payload for _ref, payload in islice(iter_inputs([CORPORA[name]]), n)]


def bench_subscriptions(payloads: list[bytes], n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` selective queries as ``bench/match_scale.py`` writes them, plus a catch-all."""
    from bench.match_scale import World

    world = World([orjson.loads(p) for p in payloads[:500]], random.Random(seed), "selective")
    subs = [{"id": f"s{i:05d}", "name": f"bench {i}", "query": world.query()} for i in range(n)]
    return [*subs, CATCH_ALL]


async def fill(broker: str, topic: str, payloads: list[bytes]) -> None:
    """Create ``topic`` (one partition) and produce ``payloads`` to it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=broker, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, p) for p in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="127.0.0.1:9092")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="bbc")
    parser.add_argument("--articles", type=int, default=500)
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    payloads = corpus_payloads(args.corpus, args.articles)
    subs = bench_subscriptions(payloads, args.subscriptions)
    topic = f"quix-{uuid.uuid4().hex[:8]}.raw"
    asyncio.run(fill(args.broker, topic, payloads))
    result = run_quix(args.broker, topic, len(payloads), subs, args.timeout)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
