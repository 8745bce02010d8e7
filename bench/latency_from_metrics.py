"""Latency figures of a running worker, read from its /metrics histograms.

    make run            # in another terminal (or any worker with traffic)
    .venv/bin/python bench/latency_from_metrics.py --url http://127.0.0.1:6066/metrics

Prints count, mean and bucket-interpolated p50/p95 of the end-to-end latency (raw article to
alert) and of each stage's latency and duration. Quantiles from buckets are estimates, as in
Prometheus' histogram_quantile.

``--ingest PATH`` measures a warm worker only: scrape, ``tocsin ingest PATH``, wait until the
counts stop moving, scrape again and report the difference. ``--fresh-copies N`` first writes N
copies of the sample articles with a unique marker sentence (so dedupe lets them through) to a
temporary file and ingests that.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

HISTOGRAMS = (
    "tocsin_end_to_end_latency_seconds",
    "tocsin_stage_latency_seconds",
    "tocsin_stage_duration_seconds",
)


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile over cumulative (upper bound, count) buckets."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return float("nan")
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            width = count - prev_count
            return prev_bound + (bound - prev_bound) * ((rank - prev_count) / width if width else 0)
        prev_bound, prev_count = bound, count
    return prev_bound


Hist = tuple[
    dict[tuple[str, str], list[tuple[float, float]]],
    dict[tuple[str, str], float],
    dict[tuple[str, str], float],
]


def scrape(url: str) -> Hist:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    sums: dict[tuple[str, str], float] = {}
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in HISTOGRAMS:
            continue
        for s in family.samples:
            ident = (family.name, s.labels.get("stage", "-"))
            if s.name.endswith("_bucket"):
                buckets[ident].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_sum"):
                sums[ident] = s.value
            elif s.name.endswith("_count"):
                counts[ident] = s.value
    return buckets, sums, counts


def minus(after: Hist, before: Hist) -> Hist:
    b_after, s_after, c_after = after
    b_before, s_before, c_before = before
    buckets = {
        k: [(le, n - dict(b_before.get(k, [])).get(le, 0.0)) for le, n in v]
        for k, v in b_after.items()
    }
    sums = {k: v - s_before.get(k, 0.0) for k, v in s_after.items()}
    counts = {k: v - c_before.get(k, 0.0) for k, v in c_after.items()}
    return buckets, sums, counts


def fresh_copies(n: int) -> Path:
    samples = Path(__file__).resolve().parents[1] / "streams" / "samples" / "articles.jsonl"
    lines = [json.loads(line) for line in samples.read_text().splitlines() if line.strip()]
    out = Path(tempfile.mkdtemp(prefix="tocsin-bench-")) / "copies.jsonl"
    with out.open("w") as f:
        for i in range(n):
            a = dict(lines[i % len(lines)])
            tag = uuid.uuid4().hex[:8]
            a["id"] = f"bench-{tag}"
            a.pop("url", None)  # a new URL too: the canonical-URL check would catch it
            a["text"] = f"{a['text']}\n\nReference {tag}."
            f.write(json.dumps(a) + "\n")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:6066/metrics")
    parser.add_argument("--ingest", type=Path, help="ingest this and report only its records")
    parser.add_argument("--fresh-copies", type=int, default=0, metavar="N")
    parser.add_argument("--tocsin", default=str(Path(sys.executable).with_name("tocsin")))
    args = parser.parse_args()
    hist = scrape(args.url)
    source = fresh_copies(args.fresh_copies) if args.fresh_copies else args.ingest
    if source is not None:
        before = hist
        subprocess.run([args.tocsin, "ingest", str(source)], check=True)
        last, stable_since = -1.0, time.monotonic()
        while time.monotonic() - stable_since < 5.0:
            time.sleep(1.0)
            now = sum(scrape(args.url)[2].values())
            if now != last:
                last, stable_since = now, time.monotonic()
        hist = minus(scrape(args.url), before)
    buckets, sums, counts = hist
    print(f"{'metric':<36} {'stage':<10} {'count':>7} {'mean s':>8} {'p50 s':>8} {'p95 s':>8}")
    for ident in sorted(counts):
        n = counts[ident]
        if not n:
            continue
        mean = sums[ident] / n
        p50, p95 = quantile(0.5, buckets[ident]), quantile(0.95, buckets[ident])
        name, stage = ident
        print(f"{name:<36} {stage:<10} {int(n):>7} {mean:>8.3f} {p50:>8.3f} {p95:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
