from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.pipeline.query import (
    MAX_TEXT,
    And,
    Facts,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    QueryError,
    SubscriptionIndex,
    Term,
    anchors,
    combine,
    evaluate,
    facts,
    from_facets,
    matched_terms,
    pair_anchors,
    parse,
    to_text,
    tokenise,
)

T = Term


def event(
    text: str = "",
    themes: tuple[str, ...] = (),
    countries: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    actors: tuple[str, ...] = (),
    sources: tuple[str, ...] = (),
) -> Facts:
    return facts(themes, countries, regions, actors, sources, text)


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("theme:abduction", T("theme", "abduction")),
        ("Theme:Abduction", T("theme", "abduction")),
        ("country:ke", T("country", "KE")),
        ("countries:KE", T("country", "KE")),
        ("region:fr-idf", T("region", "FR-IDF")),
        ("region:KE-30", T("region", "KE-30")),
        ('actor:"  Al-Shabaab   Group "', T("actor", "al-shabaab group")),
        ("source:Reuters", T("source", "reuters")),
        ("Kidnapped", T("keyword", "kidnapped")),
        ("kw:kidnapped", T("keyword", "kidnapped")),
        ('"police station"', Phrase(("police", "station"))),
        ('text:"police station"~3', Phrase(("police", "station"), 3)),
        ('"police"~3', T("keyword", "police")),  # ~N on one word is ignored
        ("police-station", Phrase(("police", "station"))),  # tokenised like text
        ("kidnap*", Prefix("kidnap")),
        ("KIDnap*", Prefix("kidnap")),
        ("and", T("keyword", "and")),  # lowercase operators are plain keywords
        ('"AND"', T("keyword", "and")),
        ("Zürich", T("keyword", "zürich")),
        ('actor:"say \\"hi\\" \\\\ bye"', T("actor", 'say "hi" \\ bye')),
        (
            "a OR b AND c",
            Or((T("keyword", "a"), And((T("keyword", "b"), T("keyword", "c"))))),
        ),
        ("a b", And((T("keyword", "a"), T("keyword", "b")))),
        (
            "a b OR c",
            Or((And((T("keyword", "a"), T("keyword", "b"))), T("keyword", "c"))),
        ),
        ("NOT a b", And((Not(T("keyword", "a")), T("keyword", "b")))),
        ("NOT (a b)", Not(And((T("keyword", "a"), T("keyword", "b"))))),
        ("NOT NOT a", Not(Not(T("keyword", "a")))),
        ("(a)", T("keyword", "a")),
        (
            'theme:abduction AND country:KE AND NOT actor:"Al-Shabaab"',
            And(
                (
                    T("theme", "abduction"),
                    T("country", "KE"),
                    Not(T("actor", "al-shabaab")),
                )
            ),
        ),
        (
            "(theme:protest OR theme:riot) AND region:FR-IDF",
            And((Or((T("theme", "protest"), T("theme", "riot"))), T("region", "FR-IDF"))),
        ),
        (
            'keyword:"police station" AND "gunmen attacked"~5 AND kidnap*',
            And(
                (
                    Phrase(("police", "station")),
                    Phrase(("gunmen", "attacked"), 5),
                    Prefix("kidnap"),
                )
            ),
        ),
        ("theme:a country:KE", And((T("theme", "a"), T("country", "KE")))),
        ("(a)(b)", And((T("keyword", "a"), T("keyword", "b")))),
    ],
)
def test_parse(query: str, expected: Node) -> None:
    node = parse(query)
    assert node == expected
    assert parse(to_text(node)) == node


def test_canonical_text() -> None:
    node = parse('a b OR NOT (c OR "d e"~2) actor:"Al Shabaab" kid*')
    assert to_text(node) == 'a AND b OR NOT (c OR "d e"~2) AND actor:"al shabaab" AND kid*'


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("", 0),
        ("   ", 0),
        ("theme:abduction AND country:", 28),
        ("country: KE", 8),
        ("country:(KE)", 8),
        ("a AND", 5),
        ("a NOT", 5),
        ("AND a", 0),
        ("a OR OR b", 5),
        ("()", 1),
        ("(a OR b", 0),
        ("((a) OR b", 0),
        ("a OR b)", 6),
        ('actor:"Al-Shabaab', 6),
        ('"a \\q b"', 3),
        ("x AND foo:bar", 6),
        ("theme:Bad-Theme", 6),
        ("country:KEN", 8),
        ("region:KE30", 7),
        ('actor:"  "', 6),
        ('"--"', 0),
        ("ki*", 0),
        ("kid-*", 0),
        ("country:KE*", 10),
        ('actor:"x"~3', 9),
        ('"a b"~', 6),
        ('"a b"~101', 6),
        ('"a b"*', 5),
        ("kid*napped", 4),
        ('a"b"', 1),
        ("a @ b", 2),
        ("a~2", 1),
        ("x" * 2001, 2000),
        ("(" * 40 + "a" + ")" * 40, 32),
        ("NOT " * 40 + "a", 128),
        (" ".join(["a"] * 101), 200),
    ],
)
def test_error_positions(query: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert info.value.position == position, info.value
    assert str(info.value) == f"position {position}: {info.value.reason}"


def test_error_message_and_pickle() -> None:
    with pytest.raises(QueryError) as info:
        parse("theme:abduction AND country:")
    assert str(info.value) == "position 28: expected a value after 'country:'"
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.position, again.reason) == (28, info.value.reason)


def test_limits_are_query_errors_not_recursion() -> None:
    for query in ("(" * 1999, "NOT " * 499 + "a", "(" * 1000 + "a" + ")" * 1000):
        with pytest.raises(QueryError):
            parse(query)
    parse("(" * 32 + "a" + ")" * 32)
    parse(" ".join(["a"] * 100))


GRAMMAR_PIECES = [
    "(", ")", '"', ":", "~", "*", "\\", " ", "  ", "AND", "OR", "NOT", "and", "theme", "country",
    "region", "actor", "source", "keyword", "kw", "KE", "FR-IDF", "abc", "x", "3", "12", "-",
    ".", "'", "é", "Zürich", "İ", "_",
]  # fmt: skip


def _parse_or_error(text: str) -> None:
    try:
        node = parse(text)
    except QueryError as exc:
        assert 0 <= exc.position <= len(text)
        return
    assert parse(to_text(node)) == node


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    _parse_or_error(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(GRAMMAR_PIECES), max_size=60).map("".join))
def test_fuzz_grammar_alphabet(text: str) -> None:
    _parse_or_error(text)


# --- evaluation ------------------------------------------------------------------------------

KENYA = event(
    text="Gunmen attacked the police station in Nairobi; three officers were kidnapped. "
    "The police said the station was attacked at dawn.",
    themes=("abduction", "attack"),
    countries=("ke",),
    regions=("ke-30",),
    actors=("Al-Shabaab", "William  Ruto"),
    sources=("Nairobi Daily",),
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("theme:abduction", True),
        ("theme:protest", False),
        ("theme:abduction AND country:KE", True),
        ("theme:abduction AND country:FR", False),
        ("theme:protest OR country:KE", True),
        ("region:KE-30", True),
        ('actor:"william ruto"', True),
        ('actor:"WILLIAM RUTO"', True),
        ("actor:ruto", False),  # whole actor names, not parts
        ('source:"nairobi daily"', True),
        ("NOT theme:abduction", False),
        ("NOT theme:protest", True),
        ('theme:abduction AND NOT actor:"Al-Shabaab"', False),
        ('"police station"', True),
        ('"station police"', False),  # a phrase is ordered
        ('"gunmen police"', False),  # both words occur, not adjacent
        ('"station police"~0', True),  # proximity: any order
        ('"gunmen police"~1', False),  # gunmen at 0, police at 3: 3 apart > 1 + 1
        ('"gunmen police"~2', True),  # 3 apart <= 1 + 2
        ('"gunmen officers kidnapped"~7', False),  # 0, 8, 10: 10 apart > 2 + 7
        ('"gunmen officers kidnapped"~8', True),
        ('"officers three"~0', True),
        ('"police police"~8', True),  # police at 3 and 12: 9 apart <= 1 + 8
        ('"police police"~7', False),
        ("kidnap*", True),
        ("kidnapper*", False),
        ("nai*", True),
        ("the*", True),  # a stem may be a whole 3-letter token
        ("xyz*", False),
        ("attacked AND NOT kidnapped", False),
        ("nairobi", True),
        ("NAIROBI", True),
    ],
)
def test_evaluate(query: str, expected: bool) -> None:
    assert evaluate(parse(query), KENYA) is expected


def test_repeated_word_proximity_needs_two_occurrences() -> None:
    f = event("police and more police")
    assert evaluate(parse('"police police"~2'), f)
    assert not evaluate(parse('"police police"~1'), f)
    assert not evaluate(parse('"police police"~5'), event("police only once"))


def test_text_is_capped() -> None:
    f = event("a " * (MAX_TEXT // 2) + "late")
    assert not evaluate(parse("late"), f)
    assert tokenise("Ünïcode déjà-vu ß") == ["ünïcode", "déjà", "vu", "ss"]


def test_matched_terms_only_satisfied_positive_branches() -> None:
    node = parse(
        '(theme:abduction country:FR) OR (theme:attack "police station" kidnap*) '
        'OR actor:"al-shabaab" NOT source:"nairobi daily"'
    )
    assert evaluate(node, KENYA)
    assert matched_terms(node, KENYA) == {
        "themes": ["attack"],
        "keywords": ['"police station"', "kidnap*"],
    }
    assert matched_terms(parse("theme:protest"), KENYA) == {}
    assert matched_terms(parse("NOT theme:protest"), KENYA) == {}


def test_from_facets_and_combine() -> None:
    assert from_facets() is None
    node = from_facets(themes=["abduction", "Abduction", "attack"], countries=["ke"])
    assert node == And((Or((T("theme", "abduction"), T("theme", "attack"))), T("country", "KE")))
    assert from_facets(keywords=["police station"]) == Phrase(("police", "station"))
    with pytest.raises(QueryError):
        from_facets(countries=["Kenya"])
    query = parse("kidnap*")
    assert combine(None, None) is None
    assert combine(node, None) == node
    assert combine(None, query) == query
    both = combine(node, query)
    assert both is not None
    assert both == And((node, query))
    assert parse(to_text(both)) == both
    assert evaluate(both, KENYA)


def test_anchors() -> None:
    assert anchors(parse("theme:a AND country:KE")) == {("country", "KE")}
    assert anchors(parse("theme:a OR country:KE")) == {("theme", "a"), ("country", "KE")}
    assert anchors(parse('"police station"~2')) == {("keyword", "station")}
    assert anchors(parse("kidnap*")) == {("prefix", "kid")}
    assert anchors(parse("NOT theme:a")) is None
    assert anchors(parse("theme:a OR NOT theme:b")) is None
    assert anchors(parse("NOT theme:a AND country:KE")) == {("country", "KE")}
    assert anchors(parse("(a OR b OR c) AND (d OR e)")) == {("keyword", "d"), ("keyword", "e")}


def test_index_put_remove_and_unanchored() -> None:
    index = SubscriptionIndex()
    index.put("s1", parse("theme:abduction country:KE"))
    index.put("s2", parse("NOT theme:election"))
    index.put("s3", parse("country:FR"))
    assert len(index) == 3
    empty = event()
    assert index.candidates(empty) == {"s2"}  # un-anchored: always a candidate
    assert index.candidates(KENYA) == {"s1", "s2"}
    assert [sid for sid, _ in index.match(KENYA)] == ["s1", "s2"]
    index.put("s1", parse("country:FR"))  # replace
    assert [sid for sid, _ in index.match(KENYA)] == ["s2"]
    assert index.remove("s2") and not index.remove("s2")
    assert index.match(KENYA) == []
    assert len(index) == 2 and "s2" not in index


# --- index == brute force --------------------------------------------------------------------

THEMES = ["abduction", "protest", "riot"]
COUNTRIES = ["KE", "FR", "NG"]
REGIONS = ["KE-30", "FR-IDF"]
ACTORS = ["al-shabaab", "william ruto"]
SOURCES = ["bbc", "reuters"]
WORDS = ["police", "station", "gunmen", "attacked", "kidnap", "kidnapped", "town", "the"]
STEMS = ["kid", "kidn", "pol", "sta", "att", "gun", "xyz"]

leaves = st.one_of(
    st.builds(Term, st.just("theme"), st.sampled_from(THEMES)),
    st.builds(Term, st.just("country"), st.sampled_from(COUNTRIES)),
    st.builds(Term, st.just("region"), st.sampled_from(REGIONS)),
    st.builds(Term, st.just("actor"), st.sampled_from(ACTORS)),
    st.builds(Term, st.just("source"), st.sampled_from(SOURCES)),
    st.builds(Term, st.just("keyword"), st.sampled_from(WORDS)),
    st.builds(
        Phrase,
        st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(tuple),
        st.none() | st.integers(0, 4),
    ),
    st.builds(Prefix, st.sampled_from(STEMS)),
)
nodes: st.SearchStrategy[Node] = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.builds(Not, kids),
        st.lists(kids, min_size=2, max_size=3).map(lambda cs: And(tuple(cs))),
        st.lists(kids, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs))),
    ),
    max_leaves=8,
)
events = st.builds(
    facts,
    st.lists(st.sampled_from(THEMES), max_size=2),
    st.lists(st.sampled_from(COUNTRIES), max_size=2),
    st.lists(st.sampled_from(REGIONS), max_size=1),
    st.lists(st.sampled_from(ACTORS), max_size=2),
    st.lists(st.sampled_from(SOURCES), max_size=1),
    st.lists(st.sampled_from([*WORDS, "kidney", "Station", "gun"]), max_size=25).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(nodes)
def test_round_trip_generated(node: Node) -> None:
    assert parse(to_text(node)) == node


@settings(max_examples=500, deadline=None)
@given(nodes, events)
def test_anchors_are_sound(node: Node, f: Facts) -> None:
    keys = anchors(node)
    if keys is not None and evaluate(node, f):
        assert keys & f.keys


@settings(max_examples=500, deadline=None)
@given(nodes, events)
def test_pair_anchors_are_sound(node: Node, f: Facts) -> None:
    pairs = pair_anchors(node)
    if pairs is not None and evaluate(node, f):
        assert pairs & f.pairs


def test_conjunctions_are_filed_under_pairs() -> None:
    ke = ("country", "KE")
    abduction = ("theme", "abduction")
    assert pair_anchors(parse("theme:abduction AND country:KE")) == {(ke, abduction)}
    assert pair_anchors(parse("theme:abduction AND (country:KE OR region:NG-KD) AND kw")) == {
        (ke, abduction),
        (("region", "NG-KD"), abduction),
    }
    assert pair_anchors(parse("theme:abduction AND actor:x")) is None  # actors: single keys
    assert pair_anchors(parse("theme:riot OR (theme:abduction AND country:KE)")) is None
    assert pair_anchors(parse("theme:riot AND theme:riot")) is None
    index = SubscriptionIndex()
    index.put("ke", parse("theme:abduction AND country:KE"))
    assert index.candidates(facts(["abduction"], ["NG"], [], [], [], "")) == set()
    assert index.candidates(facts(["abduction"], ["KE"], [], [], [], "")) == {"ke"}
    index.remove("ke")
    assert not index._pair_postings


@settings(max_examples=300, deadline=None)
@given(st.lists(nodes, max_size=12), st.lists(events, min_size=1, max_size=4), st.data())
def test_index_equals_brute_force(subs: list[Node], fs: list[Facts], data: st.DataObject) -> None:
    index = SubscriptionIndex()
    table = {f"s{i:02d}": node for i, node in enumerate(subs)}
    for sid, node in table.items():
        index.put(sid, node)
    dropped = data.draw(st.sets(st.sampled_from(sorted(table))) if table else st.just(set()))
    for sid in dropped:
        index.remove(sid)
        del table[sid]
    for sid, node in table.items():
        if anchors(node) is None:
            assert sid in index.candidates(fs[0])
    for f in fs:
        brute = [(sid, matched_terms(n, f)) for sid, n in sorted(table.items()) if evaluate(n, f)]
        assert index.match(f) == brute


def test_identical_queries_are_stored_and_evaluated_once() -> None:
    index = SubscriptionIndex()
    for sub_id in ("a", "b", "c"):
        index.put(sub_id, parse("theme:abduction AND country:KE"))
    index.put("d", parse("theme:abduction AND country:NG"))
    ke = facts(["abduction"], ["KE"], [], [], [], "")
    assert [i for i, _terms in index.match(ke)] == ["a", "b", "c"]
    assert len(index._queries) == 2
    index.remove("b")
    index.put("c", parse("theme:riot"))  # replaced: no longer shares the query
    assert [i for i, _terms in index.match(ke)] == ["a"]
    index.remove("a")
    assert index.match(ke) == [] and len(index) == 2 and len(index._queries) == 2
