"""Near-duplicate quality on real news: precision and recall against exact shingle Jaccard.

    .venv/bin/python bench/dedupe_quality.py                      # both corpora, default settings
    .venv/bin/python bench/dedupe_quality.py --sweep              # thresholds 0.3 .. 0.9
    .venv/bin/python bench/dedupe_quality.py --bands 16 --rows 4  # another LSH layout
    .venv/bin/python bench/dedupe_quality.py --show 0.3           # print pairs with J >= 0.3

bbc-news-2225: every article goes through the dedupe stage in file order (the local driver's
steps, dict state). The reference is exact: a *true copy* is a pair whose cleaned bodies have
5-word-shingle Jaccard >= --gold (0.5; exact-duplicate groups are J = 1). An article is a
positive when an earlier article is a true copy of it. A flagged article is correct when the
article it names is a true copy of it, or a true copy of one (a chain of copies).

semeval2022-task8-sample (en-en pairs): each pair in fresh state, first text then second. Most
same-story pairs (Overall <= 1.5) are independently written articles, not copies: dedupe must
let them through (story grouping is a later stage). Flags on different-story pairs (Overall >=
3.5) are false positives unless the texts are true copies by the same Jaccard reference.

The corpora are read in place (../shared/data), never copied; missing data is skipped.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from streams import schemas, topics
from streams.models import Article, Duplicate, Rejected
from streams.pipeline import fingerprint, validate
from streams.pipeline.dedupe import DedupeConfig
from streams.pipeline.driver import dedupe_local
from streams.pipeline.fingerprint import Layout

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def gold_pairs(articles: list[Article], shingle: int, floor: float) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair sharing a shingle (an inverted index, not all 2.5M pairs)."""
    sets = [set(fingerprint.shingles(a.text, shingle)) for a in articles]
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for docs in index.values():
        if len(docs) > 200:  # boilerplate shared by hundreds; never decides a copy
            continue
        for x in range(len(docs)):
            for y in range(x + 1, len(docs)):
                shared[(docs[x], docs[y])] += 1
    out = {}
    for (i, j), n in shared.items():
        value = n / len(sets[i] | sets[j])
        if value >= floor:
            out[(i, j)] = value
    return out


def load_bbc(limit: int) -> list[Article]:
    path = DATA / "bbc-news-2225" / "bbc_news.jsonl"
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    out = []
    for line in path.read_bytes().splitlines()[: limit or None]:
        row = orjson.loads(line)
        raw = {"id": row["id"].replace("/", "-"), "title": row["title"], "text": row["text"]}
        article = validate.validate_article(orjson.dumps(raw), validator)
        assert not isinstance(article, Rejected), article
        out.append(article)
    return out


def run_stage(articles: Iterable[Article], config: DedupeConfig) -> list[Article | Duplicate]:
    state: dict[str, str] = {}
    return [dedupe_local(a, state, config, float(i)) for i, a in enumerate(articles)]


def evaluate_bbc(
    articles: list[Article], gold: dict[tuple[int, int], float], config: DedupeConfig, cut: float
) -> dict[str, Any]:
    index = {a.id: i for i, a in enumerate(articles)}
    copies: dict[int, set[int]] = defaultdict(set)
    for (i, j), value in gold.items():
        if value >= cut:
            copies[i].add(j)
            copies[j].add(i)
    verdicts = run_stage(articles, config)
    positives = {j for j in range(len(articles)) if any(i < j for i in copies[j])}
    flagged: dict[int, Duplicate] = {
        index[v.article_id]: v for v in verdicts if isinstance(v, Duplicate)
    }
    correct, wrong = [], []
    for j, dup in flagged.items():
        named = index[dup.duplicate_of]
        # chains: the named article is a copy of a copy of j
        if named in copies[j] or copies[named] & copies[j]:
            correct.append(j)
        else:
            wrong.append((j, named, dup))
    missed = sorted(positives - set(flagged))
    tp = len([j for j in correct if j in positives])
    # The near-duplicate path alone: exact-hash copies are right by construction.
    exact = {j for j, d in flagged.items() if d.kind == "exact"}
    near_flagged = [j for j in flagged if j not in exact]
    near_correct = [j for j in correct if j not in exact]
    near_positives = positives - exact
    return {
        "near_precision": len(near_correct) / len(near_flagged) if near_flagged else 1.0,
        "near_recall": (
            len([j for j in near_correct if j in positives]) / len(near_positives)
            if near_positives
            else 1.0
        ),
        "near_positives": len(near_positives),
        "articles": len(articles),
        "positives": len(positives),
        "flagged": len(flagged),
        "exact": sum(1 for d in flagged.values() if d.kind == "exact"),
        "near": sum(1 for d in flagged.values() if d.kind == "near"),
        "precision": len(correct) / len(flagged) if flagged else 1.0,
        "recall": tp / len(positives) if positives else 1.0,
        "wrong": wrong,
        "missed": missed,
    }


def semeval_pairs() -> list[dict[str, Any]]:
    csv.field_size_limit(10**8)
    rows = []
    for name in ("training_set.csv", "testing_set.csv"):
        with (DATA / "semeval2022-task8-sample" / name).open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["lang1"] == "en" and row["lang2"] == "en":
                    rows.append(row)
    return rows


def evaluate_semeval(config: DedupeConfig, cut: float) -> dict[str, Any]:
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # group -> [pairs, flagged]
    tp = fp = fn = 0
    for n, row in enumerate(semeval_pairs()):
        pair = []
        for k in ("text1", "text2"):
            raw = {"id": f"p{n}-{k}", "text": row[k] or "-"}
            article = validate.validate_article(orjson.dumps(raw), validator)
            pair.append(article)
        if any(isinstance(a, Rejected) for a in pair):
            counts["rejected by validate"][0] += 1
            continue
        first, second = pair
        assert isinstance(first, Article) and isinstance(second, Article)
        flagged = isinstance(run_stage([first, second], config)[1], Duplicate)
        j = jaccard(
            set(fingerprint.shingles(first.text, config.layout.shingle)),
            set(fingerprint.shingles(second.text, config.layout.shingle)),
        )
        overall = float(row["Overall"])
        group = (
            "same story (Overall <= 1.5)"
            if overall <= 1.5
            else "different (Overall >= 3.5)"
            if overall >= 3.5
            else "in between"
        )
        counts[group][0] += 1
        counts[group][1] += int(flagged)
        copy = j >= cut
        counts["true copies (J >= gold)"][0] += int(copy)
        counts["true copies (J >= gold)"][1] += int(copy and flagged)
        tp += int(copy and flagged)
        fp += int(flagged and not copy)
        fn += int(copy and not flagged)
    return {
        "groups": dict(counts),
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DedupeConfig().threshold)
    parser.add_argument("--bands", type=int, default=Layout().bands)
    parser.add_argument("--rows", type=int, default=Layout().rows)
    parser.add_argument("--shingle", type=int, default=Layout().shingle)
    parser.add_argument("--gold", type=float, default=0.5, help="Jaccard of a true copy")
    parser.add_argument("--limit", type=int, default=0, help="first N bbc articles only")
    parser.add_argument("--sweep", action="store_true", help="thresholds 0.3 .. 0.9")
    parser.add_argument("--show", type=float, default=0.0, help="print bbc pairs with J >= this")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the labelled corpora live in ../shared/data)")
        return 0
    layout = Layout(args.bands, args.rows, args.shingle)
    print(f"layout: {layout.bands} bands x {layout.rows} rows, {layout.shingle}-word shingles")
    for s in (0.3, 0.5, 0.7, 0.9):
        print(f"  P(candidate | J={s}) = {layout.candidate_probability(s):.3f}")

    articles = load_bbc(args.limit)
    gold = gold_pairs(articles, layout.shingle, min(args.gold, args.show or 1.0, 0.1))
    if args.show:
        for (i, j), value in sorted(gold.items(), key=lambda kv: kv[1]):
            if value >= args.show:
                print(
                    f"  J={value:.3f} {articles[i].id} | {articles[j].id}: {articles[i].title!r}"
                    f" | {articles[j].title!r}"
                )
    thresholds = [0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9] if args.sweep else [args.threshold]
    print(f"\nbbc-news-2225 ({len(articles)} articles; true copy = exact J >= {args.gold})")
    print("  threshold  flagged (exact+near)  precision  recall   near only: precision  recall")
    last: dict[str, Any] = {}
    for t in thresholds:
        config = DedupeConfig(threshold=t, layout=layout)
        last = evaluate_bbc(articles, gold, config, args.gold)
        print(
            f"  {t:9.2f}  {last['flagged']:4d} ({last['exact']}+{last['near']})"
            f"{'':9}{last['precision']:9.3f}  {last['recall']:6.3f}"
            f"{'':13}{last['near_precision']:9.3f}  {last['near_recall']:6.3f}"
            f"   (positives {last['positives']}, {last['near_positives']} not exact)"
        )
    for j, named, dup in last["wrong"]:
        pair = (min(j, named), max(j, named))
        print(
            f"  wrong: {articles[j].id} -> {dup.duplicate_of} est {dup.similarity:.2f} "
            f"J={gold.get(pair, 0.0):.3f}"
        )
    for j in last["missed"]:
        best = max((v for (a, b), v in gold.items() if j in (a, b)), default=0.0)
        print(f"  missed: {articles[j].id} (best exact J {best:.3f})")

    print(f"\nsemeval2022-task8-sample, en-en pairs (true copy = exact J >= {args.gold})")
    for t in thresholds:
        result = evaluate_semeval(DedupeConfig(threshold=t, layout=layout), args.gold)
        print(
            f"  threshold {t:.2f}: copies precision {result['precision']:.3f} "
            f"recall {result['recall']:.3f} (tp {result['tp']} fp {result['fp']} "
            f"fn {result['fn']})"
        )
        for group, (pairs, flagged) in sorted(result["groups"].items()):
            print(f"      {group:32s} {pairs:4d} pairs, {flagged:3d} flagged duplicate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
