"""Evaluation of compiled Sigma rules on a batch of Windows events, vectorized.

Rules are grouped by log-source variant (all ``process_creation`` rules on
Sysmon event 1, the same rules again on Security 4688 with its field names
…). For each group the batch is filtered once to the variant's rows, the
canonical field columns the group reads are added once, the literal
prefilter gives each rule its rows (``_candidates``), and the rules of the
group are evaluated in one ``select``, each on its own rows (``_restricted``),
computed by polars in parallel. No Python loop runs over rows; Python only loops over
the (few) rules that fired, to explain them: which selections matched, with
the fields they read, on the matched rows only.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache

import polars as pl

from sekimori.detect.sigma.compiler import (
    CompiledRule,
    PlainTest,
    Selection,
    exact_requirement,
    forced_selections,
    keyword_literals,
    plain_test,
)
from sekimori.detect.sigma.evidence import SelectionColumns, evidence_of, selection_columns
from sekimori.detect.sigma.fields import (
    CANONICAL_PREFIX,
    KEYWORD_COLUMN,
    ROW_COLUMN,
    FieldResolver,
    column_name,
    lower_name,
)
from sekimori.detect.sigma.logsource import CHANNEL_COLUMN, EVENT_CODE_COLUMN, Variant
from sekimori.detect.sigma.prefilter import ClauseIndex
from sekimori.detect.sigma.values import KEYWORD_LOWER_COLUMN, Needs, rust_regex_ok

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """The rules that share one log-source variant, and the columns they read together.

    ``free`` are the rules without a literal requirement (always evaluated);
    ``literals`` maps each lower-cased column to the literals the other rules
    require, ``required`` are those rules and ``clauses`` their requirements
    (rule ``n`` is ``required[n]``). ``restricted`` keeps, per rule key, the
    rule's expression read on its own rows only (``_restricted``; one dict
    shared by the groups of ``group_rules``), and ``values``, per rule key and
    selection, its value tests sorted for ``_with_values``; both made when
    first needed.
    """

    variant: Variant
    rules: tuple[CompiledRule, ...]
    needs: Needs = field(default_factory=Needs)
    free: tuple[CompiledRule, ...] = ()
    literals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    required: tuple[CompiledRule, ...] = ()
    clauses: ClauseIndex = field(default_factory=ClauseIndex)
    restricted: dict[str, pl.Expr | None] = field(default_factory=dict, compare=False, repr=False)
    values: dict[tuple[str, str], _SelectionValues] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class Match:
    """The rows one rule matched in one batch, and per row the selections that matched.

    ``rows`` (shared by the matches of one evaluation step) keeps the batch
    columns asked for, the canonical Sigma field columns
    (``fields.column_name``) and the row's position in the batch
    (``fields.ROW_COLUMN``); ``indices`` are this rule's rows in ``rows``;
    ``selections[i]`` names the selections true on its ``i``-th row.
    """

    rule: CompiledRule
    rows: pl.DataFrame
    indices: tuple[int, ...]
    selections: tuple[tuple[str, ...], ...]
    values: tuple[Mapping[str, list[str]], ...] = ()

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def row_ids(self) -> tuple[int, ...]:
        """Positions of the matched rows in the batch."""
        ids = self.rows[ROW_COLUMN]
        return tuple(int(ids[i]) for i in self.indices)

    def row(self, i: int) -> dict[str, object]:
        """The ``i``-th matched row as a mapping of column to value."""
        return self.rows.row(self.indices[i], named=True)

    def evidence(self, i: int, row: Mapping[str, object] | None = None) -> dict[str, object]:
        """The matched fields of row ``i`` verbatim, and which selections matched.

        ``row`` is ``self.row(i)`` when the caller has it already.
        """
        values = self.values[i] if self.values else None
        return evidence_of(
            selection_columns(self.rule),
            self.selections[i],
            self.row(i) if row is None else row,
            values,
        )


def group_rules(rules: Iterable[CompiledRule]) -> tuple[RuleGroup, ...]:
    """Rules grouped by variant, in first-seen order."""
    groups: dict[str, tuple[Variant, list[CompiledRule]]] = {}
    # One rule is in several groups (Sysmon's and Security's process creations):
    # its restricted expression is made once for all.
    restricted: dict[str, pl.Expr | None] = {}
    for rule in rules:
        for variant in rule.variants:
            groups.setdefault(variant.key, (variant, []))[1].append(rule)
    out = []
    for variant, members in groups.values():
        needs = Needs()
        literals: dict[str, set[str]] = {}
        for rule in members:
            needs.update(rule.needs)
            for clause in rule.requirement or ():
                for column, literal in clause:
                    literals.setdefault(column, set()).add(literal)
        required = tuple(r for r in members if r.requirement is not None)
        out.append(
            RuleGroup(
                variant=variant,
                rules=tuple(members),
                needs=needs,
                free=tuple(r for r in members if r.requirement is None),
                literals={c: tuple(sorted(lits)) for c, lits in literals.items()},
                required=required,
                clauses=ClauseIndex.of([r.requirement or () for r in required]),
                restricted=restricted,
            )
        )
    return tuple(out)


# Per row of the rules' rows, the number of its literal signature (``_candidates``).
_SIGNATURE = "__sigma_signature__"
# Per rule, true on the rows where all its clauses hold (``_candidates``).
_MASK = "__sigma_mask__."


def _mask_name(rule: CompiledRule) -> str:
    return _MASK + rule.key


@dataclass(frozen=True, slots=True)
class _Step:
    """Rules to evaluate on ``rows``, from the literal prefilter (``_candidates``).

    ``restricted``: each rule of ``rules`` runs on its own rows only, which
    ``rows`` marks with a mask per rule (``_mask_name``). ``known`` are the
    rows (in ``rows``, by ``ROW_COLUMN``) of the rules that match exactly
    where their requirement holds (``compiler.exact_requirement``), found
    without evaluating them.
    """

    rules: tuple[CompiledRule, ...]
    rows: pl.DataFrame
    restricted: bool = False
    known: Mapping[str, list[int]] = field(default_factory=dict)


# Hash lists (``Hashes|contains: ['MD5=…', …]``, thousands in SigmaHQ's driver
# rules) make an Aho-Corasick automaton polars builds again on every scan: about
# 20 ms for 5,000 hashes, against a few for the hashes of a few hundred events
# looked up in a set (``_hash_tokens``). Past that many events per hash the
# automaton is the cheaper.
_TOKENS_MIN = 1000
_ROWS_PER_TOKEN = 0.2
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class _Tokens:
    """Literals ``name=hex`` (lower-case hex), found as the tokens ``pattern`` extracts."""

    pattern: str
    lengths: tuple[int, ...]
    literals: pl.Series


@cache
def _hash_tokens(literals: tuple[str, ...]) -> tuple[_Tokens | None, tuple[str, ...]]:
    """``literals`` split into those found by ``_Tokens`` (if enough) and the others.

    ``name=`` followed by the longest run of hex digits is a token: a literal
    ``name=hex`` occurs in a text exactly where a token begins with it, when
    no name begins with a hex digit (no name starts inside a run) and none is
    a proper suffix of another (none starts inside a name). So every
    occurrence is the beginning of a token, cut to the literal's length.
    """
    hashes: list[str] = []
    rest: list[str] = []
    names: set[str] = set()
    for literal in literals:
        name, sep, digits = literal.partition("=")
        if sep and name and digits and set(digits) <= _HEX and name[0] not in _HEX:
            hashes.append(literal)
            names.add(name)
        else:
            rest.append(literal)
    nested = any(a != b and a.endswith(b) for a in names for b in names)
    if len(hashes) < _TOKENS_MIN or nested:
        return None, literals
    alternation = "|".join(pl.escape_regex(name) for name in sorted(names))
    tokens = _Tokens(
        pattern=f"(?:{alternation})=[0-9a-f]+",
        lengths=tuple(sorted({len(h) for h in hashes})),
        literals=pl.Series(hashes, dtype=pl.String),
    )
    return tokens, tuple(rest)


def _found(column: str, literals: tuple[str, ...], rows: int) -> pl.Expr:
    """The ``literals`` found in ``column``, a list per row (each at least once)."""
    col = pl.col(column)
    tokens, rest = _hash_tokens(literals)
    if tokens is None or rows > _ROWS_PER_TOKEN * tokens.literals.len():
        return col.str.extract_many(list(literals), overlapping=True)
    starts = col.str.extract_all(tokens.pattern)
    cut = pl.concat_list([starts.list.eval(pl.element().str.slice(0, n)) for n in tokens.lengths])
    hits = cut.list.eval(pl.element().filter(pl.element().is_in(tokens.literals.implode())))
    if not rest:
        return hits
    return pl.concat_list([col.str.extract_many(list(rest), overlapping=True), hits])


def _candidates(sub: pl.DataFrame, group: RuleGroup) -> list[_Step]:
    """The evaluation steps of ``group`` on ``sub``, from the literal prefilter.

    The free rules run on every row. Each other rule runs only on the rows
    where every clause of its requirement has a literal. The literals found
    in a row make its signature; rows repeat their signatures, so the
    clauses are checked once per signature.
    """
    work: list[_Step] = []
    if group.free:
        work.append(_Step(group.free, sub))
    # A column without a value in ``sub`` holds no literal: it is not scanned
    # (polars would build its Aho-Corasick automaton all the same; nearly half
    # of SigmaHQ's scans on the bench's batches are of such columns).
    columns = [col for col in group.literals if sub[col].null_count() < sub.height]
    if not columns:
        return work
    scans = sub.select(
        pl.col(ROW_COLUMN),
        *[_found(col, group.literals[col], sub.height).alias(col) for col in columns],
    )
    signatures = scans.group_by(columns).agg(pl.col(ROW_COLUMN))
    of_rule = group.clauses.satisfied(
        [
            [
                (col, literal)
                for col, literals in zip(columns, found, strict=True)
                for literal in literals or ()
            ]
            for found in signatures.select(columns).iter_rows()
        ]
    )
    if not of_rule:
        return work
    kept = sorted({number for numbers in of_rule.values() for number in numbers})
    where = (
        signatures.select(ROW_COLUMN)
        .with_row_index(_SIGNATURE)
        .filter(pl.col(_SIGNATURE).is_in(kept))
        .explode(ROW_COLUMN)
        .sort(ROW_COLUMN)
    )
    # ``sub`` is in row order: the kept rows line up with ``where``.
    rows = sub.filter(pl.col(ROW_COLUMN).is_in(where[ROW_COLUMN].implode())).with_columns(
        where[_SIGNATURE]
    )
    exact = [n for n in sorted(of_rule) if exact_requirement(group.required[n])]
    known: dict[str, list[int]] = {}
    if exact:
        at = signatures[ROW_COLUMN].to_list()
        for n in exact:
            known[group.required[n].key] = sorted(i for number in of_rule[n] for i in at[number])
    evaluated = [n for n in sorted(of_rule) if group.required[n].key not in known]
    rows = rows.with_columns(
        pl.col(_SIGNATURE).is_in(of_rule[n]).alias(_mask_name(group.required[n])) for n in evaluated
    )
    rules = tuple(group.required[n] for n in sorted(of_rule))
    work.append(_Step(rules, rows, restricted=True, known=known))
    return work


def _restricted(group: RuleGroup, rule: CompiledRule) -> pl.Expr | None:
    """``rule.expr`` reading every column only where the rule's mask is true (None: cannot).

    Rule expressions are row-wise tests, so on the filtered columns they give
    the rule's value on the mask's rows alone, and polars scans only those.
    Every column read becomes that column filtered by the mask, in the
    expression's serialized form; a rule that does not serialize (a test in
    Python), or whose serialized form is not as expected, is evaluated on
    every row instead.
    """
    if rule.key in group.restricted:
        return group.restricted[rule.key]
    restricted = restricted_expr(rule) if rule.restricted is None else rule.restricted()
    group.restricted[rule.key] = restricted
    return restricted


def restricted_expr(rule: CompiledRule) -> pl.Expr | None:
    """``rule.expr`` reading every column through the rule's mask (None: it cannot).

    Made once per rule: the compiled-rule cache keeps it (``CompiledRule.restricted``),
    since rewriting SigmaHQ's rules takes a worker a quarter of a second.
    """
    try:
        return _read_through(rule.expr, _mask_name(rule))
    except (Exception, pl.exceptions.PanicException) as exc:
        # polars' serialized form is no stable interface: whatever goes wrong
        # in rewriting it costs speed, never the hunt.
        log.debug("rule %s is evaluated on every row: %r", rule.key, exc)
        return None


def _read_through(expr: pl.Expr, mask: str) -> pl.Expr | None:
    """``expr`` with every column it reads filtered by the boolean column ``mask`` (None: no)."""
    try:
        tree = json.loads(expr.meta.serialize(format="json"))
    except pl.exceptions.PolarsError:
        return None
    by = {"Column": mask}
    count = 0

    def walk(node: object) -> object:
        nonlocal count
        if isinstance(node, dict):
            if len(node) == 1 and isinstance(node.get("Column"), str):
                count += 1
                return {"Filter": {"input": node, "by": by}}
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    text = json.dumps(walk(tree))
    # Every column read, or the expression would mix filtered and whole columns.
    if not count or count != len(expr.meta.root_names()):
        return None
    return pl.Expr.deserialize(io.StringIO(text), format="json")


def _text_columns(schema: Mapping[str, pl.DataType]) -> list[str]:
    return [
        name
        for name, dtype in schema.items()
        if dtype == pl.String and not name.startswith(("__sigma", ROW_COLUMN))
    ]


def _columns(resolver: FieldResolver, group: RuleGroup) -> list[str]:
    """The batch columns a group reads: its fields' candidates, all text for keywords."""
    wanted: dict[str, None] = {ROW_COLUMN: None}
    fieldmap = group.variant.fieldmap
    for fname in sorted(group.needs.raw):
        for col in resolver.columns(fname, fieldmap):
            wanted.setdefault(col)
    if group.needs.keywords:
        wanted.setdefault(KEYWORD_COLUMN)
        wanted.setdefault(KEYWORD_LOWER_COLUMN)
    return list(wanted)


# Characters whose lower case holds an ASCII letter ("K" Kelvin sign, "İ"): an event
# text with one may hold a keyword literal once lower-cased.
_LOWER_TO_ASCII = ("\u212a", "\u0130")


def _keyword_needs(groups: Sequence[RuleGroup]) -> tuple[str, ...] | None:
    """Literals one of which an event's text holds when some keyword value of ``groups`` matches.

    None when a keyword rule has a value without such a literal: then every
    event's text is joined.
    """
    literals: set[str] = set()
    for group in groups:
        if not group.needs.keywords:
            continue
        for rule in group.rules:
            if rule.needs.keywords:
                needed = keyword_literals(rule)
                if needed is None:
                    return None
                literals.update(needed)
    return tuple(sorted(literals))


def _holds_any(text: pl.Expr, literals: tuple[str, ...]) -> pl.Expr:
    """True where ``text`` holds one of the ASCII ``literals`` in any case.

    Or a character whose lower case is ASCII (``_LOWER_TO_ASCII``).
    """
    pattern = _ascii_alternation(literals)
    if pattern is None:
        patterns = [*literals, *_LOWER_TO_ASCII]
        return text.str.contains_any(patterns, ascii_case_insensitive=True)
    return text.str.contains(pattern)


@cache
def _ascii_alternation(literals: tuple[str, ...]) -> str | None:
    """One regular expression for ``_holds_any`` (faster than Aho-Corasick here), if valid."""
    alternation = "|".join(pl.escape_regex(literal) for literal in literals)
    pattern = "|".join([f"(?i-u:{alternation})", *_LOWER_TO_ASCII])
    return pattern if rust_regex_ok(pattern) else None


# Fields joined for one scan for keyword literals (``_with_keywords``): polars
# joins ten fields far faster per field than a hundred.
_KEYWORD_CHUNK = 8


def _with_keywords(frame: pl.DataFrame, literals: Sequence[str] | None = None) -> pl.DataFrame:
    """``frame`` with the text of every field joined (and lower-cased), for keyword rules.

    Built once per batch for all groups; columns without a value in the batch
    are left out of the join. With ``literals`` (``_keyword_needs``) the text is
    joined only for the events where some text field contains one of them
    (ASCII-case-insensitively); the others get none, on which every keyword
    value is false as it would be on their text.
    """
    nulls = frame.null_count().row(0, named=True)
    names = [c for c in _text_columns(frame.schema) if nulls[c] < frame.height]
    texts = [pl.col(c) for c in names]
    if not texts:
        keyword: pl.Expr | pl.Series = pl.lit(None, dtype=pl.String)
    elif literals is None:
        keyword = pl.concat_str(texts, separator="\n", ignore_nulls=True)
    else:
        # A literal, without a line break, is in the joined text exactly when
        # it is in one of the fields, so also in the text of a few fields
        # joined: one scan per few fields (joining all of Sysmon's 126 costs
        # more than scanning), and the whole text of the events that hold one.
        found = frame.select(
            pl.any_horizontal(
                _holds_any(
                    pl.concat_str(texts[i : i + _KEYWORD_CHUNK], separator="\n", ignore_nulls=True),
                    tuple(literals),
                )
                for i in range(0, len(texts), _KEYWORD_CHUNK)
            ).fill_null(False)
        ).to_series()
        keyword = pl.repeat(None, frame.height, dtype=pl.String, eager=True)
        if found.any():
            held = found.arg_true()
            joined = frame[held].select(pl.concat_str(texts, separator="\n", ignore_nulls=True))
            keyword = keyword.scatter(held, joined.to_series())
    return frame.with_columns(keyword.alias(KEYWORD_COLUMN)).with_columns(
        pl.col(KEYWORD_COLUMN).str.to_lowercase().alias(KEYWORD_LOWER_COLUMN)
    )


def _prepare(sub: pl.DataFrame, resolver: FieldResolver, group: RuleGroup) -> pl.DataFrame:
    fieldmap = group.variant.fieldmap
    raw = [resolver.expr(f, fieldmap).alias(column_name(f)) for f in sorted(group.needs.raw)]
    lower = [
        resolver.expr(f, fieldmap).str.to_lowercase().alias(lower_name(f))
        for f in sorted(group.needs.lower)
    ]
    return sub.with_columns([*raw, *lower]) if raw or lower else sub


def _match(
    source: pl.DataFrame,
    rules: Sequence[CompiledRule],
    sub: pl.DataFrame,
    group: RuleGroup | None = None,
    known: Mapping[str, list[int]] | None = None,
    plans: dict[tuple[str, str], _SelectionValues] | None = None,
) -> list[Match]:
    """Evaluate ``rules`` on ``sub``; explain the fired ones in bulk, on matched rows only.

    With ``group``, ``sub`` carries each rule's mask (``_candidates``) and a
    rule is evaluated on its mask's rows only. The rows of the rules in
    ``known`` are given, not evaluated.
    """
    if not rules or sub.height == 0:
        return []
    row = pl.col(ROW_COLUMN)
    known = known or {}
    evaluated = [rule for rule in rules if rule.key not in known]
    found = dict(known)
    if evaluated:
        keys = [rule.key for rule in evaluated]
        found.update(zip(keys, _fired_rows(sub, evaluated, group), strict=True))
    fired = [(rule, ids) for rule in rules if (ids := found[rule.key])]
    if not fired:
        return []
    matched = sub.filter(row.is_in(sorted({i for _rule, ids in fired for i in ids})))
    position = {i: j for j, i in enumerate(matched[ROW_COLUMN].to_list())}
    forced = {rule.key: forced_selections(rule) for rule, _ids in fired}
    sel_exprs = [
        sel.expr.alias(f"{rule.key}\x1f{n}")
        for rule, _ids in fired
        for n, sel in enumerate(rule.selections)
        if sel.name not in forced[rule.key]
    ]
    sel_flags = matched.select(sel_exprs).to_dict(as_series=False) if sel_exprs else {}
    canonical = sorted({column_name(f) for rule, _ids in fired for f in rule.needs.raw})
    rows = source[matched[ROW_COLUMN]].hstack(matched.select([ROW_COLUMN, *canonical]))
    out = []
    for rule, ids in fired:
        idx = [position[i] for i in ids]
        fixed = forced[rule.key]
        columns = [
            (sel.name, fixed.get(sel.name), sel_flags.get(f"{rule.key}\x1f{n}", ()))
            for n, sel in enumerate(rule.selections)
        ]
        selections = tuple(
            tuple(name for name, value, col in columns if (col[j] if value is None else value))
            for j in idx
        )
        out.append(Match(rule=rule, rows=rows, indices=tuple(idx), selections=selections))
    return _with_values(out, matched, {} if plans is None else plans)


def _rule_rows(rule: CompiledRule, group: RuleGroup | None) -> pl.Expr:
    """The rows ``rule`` matches, as one list (on its mask's rows only, with ``group``)."""
    row = pl.col(ROW_COLUMN)
    restricted = _restricted(group, rule) if group is not None else None
    if restricted is None:
        return row.filter(rule.expr).implode().alias(rule.key)
    return row.filter(pl.col(_mask_name(rule))).filter(restricted).implode().alias(rule.key)


def _fired_rows(
    sub: pl.DataFrame, rules: Sequence[CompiledRule], group: RuleGroup | None
) -> tuple[list[int], ...]:
    """Per rule, the rows of ``sub`` it matches, in one ``select``."""
    try:
        return sub.select(_rule_rows(rule, group) for rule in rules).row(0)
    except (Exception, pl.exceptions.PanicException):
        if group is None:
            raise
    # A rewritten expression that polars builds but cannot run: each is tried
    # alone, and those that fail are evaluated whole from now on.
    for rule in rules:
        if group.restricted.get(rule.key) is None:
            continue
        try:
            sub.select(_rule_rows(rule, group))
        except (Exception, pl.exceptions.PanicException) as exc:
            log.debug("rule %s is evaluated on every row: %r", rule.key, exc)
            group.restricted[rule.key] = None
    return sub.select(_rule_rows(rule, group) for rule in rules).row(0)


@dataclass(frozen=True, slots=True)
class _ValueTest:
    """One value of a selection, decided in Python (``plain``) or by polars (``expr``)."""

    field: str
    label: str
    plain: PlainTest | None
    expr: pl.Expr


@dataclass(frozen=True, slots=True)
class _SelectionValues:
    """A selection's value tests, with its plain tests of one comparison by (column, op).

    ``single[(column, op)]`` lists (test number, literal): a rule may have
    thousands (SigmaHQ's vulnerable drivers' hashes), compared with the few
    distinct values of its matched rows in one loop each.
    """

    tests: tuple[_ValueTest, ...]
    single: Mapping[tuple[str, str], tuple[tuple[int, str], ...]]


def _selection_values(sel: Selection) -> _SelectionValues:
    tests = tuple(
        _ValueTest(fname, label, plain_test(expr), expr) for fname, label, expr in sel.value_tests()
    )
    single: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for n, test in enumerate(tests):
        if test.plain is not None and len(test.plain) == 1:
            column, op, literal = test.plain[0]
            single.setdefault((column, op), []).append((n, literal))
    return _SelectionValues(tests, {key: tuple(tests) for key, tests in single.items()})


_COMPARE: Mapping[str, Callable[[str, str], bool]] = {
    "eq": str.__eq__,
    "contains": str.__contains__,
    "startswith": str.startswith,
    "endswith": str.endswith,
    "any": lambda _value, _text: True,
}


def _with_values(
    matches: list[Match],
    matched: pl.DataFrame,
    plans: dict[tuple[str, str], _SelectionValues],
) -> list[Match]:
    """``matches`` with, per row, the rule values that matched in its true selections.

    Only the selections true on some row of a rule are looked at. Plain tests
    (a literal and one field, ``compiler.plain_test``) are decided in Python on
    the row's value; the others are evaluated by polars on ``matched``.
    ``plans`` keeps each selection's tests (``_SelectionValues``) from one
    batch to the next.
    """
    present = set(matched.columns)
    exprs: list[pl.Expr] = []
    per_match: list[list[tuple[str, _SelectionValues, dict[int, str]]]] = []
    for match in matches:
        rule = match.rule
        true = {name for names in match.selections for name in names}
        chosen: list[tuple[str, _SelectionValues, dict[int, str]]] = []
        for sel in rule.selections:
            if sel.name not in true:
                continue
            plan = plans.get((rule.key, sel.name))
            if plan is None:
                plan = plans[rule.key, sel.name] = _selection_values(sel)
            # The tests polars decides, by number, with their column's name.
            columns: dict[int, str] = {}
            for n, test in enumerate(plan.tests):
                if test.plain is not None and all(c in present for c, _op, _t in test.plain):
                    continue
                columns[n] = f"{rule.key}\x1f{sel.name}\x1fv{n}"
                exprs.append(test.expr.fill_null(False).alias(columns[n]))
            chosen.append((sel.name, plan, columns))
        per_match.append(chosen)
    flags = matched.select(exprs).to_dict(as_series=False) if exprs else {}
    texts: dict[str, list[str | None]] = {}

    def text(column: str) -> list[str | None]:
        if column not in texts:
            texts[column] = matched[column].to_list()
        return texts[column]

    out = []
    for match, chosen in zip(matches, per_match, strict=True):
        # Per selection, the rows (positions in ``match``) where it is true.
        where: dict[str, list[int]] = {}
        for k, names in enumerate(match.selections):
            for name in names:
                where.setdefault(name, []).append(k)
        distinct: dict[tuple[str, str], set[str]] = {}
        values: list[dict[str, list[str]]] = [{} for _ in match.indices]
        for name, plan, columns in chosen:
            rows = where[name]
            passing = _single_passing(plan, name, rows, match.indices, text, distinct, columns)
            for n, test in enumerate(plan.tests):
                if n in columns:
                    flag = flags[columns[n]]
                    hits = [k for k in rows if flag[match.indices[k]]]
                elif test.plain is not None and len(test.plain) == 1:
                    found = passing.get(n)
                    if not found:
                        continue
                    column_values = text(test.plain[0][0])
                    hits = [k for k in rows if column_values[match.indices[k]] in found]
                else:
                    hits = _plain_hits(test, name, rows, match.indices, text, distinct)
                for k in hits:
                    values[k].setdefault(test.field, []).append(test.label)
        out.append(replace(match, values=tuple(values)))
    return out


def _distinct(
    key: tuple[str, str],
    rows: Sequence[int],
    indices: Sequence[int],
    text: Callable[[str], list[str | None]],
    distinct: dict[tuple[str, str], set[str]],
) -> set[str]:
    """The distinct values of column ``key[1]`` on the ``rows`` of selection ``key[0]``."""
    if key not in distinct:
        values = text(key[1])
        distinct[key] = {v for k in rows if (v := values[indices[k]]) is not None}
    return distinct[key]


def _single_passing(
    plan: _SelectionValues,
    selection: str,
    rows: Sequence[int],
    indices: Sequence[int],
    text: Callable[[str], list[str | None]],
    distinct: dict[tuple[str, str], set[str]],
    skipped: Container[int],
) -> dict[int, set[str]]:
    """Per plain test of one comparison (by number), the values of ``rows`` that pass it.

    Each distinct value is compared with all the literals of a (column, op)
    in one loop; tests in ``skipped`` are decided by polars.
    """
    passing: dict[int, set[str]] = {}
    for (column, op), tests in plan.single.items():
        if any(n in skipped for n, _literal in tests):
            continue
        for value in _distinct((selection, column), rows, indices, text, distinct):
            if op == "contains":
                hits = [n for n, literal in tests if literal in value]
            else:
                compare = _COMPARE[op]
                hits = [n for n, literal in tests if compare(value, literal)]
            for n in hits:
                passing.setdefault(n, set()).add(value)
    return passing


def _plain_hits(
    test: _ValueTest,
    selection: str,
    rows: Sequence[int],
    indices: Sequence[int],
    text: Callable[[str], list[str | None]],
    distinct: dict[tuple[str, str], set[str]],
) -> list[int]:
    """The ``rows`` (indices into ``indices``) whose value passes a comparison of ``test``.

    Each comparison is made once per distinct value of the selection's rows.
    """
    passing: dict[str, set[str]] = {}
    for column, op, literal in test.plain or ():
        compare = _COMPARE[op]
        values = _distinct((selection, column), rows, indices, text, distinct)
        found = {v for v in values if compare(v, literal)}
        if found:
            passing.setdefault(column, set()).update(found)
    if not passing:
        return []
    columns = [(text(column), found) for column, found in passing.items()]
    return [k for k in rows if any(values[indices[k]] in found for values, found in columns)]


def _present_sources(frame: pl.DataFrame) -> tuple[set[str | None] | None, set[str] | None]:
    """Lower-cased channels and event codes in the batch (None: the column is absent)."""
    exprs = []
    if CHANNEL_COLUMN in frame.schema:
        exprs.append(
            pl.col(CHANNEL_COLUMN).cast(pl.String).str.to_lowercase().unique().implode().alias("c")
        )
    if EVENT_CODE_COLUMN in frame.schema:
        exprs.append(pl.col(EVENT_CODE_COLUMN).cast(pl.String).unique().implode().alias("e"))
    if not exprs:
        return None, None
    row = frame.select(exprs).row(0, named=True)
    channels = set(row["c"]) if "c" in row else None
    codes = {c for c in row["e"] if c is not None} if "e" in row else None
    return channels, codes


# Below this many log-source variants a batch's masks are cheaper computed row by row.
_MASKS_BY_KEY = 8


def _variant_masks(frame: pl.DataFrame, masks: Sequence[pl.Expr]) -> pl.DataFrame:
    """The variant ``masks`` on ``frame``, computed once per distinct value of what they read.

    They read the channel, the event id and a field or two, whose values a
    batch repeats: each mask lower-cases the channel again, row by row.
    """
    read = sorted({name for mask in masks for name in mask.meta.root_names()})
    if len(masks) < _MASKS_BY_KEY or not read:
        return frame.select(masks)
    keys = frame.select(read)
    values = keys.unique(maintain_order=True).with_columns(masks)
    return keys.join(values, on=read, how="left", nulls_equal=True, maintain_order="left").select(
        m.meta.output_name() for m in masks
    )


def evaluate(
    frame: pl.DataFrame, groups: Sequence[RuleGroup], keep: Sequence[str] | None = None
) -> list[Match]:
    """Every rule match in ``frame``, with the matched rows and their explanation.

    ``keep`` names the batch columns the matched rows carry (all when None),
    besides the canonical Sigma field columns.

    The variant masks are computed in one pass; each group then reads only the
    columns its rules need; matched rows are gathered whole from ``frame``.
    """
    if frame.height == 0 or not groups:
        return []
    frame = frame.with_row_index(ROW_COLUMN)
    resolver = FieldResolver(frame.schema)
    if keep is None:
        source = frame.drop(ROW_COLUMN)
    else:
        source = frame.select([c for c in keep if c in frame.schema and c != ROW_COLUMN])
    channels, codes = _present_sources(frame)
    candidates = [g for g in groups if g.variant.may_match(channels, codes)]
    if not candidates:
        return []
    if any(g.needs.keywords for g in candidates):
        frame = _with_keywords(frame, _keyword_needs(candidates))
    masks = _variant_masks(
        frame, [g.variant.mask(resolver).alias(f"g{i}") for i, g in enumerate(candidates)]
    )
    present = masks.select(pl.all().any()).row(0)
    matches: list[Match] = []
    for i, group in enumerate(candidates):
        if not present[i]:
            continue
        sub = frame.select(_columns(resolver, group)).filter(masks[f"g{i}"])
        sub = _prepare(sub, resolver, group)
        for step in _candidates(sub, group):
            restricted = group if step.restricted else None
            matches.extend(
                _match(source, step.rules, step.rows, restricted, step.known, group.values)
            )
    return matches


__all__ = [
    "CANONICAL_PREFIX",
    "Match",
    "RuleGroup",
    "SelectionColumns",
    "evaluate",
    "evidence_of",
    "group_rules",
    "restricted_expr",
    "selection_columns",
]
