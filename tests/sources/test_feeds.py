"""The feed poller against a real HTTP server on 127.0.0.1 serving feeds and pages."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from streams import schemas, topics
from streams.models import Article
from streams.pipeline.validate import validate_article
from streams.sources.feeds import FeedPoller, FeedStore, _may_follow

LONG = " ".join(
    f"Paragraph {i}: residents of Garissa said gunmen abducted two aid workers on Tuesday."
    for i in range(12)
)
PAGE = """<!doctype html><html><head><title>Aid workers abducted in Garissa</title>
<meta property="og:site_name" content="Local Wire"></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article><h1>Aid workers abducted in Garissa</h1>
<p>Gunmen abducted two aid workers in Garissa, Kenya, on Tuesday, police said.</p>
<p>The workers were travelling to a clinic near the Somali border when their car was stopped
by armed men, according to a statement from the county commissioner.</p>
<p>Security forces have launched a search operation in the area, the statement said.</p>
</article><footer>Copyright Local Wire. All rights reserved.</footer></body></html>"""


def rss(items: list[str]) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
        "<title>Local Wire</title><link>http://127.0.0.1/</link><description>d</description>"
        + "".join(items)
        + "</channel></rss>"
    )


def item(guid: str, link: str, summary: str, content: str = "") -> str:
    encoded = f"<content:encoded><![CDATA[{content}]]></content:encoded>" if content else ""
    return (
        f"<item><guid>{guid}</guid><title>Story {guid}</title><link>{link}</link>"
        f"<pubDate>Tue, 03 Dec 2024 10:00:00 GMT</pubDate>"
        f"<description><![CDATA[{summary}]]></description>{encoded}</item>"
    )


@dataclass
class Site:
    """A tiny publisher: one RSS feed with ETag, one Atom feed with Last-Modified, pages."""

    base: str = ""
    rss_items: list[str] = field(default_factory=list)
    etag: str = '"v1"'
    atom_modified: str = "Tue, 03 Dec 2024 10:00:00 GMT"
    requests: list[tuple[str, str, dict[str, str], float]] = field(default_factory=list)

    def log(self, request: web.Request) -> None:
        self.requests.append(
            (request.method, request.path, dict(request.headers), time.monotonic())
        )

    async def feed(self, request: web.Request) -> web.Response:
        self.log(request)
        if request.headers.get("If-None-Match") == self.etag:
            return web.Response(status=304, headers={"ETag": self.etag})
        return web.Response(
            text=rss(self.rss_items),
            content_type="application/rss+xml",
            headers={"ETag": self.etag},
        )

    async def atom(self, request: web.Request) -> web.Response:
        self.log(request)
        if request.headers.get("If-Modified-Since") == self.atom_modified:
            return web.Response(status=304)
        body = (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            "<title>Atom Wire</title><id>urn:atom-wire</id><updated>2024-12-03T10:00:00Z</updated>"
            f"<entry><id>urn:e1</id><title>Atom story</title><link href='{self.base}/page/a1'/>"
            "<updated>2024-12-03T10:00:00Z</updated><summary>Teaser only.</summary></entry>"
            "</feed>"
        )
        return web.Response(
            text=body,
            content_type="application/atom+xml",
            headers={"Last-Modified": self.atom_modified},
        )

    async def busy(self, request: web.Request) -> web.Response:
        self.log(request)
        return web.Response(status=429, headers={"Retry-After": "3600"})

    async def page(self, request: web.Request) -> web.Response:
        self.log(request)
        if request.match_info["name"] == "gone":
            return web.Response(status=500)
        return web.Response(text=PAGE, content_type="text/html")


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    state = Site()
    app = web.Application()
    app.router.add_get("/feed.xml", state.feed)
    app.router.add_get("/atom.xml", state.atom)
    app.router.add_get("/page/{name}", state.page)
    app.router.add_get("/busy.xml", state.busy)
    runner = web.AppRunner(app)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base = f"http://127.0.0.1:{port}"
    state.rss_items = [
        item("g1", f"{state.base}/page/one", "Short teaser about Garissa."),
        item("g2", f"{state.base}/page/two?utm_source=rss#top", "Teaser.", content=LONG),
    ]
    try:
        yield state
    finally:
        await runner.cleanup()


class Sink:
    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    async def __call__(self, payload: bytes) -> None:
        self.payloads.append(payload)

    @property
    def articles(self) -> list[dict[str, Any]]:
        return [orjson.loads(p) for p in self.payloads]


def poller(store: FeedStore, sink: Sink, delay: float = 0.01) -> FeedPoller:
    return FeedPoller(store, sink, concurrency=2, host_delay=delay, timeout=5)


async def test_new_entries_are_sent_once_with_page_text(site: Site, tmp_path: Path) -> None:
    store = FeedStore(tmp_path / "feeds.sqlite")
    store.add(f"{site.base}/feed.xml", interval=60)
    sink = Sink()
    async with poller(store, sink) as p:
        report = await p.poll_once()
    assert (report.polled, report.sent, report.pages_fetched) == (1, 2, 1), report.errors
    by_title = {a["title"]: a for a in sink.articles}
    followed = by_title["Story g1"]  # summary only: the page's main text
    assert "abducted two aid workers in Garissa" in followed["text"]
    assert "Home" not in followed["text"] and "All rights reserved" not in followed["text"]
    assert followed["source"] == "Local Wire"
    assert followed["published_at"] == "2024-12-03T10:00:00Z"
    full = by_title["Story g2"]  # full content in the feed: no page fetch
    assert full["text"].startswith("Paragraph 0:")
    assert full["url"] == f"{site.base}/page/two"  # canonical: no tracker, no fragment
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    for payload in sink.payloads:
        assert isinstance(validate_article(payload, validator), Article)


async def test_304_and_restart_send_nothing_twice(site: Site, tmp_path: Path) -> None:
    path = tmp_path / "feeds.sqlite"
    url = f"{site.base}/feed.xml"
    store = FeedStore(path)
    store.add(url, interval=60)
    sink = Sink()
    async with poller(store, sink) as p:
        await p.poll_once()
        assert len(sink.payloads) == 2
        # Not due yet: the per-feed interval holds.
        assert (await p.poll_once()).polled == 0
        # Due (as if 60 s had passed): a conditional GET, answered 304.
        report = await p.poll_once(now=time.time() + 61)
    assert (report.polled, report.not_modified, report.sent) == (1, 1, 0)
    feed_requests = [r for r in site.requests if r[1] == "/feed.xml"]
    assert feed_requests[-1][2].get("If-None-Match") == '"v1"'
    store.close()

    # Restart: a new store on the same file; the feed changed (new ETag, one new entry).
    site.etag = '"v2"'
    site.rss_items.append(item("g3", f"{site.base}/page/three", "Third teaser."))
    store = FeedStore(path)
    assert store.get(url) is not None and store.get(url).etag == '"v1"'  # type: ignore[union-attr]
    sink2 = Sink()
    async with poller(store, sink2) as p:
        report = await p.poll_once(now=time.time() + 61)
    assert report.sent == 1 and [a["title"] for a in sink2.articles] == ["Story g3"]
    assert store.sent_count(url) == 3


async def test_atom_last_modified_and_politeness(site: Site, tmp_path: Path) -> None:
    store = FeedStore(tmp_path / "feeds.sqlite")
    store.add(f"{site.base}/atom.xml", interval=30)
    store.add(f"{site.base}/feed.xml", interval=30)
    sink = Sink()
    async with poller(store, sink, delay=0.3) as p:
        first = await p.poll_once()
        again = await p.poll_once(now=time.time() + 31)
    assert first.sent == 3 and first.pages_fetched == 2
    assert again.not_modified == 2 and again.sent == 0
    atom_requests = [r for r in site.requests if r[1] == "/atom.xml"]
    assert atom_requests[-1][2].get("If-Modified-Since") == site.atom_modified
    # One host: every request at least host_delay after the previous one.
    times = sorted(r[3] for r in site.requests)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.25, gaps
    atom = next(a for a in sink.articles if a["title"] == "Atom story")
    assert "Garissa" in atom["text"]  # teaser only: followed to the page
    assert atom["source"] == "Local Wire"  # the page's own site name beats the feed title


async def test_failing_page_is_retried_and_failing_feed_backs_off(
    site: Site, tmp_path: Path
) -> None:
    site.rss_items = [item("g9", f"{site.base}/page/gone", "")]
    store = FeedStore(tmp_path / "feeds.sqlite")
    url = f"{site.base}/feed.xml"
    store.add(url, interval=30)
    sink = Sink()
    async with poller(store, sink) as p:
        report = await p.poll_once()
    assert report.sent == 0 and store.sent_count(url) == 0  # nothing to send: retried later
    assert store.get(url).etag is None  # type: ignore[union-attr]  # no 304 may hide it

    store.add(f"{site.base}/missing.xml", interval=30)
    async with poller(store, sink) as p:
        report = await p.poll_once()
    missing = store.get(f"{site.base}/missing.xml")
    assert missing is not None and missing.failures == 1 and "404" in str(missing.last_status)
    assert missing.next_poll > time.time() + 50  # 30 s * 2: backed off

    store.add(f"{site.base}/busy.xml", interval=30)
    async with poller(store, sink) as p:
        await p.poll_once()
    busy = store.get(f"{site.base}/busy.xml")
    assert busy is not None and busy.next_poll > time.time() + 3500  # Retry-After honoured


def test_untrusted_links_do_not_reach_private_addresses() -> None:
    feed = "https://news.example/feed.xml"
    assert _may_follow("https://news.example/a", feed)
    assert _may_follow("https://other.example/a", feed)
    assert not _may_follow("http://127.0.0.1:8080/admin", feed)
    assert not _may_follow("http://169.254.169.254/latest/meta-data", feed)
    assert not _may_follow("http://10.0.0.5/", feed)
    assert not _may_follow("http://localhost/", feed)
    assert not _may_follow("file:///etc/passwd", feed)
    assert _may_follow("http://127.0.0.1:9/page", "http://127.0.0.1:9/feed.xml")  # own host


async def test_global_concurrency_limit_holds_across_hosts() -> None:
    import asyncio

    from streams.sources.feeds import HostGate

    gate = HostGate(concurrency=2, host_delay=0.0)
    running = peak = 0

    async def fetch(n: int) -> None:
        nonlocal running, peak
        async with gate.request(f"http://host{n}.example/feed"):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1

    await asyncio.gather(*(fetch(n) for n in range(8)))
    assert peak == 2  # eight hosts, never more than two requests at once
