"""Screenshots of a running worker's dashboard for the docs, in headless Chromium:
``overview.png`` (plots and map), ``story.png`` (the latest story's page) and
``subscriptions.png`` (the editor on a subscription, its query checked as typed).

    make run   # in another terminal: a worker with the sample traffic
    .venv/bin/python bench/dashboard_screenshot.py --url http://127.0.0.1:6066/ --out docs/img

With a token set (``TOCSIN_API_TOKEN`` or ``--token``) it logs in first. Uses Debian's chromium
(``CHROMIUM=/path`` to override), like the browser test. Nothing is written to the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any


def _latest_story(base: str, token: str | None) -> str | None:
    request = urllib.request.Request(base + "api/stories?limit=200")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        stories = json.loads(response.read())["stories"]
    # The story with the most articles shows its timeline best.
    stories.sort(key=lambda s: -(s.get("article_count") or 0))
    return stories[0]["story_id"] if stories else None


def _login(page: Any, base: str, token: str | None) -> None:
    page.goto(base)
    if token and "/login" in page.url:
        page.fill("#token", token)
        page.click("#login button")
        page.wait_for_url(base, timeout=10_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:6066/")
    parser.add_argument("--out", default="docs/img", help="directory for the three PNGs")
    parser.add_argument("--token", default=os.environ.get("TOCSIN_API_TOKEN") or None)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let charts load")
    args = parser.parse_args()
    base = args.url if args.url.endswith("/") else args.url + "/"
    chromium = shutil.which(os.environ.get("CHROMIUM", "chromium")) or shutil.which(
        "chromium-browser"
    )
    if chromium is None:
        print("no chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            _login(page, base, args.token)
            page.wait_for_selector("#live-state.ok", timeout=30_000)
            page.wait_for_selector("#map path.country", timeout=30_000)
            page.wait_for_timeout(int(args.settle * 1000))
            page.screenshot(path=str(out / "overview.png"), full_page=True)
            print(f"wrote {out / 'overview.png'}")

            story = _latest_story(base, args.token)
            if story is None:
                print("no story yet: story.png not written", file=sys.stderr)
            else:
                page.goto(base + "stories/" + story)
                page.wait_for_selector("#articles tr", timeout=10_000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / "story.png"), full_page=True)
                print(f"wrote {out / 'story.png'}")

            page.goto(base + "subscriptions")
            page.wait_for_selector("#subs tbody tr", timeout=10_000)
            page.locator("#subs tbody tr button.edit").first.click()
            # A query with a mistake, to show the position the API reports (not saved).
            page.fill("#f-query", "theme:kidnapping AND (country:KE OR")
            page.wait_for_selector("#query-error pre", timeout=10_000)
            page.wait_for_timeout(300)
            page.screenshot(path=str(out / "subscriptions.png"), full_page=True)
            print(f"wrote {out / 'subscriptions.png'}")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
