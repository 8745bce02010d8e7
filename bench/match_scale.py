"""Per-event cost of matching subscription queries: the inverted index against brute force.

    .venv/bin/python -m bench.match_scale                       # 1, 1,000 and 100,000 subs
    .venv/bin/python -m bench.match_scale --sizes 1000 --events 100 --brute-events 50

Events: ``--events`` articles of ``bbc-news-2225`` (read in place; title + body as the text)
with random facets, since the corpus has no event labels: 1-3 of the 14 theme ids, 1-2
countries (all of pycountry's, Zipf-like popularity: a few countries get most of the news),
half of them a subdivision of one of those countries, 0-3 actors, source "BBC News".

Subscriptions: seeded random queries over the same values, parsed from text: usually themes and
countries or a region (90%); sometimes an actor, a keyword (a corpus word, a bigram taken from
the corpus as a phrase or a proximity, or a prefix) and a NOT clause; 0.5% are a bare
``NOT theme:x``, which no index can anchor, so they are evaluated for every event.

Per size: parse and index-build time, the index's memory (tracemalloc; the parsed nodes
counted separately), then the median and p99 time per event of ``index.match(facts)``, of the
index without explaining matches (candidates + evaluate, "ids-only"), and of brute force
(evaluate and explain every subscription; at large sizes on ``--brute-events`` events only),
candidates and matches per event, and whether index and brute force gave the same alerts.
Building ``Facts`` happens once per event whatever the number of subscriptions; printed first.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pycountry

from streams.pipeline.query import (
    Facts,
    Node,
    SubscriptionIndex,
    evaluate,
    facts,
    matched_terms,
    parse,
    tokenise,
)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
ACTORS_FILE = Path(__file__).resolve().parent.parent / "streams" / "nlp" / "data" / "actors.json"
THEMES = [
    "abduction", "arrest", "protest", "riot", "armed_clash", "attack", "killing",
    "sexual_violence", "explosion", "looting", "ceasefire", "diplomacy", "humanitarian",
    "election",
]  # fmt: skip
GROUPS = ["Armed Forces", "Police", "Ministry of Interior", "Opposition", "Electoral Commission"]

Match = list[tuple[str, dict[str, list[str]]]]


class World:
    """The values events and queries draw from, with popularity weights."""

    def __init__(
        self, articles: list[dict[str, Any]], rng: random.Random, mix: str = "broad"
    ) -> None:
        self.mix = mix
        self.rng = rng
        codes = [c.alpha_2 for c in pycountry.countries]
        rng.shuffle(codes)
        self.countries = codes
        self.country_weights = [1 / (i + 1) ** 0.8 for i in range(len(codes))]
        self.regions: dict[str, list[str]] = {}
        for sub in pycountry.subdivisions:
            if sub.parent_code is None and re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{1,3}", sub.code):
                self.regions.setdefault(sub.country_code, []).append(sub.code)
        names = [a["name"] for a in orjson.loads(ACTORS_FILE.read_bytes())["actors"]]
        by_name = {c.alpha_2: c.name for c in pycountry.countries}
        names += [f"{by_name[code]} {group}" for code in codes[:80] for group in GROUPS]
        self.actors = names
        self.texts = [f"{a['title']}\n{a['text']}" for a in articles]
        counts = Counter(t for text in self.texts for t in tokenise(text) if len(t) >= 4)
        # Skip the 200 commonest words: nobody subscribes to "said".
        self.words = [w for w, _ in counts.most_common(5000)][200:]
        self.token_lists = [tokenise(text) for text in self.texts]

    def countries_(self, k: int) -> list[str]:
        return self.rng.choices(self.countries, self.country_weights, k=k)

    def event(self, text: str) -> Facts:
        rng = self.rng
        countries = self.countries_(rng.randint(1, 2))
        regions = []
        if rng.random() < 0.5 and self.regions.get(countries[0]):
            regions.append(rng.choice(self.regions[countries[0]]))
        return facts(
            rng.sample(THEMES, rng.randint(1, 3)),
            countries,
            regions,
            rng.sample(self.actors, rng.randint(0, 3)),
            ["BBC News"],
            text,
        )

    def bigram(self) -> tuple[str, str]:
        while True:
            tokens = self.rng.choice(self.token_lists)
            i = self.rng.randrange(len(tokens) - 1)
            if len(tokens[i]) >= 3 and len(tokens[i + 1]) >= 3:
                return tokens[i], tokens[i + 1]

    def selective(self) -> str:
        """What most users write: a theme (or two) in a country, sometimes narrowed further."""
        rng = self.rng
        clauses = [
            _any("theme", rng.sample(THEMES, rng.randint(1, 2))),
            _any("country", sorted(set(self.countries_(1)))),
        ]
        if rng.random() < 0.3:
            narrower = [f'actor:"{rng.choice(self.actors)}"', rng.choice(self.words)]
            clauses.append(rng.choice(narrower))
        return " AND ".join(clauses)

    def query(self) -> str:
        rng = self.rng
        if self.mix == "selective":
            return self.selective()
        if rng.random() < 0.005:
            return f"NOT theme:{rng.choice(THEMES)}"
        clauses = []
        if rng.random() < 0.8:
            clauses.append(_any("theme", rng.sample(THEMES, rng.randint(1, 3))))
        if rng.random() < 0.15:
            country = self.countries_(1)[0]
            if self.regions.get(country):
                clauses.append(f"region:{rng.choice(self.regions[country])}")
        elif rng.random() < 0.9:
            clauses.append(_any("country", sorted(set(self.countries_(rng.randint(1, 3))))))
        if rng.random() < 0.15:
            clauses.append(f'actor:"{rng.choice(self.actors)}"')
        if rng.random() < 0.3 or not clauses:
            kind = rng.random()
            if kind < 0.4:
                clauses.append(rng.choice(self.words))
            elif kind < 0.85:
                a, b = self.bigram()
                clauses.append(f'"{a} {b}"' + (f"~{rng.randint(1, 5)}" if kind > 0.7 else ""))
            else:
                clauses.append(rng.choice([w for w in self.words[:1000] if len(w) >= 5])[:4] + "*")
        if rng.random() < 0.15:
            clauses.append(
                rng.choice([f"NOT theme:{rng.choice(THEMES)}", f"NOT {rng.choice(self.words)}"])
            )
        return " ".join(clauses)


def _any(field: str, values: list[str]) -> str:
    terms = [f"{field}:{v}" for v in values]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def brute(subs: list[tuple[str, Node]], f: Facts) -> Match:
    return [(sid, matched_terms(node, f)) for sid, node in subs if evaluate(node, f)]


def _which(index: SubscriptionIndex, subs: dict[str, Node], f: Facts) -> list[str]:
    """The index's work without explaining the matches (``matched_terms``)."""
    return sorted(sid for sid in index.candidates(f) if evaluate(subs[sid], f))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1e6, result


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def measure(
    world: World, events: list[Facts], size: int, brute_events: int, rng: random.Random
) -> dict[str, float]:
    texts = [world.query() for _ in range(size)]
    tracemalloc.start()
    start = time.perf_counter()
    subs = [(f"sub-{i:06d}", parse(text)) for i, text in enumerate(texts)]
    parse_s = time.perf_counter() - start
    nodes_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()

    tracemalloc.start()
    index = SubscriptionIndex()
    for sid, node in subs:
        index.put(sid, node)
    index_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    subs_by_id = dict(subs)
    index = SubscriptionIndex()  # again without tracemalloc's overhead, for the time
    start = time.perf_counter()
    for sid, node in subs:
        index.put(sid, node)
    build_s = time.perf_counter() - start
    # As a long-lived worker would: keep the collector from re-walking every node on each
    # full collection (without this, p99 is a gen-2 collection, not matching).
    gc.collect()
    gc.freeze()

    index_us, eval_us, candidates, matches, found = [], [], [], [], []
    for f in events:
        eval_us.append(timed(partial(_which, index, subs_by_id, f))[0])
        us, result = timed(partial(index.match, f))
        index_us.append(us)
        candidates.append(len(index.candidates(f)))
        matches.append(len(result))
        found.append(result)
    gc.unfreeze()
    sample = list(range(len(events)))
    if size * len(events) > brute_events * 100_000:
        sample = sorted(rng.sample(range(len(events)), min(brute_events, len(events))))
    brute_us, agree = [], 0
    for i in sample:
        us, result = timed(partial(brute, subs, events[i]))
        brute_us.append(us)
        agree += result == found[i]
    return {
        "parse_s": parse_s,
        "build_s": build_s,
        "index_mb": index_mb,
        "nodes_mb": nodes_mb,
        "index_med": statistics.median(index_us),
        "index_p99": p99(index_us),
        "eval_med": statistics.median(eval_us),
        "candidates": statistics.mean(candidates),
        "matches": statistics.mean(matches),
        "brute_med": statistics.median(brute_us),
        "brute_p99": p99(brute_us),
        "brute_n": len(brute_us),
        "agree": agree,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,1000,100000")
    parser.add_argument("--events", type=int, default=200, help="articles matched per size")
    parser.add_argument("--brute-events", type=int, default=20, help="brute-force sample")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--mix",
        choices=["broad", "selective"],
        default="broad",
        help="broad: random facets, keywords, NOTs; selective: theme AND country (+ actor)",
    )
    parser.add_argument("--data", type=Path, default=DATA / "bbc-news-2225" / "bbc_news.jsonl")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lines = args.data.read_bytes().splitlines()
    articles = [orjson.loads(line) for line in rng.sample(lines, min(args.events, len(lines)))]
    world = World(articles, rng, args.mix)
    facts_us = []
    events = []
    for text in world.texts:
        us, f = timed(partial(world.event, text))
        facts_us.append(us)
        events.append(f)
    print(
        f"match: query index vs brute force, {args.mix} subscriptions, "
        f"{len(events)} bbc-news-2225 events, seed "
        f"{args.seed}; python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cpus; load average {os.getloadavg()[0]:.2f}"
    )
    tokens = statistics.median(len(f.tokens) for f in events)
    print(
        f"Facts per event (once, any number of subs): median {statistics.median(facts_us):.0f}"
        f" us, p99 {p99(facts_us):.0f} us; median {tokens:.0f} tokens"
    )
    print(
        "     subs  parse s  build s  index MB  nodes MB  |  per event, us: index med      p99"
        "  ids-only med   cands  matches  |  brute med      p99  events  agree"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(world, events, size, args.brute_events, rng)
        print(
            f"  {size:>7,d}  {r['parse_s']:7.2f}  {r['build_s']:7.2f}  {r['index_mb']:8.1f}"
            f"  {r['nodes_mb']:8.1f}  |  {r['index_med']:24,.0f}  {r['index_p99']:7,.0f}"
            f"  {r['eval_med']:12,.0f}  {r['candidates']:6,.0f}  {r['matches']:7,.1f}"
            f"  |  {r['brute_med']:9,.0f}  {r['brute_p99']:7,.0f}  {r['brute_n']:6d}"
            f"  {r['agree']:d}/{r['brute_n']}"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
