"""Stage ``extract``: unique articles -> event records (themes, countries, actors, evidence).

Runs ``nlp.pipe`` over a batch; the worker calls :func:`extract_batch` on an executor thread so
the event loop keeps serving heartbeats while spaCy works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span

from streams.models import Article, EventRecord, Evidence, Place, Rejected
from streams.nlp import model_name
from streams.nlp.gazetteer import place_index

STAGE = "extract"
# spaCy's cost grows with length; a news body past this is almost always scraped junk.
MAX_NLP_CHARS = 100_000
_ACTOR_LABELS = {"PERSON", "ORG"}
_PLACE_LABELS = {"GPE", "LOC", "NORP"}
MAX_ACTORS = 12


def article_text(article: Article) -> str:
    """What the model reads: the title as its own paragraph, then the body."""
    body = article.text[:MAX_NLP_CHARS]
    if not article.title:
        return body
    # A full stop keeps an unpunctuated headline out of the body's first sentence.
    stop = "" if article.title.rstrip()[-1:] in ".!?" else "."
    return f"{article.title}{stop}\n\n{body}"


def extract_batch(nlp: Language, articles: Sequence[Article]) -> list[EventRecord | Rejected]:
    """One record (or rejection) per article, in order. A failing article does not fail the
    others: on an error the batch is redone one article at a time."""
    try:
        docs = list(nlp.pipe(article_text(a) for a in articles))
        return [
            record_from_doc(doc, a, model_name(nlp)) for doc, a in zip(docs, articles, strict=True)
        ]
    except Exception:  # noqa: BLE001  (isolate the culprit below, then report it per article)
        return [_extract_one(nlp, a) for a in articles]


def _extract_one(nlp: Language, article: Article) -> EventRecord | Rejected:
    try:
        return record_from_doc(nlp(article_text(article)), article, model_name(nlp))
    except Exception as exc:  # noqa: BLE001  (becomes a dead letter, never a crash)
        return Rejected(type(exc).__name__, str(exc)[:500])


def _negated_sentences(doc: Doc, theme: str) -> set[int]:
    """Start offsets of sentences holding a negative term for ``theme`` (or a global one)."""
    return {
        doc[start].sent.start for label, start in doc._.negative_starts if label in ("*", theme)
    }


def record_from_doc(doc: Doc, article: Article, model: str) -> EventRecord:
    """Read the gazetteer hits and entities of ``doc`` into an :class:`EventRecord`."""
    scores: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    evidence: dict[str, Evidence] = {}
    negated = {
        theme: _negated_sentences(doc, theme) for theme in {h.label for h in doc._.theme_hits}
    }
    for hit in doc._.theme_hits:
        sent = doc[hit.start].sent
        if sent.start in negated[hit.label]:
            continue
        scores[hit.label] += hit.weight
        first_seen.setdefault(hit.label, hit.start)
        if hit.label not in evidence:
            evidence[hit.label] = Evidence(
                hit.label, doc[hit.start : hit.end].text, _sentence(sent)
            )
    themes = sorted(scores, key=lambda t: (-scores[t], first_seen[t]))
    places = _places(doc)
    return EventRecord(
        article_id=article.id,
        themes=tuple(themes),
        primary_theme=themes[0] if themes else None,
        countries=tuple(dict.fromkeys(p.country for p in places)),
        actors=tuple(_actors(doc)),
        places=tuple(dict.fromkeys(places)),
        evidence=tuple(evidence[t] for t in themes),
        title=article.title,
        url=article.url,
        source=article.source,
        published_at=article.published_at,
        model=model,
    )


def _sentence(sent: Span) -> str:
    return " ".join(sent.text.split())[:1000]


def _places(doc: Doc) -> list[Place]:
    index = place_index()
    hits = [(h.start, Place(doc[h.start : h.end].text, h.label)) for h in doc._.place_hits]
    covered = {i for h in doc._.place_hits for i in range(h.start, h.end)}
    for ent in doc.ents:
        if ent.label_ in _PLACE_LABELS and ent.start not in covered:
            name = ent.text.removeprefix("the ")
            code = index.get(name)
            if code:
                hits.append((ent.start, Place(name, code)))
    return [place for _start, place in sorted(hits, key=lambda h: h[0])]


def _actor_name(ent: Span) -> str | None:
    """An entity's text as an actor name, or None when it is noise: a place, a dateline
    ("MARSEILLE"), a span across paragraphs or a stop word."""
    text = ent.text.removeprefix("The ").removeprefix("the ")
    if "\n" in text or len(ent) > 6 or text in place_index() or not text[:1].isupper():
        return None
    if len(ent) == 1 and ((text.isupper() and len(text) > 4) or ent[0].is_stop):
        return None
    return text


def _actors(doc: Doc) -> list[str]:
    """Gazetteer actors by canonical name, then named PERSON/ORG entities, with short
    mentions ("Mwangi") linked to a longer name in the same document ("Denis Mwangi")."""
    counts: Counter[str] = Counter()
    order: dict[str, int] = {}
    covered: set[int] = set()
    for hit in doc._.actor_hits:
        counts[hit.label] += 1
        order.setdefault(hit.label, hit.start)
        covered.update(range(hit.start, hit.end))
    names = [
        (ent.start, _actor_name(ent))
        for ent in doc.ents
        if ent.label_ in _ACTOR_LABELS and not covered.intersection(range(ent.start, ent.end))
    ]
    named = [(start, name) for start, name in names if name]
    full = [name for _start, name in named if " " in name]
    for start, name in named:
        if " " not in name:
            longer = [f for f in full if f.split()[-1] == name]
            name = longer[0] if len(longer) == 1 else name
        counts[name] += 1
        order.setdefault(name, start)
    ranked = sorted(counts, key=lambda a: (-counts[a], order[a]))
    return ranked[:MAX_ACTORS]
