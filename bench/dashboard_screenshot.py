"""Screenshot of a running worker's dashboard (the README's image) in headless Chromium.

    .venv/bin/python bench/dashboard_screenshot.py --url http://127.0.0.1:6066/ \\
        --out docs/img/dashboard.png

Start a worker with some traffic first (`make run` does both). Uses Debian's chromium
(`CHROMIUM=/path` to override), like the browser test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:6066/")
    parser.add_argument("--out", default="docs/img/dashboard.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let charts load")
    args = parser.parse_args()
    chromium = shutil.which(os.environ.get("CHROMIUM", "chromium")) or shutil.which(
        "chromium-browser"
    )
    if chromium is None:
        print("no chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(args.url)
            page.wait_for_selector("#live-state.ok", timeout=30_000)
            page.wait_for_timeout(int(args.settle * 1000))
            page.screenshot(path=args.out)
        finally:
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
