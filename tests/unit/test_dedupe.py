"""Exact and near-duplicate dedupe as pure functions: the steps the three agents run."""

from __future__ import annotations

import random
from typing import Any

import pytest

from streams.models import Article, Duplicate
from streams.pipeline import dedupe, fingerprint
from streams.pipeline.dedupe import DedupeConfig, dedupe_exact, gather, probe, scatter, sweep
from streams.pipeline.driver import dedupe_local
from streams.pipeline.normalize import content_hash

CONFIG = DedupeConfig()
_VOCAB = (
    "government police minister court election protest army rebels village city council "
    "water market bank report said officials people killed arrested talks capital border "
    "river storm school hospital workers union strike farmers"
)
WORDS = _VOCAB.split()


def body(seed: int, n: int = 180) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(50)) for _ in range(n)) + "."


def edit(text: str, fraction: float, seed: int = 0) -> str:
    """Replace a ``fraction`` of the words (a light or heavy rewrite)."""
    rng = random.Random(seed)
    words = text.split()
    for i in rng.sample(range(len(words)), int(len(words) * fraction)):
        words[i] = "edited" + str(i)
    return " ".join(words)


def article(
    id_: str, text: str, url: str | None = None, published_at: str | None = None
) -> Article:
    return Article(
        id=id_, content_hash=content_hash(text), text=text, url=url, published_at=published_at
    )


def test_first_is_unique_copy_is_exact_duplicate() -> None:
    state: dict[str, str] = {}
    assert isinstance(dedupe_exact(article("a", "Body one."), state, 0.0), Article)
    verdict = dedupe_exact(article("b", "body   ONE."), state, 1.0)
    assert isinstance(verdict, Duplicate)
    assert (verdict.duplicate_of, verdict.kind, verdict.matched_on) == ("a", "exact", "content")
    assert verdict.similarity == 1.0


def test_exact_entries_expire_after_the_window() -> None:
    state: dict[str, str] = {}
    dedupe_exact(article("a", "Body one."), state, 0.0, window_s=100)
    assert isinstance(dedupe_exact(article("b", "Body one."), state, 101.0, 100), Article)
    assert isinstance(dedupe_exact(article("c", "Body one."), state, 150.0, 100), Duplicate)


def test_redelivery_of_the_same_article_passes_again() -> None:
    state: dict[str, str] = {}
    first = article("a", body(1), url="https://x.example/a")
    assert dedupe_local(first, state, CONFIG, 0.0) == first
    assert dedupe_local(first, state, CONFIG, 5.0) == first  # at-least-once replay


def test_lightly_edited_copy_is_a_near_duplicate() -> None:
    state: dict[str, str] = {}
    original = body(1)
    assert isinstance(dedupe_local(article("a", original), state, CONFIG, 0.0), Article)
    verdict = dedupe_local(article("b", edit(original, 0.03)), state, CONFIG, 1.0)
    assert isinstance(verdict, Duplicate)
    assert (verdict.duplicate_of, verdict.kind, verdict.matched_on) == ("a", "near", "minhash")
    assert 0.6 < verdict.similarity <= 1.0


def test_rewrite_and_unrelated_articles_pass() -> None:
    state: dict[str, str] = {}
    original = body(1)
    assert isinstance(dedupe_local(article("a", original), state, CONFIG, 0.0), Article)
    assert isinstance(dedupe_local(article("b", edit(original, 0.5)), state, CONFIG, 1.0), Article)
    assert isinstance(dedupe_local(article("c", body(2)), state, CONFIG, 2.0), Article)


def test_same_url_with_a_new_body_is_an_exact_duplicate() -> None:
    state: dict[str, str] = {}
    dedupe_local(article("a", body(1), "https://x.example/1"), state, CONFIG, 0.0)
    verdict = dedupe_local(article("b", body(2), "https://x.example/1"), state, CONFIG, 1.0)
    assert isinstance(verdict, Duplicate)
    assert (verdict.kind, verdict.matched_on, verdict.duplicate_of) == ("exact", "url", "a")


def test_late_original_is_a_duplicate_of_the_copy_already_emitted() -> None:
    state: dict[str, str] = {}
    copy = article("copy", edit(body(1), 0.03), published_at="2024-11-26T10:00:00Z")
    assert isinstance(dedupe_local(copy, state, CONFIG, 0.0), Article)
    late = article("orig", body(1), published_at="2024-11-26T08:00:00Z")
    verdict = dedupe_local(late, state, CONFIG, 1.0)
    assert isinstance(verdict, Duplicate) and verdict.duplicate_of == "copy"


def _race(order_a: list[int], order_b: list[int]) -> dict[str, Any]:
    """Two copies scattered at once; band ``i`` of each is probed in the given order."""
    a = article("zz-a", body(1), published_at="2024-11-26T08:00:00Z")
    b = article("aa-b", edit(body(1), 0.02), published_at="2024-11-26T09:00:00Z")
    bands_state: dict[str, str] = {}
    gather_state: dict[str, str] = {}
    rec_a, probes_a = scatter(a, CONFIG, 0.0)
    rec_b, probes_b = scatter(b, CONFIG, 0.0)
    verdicts: dict[str, Any] = {}
    for rec in (rec_a, rec_b):
        assert gather(rec, gather_state, 0.0, CONFIG) is None
    reports = []
    for i, (pa, pb) in enumerate(zip(probes_a, probes_b, strict=True)):
        first, second = (pa, pb) if i in order_a else (pb, pa)
        reports += [probe(first, bands_state, 0.0, CONFIG), probe(second, bands_state, 0.0, CONFIG)]
    for report in reports:
        verdict = gather(report, gather_state, 0.0, CONFIG)
        if verdict is not None:
            verdicts[report["article_id"]] = verdict
    return verdicts


@pytest.mark.parametrize("split", [0, 7, 16, 31, 32])
def test_copies_in_flight_together_agree_on_the_earliest_published(split: int) -> None:
    """Whichever copy each band partition saw first, exactly one is the original, and in a
    race (each saw the other somewhere) it is the earlier published one."""
    verdicts = _race(list(range(split)), [])
    assert set(verdicts) == {"zz-a", "aa-b"}
    dups = {k: v for k, v in verdicts.items() if isinstance(v, Duplicate)}
    assert len(dups) == 1
    if split == 32:  # a fully preceded b on every band
        assert dups["aa-b"].duplicate_of == "zz-a"
    elif split == 0:  # b preceded a everywhere: a came second, so it is the copy
        assert dups["zz-a"].duplicate_of == "aa-b"
    else:  # a race: earliest published wins
        assert dups["aa-b"].duplicate_of == "zz-a"


@pytest.mark.parametrize("partitions", [1, 3, 6, 12])
def test_grouped_probes_give_the_verdicts_of_single_probes(partitions: int) -> None:
    """Probes grouped per owning partition (one message each) decide exactly as band-by-band
    probes do, in a race too: a group applies its bands in order, as a partition would."""
    a = article("zz-a", body(1), url="https://x.test/a", published_at="2024-11-26T08:00:00Z")
    b = article("aa-b", edit(body(1), 0.02), published_at="2024-11-26T09:00:00Z")
    c = article("c", body(2))
    scattered = [scatter(x, CONFIG, 0.0) for x in (a, b, c)]
    bands_state: dict[str, str] = {}
    gather_state: dict[str, str] = {}
    verdicts: dict[str, Any] = {}
    for rec, _probes in scattered:
        assert gather(rec, gather_state, 0.0, CONFIG) is None
    groups = [dedupe.group_probes(probes, partitions) for _rec, probes in scattered]
    for _rec, probes in scattered:
        assert sum(len(g.bands) for g in dedupe.group_probes(probes, partitions).values()) == len(
            probes
        )
    # Interleave: partition by partition, b before a on odd partitions (a race).
    for part in range(partitions):
        order = [1, 0, 2] if part % 2 else [0, 1, 2]
        for i in order:
            group = groups[i].get(part)
            if group is None:
                continue
            assert {dedupe.probe_partition(k, partitions) for k, _b in group.bands} == {part}
            wire = dedupe.ProbeGroup.from_dict(dedupe.orjson.loads(orjson_dumps(group.to_dict())))
            report = dedupe.probe_group(wire, bands_state, 0.0, CONFIG)
            verdict = gather(report, gather_state, 0.0, CONFIG)
            if verdict is not None:
                verdicts[report["article_id"]] = verdict
    assert set(verdicts) == {"zz-a", "aa-b", "c"}
    assert isinstance(verdicts["c"], Article) and isinstance(verdicts["zz-a"], Article)
    dup = verdicts["aa-b"]
    assert isinstance(dup, Duplicate) and dup.duplicate_of == "zz-a"


def test_an_article_scattered_again_reports_only_what_was_indexed_before_it() -> None:
    """A worker killed after an article's probes were indexed but before its input offset was
    committed scatters it again. Its second probes come after a copy's, and their reports can
    reach gather first (the first ones sat on a partition waiting for a rebalance). Reporting
    the copy then made each the other's duplicate: a cycle with no original, whose copies never
    joined a story (found by the worker-kill fault test)."""
    a = article("a", body(1), published_at="2024-11-26T08:00:00Z")
    b = article("b", edit(body(1), 0.02), published_at="2024-11-26T09:00:00Z")
    bands_state: dict[str, str] = {}
    gather_state: dict[str, str] = {}
    rec_a, first = scatter(a, CONFIG, 0.0)
    first_reports = [probe(p, bands_state, 0.0, CONFIG) for p in first]  # delivery delayed
    rec_b, probes_b = scatter(b, CONFIG, 1.0)
    assert gather(rec_b, gather_state, 1.0, CONFIG) is None
    verdict_b = [
        gather(probe(p, bands_state, 1.0, CONFIG), gather_state, 1.0, CONFIG) for p in probes_b
    ][-1]
    assert isinstance(verdict_b, Duplicate) and verdict_b.duplicate_of == "a"
    _rec, again = scatter(a, CONFIG, 2.0)  # the redelivered input, scattered again
    assert gather(rec_a, gather_state, 2.0, CONFIG) is None
    verdicts = [
        gather(probe(p, bands_state, 2.0, CONFIG), gather_state, 2.0, CONFIG) for p in again
    ]
    assert verdicts[-1] == a
    # The first, late reports get the same verdict again (any report of a decided article
    # may be the one that completed it, redelivered), and so does a redelivered record.
    assert all(gather(r, gather_state, 3.0, CONFIG) == a for r in first_reports)
    assert gather(rec_a, gather_state, 3.0, CONFIG) == a


def test_a_single_probe_message_is_a_group_of_one() -> None:
    """Band messages sent before grouping existed (one band each) are still understood."""
    _rec, probes = scatter(article("a", body(1)), CONFIG, 0.0)
    group = dedupe.ProbeGroup.from_dict(probes[5].to_dict())
    assert group.bands == ((probes[5].key, 5),)
    report = dedupe.probe_group(group, {}, 0.0, CONFIG)
    assert report == {"type": "bands", "article_id": "a", "reports": {"5": []}}


def test_one_probe_partition_decides_where_it_probes_as_the_gather_would() -> None:
    """With every key on one partition the probe step decides (no gather messages, no gather
    state), with the verdicts the scatter/gather over six partitions reaches."""
    a = article("a", body(1), url="https://x.test/a", published_at="2024-11-26T08:00:00Z")
    items = [
        a,
        article("b", edit(body(1), 0.02), published_at="2024-11-26T09:00:00Z"),  # near copy
        article("c", body(2)),
        article("d", body(3), url="https://x.test/a"),  # same URL, new body
        article("e", edit(body(2), 0.6)),  # a rewrite, not a copy
        a,  # redelivered
    ]
    one = DedupeConfig(probe_partitions=1)
    spread = DedupeConfig(probe_partitions=6)
    state_one: dict[str, str] = {}
    state_spread: dict[str, str] = {}
    got = [dedupe_local(x, state_one, one, 0.0) for x in items]
    assert got == [dedupe_local(x, state_spread, spread, 0.0) for x in items]
    assert [getattr(v, "duplicate_of", None) for v in got] == [None, "a", None, "a", None, None]
    assert not [k for k in state_one if k[:2] in {"a:", "p:", "d:"}]
    assert [k for k in state_spread if k.startswith("d:")]


def test_a_single_group_carries_the_article_and_a_redelivery_gets_the_same_verdict() -> None:
    a = article("a", body(1), published_at="2024-11-26T08:00:00Z")
    b = article("b", edit(body(1), 0.02), published_at="2024-11-26T09:00:00Z")
    state: dict[str, str] = {}
    verdicts = []
    for x in (a, b, b):
        rec, probes = scatter(x, CONFIG, 0.0)
        assert dedupe.single_group(rec, dedupe.group_probes(probes, 6)) is None  # gathered
        single = dedupe.single_group(rec, dedupe.group_probes(probes, 1))
        assert single is not None and single[0] == 0
        wire = dedupe.ProbeGroup.from_dict(dedupe.orjson.loads(orjson_dumps(single[1].to_dict())))
        assert wire.article == x.to_dict()
        verdicts.append(
            dedupe.decide_group(wire, dedupe.probe_group(wire, state, 0.0, CONFIG), CONFIG)
        )
    assert verdicts[0] == a
    assert isinstance(verdicts[1], Duplicate) and verdicts[1] == verdicts[2]
    _rec, probes = scatter(a, CONFIG, 0.0)
    group = dedupe.group_probes(probes, 1)[0]  # no article: its verdict is the gather's
    with pytest.raises(ValueError, match="no article"):
        dedupe.decide_group(group, dedupe.probe_group(group, state, 0.0, CONFIG), CONFIG)


def orjson_dumps(value: Any) -> bytes:
    return dedupe.orjson.dumps(value)


def test_band_buckets_are_bounded_and_expire() -> None:
    config = DedupeConfig(bucket_max=3, window_s=100)
    state: dict[str, str] = {}
    text = body(1)
    for i in range(5):
        _rec, probes = scatter(article(f"x{i}", text), config, float(i))
        probe(probes[0], state, float(i), config)
    (key,) = list(state)
    assert [e[0] for e in dedupe.orjson.loads(state[key])] == ["x2", "x3", "x4"]
    list(sweep(list(state.items()), state, 103.5, config))
    assert [e[0] for e in dedupe.orjson.loads(state[key])] == ["x4"]
    list(sweep(list(state.items()), state, 500.0, config))
    assert state == {}


def test_stalled_gather_is_decided_on_what_it_has_and_redeliveries_are_dropped() -> None:
    state: dict[str, str] = {}
    rec, probes = scatter(article("a", body(1)), CONFIG, 0.0)
    gather(rec, state, 0.0, CONFIG)
    gather(probe(probes[0], {}, 0.0, CONFIG), state, 0.0, CONFIG)
    gather({"type": "band", "article_id": "gone", "band": 0, "candidates": []}, state, 0.0, CONFIG)
    assert list(sweep(list(state.items()), state, 10.0, CONFIG)) == []
    out = list(sweep(list(state.items()), state, CONFIG.gather_timeout_s + 1, CONFIG))
    assert [v.id for v in out if isinstance(v, Article)] == ["a"]
    assert set(state) == {"d:a"}


def test_the_report_that_completed_a_gather_redelivered_gets_the_verdict_again() -> None:
    """A worker killed after the verdict was written, before its record was sent, reads the
    last report again; the article's own message, earlier on the partition, is committed. The
    verdict goes again, a unique article's record with it, until the record's grace ends."""
    state: dict[str, str] = {}
    bands: dict[str, str] = {}
    a = article("a", body(1))
    rec, probes = scatter(a, CONFIG, 0.0)
    reports = [probe(p, bands, 0.0, CONFIG) for p in probes]
    assert gather(rec, state, 0.0, CONFIG) is None
    verdicts = [gather(r, state, 1.0, CONFIG) for r in reports]
    assert verdicts[:-1] == [None] * (len(reports) - 1) and verdicts[-1] == a
    assert gather(reports[-1], state, 2.0, CONFIG) == a  # redelivered
    assert "a:a" in state and "p:a" not in state
    assert list(sweep(list(state.items()), state, CONFIG.gather_timeout_s - 1, CONFIG)) == []
    assert "a:a" in state
    # After the grace, the record goes (no verdict is decided again) and the verdict stays.
    assert list(sweep(list(state.items()), state, CONFIG.gather_timeout_s + 1, CONFIG)) == []
    assert set(state) == {"d:a"}
    assert gather(reports[-1], state, CONFIG.gather_timeout_s + 2, CONFIG) is None
    assert gather(rec, state, CONFIG.gather_timeout_s + 2, CONFIG) == a


def test_estimated_similarity_follows_jaccard() -> None:
    layout = fingerprint.Layout()
    original = body(3, 400)
    for fraction, low, high in [(0.0, 1.0, 1.0), (0.02, 0.7, 1.0), (0.3, 0.0, 0.35)]:
        a = fingerprint.band_vector(
            fingerprint.band_keys(fingerprint.signature(original, layout), layout)
        )
        text = edit(original, fraction)
        b = fingerprint.band_vector(
            fingerprint.band_keys(fingerprint.signature(text, layout), layout)
        )
        estimate = fingerprint.estimate_similarity(len(fingerprint.shared_bands(a, b)), layout)
        assert low <= estimate <= high, (fraction, estimate)


def test_signatures_are_stable_across_processes() -> None:
    """State outlives a process: the same text must give the same bands in a new interpreter."""
    import subprocess
    import sys

    code = (
        "from streams.pipeline import fingerprint as f; l=f.Layout();"
        "print(f.band_keys(f.signature('one two three four five six seven', l), l)[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    layout = fingerprint.Layout()
    here = fingerprint.band_keys(
        fingerprint.signature("one two three four five six seven", layout), layout
    )
    assert out.stdout.strip() == here[0]
