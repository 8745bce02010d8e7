"""spaCy component ``tocsin_gazetteer``: theme triggers, actor and place names by phrase matching.

It works the same on ``spacy.blank("en")`` and on a trained pipeline; the trained pipeline adds
named entities (more actors and places) and better sentence boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

from streams.nlp.actors import _SMALL as _SMALL_WORDS
from streams.nlp.actors import ActorNames, acronyms, actor_key, folded_forms, text_variants
from streams.nlp.gate import Gate, load_gate
from streams.nlp.gazetteer import Actor, Taxonomy, load_actors, load_taxonomy, matchable_places


@dataclass(frozen=True)
class Hit:
    """A phrase match: token span [start, end) and what it means."""

    start: int
    end: int
    label: str  # theme id, canonical actor name or country code
    weight: float = 1.0


for _name in (
    "theme_hits",
    "actor_hits",
    "place_hits",
    "negative_hits",
    "cue_hits",
    "agent_hits",
    "frame_hits",
):
    if not Doc.has_extension(_name):
        Doc.set_extension(_name, default=None)


class GazetteerComponent:
    """Annotates ``doc._.theme_hits``, ``actor_hits``, ``place_hits`` (label ``PLACE``: the
    text is looked up in :func:`~streams.nlp.gazetteer.place_readings`), ``negative_hits``
    (negative terms, label ``*`` for the global ones), ``cue_hits`` (``NEG``/``HYP``
    cues), ``agent_hits`` (``state``/``non_state`` agent nouns) and ``frame_hits`` (words
    of the taxonomy's frames, labelled with the frame's name)."""

    def __init__(
        self,
        nlp: Language,
        taxonomy: Taxonomy,
        actors: tuple[Actor, ...],
        places: Iterable[str],
        places_path: Path | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        # Whether an article reports an incident at all: the extract stage asks it once per
        # article, before the incident themes count.
        self.gate = gate or load_gate()
        # The place file the extract stage resolves names with (None: the shipped one).
        self.places_path = places_path
        self.actor_info = {a.name: a for a in actors}
        # Names NER finds resolve like typed ones ("AL-SHABAAB", "Jamaat Nusrat al-Islam").
        self.actor_names = ActorNames(actors)
        self._theme_weight: dict[str, dict[str, float]] = {}
        self.themes = PhraseMatcher(nlp.vocab, attr="LOWER")
        for theme in taxonomy.themes:
            self._theme_weight[theme.id] = theme.triggers
            self.themes.add(theme.id, _docs(nlp, theme.triggers))
        self.negatives = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.negatives.add("*", _docs(nlp, taxonomy.global_negatives))
        for theme in taxonomy.themes:
            if theme.negatives:
                self.negatives.add(theme.id, _docs(nlp, theme.negatives))
        # Names are matched case-sensitively: "Chad" the country, not "chad"; "US", not "us".
        self.actors = PhraseMatcher(nlp.vocab, attr="ORTH")
        # Armed groups' distinctive names also in any case ("Mayi-mayi", "AL-SHABAAB"): a
        # rare word makes the name safe to fold; acronyms and common words keep their case.
        self.actors_folded = PhraseMatcher(nlp.vocab, attr="LOWER")
        for actor in actors:
            forms = {v for a in (actor.name, *actor.aliases) for v in text_variants(a)}
            self.actors.add(actor.name, _docs(nlp, sorted(forms)))
            if actor.type == "armed_group":
                folded = folded_forms(forms)
                if folded:
                    self.actors_folded.add(actor.name, _docs(nlp, sorted(folded)))
        self.places = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.places.add("PLACE", _docs(nlp, sorted(places)))
        self.cues = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.cues.add("NEG", _docs(nlp, taxonomy.negation_cues))
        self.cues.add("HYP", _docs(nlp, taxonomy.hypothetical_cues))
        self.cues.add("CAUSE", _docs(nlp, taxonomy.cause_cues))
        # Words of sport, markets, culture and tech: which frame an article is written in.
        self.frames = PhraseMatcher(nlp.vocab, attr="LOWER")
        for frame in taxonomy.frames:
            self.frames.add(frame.name, _docs(nlp, frame.words))
        self.agents = PhraseMatcher(nlp.vocab, attr="LOWER")
        for agent_class, words in taxonomy.agents.items():
            self.agents.add(agent_class, _docs(nlp, words))

    def __call__(self, doc: Doc) -> Doc:
        strings = doc.vocab.strings
        theme_hits = []
        for match_id, start, end in self.themes(doc):
            theme = strings[match_id]
            phrase = doc[start:end].text.lower()
            theme_hits.append(Hit(start, end, theme, self._theme_weight[theme].get(phrase, 1.0)))
        # Overlapping triggers: the longest reading wins ("clashed with police" is a riot,
        # not the armed clash "clashed" alone would be); the same span may stay in two themes.
        doc._.theme_hits = _longest_per_span(theme_hits)
        doc._.cue_hits = [Hit(s, e, strings[m]) for m, s, e in self.cues(doc)]
        doc._.agent_hits = _longest(Hit(s, e, strings[m]) for m, s, e in self.agents(doc))
        doc._.negative_hits = [Hit(s, e, strings[m]) for m, s, e in self.negatives(doc)]
        doc._.frame_hits = [Hit(s, e, strings[m]) for m, s, e in self.frames(doc)]
        found = [*self.actors(doc), *self.actors_folded(doc)]
        actor_hits = _longest(Hit(s, e, strings[m]) for m, s, e in found)
        # Only texts with an acronym hit are read for acronym definitions.
        acronym = any(not any(c.islower() for c in doc[h.start : h.end].text) for h in actor_hits)
        other = _defined_otherwise(doc, self.actor_names) if acronym else set()
        doc._.actor_hits = [
            h
            for h in actor_hits
            if not _opposed(doc, h.start) and not _misread_acronym(doc, h, other, self)
        ]
        doc._.place_hits = _longest(Hit(s, e, strings[m]) for m, s, e in self.places(doc))
        return doc


def _opposed(doc: Doc, start: int) -> bool:
    """ "anti-Houthi forces", "an anti-IS raid": the name says whom they fight, not who acts.
    "pro-X" stays X: ACLED codes "pro-Houthi forces" as the Houthis."""
    return (
        start >= 2
        and doc[start - 1].text == "-"
        and doc[start - 2].lower_ in {"anti", "counter"}
        and not doc[start - 2].whitespace_
    )


# "Uganda People's Congress (UPC)": a long form and the acronym the text defines with it.
_DEFINITION = re.compile(
    r"((?:[A-Z][\w'\u2019\-]*\s+(?:(?:of|for|and|the|in|de|du|des|la|le|pour|al|wal)\s+)*){1,9})"
    r"[(<\[]\s*(?P<acr>[A-Z][A-Za-z0-9\-]{1,9})\s*[)>\]]"
)


def _defined_otherwise(doc: Doc, names: ActorNames) -> set[str]:
    """Acronyms the text defines as something the gazetteer does not know by them
    ("National Academy of Sciences (NAS)", "Chinese Petroleum Corp <CPC>")."""
    out = set()
    for match in _DEFINITION.finditer(doc.text):
        acr = match.group("acr")
        words = match.group(1).split()
        for n in range(len(words)):  # the shortest tail of the capitalised run that fits
            tail = " ".join(words[-n - 1 :])
            if actor_key(acr).replace(" ", "") in acronyms(tail):
                try:
                    meant, known = names.resolve(tail), names.resolve(acr)
                except ValueError:  # several actors answer to one of them
                    meant, known = None, None
                if meant != known and not (meant is None and _shares_words(tail, known, names)):
                    out.add(acr)
                break
    return out


# Content words a long form the gazetteer lacks must share with the actor's names to be read
# as another spelling of it ("Allied Democratic Forces-National Army for the Liberation of
# Uganda (ADF-NALU)"), not as something else ("African Development Fund (ADF)").
MIN_SHARED_WORDS = 2


def _shares_words(long_form: str, actor: str | None, names: ActorNames) -> bool:
    if actor is None:
        return False
    info = names.actors[actor]
    theirs = {w for form in (info.name, *info.aliases) for w in actor_key(form).split()}
    ours = set(actor_key(long_form).split()) - _SMALL_WORDS
    return len(ours & theirs) >= MIN_SHARED_WORDS


def _misread_acronym(
    doc: Doc, hit: Hit, defined_otherwise: set[str], component: GazetteerComponent
) -> bool:
    """An acronym hit that names something else: defined so in the text, in a text with
    one of the actor's ``other_meanings``, a company's ticker ("<CPC>"), the end of a
    compound ("CO-OPS") or in a line written in capitals ("STC PLC <STCL.L> YEAR")."""
    span = doc[hit.start : hit.end]
    if any(c.islower() for c in span.text):
        return False
    if span.text in defined_otherwise:
        return True
    meanings = component.actor_info[hit.label].other_meanings
    if meanings:  # the whole text folded only for the few actors that have other meanings
        text = doc.text.casefold()
        if any(m.casefold() in text for m in meanings):
            return True
    if f"<{span.text}>" in doc.text:  # a company's ticker in this text
        return True
    before = doc[hit.start - 1] if hit.start > 0 else None
    # The end of a capitals compound ("CO-OPS"; "pro-STC" is the STC's).
    glued = hit.start > 1 and doc[hit.start - 2].is_upper and not doc[hit.start - 2].whitespace_
    if glued and before is not None and before.text == "-" and not before.whitespace_:
        return True
    return _in_capitals(doc, hit)


# Words either side of an acronym read to tell a capitals headline from running text, and
# the share of them in capitals that makes one.
CAPITALS_WINDOW = 12
CAPITALS_SHARE = 0.6


def _in_capitals(doc: Doc, hit: Hit) -> bool:
    """Whether a hit stands in a line written in capitals ("MARINE <OM> KNOWS NO REASON
    STOCK IS UP"), where every word looks like an acronym; "a PKK IED detonated" is not."""
    words = []
    for step, edge in ((-1, hit.start - 1), (1, hit.end)):
        for n in range(CAPITALS_WINDOW):
            i = edge + step * n
            if not 0 <= i < len(doc) or "\n" in doc[i].text:
                break
            words.append(doc[i])
    alpha = [t for t in words if t.is_alpha and len(t) > 1]
    capitals = sum(t.is_upper for t in alpha)
    return capitals >= 2 and capitals >= CAPITALS_SHARE * len(alpha)


def _docs(nlp: Language, phrases: Iterable[str]) -> list[Doc]:
    """Pattern docs for a PhraseMatcher: tokenised only, which is all it needs."""
    tokenizer: Any = nlp.tokenizer  # typed as a plain callable; spaCy's has .pipe
    return list(tokenizer.pipe(phrases))


def _longest_per_span(hits: list[Hit]) -> list[Hit]:
    """Drop a hit inside a longer hit; equal spans of different themes both stay."""
    out = []
    for hit in hits:
        inside = any(
            o.start <= hit.start and hit.end <= o.end and (o.end - o.start) > (hit.end - hit.start)
            for o in hits
        )
        if not inside:
            out.append(hit)
    return sorted(out, key=lambda h: (h.start, h.end))


def _longest(hits: Iterable[Hit]) -> list[Hit]:
    """Keep the longest of overlapping matches ("South Sudan" over "Sudan")."""
    ordered = sorted(hits, key=lambda h: (h.start, -(h.end - h.start)))
    out: list[Hit] = []
    for hit in ordered:
        if out and hit.start < out[-1].end:
            continue
        out.append(hit)
    return out


@Language.factory(
    "tocsin_gazetteer",
    default_config={"themes_path": "", "actors_path": "", "places_path": "", "gate_path": ""},
)
def make_gazetteer(
    nlp: Language,
    name: str,
    *,
    themes_path: str,
    actors_path: str,
    places_path: str,
    gate_path: str,
) -> GazetteerComponent:
    """Build the component; empty paths mean the files shipped in ``streams/nlp/data``."""
    return GazetteerComponent(
        nlp,
        load_taxonomy(Path(themes_path) if themes_path else None),
        load_actors(Path(actors_path) if actors_path else None),
        matchable_places(Path(places_path) if places_path else None),
        Path(places_path) if places_path else None,
        load_gate(Path(gate_path) if gate_path else None),
    )
