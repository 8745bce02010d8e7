"""Fault tolerance on a three-node KRaft cluster (RF 3, min ISR 2, acks=all, idempotent
producers): a worker SIGKILLed mid-stream, a broker SIGKILLed mid-stream, poison messages in
every internal topic, and a worker that rebuilds all its tables from the changelogs.

Each stream is a couple of thousand generated articles (``bench/corpus.py``: originals, exact
and near copies, invalid records) produced at a steady rate to two workers in one group over
six partitions. Afterwards the output topics must account for every article (valid or
rejected; unique, duplicate or dead letter; an event; a story), every alert the story updates
owe must exist, and the webhook receiver must have had every alert message exactly once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from bench.corpus import Item, generate
from bench.stream_tools import Feeder, Tap
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.models import Subscription
from streams.pipeline.match import parse_subscription
from streams.schemas import validator
from tests.integration.cluster import REPO, Accounts, Cluster, owed_alerts, wait_accounted
from tests.integration.conftest import Namespace, Worker, free_port, stop_all
from tests.integration.test_alerts import SECRET, Receiver

# A stream of thousands of articles through a replicated cluster on two cores takes minutes.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

WATCHED = (
    topics.ARTICLES_VALID,
    topics.ARTICLES_UNIQUE,
    topics.ARTICLES_DUPLICATES,
    topics.EVENTS,
    topics.STORIES,
    topics.ALERTS,
    topics.DEADLETTER,
)
THEMES = ("abduction", "protest", "arrest", "explosion", "riot", "killing")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster(REPO / ".kafka" / "faults")
    try:
        c.up()
    except RuntimeError as exc:
        c.down()
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"the three-node cluster did not start: {exc}")
        pytest.skip(f"the three-node cluster did not start: {exc}")
    try:
        yield c
    finally:
        c.down()


def subscriptions(hook_url: str) -> list[dict[str, Any]]:
    """One subscription per theme, a few narrower ones, and one with a webhook: Kenyan
    abductions (rare enough that the receiver is often idle)."""
    subs: list[dict[str, Any]] = [{"id": f"theme-{t}", "themes": [t]} for t in THEMES]
    subs += [
        {"id": "ng-violence", "query": "(theme:killing OR theme:explosion) AND country:NG"},
        {"id": "students", "keywords": ["students"], "countries": ["PK", "BD"]},
        {
            "id": "hook",
            "themes": ["abduction"],
            "countries": ["KE"],
            "webhook": {"url": hook_url, "secret": SECRET},
        },
    ]
    return subs


class Run:
    """One stream on the cluster: namespace, receiver, tap, subscriptions and two workers."""

    def __init__(self, cluster: Cluster, tmp: Path) -> None:
        self.ns = Namespace(
            cluster.bootstrap,
            tmp,
            TOCSIN_REPLICATION_FACTOR="3",
            TOCSIN_MIN_INSYNC_REPLICAS="2",
            TOCSIN_NLP_MODEL="blank",
            TOCSIN_EXTRACT_PROCESSES="1",
            TOCSIN_WEBHOOK_ALLOW_PRIVATE="true",
            TOCSIN_WEBHOOK_ATTEMPTS="20",
            TOCSIN_WEBHOOK_BACKOFF_CAP="1",
            TOCSIN_DASHBOARD_PUBLIC="true",  # stats_totals reads /api/stats without a token
            # The generated stream's articles are dated across 27 days (bench/corpus.py) and
            # fed in a minute; a window covering them keeps the stories stage's sweeps (the
            # first comes with a restarted worker's first event) from closing stories that the
            # test's redeliveries and late copies still name.
            TOCSIN_STORY_WINDOW_HOURS="720",
        )
        asyncio.run(create_topics(self.ns.settings))
        self.receiver = Receiver(SECRET)
        self.tap = Tap(self.ns.settings, WATCHED)
        self.sub_data = subscriptions(self.receiver.url)
        check = validator(topics.SUBSCRIPTIONS.schema_file)
        self.subs = [parse_subscription(s, check) for s in self.sub_data]
        assert all(isinstance(s, Subscription) for s in self.subs), self.subs
        asyncio.run(
            produce(
                self.ns.settings,
                self.ns.name(topics.SUBSCRIPTIONS),
                [(s["id"].encode(), codecs.dumps(s)) for s in self.sub_data],
            )
        )
        self.workers = [self.worker(tmp, i) for i in range(2)]

    def worker(self, tmp: Path, i: int) -> Worker:
        return Worker(
            self.ns, TOCSIN_DATA_DIR=str(tmp / f"data-{i}"), TOCSIN_WEB_PORT=str(free_port())
        )

    def start(self) -> None:
        for w in self.workers:
            w.start()
        for w in self.workers:
            w.wait(lambda s: s["subscriptions_ready"] and s["subscriptions"] == len(self.subs))
        wait_assigned(self.workers)

    def logs(self) -> str:
        return "\n".join(f"--- {w.log_path.name}\n{w.log_tail(25)}" for w in self.workers)

    def close(self) -> None:
        # SIGKILL: the namespace is thrown away, and a graceful stop (seconds of table
        # closing per worker) is what the rebuild test and test_dedupe exercise.
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                w.kill()
        self.tap.close()
        self.receiver.close()


def wait_assigned(workers: list[Worker], timeout: float = 180) -> None:
    """Until every worker is ready (/readyz: topics, recovered tables, partitions)."""
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending:
        assert time.monotonic() < deadline, [w.log_tail() for w in pending]
        for w in list(pending):
            try:
                with urllib.request.urlopen(w.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        pending.remove(w)
            except OSError:
                pass
        time.sleep(0.5)


@pytest.fixture()
def run(cluster: Cluster, tmp_path: Path) -> Iterator[Run]:
    r = Run(cluster, tmp_path)
    try:
        r.start()
        yield r
    finally:
        r.close()


def quiet_receiver(receiver: Receiver, idle: float = 0.7, timeout: float = 60) -> None:
    """Wait until the receiver has answered nothing for ``idle`` seconds.

    The one moment a crash can repeat a webhook POST is between the receiver's answer and the
    delivery mark reaching the changelog (milliseconds later; receivers dedupe by the
    Tocsin-Delivery header for it). The kill lands outside it so the test can demand exactly
    once; everything else (articles, stories, alerts in flight) is mid-stream."""
    deadline = time.monotonic() + timeout
    while True:
        last = receiver.requests[-1]["at"] if receiver.requests else 0.0
        if time.monotonic() - last >= idle:
            return
        assert time.monotonic() < deadline, "the webhook receiver was never idle"
        time.sleep(0.05)


def check_outcome(r: Run, items: list[Item], timeout: float = 600) -> Accounts:
    """Every article accounted for, every owed alert out, every alert message POSTed once."""
    acc = wait_accounted(r.tap, items, timeout, r.logs)
    assert not acc.both, f"unique and duplicate at once: {sorted(acc.both)[:5]}"
    # One story, one unique article: each original and its copies (exact: the same body; near:
    # 98% of it) have exactly one unique member, and every other member's duplicate_of chain
    # ends there. Usually it is the original; a crash or lag can let a copy be decided first
    # (then the original is "a copy of the copy already emitted", as designed).
    groups: dict[str, list[str]] = {}
    for i in items:
        if i.kind != "invalid":
            groups.setdefault(i.copy_of or i.article_id, []).append(i.article_id)
    for members in groups.values():
        roots = {_root(m, acc) for m in members}
        assert len(roots) == 1 and roots <= acc.unique, {m: _root(m, acc) for m in members}
        assert roots <= set(members), members
    assert acc.dead.get("validate", set()) >= {i.article_id for i in items if i.kind == "invalid"}
    # Alerts: every (subscription, story) a matching story update owes.
    owed = owed_alerts(r.tap, r.subs)
    deadline = time.monotonic() + 120
    while True:
        alerts = [a for a in r.tap.values(topics.ALERTS) if isinstance(a, dict) and "alert_id" in a]
        sent = {a["alert_id"] for a in alerts}
        missing = {k for k, paid_by in owed.items() if not paid_by & sent}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not missing, f"{len(missing)} of {len(owed)} owed alerts missing"
    assert len(owed) > 100
    # The webhook: each (alert id, revision) of its subscription POSTed and accepted once.
    hook = [a for a in alerts if a["subscription_id"] == "hook"]
    expected = {f"{a['alert_id']}.{a['revision']}" for a in hook}
    assert len(expected) >= 5
    r.receiver.wait(
        lambda rc: {q["delivery"] for q in rc.accepted()} >= expected,
        120,
        "every hook alert delivered",
    )
    time.sleep(3)  # a late repeat would show now
    accepted = Counter(q["delivery"] for q in r.receiver.accepted())
    assert {d for d, n in accepted.items() if n > 1} == set(), "a webhook message came twice"
    assert set(accepted) == expected
    assert all(q["verified"] for q in r.receiver.requests)
    return acc


def _root(article_id: str, acc: Accounts) -> str:
    """Where an article's duplicate_of chain ends."""
    seen = {article_id}
    while article_id in acc.duplicates:
        article_id = acc.duplicates[article_id]
        assert article_id not in seen, f"duplicate_of loop through {article_id}"
        seen.add(article_id)
    return article_id


def test_worker_killed_mid_stream_loses_and_repeats_nothing(run: Run) -> None:
    # 1,400 articles: 1,117 originals, enough for the ``> 1000`` unique below; 560 go before
    # the kill and 840 after. The last 280 go once the restarted worker has rejoined, so it
    # has new articles to validate however long its restart takes (on a loaded machine its
    # model load outlasted the rest of the stream, and the survivor had validated it all).
    items = generate(1400, seed=11, prefix="w")
    head, tail = items[:1120], items[1120:]
    feeder = Feeder(run.ns.settings, head, rate=50).start()
    feeder.wait_sent(560)
    quiet_receiver(run.receiver)
    victim = run.workers[0]
    victim.kill()
    killed_at = feeder.sent
    time.sleep(3)
    victim.start()  # same data dir: RocksDB as the kill left it, then the changelogs
    feeder.join()
    wait_assigned([victim])
    Feeder(run.ns.settings, tail, rate=50).start().join()
    acc = check_outcome(run, items)
    assert 0 < killed_at < len(items)
    # Both workers worked before and after: the survivor took over, the restarted one rejoined.
    for w in run.workers:
        w.wait(lambda s: s["counts"].get("validate", {}).get("valid", 0) > 0)
    assert len(acc.unique) > 1000


def test_broker_killed_mid_stream_workers_carry_on(run: Run, cluster: Cluster) -> None:
    items = generate(1200, seed=12, prefix="b")
    feeder = Feeder(run.ns.settings, items, rate=50).start()
    feeder.wait_sent(500)
    cluster.kill(2)
    feeder.wait_sent(900)  # produced with one broker down: min ISR 2 of 3 still holds
    cluster.start(2)
    feeder.join()
    check_outcome(run, items)


def test_poison_messages_go_to_dead_letters_and_never_stall_a_partition(run: Run) -> None:
    """A record that makes a stage raise, on every partition of every internal topic, while a
    stream flows: each becomes a dead letter naming its stage and position, and every article
    behind it on its partition still comes out."""
    poisons = {
        topics.ARTICLES_VALID: ("dedupe", b'{"id": "p", "content_hash": 7}'),
        topics.DEDUPE_BANDS: ("dedupe", b'{"type": "group", "article_id": "p"}'),
        topics.DEDUPE_VERDICTS: ("dedupe", b'{"type": "bands", "article_id": "p"}'),
        topics.ARTICLES_UNIQUE: ("extract", b'{"id": "p", "text": null}'),
        topics.EVENTS: ("stories", b'{"article_id": "p", "themes": 3}'),
        topics.STORY_MEMBERS: ("story_copies", b'{"article_id": "p"}'),
        topics.STORY_COPIES: ("stories", b"[1]"),
        # news.stories.v1 is an output only: match runs in the stories agent (issue 23).
        topics.ALERTS: ("deliver", b"[1]"),
    }
    items = generate(400, seed=13, prefix="p")
    feeder = Feeder(run.ns.settings, items, rate=25).start()
    feeder.wait_sent(200)
    placed = asyncio.run(_inject(run.ns, poisons))
    feeder.join()
    check_outcome(run, items)
    letters = run.tap.values(topics.DEADLETTER)
    found = {
        (v["source"]["topic"], v["source"]["partition"], v["source"]["offset"]): v["stage"]
        for v in letters
    }
    for (topic, partition, offset), stage in placed.items():
        assert found.get((topic, partition, offset)) == stage, (topic, partition, offset)
    check = validator(topics.DEADLETTER.schema_file)
    for letter in letters:
        assert not list(check.iter_errors(letter)), letter


async def _inject(
    ns: Namespace, poisons: dict[topics.TopicSpec, tuple[str, bytes]]
) -> dict[tuple[str, int, int], str]:
    producer = AIOKafkaProducer(bootstrap_servers=ns.settings.brokers, acks="all")
    await producer.start()
    placed: dict[tuple[str, int, int], str] = {}
    try:
        for spec, (stage, payload) in poisons.items():
            for partition in range(ns.settings.topic_partitions):
                meta = await producer.send_and_wait(
                    ns.name(spec), payload, key=b"poison", partition=partition
                )
                placed[(meta.topic, meta.partition, meta.offset)] = stage
    finally:
        await producer.stop()
    return placed


def stats_totals(worker: Worker) -> Counter[str]:
    with urllib.request.urlopen(
        worker.url + "/api/stats?window=1h&by=total&periods=48", timeout=10
    ) as response:
        body = orjson.loads(response.read())
    return Counter({c["value"]: c["count"] for c in body["counts"]})


def stable_stats(workers: list[Worker]) -> Counter[str]:
    """The workers' summed stats once two reads a few seconds apart agree (the stats agent
    counts the output topics a moment after the stages write them)."""
    last: Counter[str] | None = None
    for _ in range(30):
        now = sum((stats_totals(w) for w in workers), Counter())
        if now == last:
            return now
        last = now
        time.sleep(3)
    raise AssertionError(f"stats never settled: {last}")


def test_a_worker_without_local_state_rebuilds_every_table_from_the_changelogs(
    run: Run,
) -> None:
    """Two workers process a stream and stop. One restarts alone with its data directory
    wiped, so it must rebuild the dedupe index, the stories, the match and delivery state and
    the stats of all six partitions (half of them its partner's) from the changelog topics.
    Then: stats equal the two workers' sums; redelivered articles get the same verdicts,
    stories and alert revisions, and no second webhook POST; new copies of old originals are
    caught."""
    items = generate(400, seed=14, prefix="s")
    Feeder(run.ns.settings, items, rate=40).start().join()
    check_outcome(run, items)
    before = stable_stats(run.workers)
    old = Accounts.read(run.tap)
    stories_before = {
        v["article"]["article_id"]: v["story_id"] for v in run.tap.values(topics.STORIES)
    }
    revisions_before = {
        (a["alert_id"], a["article_id"]): a["revision"] for a in run.tap.values(topics.ALERTS)
    }
    posts_before = {q["delivery"] for q in run.receiver.requests}
    stop_all(run.workers)
    data_dir = Path(run.workers[0].env["TOCSIN_DATA_DIR"])
    assert (data_dir / "tocsin-data" / "v1" / "tables").exists() or any(data_dir.iterdir())
    shutil.rmtree(data_dir)
    alone = run.workers[0]
    run.workers = [alone]
    alone.start()
    alone.wait(lambda s: s["subscriptions_ready"])
    wait_assigned([alone], timeout=300)
    assert stable_stats([alone]) == before
    # Redeliver 100 articles (originals and copies); send near copies of 30 old originals.
    again = [i for i in items if i.kind != "invalid"][:100]
    fresh = [
        Item(f"s-copy-{n}", "near", _near_copy(i, f"s-copy-{n}"), i.article_id)
        for n, i in enumerate([i for i in items if i.kind == "original"][-30:])
    ]
    mark = run.tap.mark()
    Feeder(run.ns.settings, again + fresh, rate=40).start().join()
    ids = {i.article_id for i in again + fresh}
    deadline = time.monotonic() + 300
    while True:
        unique = {v["id"] for v in run.tap.since(topics.ARTICLES_UNIQUE, mark)}
        dups = {
            v["article_id"]: v["duplicate_of"]
            for v in run.tap.since(topics.ARTICLES_DUPLICATES, mark)
        }
        if ids <= unique | set(dups):
            break
        assert time.monotonic() < deadline, (sorted(ids - unique - set(dups))[:5], run.logs())
        time.sleep(2)
    assert not unique & set(dups)
    for i in again:  # the same verdicts as before the state was wiped
        if i.article_id in old.unique:
            assert i.article_id in unique, i.article_id
        else:
            assert dups[i.article_id] == old.duplicates[i.article_id], i.article_id
    for i in fresh:  # the band index of every partition is back
        assert dups.get(i.article_id) == i.copy_of, i.article_id
    # The same stories and the same alert revisions (the match state is back too).
    originals = {i.article_id for i in again if i.kind == "original"}
    deadline = time.monotonic() + 120
    while not originals <= {
        v["article"]["article_id"] for v in run.tap.since(topics.STORIES, mark)
    }:
        assert time.monotonic() < deadline, "redelivered originals never reached the stories"
        time.sleep(2)
    for v in run.tap.since(topics.STORIES, mark):
        aid = v["article"]["article_id"]
        if aid in stories_before:
            assert v["story_id"] == stories_before[aid], aid
    time.sleep(5)
    replayed = run.tap.since(topics.ALERTS, mark)
    assert replayed, "the redelivered originals re-emitted no alert"
    for a in replayed:
        key = (a["alert_id"], a["article_id"])
        if key in revisions_before:
            assert a["revision"] == revisions_before[key], key
    # The delivery marks are back: nothing POSTed before is POSTed again.
    again_posted = [q["delivery"] for q in run.receiver.requests if q["delivery"] in posts_before]
    assert Counter(again_posted) == Counter(posts_before), "a redelivered alert was POSTed again"


def _near_copy(item: Item, new_id: str) -> bytes:
    data = orjson.loads(item.payload)
    words = data["text"].split(" ")
    for j in range(5, len(words), 60):
        words[j] = "changed"
    return orjson.dumps({**data, "id": new_id, "text": " ".join(words)})
