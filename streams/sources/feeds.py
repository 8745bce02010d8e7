"""RSS/Atom feeds -> raw articles: a polite, restartable poller.

- Conditional GETs: the feed's ``ETag`` and ``Last-Modified`` are stored and sent back as
  ``If-None-Match``/``If-Modified-Since``; a ``304`` costs the publisher no body.
- Per-feed intervals (``tocsin feeds add URL --interval S``); failing feeds back off
  exponentially (up to 6 hours) instead of being hammered, and never sooner than a 429/503
  ``Retry-After`` asks.
- A global politeness limit: at most ``concurrency`` requests in flight over all hosts, and at
  least ``host_delay`` seconds between two requests to one host (feed and page fetches alike).
- Entries whose feed carries only a summary are followed to their page, whose main text is
  extracted like any HTML page (``streams.sources.html``); when the page cannot be had, the
  summary is sent rather than nothing, unless it is empty (then the entry is retried).
- Entries already sent are remembered per feed in SQLite (the same file as the feed list), and
  an entry is marked sent only after the sink (the Kafka producer) acknowledged it: a crash
  re-sends at most the entries in flight (at-least-once; ids derived from the canonical URL
  keep the copies identical), and a restart never re-sends the rest.

Links in a feed are untrusted: the poller follows an entry link only to the feed's own host or
to a host that is not a loopback/private/link-local address literal or ``localhost``.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import email.utils
import hashlib
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streams import codecs
from streams.pipeline.normalize import canonical_url, clean_title
from streams.sources.html import fragment_text, parse_html_page

log = logging.getLogger(__name__)

USER_AGENT = "tocsin-feed-poller/0.1 (+https://github.com/tocsin)"
DEFAULT_INTERVAL = 300.0
MIN_INTERVAL = 10.0
MAX_BACKOFF = 6 * 3600.0
MAX_FETCH_BYTES = 10_000_000
# Content shorter than this is a teaser: follow the link for the article itself.
FULL_TEXT_MIN_CHARS = 600

# Sends one raw article (JSON bytes) and returns once the broker has it.
Sink = Callable[[bytes], Awaitable[None]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    interval REAL NOT NULL,
    etag TEXT,
    last_modified TEXT,
    next_poll REAL NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    feed_url TEXT NOT NULL,
    entry_key TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (feed_url, entry_key)
);
"""


@dataclass
class Feed:
    url: str
    interval: float
    etag: str | None = None
    last_modified: str | None = None
    next_poll: float = 0.0
    failures: int = 0
    last_status: str | None = None


class FeedStore:
    """The feed list and sent-entry state, in one SQLite file that survives restarts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path))
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add(self, url: str, interval: float = DEFAULT_INTERVAL) -> Feed:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        interval = max(float(interval), MIN_INTERVAL)
        with self.db:
            self.db.execute(
                "INSERT INTO feeds (url, interval, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT(url) DO UPDATE SET interval = excluded.interval",
                (url, interval, time.time()),
            )
        feed = self.get(url)
        assert feed is not None
        return feed

    def remove(self, url: str) -> bool:
        with self.db:
            gone = self.db.execute("DELETE FROM feeds WHERE url = ?", (url,)).rowcount
            self.db.execute("DELETE FROM sent WHERE feed_url = ?", (url,))
        return bool(gone)

    def get(self, url: str) -> Feed | None:
        row = self.db.execute(
            "SELECT url, interval, etag, last_modified, next_poll, failures, last_status "
            "FROM feeds WHERE url = ?",
            (url,),
        ).fetchone()
        return Feed(*row) if row else None

    def all(self) -> list[Feed]:
        rows = self.db.execute(
            "SELECT url, interval, etag, last_modified, next_poll, failures, last_status "
            "FROM feeds ORDER BY url"
        ).fetchall()
        return [Feed(*row) for row in rows]

    def due(self, now: float) -> list[Feed]:
        return [f for f in self.all() if f.next_poll <= now]

    def save(self, feed: Feed) -> None:
        with self.db:
            self.db.execute(
                "UPDATE feeds SET etag = ?, last_modified = ?, next_poll = ?, failures = ?, "
                "last_status = ? WHERE url = ?",
                (
                    feed.etag,
                    feed.last_modified,
                    feed.next_poll,
                    feed.failures,
                    feed.last_status,
                    feed.url,
                ),
            )

    def was_sent(self, feed_url: str, key: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM sent WHERE feed_url = ? AND entry_key = ?", (feed_url, key)
        ).fetchone()
        return row is not None

    def mark_sent(self, feed_url: str, key: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO sent (feed_url, entry_key, sent_at) VALUES (?, ?, ?)",
                (feed_url, key, time.time()),
            )

    def sent_count(self, feed_url: str) -> int:
        row = self.db.execute("SELECT count(*) FROM sent WHERE feed_url = ?", (feed_url,))
        return int(row.fetchone()[0])


class HostGate:
    """Global concurrency limit plus a minimum delay between requests to one host."""

    def __init__(self, concurrency: int, host_delay: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.delay = host_delay
        self.locks: dict[str, asyncio.Lock] = {}
        self.last: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def request(self, url: str) -> Any:
        host = (urlsplit(url).hostname or "").lower()
        lock = self.locks.setdefault(host, asyncio.Lock())
        async with lock:
            wait = self.last.get(host, -1e9) + self.delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self.slots:
                try:
                    yield
                finally:
                    self.last[host] = time.monotonic()


@dataclass
class PollReport:
    """What one pass over the due feeds did."""

    polled: int = 0
    not_modified: int = 0
    failed: int = 0
    sent: int = 0
    pages_fetched: int = 0
    errors: list[str] = field(default_factory=list)


def entry_key(entry: Any) -> str:
    """A stable identity for a feed entry: its id/guid, else its link, else its content."""
    for name in ("id", "guid", "link"):
        value = entry.get(name)
        if value:
            return str(value)[:2048]
    basis = f"{entry.get('title', '')}\n{entry.get('summary', '')}"
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def _published(entry: Any) -> str | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    moment = time.gmtime(calendar.timegm(parsed))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)


def _entry_text(entry: Any) -> str:
    """The fullest text the feed itself carries for an entry (content, else summary)."""
    best = ""
    for content in entry.get("content") or []:
        text = fragment_text(str(content.get("value", "")))
        if len(text) > len(best):
            best = text
    summary = fragment_text(str(entry.get("summary", "") or ""))
    return best if len(best) >= len(summary) else summary


def _may_follow(link: str, feed_url: str) -> bool:
    """Untrusted links: the feed's own host, or a host that is not a private address."""
    host = (urlsplit(link).hostname or "").lower()
    if not link.startswith(("http://", "https://")) or not host:
        return False
    if host == (urlsplit(feed_url).hostname or "").lower():
        return True
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a name; resolution is the resolver's business
    return address.is_global


class FeedPoller:
    """Poll the store's due feeds and send new entries to ``sink``."""

    def __init__(
        self,
        store: FeedStore,
        sink: Sink,
        *,
        concurrency: int = 4,
        host_delay: float = 1.0,
        timeout: float = 20.0,
    ) -> None:
        self.store = store
        self.sink = sink
        self.gate = HostGate(concurrency, host_delay)
        self.timeout = timeout
        self._session: Any = None

    async def __aenter__(self) -> FeedPoller:
        import aiohttp

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def poll_once(self, now: float | None = None) -> PollReport:
        """Poll every feed that is due now, concurrently (within the politeness limits)."""
        report = PollReport()
        due = self.store.due(time.time() if now is None else now)
        await asyncio.gather(*(self._poll(feed, report) for feed in due))
        return report

    async def run(self, stop: asyncio.Event, tick: float = 1.0) -> None:
        """Poll due feeds until ``stop`` is set."""
        while not stop.is_set():
            report = await self.poll_once()
            if report.polled:
                log.info(
                    "feeds: polled %d (%d not modified, %d failed), sent %d entries",
                    report.polled,
                    report.not_modified,
                    report.failed,
                    report.sent,
                )
            for error in report.errors:
                log.warning("feeds: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

    async def _fetch(
        self, url: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        async with (
            self.gate.request(url),
            self._session.get(url, headers=headers or {}) as response,
        ):
            body = b""
            if response.status == 200:
                body = await response.content.read(MAX_FETCH_BYTES + 1)
                if len(body) > MAX_FETCH_BYTES:
                    raise ValueError(f"{url}: response over {MAX_FETCH_BYTES} bytes")
            # Lower-cased names: servers spell them "ETag", "Etag" or "etag".
            return response.status, {k.lower(): v for k, v in response.headers.items()}, body

    async def _poll(self, feed: Feed, report: PollReport) -> None:
        import feedparser

        report.polled += 1
        headers = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            status, response_headers, body = await self._fetch(feed.url, headers)
        except Exception as exc:  # noqa: BLE001 - any network failure: back off, go on
            self._failed(feed, f"{type(exc).__name__}: {exc}", report)
            return
        if status == 304:
            report.not_modified += 1
            self._done(feed, "304 not modified")
            return
        if status != 200:
            self._failed(feed, f"HTTP {status}", report, _retry_after(response_headers))
            return
        parsed = feedparser.parse(body, response_headers=response_headers)
        if parsed.get("bozo") and not parsed.get("entries"):
            self._failed(feed, f"not a feed: {parsed.get('bozo_exception')}", report)
            return
        source = clean_title(str(parsed.get("feed", {}).get("title", "")))[:200] or None
        complete = True
        for entry in parsed.get("entries", []):
            key = entry_key(entry)
            if self.store.was_sent(feed.url, key):
                continue
            article = await self._article(entry, feed, source, report)
            if article is None:
                complete = False  # retried at the next poll
                continue
            try:
                await self.sink(codecs.dumps(article))
            except Exception as exc:  # noqa: BLE001 - the broker is away: retry next poll
                report.errors.append(f"{feed.url}: sending failed: {exc}")
                complete = False
                break
            self.store.mark_sent(feed.url, key)
            report.sent += 1
        if complete:
            # Remember the validators only once every entry is safely sent: otherwise a 304
            # next time would hide the entries still to send.
            feed.etag = response_headers.get("etag") or None
            feed.last_modified = response_headers.get("last-modified") or None
        self._done(feed, "200 ok" if complete else "200 partial")

    async def _article(
        self, entry: Any, feed: Feed, source: str | None, report: PollReport
    ) -> dict[str, Any] | None:
        link = str(entry.get("link") or "")
        text = _entry_text(entry)
        article: dict[str, Any] = {}
        if len(text) < FULL_TEXT_MIN_CHARS and link and _may_follow(link, feed.url):
            try:
                status, _headers, body = await self._fetch(link)
            except Exception as exc:  # noqa: BLE001 - a page that fails: fall back below
                report.errors.append(f"{link}: {type(exc).__name__}: {exc}")
                status, body = 0, b""
            if status == 200:
                report.pages_fetched += 1
                page = await asyncio.to_thread(parse_html_page, body, link)
                if page and len(page["text"]) > len(text):
                    article = page
            elif not text:
                report.errors.append(f"{link}: HTTP {status}, no summary to fall back on")
                return None
        if not article:
            article = {"text": text}
        title = clean_title(str(entry.get("title", "")))[:1000]
        if title:
            article["title"] = title
        if link.startswith(("http://", "https://")):
            with contextlib.suppress(ValueError):
                article["url"] = canonical_url(link)[:2048]
        published = _published(entry)
        if published:
            article["published_at"] = published
        if source and "source" not in article:
            article["source"] = source
        if entry.get("author") and "author" not in article:
            article["author"] = clean_title(str(entry["author"]))[:300]
        article["feed"] = feed.url
        return article

    def _done(self, feed: Feed, status: str) -> None:
        feed.failures = 0
        feed.last_status = status
        feed.next_poll = time.time() + feed.interval
        self.store.save(feed)

    def _failed(
        self, feed: Feed, error: str, report: PollReport, retry_after: float | None = None
    ) -> None:
        report.failed += 1
        report.errors.append(f"{feed.url}: {error}")
        feed.failures += 1
        feed.last_status = error[:300]
        backoff = min(feed.interval * 2**feed.failures, MAX_BACKOFF)
        # A publisher's Retry-After (429/503) is a floor, never an excuse to come back sooner.
        feed.next_poll = time.time() + max(backoff, min(retry_after or 0.0, 24 * 3600.0))
        self.store.save(feed)


def _retry_after(headers: dict[str, str]) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def kafka_sink(producer: Any, topic: str) -> Sink:
    """A sink that produces to ``topic`` and waits for the broker's acknowledgement."""
    from streams.sources.files import raw_key

    async def send(payload: bytes) -> None:
        await producer.send_and_wait(topic, key=raw_key(payload), value=payload)

    return send
