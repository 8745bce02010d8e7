"""Actor names as people write them: the gazetteer's canonical names, aliases and codes, the
acronyms of its names, and the usual spelling variants (hyphen or space, a lower-case Arabic
article, a bracketed qualifier, "militants" after the name).

:class:`ActorNames` resolves what a user types ("JNIM", "al shabab", "ADF rebels",
"Military Forces of Nigeria (2015-)") to the canonical gazetteer name the extract stage
emits, so a subscription and an article meet. :func:`text_variants` gives the spellings the
extract stage looks for in text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from streams.nlp.gazetteer import Actor, load_actors

# Words left out of an acronym ("Group for Support of Islam and Muslims" -> GSIM).
_SMALL = frozenset({
    "of", "and", "for", "the", "in", "on", "to", "a", "an", "de", "du", "des", "la", "le",
    "les", "el", "al", "wal", "wa", "et", "y", "da", "do", "dos", "das"
})  # fmt: skip
# Nouns typed after a name that are not part of it: "JNIM militants", "ADF rebels".
_GROUP_NOUNS = frozenset({
    "militant", "militants", "rebel", "rebels", "fighter", "fighters", "militia",
    "militias", "militiamen", "insurgent", "insurgents", "jihadist", "jihadists", "member",
    "members", "group", "elements", "gunmen", "forces", "force", "troops", "soldiers",
    "movement", "faction"
})  # fmt: skip
_LEADING = ("suspected ", "presumed ", "alleged ", "the ")
# Arabic and other particles a name is written with in either case ("al-Shabaab", "Al-Shabaab";
# ACLED writes "ex-Seleka" and "anti-Balaka").
_PARTICLES = frozenset({
    "al", "el", "ar", "as", "ash", "ad", "an", "at", "az", "ex", "anti", "pro"
})  # fmt: skip
_BRACKET = re.compile(r"\s*\(([^()]*)\)")
_YEARS = re.compile(r"^\d{4}-(\d{4})?$")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015_/]+")
_DROPPED = re.compile(r"['\u2018\u2019\u02bc`.]")
MIN_ACRONYM = 3
# Shorter readings tried for one typed name (bounds the work on a long odd one).
MAX_READINGS = 24
# Longest typed form compared with the derived acronyms.
MAX_ACRONYM_TYPED = 8
# Shortest name compared loosely (short ones are acronyms: "ADF" is not "AD").
MIN_LOOSE = 6


class AmbiguousActor(ValueError):
    """A typed name that several gazetteer actors answer to."""

    def __init__(self, typed: str, candidates: Iterable[str]) -> None:
        self.candidates = tuple(sorted(candidates))
        shown = "; ".join(self.candidates[:8])
        super().__init__(f"actor {typed!r} is ambiguous: one of {shown}")


def actor_key(name: str) -> str:
    """The form names are compared in: no diacritics, case-folded, hyphens and runs of spaces
    as one space, no apostrophes or full stops ("Jama'at" = "Jamaat", "U.N." = "UN")."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    text = _DROPPED.sub("", ascii_.casefold())
    text = _SEPARATORS.sub(" ", text).strip()
    return text.removeprefix("the ")


def _squash(key: str) -> str:
    return key.replace(" ", "")


def loose_key(key: str) -> str:
    """A key blind to the usual transliteration variants: doubled letters, a final "h"
    after a vowel, "ou"/"u", "ee"/"i" ("Ahrar al Sharqiyah" = "Ahrar al-Sharqiya",
    "Al-Shabaab" = "al-Shabab")."""
    words = []
    for word in key.split():
        word = re.sub(r"(.)\1+", r"\1", word).replace("ou", "u").replace("ee", "i")
        words.append(
            word[:-1] if len(word) > 3 and word[-1] == "h" and word[-2] in "aeiou" else word
        )
    return " ".join(words)


def acronyms(name: str) -> set[str]:
    """Initials of a name's words ("Allied Democratic Forces" -> adf), with and without its
    small words, and with a glued article dropped ("Jama'at Nasr al-Islam wal Muslimin" ->
    jnim); squashed keys of MIN_ACRONYM+ letters."""
    words = [w for w in re.split(r"[\s\-]+", _DROPPED.sub("", name)) if w]
    if len(words) < 2:
        return set()
    out = set()
    every = "".join(w[0] for w in words if w[0].isalnum())
    content = "".join(w[0] for w in words if w.casefold() not in _SMALL and w[0].isalnum())
    out.update({every, content})
    return {actor_key(a) for a in out if len(a) >= MIN_ACRONYM}


def text_variants(alias: str) -> set[str]:
    """Spellings of an alias looked for in text: as written, hyphens as spaces ("Mai-Mai",
    "Mai Mai"), the space of a two-word name as a hyphen ("Boko-Haram"), and a leading
    particle in the other case ("al-Shabaab", "Al-Shabaab")."""
    out = {alias}
    if "-" in alias:
        out.add(re.sub(r"\s*-\s*", " ", alias))
    elif alias.count(" ") == 1:  # "Boko Haram" is also written "Boko-Haram"
        out.add(alias.replace(" ", "-"))
    for form in list(out):
        head = re.split(r"[\s\-]", form, maxsplit=1)[0]
        if head.casefold() in _PARTICLES and len(head) < len(form):
            swapped = head[0].swapcase() + form[1:]
            out.add(swapped)
    return {v for v in out if v.strip()}


# Words rarer than this (Zipf scale) make a name distinctive in any case; wordfreq folds
# case, so "taliban" 3.7 and "army" 5.1.
MAX_FOLDED_ZIPF = 4.0
MIN_FOLDED = 5


def folded_forms(forms: Iterable[str]) -> set[str]:
    """The forms of an armed group's name safe to look for in any case: not an acronym
    (no lower-case letter: "ADF" is not "adf"), MIN_FOLDED+ characters, and a word rarer
    than MAX_FOLDED_ZIPF that is not a particle or a group noun ("Mai-Mai", "Anti-Balaka",
    "Boko Haram"; not "White Army", "Wagner Group" is by "Wagner" alone)."""
    from wordfreq import zipf_frequency

    out = set()
    for form in forms:
        if len(form) < MIN_FOLDED or not any(c.islower() for c in form):
            continue
        words = [w for w in re.split(r"[\s\-/,()]+", form.casefold()) if w]
        distinctive = [
            w for w in words if w not in _SMALL and w not in _PARTICLES and w not in _GROUP_NOUNS
        ]
        if any(zipf_frequency(w, "en") < MAX_FOLDED_ZIPF for w in distinctive):
            out.add(form)
    return out


def strip_qualifiers(name: str) -> list[str]:
    """Shorter readings of a coded or typed name, most specific first: "Military Forces of
    Nigeria (2015-)" -> "Military Forces of Nigeria"; "Islamic State (West Africa)" ->
    "Islamic State West Africa", "Islamic State"; "JNIM: Group for Support of Islam and
    Muslims" -> its name, then its acronym; "ADF rebels" -> "ADF"."""
    out: list[str] = []

    def add(value: str) -> None:
        value = " ".join(value.split())
        if value and value != name and value not in out:
            out.append(value)

    if ":" in name:
        head, _, tail = name.partition(":")
        add(tail)
        add(head)
    if " - " in name:  # "Boko Haram - Jamatu Ahli is-Sunnah ...": a group and its wing
        head, _, tail = name.partition(" - ")
        add(head)
        add(tail)
    brackets = _BRACKET.findall(name)
    last = list(_BRACKET.finditer(name))
    if last and last[-1].end() < len(name.rstrip()):  # "Mayi Mayi Militia (Nyatura) Jean-Marie
        add(name[: last[-1].end()])  # Faction": a faction of the bracketed group
    if brackets:
        kept = _BRACKET.sub(lambda m: "" if _YEARS.match(m.group(1)) else f" {m.group(1)}", name)
        add(kept)
        add(_BRACKET.sub("", name))
        for inner in brackets:  # "(Imbonerakure Faction)": the faction's own name
            if inner.endswith(" Faction"):
                add(inner.removesuffix(" Faction"))
    lowered = name.casefold()
    for lead in _LEADING:
        if lowered.startswith(lead):
            add(name[len(lead) :])
    words = name.split()
    while len(words) > 1 and words[-1].casefold() in _GROUP_NOUNS:
        words.pop()
        add(" ".join(words))
    return out


class ActorNames:
    """Resolves typed actor names to canonical gazetteer names.

    Exact keys (canonical names, aliases, codes) come first; then the squashed key
    ("SPLM IO" = "SPLM-IO"); then derived acronyms of the names; then shorter readings
    (:func:`strip_qualifiers`). A key two actors answer to is ambiguous unless it is one
    actor's own name."""

    def __init__(self, actors: Iterable[Actor]) -> None:
        self.actors = {a.name: a for a in actors}
        self._exact: dict[str, set[str]] = {}
        self._own: dict[str, str] = {}
        self._derived: dict[str, set[str]] = {}
        self._loose: dict[str, set[str]] = {}
        for actor in self.actors.values():
            self._own.setdefault(actor_key(actor.name), actor.name)
            for form in (actor.name, *actor.aliases, *actor.codes):
                key = actor_key(form)
                if not key:
                    continue
                self._exact.setdefault(key, set()).add(actor.name)
                self._exact.setdefault(_squash(key), set()).add(actor.name)
                if len(key) >= MIN_LOOSE:
                    self._loose.setdefault(loose_key(key), set()).add(actor.name)
                if "(" in form or ":" in form:
                    if form not in actor.codes:  # "X (Nigeria)" is also "X", after exact names
                        for reading in strip_qualifiers(form):
                            self._derived.setdefault(actor_key(reading), set()).add(actor.name)
                    continue
                for acronym in acronyms(form):
                    self._derived.setdefault(acronym, set()).add(actor.name)
                words = key.split()  # "National Resistance Forces" is "National Resistance"
                if len(words) > 2 and words[-1] in _GROUP_NOUNS:
                    self._derived.setdefault(" ".join(words[:-1]), set()).add(actor.name)

    def resolve(self, typed: str) -> str | None:
        """The canonical name ``typed`` stands for, None when the gazetteer lacks it;
        :class:`AmbiguousActor` when several actors answer to it."""
        forms = [typed]
        for form in forms:  # breadth first: the least shortened reading that resolves
            found = self._lookup(form)
            if found is not None:
                return found
            if len(forms) < MAX_READINGS:
                forms.extend(f for f in strip_qualifiers(form) if f not in forms)
        return None

    def _lookup(self, form: str) -> str | None:
        key = actor_key(form)
        if not key:
            return None
        own = self._own.get(key)
        if own is not None:
            return own
        for table, probe in ((self._exact, key), (self._exact, _squash(key))):
            found = table.get(probe)
            if found and len(found) > 1:  # "JAS" is Boko Haram, "JaS" the Levant Front
                written = {n for n in found if form.strip() in self._written(n)}
                found = written if len(written) == 1 else found
            if found:
                return _one(form, found)
        squashed = _squash(key)
        found = self._derived.get(squashed) if len(squashed) <= MAX_ACRONYM_TYPED else None
        found = found or self._derived.get(key)
        if not found and len(key) >= MIN_LOOSE:
            found = self._loose.get(loose_key(key))
        return _one(form, found) if found else None

    def _written(self, name: str) -> set[str]:
        actor = self.actors[name]
        return {actor.name, *actor.aliases, *actor.codes}


def _one(typed: str, found: set[str]) -> str:
    if len(found) > 1:
        raise AmbiguousActor(typed, found)
    return next(iter(found))


@functools.cache
def actor_names(path: Path | None = None) -> ActorNames:
    """The resolver of a gazetteer file (the shipped one by default), built once."""
    return ActorNames(load_actors(path))
