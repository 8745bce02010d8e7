"""Events: roles, negation, hypotheticals, agent rules, primary theme, places, taxonomy files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.models import Article, Event, EventRecord
from streams.nlp import build_nlp
from streams.nlp.gazetteer import DATA_DIR, load_taxonomy
from streams.pipeline.extract import extract_batch

REQUIRED_THEMES = {
    "abduction", "arrest", "protest", "riot", "armed_clash", "attack", "killing",
    "sexual_violence", "explosion", "looting", "ceasefire", "diplomacy", "humanitarian",
    "election",
}  # fmt: skip


def record(nlp: Any, text: str, title: str | None = None) -> EventRecord:
    (result,) = extract_batch(nlp, [Article(id="t", content_hash="-", text=text, title=title)])
    assert isinstance(result, EventRecord), result
    return result


def events_of(rec: EventRecord, theme: str) -> list[Event]:
    return [e for e in rec.events if e.theme == theme]


def test_shipped_taxonomy_covers_the_issue_themes_with_acled_and_plover() -> None:
    taxonomy = load_taxonomy()
    assert set(taxonomy.ids) >= REQUIRED_THEMES
    for theme in taxonomy.themes:
        assert theme.label and theme.triggers and theme.plover, theme.id
    acled = {t.id: t.acled for t in taxonomy.themes}
    assert "Abduction/forced disappearance" in acled["abduction"]
    assert "Arrests" in acled["arrest"]


def test_denied_abduction_is_negated_and_not_a_theme(nlp: Any) -> None:
    rec = record(nlp, "Police denied claims that they abducted the activists in Nairobi.")
    (event,) = events_of(rec, "abduction")
    assert event.negated and event.confidence < 0.5
    assert "abduction" not in rec.themes and rec.countries == ("KE",)


def test_hypothetical_mentions_are_marked_but_a_date_in_may_is_not(nlp: Any) -> None:
    rec = record(nlp, "The opposition threatened to hold protests in Kampala.")
    assert all(e.hypothetical for e in events_of(rec, "protest"))
    assert "protest" not in rec.themes
    rec = record(nlp, "On 2 May 2020, police arrested 4 people in Kampala.")
    assert "arrest" in rec.themes and rec.countries == ("UG",)


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("Five aid workers were detained by militants near Mogadishu.", "abduction"),
        ("Five opposition leaders were detained by police in Mombasa.", "arrest"),
    ],
)
def test_who_detains_decides_arrest_or_abduction(nlp: Any, text: str, theme: str) -> None:
    rec = record(nlp, text)
    assert rec.primary_theme == theme


def test_attack_with_abductions_is_primarily_an_attack(nlp: Any) -> None:
    rec = record(nlp, "Gunmen attacked a village in Zamfara, killing three and abducting five.")
    assert rec.primary_theme == "attack"
    assert {"attack", "killing", "abduction"} <= set(rec.themes)
    assert "NG" in rec.countries


def test_roles_from_the_parse(nlp_model: Any) -> None:
    rec = record(nlp_model, "Gunmen abducted five students in Kaduna on Monday.")
    (event,) = events_of(rec, "abduction")
    assert event.actor == "Gunmen" and event.target == "five students"
    assert [(p.country, p.region) for p in event.places] == [("NG", "NG-KD")]
    assert rec.regions == ("NG-KD",)


def test_passive_agent_is_the_actor_and_gazetteer_names_are_canonical(nlp_model: Any) -> None:
    rec = record(nlp_model, "Two journalists were arrested by the DCI in Nairobi.")
    (event,) = events_of(rec, "arrest")
    assert event.actor == "Directorate of Criminal Investigations"
    assert event.target == "Two journalists"


def test_ambiguous_city_takes_the_country_the_article_names(nlp: Any) -> None:
    assert record(nlp, "Protests in Hyderabad, Pakistan, continued.").countries == ("PK",)
    assert "IN" in record(nlp, "Protests in Hyderabad continued.").countries


def test_theme_file_override_adds_a_theme_without_code(tmp_path: Path) -> None:
    data = json.loads((DATA_DIR / "themes.json").read_text())
    data["themes"].append(
        {
            "id": "cyberattack",
            "label": "Cyber attack",
            "plover": "ASSAULT/cyber",
            "rank": 12,
            "triggers": {"ransomware": 3, "hacked into": 3},
        }
    )
    path = tmp_path / "themes.json"
    path.write_text(json.dumps(data))
    nlp = build_nlp("blank", themes_file=path)
    rec = record(nlp, "Ransomware hit the Kenya Revenue Authority in Nairobi.")
    assert rec.primary_theme == "cyberattack" and rec.countries == ("KE",)


def test_sports_idiom_is_no_event(nlp: Any) -> None:
    rec = record(nlp, "The striker kidnapped the match in stoppage time in Nairobi.")
    assert rec.themes == () and rec.events == ()


def test_detained_militants_are_arrested_not_abductors(nlp: Any) -> None:
    rec = record(nlp, "Five PKK militants were detained by police in Istanbul on Monday.")
    assert rec.primary_theme == "arrest" and "abduction" not in rec.themes
    assert rec.countries == ("TR",)


def test_villages_resolve_when_ner_marks_them(nlp_model: Any) -> None:
    # Lozove (about 2,000 people) is in GeoNames' populated places of 500+; names that small
    # are not phrase-matched everywhere, they count when NER marks a place.
    rec = record(nlp_model, "Shelling hit the village of Lozove in eastern Ukraine.")
    assert ("Lozove", "UA") in [(p.text, p.country) for p in rec.places]


def test_an_ambiguous_name_takes_the_country_of_the_other_places(nlp: Any) -> None:
    # Tripoli alone is Libya's capital; beside Sidon it is Lebanon's second city.
    assert record(nlp, "Protesters marched in Tripoli and Sidon on Sunday.").countries == ("LB",)
    assert record(nlp, "Protesters marched in Tripoli on Sunday.").countries == ("LY",)


def test_armed_groups_give_a_country_when_no_place_is_named(nlp: Any) -> None:
    rec = record(nlp, "Al-Shabaab militants attacked a military base at dawn.")
    assert rec.countries == ("SO",) and rec.places == ()
    # People travel: a leader alone says nothing about where it happened.
    assert record(nlp, "William Ruto held talks with his counterpart.").countries == ()


def test_a_currency_is_not_a_place(nlp: Any) -> None:
    rec = record(nlp, "Protesters angry at the US dollar exchange rate blocked roads in Beirut.")
    assert rec.countries == ("LB",)


def test_a_lynching_is_mob_violence_and_still_a_killing(nlp: Any) -> None:
    rec = record(nlp, "A mob lynched two men accused of cattle theft in Jharkhand.")
    assert rec.primary_theme == "riot" and {"riot", "killing"} <= set(rec.themes)
    assert {e.theme for e in rec.events} == {"riot"}  # the kept reading is not listed


def test_natural_disasters_are_no_killings(nlp: Any) -> None:
    rec = record(nlp, "An earthquake killed 40 people and injured hundreds in Sulawesi.")
    assert not {"killing", "attack"} & set(rec.themes)


def test_an_agreement_after_fighting_is_the_agreement(nlp: Any) -> None:
    rec = record(nlp, "Both sides agreed a ceasefire after the worst fighting in decades.")
    assert rec.primary_theme == "ceasefire" and "armed_clash" in rec.themes


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("Rebels shelled army positions near Donetsk.", "explosion"),
        ("Rebels fired mortars and small arms at army positions near Donetsk.", "armed_clash"),
    ],
)
def test_one_sided_shelling_is_remote_violence_an_exchange_is_a_clash(
    nlp: Any, text: str, theme: str
) -> None:
    rec = record(nlp, text)
    assert rec.primary_theme == theme and rec.countries == ("UA",)


def test_a_second_sentence_escalates_a_protest_but_does_not_replace_the_lead(nlp: Any) -> None:
    rec = record(
        nlp, "Residents demonstrated in Bafoussam on Monday. They burned tyres on the road."
    )
    assert rec.primary_theme == "riot" and "protest" in rec.themes
    rec = record(nlp, "Rebels shelled army positions near Donetsk. Clashes followed in Avdiivka.")
    assert rec.primary_theme == "explosion"
