"""Monitoring on a real worker and broker: /metrics after a known input, /api/stats, health
and readiness, the dashboard behind its login (every data endpoint refuses an anonymous
request), and the dashboard in headless Chromium (login, live alerts without a reload, and an
article titled ``<script>alert(1)</script>`` shown as text)."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams import codecs, topics
from streams.kafka_client import create_topics
from streams.sources.files import raw_key
from tests.integration.conftest import REPO, Namespace, Worker
from tests.integration.test_worker import send, subscribe

pytestmark = pytest.mark.integration

SUB_ID = "monitoring-kenya"
SUBSCRIPTION = {
    "id": SUB_ID,
    "name": "Abductions in Kenya (monitoring test)",
    "themes": ["abduction"],
    "countries": ["KE"],
    "actors": [],
}
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", REPO / "out" / "screenshots"))
# The dashboard of this module's worker is behind its login, as in any deployment with a token.
TOKEN = "it-dashboard-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def namespace(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Namespace:
    ns = Namespace(broker, tmp_path_factory.mktemp("monitoring"), TOCSIN_API_TOKEN=TOKEN)
    asyncio.run(create_topics(ns.settings))
    return ns


def get(worker: Worker, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(worker.url + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def scrape(worker: Worker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = get(worker, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def article(title: str, text: str) -> dict[str, Any]:
    return {"id": f"mon-{uuid.uuid4().hex[:10]}", "title": title, "text": text}


def kenya_text(tag: str) -> str:
    return f"Gunmen abducted {tag}, a reporter, in Nairobi, Kenya, on Monday, police said."


def produce(ns: Namespace, articles: list[dict[str, Any]]) -> None:
    async def go() -> None:
        for a in articles:
            body = codecs.dumps(a)
            await send(ns, topics.ARTICLES_RAW, [body], key=raw_key(body))

    # Playwright's sync API keeps an event loop running in this thread; produce from another.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def wait_for(check: Any, timeout: float, what: str, worker: Worker) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"{what} not seen within {timeout}s\n{worker.log_tail()}")


@pytest.fixture(scope="module")
def subscribed(namespace: Namespace, worker: Worker) -> Worker:
    subscribe(namespace, worker, SUBSCRIPTION)
    return worker


def test_metrics_count_a_known_input(namespace: Namespace, subscribed: Worker) -> None:
    worker = subscribed
    before = scrape(worker)
    first = article("Reporter abducted in Nairobi", kenya_text("Jane Doe"))
    other = article("Council approves budget", "The city council in Lyon approved its budget.")
    copy = {**first, "id": first["id"] + "-copy"}  # the same body: an exact duplicate
    produce(namespace, [first, other, copy])
    asyncio.run(send(namespace, topics.ARTICLES_RAW, [b"\xff not json"]))

    def settled() -> dict[Any, float] | None:
        now = scrape(worker)
        done = (
            value(now, "tocsin_messages_total", stage="match", outcome="story_update")
            - value(before, "tocsin_messages_total", stage="match", outcome="story_update")
            >= 3  # the two articles, and the copy counted into the first one's story
            and value(now, "tocsin_messages_total", stage="stats", outcome="alerts")
            - value(before, "tocsin_messages_total", stage="stats", outcome="alerts")
            >= 1
            and value(now, "tocsin_messages_total", stage="stats", outcome="alert_updates")
            - value(before, "tocsin_messages_total", stage="stats", outcome="alert_updates")
            >= 1
        )
        return now if done else None

    after = wait_for(settled, 90, "three story updates matched and one alert counted", worker)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    m = "tocsin_messages_total"
    assert delta(m, stage="validate", outcome="valid") == 3
    assert delta(m, stage="validate", outcome="deadletter") == 1
    assert delta(m, stage="dedupe", outcome="unique") == 2
    assert delta(m, stage="dedupe", outcome="duplicate") == 1
    assert delta(m, stage="extract", outcome="event") == 2
    assert delta(m, stage="match", outcome="alert") == 1
    assert delta(m, stage="match", outcome="update") == 1
    assert delta(m, stage="stories", outcome="copy") == 1
    assert delta(m, stage="stats", outcome="articles_in") == 4
    assert delta(m, stage="stats", outcome="duplicates") == 1
    assert delta(m, stage="stats", outcome="deadletters") == 1
    # The alert and its update are two figures, named as /api/stats names them (issue 22).
    assert delta(m, stage="stats", outcome="alerts") == 1
    assert delta(m, stage="stats", outcome="alert_updates") == 1
    assert delta("tocsin_dead_letters_total", stage="validate", error_type="decode_error") == 1
    # The alert, then its update: the copy is one more source of the same story.
    assert delta("tocsin_alerts_delivered_total", sink="kafka") == 2
    assert delta("tocsin_alerts_failed_total", sink="kafka") == 0
    assert delta("tocsin_stage_duration_seconds_count", stage="validate") == 4
    assert delta("tocsin_stage_latency_seconds_count", stage="extract") == 2
    assert delta("tocsin_end_to_end_latency_seconds_count") == 1
    assert delta("tocsin_end_to_end_latency_seconds_sum") > 0
    loads = [v for (name, _labels), v in after.items() if name == "tocsin_model_load_seconds"]
    assert loads and all(v > 0 for v in loads), "model load time not recorded"
    lag_names = {
        dict(labels).get("stage") for (name, labels) in after if name == "tocsin_consumer_lag"
    }
    # Statistics are counted inside the steps: no stats agent reads a topic; match runs in the
    # stories agent, on its input (issue 23).
    assert {"validate", "dedupe", "extract", "stories"} <= lag_names

    # The same input in the windowed statistics.
    status, _h, body = get(worker, "/api/stats?window=1m&by=total&periods=10", TOKEN)
    assert status == 200
    totals = {c["value"]: c["count"] for c in orjson.loads(body)["counts"]}
    assert totals["articles_in"] >= 4 and totals["deadletters"] >= 1
    assert totals["duplicates"] >= 1 and totals["alerts"] >= 1
    assert orjson.loads(body)["meaning"]["alerts"].startswith("new alerts")
    # One source of truth: /api/status counts what /api/stats counts, under the same names
    # (this worker started with the module, so the last hour holds all it counted).
    status, _h, body = get(worker, "/api/stats?window=1m&by=total&periods=60", TOKEN)
    hour = {c["value"]: c["count"] for c in orjson.loads(body)["counts"]}
    counted = (worker.status() or {})["counts"]["stats"]
    assert (counted["alerts"], counted["alert_updates"]) == (
        hour["alerts"],
        hour["alert_updates"],
    ), (counted, hour)
    for by, wanted in (("theme", "abduction"), ("country", "KE"), ("subscription", SUB_ID)):
        status, _h, body = get(worker, f"/api/stats?window=1h&by={by}&periods=1", TOKEN)
        assert status == 200
        assert wanted in {c["value"] for c in orjson.loads(body)["counts"]}, by
    assert get(worker, "/api/stats?window=5m", TOKEN)[0] == 400
    assert get(worker, "/api/stats?by=nonsense", TOKEN)[0] == 400
    assert get(worker, "/api/stats?window=1m&periods=100000", TOKEN)[0] == 400

    # The alert's story: the article and its copy, from two ids, one story.
    ours = {first["id"], copy["id"]}  # the feed keeps an alert's latest revision (the copy's)

    def our_alert() -> dict[str, Any] | None:
        # The feed reads news.alerts behind the match stage's counters: wait for it.
        status, _h, body = get(worker, "/api/alerts", TOKEN)
        found = [a for a in orjson.loads(body)["alerts"] if a["article_id"] in ours]
        return found[0] if status == 200 and found else None

    alert = wait_for(our_alert, 30, "the alert in /api/alerts", worker)
    status, _h, body = get(worker, f"/api/stories/{alert['story_id']}", TOKEN)
    assert status == 200, body
    story = orjson.loads(body)
    assert story["story_id"] == alert["story_id"] and story["article_count"] == 2
    assert {a["article_id"] for a in story["articles"]} == {first["id"], copy["id"]}
    assert "abduction" in story["themes"] and "KE" in story["countries"]
    assert get(worker, "/api/stories/st-unknown", TOKEN)[0] == 404


def test_health_and_readiness(subscribed: Worker) -> None:
    worker = subscribed
    status, _h, body = get(worker, "/readyz")
    assert status == 200, body
    ready = orjson.loads(body)
    assert ready["ready"] and ready["tables_recovered"] and not ready["missing_topics"]

    def healthy() -> bool:
        status, _h, body = get(worker, "/healthz")
        return status == 200 and orjson.loads(body)["healthy"]

    wait_for(healthy, 30, "healthy /healthz", worker)


def test_pages_are_static_files_with_strict_headers(subscribed: Worker) -> None:
    worker = subscribed
    ours = ("dashboard.js", "common.js", "story.js", "alert.js", "subscriptions.js")
    for path, ctype in (
        ("/", "text/html"),
        ("/subscriptions", "text/html"),
        *((f"/static/{name}", "text/javascript") for name in ours),
        ("/static/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/static/vendor/countries-110m.json", "application/json"),
    ):
        status, headers, body = get(worker, path, TOKEN)
        assert status == 200 and headers["Content-Type"].startswith(ctype), path
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert b"innerHTML" not in body and b"eval(" not in body, path
    status, headers, _body = get(worker, "/api/alerts", TOKEN)
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in headers
    for path in (
        "/static/..%2Fdashboard.py",
        "/static/nope.js",
        "/static/%2e%2e%2fapp.py",
        "/static/vendor/..%2F..%2Fdashboard.py",
    ):
        assert get(worker, path)[0] == 404, path
    assert get(worker, "/api/alerts/al-unknown", TOKEN)[0] == 404
    assert get(worker, "/api/alerts?limit=0", TOKEN)[0] == 400


# Every route that serves alerts, statistics or subscriptions, and the pages showing them.
DATA_ENDPOINTS = [
    "/api/alerts",
    f"/api/alerts/al-{'0' * 16}",
    "/api/live/alerts",
    f"/api/alerts/stream?subscription={SUB_ID}",
    "/api/stats?window=1m&by=theme",
    "/api/monitor",
    "/api/subscriptions",
    f"/api/subscriptions/{SUB_ID}",
    f"/api/stories/st-{'0' * 24}",
    "/api/stories",
    "/api/timeline",
    "/api/geo",
]
PAGES = ["/", "/alerts/al-x", "/stories/st-x", "/subscriptions"]


def request(
    worker: Worker, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request, redirects not followed; a stream's body is not read (only its head)."""
    port = int(worker.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        streaming = response.getheader("Content-Type", "").startswith("text/event-stream")
        return response.status, response.headers, b"" if streaming else response.read()
    finally:
        conn.close()


def test_every_data_endpoint_refuses_an_anonymous_request(subscribed: Worker) -> None:
    """Issue 22: /api/live/alerts streamed every alert without a token."""
    worker = subscribed
    for path in DATA_ENDPOINTS:
        status, headers, body = request(worker, "GET", path)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", (path, status, body)
        status, _h, _b = request(worker, "GET", path, {"Cookie": "tocsin_session=v1.9.x.y"})
        assert status == 401, (path, "forged cookie")
    for path in PAGES:
        status, headers, _body = request(worker, "GET", path)
        assert status == 303 and headers["Location"].startswith("/login?next=%2F"), path
    open_paths = ("/healthz", "/readyz", "/metrics", "/api/status", "/login", "/static/login.js")
    for path in (*open_paths, "/static/vendor/uPlot.iife.min.js"):
        assert request(worker, "GET", path)[0] == 200, path

    # The login: a wrong token gets nothing; the right one an HttpOnly, SameSite=Strict cookie.
    json_type = {"Content-Type": "application/json"}
    assert request(worker, "POST", "/api/session", json_type, b'{"token": "nope"}')[0] == 401
    status, headers, _body = request(
        worker, "POST", "/api/session", json_type, orjson.dumps({"token": TOKEN})
    )
    assert status == 204
    cookie = headers["Set-Cookie"]
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes, cookie
    assert "SameSite=Strict" in cookie and TOKEN not in cookie
    session = {"Cookie": cookie.split(";")[0]}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path in DATA_ENDPOINTS + PAGES:
        for creds in (session, bearer):
            status, _h, body = request(worker, "GET", path, creds)
            if creds is session and path.startswith("/api/subscriptions/"):
                assert status == 401, path  # the subscriptions API itself is bearer only
                continue
            # 404: an unknown alert, answered only once the request got in.
            assert status in (200, 404), (path, creds.keys(), status, body)
    assert request(worker, "DELETE", "/api/session", session)[0] == 204


# ---- the dashboard in a real browser ------------------------------------------------------


def chromium_path() -> str:
    """Debian's Chromium (Playwright's own browser download is not used)."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    message = "no chromium found (apt-get install chromium, or set CHROMIUM=/path/to/it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=executable,
            headless=True,
            # Containers run as root without user namespaces; the page is our own.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield b
        finally:
            b.close()


def test_dashboard_shows_a_new_alert_live_and_untrusted_text_as_text(
    namespace: Namespace, subscribed: Worker, browser: Any
) -> None:
    from playwright.sync_api import expect

    worker = subscribed
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(worker.url + "/")
    # Anonymous: the login page, which brings the browser back once the token is right.
    assert response is not None and response.ok and "/login?next=" in page.url
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    page.fill("#token", "wrong")
    page.click("#login button")
    expect(page.locator("#message")).to_have_text("wrong token", timeout=10_000)
    page.fill("#token", TOKEN)
    page.click("#login button")
    page.wait_for_url(worker.url + "/", timeout=10_000)
    page.wait_for_selector("#live-state.ok", timeout=30_000)
    assert page.locator("#logout").is_visible()
    page.evaluate("window.__noReload = 1")

    title = f"Reporter abducted in Mombasa {uuid.uuid4().hex[:6]}"
    produce(namespace, [article(title, kenya_text("John Roe"))])
    item = page.locator("#alerts li", has_text=title)
    item.wait_for(timeout=90_000)
    assert page.evaluate("window.__noReload") == 1, "the page reloaded"
    assert item.get_attribute("data-subscription") == SUB_ID
    page.select_option("#sub-filter", SUB_ID)
    assert item.is_visible()
    page.select_option("#sub-filter", "")
    assert page.locator('#stages tr[data-stage="extract"]').count() == 1
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    evil_title = "<script>alert(1)</script>"
    evil = article(evil_title, kenya_text("<img src=x onerror=alert(2)> Ann Poe"))
    produce(namespace, [evil])
    # A new alert, or an update of the reporter story's alert (it may join that story): either
    # way the list shows it once, with this article's title.
    evil_item = page.locator("#alerts li", has_text=evil_title)
    evil_item.wait_for(timeout=90_000)
    assert evil_item.locator("a.title").text_content() == evil_title
    assert page.locator("#alerts script, #alerts img").count() == 0
    page.wait_for_timeout(500)

    # The alert's own page, with its evidence: still text.
    evil_item.locator("a.title").click()
    # A locator assertion, not wait_for_function: a string predicate that has to be polled
    # is evaluated with eval(), which the page's CSP (rightly) refuses.
    expect(page.locator("#title")).to_have_text(evil_title, timeout=10_000)
    assert "<img src=x onerror=alert(2)>" in (page.locator("#evidence").text_content() or "")
    assert "st-" in (page.locator("#story").text_content() or "")  # the story behind it
    assert page.locator("main script, main img").count() == 0
    # The event behind it: every evidence sentence, also as text.
    page.locator("#event-evidence li").first.wait_for(timeout=10_000)
    sentences = page.locator("#event-evidence .evidence").all_text_contents()
    assert any("<img src=x onerror=alert(2)>" in t for t in sentences), sentences
    assert "KE" in (page.locator("#event").text_content() or "")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "alert.png"))
    page.close()
    assert dialogs == [], f"script ran: {dialogs}"
    assert errors == [], errors


def login(page: Any, worker: Worker, path: str = "/") -> None:
    page.goto(worker.url + path)
    page.fill("#token", TOKEN)
    page.click("#login button")
    page.wait_for_url(worker.url + path, timeout=10_000)


def test_a_subscription_made_in_the_browser_alerts_live_on_the_map_and_in_the_list(
    namespace: Namespace, subscribed: Worker, browser: Any
) -> None:
    """Issue 24: the editor checks the query as typed (the API's error position shown),
    creates the subscription through the login session; its alert then shows live on the
    map and in the list, the map filters the list, and untrusted article text stays text in
    the story list, the story page and its timeline."""
    from playwright.sync_api import expect

    from streams.pipeline import query

    worker = subscribed
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, worker, "/subscriptions")
    page.wait_for_selector(f'#subs tr[data-id="{SUB_ID}"]', timeout=10_000)

    name = f"Kidnappings in Uganda {uuid.uuid4().hex[:6]}"
    page.fill("#f-name", name)
    page.fill("#f-themes", "kidnapping")  # a synonym, resolved to the theme id
    page.fill("#f-countries", "Uganda")  # a name, resolved to UG
    bad = "theme:abduction AND (country:UG OR"
    page.fill("#f-query", bad)
    with pytest.raises(query.QueryError) as parse_error:
        query.parse(bad)
    expect(page.locator("#query-error pre")).to_be_visible(timeout=10_000)
    assert page.locator("#query-error").get_attribute("data-position") == str(
        parse_error.value.position
    )
    assert page.locator("#f-query").get_attribute("aria-invalid") == "true"
    page.fill("#f-query", 'theme:abduction AND NOT actor:"Al-Shabaab"')
    expect(page.locator("#query-error pre")).to_have_count(0, timeout=10_000)
    expect(page.locator("#resolved")).to_contain_text("kidnapping → abduction")
    expect(page.locator("#resolved")).to_contain_text("Uganda → UG")
    page.click("#save")
    expect(page.locator("#form-status")).to_contain_text("Created", timeout=20_000)
    row = page.locator("#subs tbody tr", has_text=name)
    expect(row).to_have_count(1, timeout=10_000)
    sub_id = row.get_attribute("data-id")
    assert sub_id
    status, _h, body = get(worker, f"/api/subscriptions/{sub_id}", TOKEN)
    assert status == 200 and orjson.loads(body)["countries"] == ["UG"], body
    # Edit: the stored values come back into the form, the secret field stays empty.
    row.locator("button.edit").click()
    expect(page.locator("#f-id")).to_have_value(sub_id)
    assert page.locator("#f-countries").input_value() == "UG"
    assert page.locator("#f-secret").input_value() == ""
    page.fill("#f-name", name + " (edited)")
    page.click("#save")
    expect(page.locator("#form-status")).to_contain_text("Saved", timeout=20_000)
    name += " (edited)"
    row = page.locator(f'#subs tr[data-id="{sub_id}"]')
    expect(row.locator("strong")).to_have_text(name, timeout=10_000)
    # Pause and resume from the list (a paused subscription matches nothing).
    row.locator("button.pause").click()
    expect(row.locator("td").nth(2)).to_have_text("paused", timeout=20_000)
    page.locator("#subs tbody tr", has_text=name).locator("button.pause").click()
    expect(page.locator("#subs tbody tr", has_text=name).locator("td").nth(2)).to_have_text(
        "active", timeout=20_000
    )

    # The overview: a new alert of that subscription, live on the map and in the list.
    page.goto(worker.url + "/")
    page.wait_for_selector("#live-state.ok", timeout=30_000)
    page.wait_for_selector("#map path.country", timeout=30_000)
    page.evaluate("window.__noReload = 1")
    evil_title = f"<script>alert(1)</script> Reporter abducted in Kampala {uuid.uuid4().hex[:6]}"
    text = (
        "Gunmen abducted <img src=x onerror=alert(2)> Ann Poe, a reporter, in Kampala, Uganda,"
        " on Monday, police said."
    )
    published = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # for the story's timeline
    produce(namespace, [{**article(evil_title, text), "published_at": published}])
    item = page.locator(f'#alerts li[data-subscription="{sub_id}"]')
    item.wait_for(timeout=90_000)
    assert item.locator("a.title").text_content() == evil_title
    uganda = page.locator('#map path.country[data-code="UG"]')
    expect(uganda).not_to_have_attribute("data-alerts", "0", timeout=20_000)
    assert "q0" not in (uganda.get_attribute("class") or "")
    assert page.evaluate("window.__noReload") == 1, "the page reloaded"
    # Click the country: only its alerts stay listed; Enter on the focused shape undoes it.
    uganda.click()
    expect(page.locator("#country-filter")).to_be_visible()
    assert item.is_visible()
    for li in page.locator("#alerts li").all():
        if li.is_visible():
            assert "UG" in (li.get_attribute("data-countries") or "").split(), li.text_content()
    kenyan = page.locator(f'#alerts li[data-subscription="{SUB_ID}"]')
    if kenyan.count():
        assert not kenyan.first.is_visible()
    uganda.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#country-filter")).to_be_hidden()
    # The story list shows it, new; its title is text.
    story = page.locator("#stories li", has_text=evil_title)
    story.wait_for(timeout=20_000)
    assert story.locator("a.title").text_content() == evil_title
    assert story.locator(".status").text_content() in {"new", "updated"}
    assert page.locator("main script, main img").count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

    # The story page: title, the article table and the timeline, all text.
    story.locator("a.title").click()
    expect(page.locator("#title")).to_have_text(evil_title, timeout=10_000)
    expect(page.locator("#articles .article-title").first).to_have_text(evil_title)
    assert page.locator("#timeline circle").count() >= 1
    assert evil_title in (page.locator("#timeline title").first.text_content() or "")
    assert page.locator("main script, main img").count() == 0

    # Delete it from the list (a second press confirms).
    page.goto(worker.url + "/subscriptions")
    row = page.locator(f'#subs tr[data-id="{sub_id}"]')
    row.locator("button.delete").click()
    row.locator("button.delete").click()
    expect(page.locator(f'#subs tr[data-id="{sub_id}"]')).to_have_count(0, timeout=20_000)
    assert get(worker, f"/api/subscriptions/{sub_id}", TOKEN)[0] == 404
    page.close()
    assert dialogs == [], f"script ran: {dialogs}"
    assert errors == [], errors


def test_the_overview_fits_a_phone(subscribed: Worker, browser: Any) -> None:
    """Readable on a phone: nothing wider than the screen; the map and plots still drawn."""
    worker = subscribed
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, worker)
    page.wait_for_selector("#map path.country", timeout=30_000)
    page.wait_for_selector("#plot-rate canvas", timeout=30_000)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{overflow}px wider than the screen"
    page.close()
