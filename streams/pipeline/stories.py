"""Stage ``stories``: event records -> stories (one story per happening, however many reports).

A story groups the unique articles that report one happening. Candidates come by content,
not by a label: every story that shares a salient term with the article (an entity, a place,
a rare stemmed word, a number) within the window is found through an inverted index of those
terms, whatever its themes or countries. All English articles share one story key, the
language space (:func:`story_key`), so on Kafka every candidate of an article is in one
partition of the stage, however many partitions and workers there are (the hot-spot
arithmetic is in ``docs/architecture.md``).

Similarity (:func:`similarity`) is the cosine between the article's term vector and the
story's (the sum of its articles' unit vectors), each term weighted by its rarity in English
(``wordfreq``'s shipped frequencies), headline terms weighing more than the lead's, names and
numbers more than words. Names count only when the headline or lead says them (a page's
country menu says nothing of its story); a text without a headline lends its opening words
as one. The cosine is scaled down linearly with the time distance, by up to ``time_decay`` at
``window_s``, by ``theme_mismatch`` when both sides have themes and share none (a protest and
a riot may be one happening, so themes are scored, not required) and by ``place_conflict``
when the article's main town or region (the first it names) is not among the story's (gunmen
abducting traders in Mombasa and in Kisumu are two happenings). An article joins the best
story that reaches ``threshold``; any other candidate that reaches ``merge_threshold`` too is
merged into one story with it (:func:`_merge`): the story first seen earliest survives
(ties: the smaller id), the other's id goes to the survivor's ``merged_from``.

A story holds the union of its articles' themes, countries, regions and actors: the match
stage matches subscriptions against the story, so a protest that turns into a riot alerts a
riot subscription on the article that made it a riot.

State, in a ``MutableMapping[str, Any]`` of plain JSON values (a faust table on a worker, a
dict locally):

- ``"s:" + story_id``: one story (:func:`_new_story`): counts, the latest ``max_ids``
  articles and distinct sources, unions, and a profile of at most ``max_terms`` terms;
- ``"t:" + term``: the stories holding the term, ``[[story_id, last_seen], ...]``, the
  ``max_postings`` seen last;
- ``"m:" + article_id``: ``[story_id, time]``, the story an article went to (redelivery);
- ``"x:" + story_id``: ``[surviving story id, time]`` for a story merged into another;
- ``"hw"``: the latest article time seen (the window's end).

Stories and entries that fell out of the window (``last_seen`` older than ``hw - window_s``)
are never candidates; :func:`sweep` deletes them, and caps the stories at ``max_stories``.

Story ids are ``"st-"`` + 24 hex of sha256 over ``[key, first article id]``: a replay from the
start gives the same ids. Seeing an article id again (at-least-once redelivery) changes
nothing and returns the story's current update; a redelivered first article still has
``is_new`` true, so it looks like the first delivery.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import snowballstemmer
import wordfreq
from spacy.lang.en.stop_words import STOP_WORDS

from streams.models import EventRecord
from streams.pipeline.messages import Alias, Forward, Membership, member_from_dict
from streams.settings import Settings

STAGE = "stories"
HOUR = 3600.0
DAY = 24 * HOUR
SPACE = "en"  # the language space every article is extracted in (one English pipeline)


@dataclass(frozen=True)
class StoryConfig:
    """Thresholds, term weights and state bounds (tuned on the SemEval 2022 task 8 training
    split as a stream, ``bench/story_quality.py``; figures in ``docs/quality.md``)."""

    window_s: float = 72 * HOUR
    threshold: float = 0.3
    merge_threshold: float = 0.45
    time_decay: float = 0.3  # score multiplier lost at a time distance of window_s
    theme_mismatch: float = 0.85  # multiplier when both have themes and share none
    place_conflict: float = 0.5  # multiplier when both name towns/regions, none shared
    country_conflict: float = 0.5  # multiplier when both name countries, none shared
    headline_weight: float = 2.0
    entity_weight: float = 1.5
    number_weight: float = 1.0
    lead_chars: int = 800  # text read besides the headline, at full weight
    body_chars: int = 4000  # text read past the lead, at body_weight
    body_weight: float = 0.5
    untitled_headline_chars: int = 100  # opening characters that count as the headline
    max_stories: int = 200_000  # live stories kept (the sweep evicts the oldest past this)
    max_ids: int = 20  # articles and distinct sources remembered per story
    max_terms: int = 80  # profile terms kept per story
    max_postings: int = 32  # stories remembered per index term (the latest)
    index_terms: int = 16  # an article's heaviest terms, indexed and looked up
    candidates: int = 8  # best index hits scored in full
    max_union: int = 30  # themes, countries, regions, actors kept per story

    @classmethod
    def from_settings(cls, settings: Settings) -> StoryConfig:
        return cls(window_s=settings.story_window_hours * HOUR)


@dataclass(frozen=True)
class StoryUpdate:
    """An article's place in its story (``news.stories.v1``, key: story key)."""

    story_id: str
    key: str
    is_new: bool
    article: EventRecord
    first_seen: str
    last_seen: str
    article_count: int
    source_count: int
    sources: tuple[str, ...]
    article_ids: tuple[str, ...]
    title: str | None
    # Set when the article is a copy (exact or near duplicate) of this story's article
    # ``copy_of``: it adds a source to the story; it was not extracted on its own.
    copy_of: str | None = None
    # The story's unions over its articles (what subscriptions match).
    themes: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    # Stories merged into this one (their alerts stay valid; later updates carry this id).
    merged_from: tuple[str, ...] = ()
    # The latest articles: [article id, title, source, url, published_at].
    articles: tuple[tuple[Any, ...], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "copy_of": self.copy_of,
            "story_id": self.story_id,
            "key": self.key,
            "is_new": self.is_new,
            "article": self.article.to_dict(),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "article_count": self.article_count,
            "source_count": self.source_count,
            "sources": list(self.sources),
            "article_ids": list(self.article_ids),
            "title": self.title,
            "themes": list(self.themes),
            "countries": list(self.countries),
            "regions": list(self.regions),
            "actors": list(self.actors),
            "merged_from": list(self.merged_from),
            "articles": [list(a) for a in self.articles],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoryUpdate:
        return cls(
            story_id=data["story_id"],
            key=data["key"],
            is_new=bool(data["is_new"]),
            article=EventRecord.from_dict(data["article"]),
            first_seen=data["first_seen"],
            last_seen=data["last_seen"],
            article_count=int(data["article_count"]),
            source_count=int(data["source_count"]),
            sources=tuple(data.get("sources", ())),
            article_ids=tuple(data.get("article_ids", ())),
            title=data.get("title"),
            copy_of=data.get("copy_of"),
            themes=tuple(data.get("themes", ())),
            countries=tuple(data.get("countries", ())),
            regions=tuple(data.get("regions", ())),
            actors=tuple(data.get("actors", ())),
            merged_from=tuple(data.get("merged_from", ())),
            articles=tuple(tuple(a) for a in data.get("articles", ())),
        )

    def story_record(self) -> EventRecord:
        """The article with the story's unions: what subscriptions are matched against."""
        record = self.article
        return replace(
            record,
            themes=self.themes or record.themes,
            countries=self.countries or record.countries,
            regions=self.regions or record.regions,
            actors=self.actors or record.actors,
        )


def story_key(record: EventRecord) -> str:
    """The language space, ``"en"``: every article the English pipeline extracted can report
    the same happening as any other, whatever its themes or the country it names first, so
    all are candidates of each other (a label such as theme or country in the key kept two
    reports of one event apart whenever they differed in it)."""
    del record  # one space while extraction is English-only
    return SPACE


def story_id(key: str, first_article_id: str) -> str:
    """Deterministic: the same key and first article give the same id on every replay."""
    digest = hashlib.sha256(json.dumps([key, first_article_id]).encode("utf-8")).hexdigest()
    return "st-" + digest[:24]


def order_key(record: EventRecord) -> tuple[str, str]:
    """How a batch of articles is ordered before it reaches the stage (locally and on the
    worker): by publication time, then article id, so story ids do not depend on the order
    the articles of one batch were read in."""
    return (record.published_at or "", record.article_id)


# -- features -----------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]", re.UNICODE)
_CALENDAR = {
    *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december", "today", "yesterday"),
    *("mr", "mrs", "ms", "dr", "said", "says", "new", "year", "years", "week", "told"),
}
_DIGIT = re.compile(r"\d")
_STEMMER = snowballstemmer.stemmer("english")
RARE = 6.5  # a word's weight is RARE minus its Zipf frequency (wordfreq: "the" 7.7, "riot" 4.2)
MIN_WEIGHT = 1.0  # words more common than Zipf 5.5 ("police", "people") are not terms


@lru_cache(maxsize=200_000)
def rarity(word: str) -> float:
    """How rare a lowercase word is in English, 0 (common) .. RARE (unknown)."""
    return max(0.0, RARE - wordfreq.zipf_frequency(word, "en"))


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("’", "'").split())


def _entity_weight(name: str) -> float:
    """A name weighs as its rarest word: "United Nations" is common, "Guentzel" is not."""
    words = [w for w in _TOKEN.findall(name) if w not in STOP_WORDS]
    return max((rarity(w) for w in words), default=0.0)


@lru_cache(maxsize=300_000)
def _terms_of(raw: str) -> tuple[tuple[str, float], ...]:
    """The (term, weight) pairs of one raw token, weight 0 for a number (weighted by the
    caller): lowercased, no stopwords or calendar words, words run together by a dot
    ("injuries.The", "reportlinker.com") split (a number keeps its decimal point), words
    more common than ``MIN_WEIGHT`` allows and codes with digits inside left out. Cached:
    news repeats its words."""
    token = raw.strip("'’.-").lower()
    parts = [token] if "." not in token or token[:1].isdigit() else token.split(".")
    out = []
    for part in parts:
        part = part.strip("'’-")
        if len(part) < 2 or part in STOP_WORDS or part in _CALENDAR:
            continue
        if part[0].isdigit():
            out.append(("n:" + part, 0.0))
        elif not _DIGIT.search(part):
            weight = rarity(part)
            if weight >= MIN_WEIGHT:
                out.append(("w:" + _stem(part), weight))
    return tuple(out)


def _add_text(vector: dict[str, float], text: str, scale: float, number_weight: float) -> None:
    counts: dict[str, list[float]] = {}
    number = number_weight * 3.0
    for raw in _TOKEN.findall(text):
        for term, weight in _terms_of(raw):
            seen = counts.get(term)
            if seen is None:
                counts[term] = [1.0, weight or number]
            else:
                seen[0] += 1.0
    for term, (n, weight) in counts.items():
        vector[term] = vector.get(term, 0.0) + scale * weight * (1.0 + math.log(n))


def features(record: EventRecord, config: StoryConfig = StoryConfig()) -> dict[str, float]:
    """The article's unit term vector: ``w:`` stemmed words and ``n:`` numbers of the headline
    and lead, ``e:`` named actors and places (every level: the key holds no country now)."""
    vector: dict[str, float] = {}
    title = record.title or ""
    text = record.text
    if title and text.startswith(title):
        text = text[len(title) :]
    elif not title and config.untitled_headline_chars:
        # No headline (a feed without titles): the text's opening words stand in for it.
        title, text = text[: config.untitled_headline_chars], text
    _add_text(vector, title, config.headline_weight, config.number_weight)
    _add_text(vector, text[: config.lead_chars], 1.0, config.number_weight)
    if config.body_chars:
        body = text[config.lead_chars : config.lead_chars + config.body_chars]
        _add_text(vector, body, config.body_weight, config.number_weight)
    names = [*record.actors, *(p.text for p in record.places)]
    for event in record.events:
        for role in (event.actor, event.target):
            # Named roles only: "Armed men" or "government" would tie unrelated stories.
            if role and role[:1].isupper() and " " in role:
                names.append(role)
    # Names of the headline and lead only: a page's country menu or related-links footer
    # names dozens of places that say nothing of its story.
    lead = _norm(f"{title}\n{text[: config.lead_chars]}")
    for name in dict.fromkeys(_norm(n) for n in names if n):
        if name not in lead:
            continue
        weight = _entity_weight(name)
        if weight >= MIN_WEIGHT:
            term = "e:" + name
            vector[term] = max(vector.get(term, 0.0), config.entity_weight * weight)
    return _unit(vector)


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


# Place readings that name a whole country: they do not tell two happenings in it apart.
_COUNTRY_LEVEL = {"country", "demonym", "alias"}


@lru_cache(maxsize=50_000)
def _country_level(text: str) -> bool:
    from streams.nlp.gazetteer import inside_aliases, place_readings

    if text in inside_aliases():
        return False  # "Eldoret" is an alias of Kenya, and a town in it
    readings = place_readings(text)
    # "Nairobi" is an alias of Kenya too, but also a region: a place, not the country.
    return bool(readings) and all(r.kind in _COUNTRY_LEVEL for r in readings)


def local_places(record: EventRecord) -> list[str]:
    """Places below country level the article names (towns, regions as ``r:`` codes)."""
    places = [_norm(p.text) for p in record.places if not _country_level(p.text)]
    return list(dict.fromkeys([*places, *("r:" + r for r in record.regions)]))


def similarity(
    terms: Mapping[str, float],
    story: Mapping[str, Any],
    distance_s: float,
    record: EventRecord | None = None,
    config: StoryConfig = StoryConfig(),
) -> float:
    """How well an article's unit vector fits a story, 0..1 (0 outside the window)."""
    if distance_s > config.window_s:
        return 0.0
    profile: Mapping[str, float] = story["profile"]
    norm = story.get("norm") or math.sqrt(sum(v * v for v in profile.values())) or 1.0
    small, large = (terms, profile) if len(terms) < len(profile) else (profile, terms)
    dot = sum(w * large[t] for t, w in small.items() if t in large)
    score = dot / norm
    if record is not None:
        themes = set(record.themes)
        if themes and story["themes"] and not themes & set(story["themes"]):
            score *= config.theme_mismatch
        mine = local_places(record)
        held = story["local"]
        # Each side's main place (named first) missing from the other: the same kind of
        # happening in two towns, however much else (the country, its capital) they share.
        if mine and held and mine[0] not in held:
            score *= config.place_conflict
        # Countries apart: an abduction in Kampala, Uganda and one in Nairobi, Kenya are two
        # happenings even when the two reports are worded alike.
        countries = set(record.countries)
        if countries and story["countries"] and not countries & set(story["countries"]):
            score *= config.country_conflict
    return score * (1.0 - config.time_decay * distance_s / config.window_s)


# -- times --------------------------------------------------------------------------------


def event_time(record: EventRecord, now: float) -> float:
    """When the article was published (seconds since the epoch), else ``now``."""
    if record.published_at:
        try:
            parsed = datetime.fromisoformat(record.published_at)
        except ValueError:
            return now
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return now


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the stage ----------------------------------------------------------------------------


def _new_story(sid: str, key: str, record: EventRecord, at: float) -> dict[str, Any]:
    return {
        "id": sid,
        "key": key,
        "first_article": record.article_id,
        "title": record.title,
        "first_seen": at,
        "last_seen": at,
        "article_count": 0,
        "source_count": 0,
        "sources": [],
        "article_ids": [],
        "articles": [],
        "themes": [],
        "countries": [],
        "regions": [],
        "actors": [],
        "local": [],
        "merged_from": [],
        "profile": {},
        "norm": 0.0,
    }


def _union(old: Iterable[str], new: Iterable[str], bound: int) -> list[str]:
    """Values in order of first appearance, at most ``bound`` (the first ones stay)."""
    return list(dict.fromkeys([*old, *new]))[:bound]


def _top_profile(counts: Mapping[str, float], bound: int) -> dict[str, float]:
    """The ``bound`` heaviest terms (ties: alphabetical, so every replay keeps the same)."""
    if len(counts) > bound:
        kept = heapq.nsmallest(bound, counts.items(), key=lambda item: (-item[1], item[0]))
        counts = dict(kept)
    return {t: round(w, 6) for t, w in sorted(counts.items())}


def _set_profile(story: dict[str, Any], profile: Mapping[str, float], bound: int) -> None:
    story["profile"] = _top_profile(profile, bound)
    story["norm"] = math.sqrt(sum(v * v for v in story["profile"].values()))


def _add(
    story: dict[str, Any],
    record: EventRecord,
    terms: Mapping[str, float],
    at: float,
    config: StoryConfig,
) -> None:
    story["first_seen"] = min(story["first_seen"], at)
    story["last_seen"] = max(story["last_seen"], at)
    story["article_count"] += 1
    story["article_ids"] = [*story["article_ids"], record.article_id][-config.max_ids :]
    entry = [record.article_id, record.title, record.source, record.url, record.published_at]
    story["articles"] = [*story.get("articles", []), entry][-config.max_ids :]
    if record.source:
        sources = [s for s in story["sources"] if s != record.source]
        if len(sources) == len(story["sources"]):
            # Exact while the story has at most max_ids sources; past that a source that
            # fell out of the list and comes back is counted again.
            story["source_count"] += 1
        story["sources"] = [*sources, record.source][-config.max_ids :]
    bound = config.max_union
    story["themes"] = _union(story["themes"], record.themes, bound)
    story["countries"] = _union(story["countries"], record.countries, bound)
    story["regions"] = _union(story["regions"], record.regions, bound)
    story["actors"] = _union(story["actors"], record.actors, bound)
    story["local"] = _union(story["local"], local_places(record), bound)
    if terms:
        profile = dict(story["profile"])
        for term, weight in terms.items():
            profile[term] = profile.get(term, 0.0) + weight
        _set_profile(story, profile, config.max_terms)


def _merge(into: dict[str, Any], other: Mapping[str, Any], config: StoryConfig) -> None:
    """Fold ``other`` into ``into`` (counts, unions, profiles, latest articles)."""
    bound = config.max_union
    into["first_seen"] = min(into["first_seen"], other["first_seen"])
    into["last_seen"] = max(into["last_seen"], other["last_seen"])
    into["article_count"] += other["article_count"]
    by_time = sorted([*into["articles"], *other["articles"]], key=lambda a: (a[4] or "", a[0]))
    into["articles"] = by_time[-config.max_ids :]
    into["article_ids"] = [a[0] for a in into["articles"]]
    shared = set(into["sources"]) & set(other["sources"])
    into["source_count"] += other["source_count"] - len(shared)
    into["sources"] = _union(into["sources"], other["sources"], 10**6)[-config.max_ids :]
    for facet in ("themes", "countries", "regions", "actors", "local"):
        into[facet] = _union(into[facet], other[facet], bound)
    into["merged_from"] = _union(
        into["merged_from"], [other["id"], *other["merged_from"]], config.max_ids
    )
    profile = dict(into["profile"])
    for term, weight in other["profile"].items():
        profile[term] = profile.get(term, 0.0) + weight
    _set_profile(into, profile, config.max_terms)


def _update(story: Mapping[str, Any], record: EventRecord) -> StoryUpdate:
    return StoryUpdate(
        story_id=story["id"],
        key=story["key"],
        is_new=record.article_id == story["first_article"],
        article=record,
        first_seen=rfc3339(story["first_seen"]),
        last_seen=rfc3339(story["last_seen"]),
        article_count=story["article_count"],
        source_count=story["source_count"],
        sources=tuple(story["sources"]),
        article_ids=tuple(story["article_ids"]),
        title=story["title"],
        themes=tuple(story["themes"]),
        countries=tuple(story["countries"]),
        regions=tuple(story["regions"]),
        actors=tuple(story["actors"]),
        merged_from=tuple(story["merged_from"]),
        articles=tuple(tuple(a) for a in story["articles"]),
    )


def _live(state: Mapping[str, Any], story_id_: str) -> dict[str, Any] | None:
    """The story ``story_id_`` is now (following merges), or None when it has gone."""
    for _hop in range(ALIAS_HOPS * 4):
        story = state.get("s:" + story_id_)
        if story is not None:
            return dict(story)
        alias = state.get("x:" + story_id_)
        if alias is None:
            return None
        story_id_ = alias[0]
    return None


def story_of(state: Mapping[str, Any], story_id_: str) -> str | None:
    """The id ``story_id_`` goes by now (itself, or the story it was merged into), or None
    when it has left the state."""
    story = _live(state, story_id_)
    return None if story is None else str(story["id"])


def candidates(
    terms: Mapping[str, float],
    state: Mapping[str, Any],
    at: float,
    horizon: float,
    config: StoryConfig,
) -> list[dict[str, Any]]:
    """The live stories sharing the article's heaviest terms, best index hits first (at
    most ``config.candidates``): only they are scored in full."""
    hits: dict[str, float] = {}
    for term in _index_terms(terms, config):
        for sid, last_seen in state.get("t:" + term, ()):
            if last_seen >= horizon and abs(at - last_seen) <= config.window_s:
                hits[sid] = hits.get(sid, 0.0) + terms[term]
    best = heapq.nsmallest(config.candidates, hits.items(), key=lambda item: (-item[1], item[0]))
    out = []
    for sid, _hit in best:
        story = state.get("s:" + sid)
        if story is not None:
            out.append(story)
    return out


def _index_terms(terms: Mapping[str, float], config: StoryConfig) -> list[str]:
    ranked = heapq.nsmallest(config.index_terms, terms.items(), key=lambda i: (-i[1], i[0]))
    return [t for t, _w in ranked]


def _post(
    state: MutableMapping[str, Any],
    term: str,
    sid: str,
    last_seen: float,
    horizon: float,
    config: StoryConfig,
    drop: str | None = None,
) -> None:
    """Put ``sid`` (seen at ``last_seen``) on the term's posting list; ``drop`` a merged id."""
    postings = [
        p for p in state.get("t:" + term, ()) if p[0] not in (sid, drop) and p[1] >= horizon
    ]
    postings.append([sid, last_seen])
    postings.sort(key=lambda p: (p[1], p[0]))
    state["t:" + term] = postings[-config.max_postings :]


def assign(
    record: EventRecord,
    state: MutableMapping[str, Any],
    now: float,
    config: StoryConfig = StoryConfig(),
) -> StoryUpdate:
    """Put ``record`` into the best matching story, merging the stories it bridges, or start
    one."""
    member = state.get("m:" + record.article_id)
    if member is not None:
        story = _live(state, member[0])
        if story is not None:
            return _update(story, record)  # a redelivery: nothing changes
    key = story_key(record)
    at = event_time(record, now)
    high = max(float(state.get("hw", at)), at)
    horizon = high - config.window_s
    terms = features(record, config)
    scored = []
    for story in candidates(terms, state, at, horizon, config):
        distance = abs(at - story["last_seen"])
        scored.append((similarity(terms, story, distance, record, config), story))
    scored.sort(key=lambda item: (-item[0], item[1]["id"]))
    joined = [s for score, s in scored[:1] if score >= config.threshold]
    joined += [s for score, s in scored[1:] if score >= config.merge_threshold and joined]
    if not joined:
        story = _new_story(story_id(key, record.article_id), key, record, at)
    else:
        # The story first seen earliest survives (ties: the smaller id): the same survivor
        # whichever of the bridged stories the article fitted best.
        joined.sort(key=lambda s: (s["first_seen"], s["id"]))
        story = dict(joined[0])
        for other in joined[1:]:
            _merge(story, other, config)
            state.pop("s:" + other["id"], None)
            state["x:" + other["id"]] = [story["id"], at]
            for term in other["profile"]:
                _post(state, term, story["id"], story["last_seen"], horizon, config, other["id"])
    _add(story, record, terms, at, config)
    state["s:" + story["id"]] = story
    state["m:" + record.article_id] = [story["id"], at]
    state["hw"] = high
    for term in _index_terms(terms, config):
        _post(state, term, story["id"], story["last_seen"], horizon, config)
    return _update(story, record)


def sweep(
    items: Iterable[tuple[str, Any]],
    state: MutableMapping[str, Any],
    config: StoryConfig = StoryConfig(),
) -> int:
    """Delete what fell out of the window (stories, postings, memberships, merge aliases:
    never candidates again), then the oldest stories past ``max_stories``; returns how many
    keys went. ``items`` are the (key, value) pairs to look at, e.g. one partition's.

    Below the cap what is deleted could never be a candidate again, so ids do not depend on
    when sweeps run; past it the oldest stories close early."""
    items = list(items)
    high = float(dict(items).get("hw", 0.0))
    horizon = high - config.window_s
    gone = 0
    live: list[tuple[float, str]] = []
    for key, value in items:
        if key.startswith("s:"):
            if value["last_seen"] < horizon:
                del state[key]
                gone += 1
            else:
                live.append((value["last_seen"], key))
        elif key.startswith(("m:", "x:")) and value[1] < horizon:
            del state[key]
            gone += 1
        elif key.startswith("t:"):
            kept = [p for p in value if p[1] >= horizon]
            if not kept:
                del state[key]
                gone += 1
            elif len(kept) < len(value):
                state[key] = kept
    live.sort()
    for _last, key in live[: max(0, len(live) - config.max_stories)]:
        del state[key]
        gone += 1
    return gone


def derived(key: str) -> bool:
    """Whether a key of the stories state can be derived from its stories (``s:``): the term
    postings (``t:``), the memberships (``m:``) and the high-water mark (``hw``). A worker
    keeps them out of the changelog: they are 18 of the ~19 keys an article sets."""
    return key == "hw" or key.startswith(("t:", "m:"))


def rebuild(
    stories: Iterable[Mapping[str, Any]], config: StoryConfig = StoryConfig()
) -> dict[str, Any]:
    """The derived keys (:func:`derived`) of a state from its live stories, after a restart.

    Postings list each story under its profile terms at its ``last_seen`` (the latest
    ``max_postings`` per term); memberships the story's remembered ``article_ids``; ``hw`` the
    latest ``last_seen``. Not byte for byte what the uninterrupted run held: a profile keeps
    a story's 80 heaviest terms where the postings had every article's 16 heaviest, and a
    story remembers its last ``max_ids`` articles. So after a restart an article may be
    scored against a slightly different set of candidates, and a redelivered article older
    than its story's last ``max_ids`` articles would be counted again."""
    out: dict[str, Any] = {}
    postings: dict[str, list[list[Any]]] = {}
    high: float | None = None
    for story in stories:
        sid, last_seen = str(story["id"]), float(story["last_seen"])
        high = last_seen if high is None else max(high, last_seen)
        for term in story.get("profile", {}):
            postings.setdefault(term, []).append([sid, last_seen])
        for article_id in story.get("article_ids", ()):
            out["m:" + article_id] = [sid, last_seen]
    for term, entries in postings.items():
        entries.sort(key=lambda p: (p[1], p[0]))
        out["t:" + term] = entries[-config.max_postings :]
    if high is not None:
        out["hw"] = high
    return out


# -- copies -------------------------------------------------------------------------------
# Dedupe drops copies before extraction, yet each copy is one more source of its original's
# story ("7 sources now"). The story-copies step joins them: it reads story memberships
# (article id -> story) and duplicates, both keyed by the original's article id, and sends
# each copy to the stories step (keyed by story key), which counts it into the story.
PENDING_MAX = 50  # copies held per original while its extraction is still running


def membership(update: StoryUpdate) -> dict[str, Any]:
    """What the story-copies step needs to know of an article (key: article id)."""
    return Membership(update.article.article_id, update.story_id, update.key).to_dict()


@dataclass
class Joined:
    """What one message of the story-copies step sends on."""

    # Copies that can join their story now -> news.stories.copies.v1 (key: message["key"]).
    copies: list[dict[str, Any]] = field(default_factory=list)
    # Aliases and forwarded copies -> news.stories.members.v1 (key: the article id given).
    # Built from the typed kinds (``pipeline/messages.py``); read back with member_from_dict.
    relays: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def join_copy(
    kind: str, data: Mapping[str, Any], state: MutableMapping[str, Any], now: float
) -> Joined:
    """``kind`` "member" (a message of the members topic) or "duplicate" (a ``Duplicate``
    record) -> the copies that can go to the stories step now, and relays.

    A copy that arrives before its original's membership (dedupe is faster than extraction)
    waits in the state until it comes. An original can itself turn out to be a copy (a crash
    or a lag let its own copy be decided first: ``pipeline/dedupe.py``); then it never gets a
    membership, and the copies waiting for it would wait for nothing. So every duplicate
    record also sends an alias (``{"alias": X, "of": Y}``, key X) to X's partition, which
    forwards the copies waiting for X, and any that come later, to Y
    (``{"forward": copy, "to": Y}``, key Y), at most ``ALIAS_HOPS`` times.

    A redelivered membership or alias sends the copies it released again. A worker writes the
    state change and the copies in one step, but the two reach Kafka separately: killed in
    between, it reads the message again with the change made, and a waiting list deleted on
    release would leave the copies sent nowhere. So a released list stays, marked by what
    released it, until :func:`sweep_copies` expires it (a copy sent twice changes nothing in
    its story: :func:`add_copy`).

    State: ``m:<article id>`` -> [story id, key, time]; ``a:<article id>`` -> [the article it
    is a copy of, time]; ``p:<original id>`` -> {"since": time, "copies": [duplicates]}, plus
    ``"released": "member"|"alias"`` once sent on; :func:`sweep_copies` expires all three.
    """
    out = Joined()
    if kind == "member":
        message = member_from_dict(data)
        if isinstance(message, Alias):
            _alias(message.alias, message.of, state, now, out)
        elif isinstance(message, Forward):
            _take(message.forward, message.to, message.hops, state, now, out)
        else:
            article_id = message.article_id
            state["m:" + article_id] = [message.story_id, message.key, now]
            if _release(state, "p:" + article_id, "member"):
                waiting = state["p:" + article_id]["copies"]
                out.copies += [_copy(d, message.story_id, message.key) for d in waiting]
        return out
    original = str(data["duplicate_of"])
    _take(data, original, 0, state, now, out)
    copy_id = str(data["article_id"])
    out.relays.append((copy_id, Alias(copy_id, original).to_dict()))
    return out


ALIAS_HOPS = 5  # chains are one or two long; the bound only stops a loop from going round


def _take(
    duplicate: Mapping[str, Any],
    original: str,
    hops: int,
    state: MutableMapping[str, Any],
    now: float,
    out: Joined,
) -> None:
    """A copy of ``original``: to its story if known, on to what ``original`` is a copy of,
    or into the waiting list."""
    member = state.get("m:" + original)
    if member is not None:
        out.copies.append(_copy(duplicate, member[0], member[1]))
        return
    alias = state.get("a:" + original)
    if alias is not None and hops < ALIAS_HOPS:
        out.relays.append((alias[0], Forward(dict(duplicate), alias[0], hops + 1).to_dict()))
        return
    waiting = state.get("p:" + original)
    if waiting is None or "released" in waiting:  # released, and what released it expired
        waiting = {"since": now, "copies": []}
    article_id = duplicate["article_id"]
    copies = [d for d in waiting["copies"] if d["article_id"] != article_id]
    state["p:" + original] = {**waiting, "copies": [*copies, dict(duplicate)][-PENDING_MAX:]}


def _alias(
    copy_id: str, original: str, state: MutableMapping[str, Any], now: float, out: Joined
) -> None:
    """``copy_id`` is a copy of ``original``: forward the copies waiting for it."""
    state["a:" + copy_id] = [original, now]
    if _release(state, "p:" + copy_id, "alias"):
        waiting = state["p:" + copy_id]["copies"]
        out.relays += [(original, Forward(d, original, 1).to_dict()) for d in waiting]


def _release(state: MutableMapping[str, Any], key: str, by: str) -> bool:
    """Whether the copies waiting under ``key`` go on now: the first time (marked released
    ``by`` the membership or alias in hand) or again on its redelivery. Released by the other
    kind (an original that also turned out a copy), they went on already."""
    waiting = state.get(key)
    if not waiting:
        return False
    released = waiting.get("released")
    if released is None:
        state[key] = {**waiting, "released": by}
        return True
    return bool(released == by)


def sweep_copies(
    items: Iterable[tuple[str, Any]], state: MutableMapping[str, Any], now: float, window_s: float
) -> int:
    """Forget memberships, aliases and waiting copies older than ``window_s`` (a copy that
    late joins no story: its original's story has closed, or the original never got one);
    returns how many keys went. ``items`` are the (key, value) pairs to look at, e.g. one
    partition's."""
    gone = 0
    for key, value in list(items):
        if key.startswith("m:"):
            at = value[2] if len(value) > 2 else 0.0
        elif key.startswith("a:"):
            at = value[1]
        elif key.startswith("p:"):
            at = value["since"]
        else:
            continue
        if now - at > window_s:
            del state[key]
            gone += 1
    return gone


def _copy(duplicate: Mapping[str, Any], story_id: str, key: str) -> dict[str, Any]:
    return {"story_id": story_id, "key": key, "duplicate": dict(duplicate)}


def add_copy(
    message: Mapping[str, Any],
    state: MutableMapping[str, Any],
    now: float,
    config: StoryConfig = StoryConfig(),
) -> StoryUpdate:
    """Count a copy into its story.

    A copy published more than the window after its story's last article, or whose story
    was swept, is placed like an article of its own, by its headline. The window is measured
    from the copy's own time, not the stream's high-water mark, so a copy that reaches this
    step after later articles (on a worker, copies come after their batch's events) joins its
    original's story exactly as it does in a local run."""
    story = _live(state, str(message["story_id"]))  # the survivor, if merged since
    duplicate = message["duplicate"]
    record = EventRecord(
        article_id=str(duplicate["article_id"]),
        themes=(),
        primary_theme=None,
        countries=(),
        actors=(),
        title=duplicate.get("title"),
        url=duplicate.get("url"),
        source=duplicate.get("source"),
        published_at=duplicate.get("published_at"),
    )
    horizon = event_time(record, now) - config.window_s
    if story is None or (
        story["last_seen"] < horizon and record.article_id not in story["article_ids"]
    ):
        placed = assign(record, state, now, config)
        return replace(placed, copy_of=str(duplicate["duplicate_of"]))
    if record.article_id not in story["article_ids"]:  # else a redelivery: nothing changes
        _add(story, record, {}, event_time(record, now), config)
        state["s:" + story["id"]] = story
    return replace(_update(story, record), copy_of=str(duplicate["duplicate_of"]))
