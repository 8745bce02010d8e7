"""Place mentions -> countries, reasoned like a geocoder (pure: no spaCy, no I/O).

Each mention has its readings (:class:`~streams.nlp.gazetteer.PlaceName`: countries, regions,
districts, cities, with populations). A reading's score is its prior (log10 of the people it
names: a country outweighs a region, a city of millions a village namesake) plus the support
of its country in the article: the other place names that can be in that country (weighted by
how likely their own readings put them there), demonyms ("Burkinabe soldiers"), the armed
actors' home countries, and above all the larger unit written with it ("Barsalogho
(Barsalogho, Sanmatenga)", "Timbo-Timbo, North Kivu"), which decides a village's reading or,
when the village has none in that country, leaves it out (it is a village of that unit the
data lacks). Then:

* a mention the text marks as possibly not a place (``weak``: sentence-initial, after "the" or
  "a", glued to another capitalised name, "UN-contracted") counts only when the article's other
  places support its country;
* a name written with a unit's word ("Delta County") reads as a unit that word names in its
  country (the types of ISO 3166-2 first-level units): other readings count ``UNFIT`` orders
  of magnitude less;
* a lone small place (a district or populated place under ``LONE_POPULATION`` people that
  nothing in the article supports) is kept as an ambiguous place but gives no country: one
  GeoNames namesake of a few hundred people is more often a village elsewhere that the data
  lacks than the place meant;
* a place out of line (nothing supports its country while the article's other places agree
  on another) is ambiguous; a famous name too when the text marks it as possibly no place
  ("workers of Paris Confectionery" in an Argentine note);
* demonyms are evidence, not places: they give a country only when no place resolves or
  when the article repeats them (``DEMONYM_REPEAT``), and the armed actors' home countries
  only when neither does; of these fallbacks, those the article's ambiguous places can be in
  come first.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from streams.models import Place
from streams.nlp.gazetteer import PlaceName, unit_types

# Priors by kind where a population is not the point: a country outweighs any of its parts.
COUNTRY_PEOPLE = 1e8
# One supporting place (fully in the country) is worth this many orders of magnitude.
SUPPORT = 2.0
# ... and a country's name elsewhere in the article this share of it.
COUNTRY_NAME_SUPPORT = 0.25
# The larger unit written with a name ("X, Y", "X (Y, Z)") is worth this many.
WITHIN = 6.0
DEMONYM_SUPPORT = 0.5
# A demonym written this many times gives its country even beside resolved places.
DEMONYM_REPEAT = 3
HINT_SUPPORT = 0.3
# log10 people: the least a first-level unit written as a larger unit counts for, and what
# that position adds to its region readings.
CONTAINER_FLOOR = 5.5
CONTAINER_BONUS = 1.0
# Written with a unit's word, a reading that word cannot name counts this many orders of
# magnitude less ("Delta County": Nigeria's units are states).
UNFIT = 3.0
# Below this many people a place nothing else supports gives no country.
LONE_POPULATION = 20_000
# A place is out of line when the article's other places give another country this much.
STRAY_SUPPORT = 1.0
# A name whose readings are all smaller than this is a village: written with a larger unit
# it has no reading in, it is a village of that unit the data lacks.
VILLAGE_POPULATION = 100_000
# A city this large is a place wherever its name stands.
FAMOUS_POPULATION = 500_000
LARGE_REGION = 1_000_000
# A weak mention needs at least this much support for its country.
WEAK_SUPPORT = 0.5
# A reading in another country scoring within this many orders of magnitude (2x) of the chosen
# one makes a place ambiguous ("Tripoli" alone: Libya's 1.1 million, Lebanon's 230,000).
CLEAR = 0.3
_COUNTRY_KINDS = {"country", "alias"}
# Country -> weight (support, shares).
Weights = defaultdict[str, float]


def _weights(items: dict[str, float] | None = None) -> Weights:
    return defaultdict(float, items or {})


@dataclass(frozen=True)
class Mention:
    """A place name in an article: its lookup key, position, and what the text says of it."""

    key: str
    char: int
    sentence: int
    weak: bool = False
    # Keys of the larger units written with it ("Sanmatenga" for "Barsalogho (..., Sanmatenga)").
    within: tuple[str, ...] = ()
    # After "the" or "a" ("the Gulf", "a Toyota"): a common noun or a thing, never a place
    # unless a country's name.
    common: bool = False
    # Weak only as the first word of a longer name ("Texas Instruments"): large places
    # (first-level units of ``LARGE_REGION`` people) still count.
    in_name: bool = False
    # The administrative unit's word it is written with ("state" for "Chin State",
    # "county" for "Delta County"), singular and lowercase; "" when none.
    unit: str = ""
    # Part of an organisation's name ("Piedmont Aviation Inc", "Delta Air Lines", an NER
    # organisation), or the name the article gives such a company ("Piedmont said").
    organisation: bool = False
    # Where a person lives ("A Lima man"): needs support for its country, famous or not.
    resident: bool = False
    # Written with a word second-level units take ("Busia district", "Delta County"), which
    # first-level ones take too in some countries (Kenya's counties).
    district: bool = False


@dataclass(frozen=True)
class Resolution:
    """Resolved places by mention (ambiguous ones included) and the article's countries."""

    places: dict[Mention, Place]
    countries: list[str]


def prior(place: PlaceName) -> float:
    """log10 of the people a reading names (countries, aliases: ``COUNTRY_PEOPLE``)."""
    people = COUNTRY_PEOPLE if place.kind in _COUNTRY_KINDS else max(place.population, 1)
    return math.log10(people)


class _Options:
    """A mention's readings with their priors and countries computed once (scoring runs
    several times per reading, and a common name has dozens of readings)."""

    __slots__ = ("countries", "inner", "places", "priors")

    def __init__(
        self,
        places: Sequence[PlaceName],
        container: bool = False,
        unit: str = "",
        district: bool = False,
    ) -> None:
        self.places = tuple(places)
        # Written as the larger unit of another name, a name is a unit: its first-level
        # readings count at least as a province of ``CONTAINER_FLOOR`` people (the data's
        # sums of villages undercount them), and before namesake cities and districts.
        # Written with a word second-level units take, its second-level readings count so
        # too ("Busia district" is Uganda's district as much as Kenya's county; "Ilam
        # district" is Nepal's as much as Iran's province), unless the word is the very name
        # of a reading's first-level units ("Busia County": Kenya's units are counties).
        lift = district and not any(
            p.kind == "region" and unit in unit_types(p.country) for p in self.places
        )
        # Readings its unit's word cannot name count ``UNFIT`` orders of magnitude less than
        # their prior: not nothing, as the data lacks many a second-level unit ("Sucre
        # municipality" in Venezuela's Bolivar state is no Peruvian district).
        self.priors = [
            prior(p) - UNFIT
            if unfit
            else max(prior(p), CONTAINER_FLOOR) + CONTAINER_BONUS
            if (container and p.kind == "region") or (lift and p.kind == "district")
            else prior(p)
            for p, unfit in zip(self.places, _unfit(unit, self.places), strict=True)
        ]
        self.countries = [p.country for p in self.places]
        # Whether the larger unit written with the name speaks for the reading.
        self.inner = [p.kind not in _COUNTRY_KINDS for p in self.places]

    def scores(self, support: Weights, within: Weights) -> list[float]:
        """Every reading's score: its prior plus the article's support for its country; the
        larger unit written with a name speaks for its parts, not for a country named beside
        it."""
        return [
            pr + SUPPORT * support.get(c, 0.0) + (WITHIN * within.get(c, 0.0) if i else 0.0)
            for pr, c, i in zip(self.priors, self.countries, self.inner, strict=True)
        ]


def _shares(options: _Options, support: Weights, within: Weights) -> Weights:
    """Country -> share of a mention's reading mass (softmax of the scores, base 10)."""
    scores = options.scores(support, within)
    top = max(scores)
    mass = _weights()
    for c, s in zip(options.countries, scores, strict=True):
        mass[c] += 10.0 ** (s - top)
    total = sum(mass.values())
    return _weights({c: v / total for c, v in mass.items()})


def resolve(
    mentions: Sequence[Mention],
    lookup: Callable[[str], tuple[PlaceName, ...]],
    hints: Iterable[str] = (),
    spellings: Callable[[str], tuple[PlaceName, ...]] | None = None,
) -> Resolution:
    """Mentions -> places and countries (see the module docstring). ``spellings`` gives the
    readings a name has only as a unit ("Bam" is Burkina Faso's province beside Iran's city;
    "Tillabery" is Tillabéri): added for the names the text marks as units (written as the
    larger unit of another, or with a unit's word)."""
    # Names written as the larger unit of another or with a unit's word: "Bari" in
    # "(Bossaso, Bari)" is Somalia's region, not Italy's city; "Chin State" is Myanmar's.
    containers = {key for m in mentions for key in m.within}
    readings = {m: lookup(m.key) for m in mentions}
    if spellings is not None:
        for m, o in readings.items():
            if m.unit or m.key in containers:
                readings[m] = o + tuple(p for p in spellings(m.key) if p not in o)
    demonyms: Counter[str] = Counter()
    places: dict[Mention, tuple[PlaceName, ...]] = {}
    for mention, options in readings.items():
        # A demonym is a demonym before a namesake town ("Thai coffee exports" is no
        # Malaysian town); a region or district of that name stays a place ("Somali region").
        if (
            options
            and all(p.kind in {"demonym", "city", "alternate"} for p in options)
            and any(p.kind == "demonym" for p in options)
        ):
            demonyms.update({p.country for p in options if p.kind == "demonym"})
        elif options:
            places[mention] = tuple(p for p in options if p.kind != "demonym")
    # Names of whole countries: an article that names Canada is not about London, Ontario.
    countrywide = {m for m, o in places.items() if o[0].kind in _COUNTRY_KINDS}
    # A company's name is no place, however famous the place it is named after ("Piedmont
    # Aviation", "Delta Air Lines"): it does not speak for other names, and it gives no
    # country where the article's other places are elsewhere, nor, unsupported, where its
    # name is a place in several countries and no famous city ("Delta", "Santa Fe").
    # Otherwise a company's home is the best guess of where a story is ("Alaska Air Group",
    # "First Boston Corp" in a wire story). A country's own name still names it ("Japan
    # Airlines"), unless it is also a place elsewhere ("Georgia Power").
    companies = {m for m, o in places.items() if m.organisation and not _country_only(o)}
    # A country's, a famous city's or a landmark region's name is a place wherever it stands
    # ("the London Stock Exchange", "Houston Oil", "a New York investment firm"), and so is a
    # company's home of one country and 100,000+ people; the context marks only the others
    # as weak.
    weak = {
        m
        for m, o in places.items()
        if m.weak
        and not (_famous(o, m.in_name) or _landmark(m, o))
        and not (m in companies and _home(o))
    } | {m for m, o in places.items() if m.resident and not _country_only(o)}
    weak_famous = {m for m in places if m.weak and m not in weak}
    # ... but a landmark in a weak position ("Maccabi Tel Aviv", "a New York firm") does not
    # speak for its country's namesakes of the article's other names ("Venice", "Athens").
    mute = weak | companies | {m for m, o in places.items() if m.weak and not _famous(o, m.in_name)}
    # How much a name speaks for its country: a village's namesakes are many, so its vote
    # counts less than a city's or a province's (0.2 at 1,000 people, 1 from 1,000,000).
    # A province of one country counts in full whatever people the data gives it (its sum
    # of villages undercounts it: "Paktia", "Hama"), unless written inside another name
    # ("Maan town in Hama": Jordan's Maan province is no evidence against Syria's Hama).
    reliability = {
        m: 1.0 if not m.within and _one_province(o) else _reliability(o) for m, o in places.items()
    }
    hint_set = set(hints)
    base = _weights()
    for country in demonyms:
        base[country] += DEMONYM_SUPPORT
    for country in hint_set:
        base[country] += HINT_SUPPORT
    # Two rounds: each name's country shares, then each name read in the light of the others.
    none = _weights()
    scored = {
        m: _Options(o, bool(m.unit) or m.key in containers, m.unit, m.district)
        for m, o in places.items()
    }
    shares = {m: _shares(o, none, none) for m, o in scored.items()}
    by_key: dict[str, list[Mention]] = {}
    for m in places:
        by_key.setdefault(m.key, []).append(m)
    support: dict[str, Weights] = {}
    within: dict[Mention, Weights] = {}
    for _round in range(2):
        support = _support(by_key, shares, base, countrywide, mute, reliability)
        within = {m: _within(m, by_key, shares) for m in places}
        shares = {m: _shares(o, support[m.key], within[m]) for m, o in scored.items()}
    out: dict[Mention, Place] = {}
    countries: list[str] = []
    for mention in sorted(places, key=lambda m: m.char):
        options = places[mention]
        sup, inside = support[mention.key], within[mention]
        scores = scored[mention].scores(sup, inside)
        top = max(range(len(options)), key=scores.__getitem__)
        chosen = options[top]
        country = chosen.country
        named = chosen.kind in _COUNTRY_KINDS
        small = not named and max(p.population for p in options) < VILLAGE_POPULATION
        if (
            inside
            and inside.get(country, 0.0) < 0.5
            and (small or (not named and _in_unit(mention, places)))
        ):
            # A village of the unit written with it that the data lacks; a town too when
            # that unit is an administrative one ("Al Mansurah, Aden" is no Egyptian city).
            continue
        if mention in weak and (mention.common or sup.get(country, 0.0) < WEAK_SUPPORT):
            continue
        if (
            mention in companies
            and sup.get(country, 0.0) < WEAK_SUPPORT
            and (
                max(sup.values(), default=0.0) >= WEAK_SUPPORT
                or not (_home(options) or _famous(options, False))
            )
        ):
            continue
        region = chosen.region or next(
            (p.region for p in options if p.country == country and p.region), None
        )
        lone = (
            not named
            and chosen.kind in {"city", "alternate"}
            and chosen.population < LONE_POPULATION
            and sup.get(country, 0.0) < WEAK_SUPPORT
            and not inside
        )
        best = scores[top]
        rival = max(
            (v for p, v in zip(options, scores, strict=True) if p.country != country),
            default=-math.inf,
        )
        # Out of line: nothing supports its country while the article's other places agree
        # on another one ("Colonia Centro" beside Mexican towns is no German place).
        stray = (
            not named
            # A famous name counts wherever it stands, but not where the text marks it as
            # possibly no place and the article is elsewhere ("Paris Confectionery" in La
            # Plata, "London" in a Manila bond story).
            and not (_famous(options, False) and mention not in weak_famous)
            and not _landmark(mention, options)
            and sup.get(country, 0.0) < WEAK_SUPPORT
            and max(sup.values(), default=0.0) >= STRAY_SUPPORT
        )
        # A country's name that is also a large unit of another country ("Georgia", "Niger")
        # names either: nothing in the article supporting the country, it gives none.
        namesake = (
            named
            and sup.get(country, 0.0) < WEAK_SUPPORT
            and any(
                p.kind == "region" and p.population >= LARGE_REGION and p.country != country
                for p in options
            )
        )
        ambiguous = rival > best - CLEAR or lone or stray or namesake
        out[mention] = Place(mention.key[:300], country, region, ambiguous)
        if not ambiguous:
            countries.append(country)
    # A demonym the article repeats is its subject ("West German bank" four times), even
    # when a place elsewhere resolves.
    countries += [c for c, n in demonyms.most_common() if n >= DEMONYM_REPEAT]
    if not countries:
        fallback = [c for c, _n in demonyms.most_common()] or list(dict.fromkeys(hints))
        # Of the demonyms' or actors' countries, those the article's ambiguous places can be
        # in ("Novoluhanske" settles which of the OSCE's and an acronym's countries it is).
        readable = {p.country for m in out for p in places[m]}
        countries = [c for c in fallback if c in readable] or fallback
    return Resolution(out, list(dict.fromkeys(countries)))


def _reliability(options: Sequence[PlaceName]) -> float:
    """How much a name's vote counts by the people of its largest reading."""
    return min(1.0, max(0.2, (max(prior(p) for p in options) - 3.0) / 3.0))


def _one_province(options: Sequence[PlaceName]) -> bool:
    """Whether a name is a first-level unit and names nothing in another country."""
    return any(p.kind == "region" for p in options) and len({p.country for p in options}) == 1


# The words news uses for first-level units interchangeably (Syria's "governorates" are its
# "provinces" in the wires); the others name units of a kind only some countries have.
_FIRST_LEVEL_WORDS = {"province", "governorate", "region", "regional", "state", "territory"}


def _unit_word_fits(word: str, country: str) -> bool:
    """Whether a first-level unit of ``country`` can be written with ``word``: "Lagos State",
    "Busia County" in Kenya; not "Delta County", Nigeria's units being states."""
    types = unit_types(country)
    if not types:
        return True  # a country the ISO data has no units for: nothing to tell
    return word in types or (word in _FIRST_LEVEL_WORDS and bool(types & _FIRST_LEVEL_WORDS))


def _unfit(unit: str, options: Sequence[PlaceName]) -> list[bool]:
    """Written with a unit's word, a name is a unit: of its readings, those that are no unit
    that word can name (a city; a first-level unit of a country whose units the word does not
    name) are unfit, when any reading fits ("Delta County" is a US county, not Nigeria's
    Delta State nor the Canadian city; "Busia district" is Uganda's, Kenya's Busia being a
    county)."""
    fits = [
        p.kind == "district" or (p.kind == "region" and _unit_word_fits(unit, p.country))
        for p in options
    ]
    if not unit or not any(fits):
        return [False] * len(options)
    return [not f for f in fits]


def _in_unit(mention: Mention, places: dict[Mention, tuple[PlaceName, ...]]) -> bool:
    """Whether a larger unit written with the mention is an administrative unit or a country
    (not "Boca Raton, Fla", whose "Fla" the data reads as a Norwegian village)."""
    units = {m.key for m, o in places.items() if any(p.kind != "city" for p in o)}
    return bool(set(mention.within) & units)


def _landmark(mention: Mention, options: Sequence[PlaceName]) -> bool:
    """A large region whose name of several words names nothing in another country ("New
    York", "British Columbia"): no common word, and never out of line beside another
    country's places. Single words and names shared across countries ("Free", "Colorado",
    "Santa Fe", "North West") can be either."""
    return (
        " " in mention.key
        and len({p.country for p in options}) == 1
        and any(p.kind == "region" and p.population >= LARGE_REGION for p in options)
    )


def _home(options: Sequence[PlaceName]) -> bool:
    """Whether a company named so has a clear home: every reading in one country, one of
    ``VILLAGE_POPULATION`` people or more ("Alaska", not "Delta" or "Northwest")."""
    return len({p.country for p in options}) == 1 and (
        max(prior(p) for p in options) >= math.log10(VILLAGE_POPULATION)
    )


def _country_only(options: Sequence[PlaceName]) -> bool:
    """Whether every reading of a name is a country's name or alias ("Japan", not "Georgia")."""
    return all(p.kind in _COUNTRY_KINDS for p in options)


def _famous(options: Sequence[PlaceName], in_name: bool) -> bool:
    """A country, a city of ``FAMOUS_POPULATION`` people, or (``in_name``: opening a longer
    name) a first-level unit of ``LARGE_REGION`` people."""
    return any(
        p.kind in _COUNTRY_KINDS
        or (p.kind == "city" and p.population >= FAMOUS_POPULATION)
        or (in_name and p.kind == "region" and p.population >= LARGE_REGION)
        for p in options
    )


def _support(
    by_key: dict[str, list[Mention]],
    shares: dict[Mention, Weights],
    base: Weights,
    countrywide: set[Mention],
    mute: set[Mention],
    reliability: dict[Mention, float],
) -> dict[str, Weights]:
    """Name -> country -> how much the article's other place names (each counted once, by
    its first mention that is not mute; mute ones not at all) and its demonyms and actors say
    a mention of that name is there. Computed once per name, not per mention: a long text
    repeats its names."""
    voters: dict[str, Mention] = {}
    for m in shares:  # in the article's order
        if m not in mute:
            voters.setdefault(m.key, m)
    votes = [
        (key, COUNTRY_NAME_SUPPORT if m in countrywide else reliability[m], shares[m])
        for key, m in voters.items()
    ]
    out: dict[str, Weights] = {}
    for key in by_key:
        total = _weights(base)
        for other, weight, share in votes:
            if other != key:
                for country, value in share.items():
                    total[country] += weight * value
        out[key] = total
    return out


def _within(
    mention: Mention, by_key: dict[str, list[Mention]], shares: dict[Mention, Weights]
) -> Weights:
    """Country -> share of the larger units written with the mention."""
    out = _weights()
    for key in mention.within:
        for other in by_key.get(key, ())[:1]:
            for country, value in shares[other].items():
                out[country] = max(out[country], value)
    return out
