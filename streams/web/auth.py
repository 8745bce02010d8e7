"""Who may see the dashboard and its data: one guard in front of every route of the web port.

Alerts, statistics and subscription names are data about what an organisation watches, so the
dashboard and every feed behind it need the API token (``TOCSIN_API_TOKEN``): as a bearer
token, or through the login page, which sets a session cookie (HttpOnly, SameSite=Strict,
signed with a key derived from the token, valid 12 hours; changing the token ends every
session). ``TOCSIN_DASHBOARD_PUBLIC=true`` opens them to anyone who reaches the port; without
a token and without that, they are off. Deny by default: a route is open only if its pattern
is in :data:`OPEN` (probes, metrics, the login itself, the static assets, and the endpoint with
a token of its own). The guard decides on the route the router matched, not on the path text,
so no spelling of a path can reach a handler the guard did not judge. The decision is
:func:`access`, pure; :func:`guard` applies it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from typing import Any, Literal

from aiohttp import web as aioweb

SESSION_COOKIE = "tocsin_session"
SESSION_SECONDS = 12 * 3600
LOGIN_PATH = "/login"

# Route patterns open to anyone: probes and Prometheus (counts, no article or subscription
# data), the login page and its API, the static assets (code, no data), POST /api/articles
# (its own ingest token). /api/status is the worker's operational state (counts per stage,
# subscriptions loaded) that scripts and tests poll, like /metrics.
OPEN = frozenset(
    {
        LOGIN_PATH,
        "/favicon.ico",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/status",
        "/api/session",
        "/api/articles",
        "/static/{name}",
        "/static/vendor/{name}",
    }
)

Mode = Literal["public", "token", "closed"]
Decision = Literal["allow", "login", "unauthorised", "off"]


def mode_of(api_token: str, dashboard_public: bool) -> Mode:
    if dashboard_public:
        return "public"
    return "token" if api_token else "closed"


def access(route: str | None, path: str, mode: Mode, authenticated: bool) -> Decision:
    """What to answer a request for ``path``, matched to the route pattern ``route`` (None:
    no route): serve it, send a browser to the login page, 401, or 503 (the dashboard is
    off)."""
    if mode == "public" or route in OPEN:
        return "allow"
    if mode == "closed":
        return "off"
    if authenticated:
        return "allow"
    return "unauthorised" if path.startswith("/api/") else "login"


def route_of(request: Any) -> str | None:
    """The pattern of the route the router matched for ``request`` (None: no route)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def _key(token: str) -> bytes:
    # A key of its own: a leaked cookie is no bearer token, and a new token ends every session.
    return hashlib.sha256(b"tocsin dashboard session\0" + token.encode()).digest()


def new_session(token: str, now: float) -> str:
    """A signed session value: version, expiry, nonce, HMAC-SHA256 of the three."""
    body = f"v1.{int(now) + SESSION_SECONDS}.{secrets.token_hex(8)}"
    return body + "." + hmac.new(_key(token), body.encode(), hashlib.sha256).hexdigest()


def session_valid(value: str | None, token: str, now: float) -> bool:
    if not value or not token or len(value) > 200:
        return False
    body, _sep, mac = value.rpartition(".")
    wanted = hmac.new(_key(token), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), wanted.encode()):
        return False
    parts = body.split(".")
    return len(parts) == 3 and parts[0] == "v1" and parts[1].isdigit() and int(parts[1]) > now


def bearer_valid(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


def authenticated(request: Any, token: str) -> bool:
    """The request carries the API token, or a valid session cookie made from it."""
    return bearer_valid(request.headers.get("Authorization"), token) or session_valid(
        request.cookies.get(SESSION_COOKIE), token, time.time()
    )


# A header only this site's own scripts send: a cross-site page cannot add it without the
# browser asking this site first (CORS preflight, which it refuses), on top of SameSite=Strict.
SCRIPT_HEADER = "X-Tocsin-Request"


def api_allowed(request: Any, token: str) -> bool:
    """For the subscriptions API: the bearer token, or a login session on a request made by
    the dashboard's own scripts (the session cookie plus :data:`SCRIPT_HEADER`)."""
    if bearer_valid(request.headers.get("Authorization"), token):
        return True
    return request.headers.get(SCRIPT_HEADER) == "1" and session_valid(
        request.cookies.get(SESSION_COOKIE), token, time.time()
    )


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:500]


def _json(status: int, body: dict[str, Any], **headers: str) -> aioweb.Response:
    return aioweb.json_response(body, status=status, headers=headers or None)


OFF_MESSAGE = (
    "the dashboard is off: set TOCSIN_API_TOKEN (then log in, or send it as a bearer token), "
    "or TOCSIN_DASHBOARD_PUBLIC=true to open it to anyone who reaches this port"
)


def guard(settings: Any) -> Any:
    """The aiohttp middleware applying :func:`access` to every request."""
    mode = mode_of(settings.api_token, settings.dashboard_public)

    @aioweb.middleware
    async def middleware(request: aioweb.Request, handler: Any) -> Any:
        ok = mode == "token" and authenticated(request, settings.api_token)
        decision = access(route_of(request), request.path, mode, ok)
        if decision == "allow":
            return await handler(request)
        if decision == "off":
            return _json(503, {"error": OFF_MESSAGE})
        if decision == "unauthorised":
            return _json(
                401,
                {"error": "log in at /login, or send Authorization: Bearer <TOCSIN_API_TOKEN>"},
                **{"WWW-Authenticate": "Bearer"},
            )
        target = LOGIN_PATH + "?next=" + _quote(safe_next(request.path_qs))
        return aioweb.Response(status=303, headers={"Location": target})

    return middleware


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")


async def login(request: aioweb.Request, settings: Any) -> aioweb.Response:
    """``POST /api/session`` with ``{"token": ...}``: sets the session cookie (204)."""
    mode = mode_of(settings.api_token, settings.dashboard_public)
    if mode == "closed":
        return _json(503, {"error": OFF_MESSAGE})
    if mode == "public" and not settings.api_token:
        return _json(409, {"error": "the dashboard is public: there is nothing to log in to"})
    # JSON only: a cross-site form cannot send it without the browser asking this site first.
    if request.content_type != "application/json":
        return _json(415, {"error": 'send the token as JSON: {"token": "..."}'})
    if request.content_length is not None and request.content_length > 4096:
        return _json(413, {"error": "request body over 4096 bytes"})
    try:
        body = await request.json()
    except ValueError:
        return _json(400, {"error": "request body is not JSON"})
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not bearer_valid(f"Bearer {token}", settings.api_token):
        await asyncio.sleep(0.5)  # slows guessing; a token is long and random anyway
        return _json(401, {"error": "wrong token"})
    response = aioweb.Response(status=204)
    response.set_cookie(
        SESSION_COOKIE,
        new_session(settings.api_token, time.time()),
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=_https(request),
    )
    return response


def logout() -> aioweb.Response:
    response = aioweb.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def session_state(request: aioweb.Request, settings: Any) -> dict[str, Any]:
    """``GET /api/session``: the mode and whether this request is logged in."""
    mode = mode_of(settings.api_token, settings.dashboard_public)
    return {
        "mode": mode,
        "authenticated": mode == "token" and authenticated(request, settings.api_token),
        "message": OFF_MESSAGE if mode == "closed" else None,
    }


def _https(request: aioweb.Request) -> bool:
    # Behind a TLS-terminating proxy the worker sees http: the proxy's header says https.
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"
