"""Stage ``dedupe``: exact copies, then near-duplicates by MinHash/LSH scatter/gather.

Three steps, each a pure function over a ``MutableMapping[str, str]`` (a faust table partitioned
like the step's input topic on a worker, or for the band index a local store rebuilt from the
probe topic; a dict in the local driver):

1. :func:`dedupe_exact` (input keyed by content hash): a body seen before under another id is an
   exact duplicate at once. Otherwise :func:`scatter` cuts the article into one probe per LSH
   band (keyed by band hash) plus one for its canonical URL, and the record the gather step
   starts from (keyed by article id).
2. :func:`probe_group` (input partitioned by band key, so every pair sharing a band meets on
   one partition): for each band, report the articles indexed under it, then index this one.
   An article's bands are grouped per owning partition (:func:`group_probes`), one message each.
3. :func:`gather` (input keyed by article id): once the article and all its band reports are
   in, :func:`decide` whether it is unique or a copy.

When all of an article's keys live on one partition (``probe_partitions`` 1, the default) the
one probe message carries the article (:func:`single_group`) and step 2 decides at once
(:func:`decide_group`, the same :func:`decide`): no gather message, no gather state.

Who is the original. On every band two articles share, one of them was indexed first, because a
partition is processed in order. If ``A`` found ``C`` on *every* band they share (and so ``C``
found ``A`` on none), ``C`` was decided without knowing ``A``: ``A`` is the copy, whatever their
dates. If each found the other on some band, they were in flight together (two workers, or
interleaved partitions); then both sides apply the same rule, earliest ``published_at`` (unknown
dates last), then smallest id, is the original, so they always agree and never drop each other.
(One worker scattering a batch sends each article's probes before the next one's, so near
copies sent together are sequential there: the first scattered is the original.)

The consequence, chosen on purpose: an article that arrives after its copy was already emitted
as unique is marked a duplicate of that copy, even if it was published earlier. The copy's
alerts are already out and cannot be recalled; passing the late original as well would alert
twice for one story, which is what deduplication is there to prevent. ``duplicate_of`` then
names the copy that was emitted. Among several qualifying candidates the earliest
(``published_at``, id) is named.

State is bounded inside the stage (no retention on changelog topics, faust-streaming #597):
every entry carries the time it was indexed, entries older than ``window_s`` are ignored and
dropped whenever a key is touched, :func:`sweep` removes the rest, and a band bucket keeps at
most ``bucket_max`` entries (the newest), so a lookup costs the same at 10k or 1M articles.

Seeing the *same* article id again is a redelivery (at-least-once), not a duplicate: the exact
step passes it again, a probe of an article already indexed reports only what was indexed
before it (as its first probe did; a copy indexed in between found *it*, and reporting that copy
back made each the other's duplicate, a cycle with no original), and the gather step re-emits
the verdict it recorded the first time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from streams.models import Article, Duplicate
from streams.pipeline import fingerprint
from streams.pipeline.fingerprint import Layout
from streams.settings import Settings

STAGE = "dedupe"
DAY = 86_400.0


@dataclass(frozen=True)
class DedupeConfig:
    """Threshold, LSH layout and state bounds (``TOCSIN_DEDUPE_*``; defaults measured in
    ``docs/quality.md``)."""

    threshold: float = 0.5
    layout: Layout = field(default_factory=Layout)
    window_s: float = 14 * DAY
    bucket_max: int = 32
    gather_timeout_s: float = 3600.0
    # Partitions an article's band probes are spread over (group_probes): one message each.
    probe_partitions: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> DedupeConfig:
        return cls(
            threshold=settings.dedupe_threshold,
            layout=Layout(settings.dedupe_bands, settings.dedupe_rows, settings.dedupe_shingle),
            window_s=settings.dedupe_window_days * DAY,
            bucket_max=settings.dedupe_bucket_max,
            gather_timeout_s=settings.dedupe_gather_timeout,
            probe_partitions=settings.dedupe_probe_partitions,
        )


def url_key(url: str) -> str:
    return "u:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


def _epoch(published_at: str | None) -> float | None:
    if not published_at:
        return None
    try:
        return datetime.fromisoformat(published_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def order_key(published: float | None, article_id: str) -> tuple[float, str]:
    """Earliest published first, unknown dates last, then the id: the original of a race."""
    return (math.inf if published is None else published, article_id)


# -- 1. exact --------------------------------------------------------------------------------


def dedupe_exact(
    article: Article, state: MutableMapping[str, str], now: float, window_s: float = 14 * DAY
) -> Article | Duplicate:
    """The article if its body is new (or it is a redelivery), else an exact :class:`Duplicate`.

    ``state`` maps ``c:<content hash>`` to ``"<first id> <indexed at>"``.
    """
    key = "c:" + article.content_hash
    entry = state.get(key)
    if entry is not None:
        first, _, seen = entry.partition(" ")
        if first != article.id and now - float(seen) <= window_s:
            return Duplicate(
                article_id=article.id,
                duplicate_of=first,
                kind="exact",
                similarity=1.0,
                matched_on="content",
                title=article.title,
                url=article.url,
                source=article.source,
                published_at=article.published_at,
            )
        if first == article.id:
            return article
    state[key] = f"{article.id} {now:.0f}"
    return article


# -- scatter ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One band (or the URL) of one article: ``news.dedupe.bands.v1``, key ``key``."""

    key: str
    article_id: str
    band: int  # 0..bands-1; ``bands`` is the URL
    published_at: str | None
    vector: str
    url: str | None
    seen: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "article_id": self.article_id,
            "band": self.band,
            "published_at": self.published_at,
            "vector": self.vector,
            "url": self.url,
            "seen": self.seen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Probe:
        return cls(
            key=data["key"],
            article_id=data["article_id"],
            band=int(data["band"]),
            published_at=data.get("published_at"),
            vector=data["vector"],
            url=data.get("url"),
            seen=float(data["seen"]),
        )


def scatter(
    article: Article, config: DedupeConfig, now: float
) -> tuple[dict[str, Any], list[Probe]]:
    """The gather record (``type: article``) and one :class:`Probe` per band and URL."""
    layout = config.layout
    keys = fingerprint.band_keys(fingerprint.signature(article.text, layout), layout)
    vector = fingerprint.band_vector(keys)
    url = url_key(article.url) if article.url else None
    probes = [
        Probe(k, article.id, i, article.published_at, vector, url, now) for i, k in enumerate(keys)
    ]
    if url:
        probes.append(Probe(url, article.id, layout.bands, article.published_at, vector, url, now))
    record = {
        "type": "article",
        "article_id": article.id,
        "article": article.to_dict(),
        "vector": vector,
        "url": url,
        "expected": len(probes),
    }
    return record, probes


def probe_partition(key: str, partitions: int) -> int:
    """The partition of ``news.dedupe.bands.v1`` that owns band (or URL) key ``key``.

    Chosen here rather than by the producer's key hash so that one message can carry all of an
    article's bands that live on one partition (see :func:`group_probes`)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big") % partitions


@dataclass(frozen=True)
class ProbeGroup:
    """The probes of one article whose keys live on one partition: one band-topic message.

    Sending each of an article's 33 probes (and getting 33 reports back) as its own message
    made dedupe the cost of the whole pipeline (per-message framework overhead, not hashing);
    grouped, an article costs at most ``partitions`` probe and report messages."""

    article_id: str
    published_at: str | None
    vector: str
    url: str | None
    seen: float
    bands: tuple[tuple[str, int], ...]  # (key, band) pairs
    # The whole article, when this group holds every one of its keys (see single_group):
    # the probe step then decides at once and there is nothing to gather.
    article: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "group",
            "article_id": self.article_id,
            "published_at": self.published_at,
            "vector": self.vector,
            "url": self.url,
            "seen": self.seen,
            "bands": [list(b) for b in self.bands],
        }
        if self.article is not None:
            out["article"] = self.article
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeGroup:
        if data.get("type") != "group":
            # A single probe (the pre-grouping message format) is a group of one.
            p = Probe.from_dict(data)
            return cls(p.article_id, p.published_at, p.vector, p.url, p.seen, ((p.key, p.band),))
        return cls(
            article_id=data["article_id"],
            published_at=data.get("published_at"),
            vector=data["vector"],
            url=data.get("url"),
            seen=float(data["seen"]),
            bands=tuple((str(k), int(b)) for k, b in data["bands"]),
            article=data.get("article"),
        )


def group_probes(probes: Iterable[Probe], partitions: int) -> dict[int, ProbeGroup]:
    """An article's probes grouped by the partition that owns their keys."""
    grouped: dict[int, list[Probe]] = {}
    for p in probes:
        grouped.setdefault(probe_partition(p.key, partitions), []).append(p)
    return {
        part: ProbeGroup(
            ps[0].article_id,
            ps[0].published_at,
            ps[0].vector,
            ps[0].url,
            ps[0].seen,
            tuple((p.key, p.band) for p in ps),
        )
        for part, ps in sorted(grouped.items())
    }


def single_group(
    record: dict[str, Any], groups: dict[int, ProbeGroup]
) -> tuple[int, ProbeGroup] | None:
    """The one probe group, carrying the article, when all of an article's keys live on one
    partition (always so with ``probe_partitions`` 1): its probe step decides at once
    (:func:`decide_group`), which saves the gather step's two messages and five state writes
    per article. ``None`` when the probes are spread: they are gathered."""
    if len(groups) != 1:
        return None
    ((partition, group),) = groups.items()
    return partition, replace(group, article=record["article"])


# -- 2. probe ---------------------------------------------------------------------------------

# An index entry: [article id, published_at, band vector, url key, indexed at].
Entry = list[Any]


def _live(entries: Iterable[Entry], now: float, window_s: float) -> list[Entry]:
    return [e for e in entries if now - float(e[4]) <= window_s]


def probe(
    message: Probe, state: MutableMapping[str, str], now: float, config: DedupeConfig
) -> dict[str, Any]:
    """Report the live entries under ``message.key`` (``type: band``), then index the article.

    An article already indexed here (a redelivered probe, or its input scattered again after a
    crash) gets the report of its first probe: only the entries indexed before it. Those after
    it found it; reporting them too could make the two articles each other's copy."""
    raw = state.get(message.key)
    entries = _live(orjson.loads(raw), now, config.window_s) if raw else []
    mine = next((n for n, e in enumerate(entries) if e[0] == message.article_id), None)
    others = entries if mine is None else entries[:mine]
    report = {
        "type": "band",
        "article_id": message.article_id,
        "band": message.band,
        "candidates": [
            {"id": e[0], "published_at": e[1], "vector": e[2], "url": e[3]} for e in others
        ],
    }
    if mine is not None:
        return report  # indexed already: the bucket stays as it is
    others.append(
        [message.article_id, message.published_at, message.vector, message.url, message.seen]
    )
    state[message.key] = orjson.dumps(others[-config.bucket_max :]).decode()
    return report


def probe_group(
    group: ProbeGroup, state: MutableMapping[str, str], now: float, config: DedupeConfig
) -> dict[str, Any]:
    """:func:`probe` for every band of ``group``, in order; one report (``type: bands``)."""
    reports: dict[str, Any] = {}
    for key, band in group.bands:
        single = Probe(
            key, group.article_id, band, group.published_at, group.vector, group.url, group.seen
        )
        reports[str(band)] = probe(single, state, now, config)["candidates"]
    return {"type": "bands", "article_id": group.article_id, "reports": reports}


def decide_group(
    group: ProbeGroup, report: dict[str, Any], config: DedupeConfig
) -> Article | Duplicate:
    """The verdict of an article whose every key was probed in ``group`` (which carries the
    article, see :func:`single_group`), from that probe's ``report``. A redelivered group
    reports what it reported the first time (see :func:`probe`), so it gets the same verdict."""
    if group.article is None:
        raise ValueError(f"probe group of {group.article_id} has no article: gather it")
    record = {"article": group.article, "vector": group.vector, "url": group.url}
    return decide(record, {int(k): v for k, v in report["reports"].items()}, config)


# -- 3. gather and decide ---------------------------------------------------------------------


def decide(
    record: dict[str, Any], reports: dict[int, list[dict[str, Any]]], config: DedupeConfig
) -> Article | Duplicate:
    """Unique or a copy, from the article's record and its band reports (see module doc)."""
    article = Article.from_dict(record["article"])
    layout = config.layout
    me = order_key(_epoch(article.published_at), article.id)
    found: dict[str, set[int]] = {}
    info: dict[str, dict[str, Any]] = {}
    for band, candidates in reports.items():
        for cand in candidates:
            found.setdefault(cand["id"], set()).add(band)
            info[cand["id"]] = cand
    best: tuple[tuple[float, str], Duplicate] | None = None
    for cid, bands_found in found.items():
        cand = info[cid]
        shared = fingerprint.shared_bands(record["vector"], cand["vector"])
        similarity = fingerprint.estimate_similarity(len(shared), layout)
        same_url = bool(record.get("url")) and record.get("url") == cand.get("url")
        if similarity < config.threshold and not same_url:
            continue
        if same_url:
            shared.add(layout.bands)
        theirs = order_key(_epoch(cand.get("published_at")), cid)
        # Found on every shared band: it was indexed (and decided) before this article was.
        preceded = shared <= bands_found
        if not preceded and not theirs < me:
            continue
        verdict = Duplicate(
            article_id=article.id,
            duplicate_of=cid,
            kind="exact" if same_url else "near",
            similarity=round(similarity, 4),
            matched_on="url" if same_url else "minhash",
            title=article.title,
            url=article.url,
            source=article.source,
            published_at=article.published_at,
        )
        if best is None or theirs < best[0]:
            best = (theirs, verdict)
    return article if best is None else best[1]


def _encode_verdict(verdict: Article | Duplicate) -> str:
    if isinstance(verdict, Duplicate):
        return orjson.dumps({"duplicate": verdict.to_dict()}).decode()
    return orjson.dumps({"unique": True}).decode()


def gather(
    message: dict[str, Any], state: MutableMapping[str, str], now: float, config: DedupeConfig
) -> Article | Duplicate | None:
    """Add one gather message; the verdict once the article and all its reports are in.

    ``state`` holds ``a:<id>`` (the article's record, written once), ``p:<id>`` (the reports
    so far and how many are expected: small, rewritten per report, so a report does not
    re-serialise the article body) and ``d:<id>`` (the verdict, kept for the window so a
    redelivered article gets the same one again).

    A redelivered report of a decided article gets the verdict again too: the report that
    completed the gather may come again after a crash (the verdict written, its record not
    sent), while the article's own message, earlier on the partition, is committed. So the
    article's record stays ``gather_timeout_s`` after it came (:func:`sweep`), for the
    verdict of a unique article; a report redelivered later than that gets nothing.
    """
    article_id = message["article_id"]
    raw = state.get("p:" + article_id)
    # A pending gather means not decided yet: one lookup instead of two per band report.
    done = state.get("d:" + article_id) if raw is None else None
    if done is not None:
        stored = orjson.loads(done)
        if "duplicate" in stored:
            return Duplicate(**stored["duplicate"])
        if message["type"] == "article":
            return Article.from_dict(message["article"])
        record = state.get("a:" + article_id)
        return None if record is None else Article.from_dict(orjson.loads(record)["article"])
    pending: dict[str, Any] = orjson.loads(raw) if raw else {"since": now, "reports": {}}
    if message["type"] == "article":
        state["a:" + article_id] = orjson.dumps({**message, "since": now}).decode()
        pending["expected"] = message["expected"]
    elif message["type"] == "bands":
        pending["reports"].update(message["reports"])
    else:
        pending["reports"][str(message["band"])] = message["candidates"]
    if "expected" not in pending or len(pending["reports"]) < pending["expected"]:
        state["p:" + article_id] = orjson.dumps(pending).decode()
        return None
    return _finish(article_id, pending, state, now, config, keep_record=True)


def _finish(
    article_id: str,
    pending: dict[str, Any],
    state: MutableMapping[str, str],
    now: float,
    config: DedupeConfig,
    keep_record: bool = False,
) -> Article | Duplicate:
    record = orjson.loads(state["a:" + article_id])
    reports = {int(k): v for k, v in pending["reports"].items()}
    verdict = decide(record, reports, config)
    state["d:" + article_id] = _encode_verdict(verdict)[:-1] + f',"at":{now:.0f}}}'
    # The record stays for a redelivered report (see gather) unless no message decided.
    for prefix in ("p:",) if keep_record else ("p:", "a:"):
        if prefix + article_id in state:
            del state[prefix + article_id]
    return verdict


# -- expiry -----------------------------------------------------------------------------------


def sweep(
    items: Iterable[tuple[str, str]],
    state: MutableMapping[str, str],
    now: float,
    config: DedupeConfig,
) -> Iterator[Article | Duplicate]:
    """Drop what the window has passed in ``items`` (one partition's keys of any dedupe table).

    A gather that waited ``gather_timeout_s`` for reports that never came (possible only if a
    band message was lost) is decided on what it has, so the article is still emitted; a
    decided article's record goes then too (see :func:`gather`); reports with no article are
    redeliveries for a decided one and are dropped.
    """
    for key, raw in list(items):
        if key.startswith("c:"):
            if now - float(raw.partition(" ")[2]) > config.window_s:
                del state[key]
        elif key.startswith("d:"):
            if now - float(orjson.loads(raw).get("at", 0)) > config.window_s:
                del state[key]
        elif key.startswith("a:"):
            if now - float(orjson.loads(raw)["since"]) <= config.gather_timeout_s:
                continue
            if "d:" + key[2:] in state:
                del state[key]  # decided: kept for a redelivered report until now
            else:
                reports = state.get("p:" + key[2:])
                pending = orjson.loads(reports) if reports else {"reports": {}}
                yield _finish(key[2:], pending, state, now, config)
        elif key.startswith("p:"):
            pending = orjson.loads(raw)
            stale = now - float(pending["since"]) > config.gather_timeout_s
            if stale and "a:" + key[2:] not in state and key in state:
                del state[key]  # reports of an article that was decided (or swept) already
        else:
            live = _live(orjson.loads(raw), now, config.window_s)
            if not live:
                del state[key]
            elif len(live) != len(orjson.loads(raw)):
                state[key] = orjson.dumps(live).decode()
