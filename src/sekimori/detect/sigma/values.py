"""Sigma values (after pySigma's modifiers) compiled into polars expressions.

pySigma has already applied the value modifiers when a rule is parsed:
``contains`` became wildcards around a ``SigmaString``, ``base64offset`` and
``windash`` became a ``SigmaExpansion`` of alternatives, ``wide`` re-encoded
the text, ``re`` gave a ``SigmaRegularExpression`` with its flags, ``cidr``
a ``SigmaCIDRExpression``, ``gt``… a ``SigmaCompareExpression``, ``exists``
a ``SigmaExists``, ``fieldref`` a ``SigmaFieldReference``, ``cased`` a
``SigmaCasedString``, ``minute``… ``year`` a ``SigmaTimestampPart``
(Sigma specification v2, "Modifiers").

What is left is to turn each value into a vectorized test on the field's
canonical column (``fields.column_name``), following the specification's
semantics: strings match the whole value, case-insensitively unless cased,
``*``/``?`` are wildcards; regular expressions search anywhere and are
case-sensitive unless flagged; a missing field matches nothing. A test of a
missing field is null, which ``and``/``or`` (Kleene logic) and the engine's
row filter treat as false; the compiler fills it with false below each
``not``, so ``not`` of a missing field is true.

Lists of values of one field are matched in bulk: equality with ``is_in``,
substrings with one Aho-Corasick ``contains_any``, prefixes and suffixes
and wildcard patterns with one alternation regex.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

from sekimori.detect.sigma.fields import KEYWORD_COLUMN, column_name, lower_name
from sekimori.errors import RuleError
from sekimori.sources.frame import any_to_datetime

KEYWORD_LOWER_COLUMN = KEYWORD_COLUMN + ".lc"

# Above this many prefixes or suffixes one regex beats a chain of ORs.
_ALTERNATION_MIN = 4

_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: ("i", re.IGNORECASE),
    SigmaRegularExpressionFlag.MULTILINE: ("m", re.MULTILINE),
    SigmaRegularExpressionFlag.DOTALL: ("s", re.DOTALL),
}


@dataclass(slots=True)
class Needs:
    """The canonical columns compiled expressions read, so the engine adds only those."""

    raw: set[str] = field(default_factory=set)
    lower: set[str] = field(default_factory=set)
    keywords: bool = False

    def update(self, other: Needs) -> None:
        """Add what ``other`` needs."""
        self.raw |= other.raw
        self.lower |= other.lower
        self.keywords = self.keywords or other.keywords


@dataclass(slots=True)
class _Buckets:
    """String shapes of OR-linked values, gathered to be matched in bulk."""

    eq: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)
    regex: list[str] = field(default_factory=list)
    anything: bool = False

    def add(self, parts: list[str | SpecialChars]) -> None:
        kind, text = shape(parts)
        if kind == "eq":
            self.eq.append(text)
        elif kind == "contains":
            self.contains.append(text)
        elif kind == "startswith":
            self.starts.append(text)
        elif kind == "endswith":
            self.ends.append(text)
        elif kind == "any":
            self.anything = True
        else:
            self.regex.append(text)

    def expr(self, col: pl.Expr) -> list[pl.Expr]:
        out: list[pl.Expr] = []
        if self.anything:
            out.append(col.is_not_null())
        if self.eq:
            out.append(col == self.eq[0] if len(self.eq) == 1 else col.is_in(self.eq))
        if self.contains:
            if len(self.contains) == 1:
                out.append(col.str.contains(self.contains[0], literal=True))
            else:
                out.append(col.str.contains_any(self.contains))
        if self.starts:
            if len(self.starts) < _ALTERNATION_MIN:
                out.extend(col.str.starts_with(s) for s in self.starts)
            else:
                alt = "|".join(pl.escape_regex(s) for s in self.starts)
                out.append(col.str.contains(f"(?s)^(?:{alt})"))
        if self.ends:
            if len(self.ends) < _ALTERNATION_MIN:
                out.extend(col.str.ends_with(s) for s in self.ends)
            else:
                alt = "|".join(pl.escape_regex(s) for s in self.ends)
                out.append(col.str.contains(f"(?s)(?:{alt})$"))
        if self.regex:
            out.append(col.str.contains("(?s)" + "|".join(f"(?:{r})" for r in self.regex)))
        return out


def merge_parts(value: SigmaString) -> list[str | SpecialChars]:
    """The parts of a Sigma string with adjacent text joined and ``**`` collapsed."""
    out: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise RuleError(f"placeholder %{part.name}% has no configured values")
        if isinstance(part, str):
            if not part:
                continue
            if out and isinstance(out[-1], str):
                out[-1] = out[-1] + part
                continue
        elif part is SpecialChars.WILDCARD_MULTI and out and out[-1] is part:
            continue
        out.append(part)
    return out


def shape(parts: list[str | SpecialChars]) -> tuple[str, str]:
    """Classify a wildcard pattern: eq, contains, startswith, endswith, any or regex.

    For ``regex`` the text is an anchored regular expression (``*`` is
    ``.*``, ``?`` is ``.``) to be used with the ``s`` flag.
    """
    multi = SpecialChars.WILDCARD_MULTI
    if not parts:
        return "eq", ""
    if all(isinstance(p, str) for p in parts):
        return "eq", "".join(str(p) for p in parts)
    if parts == [multi]:
        return "any", ""
    if len(parts) == 3 and parts[0] is multi and parts[2] is multi and isinstance(parts[1], str):
        return "contains", parts[1]
    if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is multi:
        return "startswith", parts[0]
    if len(parts) == 2 and parts[0] is multi and isinstance(parts[1], str):
        return "endswith", parts[1]
    return "regex", "^" + wildcard_regex(parts, ".") + "$"


def wildcard_regex(parts: Sequence[str | SpecialChars], dot: str) -> str:
    """The regular expression of a wildcard pattern, ``dot`` standing for one character."""
    out = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(dot + "*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(dot)
        else:
            out.append(pl.escape_regex(str(part)))
    return "".join(out)


def regex_flags(value: SigmaRegularExpression) -> tuple[str, int]:
    """Inline flag prefix (``(?i)``) and Python ``re`` flags of a Sigma regex."""
    letters = "".join(sorted(_REGEX_FLAGS[f][0] for f in value.flags))
    py_flags = 0
    for flag in value.flags:
        py_flags |= _REGEX_FLAGS[flag][1]
    return (f"(?{letters})" if letters else ""), py_flags


def rust_regex_ok(pattern: str) -> bool:
    """True when polars' (Rust) regex engine accepts ``pattern``."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError:
        return False
    return True


def python_test(col: pl.Expr, test: Callable[[str], bool]) -> pl.Expr:
    """Row test in Python, for what Rust regex or polars cannot express (look-arounds, IPv6)."""

    def run(series: pl.Series) -> pl.Series:
        # Each distinct value is tested once: logs repeat their addresses,
        # service command lines and paths far more often than they vary.
        passing = [v for v in series.drop_nulls().unique().to_list() if test(v)]
        return series.is_in(pl.Series(passing, dtype=series.dtype).implode()).fill_null(False)

    return col.map_batches(run, return_dtype=pl.Boolean)


# One piece of a regular expression: an atom (escaped character or class, a
# bracket class without nesting, a group, any other character) and its quantifier.
_PIECE = re.compile(
    r"""(?P<atom>\\[^0-9A-Za-z]|\\[wWdDsSnrtfv]|\[\^?\]?(?:\\.|[^\]\\\[])*\]|[^\\\[(){}|?*+])"""
    r"""(?P<quantifier>(?:[?*+]|\{(?P<low>\d+)(?:,(?P<high>\d*))?\})\??)?"""
)


def search_core(pattern: str) -> str:
    r"""A pattern that a text contains exactly when it contains ``pattern`` (else ``pattern``).

    Sigma's ``re`` is a search anywhere in the field, so what ends a match
    may be cut: a last piece that can match nothing (``x?``, ``x*``,
    ``(?:…)?``, ``x{0,4}``) goes, and a last ``x+`` or ``x{m,n}`` becomes
    ``x{m}``. A match of the pattern begins with a match of the shorter one,
    which is itself a match of the pattern. Polars compiles each regular
    expression again on every batch (its cache holds a few dozen), and
    repeats of Unicode classes are dear: ``-k\s\w{1,64}(?:\s?(?:-p|-s))?``
    takes 15 ms, ``-k\s\w`` 0.2. Patterns with alternation, flags, named
    groups or escapes other than classes and punctuation are left whole.
    """
    pieces: list[tuple[str, str, int | None]] = []
    at = 0
    while at < len(pattern):
        if pattern[at] == "(":
            end = _group_end(pattern, at)
            if end is None:
                return pattern
            match = _PIECE.match("." + pattern[end:])
            quantifier = match.group("quantifier") if match else None
            low = match.group("low") if match else None
            atom, at = pattern[at:end], end + len(quantifier or "")
        else:
            match = _PIECE.match(pattern, at)
            if match is None:
                return pattern
            atom, quantifier, low = match.group("atom"), match.group("quantifier"), match["low"]
            at = match.end()
        minimum = None if not quantifier else (1 if quantifier[0] == "+" else 0)
        if low is not None:
            minimum = int(low)
        pieces.append((atom, quantifier or "", minimum))
    while pieces and pieces[-1][2] == 0:
        pieces.pop()
    if not pieces:
        return pattern
    atom, _quantifier, minimum = pieces[-1]
    if minimum is not None:
        pieces[-1] = (atom, "" if minimum == 1 else f"{{{minimum}}}", minimum)
    return "".join(atom + quantifier for atom, quantifier, _m in pieces)


def _group_end(pattern: str, start: int) -> int | None:
    """The index after the ``(?:…)`` or ``(…)`` group opened at ``start`` (None: not plain)."""
    if pattern.startswith("(?", start) and not pattern.startswith("(?:", start):
        return None
    depth = 0
    at = start
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if char == "[":
            match = _PIECE.match(pattern, at)
            if match is None or not match.group("atom").startswith("["):
                return None
            at += len(match.group("atom"))
            continue
        if char == "(":
            if pattern.startswith("(?", at) and not pattern.startswith("(?:", at):
                return None
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1
    return None


def regex_expr(col: pl.Expr, value: SigmaRegularExpression) -> pl.Expr:
    """Unanchored search of a Sigma regular expression (Rust engine, Python if it must)."""
    prefix, py_flags = regex_flags(value)
    pattern = str(value.regexp)
    if rust_regex_ok(prefix + pattern):
        shorter = search_core(pattern)
        if shorter != pattern and rust_regex_ok(prefix + shorter):
            pattern = shorter
        return col.str.contains(prefix + pattern)
    try:
        compiled = re.compile(pattern, py_flags)
    except re.error as exc:
        raise RuleError(f"regular expression {pattern!r} is invalid: {exc}") from exc
    return python_test(col, lambda v: compiled.search(v) is not None)


def _compare(col: pl.Expr, value: SigmaCompareExpression) -> pl.Expr:
    number = pl.lit(value.number.number)
    if isinstance(value.number, SigmaTimestampPart):
        # ``hour|gte: 22``: the part of the time is compared, not the text.
        num = _TIME_PARTS[value.number.timestamp_part](_moment(col))
    else:
        num = col.cast(pl.Float64, strict=False)
    ops: Mapping[CompareOperators, Callable[[], pl.Expr]] = {
        CompareOperators.LT: lambda: num < number,
        CompareOperators.LTE: lambda: num <= number,
        CompareOperators.GT: lambda: num > number,
        CompareOperators.GTE: lambda: num >= number,
        CompareOperators.NEQ: lambda: num != number,
    }
    return ops[value.op]()


# Timestamp-part modifiers: the part of the UTC time, as polars extracts it
# (``day`` is the day of the month, ``week`` the ISO 8601 week number).
_TIME_PARTS: Mapping[TimestampPart, Callable[[pl.Expr], pl.Expr]] = {
    TimestampPart.MINUTE: lambda t: t.dt.minute(),
    TimestampPart.HOUR: lambda t: t.dt.hour(),
    TimestampPart.DAY: lambda t: t.dt.day(),
    TimestampPart.WEEK: lambda t: t.dt.week(),
    TimestampPart.MONTH: lambda t: t.dt.month(),
    TimestampPart.YEAR: lambda t: t.dt.year(),
}


def timestamp_part(col: pl.Expr, value: SigmaTimestampPart) -> pl.Expr:
    """Test of one part (``hour``, ``week`` …) of the time held by a field's text.

    The canonical column is text: ISO 8601 (``T`` or space, any fraction,
    ``Z``, an offset, `` UTC`` or none, taken as UTC, which covers Sysmon's
    ``UtcTime`` and a datetime column cast to text), a bare date, or
    seconds since the epoch. A value that is no time matches nothing.
    """
    return _TIME_PARTS[value.timestamp_part](_moment(col)) == value.number


def _moment(col: pl.Expr) -> pl.Expr:
    """The time a text column holds (see ``timestamp_part``); a bare date is its midnight."""
    date = col.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return pl.coalesce(any_to_datetime(col, pl.String()), date.cast(pl.Datetime("us", "UTC")))


def _cidr(col_lower: pl.Expr, value: SigmaCIDRExpression) -> pl.Expr:
    network = value.network
    if network.version == 4:
        buckets = _Buckets()
        for pattern in value.expand("*"):
            buckets.add(merge_parts(SigmaString(pattern)))
        return _or(buckets.expr(col_lower))

    def inside(text: str) -> bool:
        try:
            return ipaddress.ip_address(text.split("%")[0]) in network
        except ValueError:
            return False

    return python_test(col_lower, inside)


def _or(exprs: Sequence[pl.Expr]) -> pl.Expr:
    if not exprs:
        return pl.lit(False)
    out = exprs[0]
    for e in exprs[1:]:
        out = out | e
    return out


def _and(exprs: Sequence[pl.Expr]) -> pl.Expr:
    if not exprs:
        return pl.lit(True)
    out = exprs[0]
    for e in exprs[1:]:
        out = out & e
    return out


class ValueCompiler:
    """Compiles the values of one detection item; records the columns it reads.

    ``placeholders`` gives the values of ``%name%`` placeholders used with the
    ``expand`` modifier; a placeholder without values makes the rule
    unsupported (``RuleError``) rather than silently never matching.
    """

    def __init__(self, placeholders: Mapping[str, Sequence[str]] | None = None) -> None:
        self.placeholders = dict(placeholders or {})

    def field_values(
        self, fieldname: str, values: Sequence[SigmaType], all_of: bool, needs: Needs
    ) -> pl.Expr:
        """Test of ``fieldname`` against ``values`` (any of them, or all with ``all_of``)."""
        if all_of:
            parts = [self._field_any(fieldname, [v], needs) for v in values]
            return _and(parts)
        return self._field_any(fieldname, values, needs)

    def keyword_values(self, values: Sequence[SigmaType], all_of: bool, needs: Needs) -> pl.Expr:
        """Test of field-less values: a substring of any text field of the event."""
        needs.keywords = True
        if all_of:
            return _and([self._keyword_any([v]) for v in values])
        return self._keyword_any(values)

    def _strings(self, value: SigmaString) -> Iterator[SigmaString]:
        if not value.contains_placeholder():
            yield value
            return
        missing = [
            p.name
            for p in value.s
            if isinstance(p, Placeholder) and p.name not in self.placeholders
        ]
        if missing:
            raise RuleError(f"expand modifier: placeholder %{missing[0]}% has no configured values")

        def lookup(p: Placeholder) -> Iterator[str]:
            yield from self.placeholders[p.name]

        yield from value.replace_placeholders(lookup)

    def _flatten(self, values: Sequence[SigmaType]) -> Iterator[SigmaType]:
        for value in values:
            if isinstance(value, SigmaExpansion):
                yield from self._flatten(value.values)
            elif isinstance(value, SigmaString) and value.contains_placeholder():
                yield from self._strings(value)
            else:
                yield value

    def _field_any(self, fieldname: str, values: Sequence[SigmaType], needs: Needs) -> pl.Expr:
        raw = pl.col(column_name(fieldname))
        low = pl.col(lower_name(fieldname))
        lower_buckets = _Buckets()
        cased_buckets = _Buckets()
        exprs: list[pl.Expr] = []
        uses_lower = False
        for value in self._flatten(values):
            if isinstance(value, SigmaCasedString):
                cased_buckets.add(merge_parts(value))
            elif isinstance(value, SigmaString):
                lower_buckets.add(merge_parts(value.lower()))
                uses_lower = True
            elif isinstance(value, SigmaBool):
                lower_buckets.eq.append("true" if value.boolean else "false")
                uses_lower = True
            elif isinstance(value, SigmaTimestampPart):
                exprs.append(timestamp_part(raw, value))
            elif isinstance(value, SigmaNumber):
                lower_buckets.eq.append(str(value.number))
                uses_lower = True
            elif isinstance(value, SigmaNull):
                exprs.append(raw.is_null() | (raw == ""))
            elif isinstance(value, SigmaExists):
                exprs.append(raw.is_not_null() if value.exists else raw.is_null())
            elif isinstance(value, SigmaRegularExpression):
                if value.regexp.contains_placeholder():
                    for expanded in value.replace_placeholders(
                        lambda p: iter(self._placeholder(p))
                    ):
                        exprs.append(regex_expr(raw, expanded))
                else:
                    exprs.append(regex_expr(raw, value))
            elif isinstance(value, SigmaCompareExpression):
                exprs.append(_compare(raw, value))
            elif isinstance(value, SigmaCIDRExpression):
                exprs.append(_cidr(low, value))
                uses_lower = True
            elif isinstance(value, SigmaFieldReference):
                exprs.append(self._fieldref(low, value, needs))
                uses_lower = True
            else:
                raise RuleError(f"value type {type(value).__name__} is not supported")
        exprs.extend(lower_buckets.expr(low))
        exprs.extend(cased_buckets.expr(raw))
        needs.raw.add(fieldname)
        if uses_lower:
            needs.lower.add(fieldname)
        return _or(exprs)

    def _placeholder(self, p: Placeholder) -> list[str]:
        if p.name not in self.placeholders:
            raise RuleError(f"expand modifier: placeholder %{p.name}% has no configured values")
        return list(self.placeholders[p.name])

    def _fieldref(self, low: pl.Expr, value: SigmaFieldReference, needs: Needs) -> pl.Expr:
        needs.raw.add(value.field)
        needs.lower.add(value.field)
        other = pl.col(lower_name(value.field))
        if value.starts_with and value.ends_with:
            return low.str.contains(other, literal=True)
        if value.starts_with:
            return low.str.starts_with(other)
        if value.ends_with:
            return low.str.ends_with(other)
        return low == other

    def _keyword_any(self, values: Sequence[SigmaType]) -> pl.Expr:
        raw = pl.col(KEYWORD_COLUMN)
        low = pl.col(KEYWORD_LOWER_COLUMN)
        texts: list[str] = []
        regexes: list[str] = []
        exprs: list[pl.Expr] = []
        for value in self._flatten(values):
            if isinstance(value, SigmaString):
                parts = merge_parts(value.lower())
                while parts and parts[0] is SpecialChars.WILDCARD_MULTI:
                    parts = parts[1:]
                while parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
                    parts = parts[:-1]
                if len(parts) == 1 and isinstance(parts[0], str):
                    texts.append(parts[0])
                elif not parts:
                    exprs.append(low.is_not_null())
                else:
                    regexes.append(wildcard_regex(parts, "[^\n]"))
            elif isinstance(value, SigmaTimestampPart):
                raise RuleError(
                    f"timestamp-part modifier {value.timestamp_part.name.lower()} needs a field"
                )
            elif isinstance(value, SigmaNumber | SigmaBool):
                texts.append(str(value).lower())
            elif isinstance(value, SigmaRegularExpression):
                exprs.append(regex_expr(raw, value))
            else:
                raise RuleError(f"keyword value type {type(value).__name__} is not supported")
        if texts:
            exprs.append(
                low.str.contains(texts[0], literal=True)
                if len(texts) == 1
                else low.str.contains_any(texts)
            )
        if regexes:
            exprs.append(low.str.contains("|".join(f"(?:{r})" for r in regexes)))
        return _or(exprs)
