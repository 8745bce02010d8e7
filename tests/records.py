"""Messages the tests build by hand."""

from __future__ import annotations

from typing import Any


def event_record(article_id: str) -> dict[str, Any]:
    """An event record of ``news.events.v1``: an abduction in Nairobi, Kenya."""
    return {
        "article_id": article_id,
        "themes": ["abduction"],
        "primary_theme": "abduction",
        "countries": ["KE"],
        "actors": [],
        "places": [],
        "evidence": [],
        "title": "Abductions in Nairobi",
        "url": None,
        "source": "Nairobi Daily",
        "published_at": "2024-11-26T06:15:00Z",
        "model": "blank-en",
    }
