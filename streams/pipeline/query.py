"""Subscription queries: a small boolean language, its evaluation against one event, and an
inverted index that finds the subscriptions an event may match without trying every one.

Language (operators are case-sensitive; ``and``/``or``/``not`` are plain keywords)::

    query   := or
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          # adjacent terms are ANDed
    unary   := "NOT" unary | "(" or ")" | term
    term    := [field ":"] value ["~" N | "*"]
    value   := bare word | "quoted string"     # bare: letters, digits, _ - . '
                                               # quoted: \\" and \\\\ are the only escapes

Fields (case-insensitive, aliases in brackets): theme (themes), country (countries), region
(regions), actor (actors), source (sources), keyword (keywords, kw, text); no field = keyword.

* theme: lower-cased, must match ``^[a-z][a-z0-9_]{0,63}$``.
* country: two ASCII letters, upper-cased. region: ISO 3166-2 shape (``KE-30``, ``FR-IDF``),
  upper-cased.
* actor, source: any non-empty string of at most 300 characters; compared casefolded with
  runs of whitespace collapsed to one space.
* keyword: tokenised like document text (see ``tokenise``). One word matches that token;
  several words are a phrase (consecutive, in order). ``"a b c"~N`` is proximity: all the
  words occur, in any order, with the first and last at most ``len(words) - 1 + N`` tokens
  apart (so they fit in a window of ``len(words) + N`` tokens; ``~0`` = adjacent in any
  order); 0 <= N <= 100. ``~N`` on one word is ignored. ``stem*`` (bare keyword only) is a
  prefix: some token starts with the casefolded stem, which must be >= 3 word characters.

Given a :class:`Resolver` (``parse(text, names)``; the match stage always gives one), values
are what users type: themes through their synonyms ("kidnapping" -> abduction), countries
and regions by code or name, actors through the gazetteer ("JNIM" -> its canonical name). An
actor the gazetteer lacks becomes a :class:`Mention`: it matches the event's actors or, as a
text match, the words of the article (word-bounded, any case, "Mai-Mai" = "Mai Mai").

Bounds: 2,000 characters, nesting (parentheses and NOTs) 32 deep, 100 terms. Every syntax or
value error is a ``QueryError`` with the 0-based character position of the problem.

Nodes are normalised as they are built, so ``parse(to_text(n)) == n`` for any node from
``parse``, ``term``, ``from_facets`` or ``combine`` (with the same resolver).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Protocol

MAX_LENGTH = 2000
MAX_DEPTH = 32
MAX_TERMS = 100
MAX_SLOP = 100
MAX_VALUE = 300
MIN_PREFIX = 3
MAX_TEXT = 50_000  # characters of event text that are tokenised; the rest is ignored

FIELDS: Mapping[str, str] = {
    "theme": "theme",
    "themes": "theme",
    "country": "country",
    "countries": "country",
    "region": "region",
    "regions": "region",
    "actor": "actor",
    "actors": "actor",
    "source": "source",
    "sources": "source",
    "keyword": "keyword",
    "keywords": "keyword",
    "kw": "keyword",
    "text": "keyword",
}
PLURAL: Mapping[str, str] = {
    "theme": "themes",
    "country": "countries",
    "region": "regions",
    "actor": "actors",
    "source": "sources",
    "keyword": "keywords",
}
PREFIX_KEY = "prefix"  # anchor facet of a prefix: ("prefix", first 3 characters of the stem)
OPERATORS = frozenset({"AND", "OR", "NOT"})

_WORD_RE = re.compile(r"\w+")
_THEME_RE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_COUNTRY_RE = re.compile(r"[A-Z]{2}", re.ASCII)
_REGION_RE = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}", re.ASCII)
_BARE_EXTRA = frozenset("_-.'")
# Anchor tie-break: among equally small AND-children prefer the facet likely to be rarest.
_RARITY = {"actor": 0, "region": 1, "keyword": 2, PREFIX_KEY: 3, "country": 4, "source": 5}


class Resolver(Protocol):
    """Resolves a typed value of a field (theme, country, region, actor) to the value the
    extract stage emits; ValueError says why a value is unknown. None: an actor the
    gazetteer lacks (matched as text)."""

    def resolve(self, field: str, typed: str) -> str | None: ...


TEXT_ACTORS = "actors_text"  # matched-terms key of actors found only as text


class QueryError(ValueError):
    """A query (or facet value) that cannot be parsed; ``position`` is a 0-based offset."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"position {position}: {reason}")
        self.position = position
        self.reason = reason

    def __reduce__(self) -> tuple[type[QueryError], tuple[int, str]]:
        return (QueryError, (self.position, self.reason))


# --- AST -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """``field`` (canonical singular name) equals ``value`` (normalised); keyword = one token."""

    field: str
    value: str
    key: tuple[str, str] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.field not in PLURAL:
            raise ValueError(f"unknown field {self.field!r}")
        # Built once: evaluating a term is then one set lookup of this tuple.
        object.__setattr__(self, "key", (self.field, self.value))


@dataclass(frozen=True, slots=True)
class Phrase:
    """Keyword words in order (``slop`` None) or within a proximity window (``slop`` N)."""

    words: tuple[str, ...]
    slop: int | None = None

    def __post_init__(self) -> None:
        if len(self.words) < 2:
            raise ValueError("a phrase has at least two words")


@dataclass(frozen=True, slots=True)
class Prefix:
    """Some token starts with ``stem`` (casefolded, >= 3 word characters)."""

    stem: str


@dataclass(frozen=True, slots=True)
class Mention:
    """An actor name the gazetteer lacks: one of the event's actors (``value``, normalised
    like actor terms) or its ``words`` in the text, consecutive (``joined``: also written
    as one word, "Anti-Balaka" = "antibalaka")."""

    value: str
    words: tuple[str, ...] = dataclass_field(init=False, compare=False)
    joined: str | None = dataclass_field(init=False, compare=False)
    key: tuple[str, str] = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = tuple(tokenise(self.value))
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "joined", "".join(words) if len(words) > 1 else None)
        object.__setattr__(self, "key", ("actor", self.value))


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("AND needs at least two children")


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("OR needs at least two children")


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Term | Phrase | Prefix | Mention | And | Or | Not


# --- values ----------------------------------------------------------------------------------


def tokenise(text: str) -> list[str]:
    """Casefolded ``\\w+`` runs (Unicode letters, digits, underscore) of ``text``."""
    return _WORD_RE.findall(text.casefold())


def _collapse(value: str) -> str:
    return " ".join(value.casefold().split())


def _value_node(fieldname: str, raw: str, slop: int | None, names: Resolver | None = None) -> Node:
    """Validate and normalise one value (resolved through ``names`` when given);
    ValueError says what is wrong with it."""
    if names is not None and fieldname in ("theme", "country", "region", "actor"):
        if not raw.strip():
            raise ValueError(f"empty {fieldname}")
        resolved = names.resolve(fieldname, raw.strip())
        if fieldname == "actor" and resolved is None:
            value = _collapse(raw)
            if len(value) > MAX_VALUE:
                raise ValueError(f"actor longer than {MAX_VALUE} characters")
            return Mention(value)
        raw = resolved or raw
    if fieldname == "theme":
        value = raw.strip().lower()
        if not _THEME_RE.fullmatch(value):
            raise ValueError(f"bad theme {raw!r}: expected ^[a-z][a-z0-9_]{{0,63}}$")
        return Term("theme", value)
    if fieldname == "country":
        value = raw.strip().upper()
        if not _COUNTRY_RE.fullmatch(value):
            raise ValueError(f"bad country {raw!r}: expected a two-letter ISO code")
        return Term("country", value)
    if fieldname == "region":
        value = raw.strip().upper()
        if not _REGION_RE.fullmatch(value):
            raise ValueError(f"bad region {raw!r}: expected an ISO 3166-2 code like KE-30")
        return Term("region", value)
    if fieldname in ("actor", "source"):
        value = _collapse(raw)
        if not value:
            raise ValueError(f"empty {fieldname}")
        if len(value) > MAX_VALUE:
            raise ValueError(f"{fieldname} longer than {MAX_VALUE} characters")
        return Term(fieldname, value)
    words = tokenise(raw)
    if not words:
        raise ValueError(f"keyword {raw!r} has no letters or digits")
    if len(words) == 1:
        return Term("keyword", words[0])
    return Phrase(tuple(words), slop)


def term(fieldname: str, value: str, names: Resolver | None = None) -> Node:
    """One facet value as a node (keyword values may give a phrase); QueryError at 0 if bad."""
    canonical = FIELDS.get(fieldname.lower())
    if canonical is None:
        raise QueryError(0, f"unknown field {fieldname!r}")
    try:
        return _value_node(canonical, value, None, names)
    except ValueError as exc:
        raise QueryError(0, str(exc)) from None


# --- lexer -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(" ")" AND OR NOT TERM END ERROR
    pos: int
    fieldname: str | None = None
    value: str = ""
    value_pos: int = 0
    quoted: bool = False
    slop: int | None = None
    prefix: bool = False
    suffix_pos: int = 0  # where "~N" or "*" starts
    error: QueryError | None = None


def _is_word(c: str) -> bool:
    return c.isalnum() or c in _BARE_EXTRA


def _scan_word(text: str, i: int) -> int:
    while i < len(text) and _is_word(text[i]):
        i += 1
    return i


def _scan_quoted(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 < len(text) and text[i + 1] in '"\\':
                out.append(text[i + 1])
                i += 2
                continue
            if i + 1 < len(text):
                raise QueryError(i, 'unknown escape: only \\" and \\\\ are allowed')
            break
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise QueryError(start, "unterminated quote")


def _lex_term(text: str, start: int) -> tuple[_Tok, int]:
    n = len(text)
    i = start
    fieldname: str | None = None
    if text[i] != '"':
        j = _scan_word(text, i)
        word = text[i:j]
        if j < n and text[j] == ":":
            fieldname, i = word, j + 1
            if i >= n or not (text[i] == '"' or _is_word(text[i])):
                raise QueryError(i, f"expected a value after '{word}:'")
        elif word in OPERATORS:
            return _Tok(word, start), j
    value_pos = i
    quoted = text[i] == '"'
    if quoted:
        value, i = _scan_quoted(text, i)
    else:
        j = _scan_word(text, i)
        value, i = text[i:j], j
    slop: int | None = None
    prefix = False
    suffix_pos = i
    if i < n and text[i] == "~":
        if not quoted:
            raise QueryError(i, "'~N' only follows a quoted phrase")
        j = i + 1
        while j < n and "0" <= text[j] <= "9":
            j += 1
        if j == i + 1:
            raise QueryError(i + 1, "expected a number after '~'")
        if j - i - 1 > 3 or int(text[i + 1 : j]) > MAX_SLOP:
            raise QueryError(i + 1, f"proximity must be at most {MAX_SLOP}")
        slop, i = int(text[i + 1 : j]), j
    elif i < n and text[i] == "*":
        if quoted:
            raise QueryError(i, "'*' only follows a bare word")
        prefix, i = True, i + 1
    if i < n and not (text[i].isspace() or text[i] in "()"):
        raise QueryError(i, f"unexpected {text[i]!r} after a term")
    tok = _Tok("TERM", start, fieldname, value, value_pos, quoted, slop, prefix, suffix_pos)
    return tok, i


def _lex(text: str) -> list[_Tok]:
    """All tokens; a lexing error becomes a final ERROR token so the parser reports problems
    in the order it meets them."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    try:
        while True:
            while i < n and text[i].isspace():
                i += 1
            if i >= n:
                toks.append(_Tok("END", n))
                return toks
            c = text[i]
            if c in "()":
                toks.append(_Tok(c, i))
                i += 1
            elif c == '"' or _is_word(c):
                tok, i = _lex_term(text, i)
                toks.append(tok)
            else:
                raise QueryError(i, f"unexpected {c!r}")
    except QueryError as exc:
        toks.append(_Tok("ERROR", exc.position, error=exc))
        return toks


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, names: Resolver | None = None) -> None:
        self.toks = _lex(text)
        self.i = 0
        self.terms = 0
        self.names = names

    def peek(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.error is not None:
            raise tok.error
        return tok

    def take(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def query(self) -> Node:
        if self.peek().kind == "END":
            raise QueryError(0, "empty query")
        node = self.or_(0)
        tok = self.peek()
        if tok.kind == ")":
            raise QueryError(tok.pos, "unbalanced ')'")
        if tok.kind != "END":  # unreachable with this grammar; kept as a guard
            raise QueryError(tok.pos, f"unexpected {tok.kind}")
        return node

    def or_(self, depth: int) -> Node:
        children = [self.and_(depth)]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_(depth))
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_(self, depth: int) -> Node:
        children = [self.unary(depth)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in ("TERM", "(", "NOT"):
                break
            children.append(self.unary(depth))
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self, depth: int) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "("):
            if depth >= MAX_DEPTH:
                raise QueryError(tok.pos, f"nested more than {MAX_DEPTH} deep")
            self.take()
            if tok.kind == "NOT":
                return Not(self.unary(depth + 1))
            node = self.or_(depth + 1)
            if self.peek().kind != ")":
                raise QueryError(tok.pos, "unbalanced '(': no matching ')'")
            self.take()
            return node
        if tok.kind == "TERM":
            self.take()
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise QueryError(tok.pos, f"more than {MAX_TERMS} terms")
            return _build(tok, self.names)
        prev = self.toks[self.i - 1].kind if self.i else None
        after = f" after '{prev}'" if prev in ("AND", "OR", "NOT", "(") else ""
        found = "the end" if tok.kind == "END" else f"'{tok.kind}'"
        raise QueryError(tok.pos, f"expected a term{after}, found {found}")


def _build(tok: _Tok, names: Resolver | None = None) -> Node:
    fieldname = "keyword"
    if tok.fieldname is not None:
        found = FIELDS.get(tok.fieldname.lower())
        if found is None:
            known = ", ".join(sorted(PLURAL))
            raise QueryError(tok.pos, f"unknown field {tok.fieldname!r} (known: {known})")
        fieldname = found
    if tok.slop is not None and fieldname != "keyword":
        raise QueryError(tok.suffix_pos, "'~N' only applies to keyword phrases")
    if tok.prefix:
        if fieldname != "keyword":
            raise QueryError(tok.suffix_pos, "'*' only applies to keywords")
        stem = tok.value.casefold()
        if not _WORD_RE.fullmatch(stem):
            raise QueryError(tok.value_pos, "a prefix may hold only letters, digits and '_'")
        if len(stem) < MIN_PREFIX:
            raise QueryError(tok.value_pos, f"a prefix needs {MIN_PREFIX}+ characters before '*'")
        return Prefix(stem)
    try:
        return _value_node(fieldname, tok.value, tok.slop, names)
    except ValueError as exc:
        raise QueryError(tok.value_pos, str(exc)) from None


def parse(text: str, names: Resolver | None = None) -> Node:
    """The query's AST; QueryError (with a position) for anything malformed. With ``names``
    typed values are resolved (see the module docstring)."""
    if len(text) > MAX_LENGTH:
        raise QueryError(MAX_LENGTH, f"query longer than {MAX_LENGTH} characters")
    return _Parser(text, names).query()


def _quote(value: str) -> str:
    if value and value not in OPERATORS and all(_is_word(c) for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrap(node: Node, kinds: tuple[type, ...]) -> str:
    text = to_text(node)
    return f"({text})" if isinstance(node, kinds) else text


def to_text(node: Node) -> str:
    """Canonical query text: explicit operators, minimal parentheses, normalised values."""
    if isinstance(node, Term):
        if node.field == "keyword":
            return _quote(node.value)
        return f"{node.field}:{_quote(node.value)}"
    if isinstance(node, Phrase):
        slop = "" if node.slop is None else f"~{node.slop}"
        return _quote(" ".join(node.words)) + slop
    if isinstance(node, Prefix):
        return node.stem + "*"
    if isinstance(node, Mention):
        return f"actor:{_quote(node.value)}"
    if isinstance(node, Not):
        return "NOT " + _wrap(node.child, (And, Or))
    if isinstance(node, And):
        return " AND ".join(_wrap(c, (And, Or)) for c in node.children)
    return " OR ".join(_wrap(c, (Or,)) for c in node.children)


# --- facets of a subscription ----------------------------------------------------------------


def from_facets(
    themes: Iterable[str] = (),
    countries: Iterable[str] = (),
    regions: Iterable[str] = (),
    actors: Iterable[str] = (),
    sources: Iterable[str] = (),
    keywords: Iterable[str] = (),
    names: Resolver | None = None,
) -> Node | None:
    """AND over the non-empty facets of OR over their values (resolved through ``names``
    when given); None when all are empty."""
    clauses: list[Node] = []
    for fieldname, values in (
        ("theme", themes),
        ("country", countries),
        ("region", regions),
        ("actor", actors),
        ("source", sources),
        ("keyword", keywords),
    ):
        nodes: list[Node] = []
        for value in values:
            node = term(fieldname, value, names)
            if node not in nodes:
                nodes.append(node)
        if nodes:
            clauses.append(nodes[0] if len(nodes) == 1 else Or(tuple(nodes)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def combine(a: Node | None, b: Node | None) -> Node | None:
    """``a AND b``, where a missing side imposes nothing."""
    if a is None:
        return b
    if b is None:
        return a
    return And((a, b))


# --- facts and evaluation --------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What one event offers to queries, normalised like query values. Built once per event
    (``facts``); ``keys`` holds every (facet, value) an anchor can name. Not hashable."""

    themes: frozenset[str]
    countries: frozenset[str]
    regions: frozenset[str]
    actors: frozenset[str]
    sources: frozenset[str]
    tokens: tuple[str, ...]
    positions: Mapping[str, tuple[int, ...]]  # token -> its positions in ``tokens``
    by_prefix: Mapping[str, tuple[str, ...]]  # first 3 characters -> distinct tokens (len >= 3)
    keys: frozenset[tuple[str, str]]
    # Every pair of the event's theme/country/region/source keys, for conjunction anchors.
    pairs: frozenset[tuple[tuple[str, str], tuple[str, str]]] = frozenset()


def facts(
    themes: Iterable[str],
    countries: Iterable[str],
    regions: Iterable[str],
    actors: Iterable[str],
    sources: Iterable[str],
    text: str,
) -> Facts:
    """Normalise one event's facets and tokenise the first MAX_TEXT characters of ``text``
    (title and body) with ``tokenise``."""
    sets = {
        "theme": frozenset(t.strip().lower() for t in themes if t.strip()),
        "country": frozenset(c.strip().upper() for c in countries if c.strip()),
        "region": frozenset(r.strip().upper() for r in regions if r.strip()),
        "actor": frozenset(a for a in map(_collapse, actors) if a),
        "source": frozenset(s for s in map(_collapse, sources) if s),
    }
    tokens = tokenise(text[:MAX_TEXT])
    grouped: dict[str, list[int]] = {}
    for i, token in enumerate(tokens):
        grouped.setdefault(token, []).append(i)
    prefixes: dict[str, list[str]] = {}
    for token in grouped:
        if len(token) >= MIN_PREFIX:
            prefixes.setdefault(token[:MIN_PREFIX], []).append(token)
    keys = {(facet, value) for facet, values in sets.items() for value in values}
    keys.update(("keyword", token) for token in grouped)
    keys.update((PREFIX_KEY, p) for p in prefixes)
    return Facts(
        themes=sets["theme"],
        countries=sets["country"],
        regions=sets["region"],
        actors=sets["actor"],
        sources=sets["source"],
        tokens=tuple(tokens),
        positions={t: tuple(p) for t, p in grouped.items()},
        by_prefix={p: tuple(ts) for p, ts in prefixes.items()},
        keys=frozenset(keys),
        pairs=frozenset(itertools.combinations(sorted(k for k in keys if k[0] in _PAIRABLE), 2)),
    )


def _phrase(node: Phrase, f: Facts) -> bool:
    lists = []
    for word in node.words:
        found = f.positions.get(word)
        if found is None:
            return False
        lists.append(found)
    words = node.words
    if node.slop is not None:
        return _within(f.positions, words, len(words) - 1 + node.slop)
    # Try starts implied by the rarest word's occurrences.
    k = min(range(len(words)), key=lambda j: len(lists[j]))
    tokens, n = f.tokens, len(words)
    for p in lists[k]:
        start = p - k
        if start >= 0 and start + n <= len(tokens) and tokens[start : start + n] == words:
            return True
    return False


def _mentioned(node: Mention, f: Facts) -> bool:
    """Whether the text holds the mention's words, consecutive, or joined into one."""
    words = node.words
    if not words:
        return False
    if node.joined is not None and node.joined in f.positions:
        return True
    if len(words) == 1:
        return words[0] in f.positions
    return _phrase(Phrase(words), f)


def _within(positions: Mapping[str, tuple[int, ...]], words: tuple[str, ...], span: int) -> bool:
    """Whether some window with last - first <= span holds every word (with multiplicity)."""
    need = Counter(words)
    events = sorted((p, w) for w in need for p in positions[w])
    have: Counter[str] = Counter()
    satisfied = 0
    left = 0
    for pos, word in events:
        have[word] += 1
        if have[word] == need[word]:
            satisfied += 1
        while satisfied == len(need):
            first, first_word = events[left]
            if pos - first <= span:
                return True
            if have[first_word] == need[first_word]:
                satisfied -= 1
            have[first_word] -= 1
            left += 1
    return False


def evaluate(node: Node, f: Facts) -> bool:
    """Whether the event described by ``f`` satisfies ``node``."""
    if isinstance(node, Term):
        return node.key in f.keys
    # Plain loops, not all()/any(): no generator per node on the hot path.
    if isinstance(node, And):
        for child in node.children:  # noqa: SIM110
            if not evaluate(child, f):
                return False
        return True
    if isinstance(node, Or):
        for child in node.children:  # noqa: SIM110
            if evaluate(child, f):
                return True
        return False
    if isinstance(node, Not):
        return not evaluate(node.child, f)
    if isinstance(node, Phrase):
        return _phrase(node, f)
    if isinstance(node, Mention):
        return node.key in f.keys or _mentioned(node, f)
    stem = node.stem
    return any(t.startswith(stem) for t in f.by_prefix.get(stem[:MIN_PREFIX], ()))


def matched_terms(node: Node, f: Facts) -> dict[str, list[str]]:
    """The positive terms that made ``node`` true, by plural facet name, for explaining an
    alert: only satisfied branches count and nothing under a NOT. Keywords are given as query
    text (``word``, ``"a b"~2``, ``stem*``); other values normalised. Empty if false."""
    out: dict[str, list[str]] = {}
    _collect(node, f, out)
    return out


def _collect(node: Node, f: Facts, out: dict[str, list[str]]) -> None:
    if isinstance(node, Not) or not evaluate(node, f):
        return
    if isinstance(node, And | Or):
        for child in node.children:
            _collect(child, f, out)
        return
    if isinstance(node, Mention):  # found among the actors, else only in the text
        facet = "actors" if node.key in f.keys else TEXT_ACTORS
        label = node.value
    else:
        facet = PLURAL[node.field] if isinstance(node, Term) else "keywords"
        label = node.value if isinstance(node, Term) else to_text(node)
    values = out.setdefault(facet, [])
    if label not in values:
        values.append(label)


# --- inverted index --------------------------------------------------------------------------


def anchors(node: Node) -> frozenset[tuple[str, str]] | None:
    """Keys such that any event matching ``node`` has at least one of them in ``Facts.keys``;
    None when no such set exists (a NOT, or an OR with an un-anchored branch)."""
    if isinstance(node, Term):
        return frozenset({node.key})
    if isinstance(node, Phrase):
        # Every word must occur; the longest is likely the rarest.
        return frozenset({("keyword", max(node.words, key=len))})
    if isinstance(node, Prefix):
        return frozenset({(PREFIX_KEY, node.stem[:MIN_PREFIX])})
    if isinstance(node, Mention):
        mention = {node.key}
        if node.words:  # the rarest-looking word, and the joined spelling
            mention.add(("keyword", max(node.words, key=len)))
        if node.joined is not None:
            mention.add(("keyword", node.joined))
        return frozenset(mention)
    if isinstance(node, Not):
        return None
    if isinstance(node, Or):
        union: set[tuple[str, str]] = set()
        for child in node.children:
            keys = anchors(child)
            if keys is None:
                return None
            union |= keys
        return frozenset(union)
    found = [keys for keys in map(anchors, node.children) if keys is not None]
    if not found:
        return None
    return min(found, key=lambda ks: (len(ks), max(_RARITY.get(k[0], 6) for k in ks)))


Pair = tuple[tuple[str, str], tuple[str, str]]
# Fields an event has few values of, so all pairs of its keys stay few (actors can be many).
_PAIRABLE = frozenset({"theme", "country", "region", "source"})
PAIR_MAX = 64  # most pairs one conjunction is filed under


def pair_anchors(node: Node) -> frozenset[Pair] | None:
    """Pairs of keys such that any event matching ``node`` has one of them in
    ``Facts.pairs``: for ``theme:abduction AND country:KE`` the one pair of both, so the query
    is a candidate only for abductions in Kenya, not for every abduction. None when the node
    is not such a conjunction (or an OR of them)."""
    if isinstance(node, Or):
        union: set[Pair] = set()
        for child in node.children:
            pairs = pair_anchors(child)
            if pairs is None:
                return None
            union |= pairs
        return frozenset(union)
    if not isinstance(node, And):
        return None
    options = [p for p in map(pair_anchors, node.children) if p is not None]
    sets = sorted(
        (
            keys
            for keys in map(anchors, node.children)
            if keys is not None and all(k[0] in _PAIRABLE for k in keys)
        ),
        key=len,
    )
    for i, first in enumerate(sets):
        for second in sets[i + 1 :]:
            # Disjoint sets only: an event with one key of each then has two different keys.
            if len(first) * len(second) <= PAIR_MAX and not first & second:
                options.append(
                    frozenset((a, b) if a < b else (b, a) for a in first for b in second)
                )
    return min(options, key=len) if options else None


class SubscriptionIndex:
    """Subscription nodes by id, with postings from anchor key to queries so that ``match``
    only evaluates the queries that can possibly match an event.

    Identical queries (many users want "theme:abduction AND country:KE") are stored once and
    evaluated once per event, however many subscriptions share them.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}  # subscription id -> its query
        self._qids: dict[Node, int] = {}  # distinct query -> its number
        self._queries: dict[int, tuple[Node, set[str]]] = {}  # number -> query, subscribers
        self._postings: dict[tuple[str, str], set[int]] = {}
        self._pair_postings: dict[Pair, set[int]] = {}
        self._unanchored: set[int] = set()
        self._next = 0

    def put(self, sub_id: str, node: Node) -> None:
        """Add or replace a subscription."""
        self.remove(sub_id)
        self._nodes[sub_id] = node
        qid = self._qids.get(node)
        if qid is not None:
            self._queries[qid][1].add(sub_id)
            return
        qid = self._qids[node] = self._next
        self._next += 1
        self._queries[qid] = (node, {sub_id})
        pairs = pair_anchors(node)
        if pairs is not None:
            for pair in pairs:
                self._pair_postings.setdefault(pair, set()).add(qid)
            return
        keys = anchors(node)
        if keys is None:
            self._unanchored.add(qid)
            return
        for key in keys:
            self._postings.setdefault(key, set()).add(qid)

    def remove(self, sub_id: str) -> bool:
        """Drop a subscription; False if it was not there."""
        node = self._nodes.pop(sub_id, None)
        if node is None:
            return False
        qid = self._qids[node]
        subscribers = self._queries[qid][1]
        subscribers.discard(sub_id)
        if subscribers:
            return True
        del self._queries[qid], self._qids[node]
        self._unanchored.discard(qid)
        pairs = pair_anchors(node)
        filed: list[tuple[Any, dict[Any, set[int]]]] = (
            [(p, self._pair_postings) for p in pairs]
            if pairs is not None
            else [(k, self._postings) for k in anchors(node) or ()]
        )
        for key, postings in filed:
            qids = postings[key]
            qids.discard(qid)
            if not qids:
                del postings[key]
        return True

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, sub_id: object) -> bool:
        return sub_id in self._nodes

    def _candidate_queries(self, f: Facts) -> set[int]:
        out = set(self._unanchored)
        postings = self._postings
        # Walk whichever side is smaller.
        if len(postings) <= len(f.keys):
            for key, qids in postings.items():
                if key in f.keys:
                    out |= qids
        else:
            for key in f.keys:
                found = postings.get(key)
                if found:
                    out |= found
        for pair in f.pairs:
            found = self._pair_postings.get(pair)
            if found:
                out |= found
        return out

    def candidates(self, f: Facts) -> set[str]:
        """Ids whose anchors meet the event's keys, plus every un-anchored id."""
        out: set[str] = set()
        for qid in self._candidate_queries(f):
            out |= self._queries[qid][1]
        return out

    def match(self, f: Facts) -> list[tuple[str, dict[str, list[str]]]]:
        """(id, matched terms) of every subscription the event satisfies, in id order."""
        result: list[tuple[str, dict[str, list[str]]]] = []
        for qid in self._candidate_queries(f):
            node, subscribers = self._queries[qid]
            if evaluate(node, f):
                terms = matched_terms(node, f)
                result.extend((sub_id, terms) for sub_id in subscribers)
        result.sort(key=lambda pair: pair[0])
        return result
