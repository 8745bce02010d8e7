"""Who may see the dashboard and its data (issue 22, item 11): the rules, without a server."""

from __future__ import annotations

import time

import pytest

from streams.web.auth import (
    OPEN,
    access,
    bearer_valid,
    mode_of,
    new_session,
    safe_next,
    session_valid,
)

# (route pattern, a path of it): every route that serves alerts, statistics, subscriptions or
# the pages showing them, and what no route matches.
DATA = [
    ("/", "/"),
    ("/alerts/{alert_id}", "/alerts/al-1"),
    ("/api/alerts", "/api/alerts"),
    ("/api/alerts/{alert_id}", "/api/alerts/al-1"),
    ("/stories/{story_id}", "/stories/st-1"),
    ("/api/stories/{story_id}", "/api/stories/st-1"),
    ("/api/live/alerts", "/api/live/alerts"),
    ("/api/stats", "/api/stats"),
    ("/api/monitor", "/api/monitor"),
    ("/api/subscriptions", "/api/subscriptions"),
    ("/api/subscriptions/{sub_id}", "/api/subscriptions/sub-1"),
    ("/subscriptions", "/subscriptions"),
    ("/api/stories", "/api/stories"),
    ("/api/timeline", "/api/timeline"),
    ("/api/geo", "/api/geo"),
    ("/table/{name}/", "/table/match/"),  # faust's own views, should an operator turn them on
    (None, "/static/../api/alerts"),  # no route: denied, whatever the path says
    (None, "/anything/new"),
]


def test_the_modes() -> None:
    assert mode_of("", False) == "closed"
    assert mode_of("t", False) == "token"
    assert mode_of("t", True) == mode_of("", True) == "public"


@pytest.mark.parametrize(("route", "path"), DATA)
def test_every_data_route_needs_a_login_or_the_token(route: str | None, path: str) -> None:
    refused = "unauthorised" if path.startswith("/api/") else "login"
    assert access(route, path, "token", authenticated=False) == refused
    assert access(route, path, "token", authenticated=True) == "allow"
    assert access(route, path, "closed", authenticated=False) == "off"
    assert access(route, path, "public", authenticated=False) == "allow"  # said so explicitly


def test_what_is_open_whatever_the_mode() -> None:
    assert {
        "/login",
        "/favicon.ico",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/status",
        "/api/session",
        "/api/articles",
        "/static/{name}",
        "/static/vendor/{name}",
    } == OPEN
    for route in OPEN:
        assert access(route, route, "token", authenticated=False) == "allow", route
        assert access(route, route, "closed", authenticated=False) == "allow", route


class _Request:
    def __init__(self, headers: dict[str, str], cookies: dict[str, str]) -> None:
        self.headers = headers
        self.cookies = cookies


def test_the_subscriptions_api_takes_a_session_only_from_the_dashboard_scripts() -> None:
    from streams.web.auth import SCRIPT_HEADER, SESSION_COOKIE, api_allowed

    session = {SESSION_COOKIE: new_session("tok", now=time.time())}
    assert api_allowed(_Request({"Authorization": "Bearer tok"}, {}), "tok")
    assert api_allowed(_Request({SCRIPT_HEADER: "1"}, session), "tok")
    assert not api_allowed(_Request({}, session), "tok")  # a cross-site form, say
    assert not api_allowed(_Request({SCRIPT_HEADER: "1"}, {}), "tok")
    assert not api_allowed(_Request({"Authorization": "Bearer nope"}, session), "tok")


def test_sessions_are_signed_with_the_token_and_expire() -> None:
    value = new_session("token-a", now=1000.0)
    assert session_valid(value, "token-a", now=1001.0)
    assert not session_valid(value, "token-a", now=1000.0 + 12 * 3600 + 1)  # expired
    assert not session_valid(value, "token-b", now=1001.0)  # the token changed
    body, _sep, mac = value.rpartition(".")
    version, expiry, nonce = body.split(".")
    forged = f"{version}.{int(expiry) + 10**6}.{nonce}.{mac}"
    assert not session_valid(forged, "token-a", now=1001.0)
    assert not session_valid(None, "token-a", now=0) and not session_valid(value, "", now=0)
    assert new_session("token-a", 1000.0) != value  # a nonce each
    assert bearer_valid("Bearer token-a", "token-a") and not bearer_valid("Bearer x", "token-a")
    assert not bearer_valid("token-a", "token-a") and not bearer_valid("Bearer ", "")


def test_after_login_only_a_path_of_this_site() -> None:
    assert safe_next("/alerts/al-1?x=1") == "/alerts/al-1?x=1"
    for bad in (None, "", "https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert safe_next(bad) == "/"
