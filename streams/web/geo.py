"""Counts by country for the dashboard's map: events (the windowed stats) and alerts (the
recent alert list), keyed by ISO alpha-2 as stored, with the ISO numeric code the world
TopoJSON (npm ``world-atlas``) names its shapes by. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any


@cache
def numeric_codes() -> dict[str, tuple[str, str]]:
    """ISO alpha-2 -> (ISO numeric, three digits as in world-atlas; English name)."""
    import pycountry

    return {c.alpha_2: (c.numeric, c.name) for c in pycountry.countries}


def alert_countries(alert: Mapping[str, Any], story: Mapping[str, Any] | None) -> list[str]:
    """The countries an alert is about: those its subscription matched, else its story's."""
    matched = alert.get("matched") or {}
    countries = matched.get("countries") if isinstance(matched, Mapping) else None
    if not countries and story is not None:
        countries = story.get("countries")
    return sorted({str(c).upper()[:2] for c in countries or () if isinstance(c, str)})


def by_country(
    events: Mapping[str, int], alerts: Iterable[Mapping[str, Any]], since: float
) -> list[dict[str, Any]]:
    """One row per country with events or alerts (alerts received at or after ``since``),
    most alerts then most events first; codes the ISO list lacks keep a null numeric."""
    counted: dict[str, list[int]] = {code: [n, 0] for code, n in events.items() if n > 0}
    for alert in alerts:
        if (alert.get("received_at") or 0) < since:
            continue
        for code in alert.get("countries") or ():
            counted.setdefault(code, [0, 0])[1] += 1
    codes = numeric_codes()
    rows: list[dict[str, Any]] = []
    for code, (n_events, n_alerts) in sorted(
        counted.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0])
    ):
        numeric, name = codes.get(code, (None, code))
        rows.append(
            {"code": code, "numeric": numeric, "name": name, "events": n_events, "alerts": n_alerts}
        )
    return rows
