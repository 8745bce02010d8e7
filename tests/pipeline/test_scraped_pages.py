"""The scraped pages users feed in: captions of other stories are gone after cleaning, and the
events extracted from what remains are about Kenya and abductions, not Ukraine or Israel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams import codecs, schemas, topics
from streams.models import Article
from streams.pipeline import extract
from streams.pipeline.validate import validate_article
from streams.sources.files import parse_text_page
from tests.conftest import KENYA_PAGE, REPO

SHARED_EXAMPLE = REPO.parent / "shared" / "examples" / "raw-scraped-article.txt"
CAPTION_WORDS = ("Getty", "NurPhoto", "Ukrinform", "Kyiv", "Hamas", "Gaza", "during a past meeting")


def _page(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not beside this checkout)")
    return path


@pytest.fixture(params=["shared-example", "kenya-sample"])
def page(request: pytest.FixtureRequest) -> Path:
    return _page(SHARED_EXAMPLE if request.param == "shared-example" else KENYA_PAGE)


def _clean(path: Path) -> Article:
    raw = parse_text_page(path.read_text(encoding="utf-8"))
    outcome = validate_article(
        codecs.dumps(raw), schemas.validator(topics.ARTICLES_RAW.schema_file)
    )
    assert isinstance(outcome, Article), outcome
    return outcome


def test_cleaned_text_has_no_caption_lines(page: Path) -> None:
    article = _clean(page)
    for word in CAPTION_WORDS:
        assert word not in article.text, word
    assert "abduct" in article.text
    assert article.language == "en"
    assert article.title and "[" not in article.title
    lines = article.text.split("\n")
    assert len(lines) >= 8 and all(line.rstrip().endswith((".", '"', "”")) for line in lines)


def test_events_carry_kenya_and_abduction_only(page: Path, nlp: Any) -> None:
    article = _clean(page)
    (record,) = extract.extract_batch(nlp, [article])
    assert not hasattr(record, "error_type"), record
    assert "KE" in record.countries
    assert "abduction" in record.themes
    assert not {"UA", "IL", "PS"} & set(record.countries), record.countries
