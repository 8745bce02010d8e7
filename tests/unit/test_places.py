"""Places reasoned like a geocoder (issues 21 and 25): the resolver on its own (pure, with
made-up readings) and the traps the issues name, through the extraction stage with both
pipelines."""

from __future__ import annotations

from typing import Any

import pytest

from streams.models import Article, EventRecord
from streams.nlp.gazetteer import PlaceName, place_readings, unit_readings
from streams.pipeline.extract import extract_batch
from streams.pipeline.places import Mention, resolve

# -- the resolver, on readings made up for the test ------------------------------------------

READINGS = {
    "Capital": (PlaceName("AA", None, "city", 2_000_000), PlaceName("BB", None, "city", 300)),
    "Hamlet": (PlaceName("CC", None, "city", 600),),
    "Twin": (PlaceName("AA", None, "city", 40_000), PlaceName("BB", None, "city", 45_000)),
    "Province": (PlaceName("BB", "BB-P", "region", 1_500_000),),
    "Realm": (PlaceName("AA", None, "country"),),
    "Realmish": (PlaceName("BB", None, "demonym"),),
    # A demonym that is also a town's other name ("Thai"), and a region of two words.
    "Townish": (PlaceName("BB", None, "demonym"), PlaceName("CC", None, "alternate", 400_000)),
    "New Province": (PlaceName("AA", "AA-N", "region", 3_000_000),),
    "Old Province": (PlaceName("BB", "BB-O", "region", 2_000_000),),
    # A country's name that is also a large unit of another country ("Georgia").
    "Namesake": (PlaceName("AA", None, "country"), PlaceName("BB", "BB-N", "region", 5_000_000)),
    # A large region, and a town of the same name elsewhere ("Delta").
    "Split": (PlaceName("AA", "AA-S", "region", 800_000), PlaceName("BB", None, "city", 30_000)),
    # A region whose villages the data barely knows, and a big city of the same name.
    "Port": (PlaceName("AA", None, "district", 900_000), PlaceName("BB", "BB-R", "region", 1000)),
    # A province of 100,000 people by the data's count, and a town of 40,000 elsewhere.
    "Uplands": (PlaceName("AA", "AA-U", "region", 100_000),),
    "Faraway": (PlaceName("CC", None, "city", 40_000),),
    # A county of one country that is a district's name in another ("Busia").
    "Border": (
        PlaceName("AA", "AA-B", "region", 150_000),
        PlaceName("BB", None, "district", 60_000),
    ),
    "Villa": (PlaceName("BB", None, "city", 3_000),),
    # Real countries where units' words matter (ISO 3166-2 types): Nigeria's states, a
    # Canadian city, a US county ("Delta"); Myanmar's states beside an Indian city.
    "Estuary": (
        PlaceName("NG", "NG-DE", "region", 1_500_000),
        PlaceName("CA", None, "city", 100_000),
        PlaceName("US", None, "district", 17_000),
    ),
    "Hills": (PlaceName("IN", None, "city", 900_000), PlaceName("MM", "MM-14", "region", 1000)),
}


def lookup(key: str) -> tuple[PlaceName, ...]:
    return READINGS.get(key, ())


def at(*keys: str, **flags: Any) -> list[Mention]:
    return [Mention(key, n * 10, 0, **flags) for n, key in enumerate(keys)]


def test_a_famous_place_beats_its_small_namesake() -> None:
    result = resolve(at("Capital"), lookup)
    assert result.countries == ["AA"] and not next(iter(result.places.values())).ambiguous


def test_the_other_places_of_the_article_decide_an_ambiguous_name() -> None:
    assert resolve(at("Twin", "Province"), lookup).countries == ["BB"]
    assert resolve(at("Twin", "Realm"), lookup).countries == ["AA"]


def test_near_equal_readings_are_ambiguous_and_give_no_country() -> None:
    result = resolve(at("Twin"), lookup)
    assert result.countries == [] and all(p.ambiguous for p in result.places.values())


def test_a_lone_small_place_is_kept_as_ambiguous_without_a_country() -> None:
    result = resolve(at("Hamlet"), lookup)
    (place,) = result.places.values()
    assert place.country == "CC" and place.ambiguous and result.countries == []


def test_a_village_written_with_a_larger_unit_it_is_not_in_is_left_out() -> None:
    village, province = Mention("Hamlet", 0, 0, within=("Province",)), Mention("Province", 9, 0)
    result = resolve([village, province], lookup)
    assert result.countries == ["BB"] and village not in result.places


def test_demonyms_are_evidence_and_a_fallback_not_places() -> None:
    assert resolve(at("Twin", "Realmish"), lookup).countries == ["BB"]
    result = resolve(at("Realmish"), lookup)
    assert result.countries == ["BB"] and result.places == {}


def test_a_demonym_is_a_demonym_before_a_namesake_town() -> None:
    result = resolve(at("Townish"), lookup)
    assert result.countries == ["BB"] and result.places == {}


def test_large_regions_of_several_words_are_no_strays() -> None:
    result = resolve(at("New Province", "Old Province"), lookup)
    assert result.countries == ["AA", "BB"]
    assert not any(p.ambiguous for p in result.places.values())
    # A single word can be a common word or a namesake: out of line, it gives no country.
    assert resolve(at("New Province", "Province"), lookup).countries == ["AA"]


def test_armed_actors_home_countries_only_when_no_place_resolves() -> None:
    assert resolve(at("Province"), lookup, hints=["AA"]).countries == ["BB"]
    assert resolve(at("Nowhere"), lookup, hints=["AA"]).countries == ["AA"]


def test_a_weak_mention_needs_support_and_a_common_noun_never_counts() -> None:
    assert resolve(at("Twin", weak=True), lookup).countries == []
    weak = Mention("Twin", 0, 0, weak=True)
    assert resolve([weak, Mention("Province", 9, 0)], lookup).countries == ["BB"]
    common = Mention("Twin", 0, 0, weak=True, common=True)
    result = resolve([common, Mention("Province", 9, 0)], lookup)
    assert result.countries == ["BB"] and common not in result.places


def test_countries_and_famous_cities_count_wherever_their_name_stands() -> None:
    assert resolve(at("Capital", weak=True, common=True), lookup).countries == ["AA"]
    assert resolve(at("Realm", weak=True), lookup).countries == ["AA"]
    # A large region opening an organisation's name ("Texas Instruments") still counts;
    # as the first word of a sentence it needs support.
    assert resolve(at("Province", weak=True, in_name=True), lookup).countries == ["BB"]
    assert resolve(at("Province", weak=True), lookup).countries == []
    # A large region's name of several words is no common word ("a New York investment
    # firm"): it counts after an article too.
    assert resolve(at("New Province", weak=True, common=True), lookup).countries == ["AA"]


def test_a_famous_name_the_text_marks_as_no_place_is_ambiguous_out_of_line() -> None:
    # Standing on its own, a famous city counts even beside another country's places.
    assert "AA" in resolve(at("Capital", "Province"), lookup).countries
    # Opening a longer name ("workers of Paris Confectionery" in an Argentine note), it is
    # kept as an ambiguous place when nothing in the article supports its country ...
    weak = Mention("Capital", 0, 0, weak=True, in_name=True)
    result = resolve([weak, Mention("Province", 9, 0)], lookup)
    assert result.countries == ["BB"] and result.places[weak].ambiguous
    # ... and still counts when the article is there.
    assert resolve([weak, Mention("Realm", 9, 0)], lookup).countries == ["AA"]


def test_fallback_countries_agree_with_the_articles_ambiguous_places() -> None:
    # No place resolves: of the actors' countries, the one the lone village can be in.
    assert resolve(at("Hamlet"), lookup, hints=["AA", "CC"]).countries == ["CC"]
    assert resolve(at("Hamlet"), lookup, hints=["AA"]).countries == ["AA"]
    assert resolve(at("Hamlet", "Realmish"), lookup, hints=["CC"]).countries == ["BB"]


def test_a_repeated_demonym_gives_its_country_beside_places() -> None:
    assert resolve(at("Capital", "Realmish", "Realmish"), lookup).countries == ["AA"]
    thrice = resolve(at("Capital", "Realmish", "Realmish", "Realmish"), lookup)
    assert thrice.countries == ["AA", "BB"]


def test_a_name_written_as_the_larger_unit_is_read_as_a_region() -> None:
    assert resolve(at("Port"), lookup).countries == ["AA"]
    town, region = Mention("Nowhere", 0, 0, within=("Port",)), Mention("Port", 9, 0)
    assert resolve([town, region], lookup).countries == ["BB"]
    # ... and so is a name written with a unit's word ("Chin State").
    assert resolve(at("Hills"), lookup).countries == ["IN"]
    assert resolve([Mention("Hills", 0, 0, unit="state")], lookup).countries == ["MM"]


def test_a_units_word_names_units_of_the_countries_that_have_such_units() -> None:
    # Nigeria's first-level units are states, the US's counties its second-level ones:
    # "Delta County" is no Nigerian state, nor a Canadian city.
    assert resolve(at("Estuary"), lookup).countries == ["NG"]
    assert resolve([Mention("Estuary", 0, 0, unit="state")], lookup).countries == ["NG"]
    assert resolve([Mention("Estuary", 0, 0, unit="county")], lookup).countries == ["US"]
    # A word no reading fits leaves the readings as they are.
    assert resolve([Mention("Port", 0, 0, unit="prefecture")], lookup).countries == ["AA"]


def test_a_unit_word_lifts_the_second_level_readings_too() -> None:
    # "Busia district" beside a village of Uganda is Uganda's district, not Kenya's county;
    # without the word the larger county wins.
    district = resolve(
        [Mention("Border", 0, 0, unit="district", district=True), Mention("Villa", 9, 0)], lookup
    )
    assert district.countries[:1] == ["BB"] and "AA" not in district.countries
    assert "BB" not in resolve(at("Border", "Villa"), lookup).countries
    state = [Mention("Border", 0, 0, unit="state"), Mention("Villa", 9, 0)]
    assert "BB" not in resolve(state, lookup).countries


def test_a_province_of_one_country_votes_in_full_whatever_people_the_data_gives_it() -> None:
    # "Sinjar area ... in Hama countryside": a town abroad is out of line beside a province.
    result = resolve(at("Faraway", "Uplands"), lookup)
    assert result.countries == ["AA"]
    assert all(p.ambiguous for m, p in result.places.items() if m.key == "Faraway")
    # Written inside another name ("Maan town in Hama"), it counts by its people only.
    inside = [Mention("Uplands", 0, 0, within=("Faraway",)), Mention("Faraway", 9, 0)]
    assert "CC" in resolve(inside, lookup).countries


def test_a_unit_the_data_spells_otherwise_reads_as_that_unit() -> None:
    # "Village (District, Tillabery)": the unit as the data spells it decides the country.
    spelled = {"Provinse": READINGS["Province"]}
    village = [Mention("Hamlet", 0, 0, within=("Provinse",)), Mention("Provinse", 9, 0)]
    assert resolve(village, lookup, spellings=lambda k: spelled.get(k, ())).countries == ["BB"]
    assert resolve(village, lookup).countries == []
    # A name the text does not mark as a unit is not respelled.
    alone = at("Hamlet", "Provinse")
    assert resolve(alone, lookup, spellings=lambda k: spelled.get(k, ())).countries == []


def test_a_company_named_after_a_place_is_no_place_where_the_article_is_elsewhere() -> None:
    company = Mention("Capital", 0, 0, organisation=True)
    result = resolve([company, Mention("Province", 9, 0)], lookup)
    assert result.countries == ["BB"] and company not in result.places
    # With nothing elsewhere, a company's home is the best guess of where the story is ...
    home = Mention("Province", 0, 0, weak=True, in_name=True, organisation=True)
    assert resolve([home], lookup).countries == ["BB"]
    # ... unless the name is no clear home: small, or a place in several countries.
    assert resolve([Mention("Twin", 0, 0, weak=True, organisation=True)], lookup).countries == []
    assert resolve(at("Split"), lookup).countries == ["AA"]
    assert resolve([Mention("Split", 0, 0, organisation=True)], lookup).countries == []
    # A company does not vote for the article's other names.
    twin = Mention("Twin", 0, 0)
    result = resolve([twin, Mention("Province", 9, 0, organisation=True)], lookup)
    assert result.places[twin].ambiguous
    assert not resolve([twin, Mention("Province", 9, 0)], lookup).places[twin].ambiguous


def test_a_country_that_is_also_a_large_unit_elsewhere_needs_support() -> None:
    alone = resolve(at("Namesake"), lookup)
    assert alone.countries == [] and all(p.ambiguous for p in alone.places.values())
    assert resolve(at("Namesake", "Province"), lookup).countries == ["BB"]
    assert resolve(at("Namesake", "Capital"), lookup).countries == ["AA"]


# -- the traps of the issues, through the stage -----------------------------------------------


def record(nlp: Any, text: str) -> EventRecord:
    (result,) = extract_batch(nlp, [Article(id="t", content_hash="-", text=text)])
    assert isinstance(result, EventRecord), result
    return result


@pytest.mark.parametrize(
    ("text", "country", "never"),
    [
        ("Gunmen ambushed a convoy in Timbo-Timbo, North Kivu, killing two.", "CD", {"US", "BR"}),
        ("Armed men carjacked a Toyota Landcruiser in North Galkayo.", "SO", {"JP"}),
        (
            "Presumed JNIM militants seized a vehicle between Barsalogho (Barsalogho, "
            "Sanmatenga) and Kaya.",
            "BF",
            {"ML"},
        ),
        (
            "Islamic State West Africa Province fighters attacked troops near Monguno, "
            "Borno, towards Lake Chad.",
            "NG",
            {"US"},
        ),
        (
            "Police spokesman Mansir Hassan said 12 people were arrested in Kano.",
            "NG",
            {"IN"},
        ),
        ("Man shot dead in Atlanta, Georgia, police said.", "US", {"CI", "GE"}),
        ("Rioters clashed with police in Manchester after the match.", "GB", {"JM"}),
        ("Two men were fatally assaulted in Verulam (eThekwini, KwaZulu-Natal).", "ZA", {"BR"}),
        ("Dahalo raided cattle in Analalava (Analalava, Sofia).", "MG", {"BG"}),
        # French forms of Cameroon's regions; a sponsor's country is no place of the event.
        ("Residents blocked roads in Bafoussam (Mifi, Ouest).", "CM", {"HT"}),
        ("Saudi-led coalition airstrikes hit Sanaa.", "YE", {"SA"}),
        ("Pro-Iran militias shelled a village in Deir-ez-Zor.", "SY", {"IR"}),
        # A town written in a larger unit it has no reading in is a namesake the data lacks.
        ("Gunmen shot a man in the town of Mansura in the countryside of Ar-Raqqa.", "SY", {"EG"}),
        ("Gunmen opened fire in Enma market (Al Mansurah, Aden).", "YE", {"EG"}),
        ("The military and the AA clashed in Paletwa Township, Chin State.", "MM", {"CN"}),
        # The last word of a longer name joined by a particle is no place of its own either,
        # and a larger unit's name may hold particles.
        ("Vendors protested at the Puerta de Lima market in Cochabamba.", "BO", {"PE"}),
        ("Gunmen killed a farmer in Qaryat al Qabil (Bani al Harith, Al Bayda).", "YE", {"LY"}),
        # A name before an organisation's word names the organisation; several units
        # written with one plural unit's word are units.
        ("Members of Tanta organization clashed with police in Basra.", "IQ", {"EG"}),
        ("Floods hit the Nugaal and Bari regions overnight.", "SO", {"IT"}),
        # The first word of a longer name is no place of its own ("Wadi" is also Indian).
        ("GNA forces shelled LNA positions in Wadi al-Rabi near Tripoli.", "LY", {"IN"}),
        # Units the data spells otherwise or has under a name of three letters; a village,
        # a town and their province, written in a row.
        ("Gunmen raided Tondikiwindi (Ouallam, Tillabery) at dawn.", "NE", {"ET", "ML"}),
        ("Villagers fled Koundougou (Bourzanga, Bam) after the raid.", "BF", {"IR"}),
        ("Troops clashed with rebels in Barangay Poblacion, Gapan, Nueva Ecija.", "PH", set()),
    ],
)
def test_the_named_traps(nlp: Any, text: str, country: str, never: set[str]) -> None:
    countries = set(record(nlp, text).countries)
    assert country in countries and not countries & never


def test_admin_units_resolve_in_english_and_local_forms() -> None:
    for name, country in [
        ("North Kivu", "CD"),
        ("Nord-Kivu", "CD"),
        ("Central Equatoria", "SS"),
        ("Borno", "NG"),
        ("Sanmatenga", "BF"),
        ("Galguduud", "SO"),
        ("Extreme-Nord", "CM"),
        ("Nord-Ouest", "CM"),
    ]:
        assert country in {p.country for p in place_readings(name)}, name


def test_units_by_the_names_news_gives_them() -> None:
    # GeoNames' "Province of Samar" is the Philippines' province with its people.
    assert any(p.country == "PH" and p.population > 100_000 for p in place_readings("Samar"))
    # Written as a unit, a name of three letters or spelled otherwise is that unit ...
    for name, country in [
        ("Bam", "BF"),
        ("Tillabery", "NE"),
        ("Lower Shabelle", "SO"),
        ("Urozgan", "AF"),
        ("Fizuli", "AZ"),
    ]:
        assert country in {p.country for p in unit_readings(name)}, name
    # ... but a short name is not read unmarked, and a word, a letter added at the end or a
    # short name spelled otherwise is no unit ("Anbar" is no Nauruan "Anabar").
    assert "BF" not in {p.country for p in place_readings("Bam")}
    for name in ("Anbar", "Centre", "Princes", "Al Tall", "Chui"):
        assert unit_readings(name) == (), name


def test_compass_phrases_are_no_regions_hyphenated_or_not() -> None:
    assert not [p for p in place_readings("North East") if p.kind == "region"]


def test_common_nouns_and_news_words_give_no_country(nlp: Any) -> None:
    text = "Oil prices rose as tension in the Gulf grew. Free trade talks resumed in Geneva."
    assert record(nlp, text).countries == ("CH",)
    assert "PG" not in record(nlp, "Tankers crossed the Gulf on Monday.").countries


def test_a_famous_city_before_its_small_namesake(nlp: Any) -> None:
    assert record(nlp, "Dock workers in Portland went on strike.").countries == ("US",)
    assert record(nlp, "Protesters marched in Manchester on Sunday.").countries == ("GB",)


def test_company_news_keeps_its_states_and_demonyms(nlp: Any) -> None:
    text = "Halcyon Investments, a New York investment partnership, raised its stake."
    assert record(nlp, text).countries == ("US",)
    assert record(nlp, "Thai coffee exports rose in 1986.").countries == ("TH",)


def test_a_us_state_before_the_country_of_that_name_in_a_us_context(nlp: Any) -> None:
    assert record(nlp, "A man was shot in Savannah, Georgia.").countries == ("US",)
    assert record(nlp, "Troops were deployed in Georgia near Tbilisi.").countries == ("GE",)
    # Alone, the name of a country and of a US state of twice its people names either: no
    # country rather than possibly the wrong one.
    alone = record(nlp, "A Georgia man was charged with murder on Wednesday.")
    assert alone.countries == () and all(p.ambiguous for p in alone.places)


def test_a_lone_small_place_gives_no_country_at_high_confidence(nlp_model: Any) -> None:
    rec = record(nlp_model, "Two soldiers were killed during an ambush in Amou.")
    assert "FR" not in rec.countries
    assert all(p.ambiguous for p in rec.places if p.country == "FR")


def test_a_company_named_after_a_place_is_no_place_of_the_story(nlp: Any) -> None:
    text = "Shares of Queensland Power Co rose in Chicago after Queensland said its profit doubled."
    rec = record(nlp, text)
    assert rec.countries == ("US",) and all(p.country != "AU" for p in rec.places)
    assert record(nlp, "Oregon Steel Mills Inc said its profit rose.").countries == ("US",)


def test_streets_saints_and_surnames_are_no_places(nlp: Any) -> None:
    text = "A woman was shot on Lisbon Street on Sunday, said Officer James K. Paris."
    assert record(nlp, text).countries == ()
    assert record(nlp, "Police named the victim as Jordan B. Hale, 31.").countries == ()
    assert record(nlp, "The suspect fled toward Springs Road, deputies said.").countries == ()
    assert record(nlp, "The victim died at St. Mary's Hospital, police said.").countries == ()
    assert "ZA" not in record(nlp, "Palm Springs police arrested a man on Friday.").countries


def test_a_dateline_places_the_story(nlp: Any) -> None:
    text = (
        "Shooting leaves one dead.\n\nMEMPHIS (AP) — A man was shot dead late Saturday, "
        "police said. A Georgia native, the victim was 24."
    )
    rec = record(nlp, text)
    assert rec.countries == ("US",) and {p.country for p in rec.places} == {"US"}


def test_a_name_split_by_a_line_break_is_one_name(nlp: Any) -> None:
    assert record(nlp, "Shares of the firm rose in New\nYork trading.").countries == ("US",)


def test_a_units_abbreviation_after_a_place_reads_as_that_unit(nlp: Any) -> None:
    text = "Man stabbed at bar.\n\nLEBANON, Tenn. — A man was stabbed outside a bar, police said."
    assert record(nlp, text).countries == ("US",)
    assert record(nlp, "A man was shot dead in Athens, Ga., on Sunday.").countries == ("US",)


def test_a_persons_name_with_a_title_or_an_age_is_no_place(nlp: Any) -> None:
    text = "Police identified the victim as Chad Williams, 34, of Columbus."
    assert record(nlp, text).countries == ("US",)
    assert record(nlp, "Jordan Smith, 19, was shot on Friday night.").countries == ()
    assert record(nlp, "Detective Lima said the suspect fled on foot.").countries == ()


def test_a_facilitys_proper_name_needs_support(nlp: Any) -> None:
    text = "Officers said the shooting happened near the Piedmont Hospital entrance."
    assert record(nlp, text).countries == ()
    assert record(nlp, "Two men were shot at the Metro Center mall on Sunday.").countries == ()
    assert record(nlp, "Gunmen attacked Goma airport on Monday.").countries == ("CD",)


def test_a_common_word_before_a_facilitys_word_needs_support(nlp: Any) -> None:
    # "Metro", "Central" are common words before "station" (and places in Indonesia and
    # Brazil); "Goma airport" names the town.
    assert record(nlp, "A man was stabbed near Metro station on Friday night.").countries == ()
    text = "Police said the robbery happened outside Central station late on Sunday."
    assert record(nlp, text).countries == ()
    assert record(nlp, "Gunmen attacked Goma airport on Monday.").countries == ("CD",)
    text = "Two buses collided near Metro station in Jakarta on Friday."
    assert record(nlp, text).countries == ("ID",)


def test_a_county_is_a_unit_of_a_country_that_has_counties(nlp: Any) -> None:
    for text in (
        "Deputies in Delta County arrested a man on Tuesday.",
        "Deputies in Orange County arrested two teenagers after a shooting.",
        "The sheriff of Kent County, Mich., said two people were shot.",
        "Two people were shot in Jefferson Parish on Saturday night.",
    ):
        assert record(nlp, text).countries == ("US",), text
    assert record(nlp, "Gunmen killed a trader in Delta State on Monday.").countries == ("NG",)
    text = "Police dispersed protesters in Busia County on Tuesday."
    assert record(nlp, text).countries == ("KE",)


def test_a_place_opening_a_shops_name_is_no_place(nlp: Any) -> None:
    for text in (
        "Police said the man robbed a London Fog outlet at the mall.",
        "Two men robbed a Paris Baguette store on Friday night.",
        "A clerk was shot at the China Garden restaurant late on Sunday.",
    ):
        assert record(nlp, text).countries == (), text
    text = "Gunmen robbed a jewellery store in London on Friday."
    assert record(nlp, text).countries == ("GB",)


def test_a_countrys_name_as_a_first_name_is_no_place(nlp: Any) -> None:
    for text in (
        "The suspect, Israel Hernandez, was arrested on Friday.",
        "The suspect, Jordan Smith, was taken into custody.",
        "Police said Chad Williams was shot on Friday.",
        "Officers arrested Kenya Johnson after the shooting.",
        "Witnesses said India Jackson fled the scene.",
    ):
        assert record(nlp, text).countries == (), text
    text = "Troops clashed with protesters in Israel on Friday."
    assert record(nlp, text).countries == ("IL",)
    # A country's name before a word of units, organisations or companies stays a place.
    text = "Troops clashed with protesters in Israel on Friday, Israel Radio said."
    assert record(nlp, text).countries == ("IL",)
    assert "US" in record(nlp, "Two U.S. Navy ships docked in Manila.").countries


def test_a_name_that_opens_a_longer_known_name_is_that_name(nlp: Any) -> None:
    # "Van" is a Turkish city; "Van Buren" and "Van Nuys" are US places.
    for text in (
        "A Van Buren man was charged with assault.",
        "A Van Nuys woman was robbed on Sunday.",
        "Police in Van Buren arrested a man.",
    ):
        assert "TR" not in record(nlp, text).countries, text
    assert record(nlp, "Floods hit the city of Van on Monday.").countries == ("TR",)


def test_a_persons_hometown_needs_support_even_when_famous(nlp: Any) -> None:
    # US local news: Lima, Ohio; Florence, South Carolina.
    assert record(nlp, "A Lima man was arrested after a shooting, police said.").countries == ()
    assert record(nlp, "A Florence woman was stabbed at a bar on Saturday.").countries == ()
    assert record(nlp, "Protesters marched in Lima on Friday.").countries == ("PE",)
    text = "Officers responded to a shooting at a motel on the Berlin Turnpike late Friday."
    assert record(nlp, text).countries == ()
