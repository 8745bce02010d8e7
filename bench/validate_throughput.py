"""Throughput of the validate stage over a real corpus, and the share of its cost that is
language detection (py3langid), in one process.

    .venv/bin/python bench/validate_throughput.py [--limit N] [--data FILE.jsonl]

Reads ``../shared/data/bbc-news-2225`` in place; exits 0 with a message when it is absent.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "bbc-news-2225" / "bbc_news.jsonl"


def main(argv: list[str] | None = None) -> int:
    from streams import schemas, topics
    from streams.models import Article
    from streams.pipeline import validate
    from streams.pipeline.normalize import detect_language

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=0, help="first N articles only (0: all)")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"skipped: {args.data} is absent (../shared/data is not in this checkout)")
        return 0
    lines = [line for line in args.data.read_bytes().splitlines() if line.strip()]
    lines = lines[: args.limit or None]
    validator = schemas.validator(topics.ARTICLES_RAW.schema_file)
    detect_language("warm up the language model so loading is not timed")

    started = time.perf_counter()
    articles = [validate.validate_article(line, validator) for line in lines]
    total = time.perf_counter() - started
    texts = [a.text for a in articles if isinstance(a, Article)]
    started = time.perf_counter()
    languages = [detect_language(t) for t in texts]
    detect = time.perf_counter() - started

    load = os.getloadavg()
    megabytes = sum(len(line) for line in lines) / 1e6
    print(f"{len(lines)} inputs ({megabytes:.1f} MB) from {args.data.name}; load {load[0]:.2f}")
    print(f"validate: {len(lines) / total:,.0f} articles/s, {megabytes / total:.1f} MB/s")
    print(
        f"language detection: {1000 * detect / max(len(texts), 1):.2f} ms/article, "
        f"{100 * detect / total:.0f}% of validate"
    )
    print(
        f"valid {len(texts)}, languages: "
        + ", ".join(f"{code}={languages.count(code)}" for code in sorted(set(map(str, languages))))
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
