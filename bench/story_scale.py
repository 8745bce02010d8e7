"""Stories stage cost per article with many live stories in its state.

    .venv/bin/python bench/story_scale.py                    # 100,000 live stories
    .venv/bin/python bench/story_scale.py --stories 10000    # a quicker look

Fills a dict state with ``--stories`` synthetic stories (one article each, all within the
window), then times ``stories.assign`` (features, index look-up, scoring, writes) on
``--probe`` further articles: half rewrite an existing story (most of its words, so they
join it), half are new. Words are drawn from wordfreq's English list (ranks 500-50,000, so
their rarity weights are real ones), names are random. The state is a plain dict: a worker's
faust table adds its own (RocksDB, changelog) cost per key written, which
``bench/compare.py`` measures end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from typing import Any

import orjson
import wordfreq

from streams.models import EventRecord
from streams.pipeline import stories

START = 1.7e9


def vocabulary() -> list[str]:
    return [w for w in wordfreq.top_n_list("en", 50_000)[500:] if w.isalpha()]


def article(rng: random.Random, words: list[str], n: int, at: float) -> EventRecord:
    title = " ".join(rng.choice(words) for _ in range(9)).capitalize()
    body = " ".join(rng.choice(words) for _ in range(150))
    names = tuple(f"{rng.choice(words).title()} {rng.choice(words).title()}" for _ in range(3))
    return EventRecord(
        article_id=f"a{n}",
        themes=(rng.choice(["protest", "riot", "abduction", "attack", "election"]),),
        primary_theme=None,
        countries=(rng.choice(["KE", "NG", "US", "GR", "IN"]),),
        actors=names,
        title=title,
        text=f"{title}. {' '.join(names)} {body}.",
        source=f"source{n % 500}",
        published_at=stories.rfc3339(at),
    )


def rewrite(rng: random.Random, original: EventRecord, n: int, at: float) -> EventRecord:
    """Another outlet's report: most of the words, some dropped, the same names."""
    words = original.text.split()
    kept = [w for w in words if rng.random() > 0.3]
    return EventRecord(
        article_id=f"r{n}",
        themes=original.themes,
        primary_theme=None,
        countries=original.countries,
        actors=original.actors,
        title=original.title,
        text=" ".join(kept),
        source=f"other{n % 500}",
        published_at=stories.rfc3339(at),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--probe", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f};"
        f" python {platform.python_version()}"
    )
    rng = random.Random(7)
    words = vocabulary()
    config = stories.StoryConfig()
    state: dict[str, Any] = {}
    span = 0.5 * config.window_s  # every story stays live
    originals = []
    started, cpu_started = time.perf_counter(), time.process_time()
    for n in range(args.stories):
        record = article(rng, words, n, START + span * n / args.stories)
        stories.assign(record, state, START, config)
        if n % max(1, args.stories // (args.probe // 2)) == 0:
            originals.append(record)
        if n and n % 10_000 == 0:
            print(f"  {n} stories, {time.perf_counter() - started:.0f}s", flush=True)
    fill = time.perf_counter() - started
    fill_cpu = time.process_time() - cpu_started
    live = sum(k.startswith("s:") for k in state)
    print(
        f"filled {live} live stories in {fill:.0f}s ({1000 * fill / args.stories:.2f} ms each;"
        f" CPU {1000 * fill_cpu / args.stories:.2f} ms each)"
    )
    at = START + span
    probes = []
    for n in range(args.probe // 2):
        probes.append(("rewrite", rewrite(rng, rng.choice(originals), n, at)))
        probes.append(("new", article(rng, words, args.stories + n, at)))
    times: dict[str, list[float]] = {"rewrite": [], "new": []}
    cpu: list[float] = []  # CPU time: what the stage costs on a machine shared with others
    joined = 0
    for kind, record in probes:
        t0, c0 = time.perf_counter(), time.process_time()
        update = stories.assign(record, state, START, config)
        cpu.append(time.process_time() - c0)
        times[kind].append(time.perf_counter() - t0)
        joined += kind == "rewrite" and not update.is_new
    every = times["rewrite"] + times["new"]
    every.sort()
    p50, p99 = 1000 * every[len(every) // 2], 1000 * every[int(0.99 * len(every))]
    print(
        f"assign with {live} live stories: mean {1000 * statistics.fmean(every):.2f} ms,"
        f" p50 {p50:.2f} ms, p99 {p99:.2f} ms per article ({len(every)} articles: rewrites mean"
        f" {1000 * statistics.fmean(times['rewrite']):.2f} ms, new"
        f" {1000 * statistics.fmean(times['new']):.2f} ms)"
    )
    cpu.sort()
    print(
        f"CPU time per article: mean {1000 * statistics.fmean(cpu):.2f} ms,"
        f" p50 {1000 * cpu[len(cpu) // 2]:.2f} ms, p99 {1000 * cpu[int(0.99 * len(cpu))]:.2f} ms"
        f" (load {os.getloadavg()[0]:.1f})"
    )
    print(f"rewrites that joined their story: {joined}/{len(times['rewrite'])}")
    size = sum(len(k) + len(orjson.dumps(v)) for k, v in state.items())
    print(f"state: {len(state)} keys, {size / 1e6:.0f} MB as JSON ({size / live:.0f} B per story)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
