"""Actors by the names people type (issue 21): the gazetteer resolves acronyms, aliases,
codes and qualifiers to canonical names; extraction emits the same canonical names; a name
the gazetteer lacks matches as text; the derived gazetteer rebuilds to the same file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.extract_quality import TYPED_ACTORS
from streams import schemas, topics
from streams.models import Article, EventRecord, Subscription
from streams.nlp.actors import (
    ActorNames,
    AmbiguousActor,
    actor_names,
    folded_forms,
    strip_qualifiers,
    text_variants,
)
from streams.nlp.gazetteer import Actor, load_actors
from streams.pipeline import query
from streams.pipeline.extract import extract_batch
from streams.pipeline.match import Matcher, parse_subscription
from streams.pipeline.names import Names, load_names

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
VALIDATOR = schemas.validator(topics.SUBSCRIPTIONS.schema_file)


def test_every_typed_armed_group_resolves_to_its_acled_actor() -> None:
    """The bench's typed names (the 30 armed groups ACLED codes most, typed as acronyms or
    short names) reach the actor their ACLED name resolves to, without the data."""
    names = actor_names()
    for acled, typed in TYPED_ACTORS.items():
        expected = names.resolve(acled)
        assert expected is not None, acled
        assert names.resolve(typed) == expected, (typed, acled)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("JNIM", "Jama'at Nasr al-Islam wal Muslimin"),
        ("ISWAP", "Islamic State West Africa Province"),
        ("SPLM-IO", "Sudan People's Liberation Movement-in-Opposition"),
        ("splm io", "Sudan People's Liberation Movement-in-Opposition"),
        ("ADF", "Allied Democratic Forces"),
        ("Ex-Seleka", "Ex-Seleka"),
        ("3R", "Return, Reclamation and Rehabilitation"),
        ("Mai Mai", "Mai-Mai"),
        ("Anti-Balaka", "Anti-Balaka"),
        ("CPC", "Coalition of Patriots for Change"),
        ("UPC", "Union for Peace in the Central African Republic"),
        ("al shabab", "Al-Shabaab"),
        ("JNIM militants", "Jama'at Nasr al-Islam wal Muslimin"),
        ("Ahrar al-Sharqiya", "Ahrar al Sharqiyah"),  # transliteration variant
        ("Military Forces of Nigeria (2015-)", "Military Forces of Nigeria"),
        ("Islamic State (West Africa)", "Islamic State West Africa Province"),
    ],
)
def test_typed_names_resolve(typed: str, canonical: str) -> None:
    assert actor_names().resolve(typed) == canonical


def test_bracketed_qualifiers_give_name_country_and_kind() -> None:
    """ACLED's "Military Forces of Nigeria (2015-)" is the state force of Nigeria."""
    actors = {a.name: a for a in load_actors()}
    nigeria = actors["Military Forces of Nigeria"]
    assert (nigeria.country, nigeria.type) == ("NG", "security_force")
    assert "Military Forces of Nigeria (2015-)" in nigeria.codes
    assert "Military Forces of Nigeria" in strip_qualifiers("Military Forces of Nigeria (2015-)")
    assert actor_names().resolve("Bobo Foo (Kenya)") is None


def test_ambiguous_and_unknown_names() -> None:
    names = ActorNames(
        [
            Actor("Peoples Democratic Party (Nigeria)", ("PDP",), "organization", "NG"),
            Actor("Peoples Democratic Party (Turkey)", ("HDP",), "organization", "TR"),
            Actor("Somali National Army", ("SNA",), "security_force", "SO"),
        ]
    )
    with pytest.raises(AmbiguousActor, match="one of Peoples Democratic Party"):
        names.resolve("Peoples Democratic Party")
    assert names.resolve("SNA") == "Somali National Army"
    assert names.resolve("Zongo Brothers") is None


def test_text_variants_cover_hyphens_and_particles() -> None:
    assert {"Mai-Mai", "Mai Mai"} <= text_variants("Mai-Mai")
    assert {"Al-Shabaab", "al-Shabaab", "al Shabaab"} <= text_variants("Al-Shabaab")
    assert text_variants("JNIM") == {"JNIM"}


def test_included_gazetteers_merge_by_name(tmp_path: Path) -> None:
    (tmp_path / "more.json").write_text(
        json.dumps(
            {
                "actors": [
                    {"name": "Fano", "aliases": ["Fano militia"], "codes": ["Fano (ET)"]},
                    {"name": "Nyatura", "aliases": [], "part_of": ["Mai-Mai"], "type": "x"},
                ]
            }
        )
    )
    (tmp_path / "main.json").write_text(
        json.dumps(
            {
                "include": ["more.json"],
                "actors": [{"name": "Fano", "aliases": ["Fanno"], "type": "armed_group"}],
            }
        )
    )
    actors = {a.name: a for a in load_actors(tmp_path / "main.json")}
    assert actors["Fano"].aliases == ("Fanno", "Fano militia")
    assert actors["Fano"].codes == ("Fano (ET)",) and actors["Fano"].type == "armed_group"
    assert actors["Nyatura"].part_of == ()  # Mai-Mai is in neither file


def extracted(nlp: Any, text: str) -> EventRecord:
    (result,) = extract_batch(nlp, [Article(id="a", content_hash="-", text=text)])
    assert isinstance(result, EventRecord), result
    return result


def test_extraction_emits_canonical_names(nlp: Any) -> None:
    record = extracted(
        nlp,
        "Presumed JNIM militants attacked a village near Djibo. Separately, ex-Seleka and "
        "anti-Balaka fighters clashed in Bambari, and Al shabaab militants shot two men.",
    )
    assert {
        "Jama'at Nasr al-Islam wal Muslimin",
        "Ex-Seleka",
        "Anti-Balaka",
        "Al-Shabaab",
    } <= set(record.actors)


def test_a_part_counts_for_the_whole_and_opponents_are_not_actors(nlp_blank: Any) -> None:
    record = extracted(nlp_blank, "Raia Mutomboki militiamen looted a village in Shabunda.")
    assert {"Raia Mutomboki", "Mai-Mai"} <= set(record.actors)
    record = extracted(nlp_blank, "Anti-Houthi forces shelled a farm near Hays.")
    assert "Houthis" not in record.actors


def test_a_typed_subscription_meets_the_extracted_article(nlp_blank: Any) -> None:
    sub = parse_subscription({"id": "jnim", "actors": ["JNIM"]}, VALIDATOR)
    assert isinstance(sub, Subscription)
    assert sub.actors == {"Jama'at Nasr al-Islam wal Muslimin"}
    record = extracted(nlp_blank, "JNIM militants seized a vehicle near Kaya.")
    ((matched, terms),) = Matcher.of([sub]).match(record)
    assert matched.id == "jnim" and terms == {"actors": ["Jama'at Nasr al-Islam wal Muslimin"]}


@pytest.mark.parametrize(
    ("typed", "text"),
    [
        ("Mai-Mai", "Mai Mai fighters were seen"),
        ("Mai Mai", "a MAI-MAI militia"),
        ("Ex-Seleka", "ex-Seleka elements"),
        ("3R", "the 3R group attacked"),
        ("Anti-Balaka", "antibalaka militias"),
    ],
)
def test_names_the_gazetteer_lacks_match_as_text(typed: str, text: str) -> None:
    """With an empty gazetteer these names are unknown: they match the article's words
    (word-bounded, any case, hyphen or space or none), marked as a text match."""
    names = Names(load_names()._themes, load_names().theme_ids, ActorNames([]))
    node = query.parse(f'actor:"{typed}"', names)
    assert isinstance(node, query.Mention)
    f = query.facts((), (), (), (), (), text)
    assert query.evaluate(node, f)
    assert query.matched_terms(node, f) == {"actors_text": [node.value]}
    assert not query.evaluate(node, query.facts((), (), (), (), (), f"the {typed}s are here"))
    assert query.parse(query.to_text(node), names) == node


def test_an_unknown_actor_alerts_with_a_text_match() -> None:
    sub = parse_subscription({"id": "z", "actors": ["Zongo-Brothers"]}, VALIDATOR)
    assert isinstance(sub, Subscription) and sub.actors == {"Zongo-Brothers"}
    record = EventRecord(
        article_id="a1",
        themes=(),
        primary_theme=None,
        countries=(),
        actors=(),
        places=(),
        evidence=(),
        text="Members of the zongo brothers gang robbed a bus.",
    )
    ((_sub, terms),) = Matcher.of([sub]).match(record)
    assert terms == {"actors_text": ["Zongo-Brothers"]}


@pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} is absent (labelled data)")
def test_the_derived_gazetteer_rebuilds_to_the_committed_file(tmp_path: Path) -> None:
    from streams.nlp.build_actors import OUTPUT, main

    out = tmp_path / "actors_derived.json"
    assert main(["--data", str(DATA), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == OUTPUT.read_text(encoding="utf-8")


def hits(nlp: Any, text: str) -> list[tuple[str, str]]:
    """(words, actor) of the gazetteer's actor hits in ``text``."""
    component = nlp.get_pipe("tocsin_gazetteer")
    doc = component(nlp.make_doc(text))
    return [(doc[h.start : h.end].text, h.label) for h in doc._.actor_hits]


@pytest.mark.parametrize(
    ("text", "actor"),
    [
        ("MAYI-MAYI militiamen looted the market.", "Mai-Mai"),
        ("Mai-mai fighters looted the market.", "Mai-Mai"),
        ("Maï-Maï fighters looted the market.", "Mai-Mai"),
        ("AL-SHABAAB fighters ambushed a convoy.", "Al-Shabaab"),
        ("suspected boko haram insurgents raided the village.", "Boko Haram"),
        ("Ex-seleka elements looted the village.", "Ex-Seleka"),
        ("Shabaab militants ambushed a convoy.", "Al-Shabaab"),
    ],
)
def test_distinctive_armed_group_names_match_in_any_case_and_spelling(
    nlp_blank: Any, text: str, actor: str
) -> None:
    assert actor in {label for _words, label in hits(nlp_blank, text)}


def test_common_words_and_acronyms_keep_their_case(nlp_blank: Any) -> None:
    """ "White Army" folded would be any white army truck; "ADF" folded any "adf"."""
    assert hits(nlp_blank, "A white army truck and the adf file.") == []
    assert ("White Army", "White Army") in hits(nlp_blank, "The White Army attacked Nasir.")


def test_folded_forms_need_a_rare_word_and_no_acronym() -> None:
    assert folded_forms(["Mai-Mai", "Boko Haram", "White Army", "ADF", "SPLM-IO", "Fano"]) == {
        "Mai-Mai",
        "Boko Haram",
    }


@pytest.mark.parametrize(
    "text",
    [
        "The National Academy of Sciences (NAS) studied smoking on airlines.",  # defined so
        "Chinese Petroleum Corp <CPC> signed. CPC said it would buy more.",  # a ticker
        "MARINE <OM> KNOWS NO REASON STOCK IS UP",  # a line in capitals
        "STC PLC YEAR TO END-1986.\n\nShr profit 15.9p vs 2.25p loss.",
        "FARMERS COMMODITIES TO CLEAR FUTURES FOR CO-OPS",  # the end of a compound
        "The MPC judges that growth was higher, and held the interest rate.",  # other meaning
        "The Uganda People's Congress said UPC supporters would march in Lira.",
    ],
)
def test_acronyms_that_mean_something_else_are_no_actor(nlp_blank: Any, text: str) -> None:
    assert hits(nlp_blank, text) == []


def test_acronyms_the_text_uses_for_the_actor_stay(nlp_blank: Any) -> None:
    found = hits(
        nlp_blank,
        "The Coalition of Patriots for Change (CPC) attacked Bambari. CPC and UPC rebels "
        "fled; pro-STC forces and anti-Balaka elements were seen.",
    )
    labels = [label for _words, label in found]
    assert hits(nlp_blank, "A PKK IED killed a soldier.") == [("PKK", "Kurdistan Workers Party")]
    # A long form the gazetteer lacks, sharing the actor's words: another spelling of it.
    text = "The Allied Democratic Forces-National Army for the Liberation of Uganda (ADF-NALU) hit."
    assert ("ADF-NALU", "Allied Democratic Forces") in hits(nlp_blank, text)
    assert labels.count("Coalition of Patriots for Change") == 3
    assert "Union for Peace in the Central African Republic" in labels
    assert "Southern Transitional Council" in labels  # ACLED codes pro-X forces as X
    assert "Anti-Balaka" in labels


@pytest.mark.parametrize(
    ("coded", "canonical"),
    [
        ("Mayi Mayi Militia (Nyatura) Jean-Marie Faction", "Nyatura"),
        ("Boko Haram - Wilayat Al Sudan Al Gharbi", "Islamic State West Africa Province"),
        ("Islamic State (West Africa) - Greater Sahara Faction", "Islamic State Sahel Province"),
        ("3R: Return, Reclamation, Rehabilitation", "Return, Reclamation and Rehabilitation"),
        ("SPLA/M-IO", "Sudan People's Liberation Movement-in-Opposition"),
        ("Africa Corps", "Wagner Group"),
    ],
)
def test_acled_and_later_names_of_african_groups_resolve(coded: str, canonical: str) -> None:
    assert actor_names().resolve(coded) == canonical


def test_a_faction_named_after_a_bracket_reads_as_the_bracketed_group() -> None:
    readings = strip_qualifiers("Mayi Mayi Militia (Nyatura) Jean-Marie Faction")
    assert readings[0] == "Mayi Mayi Militia (Nyatura)"


def test_the_cli_says_what_typed_actors_resolved_to() -> None:
    from streams.cli import describe_resolved

    recording = load_names().recording()
    sub = parse_subscription({"id": "s", "actors": ["JNIM", "Zongo Boys"]}, VALIDATOR, recording)
    assert isinstance(sub, Subscription)
    lines = describe_resolved(recording.resolved)
    assert "  actor 'JNIM' -> Jama'at Nasr al-Islam wal Muslimin" in lines
    assert any("'Zongo Boys': not in the gazetteer; matched as words" in line for line in lines)


def test_an_acronym_two_actors_share_goes_to_the_one_written_so() -> None:
    names = ActorNames(
        [
            Actor("Boko Haram", ("JAS",), "armed_group", "NG"),
            Actor("Levant Front", ("JaS",), "armed_group", "SY"),
        ]
    )
    assert names.resolve("JAS") == "Boko Haram" and names.resolve("JaS") == "Levant Front"
    with pytest.raises(AmbiguousActor):
        names.resolve("jas")


def test_two_word_names_are_also_looked_for_hyphenated() -> None:
    assert {"Boko Haram", "Boko-Haram"} <= text_variants("Boko Haram")


def test_a_hand_kept_acronym_is_not_given_to_a_derived_actor() -> None:
    """ "UPDF" is Uganda's army (hand-kept); ACLED's Indian "UPDF: United People's
    Democratic Front" keeps its full name."""
    from streams.nlp.build_actors import Seen, entry_of

    known = ActorNames([Actor("Uganda People's Defence Force", ("UPDF",), "x", "UG")])
    seen = Seen(inter={"3"})
    target, entry = entry_of("UPDF: United People's Democratic Front", seen, known)
    assert target is None and "UPDF" not in entry.aliases | entry.codes
    target, entry = entry_of("ZPDF: Zed People's Democratic Front", seen, known)
    assert "ZPDF" in entry.aliases
