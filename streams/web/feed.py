"""The latest alerts for the dashboard, and the live (SSE) clients waiting for new ones.

Pure asyncio and data: the shell (``agents/monitor.py``) feeds it records from the alerts topic;
the web pages read it. Alerts come from a topic anyone with access may write to, so only known
fields are kept, each bounded.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any

from streams import metrics
from streams.web.geo import alert_countries

RECENT_MAX = 500
EVENTS_MAX = 2000
_FIELD_MAX = 4000


def _bounded(alert: dict[str, Any]) -> dict[str, Any]:
    """Alerts come from a topic anyone with access may write to: keep known fields, bounded."""
    out: dict[str, Any] = {}
    for name in (
        "alert_id",
        "subscription_id",
        "subscription_name",
        "article_id",
        "title",
        "url",
        "source",
        "published_at",
        "primary_theme",
        "evidence",
        "kind",
        "story_id",
        "merged_from",
        "tier",
        "first_seen",
        "alerted_at",
    ):
        value = alert.get(name)
        out[name] = value[:_FIELD_MAX] if isinstance(value, str) else None
    for name in ("revision", "source_count", "article_count"):
        value = alert.get(name)
        out[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    confidence = alert.get("confidence")
    out["confidence"] = float(confidence) if isinstance(confidence, int | float) else None
    out["sources"] = _strings(alert.get("sources"), limit=20)
    matched = alert.get("matched")
    out["matched"] = (
        {
            str(k)[:40]: [str(v)[:200] for v in vs[:50]]
            for k, vs in list(matched.items())[:10]
            if isinstance(vs, list)
        }
        if isinstance(matched, dict)
        else {}
    )
    return out


def _strings(value: Any, limit: int = 50, size: int = 200) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:size] for v in value[:limit] if isinstance(v, str | int | float)]


def bounded_event(record: dict[str, Any]) -> dict[str, Any]:
    """What the alert page shows of an event record: facets, places and evidence, bounded."""
    places = [
        {"text": str(p.get("text", ""))[:200], "country": str(p.get("country", ""))[:8]}
        for p in (record.get("places") or [])[:50]
        if isinstance(p, dict)
    ]
    evidence = [
        {
            "theme": str(e.get("theme", ""))[:60],
            "trigger": str(e.get("trigger", ""))[:200],
            "sentence": str(e.get("sentence", ""))[:_FIELD_MAX],
        }
        for e in (record.get("evidence") or [])[:20]
        if isinstance(e, dict)
    ]
    return {
        "article_id": str(record.get("article_id", ""))[:_FIELD_MAX],
        "themes": _strings(record.get("themes")),
        "countries": _strings(record.get("countries")),
        "actors": _strings(record.get("actors")),
        "places": places,
        "evidence": evidence,
        "model": str(record.get("model", ""))[:100],
    }


STORIES_MAX = 5000  # stories the story page can show (the latest updated)


def bounded_story(update: dict[str, Any]) -> dict[str, Any]:
    """What the story page shows of a story update: the story, its unions and latest
    articles, bounded (the article's own record is left out)."""
    articles = []
    for entry in (update.get("articles") or [])[:100]:
        if isinstance(entry, list) and len(entry) == 5:
            article_id, title, source, url, published = entry
            articles.append(
                {
                    "article_id": str(article_id)[:_FIELD_MAX],
                    "title": str(title)[:_FIELD_MAX] if isinstance(title, str) else None,
                    "source": str(source)[:200] if isinstance(source, str) else None,
                    "url": str(url)[:_FIELD_MAX] if isinstance(url, str) else None,
                    "published_at": str(published)[:40] if isinstance(published, str) else None,
                }
            )
    out: dict[str, Any] = {
        name: str(update[name])[:_FIELD_MAX] if isinstance(update.get(name), str) else None
        for name in ("story_id", "title", "first_seen", "last_seen")
    }
    for name in ("article_count", "source_count"):
        value = update.get(name)
        out[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    for name in ("sources", "themes", "countries", "regions", "actors", "merged_from"):
        out[name] = _strings(update.get(name), limit=100)
    out["articles"] = articles
    return out


def _put_latest(items: OrderedDict[str, Any], key: str, value: Any, maxlen: int) -> None:
    """Keep ``key`` as the newest entry, forgetting the oldest past ``maxlen``."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > maxlen:
        items.popitem(last=False)


class Stories:
    """The latest story records (bounded), and where merged stories went."""

    def __init__(self, maxlen: int = STORIES_MAX) -> None:
        self.maxlen = maxlen
        self.by_id: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.merged_into: OrderedDict[str, str] = OrderedDict()

    def add(self, update: dict[str, Any]) -> None:
        story = bounded_story(update)
        story_id = story["story_id"]
        if not story_id:
            return
        _put_latest(self.by_id, story_id, story, self.maxlen)
        for merged in story["merged_from"]:
            self.by_id.pop(merged, None)
            _put_latest(self.merged_into, merged, story_id, self.maxlen)

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` most recently updated stories, newest first, without their article
        lists; ``status`` is ``new`` for a story of one article, else ``updated``."""
        out: list[dict[str, Any]] = []
        for story in reversed(self.by_id.values()):
            if len(out) >= limit:
                break
            summary = {k: v for k, v in story.items() if k != "articles"}
            summary["status"] = "new" if (story.get("article_count") or 0) <= 1 else "updated"
            out.append(summary)
        return out

    def get(self, story_id: str) -> dict[str, Any] | None:
        """The story, or the one it was merged into (then with ``merged_into``)."""
        story = self.by_id.get(story_id)
        if story is not None:
            return story
        survivor = self.merged_into.get(story_id)
        for _hop in range(10):  # a merged survivor may have merged again
            if survivor is None or survivor in self.by_id:
                break
            survivor = self.merged_into.get(survivor)
        if survivor is None or survivor not in self.by_id:
            return None
        return {**self.by_id[survivor], "merged_into": survivor, "asked_for": story_id}


class Revisions:
    """The highest revision shown per alert id (of the newest ``maxlen`` ids).

    Alerts are delivered at least once: a worker restarted before its commit, a replay, or the
    same file ingested again sends an alert message that was sent before, with the same id and
    revision. A reader shows a revision once, and a later revision of an alert as an update.
    """

    def __init__(self, maxlen: int = 100_000) -> None:
        self.maxlen = maxlen
        self._shown: OrderedDict[str, int] = OrderedDict()

    def fresh(self, alert: dict[str, Any]) -> bool:
        """True for an alert message not shown before (then remembered as shown)."""
        alert_id = alert.get("alert_id")
        if not isinstance(alert_id, str) or not alert_id:
            return True  # nothing to recognise it by: shown
        revision = alert.get("revision")
        if not isinstance(revision, int) or isinstance(revision, bool):
            revision = 1
        last = self._shown.get(alert_id)
        if last is not None and revision <= last:
            return False
        self._shown[alert_id] = revision
        self._shown.move_to_end(alert_id)
        while len(self._shown) > self.maxlen:
            self._shown.popitem(last=False)
        return True


class AlertFeed:
    """The latest alerts (bounded), by id, and the live clients waiting for new ones."""

    def __init__(self, maxlen: int = RECENT_MAX, queue_size: int = 256) -> None:
        self.recent: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.by_id: dict[str, dict[str, Any]] = {}
        self.clients: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.queue_size = queue_size
        # article id -> its event record, for the alert page (latest EVENTS_MAX only)
        self.events: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # story id -> the story, for the story page (stories this worker matched)
        self.stories = Stories()

    def add_event(self, record: dict[str, Any]) -> None:
        event = bounded_event(record)
        article_id = event["article_id"]
        if not article_id:
            return
        _put_latest(self.events, article_id, event, EVENTS_MAX)

    def add(self, alert: dict[str, Any], received_at: float) -> bool:
        """Keep and broadcast one alert message; a later revision of a kept alert replaces
        it (and is broadcast), a redelivered one is ignored (False)."""
        alert = _bounded(alert)
        alert_id = alert["alert_id"]
        if not alert_id:
            return False
        known = self.by_id.get(alert_id)
        if known is not None:
            if (alert["revision"] or 1) <= (known["revision"] or 1):
                return False
            self.recent.remove(known)
            del self.by_id[alert_id]
        alert["received_at"] = received_at
        # For the map and its filter: the matched countries, else the story's (when this
        # worker matched it).
        alert["countries"] = alert_countries(alert, self.stories.get(alert["story_id"] or ""))
        if len(self.recent) == self.recent.maxlen:
            oldest = self.recent[0]
            self.by_id.pop(oldest["alert_id"], None)
        self.recent.append(alert)
        self.by_id[alert_id] = alert
        for queue in list(self.clients):
            try:
                queue.put_nowait(alert)
                metrics.ALERTS_DELIVERED.labels("sse").inc()
            except asyncio.QueueFull:
                # A client that cannot keep up is dropped rather than buffered without bound;
                # its browser reconnects and reloads the recent list.
                metrics.ALERTS_FAILED.labels("sse").inc()
                self.clients.discard(queue)
        return True

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=self.queue_size)
        self.clients.add(queue)
        metrics.SSE_CLIENTS.set(len(self.clients))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self.clients.discard(queue)
        metrics.SSE_CLIENTS.set(len(self.clients))
