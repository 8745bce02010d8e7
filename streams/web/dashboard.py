"""The worker's monitoring web: dashboard, alert pages, live alerts (SSE), stats, metrics,
health.

| route | |
|---|---|
| ``/`` | dashboard (static HTML + JS served from ``streams/web/static``, no CDN) |
| ``/alerts/{alert_id}`` | one alert with its evidence |
| ``/stories/{story_id}`` , ``/api/stories/{story_id}`` | one story: counts, unions, articles |
| ``/static/{name}`` , ``/static/vendor/{name}`` | the dashboard's assets and its vendored
libraries (allow-lists read at start, not directories) |
| ``/subscriptions`` | the subscription editor (``subscriptions.html``) |
| ``/api/stories`` | the latest stories, new or updated |
| ``/api/timeline?minutes=60`` | per minute: messages/s, lag, latency p50/p99, alerts |
| ``/api/geo?window=1m`` | events and alerts by country (the map) |
| ``/api/alerts`` , ``/api/alerts/{alert_id}`` | the latest alerts as JSON |
| ``/api/live/alerts`` | server-sent events, one ``alert`` event per alert message |
| ``/api/alerts/stream?subscription=ID`` | the same for one subscription (API token) |
| ``/api/stats?window=1m&by=theme`` | windowed counts |
| ``/api/monitor`` | per-stage counts and lag, health and readiness |
| ``/metrics`` | Prometheus |
| ``/healthz`` , ``/readyz`` | liveness by progress, readiness |
| ``/login`` , ``/api/session`` | the login (``session.py``) |

Pages and data need the API token, or a login, unless the operator made the dashboard public
(``auth.py``: deny by default; probes, metrics and static assets open). Every response
carries a strict Content-Security-Policy (no inline script or style, nothing from other
origins). Pages never embed data: the browser fetches JSON and renders it with
``textContent``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web as aioweb

from streams import metrics
from streams.agents._boundary import COUNTS
from streams.agents._shell import Shell
from streams.agents.monitor import Monitoring
from streams.agents.stats import Stats
from streams.pipeline import stats
from streams.web import auth, geo
from streams.web.feed import RECENT_MAX

STATIC = Path(__file__).with_name("static")
VENDOR = STATIC / "vendor"  # browser libraries from npm, copied by `make vendor` (gitignored)
_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


def _read_assets(folder: Path) -> dict[str, tuple[bytes, str]]:
    if not folder.is_dir():
        return {}
    return {
        p.name: (p.read_bytes(), _TYPES[p.suffix]) for p in folder.iterdir() if p.suffix in _TYPES
    }


# Read once: the set of files served is fixed, so no path from a request reaches the disk.
ASSETS = _read_assets(STATIC)
VENDOR_ASSETS = _read_assets(VENDOR)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def _security_headers(request: Any, response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/") or request.path in {"/metrics", "/healthz", "/readyz"}:
        response.headers.setdefault("Cache-Control", "no-store")


def _asset(web: Any, name: str, assets: dict[str, tuple[bytes, str]] = ASSETS) -> Any:
    asset = assets.get(name)
    if asset is None:
        return web.json({"error": "not found"}, status=404)
    body, ctype = asset
    headers = {"Content-Type": f"{ctype}; charset=utf-8", "Cache-Control": "no-cache"}
    return web.bytes(body, headers=headers)


def _error(web: Any, status: int, message: str) -> Any:
    return web.json({"error": message}, status=status)


def register(shell: Shell, mon: Monitoring, stats_agent: Stats) -> None:
    """The dashboard's pages and its web-server hook on ``shell``'s app."""
    app = shell.app
    settings = shell.settings

    async def _close_live_clients(_app: Any) -> None:
        # aiohttp waits for open connections on shutdown; end the SSE streams so it need not.
        for queue in list(mon.feed.clients):
            mon.feed.unsubscribe(queue)
            if not queue.full():
                queue.put_nowait(None)

    def _on_webserver_init(web: Any) -> None:
        """The access guard, headers on every response (pages, JSON, errors) and SSE shutdown,
        set on the aiohttp application before it starts."""
        web.web_app.middlewares.append(auth.guard(settings))
        web.web_app.on_response_prepare.append(_security_headers)
        web.web_app.on_shutdown.append(_close_live_clients)

    app.on_web_init(_on_webserver_init)

    @app.page(auth.LOGIN_PATH)
    async def login_page(web: Any, request: Any) -> Any:
        return _asset(web, "login.html")

    @app.page("/")
    async def dashboard(web: Any, request: Any) -> Any:
        return _asset(web, "dashboard.html")

    @app.page("/favicon.ico")
    async def favicon(web: Any, request: Any) -> Any:
        return web.bytes(b"", status=204)

    @app.page("/alerts/{alert_id}")
    async def alert_page(web: Any, request: Any, alert_id: str) -> Any:
        return _asset(web, "alert.html")

    @app.page("/stories/{story_id}")
    async def story_page(web: Any, request: Any, story_id: str) -> Any:
        return _asset(web, "story.html")

    @app.page("/api/stories/{story_id}")
    async def one_story(web: Any, request: Any, story_id: str) -> Any:
        """A story this worker matched (its latest update), or the story it was merged into."""
        story = mon.feed.stories.get(story_id)
        if story is None:
            return _error(
                web, 404, "unknown story (this worker keeps the stories it matched, latest)"
            )
        return web.json(story)

    @app.page("/static/{name}")
    async def static(web: Any, request: Any, name: str) -> Any:
        return _asset(web, name)

    @app.page("/static/vendor/{name}")
    async def vendored(web: Any, request: Any, name: str) -> Any:
        """The charting and map libraries and the world TopoJSON (``make vendor``)."""
        return _asset(web, name, VENDOR_ASSETS)

    @app.page("/subscriptions")
    async def subscriptions_page(web: Any, request: Any) -> Any:
        return _asset(web, "subscriptions.html")

    @app.page("/api/stories")
    async def latest_stories(web: Any, request: Any) -> Any:
        """The stories this worker matched, latest updated first (``?limit=``, default 20)."""
        limit = _int(request.query.get("limit"), default=20, low=1, high=200)
        if limit is None:
            return _error(web, 400, "limit must be an integer in 1..200")
        return web.json({"stories": mon.feed.stories.latest(limit)})

    @app.page("/api/timeline")
    async def timeline_view(web: Any, request: Any) -> Any:
        """Per minute over the last ``minutes`` (default 60): messages/s and lag per stage,
        produce-to-alert latency p50/p99 (this worker's own paths), new alerts and updates."""
        minutes = _int(request.query.get("minutes"), default=60, low=1, high=mon.timeline.keep)
        if minutes is None:
            return _error(web, 400, f"minutes must be an integer in 1..{mon.timeline.keep}")
        now = time.time()
        rows = mon.timeline.series(now, minutes)
        window = stats.WINDOWS["1m"]
        entries = _entries(window.name)
        for name in (stats.ALERT, stats.ALERT_UPDATE):
            counts = dict(stats.series(entries, stats.key(name), now, window, minutes))
            for row in rows:
                row[name] = counts.get(row["start"], 0)
        stages = sorted({s for r in rows for s in (*r["rate"], *r["lag"])}, key=_stage_order)
        return web.json({"minutes": rows, "stages": stages, "to": now})

    @app.page("/api/geo")
    async def geo_view(web: Any, request: Any) -> Any:
        """Events (windowed stats) and alerts (the recent list) by country over the last hour
        (``window=1m``, the default) or day (``window=1h``)."""
        window = stats.WINDOWS.get(request.query.get("window", "1m"))
        if window is None:
            return _error(web, 400, f"window must be one of {', '.join(stats.WINDOWS)}")
        periods = 60 if window.name == "1m" else 24
        now = time.time()
        events = stats.totals(_entries(window.name), "country", now, window, periods)
        since = stats.window_start(now, window.size) - (periods - 1) * window.size
        rows = geo.by_country(events, mon.feed.recent, since)
        # The map's shapes are named by ISO numeric code; the alert filter takes alpha-2.
        codes = {numeric: alpha2 for alpha2, (numeric, _name) in geo.numeric_codes().items()}
        body = {"window": window.name, "from": since, "to": now, "countries": rows, "codes": codes}
        return web.json(body)

    @app.page("/api/alerts")
    async def recent_alerts(web: Any, request: Any) -> Any:
        """The latest alerts this worker has seen, newest first; ``?subscription=`` and
        ``?country=`` (alpha-2) filter."""
        limit = _int(request.query.get("limit"), default=100, low=1, high=RECENT_MAX)
        if limit is None:
            return _error(web, 400, f"limit must be an integer in 1..{RECENT_MAX}")
        subscription = request.query.get("subscription")
        country = request.query.get("country")
        alerts = [
            a
            for a in reversed(mon.feed.recent)
            if (not subscription or a["subscription_id"] == subscription)
            and (not country or country in a.get("countries", ()))
        ]
        return web.json({"alerts": alerts[:limit]})

    @app.page("/api/alerts/{alert_id}")
    async def one_alert(web: Any, request: Any, alert_id: str) -> Any:
        if alert_id == "stream":  # /api/alerts/stream: this route would otherwise swallow it
            return await alerts_stream(web, request)
        alert = mon.feed.by_id.get(alert_id)
        if alert is None:
            return _error(web, 404, "unknown alert (this worker keeps the latest alerts only)")
        # The event record behind it, when this worker counted it (its partition, recent).
        event = mon.feed.events.get(alert.get("article_id") or "")
        return web.json({**alert, "event": event})

    MAX_LIVE_CLIENTS = 100  # each holds a connection and a bounded queue

    @app.page("/api/live/alerts")
    async def live_alerts(web: Any, request: Any) -> Any:
        """Server-sent events for the dashboard: every alert message."""
        return await _sse(web, request, None)

    async def alerts_stream(web: Any, request: Any) -> Any:
        """``GET /api/alerts/stream?subscription=ID``: one subscription's alert messages (new and
        updates) as server-sent events, for live consumers. Behind the API token (bearer or login
        session) when one is set, even on a public dashboard.
        A reconnecting client's ``Last-Event-ID`` replays what it missed from the recent list."""
        token = settings.api_token
        if token and not auth.authenticated(request, token):
            return web.json(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        subscription = request.query.get("subscription")
        if not subscription:
            return _error(web, 400, "?subscription=ID is required")
        return await _sse(web, request, subscription)

    def _frame(alert: dict[str, Any]) -> bytes:
        # orjson escapes control characters, so a value cannot end the SSE frame early; the id
        # (alert id and revision) lets a client drop repeats and resume with Last-Event-ID.
        ident = f"{alert.get('alert_id')}.{alert.get('revision') or 1}".encode()
        return b"id: " + ident + b"\nevent: alert\ndata: " + orjson.dumps(alert) + b"\n\n"

    def _missed(last_event_id: str | None, subscription: str | None) -> list[dict[str, Any]]:
        """Alerts after ``last_event_id`` in the recent list (nothing if it is not there)."""
        if not last_event_id:
            return []
        recent = [a for a in mon.feed.recent if subscription in (None, a["subscription_id"])]
        alert_id = last_event_id.rsplit(".", 1)[0]
        for index, alert in enumerate(recent):
            if alert["alert_id"] == alert_id:
                return recent[index + 1 :]
        return []

    async def _sse(web: Any, request: Any, subscription: str | None) -> Any:
        """Server-sent events: ``event: alert`` with the alert as JSON, a comment every 15 s."""
        if len(mon.feed.clients) >= MAX_LIVE_CLIENTS:
            return _error(web, 503, "too many live clients")
        response = aioweb.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        queue = mon.feed.subscribe()
        try:
            await response.write(b"retry: 2000\n\n")
            for missed in _missed(request.headers.get("Last-Event-ID"), subscription):
                await response.write(_frame(missed))
            while True:
                try:
                    alert = await asyncio.wait_for(queue.get(), timeout=15.0)
                except TimeoutError:
                    if queue not in mon.feed.clients:  # dropped as too slow, or shutting down
                        break
                    await response.write(b": keepalive\n\n")
                    continue
                if alert is None:
                    break
                if subscription is None or alert["subscription_id"] == subscription:
                    await response.write(_frame(alert))
        except (ConnectionResetError, RuntimeError):
            pass  # the client went away
        finally:
            mon.feed.unsubscribe(queue)
        return response

    def _int(raw: str | None, *, default: int, low: int, high: int) -> int | None:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if low <= value <= high else None

    _ENTRIES_TTL = 2.0
    _entries_cache: dict[str, tuple[float, list[stats.Entry]]] = {}

    def _entries(window: str) -> list[stats.Entry]:
        """One table scan serves every chart the dashboard asks for within a couple of seconds."""
        cached = _entries_cache.get(window)
        now = time.monotonic()
        if cached is None or now - cached[0] > _ENTRIES_TTL:
            cached = (now, list(stats_agent.entries(window)))
            _entries_cache[window] = cached
        return cached[1]

    @app.page("/api/stats")
    async def stats_view(web: Any, request: Any) -> Any:
        """Windowed counts: ``window`` 1m|1h, ``by`` a dimension, ``periods`` windows back
        (current included), ``limit`` top values; ``series=<counter>`` adds per-window counts."""
        query = request.query
        window = stats.WINDOWS.get(query.get("window", "1m"))
        if window is None:
            return _error(web, 400, f"window must be one of {', '.join(stats.WINDOWS)}")
        by = query.get("by", "total")
        if by not in stats.DIMENSIONS:
            return _error(web, 400, f"by must be one of {', '.join(stats.DIMENSIONS)}")
        default_periods = 60 if window.name == "1m" else 24
        periods = _int(query.get("periods"), default=default_periods, low=1, high=window.keep)
        if periods is None:
            return _error(web, 400, f"periods must be an integer in 1..{window.keep}")
        limit = _int(query.get("limit"), default=20, low=1, high=1000)
        if limit is None:
            return _error(web, 400, "limit must be an integer in 1..1000")
        now = time.time()
        entries = _entries(window.name)
        counts = stats.totals(entries, by, now, window, periods)
        body: dict[str, Any] = {
            "window": window.name,
            "by": by,
            "periods": periods,
            "from": stats.window_start(now, window.size) - (periods - 1) * window.size,
            "to": now,
            "counts": [{"value": v, "count": n} for v, n in stats.top(counts, limit)],
            # Counters live with the partitions this worker owns; with several workers each
            # reports its share.
            "scope": "partitions assigned to this worker",
            "counted": "records by their Kafka timestamps, in the windows from..to",
        }
        if by == "total":
            body["meaning"] = stats.MEANING
        series_key = query.get("series")
        if series_key:
            dim, _sep, value = series_key.partition(":")
            counter = stats.key(dim, value)
            body["series"] = [
                {"start": s, "count": n}
                for s, n in stats.series(entries, counter, now, window, periods)
            ]
        return web.json(body)

    @app.page("/api/monitor")
    async def monitor_view(web: Any, request: Any) -> Any:
        """Per-stage outcome counts and lag, health and readiness, for the dashboard."""
        outcomes: dict[str, dict[str, int]] = {}
        for (stage, outcome), n in sorted(COUNTS.items()):
            outcomes.setdefault(stage, {})[outcome] = n
        lag = mon.monitor.tracker.lag_by_stage()
        names = sorted(set(outcomes) | set(lag), key=_stage_order)
        stages = [
            {
                "name": name,
                # Inputs handled: a match "alert" outcome counts alerts, not inputs.
                "handled": sum(n for o, n in outcomes.get(name, {}).items() if o != "alert"),
                "outcomes": outcomes.get(name, {}),
                "lag": lag.get(name),
            }
            for name in names
        ]
        return web.json(
            {
                "stages": stages,
                "health": mon.monitor.snapshot(),
                "readiness": mon.monitor.readiness.to_dict(),
                "live_clients": len(mon.feed.clients),
                "uptime_s": round(time.time() - mon.monitor.started, 1),
            }
        )

    # Stages in flow order (from the declaration), then the worker's own readers.
    _ORDER = [*dict.fromkeys(step.stage for step in shell.flow.steps), "subscriptions", "stats"]

    def _stage_order(name: str) -> tuple[int, str]:
        return (_ORDER.index(name) if name in _ORDER else len(_ORDER), name)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        mon.refresh_stall_gauge()
        body, ctype = metrics.exposition()
        return web.bytes(body, headers={"Content-Type": ctype})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """503 when a stream has had lag without progress for ``TOCSIN_STALL_AFTER`` seconds
        (faust's silent stall, #175), or when the monitor itself stopped checking."""
        snapshot = mon.monitor.snapshot()
        return web.json(snapshot, status=200 if snapshot["healthy"] else 503)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """200 once every topic exists, table recovery finished, partitions are assigned and the
        subscriptions are loaded."""
        readiness = mon.monitor.readiness
        # Recovery restarts on every rebalance: read it live rather than from the last check.
        body = readiness.to_dict()
        recovered = mon.tables_recovered()
        body["tables_recovered"] = recovered
        ready = readiness.ready and recovered
        body["ready"] = ready
        return web.json(body, status=200 if ready else 503)
