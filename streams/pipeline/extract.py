"""Stage ``extract``: unique articles -> event records (themes, events, places, actors).

Two passes. The cheap one tokenises every article, splits sentences and phrase-matches theme
triggers, actor names and place names (``tocsin_gazetteer``); only the sentences holding a
trigger go through the statistical pipeline (tagger, parser, NER), in one ``nlp.pipe`` over
the whole batch. Each trigger becomes an :class:`~streams.models.Event` with its sentence,
who did it to whom (from the dependency parse when there is one), the places of its own and
the adjacent sentences, negated/hypothetical marks and a confidence. The article record keeps
``themes`` (every reported, i.e. non-negated and non-hypothetical, theme) and ``primary_theme``
(the main happening by the taxonomy's ACLED-style precedence).

On ``spacy.blank("en")`` the same code runs without the second pass: roles come from the
agent words of the taxonomy ("by militants") and the gazetteer.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import wordfreq
from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Span, Token

from streams.models import TEXT_MAX, Article, Event, EventRecord, Evidence, Place, Rejected
from streams.nlp import model_name
from streams.nlp.components import GazetteerComponent, Hit
from streams.nlp.gate import INCIDENT_THEMES
from streams.nlp.gazetteer import (
    PlaceName,
    Rule,
    Sense,
    Taxonomy,
    is_place_name,
    matchable_places,
    place_readings,
    unit_readings,
)
from streams.pipeline.places import FAMOUS_POPULATION, Mention, resolve

STAGE = "extract"
# spaCy's cost grows with length; a news body past this is almost always scraped junk.
MAX_NLP_CHARS = 100_000
# Bounds on the statistical pass per article: the sentences parsed and their length.
MAX_FOCUS_SENTENCES = 40
MAX_PARSED_SENTENCE_CHARS = 1500
MAX_EVENTS = 100
MAX_ACTORS = 12
# Trigger weight from which an incident in the headline or lead passes the event gate.
LEAD_WEIGHT = 2.0
_ACTOR_LABELS = {"PERSON", "ORG"}
_PLACE_LABELS = {"GPE", "LOC", "NORP", "FAC"}
_MODALS = {"would", "could", "might", "may", "should"}
# How far before a trigger a negation or hypothetical cue still applies to it (tokens).
CUE_WINDOW = 6
_SUBJECTS = {"nsubj", "nsubjpass", "csubj"}
_LEFT_MODIFIERS = {"compound", "amod", "nummod", "poss", "nmod", "quantmod"}
_sentencizer = Sentencizer()


def article_text(article: Article) -> str:
    """What the model reads: the title as its own paragraph, then the body."""
    body = article.text[:MAX_NLP_CHARS]
    if not article.title:
        return body
    # A full stop keeps an unpunctuated headline out of the body's first sentence.
    stop = "" if article.title.rstrip()[-1:] in ".!?" else "."
    return f"{article.title}{stop}\n\n{body}"


def gazetteer(nlp: Language) -> GazetteerComponent:
    component = nlp.get_pipe("tocsin_gazetteer")
    assert isinstance(component, GazetteerComponent)
    return component


def has_statistics(nlp: Language) -> bool:
    """Whether ``nlp`` has a trained parser or NER worth a second pass."""
    return nlp.has_pipe("parser") or nlp.has_pipe("ner")


def fast_doc(nlp: Language, text: str) -> Doc:
    """The cheap pass: tokens, rule-based sentences and the gazetteer's phrase matches."""
    return gazetteer(nlp)(_sentencizer(nlp.make_doc(text)))


@dataclass
class _Unit:
    """A sentence the events are read from: a parsed sentence doc, or a span of the fast doc
    (blank model, or a sentence too long to parse). ``index`` is its sentence number in the
    article and ``offset`` its first character in the article text."""

    span: Span
    index: int
    offset: int


@dataclass
class _Reading:
    """Everything read from one article."""

    names: Doc  # whole-article doc with gazetteer hits (actors, places)
    sentence_of_token: list[int]  # names-doc token -> sentence index
    units: list[_Unit] = field(default_factory=list)
    # The article text (``names.text`` joins every token again on each call).
    text: str = ""


def extract_batch(
    nlp: Language, articles: Sequence[Article], *, focus: bool = True
) -> list[EventRecord | Rejected]:
    """One record (or rejection) per article, in order. ``focus=False`` is the naive
    baseline: the full pipeline over every whole article. A failing article does not fail
    the others: on an error the batch is redone one article at a time."""
    try:
        readings = _read_batch(nlp, [article_text(a) for a in articles], focus)
        model = model_name(nlp)
        taxonomy = gazetteer(nlp).taxonomy
        return [
            _record(reading, a, model, taxonomy, gazetteer(nlp))
            for reading, a in zip(readings, articles, strict=True)
        ]
    except Exception:  # noqa: BLE001  (isolate the culprit below, then report it per article)
        return [_extract_one(nlp, a, focus) for a in articles]


def _extract_one(nlp: Language, article: Article, focus: bool) -> EventRecord | Rejected:
    try:
        (reading,) = _read_batch(nlp, [article_text(article)], focus)
        component = gazetteer(nlp)
        return _record(reading, article, model_name(nlp), component.taxonomy, component)
    except Exception as exc:  # noqa: BLE001  (becomes a dead letter, never a crash)
        return Rejected(type(exc).__name__, str(exc)[:500])


def _sentence_index(doc: Doc) -> list[int]:
    index = [0] * len(doc)
    for n, sent in enumerate(doc.sents):
        for i in range(sent.start, sent.end):
            index[i] = n
    return index


def _read_batch(nlp: Language, texts: list[str], focus: bool) -> list[_Reading]:
    if not focus and has_statistics(nlp):
        readings = []
        for doc, text in zip(nlp.pipe(texts), texts, strict=True):
            reading = _Reading(doc, _sentence_index(doc), text=text)
            for n, sent in enumerate(doc.sents):
                if any(sent.start <= h.start < sent.end for h in doc._.theme_hits):
                    reading.units.append(_Unit(sent, n, sent.start_char))
            readings.append(reading)
        return readings
    readings = []
    jobs: list[tuple[int, int, int, str]] = []  # (article, sentence index, offset, text)
    for a, text in enumerate(texts):
        doc = fast_doc(nlp, text)
        reading = _Reading(doc, _sentence_index(doc), text=text)
        readings.append(reading)
        sents = list(doc.sents)
        wanted = sorted({reading.sentence_of_token[h.start] for h in doc._.theme_hits})
        for n in wanted[:MAX_FOCUS_SENTENCES]:
            sent = sents[n]
            if has_statistics(nlp) and len(sent.text) <= MAX_PARSED_SENTENCE_CHARS:
                jobs.append((a, n, sent.start_char, sent.text))
            else:
                reading.units.append(_Unit(sent, n, sent.start_char))
    if jobs:
        for (a, n, offset, _text), sdoc in zip(
            jobs, nlp.pipe(text for *_rest, text in jobs), strict=True
        ):
            readings[a].units.append(_Unit(sdoc[:], n, offset))
    for reading in readings:
        reading.units.sort(key=lambda u: u.offset)
    return readings


# -- places -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mention:
    text: str
    char: int  # position in the article text
    sentence: int


_PLACE_WORDS = (
    "city", "town", "township", "village", "district", "province", "state", "region",
    "county", "governorate", "municipality", "area", "camp", "neighbourhood", "neighborhood",
    "countryside", "outskirts", "suburb", "suburbs", "division", "subdivision", "parish",
)  # fmt: skip
# "Donetsk Filtration Station", "Mundri Centre": a facility named after the place it is in.
_FACILITY_WORDS = {
    "station", "airport", "hospital", "market", "road", "bridge", "prison", "junction",
    "square", "stadium", "centre", "center", "university", "school", "base", "checkpoint",
    "port", "crossing", "front", "highway", "village", "town", "city", "camp", "area",
}  # fmt: skip
_AFTER = set(_PLACE_WORDS) | _FACILITY_WORDS
# Capitalised, a facility's word makes a proper name ("Metro Center"), not "Goma airport".
_FACILITY_NAMES = _FACILITY_WORDS - set(_PLACE_WORDS)
# Words of administrative units: a name written with one is read as a unit ("Chin State").
_UNIT_WORDS = {
    "district", "province", "state", "region", "county", "governorate", "municipality",
    "division", "subdivision", "parish", "department", "prefecture",
    # "Hadhramawt and Al Jawf governorates": the last of several units.
    "districts", "provinces", "states", "regions", "counties", "governorates",
    "municipalities", "departments", "prefectures",
}  # fmt: skip
# ... of those, the words of second-level units (which some countries' first-level units
# take too: Kenya's counties): "Busia district" may be Uganda's district as much as Kenya's
# county.
_DISTRICT_WORDS = {
    "district", "county", "municipality", "subdivision", "parish", "division", "districts",
    "counties", "municipalities",
}  # fmt: skip
# A name before these names an organisation, not a place: "the Badr organization".
_ORGANISATION_WORDS = {
    "organization", "organisation", "company", "companies", "party", "movement", "brigade",
    "brigades", "militia", "militias", "group", "corporation", "bank", "club", "union",
}  # fmt: skip
# Words that end a company's name ("Delta Air Lines Inc", "Piedmont Aviation", "Bay State Gas
# Co", "Commonwealth Edison"): a place name opening such a name is the company's, not a place
# of the story. Legal forms, then the trades that companies are named after ("Bank of
# Tokyo" too; "Mizuno Corp of Osaka" is where the company is).
_LEGAL_FORMS = {
    "Inc", "Corp", "Co", "Cos", "Ltd", "Limited", "LLC", "Plc", "PLC", "AG", "NV", "GmbH",
    "Corporation", "Company", "Companies", "Incorporated",
}  # fmt: skip
_COMPANY_WORDS = _LEGAL_FORMS | {
    "Holdings", "Group", "Partners",
    "Associates", "Enterprises", "Industries", "Bancorp", "Bancshares", "Bankshares", "Bank",
    "Banks", "Savings", "Securities", "Financial", "Insurance", "Airlines", "Airways",
    "Aviation", "Lines", "Power", "Electric", "Edison", "Energy", "Gas", "Petroleum",
    "Resources", "Mining", "Motors", "Steel", "Chemical", "Chemicals", "Pharmaceuticals",
    "Telephone", "Telecom", "Communications", "Electronics", "Instruments", "Systems",
    "Technologies", "Software", "Foods", "Brewing", "Railroad", "Utilities", "Realty",
    "Stores",
}  # fmt: skip
# Words that join the parts of a company's name ("Olympia and York Developments").
_NAME_JOINERS = {"and", "&", "of"}
# A place name right after these is where something happens, whatever else the article
# calls by that name ("a plant in Texas" beside "Texas Instruments").
_LOCATIVE = {"in", "near", "at", "outside", "across", "throughout"}
_ARTICLE = {"the", "a", "an"}
_INITIAL = re.compile(r"[A-Z]\.$")
_SAINT = {"St.", "St", "Saint", "Ste.", "Sainte"}
# Titles before a person's name (written with or without a full stop).
_HONORIFICS = {
    "Mr", "Mrs", "Ms", "Miss", "Dr", "Officer", "Sgt", "Sergeant", "Detective", "Det",
    "Deputy", "Lt", "Lieutenant", "Capt", "Captain", "Cpl", "Corporal", "Trooper", "Judge",
}  # fmt: skip
# Capitalised after a name, these make it a street's name, which may be any place's.
_STREET_WORDS = {
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Boulevard", "Blvd", "Drive", "Dr", "Lane",
    "Ln", "Parkway", "Pkwy", "Place", "Pl", "Court", "Ct", "Terrace", "Pike", "Highway",
    "Turnpike", "Expressway", "Freeway", "Hwy",
}  # fmt: skip
# A place name right before these is a currency, not a place: "the US dollar".
_CURRENCY_WORDS = {"dollar", "dollars", "pound", "pounds", "rupee", "rupees", "currency"}
# "Saudi-led coalition", "US-backed forces", "pro-Iran militias": a sponsor's country, no
# place of the event (and no support for a place's reading there).
_SPONSOR_AFTER = {"led", "backed", "funded", "sponsored", "supported", "trained", "allied",
                  "aligned", "affiliated", "brokered", "made", "supplied"}  # fmt: skip
_SPONSOR_BEFORE = {"pro", "anti"}
# Compass words news puts before a place's name ("North Galkayo", "southern Idlib").
_COMPASS = ("North ", "South ", "East ", "West ", "Northern ", "Southern ", "Eastern ",
            "Western ", "Central ", "Upper ", "Lower ")  # fmt: skip
# "Village (District, Province)" and "in Town, Region": the larger units of a place, which
# NER does not always mark (and the blank pipeline never does).
# A name of up to four capitalised words, with the particles of Arabic, Spanish and
# Portuguese names between them ("Radman al Awadh", "Khabb wa ash Shaaf", "Tafi del Valle").
_NAME_PARTICLES = r"(?:al|el|ad|ar|as|ash|az|an|ez|es|ed|de|del|da|do|dos|das|di|wa)"
_NAME = rf"[A-Z][\w'’-]+(?: (?:{_NAME_PARTICLES} ){{0,2}}[A-Z][\w'’-]+){{0,3}}"
_UNIT = r"(?: (?:district|town|city|village|province|county|state|region|area|subdivision))?"
_BRACKETED = re.compile(rf"({_NAME}){_UNIT} \(({_NAME})(?:, ({_NAME}))?\)")
# "(District, Province)" after a word that is no name ("Enma market (Al Mansurah, Aden)").
_PAIR = re.compile(rf"\(({_NAME}), ({_NAME})\)")
# ... "in Village, District, Province": each name within the ones after it.
_COMMA = re.compile(
    rf"\b(?:in|near|at|of|from|outside) ({_NAME}){_UNIT}, ({_NAME})(?:{_UNIT}, ({_NAME}))?"
)
# "in Maan town in Hama", "the town of Mansura in the western countryside of Ar-Raqqa": a
# place in a larger one, written so.
_IN_IN = re.compile(
    rf"\b(?:in|near|at|outside|of) ({_NAME}){_UNIT} in (?:the (?:[a-z]+ )?"
    rf"(?:countryside|outskirts|suburbs|province|governorate|district|region|state) of )?({_NAME})"
)
# "in Ar-Raqqa": a name after a preposition of place, which NER does not always mark.
_AFTER_PREPOSITION = re.compile(rf"\b(?:in|near|outside|at) ({_NAME})")
# A dateline opening the body or the article: "ATLANTA —", "COLUMBUS, Ohio (AP) --",
# "SAN ANTONIO, Texas -". Its place in capitals, which phrase matching (case-sensitive) misses.
_CAPS = r"[A-Z][A-Z'’.-]*[A-Z]"
_DATELINE = re.compile(
    rf"(?:\A|\n\n)[ \t]*({_CAPS}(?: {_CAPS}){{0,3}})(?:, ({_NAME})\.?)?"
    r"(?: \([^()\n]{1,40}\))? ?(?:—|–|--|-) "
)
# Names after "in" that are dates, not places.
_CALENDAR = {
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December", "Monday", "Tuesday", "Wednesday", "Thursday",
    "Friday", "Saturday", "Sunday",
}  # fmt: skip


# Retail words: a place's name opening the capitalised name before one is a shop's or a
# brand's ("a London Fog outlet", "a Paris Baguette store"), which may be anywhere.
_SHOP_WORDS = {
    "outlet", "outlets", "store", "stores", "shop", "shops", "restaurant", "restaurants",
    "cafe", "café", "bakery", "diner", "dealership", "franchise", "boutique", "salon",
    "pizzeria", "supermarket", "showroom", "brand", "chain", "bar", "pub",
}  # fmt: skip
# A word at least this frequent in English (wordfreq's Zipf scale: "metro" 4.2, "central"
# 5.1; "goma" 2.4) is a common word as much as a name.
COMMON_ZIPF = 4.0
# A surname is rarer than this as a word ("smith" 4.6, "hernandez" 3.6); the words that name
# a newspaper, an airline or a war after a country's name are not ("air" 5.4, "police" 5.3).
SURNAME_ZIPF = 5.0
# After "a" and a place's name, these make it where a person lives ("A Lima man", "a Cairo
# woman" in US local news: Lima, Ohio; Cairo, Georgia), which may be any namesake.
_RESIDENT_WORDS = {
    "man", "woman", "men", "women", "boy", "girl", "teen", "teenager", "teens", "resident",
    "residents", "couple", "family", "mother", "father", "driver", "student",
}  # fmt: skip
# Readings of a name that is also a first name ("Israel", "Jordan", "Chad", "Kenya").
_FIRST_NAME_KINDS = {"country", "alias"}


def _zipf(word: str) -> float:
    return float(wordfreq.zipf_frequency(word.lower(), "en"))


def place_key(text: str) -> str:
    """ "the Douala city" -> "Douala": the name the place tables know."""
    words = text.removeprefix("the ").removeprefix("The ").split()
    while len(words) > 1 and words[-1].lower() in _PLACE_WORDS:
        words.pop()
    return " ".join(words)


# Arabic articles glued to a name by the wire services: "Ar-Raqqa", "As-Sweida", "el-Arish".
_ARTICLES = ("Al-", "al-", "Ar-", "As-", "Ash-", "Ad-", "Az-", "At-", "An-", "El-", "el-")


def _spellings(key: str) -> list[str]:
    """A name as written, then without hyphens ("Deir-ez-Zor"), its glued article and a
    compass word ("North Galkayo")."""
    out = [key, key.replace("-", " ")]
    for article in _ARTICLES:
        if key.startswith(article) and len(key) > len(article) + 3:
            out.append(key.removeprefix(article))
    for compass in _COMPASS:
        if key.startswith(compass) and len(key) > len(compass) + 3:
            out.append(key.removeprefix(compass))
    return out


def _lookup(key: str, places: Path | None) -> tuple[PlaceName, ...]:
    """Readings of a name (or a usual spelling of it), else of its leading words when the
    rest names a facility there ("Donetsk Filtration Station"); "Bako Tibe" is not "Bako"."""
    for spelling in _spellings(key):
        found = place_readings(spelling, places)
        if found:
            return found
    words = key.split()
    if len(words) > 1 and words[-1].lower() in _FACILITY_WORDS:
        for n in range(len(words) - 1, 0, -1):
            head = " ".join(words[:n])
            if len(head) > 3:
                found = place_readings(head, places)
                if found:
                    return found
    return ()


def _sponsor(doc: Doc, start: int, end: int) -> bool:
    """A country named as a sponsor or side: "Saudi-led", "US-backed", "pro-Iran" (glued by a
    hyphen: "Japan backed the plan" names Japan as a side of a story about it)."""
    glued = end + 1 < len(doc) and doc[end].text == "-" and not doc[end - 1].whitespace_
    if glued and doc[end + 1].lower_ in _SPONSOR_AFTER:
        return True
    return start >= 2 and doc[start - 1].text == "-" and doc[start - 2].lower_ in _SPONSOR_BEFORE


def _currency(doc: Doc, end: int) -> bool:
    return end < len(doc) and doc[end].lower_ in _CURRENCY_WORDS


# Lowercase particles inside longer place names: "Wadi al-Rabi", "San Pedro de Ycuamandiyu".
_PARTICLES = {"al", "el", "ad", "ar", "as", "ash", "az", "an", "ez", "es", "ed", "de", "del",
              "da", "do", "dos", "das", "di", "wa"}  # fmt: skip


def _particle(doc: Doc, end: int) -> bool:
    """Whether the name ending at ``end`` goes on with a particle and a name ("Wadi al Washka",
    "Wadi al-Rabi"): it is the first word of a longer name, not a place of its own."""
    if end + 1 >= len(doc) or doc[end].lower_ not in _PARTICLES or doc[end].text[:1].isupper():
        return False
    nxt = doc[end + 2] if doc[end + 1].text == "-" and end + 2 < len(doc) else doc[end + 1]
    return nxt.is_title and nxt.is_alpha


def _context(doc: Doc, start: int, end: int) -> tuple[bool, bool, bool]:
    """(weak, common, in_name): whether the text around a name says it may be no place, and
    why. Weak: the first word of a sentence ("Man shot dead"), glued by a hyphen to a
    lowercase word ("UN-contracted") or the end of a longer name ("Xaaji-Cali", "Mansir
    Hassan", "Tafi del Valle"). Common: a common noun or a thing ("the Gulf grew", "a
    Toyota"). In a name: the first word of an organisation's or a product's name ("Texas
    Instruments", "the New York Stock Exchange", "Toyota Landcruiser", "the Badr
    organization"), where large places still are places."""
    first = doc[start]
    if first.lower_ in {"the", "a", "an"} and end - start > 1:
        start += 1
    # Line breaks inside a sentence (hard-wrapped wire copy) are tokens of their own: the
    # context is the next word on either side.
    end = _skip_space(doc, end, 1)
    after = doc[end] if end < len(doc) else None
    before_i = _skip_space(doc, start - 1, -1)
    before = doc[before_i] if before_i >= 0 else None
    if (
        before is not None
        and before.lower_ in _PARTICLES
        and before.is_lower
        and before_i >= 1
        and doc[_skip_space(doc, before_i - 1, -1)].is_title
    ):  # the end of a longer name: "Tafi del Valle", "the Garita de Lima square"
        return True, False, False
    if after is not None and after.is_title and after.lower_ in _FACILITY_NAMES:
        # A facility's proper name may be anyone's or anything's ("Metro Center", "Piedmont
        # Hospital"): it names a place where the article's other places agree.
        return True, False, False
    if after is not None and after.lower_ in _AFTER:
        # "near Metro station", "outside Central market": a common word before a facility's
        # word is the facility's proper name, which may be anywhere; "Goma airport", "the
        # Kaya area" name the place.
        common_word = end - start == 1 and _zipf(doc[start].text) >= COMMON_ZIPF
        return common_word and after.lower_ in _FACILITY_NAMES, False, False
    if after is not None and after.is_lower and after.lower_ in _ORGANISATION_WORDS:
        return True, False, True  # "the Badr organization": large places still count

    named_after = after is not None and ((after.is_title and after.is_alpha) or _particle(doc, end))
    if doc[start].lower_ != first.lower_ or (before is not None and before.lower_ in _ARTICLE):
        return True, not named_after, named_after
    if any(doc[k].is_sent_start for k in range(before_i + 1, start + 1)) or (
        before is not None and before.is_sent_start and before.is_punct
    ):
        return True, False, False
    if (
        before is not None
        and before.is_title
        and before.is_alpha
        # "In Kaya" opens a sentence with a function word; "Palm Springs police" with a name.
        and not (before.is_sent_start and before.is_stop)
        # "West Texas", "southern Idlib": a compass word is no name of its own.
        and f"{before.text} " not in _COMPASS
    ):
        return True, False, False
    if before is not None and before.text == "-" and not before.whitespace_:
        return True, False, False
    if named_after:
        return True, False, True
    glued = (
        after is not None
        and after.text == "-"
        and end + 1 < len(doc)
        and doc[end + 1].is_lower
        and doc[end + 1].lower_ not in {"based", "born", "bound"}  # "Houston-based"
        and not after.whitespace_
    )
    return glued, False, False


@functools.cache
def _first_level_units(country: str) -> tuple[str, ...]:
    """The names of a country's first-level units (pycountry's ISO 3166-2)."""
    import pycountry

    return tuple(
        s.name
        for s in pycountry.subdivisions
        if s.country_code == country and s.parent_code is None
    )


def _abbreviates(letters: str, name: str) -> bool:
    """Whether ``letters`` abbreviate a unit's name the way news does: its start ("Tenn",
    "Calif"), its start and last letter ("Ga", "Fla", "Ky"), or its words' initials ("NY")."""
    low, full = letters.lower(), name.lower()
    words = full.split()
    return (
        full.startswith(low)
        or (len(low) >= 2 and full.startswith(low[:-1]) and full.endswith(low[-1]))
        or (len(words) > 1 and "".join(w[0] for w in words) == low)
    )


def _abbreviated_unit(text: str, start: int, end: int, readings: Sequence[PlaceName]) -> str | None:
    """ "Lebanon, Tenn.", "Macon, GA": the first-level unit an abbreviation after a place's
    name stands for, among the units of the countries that place can be in, when they are all
    of one country."""
    written = text[start:end]
    if written.endswith(".") or (end < len(text) and text[end] == "."):
        letters = written.replace(".", "")
    elif len(written) == 2 and written.isupper():
        letters = written
    else:
        return None
    if not 2 <= len(letters) <= 5 or not letters.isalpha():
        return None
    found = {
        (country, name)
        for country in {p.country for p in readings}
        for name in _first_level_units(country)
        if _abbreviates(letters, name)
    }
    countries = {c for c, _n in found}
    return min(n for _c, n in found) if len(countries) == 1 else None


def _person(doc: Doc, before: int, after: int) -> bool:
    """Whether the name between ``before`` and ``after`` (the words around it) is a person's:
    after a title ("Officer Paris", "Mrs. Georgia Banks") or opening a name of two words with
    an age ("Chad Williams, 34,", "Jordan Smith, 19")."""
    if before >= 0 and doc[before].text.rstrip(".") in _HONORIFICS:
        return True
    if after + 2 >= len(doc):
        return False
    surname = doc[after]
    return (
        surname.is_title
        and surname.is_alpha
        and surname.lower_ not in _AFTER
        and surname.lower_ not in _UNIT_WORDS
        and surname.text not in _COMPANY_WORDS
        and doc[after + 1].text == ","
        and doc[after + 2].like_num
    )


def _skip_space(doc: Doc, i: int, step: int) -> int:
    """The first token from ``i`` (going by ``step``) that is not whitespace."""
    while 0 <= i < len(doc) and doc[i].is_space:
        i += step
    return i


def _unwrapped(doc: Doc, start: int, end: int, places: Path | None) -> tuple[int, int]:
    """A name's character range, with the word before it when a line break of hard-wrapped
    copy split a longer known name ("New\nYork", which phrase matching misses)."""
    span = doc[start:end]
    before = _skip_space(doc, start - 1, -1)
    if (
        0 <= before < start - 1
        and doc[before].is_title
        and "\n" in doc[before + 1].text
        and is_place_name(place_key(f"{doc[before].text} {span.text}"), places, small=False)
    ):
        return doc[before].idx, span.end_char
    return span.start_char, span.end_char


def _company(doc: Doc, start: int, end: int) -> bool:
    """Whether the name at ``doc[start:end]`` is part of a company's name: the capitalised
    words after it (joined by "and", "&", "of") reach a company word ("Piedmont Aviation Inc",
    "Delta Air Lines", "Bay State Gas Co"), or it follows a trade's word and "of" ("Bank of
    Tokyo"; "Enercon Data Corp of Minneapolis" is where the company is)."""
    i, words = end, 0
    while words < 5:
        i = _skip_space(doc, i, 1)
        if i >= len(doc):
            return False
        tok = doc[i]
        if tok.text in _COMPANY_WORDS and (tok.is_title or tok.is_upper):
            return True
        hyphen = tok.text == "-" and not doc[i - 1].whitespace_  # "Georgia-Pacific Corp"
        if not ((tok.is_title and tok.is_alpha) or tok.lower_ in _NAME_JOINERS or hyphen):
            break
        i, words = i + 1, words + 1
    b = _skip_space(doc, start - 1, -1)
    if b >= 1 and doc[b].lower_ == "of":
        word = doc[_skip_space(doc, b - 1, -1)].text
        return word in _COMPANY_WORDS and word not in _LEGAL_FORMS
    return False


def _longer_name(doc: Doc, start: int, end: int, places: Path | None) -> int:
    """The end of the longest known place name that the name at ``doc[start:end]`` opens,
    joined by spaces to capitalised words ("Van Buren", "Van Nuys": phrase matching knows
    only the large places, so finds "Van")."""
    key, best, i = place_key(doc[start:end].text), end, end
    while i < min(end + 2, len(doc)) and doc[i - 1].whitespace_ == " ":
        if not (doc[i].is_title and doc[i].is_alpha):
            break
        i += 1
        longer = place_key(doc[start:i].text)
        if longer != key and is_place_name(longer, places):
            best = i
    return best


def _shop(doc: Doc, end: int, places: Path | None) -> bool:
    """Whether the name ending at ``end`` opens a shop's or a brand's name: capitalised words
    that are no places, then a retail word ("a London Fog outlet", "a Paris Baguette store")."""
    i, words = end, 0
    while i < len(doc) and words < 3:
        tok = doc[i]
        if not (tok.is_title and tok.is_alpha) or tok.lower_ in _AFTER:
            break
        if tok.text in matchable_places(places):  # "Bell Canada store": not "Garden" county
            return False
        i, words = i + 1, words + 1
    return words > 0 and i < len(doc) and doc[i].is_lower and doc[i].lower_ in _SHOP_WORDS


def _first_name(
    doc: Doc, start: int, end: int, readings: Sequence[PlaceName], places: Path | None
) -> bool:
    """Whether a country's name opens a person's name ("The suspect, Israel Hernandez,",
    "Officers arrested Kenya Johnson"): one surname-like word after it (capitalised, no
    place, no word of places, companies, streets or dates, rare as a word), and the name ends
    there; not after a preposition, an article or another capitalised word."""
    if end - start != 1 or end + 1 >= len(doc) or not readings:
        return False
    if not (doc[start].is_title and doc[start].is_alpha):
        return False  # "U.S. Navy", "UK Insurers": no first names
    if not any(p.kind in _FIRST_NAME_KINDS for p in readings):
        return False
    before = doc[start - 1] if start > 0 else None
    if before is not None and not before.is_punct and (before.is_stop or before.is_title):
        return False
    surname, nxt = doc[end], doc[end + 1]
    return (
        doc[start].whitespace_ == " "
        and surname.is_title
        and surname.is_alpha
        and len(surname) > 1
        and not surname.is_stop
        and surname.lower_ not in _AFTER | _UNIT_WORDS | _ORGANISATION_WORDS
        and surname.text not in _COMPANY_WORDS | _STREET_WORDS | _CALENDAR | _HONORIFICS
        and _zipf(surname.text) < SURNAME_ZIPF
        # Many a surname is a county's or a town's name too ("Smith", "Jackson"), not a
        # country's, a region's or a famous city's ("Niger Delta").
        and not any(
            p.kind in {"country", "alias", "demonym", "region"}
            or (p.kind == "city" and p.population >= FAMOUS_POPULATION)
            for p in place_readings(surname.text, places)
        )
        and not (nxt.is_title and nxt.is_alpha)
        and nxt.text != "-"
    )


def _singular(word: str) -> str:
    """ "counties" -> "county", "governorates" -> "governorate"."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word.removesuffix("s")


def _mentions(
    reading: _Reading, places: Path | None
) -> tuple[list[Mention], list[tuple[int, int, str]]]:
    """Place mentions (gazetteer over the whole text, NER in parsed sentences, the "Village
    (District, Province)" and "in Town, Region" patterns), with what their context says of
    them, and the character ranges of person entities (a place name inside one is not a
    place: "Paris Hilton"; inside an organisation it is: "the Cabinet of Ministers in
    Kyiv")."""
    doc = reading.names
    people: list[tuple[int, int, str]] = []
    placed: set[int] = set()  # mentions written as where something is
    companies: set[str] = set()  # names the article gives a company
    found: list[tuple[int, int]] = []  # character ranges
    for unit in reading.units:
        for ent in unit.span.ents:
            start = unit.offset + ent.start_char - unit.span.start_char
            if ent.label_ == "PERSON":
                people.append((start, start + len(ent.text), ent.text))
            elif ent.label_ in _PLACE_LABELS and not _currency(ent.doc, ent.end):
                found.append((start, start + len(ent.text)))
    for hit in doc._.place_hits:
        span = doc[hit.start : hit.end]
        if _currency(doc, hit.end):
            continue
        if any(
            a <= span.start_char < b and len(place_key(name)) > len(span.text)
            for a, b, name in people
        ):  # inside a longer name: "Paris" in "Paris Hilton" (but not "Rakhine State")
            continue
        found.append(
            _unwrapped(doc, hit.start, _longer_name(doc, hit.start, hit.end, places), places)
        )
    text = reading.text or doc.text
    # Sentences NER has read (trained pipeline): it tells people from places there.
    parsed = [
        (u.offset, u.offset + len(u.span.text)) for u in reading.units if u.span.doc is not doc
    ]
    # a pattern's name (character range) -> positions of its larger units
    links: list[tuple[int, int, list[int]]] = []
    for pattern in (_BRACKETED, _PAIR, _COMMA, _IN_IN):
        for match in pattern.finditer(text):
            spans = [match.span(g) for g in range(1, (pattern.groups or 0) + 1)]
            spans = [s for s in spans if s[0] >= 0 and text[s[0] : s[1]] not in _CALENDAR]
            found.extend(spans)
            for n, (a, b) in enumerate(spans):
                links.append((a, b, [s[0] for s in spans[n + 1 :]]))
    for match in _AFTER_PREPOSITION.finditer(text):
        if match.group(1).split()[0] not in _CALENDAR:
            found.append(match.span(1))
    # The dateline's place, under the name the tables know ("ATLANTA" -> "Atlanta").
    datelines: dict[int, str] = {}
    for match in _DATELINE.finditer(text[:2000]):
        name = match.group(1).title()
        if is_place_name(name, places, small=False):
            datelines[match.start(1)] = name
            found.append(match.span(1))
            if match.group(2):
                found.append(match.span(2))
                links.append((*match.span(1), [match.start(2)]))
    # One mention per position: the gazetteer's, NER's and the patterns' readings of a name
    # often overlap; the longest known name wins.
    by_start: dict[int, tuple[int, int]] = {}
    for a, b in sorted(
        found,
        key=lambda ab: (
            ab[0],
            not is_place_name(place_key(text[ab[0] : ab[1]]), places),
            -(ab[1] - ab[0]),
        ),
    ):
        by_start.setdefault(a, (a, b))
    keys = {a: datelines.get(a) or place_key(text[a:b]) for a, (a, b) in by_start.items()}
    for x, _y, larger_units in links:
        for c in larger_units:
            if c in keys and x in keys and not is_place_name(keys[c], places):
                expanded = _abbreviated_unit(text, *by_start[c], _lookup(keys[x], places))
                keys[c] = expanded or keys[c]
    out: list[Mention] = []
    for a, b in by_start.values():
        where = doc.char_span(a, b, alignment_mode="expand")
        if where is None or not keys[a]:
            continue
        larger = [c for x, y, cs in links if x <= a < y for c in cs]
        within = tuple(dict.fromkeys(keys[c] for c in larger if c in keys))
        if _sponsor(doc, where.start, where.end):
            continue
        before = _skip_space(doc, where.start - 1, -1)
        if before >= 0 and (_INITIAL.match(doc[before].text) or doc[before].text in _SAINT):
            continue  # a surname after an initial ("T. Lyon"), a saint ("St. Mary's Hospital")
        after = _skip_space(doc, where.end, 1)
        if after < len(doc) and doc[after].text in _STREET_WORDS:
            continue  # a street's name: "Springs Road", "Mary Street"
        if after < len(doc) and _INITIAL.match(doc[after].text):
            continue  # a first name before an initial: "Michael B. Javett"
        if _person(doc, before, after):
            continue  # "Officer Paris", "Chad Williams, 34,": a person's name
        if _shop(doc, after, places):
            continue  # "a London Fog outlet": a shop's or a brand's name
        if not any(x <= a < y for x, y in parsed) and _first_name(
            doc, where.start, where.end, _lookup(keys[a], places), places
        ):
            continue  # "The suspect, Israel Hernandez,": a person's name NER has not read
        weak, common, in_name = _context(doc, where.start, where.end)
        # "A Lima man": a hometown, which needs the article's support for its country even
        # when it is a famous city's name.
        resident = (
            before >= 0
            and doc[before].lower_ in {"a", "an"}
            and after < len(doc)
            and doc[after].lower_ in _RESIDENT_WORDS
        )
        common = common and not resident
        key = keys[a]
        if len(where) > 1 and where[-1].is_title and where[-1].lower_ in _FACILITY_NAMES:
            # NER's "the Piedmont Hospital": the name before the facility's word, read as in
            # _context (a name of several words would pass for a landmark region).
            weak, in_name = True, False
            key = " ".join(key.split()[:-1]) or key
        sentence = reading.sentence_of_token[where.start]
        last = doc[where.end] if where.end < len(doc) else where[-1]
        unit_word = next((t.lower_ for t in (where[-1], last) if t.lower_ in _UNIT_WORDS), "")
        district = where[-1].lower_ in _DISTRICT_WORDS or last.lower_ in _DISTRICT_WORDS
        company = _company(doc, where.start, where.end)
        if company:
            companies.add(key)
        if before >= 0 and doc[before].lower_ in _LOCATIVE:
            placed.add(len(out))
        out.append(
            Mention(
                key,
                a,
                sentence,
                weak or resident,
                within,
                common,
                in_name,
                _singular(unit_word),
                company,
                resident,
                district=district,
            )
        )
    # A name the article gives a company is the company's wherever it stands alone ("Piedmont
    # said"), unless written as where something is ("a plant in Texas").
    out = [
        replace(m, organisation=True)
        if m.key in companies and not m.organisation and n not in placed
        else m
        for n, m in enumerate(out)
    ]
    return out, people


# -- roles --------------------------------------------------------------------------------


def _phrase(tok: Token) -> Span:
    """A head noun with its left modifiers ("unidentified gunmen", "Kenyan police")."""
    start = tok.i
    for child in reversed(list(tok.lefts)):
        if child.dep_ in _LEFT_MODIFIERS and child.i == start - 1:
            start = child.i
    end = tok.i + 1
    for child in tok.rights:
        if child.dep_ in {"flat", "compound"} and child.i == end:
            end = child.i + 1
    return tok.doc[start:end]


def _pobj(prep: Token) -> Token | None:
    return next((c for c in prep.children if c.dep_ == "pobj"), None)


def _roles(span: Span) -> tuple[Span | None, Span | None]:
    """(actor, target) of a trigger from the dependency parse."""
    doc = span.doc
    if not doc.has_annotation("DEP"):
        return None, None
    tok = span.root
    actor: Token | None = None
    target: Token | None = None
    if tok.pos_ in {"NOUN", "PROPN"}:
        for child in tok.children:
            if child.dep_ == "prep" and child.lower_ == "by":
                actor = _pobj(child) or actor
            elif child.dep_ == "prep" and child.lower_ in {"of", "on", "against", "targeting"}:
                target = _pobj(child) or target
            elif child.dep_ == "poss":
                target = child
        if actor is None and tok.dep_ in {"dobj", "attr"} and tok.head.pos_ in {"VERB", "AUX"}:
            actor = next((c for c in tok.head.children if c.dep_ == "nsubj"), None)
        if actor is None and tok.dep_ in _SUBJECTS:
            actor = None  # "the attack killed ..." names no doer
        return _opt(actor), _opt(target)
    verb = tok
    for child in verb.children:
        if child.dep_ == "nsubj":
            actor = child
        elif child.dep_ == "nsubjpass" or child.dep_ == "dobj":
            target = child
        elif child.dep_ == "agent":
            actor = _pobj(child) or actor
    if actor is None and target is None and verb.dep_ in {"conj", "xcomp", "advcl"}:
        head = verb.head
        actor = next((c for c in head.children if c.dep_ == "nsubj"), None)
    if actor is None and verb.dep_ in {"acl", "relcl"} and verb.tag_ == "VBN":
        target = verb.head  # "students abducted by gunmen"
        by = next((c for c in verb.children if c.dep_ == "agent"), None)
        actor = _pobj(by) if by is not None else None
    return _opt(actor), _opt(target)


def _opt(tok: Token | None) -> Span | None:
    return _phrase(tok) if tok is not None else None


def _agent_class(
    sent: Span, hit: Hit, actor: Span | None, component: GazetteerComponent
) -> str | None:
    """ "state" or "non_state" for the doer of a trigger: from the parsed actor when there
    is one, else from agent words around the trigger ("detained by militants")."""
    doc = sent.doc
    agents: list[Hit] = [h for h in doc._.agent_hits if sent.start <= h.start < sent.end]
    named: list[tuple[Hit, str]] = [
        (h, component.actor_info[h.label].type)
        for h in doc._.actor_hits
        if sent.start <= h.start < sent.end and h.label in component.actor_info
    ]
    kinds = {"security_force": "state", "armed_group": "non_state"}
    if actor is not None:
        for h in agents:
            if actor.start <= h.start < actor.end:
                return h.label
        for h, kind in named:
            if actor.start <= h.start < actor.end and kind in kinds:
                return kinds[kind]
    # "by <agent>" after the trigger, else the closest agent before it; gazetteer armed
    # actors count as agents ("IS" is the Islamic State only when written so).
    agents = sorted(
        agents + [Hit(h.start, h.end, kinds[kind]) for h, kind in named if kind in kinds],
        key=lambda h: h.start,
    )
    for h in agents:
        if hit.end <= h.start <= hit.end + 3 and doc[h.start - 1].lower_ in {"by", "of"}:
            return h.label
    if _passive(doc, hit):  # "militants were detained": the agent words name the target
        return None
    before = [h for h in agents if h.end <= hit.start]
    return before[-1].label if before else None


def _passive(doc: Doc, hit: Hit) -> bool:
    """Whether a trigger is a passive verb ("were detained", "was abducted")."""
    tok = doc[hit.start]
    if doc.has_annotation("DEP"):
        return any(c.dep_ in {"auxpass", "nsubjpass"} for c in tok.children)
    return tok.i > 0 and doc[tok.i - 1].lower_ in {"was", "were", "been", "being", "is", "are"}


def _target_class(sent: Span, hit: Hit, target: Span | None) -> str | None:
    """ "armed" when the target of a trigger is a state or non-state armed actor: the parsed
    target, else the agent words right after the trigger ("attacked army positions")."""
    doc = sent.doc
    agents = [h for h in doc._.agent_hits if sent.start <= h.start < sent.end]
    if target is not None:
        # The whole target phrase ("a convoy of Afghan forces", "a security forces post")
        # but not its clauses ("a civilian who was delivering water to military checkpoints").
        phrase = _phrase_tokens(target.root)
        hits = [h for h in agents if any(i in phrase for i in range(h.start, h.end))]
    elif _passive(doc, hit):  # no parsed subject: "a police officer from X was attacked"
        hits = [h for h in agents if hit.start - 8 <= h.start and h.end <= hit.start]
    else:
        hits = [
            h
            for h in agents
            if hit.end <= h.start <= hit.end + 4
            and "by" not in {t.lower_ for t in doc[hit.end : h.start]}
        ]
    return "armed" if hits else None


def _phrase_tokens(root: Token) -> set[int]:
    """Token indices of a noun phrase without its relative and adverbial clauses."""
    out = {root.i}
    for child in root.children:
        if child.dep_ not in {"relcl", "acl", "advcl"}:
            out |= _phrase_tokens(child)
    return out


def _apply_rules(
    theme: str,
    agent_class: str | None,
    target_class: str | None,
    lowered: str,
    rules: Iterable[Rule],
) -> Rule | None:
    """The first rule that re-reads a trigger of ``theme`` here, if any."""
    for rule in rules:
        if rule.theme != theme:
            continue
        if rule.agent_class is not None and rule.agent_class != agent_class:
            continue
        if rule.target_class is not None and rule.target_class != target_class:
            continue
        if rule.sentence_has and not any(f" {w} " in lowered for w in rule.sentence_has):
            continue
        return rule
    return None


def _cancelled(hits: list[Hit], negatives: list[Hit]) -> set[Hit]:
    """The triggers a sentence's negative terms cancel. A negative that overlaps a trigger of
    its theme is a misreading of that trigger only ("in March" is no march, "cardiac arrest"
    no arrest: "protested in the 25 of March sector" still is a protest); any other cancels
    every trigger of its theme in the sentence ("kidnapped the match" beside "striker")."""
    out: set[Hit] = set()
    for neg in negatives:
        mine = [h for h in hits if neg.label in ("*", h.label)]
        overlapping = [h for h in mine if h.start < neg.end and neg.start < h.end]
        out.update(overlapping or mine)
    return out


# Words before a capitalised month name: "in March", "last March", "since March".
_MONTH_BEFORE = {
    "in", "of", "since", "until", "till", "by", "last", "next", "early", "late", "mid", "on",
    "from", "this", "to", "through", "before", "after", "during", "between", "and", "end",
}  # fmt: skip


def frames_of(doc: Doc, taxonomy: Taxonomy) -> set[str]:
    """The frames (sport, markets, ...) an article is written in: those of which it names
    at least ``min_words`` distinct words."""
    words: dict[str, set[str]] = {}
    for hit in doc._.frame_hits or ():
        words.setdefault(hit.label, set()).add(doc[hit.start : hit.end].text.lower())
    return {f.name for f in taxonomy.frames if len(words.get(f.name, ())) >= f.min_words}


def _neighbours(sent: Span, span: Span, window: int) -> set[str]:
    """Lower-cased forms and lemmas of the words around a trigger: within ``window`` tokens
    in its sentence, and (parsed) its head, children and the objects of its prepositions."""
    doc = sent.doc
    toks = [
        doc[i]
        for i in range(max(sent.start, span.start - window), min(sent.end, span.end + window))
        if not span.start <= i < span.end
    ]
    if doc.has_annotation("DEP"):
        root = span.root
        toks.append(root.head)
        for child in root.children:
            toks.append(child)
            toks.extend(c for c in child.children if c.dep_ == "pobj")
    return {t.lower_ for t in toks} | {t.lemma_.lower() for t in toks if t.lemma_}


def _score_near(sent: Span, span: Span, window: int) -> bool:
    """A match score ("2-1", "6-4") within ``window`` tokens: "beat Arsenal 2-1"."""
    doc = sent.doc
    lo, hi = max(sent.start, span.start - window), min(sent.end, span.end + window)
    return any(
        doc[i].like_num and doc[i + 1].text in {"-", "–"} and doc[i + 2].like_num
        for i in range(lo, hi - 2)
    )


def _wrong_pos(sent: Span, span: Span, tags: tuple[str, ...]) -> bool:
    """The trigger's part of speech is one of ``tags``. Without a tagger only the month
    reading is told: a capitalised word inside a sentence beside a number or "in"/"last"."""
    doc = sent.doc
    root = span.root
    if doc.has_annotation("POS"):
        return root.pos_ in tags
    if "PROPN" not in tags or root.i == sent.start or not root.text[:1].isupper():
        return False
    before = doc[root.i - 1]
    after = doc[root.i + 1] if root.i + 1 < sent.end else None
    return before.like_num or before.lower_ in _MONTH_BEFORE or bool(after and after.like_num)


def _object_ent(span: Span, labels: tuple[str, ...]) -> bool:
    """The trigger's object or subject is a named entity of ``labels`` ("beat Arsenal")."""
    doc = span.doc
    if not labels or not doc.has_annotation("DEP"):
        return False
    root = span.root
    args = [c for c in root.children if c.dep_ in {"dobj", "nsubj", "nsubjpass", "attr"}]
    return any(t.ent_type_ in labels for t in args)


def _sense_fails(sent: Span, span: Span, sense: Sense) -> bool:
    """Whether the trigger's context says it is not ``sense.theme`` (see :class:`Sense`)."""
    if sense.not_pos and _wrong_pos(sent, span, sense.not_pos):
        return True
    if sense.not_near and _neighbours(sent, span, sense.window) & set(sense.not_near):
        return True
    if sense.not_score and _score_near(sent, span, sense.window):
        return True
    return _object_ent(span, sense.not_object_ent)


def misread(sent: Span, hit: Hit, taxonomy: Taxonomy, frames: set[str]) -> bool:
    """A trigger used in another sense: one of the article's frames reads it so ("attack" in
    a match report), or a sense of its theme fails in its context ("rally in shares")."""
    doc = sent.doc
    span = doc[hit.start : hit.end]
    phrase = span.text.lower()
    for frame in taxonomy.frames:
        if frame.name in frames and phrase in frame.triggers.get(hit.label, ()):
            return True
    return any(
        _sense_fails(sent, span, sense)
        for sense in taxonomy.senses
        if sense.theme == hit.label and phrase in sense.triggers
    )


def _cue_applies(doc: Doc, cue: Hit) -> bool:
    """A cue, except "May" in "2 May 2020" (a month, not a modal)."""
    tok = doc[cue.start]
    return not (
        tok.text == "May"
        and (
            (tok.i > 0 and doc[tok.i - 1].like_num)
            or (tok.i + 1 < len(doc) and doc[tok.i + 1].like_num)
        )
    )


def _cued(sent: Span, hit: Hit, kind: str) -> bool:
    doc = sent.doc
    for cue in doc._.cue_hits:
        if (
            cue.label == kind
            and sent.start <= cue.start
            and cue.end <= hit.start
            and _cue_applies(doc, cue)
            and (hit.start - cue.end <= CUE_WINDOW or doc[cue.start].lower_ in {"denied", "denies"})
        ):
            return True
    return False


def _negated(sent: Span, span: Span, hit: Hit) -> bool:
    if _cued(sent, hit, "NEG"):
        return True
    if span.doc.has_annotation("DEP"):
        root = span.root
        for tok in (root, root.head):
            if any(c.dep_ == "neg" or (c.dep_ == "det" and c.lower_ == "no") for c in tok.children):
                return True
    return False


def _hypothetical(sent: Span, span: Span, hit: Hit) -> bool:
    if _cued(sent, hit, "HYP"):
        return True
    if span.doc.has_annotation("DEP"):
        return any(c.dep_ == "aux" and c.lower_ in _MODALS for c in span.root.children)
    return False


# -- the record ---------------------------------------------------------------------------


def _name(span: Span | None, doc: Doc, component: GazetteerComponent) -> str | None:
    """Canonical gazetteer name for a role phrase when it holds a known actor."""
    if span is None:
        return None
    hits: list[Hit] = doc._.actor_hits
    for hit in hits:
        if span.start <= hit.start < span.end:
            return hit.label
    text = " ".join(span.text.split())
    return text[:300] or None


def _record(
    reading: _Reading,
    article: Article,
    model: str,
    taxonomy: Taxonomy,
    component: GazetteerComponent,
) -> EventRecord:
    mentions, _people = _mentions(reading, component.places_path)
    home = _home_countries(reading.names, component)
    resolution = resolve(
        mentions,
        lambda key: _lookup(key, component.places_path),
        home,
        lambda key: unit_readings(key, component.places_path),
    )
    places = resolution.places
    # Most news is not an event: below the gate's threshold the incident themes are not
    # reported (their events stay, with the low confidence the score gives them).
    incident = round(component.gate.score(reading.names.text), 3)
    gated = incident < component.gate.threshold
    frames = frames_of(reading.names, taxonomy)
    by_sentence: dict[int, list[Place]] = {}
    for mention, place in places.items():
        by_sentence.setdefault(mention.sentence, []).append(place)
    events: list[tuple[Event, float, int, bool]] = []  # (event, weight, sentence, cause)
    shadows: set[int] = set()  # kept themes of re-read triggers: scored, not listed
    for unit in reading.units:
        sent = unit.span
        doc = sent.doc
        lowered = " " + " ".join(t.lower_ for t in sent) + " "
        hits = [h for h in doc._.theme_hits if sent.start <= h.start < sent.end]
        cancelled = _cancelled(
            hits, [h for h in doc._.negative_hits if sent.start <= h.start < sent.end]
        )
        for hit in hits:
            if hit in cancelled or misread(sent, hit, taxonomy, frames):
                continue
            span = doc[hit.start : hit.end]
            actor, target = _roles(span)
            rule = _apply_rules(
                hit.label,
                _agent_class(sent, hit, actor, component),
                _target_class(sent, hit, target),
                lowered,
                taxonomy.rules,
            )
            theme = rule.becomes if rule else hit.label
            if actor is None and not doc.has_annotation("DEP"):
                actor = _blank_actor(sent, hit)
            near = [
                p
                for n in (unit.index - 1, unit.index, unit.index + 1)
                for p in by_sentence.get(n, [])
            ]
            negated = _negated(sent, span, hit)
            hypothetical = _hypothetical(sent, span, hit)
            confidence = 0.35 + 0.1 * min(hit.weight, 3.0)
            confidence += 0.1 if (actor is not None or target is not None) else 0.0
            confidence += 0.1 if near else 0.0
            if negated or hypothetical:
                confidence *= 0.3
            if theme in INCIDENT_THEMES:  # an incident the article may not report at all
                confidence *= 0.6 + 0.4 * incident
            event = Event(
                theme=theme,
                trigger=span.text[:300],
                sentence=" ".join(sent.text.split())[:1000],
                actor=_name(actor, doc, component),
                target=_name(target, doc, component),
                places=tuple(dict.fromkeys(near))[:10],
                negated=negated,
                hypothetical=hypothetical,
                confidence=round(min(confidence, 1.0), 2),
            )
            cause = any(
                c.label == "CAUSE" and sent.start <= c.start and c.end <= hit.start
                for c in doc._.cue_hits
            )
            events.append((event, hit.weight, unit.index, cause))
            if rule is not None and rule.keeps:
                # Reported as well, never the primary: its re-reading is the main happening.
                shadows.add(len(events))
                events.append((replace(event, theme=hit.label), hit.weight, unit.index, True))
    if gated and any(_leads(*e) for e in events):
        gated = False
    counted = [e for e in events if not (gated and e[0].theme in INCIDENT_THEMES)]
    themes, primary = _themes(counted, taxonomy, bool(article.title))
    evidence: dict[str, Evidence] = {}
    for event, _w, _n, _c in counted:
        if not (event.negated or event.hypothetical) and event.theme not in evidence:
            evidence[event.theme] = Evidence(event.theme, event.trigger, event.sentence)
    ordered_places = [places[m] for m in mentions if m in places]
    countries = resolution.countries
    return EventRecord(
        article_id=article.id,
        themes=tuple(themes),
        primary_theme=primary,
        countries=tuple(countries),
        actors=tuple(_actors(reading, component)),
        places=tuple(dict.fromkeys(ordered_places)),
        evidence=tuple(evidence[t] for t in themes if t in evidence),
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        model=model,
        events=tuple(
            [e for n, (e, _w, _s, _c) in enumerate(events) if n not in shadows][:MAX_EVENTS]
        ),
        regions=tuple(dict.fromkeys(p.region for p in ordered_places if p.region)),
        text=article.text[:TEXT_MAX],
        incident=incident,
    )


def _leads(event: Event, weight: float, sentence: int, cause: bool) -> bool:
    """An incident the headline or first sentence reports with a strong trigger (one whose
    sense and frame checks it passed): evidence the gate's score does not overrule. The gate
    transfers weakly to styles it was not trained on (``docs/quality.md``)."""
    return (
        event.theme in INCIDENT_THEMES
        and weight >= LEAD_WEIGHT
        and sentence <= 1
        and not (cause or event.negated or event.hypothetical)
    )


def _home_countries(doc: Doc, component: GazetteerComponent) -> list[str]:
    """When a text names no known place ("the OSCE SMM observed 6 explosions near
    Novoluhanske"): the countries of the forces, armed groups and missions it names, which
    act at home. People travel, so their countries are not used."""
    out: dict[str, None] = {}
    for hit in doc._.actor_hits:
        info = component.actor_info.get(hit.label)
        if info is not None and info.type != "person" and info.country:
            out[info.country] = None
    return list(out)


def _blank_actor(sent: Span, hit: Hit) -> Span | None:
    """Without a parse: the gazetteer actor or agent word closest before the trigger, or
    the one after "by"."""
    doc = sent.doc
    candidates = [
        h
        for h in (*doc._.actor_hits, *doc._.agent_hits)
        if sent.start <= h.start < sent.end and h.start != hit.start
    ]
    after = [
        h
        for h in candidates
        if hit.end <= h.start <= hit.end + 3 and doc[h.start - 1].lower_ == "by"
    ]
    if after:
        return doc[after[0].start : after[0].end]
    before = [h for h in candidates if h.end <= hit.start]
    return doc[before[-1].start : before[-1].end] if before else None


def _themes(
    events: list[tuple[Event, float, int, bool]], taxonomy: Taxonomy, titled: bool
) -> tuple[list[str], str | None]:
    """Reported themes by weight (title and lead count double), and the primary one: among
    the themes of the headline or lead (else those carrying at least a third of
    the top weight), the one the taxonomy ranks first (an attack in which people were killed
    and others abducted is an attack)."""
    scores: dict[str, float] = {}
    first: dict[str, int] = {}
    for n, (event, weight, sentence, _cause) in enumerate(events):
        if event.negated or event.hypothetical:
            continue
        scores[event.theme] = scores.get(event.theme, 0.0) + weight * (
            2.0 if sentence <= 1 else 1.0
        )
        first.setdefault(event.theme, n)
    ranks = {t.id: t for t in taxonomy.themes}
    themes = sorted(
        (t for t in scores if scores[t] >= ranks[t].min_score), key=lambda t: (-scores[t], first[t])
    )
    if not themes:
        return [], None
    top = scores[themes[0]]
    candidates = [t for t in themes if scores[t] >= top / 3]

    # The lead names the main happening when it names any: the headline, else the first
    # sentence; without a headline the second sentence can escalate it (a short report's
    # second sentence often says what the first one's crowd did).
    def reported(n: int) -> set[str]:
        return {
            e.theme
            for e, _w, s, cause in events
            if s == n and not (e.negated or e.hypothetical or cause)
        }

    lead = reported(0)
    if not titled:
        lead |= {t for t in reported(1) if set(ranks[t].escalates) & lead}
    if not lead:  # a headline of grievances only ("presses Ruto over abductions in phone
        # call"): still what the story is about, before anything further down
        lead = {e.theme for e, _w, n, _c in events if n == 0 and not (e.negated or e.hypothetical)}
    if lead & set(themes):
        candidates = [t for t in themes if t in lead]
    else:  # grievances ("a protest against the attack") are not the main happening
        main = {e.theme for e, _w, _n, cause in events if not cause}
        candidates = [t for t in candidates if t in main] or candidates
    primary = min(candidates, key=lambda t: (ranks[t].rank, -scores[t]))
    counted_as = ranks[primary].primary_as
    if counted_as:
        primary = counted_as
        if counted_as not in themes:
            themes.append(counted_as)
    return themes, primary


# -- actors -------------------------------------------------------------------------------


def _actor_name(ent: Span, places: Path | None) -> str | None:
    """An entity's text as an actor name, or None when it is noise: a place, a dateline
    ("MARSEILLE"), a span across paragraphs or a stop word."""
    text = ent.text.removeprefix("The ").removeprefix("the ")
    if "\n" in text or len(ent) > 6 or not text[:1].isupper():
        return None
    if is_place_name(text, places, small=False):  # villages share names with people
        return None
    if len(ent) == 1 and ((text.isupper() and len(text) > 4) or ent[0].is_stop):
        return None
    return text


def _canonical(name: str, component: GazetteerComponent) -> str:
    """The gazetteer's name for an entity's text, else the text."""
    try:
        return component.actor_names.resolve(name) or name
    except ValueError:  # several actors answer to it: keep what the text says
        return name


def _actors(reading: _Reading, component: GazetteerComponent) -> list[str]:
    """Gazetteer actors by canonical name (whole text), ranked first, then PERSON/ORG
    entities of the parsed sentences (by canonical name when the gazetteer knows them in
    another spelling), with short mentions ("Mwangi") linked to a longer name in the same
    document ("Denis Mwangi")."""
    places = component.places_path
    doc = reading.names
    counts: Counter[str] = Counter()
    order: dict[str, int] = {}
    covered: set[int] = set()
    for hit in doc._.actor_hits:
        info = component.actor_info.get(hit.label)
        for name in (hit.label, *(info.part_of if info else ())):
            counts[name] += 1
            order.setdefault(name, doc[hit.start].idx)
        span = doc[hit.start : hit.end]
        covered.update(range(span.start_char, span.end_char))
    named: list[tuple[int, str]] = []
    for unit in reading.units:
        for ent in unit.span.ents:
            if ent.label_ not in _ACTOR_LABELS:
                continue
            start = unit.offset + ent.start_char - unit.span.start_char
            if covered.intersection(range(start, start + len(ent.text))):
                continue
            name = _actor_name(ent, places)
            if name:
                named.append((start, _canonical(name, component)))
    full = [name for _start, name in named if " " in name]
    for start, name in named:
        if " " not in name:
            longer = [f for f in full if f.split()[-1] == name]
            name = longer[0] if len(longer) == 1 else name
        counts[name] += 1
        order.setdefault(name, start)
    # Gazetteer actors first: subscriptions name them, so a long article's many people must
    # not push an armed group it names once past MAX_ACTORS.
    known = component.actor_info
    ranked = sorted(counts, key=lambda a: (a not in known, -counts[a], order[a]))
    return ranked[:MAX_ACTORS]
