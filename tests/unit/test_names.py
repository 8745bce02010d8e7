"""What users type in subscriptions (issue 22 items 3 and 9): themes through synonyms,
countries and regions by name or code, unknown values as errors that list the known ones,
schema errors that name the field; the same through the CLI's main()."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import schemas, topics
from streams.cli import main
from streams.models import Rejected, Subscription
from streams.pipeline import query
from streams.pipeline.match import parse_subscription
from streams.pipeline.names import load_names

VALIDATOR = schemas.validator(topics.SUBSCRIPTIONS.schema_file)


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("theme", "kidnapping", "abduction"),
        ("theme", "kidnap", "abduction"),
        ("theme", "Abductions", "abduction"),
        ("theme", "demonstration", "protest"),
        ("theme", "demonstrations", "protest"),
        ("theme", "shooting", "attack"),
        ("theme", "Armed clash", "armed_clash"),
        ("theme", "mob violence", "riot"),
        ("theme", "Peaceful protest", "protest"),  # an ACLED sub-event type
        ("country", "Kenya", "KE"),
        ("country", "KEN", "KE"),
        ("country", "ke", "KE"),
        ("country", "DR Congo", "CD"),
        ("country", "Ivory Coast", "CI"),
        ("country", "Kosovo", "XK"),
        ("region", "KE-30", "KE-30"),
        ("region", "ke-30", "KE-30"),
        ("region", "Nairobi", "KE-30"),
        ("region", "Borno", "NG-BO"),
        ("actor", "JNIM", "Jama'at Nasr al-Islam wal Muslimin"),
        ("actor", "Zongo Brothers", None),
    ],
)
def test_typed_values_resolve(field: str, typed: str, value: str | None) -> None:
    assert load_names().resolve(field, typed) == value


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("theme", "kidnaping", "unknown theme 'kidnaping' (known: abduction, arrest, protest,"),
        ("country", "Kenia", "did you mean Kenya (KE)?"),
        ("country", "XX", "unknown country 'XX'"),
        ("region", "Narnia", "unknown region 'Narnia' (expected a first-level ISO 3166-2"),
        ("region", "Central", "region 'Central' is ambiguous: one of"),
    ],
)
def test_unknown_values_say_what_is_known(field: str, typed: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_names().resolve(field, typed)
    assert message in str(caught.value)


def test_a_subscription_stores_the_resolved_values_and_records_them() -> None:
    recording = load_names().recording()
    data = {
        "id": "s",
        "themes": ["kidnapping", "abduction", "kidnappings"],
        "countries": ["Kenya", "UGA"],
        "regions": ["Nairobi"],
        "actors": ["JNIM"],
        "query": "theme:demonstration AND NOT actor:ISWAP",
    }
    sub = parse_subscription(data, VALIDATOR, recording)
    assert isinstance(sub, Subscription)
    assert sub.themes == {"abduction"} and sub.countries == {"KE", "UG"}
    assert sub.regions == {"KE-30"} and sub.actors == {"Jama'at Nasr al-Islam wal Muslimin"}
    assert sub.query == data["query"]  # kept as typed; resolved when compiled
    assert recording.resolved == {
        "themes": {
            "kidnapping": "abduction",
            "kidnappings": "abduction",
            "demonstration": "protest",
        },
        "countries": {"Kenya": "KE", "UGA": "UG"},
        "regions": {"Nairobi": "KE-30"},
        "actors": {
            "JNIM": "Jama'at Nasr al-Islam wal Muslimin",
            "ISWAP": "Islamic State West Africa Province",
        },
    }


def test_a_query_resolves_typed_values_with_positions_for_errors() -> None:
    names = load_names()
    node = query.parse('theme:kidnapping AND actor:"JNIM"', names)
    assert node == query.And(
        (
            query.Term("theme", "abduction"),
            query.Term("actor", "jama'at nasr al-islam wal muslimin"),
        )
    )
    with pytest.raises(query.QueryError) as caught:
        query.parse("country:KE AND theme:bogus", names)
    assert caught.value.position == 21 and "known: abduction" in caught.value.reason


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"id": "empty"},
            "a subscription needs a query or at least one non-empty facet (themes, countries,",
        ),
        ({"id": "e", "themes": []}, "needs a query or at least one non-empty facet"),
        ({"id": "x y", "themes": ["riot"]}, "id: 'x y' is not 1-128 letters, digits"),
        ({"id": "m", "themes": ["riot"], "mode": "weekly"}, "mode: 'weekly' is not one of"),
        ({"id": "c", "themes": ["riot"], "min_confidence": "high"}, "expected number, got a"),
        ({"id": "c", "themes": ["riot"], "min_confidence": 2}, "expected a number <= 1"),
        ({"id": "u", "themes": ["riot"], "colour": "red"}, "colour: unknown field (expected"),
        ({"id": "w", "themes": ["riot"], "webhook": {"url": "x"}}, "webhook/secret: required"),
        ({"id": "t", "themes": ["riot", 5]}, "themes/1: expected string, got an integer"),
        ({"id": "k", "themes": ["kidnaping"]}, "themes/0: unknown theme 'kidnaping'"),
        ({"id": "k", "countries": ["KE", "Kenia"]}, "countries/1: unknown country 'Kenia'"),
        ([1, 2], "(root): expected a JSON object, got an array"),
    ],
)
def test_errors_name_the_field_and_what_is_expected(data: object, message: str) -> None:
    """Issue 22 item 9: an empty subscription said "(root): {...} is not valid under any
    of the given schemas"."""
    outcome = parse_subscription(data, VALIDATOR)
    assert isinstance(outcome, Rejected)
    assert message in outcome.error, outcome.error
    assert "is not valid under any of the given schemas" not in outcome.error
    assert "{'" not in outcome.error  # no whole value dumped


def test_the_cli_rejects_unknown_values_with_exit_2_before_any_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A port nothing listens on: the command must fail before it would connect.
    monkeypatch.setenv("TOCSIN_BROKER", "127.0.0.1:9")
    assert main(["subscriptions", "add", "--theme", "kidnaping"]) == 2
    err = capsys.readouterr().err
    assert "themes/0: unknown theme 'kidnaping' (known: abduction, arrest," in err
    assert main(["subscriptions", "add", "--theme", "riot", "--country", "Kenia"]) == 2
    assert "did you mean Kenya (KE)?" in capsys.readouterr().err
    assert main(["subscriptions", "add"]) == 2
    assert "needs a query or at least one non-empty facet" in capsys.readouterr().err
    bad = tmp_path / "subs.yaml"
    bad.write_text("- id: a\n  themes: [kidnapping]\n- id: b\n  themes: [bogus]\n")
    assert main(["subscriptions", "load", str(bad)]) == 2
    assert "subscription #2: themes/0: unknown theme 'bogus'" in capsys.readouterr().err
