"""Throughput and state size of the dedupe stage as its index grows to 10k, 100k and 1M articles.

    .venv/bin/python bench/dedupe.py                          # sizes 10000,100000,1000000
    .venv/bin/python bench/dedupe.py --sizes 10000 --probe 500
    .venv/bin/python bench/dedupe.py --store dict --sizes 10000,100000
    .venv/bin/python bench/dedupe.py --compare   # MinHash: rensa vs datasketch vs numpy

For each size N the index is first filled with N synthetic articles (random 150-word bodies):
their exact-hash keys and band entries are written exactly as the stage writes them (the
stage's own ``scatter`` and entry format, bulk-written to skip N lookups that would all miss).
Then ``--probe`` fresh articles, 10% of them light edits of indexed ones, go through the whole
stage (exact check, scatter, every band probe, gather and decide: ``driver.dedupe_local``) and
the bench prints articles/s, the median and p99 time of one band lookup, and the state bytes
per indexed article (serialised key + value, what the changelog carries; plus RocksDB's size on
disk with ``--store rocksdb``). State lives in RocksDB through rocksdict by default, opened with
faust's own RocksDB options, as on a worker; nothing expires during a run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import orjson
from rocksdict import Rdict, WriteBatch

from streams.models import Article, Duplicate
from streams.pipeline import dedupe
from streams.pipeline.dedupe import DedupeConfig
from streams.pipeline.driver import dedupe_local
from streams.pipeline.normalize import content_hash

VOCAB = [f"w{i}" for i in range(20_000)]


class RocksState(MutableMapping[str, str]):
    """str -> str over a raw-mode rocksdict database (faust's store is raw bytes too)."""

    def __init__(self, path: Path) -> None:
        # The options a faust worker opens its tables with (bloom filter, block cache).
        from faust.stores.rocksdb import RocksDBOptions

        self.db = Rdict(str(path), RocksDBOptions(use_rocksdict=True).as_options())

    def __getitem__(self, key: str) -> str:
        value = self.db.get(key.encode())
        if value is None:
            raise KeyError(key)
        return bytes(value).decode()

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        value = self.db.get(key.encode())
        return default if value is None else bytes(value).decode()

    def __setitem__(self, key: str, value: str) -> None:
        self.db[key.encode()] = value.encode()

    def __delitem__(self, key: str) -> None:
        del self.db[key.encode()]

    def __iter__(self) -> Iterator[str]:
        for key in self.db.keys():  # noqa: SIM118 (an Rdict, not a dict)
            yield bytes(key).decode()

    def __len__(self) -> int:
        return sum(1 for _ in self.db.keys())  # noqa: SIM118

    def write_many(self, items: list[tuple[str, str]]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in items:
            batch.put(key.encode(), value.encode())
        self.db.write(batch)


def body(rng: random.Random, n: int = 150) -> str:
    return " ".join(rng.choices(VOCAB, k=n)) + "."


def article(id_: str, text: str) -> Article:
    return Article(
        id=id_, content_hash=content_hash(text), text=text, published_at="2024-11-26T08:00:00Z"
    )


def fill(
    state: MutableMapping[str, str], n: int, config: DedupeConfig, now: float, seed: int
) -> tuple[int, list[str]]:
    """Index ``n`` articles as the stage would; returns (bytes written, a few bodies)."""
    rng = random.Random(seed)
    written = 0
    kept: list[str] = []
    chunk: list[tuple[str, str]] = []
    for i in range(n):
        text = body(rng)
        if i % max(1, n // 500) == 0:
            kept.append(text)
        a = article(f"idx-{i}", text)
        _record, probes = dedupe.scatter(a, config, now)
        chunk.append(("c:" + a.content_hash, f"{a.id} {now:.0f}"))
        for p in probes:
            entry = [[p.article_id, p.published_at, p.vector, p.url, p.seen]]
            chunk.append((p.key, orjson.dumps(entry).decode()))
        # the gather step's record of the verdict, kept for the window
        chunk.append(("d:" + a.id, f'{{"unique":true,"at":{now:.0f}}}'))
        if len(chunk) >= 50_000 or i == n - 1:
            written += sum(len(k) + len(v) for k, v in chunk)
            if isinstance(state, RocksState):
                state.write_many(chunk)
            else:
                state.update(chunk)
            chunk = []
    return written, kept


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(size: int, probes: int, store: str, config: DedupeConfig) -> dict[str, float]:
    now = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-dedupe-bench-"))
    try:
        state: MutableMapping[str, str] = RocksState(tmp / "db") if store == "rocksdb" else {}
        t0 = time.perf_counter()
        written, kept = fill(state, size, config, now, seed=size)
        fill_s = time.perf_counter() - t0
        rng = random.Random(7)
        fresh = []
        for i in range(probes):
            if i % 10 == 0:
                words = rng.choice(kept).split()
                words[rng.randrange(len(words))] = "edited"
                fresh.append(article(f"new-{i}", " ".join(words)))
            else:
                fresh.append(article(f"new-{i}", body(rng)))
        lookups: list[float] = []
        t0 = time.perf_counter()
        dups = 0
        for a in fresh:
            verdict = dedupe_local(a, state, config, now)  # type: ignore[arg-type]
            dups += isinstance(verdict, Duplicate)
        elapsed = time.perf_counter() - t0
        # One band lookup, alone: the cost that must not grow with the index.
        keys = [p.key for a in fresh[:200] for p in dedupe.scatter(a, config, now)[1]]
        for k in keys:
            s = time.perf_counter()
            state.get(k)
            lookups.append(time.perf_counter() - s)
        lookups.sort()
        disk = 0
        if isinstance(state, RocksState):
            state.db.flush()
            state.db.close()
            disk = du(tmp / "db")
        return {
            "size": size,
            "fill_s": fill_s,
            "articles_per_s": probes / elapsed,
            "dups": dups,
            "lookup_us_median": statistics.median(lookups) * 1e6,
            "lookup_us_p99": lookups[int(len(lookups) * 0.99)] * 1e6,
            "bytes_per_article": written / size,
            "disk_per_article": disk / size,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def compare_minhash(num_perm: int, shingle: int) -> None:
    """Signatures per second over bbc-news-2225 bodies (or synthetic ones if it is absent):
    rensa (used), datasketch (if installed) and a hand-written numpy MinHash."""
    import hashlib

    import numpy as np

    from streams.pipeline import fingerprint

    data = Path(__file__).resolve().parents[2] / "shared/data/bbc-news-2225/bbc_news.jsonl"
    if data.exists():
        texts = [orjson.loads(line)["text"] for line in data.read_bytes().splitlines()]
    else:
        rng = random.Random(1)
        texts = [body(rng, 400) for _ in range(2000)]
    sets = [fingerprint.shingles(t, shingle) for t in texts]

    def rate(fn: object) -> float:
        t0 = time.perf_counter()
        for s in sets:
            fn(s)  # type: ignore[operator]
        return len(sets) / (time.perf_counter() - t0)

    from rensa import RMinHash

    def with_rensa(s: list[str]) -> None:
        m = RMinHash(num_perm=num_perm, seed=1)
        m.update(s)
        m.digest()

    gen = np.random.default_rng(1)
    prime = np.uint64((1 << 61) - 1)
    a = gen.integers(1, prime, num_perm, dtype=np.uint64)
    b = gen.integers(0, prime, num_perm, dtype=np.uint64)

    def with_numpy(s: list[str]) -> None:
        h = np.array(
            [int.from_bytes(hashlib.blake2b(x.encode(), digest_size=8).digest()) for x in s],
            dtype=np.uint64,
        )
        (np.outer(h, a) + b).min(axis=0)

    print(f"MinHash, {num_perm} permutations, {len(sets)} bodies of {shingle}-word shingles")
    print(f"  rensa        {rate(with_rensa):9.0f} signatures/s")
    try:
        from datasketch import MinHash

        def with_datasketch(s: list[str]) -> None:
            m = MinHash(num_perm=num_perm, seed=1)
            m.update_batch([x.encode() for x in s])

        print(f"  datasketch   {rate(with_datasketch):9.0f} signatures/s")
    except ImportError:
        print("  datasketch   not installed (pip install datasketch to compare)")
    print(f"  numpy (own)  {rate(with_numpy):9.0f} signatures/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--probe", type=int, default=2000, help="articles run through the stage")
    parser.add_argument("--store", choices=["rocksdb", "dict"], default="rocksdb")
    parser.add_argument("--compare", action="store_true", help="compare MinHash libraries")
    args = parser.parse_args()
    config = DedupeConfig()
    layout = config.layout
    if args.compare:
        compare_minhash(layout.num_perm, layout.shingle)
        return 0
    print(
        f"dedupe stage, {layout.bands} bands x {layout.rows} rows, store {args.store}; python "
        f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        "  indexed   fill s  articles/s  near dups  lookup median us  p99 us  "
        "state B/article  disk B/article"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(size, args.probe, args.store, config)
        print(
            f"  {size:>8,d}  {r['fill_s']:6.0f}  {r['articles_per_s']:10.0f}  {r['dups']:9.0f}"
            f"  {r['lookup_us_median']:16.1f}  {r['lookup_us_p99']:6.1f}"
            f"  {r['bytes_per_article']:15.0f}  {r['disk_per_article']:14.0f}"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
