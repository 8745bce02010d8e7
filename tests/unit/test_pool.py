"""The extraction process pool: same records as in-process, and the event loop stays free."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from streams.cli import main
from streams.models import Article, EventRecord
from streams.nlp.pool import ExtractPool, ModelSpec
from streams.pipeline.extract import extract_batch
from tests.conftest import KENYA_PAGE

TEXTS = [
    "Gunmen abducted five students in Kaduna on Monday.",
    "Police arrested 12 protesters in Nairobi after the march.",
    "Nothing of note happened in Paris today.",
    "Shelling hit a market in Donetsk, killing four.",
]


def articles(n: int) -> list[Article]:
    # Long enough that a batch keeps both processes busy for a while.
    return [
        Article(id=f"p{i}", content_hash="-", text=" ".join(TEXTS[i % 4 :] + TEXTS[: i % 4]) * 20)
        for i in range(n)
    ]


async def _run_pool(batch: list[Article]) -> tuple[list[Any], list[str], float]:
    pool = ExtractPool(ModelSpec("blank"), processes=2)
    try:
        loaded = await pool.start()
        worst_lag = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            # What faust's heartbeat needs: the loop gets control every few milliseconds.
            nonlocal worst_lag
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                worst_lag = max(worst_lag, time.perf_counter() - before - 0.01)

        tick = asyncio.create_task(ticker())
        results = await pool.extract(batch)
        done.set()
        await tick
        return results, loaded, worst_lag
    finally:
        pool.close()


def test_pool_matches_in_process_extraction_and_keeps_the_loop_free(nlp_blank: Any) -> None:
    batch = articles(64)
    results, loaded, worst_lag = asyncio.run(_run_pool(batch))
    assert len(loaded) == 2 and len({line.split()[-1] for line in loaded}) == 2  # two pids
    assert all(line.startswith("blank-en") for line in loaded)
    expected = extract_batch(nlp_blank, batch)
    assert [r.to_dict() for r in results if isinstance(r, EventRecord)] == [
        r.to_dict() for r in expected if isinstance(r, EventRecord)
    ]
    assert len(results) == len(batch)
    # A blocking call would hold the loop for the whole batch (many seconds). The bound is
    # generous because on two cores both extraction processes compete with this one for CPU,
    # and the OS alone can delay it by a few hundred ms; faust's heartbeat tolerates seconds.
    assert worst_lag < 2.0, f"event loop blocked for {worst_lag:.2f}s"


def test_cli_extract_prints_events_with_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(KENYA_PAGE), "--model", "blank"]) == 0
    out = capsys.readouterr().out
    assert "primary=abduction" in out and "countries=KE" in out
    assert "- abduction [" in out and "William Ruto" in out
