"""Stage ``stories``: event records -> stories (one story per happening, however many reports).

A story groups the unique articles that report the same happening: same story key (theme and
country, :func:`story_key`; on Kafka the stage's input is keyed by it so candidate stories meet
on one partition), overlapping actors, places and headline words, and close in time. Each
record joins the best-scoring candidate story under its key when the score reaches
``StoryConfig.threshold``, else it starts a new story. The :class:`StoryUpdate` it returns says
whether the article started its story (``is_new``: alert now) or joined one (a quiet update,
"7 sources now").

Similarity (:func:`similarity`) is the weighted mean, over the facets the article has, of the
fraction of the article's terms the story's profile already holds (containment, so a growing
story does not get harder to join): actors (gazetteer names, PERSON/ORG entities, named
event actors and targets), places (place names below country level and ISO 3166-2 regions)
and words (capitalised words, numbers and the headline's content words, from the headline and
the first event sentences; stopwords, weekdays, months and country names out). The country is
in the key already, so it adds nothing. The mean is scaled down linearly with the time
distance, by up to ``time_decay`` at ``window_s``; beyond the window a story is no candidate.

State, in a ``MutableMapping[str, Any]`` of plain JSON values (a faust table keyed like the
input on a worker, a dict locally):

- ``"k:" + key``: the key's candidate stories, ``[[story_id, last_seen], ...]`` oldest first,
  at most ``max_stories`` (the story with the oldest ``last_seen`` is evicted and its entry
  deleted);
- ``"s:" + story_id``: one story, a dict (:func:`_new_story`) with its counts, the latest
  ``max_ids`` article ids and distinct sources, and a profile of at most ``max_terms`` terms
  per facet.

Story ids are ``"st-"`` + 24 hex of sha256 over ``[key, first article id]``: a replay from the
start gives the same ids. Seeing an article id again (at-least-once redelivery) changes
nothing and returns the story's current update; a redelivered first article still has
``is_new`` true, so it looks like the first delivery. Redelivery is recognised while the
article is among its story's latest ``max_ids`` (or is its first).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

from streams.models import EventRecord
from streams.settings import Settings

STAGE = "stories"
HOUR = 3600.0
DAY = 24 * HOUR
FACETS = ("actors", "places", "words")


@dataclass(frozen=True)
class StoryConfig:
    """Grouping threshold, facet weights and state bounds (defaults tuned on the SemEval 2022
    task 8 training pairs, ``bench/story_quality.py``; figures in ``docs/quality.md``)."""

    window_s: float = 72 * HOUR
    threshold: float = 0.35
    actor_weight: float = 1.0
    place_weight: float = 1.0
    word_weight: float = 1.5
    time_decay: float = 0.3  # score multiplier lost at a time distance of window_s
    max_stories: int = 50  # candidate stories kept per key
    max_ids: int = 20  # article ids and distinct sources remembered per story
    max_terms: int = 40  # profile terms kept per facet and story
    lead_sentences: int = 3  # event sentences read for words besides the headline
    # Terms an article must share with a story (regions not counted: they repeat a place),
    # so that one common place name ("Washington") never makes a story on its own.
    min_shared: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> StoryConfig:
        return cls(window_s=settings.story_window_hours * HOUR)


@dataclass(frozen=True)
class StoryUpdate:
    """An article's place in its story (``news.stories.v1``, key: story id)."""

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
        )


def story_key(record: EventRecord) -> str:
    """``"<theme>|<first country>"``, ``-`` for a missing part.

    The theme is ``themes[0]``, the theme the article reports most (extract sorts themes by
    weight, headline and lead counting double), not ``primary_theme``: that is the ACLED-style
    precedence pick among the headline's themes, and one word flips it between rewrites of one
    report ("82 abductions ... since June protests" is a protest, "82 young people abducted"
    an abduction), which would put them under different keys. The first country is
    ``countries[0]``: extract lists countries in order of first mention (headline, dateline,
    body), or, when no place is named, the home countries of the armed actors named."""
    theme = record.themes[0] if record.themes else (record.primary_theme or "-")
    country = record.countries[0] if record.countries else "-"
    return f"{theme}|{country}"


def story_id(key: str, first_article_id: str) -> str:
    """Deterministic: the same key and first article give the same id on every replay."""
    digest = hashlib.sha256(json.dumps([key, first_article_id]).encode("utf-8")).hexdigest()
    return "st-" + digest[:24]


# -- features -----------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_][\w'’.-]*[^\W_]|[^\W_]", re.UNICODE)
_CALENDAR = {
    *("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
    *("january", "february", "march", "april", "may", "june", "july", "august"),
    *("september", "october", "november", "december", "today", "yesterday"),
    *("mr", "mrs", "ms", "dr", "said", "says", "new", "year", "years"),
}
# Place readings that name a whole country: in the key already, so they say nothing more.
_COUNTRY_LEVEL = {"country", "demonym", "alias"}


def _country_level(text: str) -> bool:
    from streams.nlp.gazetteer import place_readings

    readings = place_readings(text)
    # "Nairobi" is an alias of Kenya too, but also a region: a place, not the country.
    return bool(readings) and all(r.kind in _COUNTRY_LEVEL for r in readings)


def _words(text: str, headline: bool, skip: set[str]) -> list[str]:
    """Salient lowercase tokens: capitalised words and numbers, and in a headline every
    content word of 4+ letters (headlines are short and chosen)."""
    out = []
    for match in _TOKEN.finditer(text):
        token = match.group().strip("'’.-")
        lowered = token.lower()
        if not token or lowered in STOP_WORDS or lowered in _CALENDAR or lowered in skip:
            continue
        if any(c.isdigit() for c in token):
            if any(c.isalpha() for c in token) and not token[0].isdigit():
                continue  # codes and handles ("COVID-19" stays, "x2y" goes)
            out.append(lowered)
        elif token[0].isupper() or (headline and len(token) >= 4):
            out.append(lowered)
    return out


def features(record: EventRecord, config: StoryConfig = StoryConfig()) -> dict[str, list[str]]:
    """The terms an article is compared on, per facet (each deduplicated, in first-seen order)."""
    country_names = {p.text.lower() for p in record.places if _country_level(p.text)}
    actors = [a.lower() for a in record.actors]
    for event in record.events:
        for role in (event.actor, event.target):
            # Named roles only: "Armed men" or "government" would tie unrelated stories.
            if role and role[:1].isupper() and (" " in role or role in record.actors):
                actors.append(role.lower())
    places = [p.text.lower() for p in record.places if p.text.lower() not in country_names]
    places += ["r:" + r for r in record.regions]
    sentences = list(dict.fromkeys(e.sentence for e in record.events))[: config.lead_sentences]
    words = _words(record.title or "", True, country_names)
    for sentence in sentences:
        if sentence != record.title:
            words += _words(sentence, False, country_names)
    return {
        "actors": list(dict.fromkeys(actors)),
        "places": list(dict.fromkeys(places)),
        "words": list(dict.fromkeys(words)),
    }


def similarity(
    terms: Mapping[str, Iterable[str]],
    profile: Mapping[str, Mapping[str, int]],
    distance_s: float,
    config: StoryConfig = StoryConfig(),
) -> float:
    """How well an article's terms fit a story profile, 0..1 (0 outside the window)."""
    if distance_s > config.window_s:
        return 0.0
    weights = {
        "actors": config.actor_weight,
        "places": config.place_weight,
        "words": config.word_weight,
    }
    total = score = 0.0
    shared_terms = 0
    for facet in FACETS:
        mine = set(terms.get(facet, ()))
        if not mine:
            continue
        held = profile.get(facet, {})
        shared = [t for t in mine if t in held]
        shared_terms += sum(1 for t in shared if not t.startswith("r:"))
        total += weights[facet]
        score += weights[facet] * len(shared) / len(mine)
    if total == 0.0 or shared_terms < config.min_shared:
        return 0.0
    mine_places = set(terms.get("places", ()))
    held_places = profile.get("places", {})
    if mine_places and held_places and not mine_places & set(held_places):
        # Both name towns or regions below the country, and none in common: gunmen abducting
        # traders in Mombasa and in Kisumu are two happenings, however alike the words.
        return 0.0
    return score / total * (1.0 - config.time_decay * distance_s / config.window_s)


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
        "profile": {facet: {} for facet in FACETS},
    }


def _add(
    story: dict[str, Any],
    record: EventRecord,
    terms: Mapping[str, list[str]],
    at: float,
    config: StoryConfig,
) -> None:
    story["first_seen"] = min(story["first_seen"], at)
    story["last_seen"] = max(story["last_seen"], at)
    story["article_count"] += 1
    story["article_ids"] = [*story["article_ids"], record.article_id][-config.max_ids :]
    if record.source:
        sources = [s for s in story["sources"] if s != record.source]
        if len(sources) == len(story["sources"]):
            # Exact while the story has at most max_ids sources; past that a source that
            # fell out of the list and comes back is counted again.
            story["source_count"] += 1
        story["sources"] = [*sources, record.source][-config.max_ids :]
    for facet in FACETS:
        counts: dict[str, int] = dict(story["profile"][facet])
        for term in terms[facet]:
            counts[term] = counts.pop(term, 0) + 1  # re-inserted: newest last
        if len(counts) > config.max_terms:
            # Keep the most frequent terms; among equals the most recent.
            order = {t: n for n, t in enumerate(counts)}
            kept = sorted(counts, key=lambda t: (counts[t], order[t]))[-config.max_terms :]
            counts = {t: counts[t] for t in sorted(kept, key=order.__getitem__)}
        story["profile"][facet] = counts


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
    )


def assign(
    record: EventRecord,
    state: MutableMapping[str, Any],
    now: float,
    config: StoryConfig = StoryConfig(),
) -> StoryUpdate:
    """Put ``record`` into the best matching story under its key, or start one."""
    key = story_key(record)
    index: list[list[Any]] = [list(entry) for entry in state.get("k:" + key, [])]
    stories = [state["s:" + sid] for sid, _last in index if "s:" + sid in state]
    for story in stories:
        if record.article_id == story["first_article"] or record.article_id in story["article_ids"]:
            return _update(story, record)  # a redelivery: nothing changes
    at = event_time(record, now)
    terms = features(record, config)
    best: dict[str, Any] | None = None
    best_score = config.threshold
    for story in stories:
        distance = abs(at - story["last_seen"])
        if distance <= config.window_s:
            score = similarity(terms, story["profile"], distance, config)
            if score >= best_score:
                best, best_score = story, score
    if best is None:
        best = _new_story(story_id(key, record.article_id), key, record, at)
    story = dict(best)
    story["profile"] = dict(best["profile"])
    _add(story, record, terms, at, config)
    state["s:" + story["id"]] = story
    index = [entry for entry in index if entry[0] != story["id"]]
    index.append([story["id"], story["last_seen"]])
    index.sort(key=lambda entry: entry[1])
    # Evict the stories seen least recently, never the one just written (a late article can
    # make its own story the oldest).
    evicted = [e for e in index if e[0] != story["id"]][: max(0, len(index) - config.max_stories)]
    for sid, _last in evicted:
        state.pop("s:" + sid, None)
    state["k:" + key] = [e for e in index if e not in evicted]
    return _update(story, record)


# -- copies -------------------------------------------------------------------------------
# Dedupe drops copies before extraction, yet each copy is one more source of its original's
# story ("7 sources now"). The story-copies step joins them: it reads story memberships
# (article id -> story) and duplicates, both keyed by the original's article id, and sends
# each copy to the stories step (keyed by story key), which counts it into the story.
PENDING_MAX = 50  # copies held per original while its extraction is still running


def membership(update: StoryUpdate) -> dict[str, Any]:
    """What the story-copies step needs to know of an article (key: article id)."""
    return {"article_id": update.article.article_id, "story_id": update.story_id, "key": update.key}


@dataclass
class Joined:
    """What one message of the story-copies step sends on."""

    # Copies that can join their story now -> news.stories.copies.v1 (key: message["key"]).
    copies: list[dict[str, Any]] = field(default_factory=list)
    # Aliases and forwarded copies -> news.stories.members.v1 (key: the article id given).
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

    State: ``m:<article id>`` -> [story id, key, time]; ``a:<article id>`` -> [the article it
    is a copy of, time]; ``p:<original id>`` -> {"since": time, "copies": [duplicates]};
    :func:`sweep_copies` expires all three.
    """
    out = Joined()
    if kind == "member":
        if "alias" in data:
            _alias(str(data["alias"]), str(data["of"]), state, now, out)
        elif "forward" in data:
            _take(data["forward"], str(data["to"]), int(data.get("hops", 1)), state, now, out)
        else:
            article_id = str(data["article_id"])
            state["m:" + article_id] = [data["story_id"], data["key"], now]
            waiting = state.get("p:" + article_id)
            if waiting:
                del state["p:" + article_id]
                out.copies += [
                    _copy(d, str(data["story_id"]), str(data["key"])) for d in waiting["copies"]
                ]
        return out
    original = str(data["duplicate_of"])
    _take(data, original, 0, state, now, out)
    copy_id = str(data["article_id"])
    out.relays.append((copy_id, {"alias": copy_id, "of": original}))
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
        out.relays.append(
            (alias[0], {"forward": dict(duplicate), "to": alias[0], "hops": hops + 1})
        )
        return
    waiting = state.get("p:" + original) or {"since": now, "copies": []}
    article_id = duplicate["article_id"]
    copies = [d for d in waiting["copies"] if d["article_id"] != article_id]
    state["p:" + original] = {**waiting, "copies": [*copies, dict(duplicate)][-PENDING_MAX:]}


def _alias(
    copy_id: str, original: str, state: MutableMapping[str, Any], now: float, out: Joined
) -> None:
    """``copy_id`` is a copy of ``original``: forward the copies waiting for it."""
    state["a:" + copy_id] = [original, now]
    waiting = state.get("p:" + copy_id)
    if waiting:
        del state["p:" + copy_id]
        out.relays += [
            (original, {"forward": d, "to": original, "hops": 1}) for d in waiting["copies"]
        ]


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
) -> StoryUpdate | None:
    """Count a copy into its story; None when the story has left the state (expired)."""
    story = state.get("s:" + str(message["story_id"]))
    if story is None:
        return None
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
    if record.article_id not in story["article_ids"]:  # else a redelivery: nothing changes
        story = dict(story)
        _add(story, record, {facet: [] for facet in FACETS}, event_time(record, now), config)
        state["s:" + story["id"]] = story
    return replace(_update(story, record), copy_of=str(duplicate["duplicate_of"]))
