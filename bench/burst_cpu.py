"""Where a burst's CPU goes, by process: one worker, bursts of articles one after another.

    deploy/with-kafka.sh .venv/bin/python -m bench.burst_cpu --corpus bbc --bursts 5

For each burst (``--articles`` articles produced at once, as ``bench.compare`` does, after a
warm-up of 40): the rate until the group has committed everything, the cores the machine's
processes used meanwhile (CPU seconds over wall seconds), and the CPU milliseconds per article
of the worker's own process, its extraction processes and the broker. A burst that uses well
under the machine's cores is waiting on something, not computing. To compare two checkouts,
run it from each with ``PYTHONPATH=<checkout>`` (the worker runs the code it imports).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench import compare
from bench.stream_tools import broker_pids, cpu_seconds, stop_on_sigterm


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=compare.DATA)
    parser.add_argument("--corpus", choices=sorted(compare.CORPORA), default="bbc")
    parser.add_argument("--articles", type=int, default=400, help="per burst")
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--model", default=compare.MODEL)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    items = list(compare.CORPORA[args.corpus](args.data))
    random.Random(11).shuffle(items)
    payloads = [orjson.dumps(d) for d in items]
    if 40 + args.bursts * args.articles > len(payloads):
        raise SystemExit(f"{args.corpus} has {len(payloads)} articles: fewer bursts or articles")
    broker = os.environ.get("TOCSIN_BROKER", "127.0.0.1:9094")
    print(
        f"bench.burst_cpu {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {args.corpus}, "
        f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        t = compare.Tocsin(broker, args.model, compare.subscriptions(items, 1000), Path(tmp))
        try:
            t.burst(payloads[:40])
            worker = t.workers[0]
            for b in range(args.bursts):
                pool = [p for p in worker.tree() if p != worker.proc.pid]
                groups = {"worker": [worker.proc.pid], "extraction": pool, "broker": broker_pids()}
                before = {k: sum(cpu_seconds(p) for p in v) for k, v in groups.items()}
                machine = _machine_cpu()
                start = time.monotonic()
                lo = 40 + b * args.articles
                rate = t.burst(payloads[lo : lo + args.articles])
                wall = time.monotonic() - start
                cores = (_machine_cpu() - machine) / wall
                per = {
                    k: (sum(cpu_seconds(p) for p in v) - before[k]) / args.articles * 1000
                    for k, v in groups.items()
                }
                print(
                    f"burst {b + 1}: {rate:.1f}/s, {wall:.1f} s, {cores:.2f} cores busy; ms of CPU "
                    "per article: " + ", ".join(f"{k} {v:.1f}" for k, v in per.items()),
                    flush=True,
                )
        finally:
            t.stop()
    return 0


def _machine_cpu() -> float:
    """CPU seconds every process of the machine has used (user, nice, system, irq), from
    /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
