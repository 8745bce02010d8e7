"""HTML -> article text quality on the Zyte article-extraction benchmark.

Token-level precision, recall and F1 of the extracted body against the gold ``articleBody``
(bag of lower-cased word tokens, per page, then averaged over pages), for:

- ``trafilatura``: the extractor on its own, default settings (``trafilatura.extract``);
- ``tocsin``: what lands in ``news.articles.valid.v1``: ``streams.sources.html.parse_html_page``
  followed by the validate stage's ``clean_body`` (captions, credits, furniture removed).

    .venv/bin/python bench/html_extraction.py [--limit N] [--data DIR]

Reads ``../shared/data/article-extraction-benchmark`` in place; exits 0 with a message when it
is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "article-extraction-benchmark"
_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> Counter[str]:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def prf(predicted: str, gold: str) -> tuple[float, float, float]:
    """Token-level precision, recall and F1 (multiset overlap). Empty vs empty is perfect."""
    p, g = tokens(predicted), tokens(gold)
    if not p and not g:
        return 1.0, 1.0, 1.0
    overlap = sum((p & g).values())
    precision = overlap / sum(p.values()) if p else 0.0
    recall = overlap / sum(g.values()) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def bare(html: bytes, url: str) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


def tocsin(html: bytes, url: str) -> str:
    from streams.pipeline.normalize import clean_body
    from streams.sources.html import parse_html_page

    article = parse_html_page(html, url=url)
    return clean_body(article["text"]) if article else ""


def tocsin_no_clean(html: bytes, url: str) -> str:
    from streams.sources.html import parse_html_page

    article = parse_html_page(html, url=url)
    return article["text"] if article else ""


EXTRACTORS: dict[str, Callable[[bytes, str], str]] = {
    "trafilatura (bare, defaults)": bare,
    "tocsin parse_html_page only": tocsin_no_clean,
    "tocsin (parse_html_page + clean_body)": tocsin,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=0, help="first N pages only (0: all)")
    args = parser.parse_args(argv)
    truth_file = args.data / "ground-truth.json"
    if not truth_file.exists():
        print(f"skipped: {args.data} is absent (../shared/data is not in this checkout)")
        return 0
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    ids = sorted(truth)[: args.limit or None]
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in EXTRACTORS}
    seconds: dict[str, float] = dict.fromkeys(EXTRACTORS, 0.0)
    for page_id in ids:
        html = gzip.decompress((args.data / "html" / f"{page_id}.html.gz").read_bytes())
        gold = truth[page_id]["articleBody"]
        for name, extract in EXTRACTORS.items():
            started = time.perf_counter()
            text = extract(html, truth[page_id].get("url", ""))
            seconds[name] += time.perf_counter() - started
            scores[name].append(prf(text, gold))
    load = os.getloadavg()
    print(f"{len(ids)} pages of {args.data.name}; load average {load[0]:.2f} {load[1]:.2f}")
    print(f"{'extractor':40} {'precision':>9} {'recall':>7} {'F1':>6} {'ms/page':>8}")
    for name, rows in scores.items():
        p, r, f = (statistics.fmean(col) for col in zip(*rows, strict=True))
        ms = 1000 * seconds[name] / len(ids)
        print(f"{name:40} {p:9.3f} {r:7.3f} {f:6.3f} {ms:8.0f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
