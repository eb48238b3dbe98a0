r"""Literal prefilter: which rules can possibly match a batch, found with one scan per field.

Most Sigma rules cannot match unless some field contains one of a few
literals: ``Image|endswith: '\\powershell.exe'`` needs ``\\powershell.exe``
in ``Image``, a wildcard pattern needs its longest literal part, ``EventID:
4625`` needs ``4625``. This module derives, from a rule's parsed detection and
condition, its *requirement*: clauses that must all hold, each a set of
(column, literal) pairs of which at least one must occur (``None`` when the
rule has none, e.g. it only uses regular expressions or ``not``). A rule that
needs ``\\powershell.exe`` in ``Image`` and `` -enc`` in ``CommandLine``
has two clauses: both literals must occur.

The engine then scans each lower-cased field column once with Aho-Corasick
(``str.extract_many``) for all the literals of a rule group, and evaluates
each rule only on the rows where every clause of its requirement has a
literal (the same idea as the literal prefilters of Hyperscan-based
engines). A requirement is a necessary condition: the rule's own expression
still decides, unless the requirement is the whole condition
(``compiler.exact_requirement``).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem
from sigma.rule.detection import SigmaDetections
from sigma.types import (
    SigmaBool,
    SigmaExpansion,
    SigmaNumber,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from sekimori.detect.sigma.fields import lower_name
from sekimori.detect.sigma.values import KEYWORD_LOWER_COLUMN, merge_parts

# Literals shorter than this occur nearly everywhere and filter nothing.
MIN_LITERAL = 3

T = TypeVar("T")

# At least one of these (column, literal) pairs occurs.
Clause = frozenset[tuple[str, str]]
# Every clause holds.
Requirement = tuple[Clause, ...]


def _value_literal(value: SigmaType) -> Clause | None:
    if isinstance(value, SigmaExpansion):
        return union(_value_literal(v) for v in value.values)
    if isinstance(value, SigmaString):
        if value.contains_placeholder():
            return None
        parts = [p for p in merge_parts(value.lower()) if isinstance(p, str)]
        if not parts:
            return None
        longest = max(parts, key=len)
        return frozenset({("", longest)}) if len(longest) >= MIN_LITERAL else None
    if isinstance(value, SigmaTimestampPart):
        # ``year: 2024`` is tested on the parsed time, not on the text.
        return None
    if isinstance(value, SigmaNumber | SigmaBool):
        text = str(value).lower()
        return frozenset({("", text)}) if len(text) >= MIN_LITERAL else None
    return None


def union(sets: Iterable[AbstractSet[T] | None]) -> frozenset[T] | None:
    """Everything in ``sets``, or None as soon as one of them is None (no requirement)."""
    out: set[T] = set()
    for part in sets:
        if part is None:
            return None
        out |= part
    return frozenset(out)


def _score(clause: Clause) -> tuple[int, int]:
    """Prefer clauses whose shortest literal is longest, then fewer literals."""
    return (min(len(lit) for _c, lit in clause), -len(clause))


def _all(reqs: Iterable[Requirement | None]) -> Requirement | None:
    """What each of ``reqs`` requires (an AND): all their clauses."""
    clauses = dict.fromkeys(c for req in reqs if req for c in req)
    return tuple(clauses) or None


def _any(reqs: Iterable[Requirement | None]) -> Requirement | None:
    """What one of ``reqs`` requires (an OR): one clause, the best of each joined."""
    best: list[Clause | None] = []
    for req in reqs:
        if not req:
            return None
        best.append(max(req, key=_score))
    joined = union(best)
    return (joined,) if joined else None


def _item(item: SigmaDetectionItem) -> Requirement | None:
    if item.negated or not item.value:
        return None
    column = KEYWORD_LOWER_COLUMN if item.field is None else lower_name(item.field)
    per_value = [_value_literal(v) for v in item.value]
    if item.value_linking is ConditionAND:  # ``|all``: every value's literal occurs
        return _all(
            (frozenset((column, lit) for _c, lit in clause),) if clause else None
            for clause in per_value
        )
    combined = union(per_value)
    if combined is None:
        return None
    return (frozenset((column, lit) for _c, lit in combined),)


def _detection(detection: SigmaDetection) -> Requirement | None:
    children = [
        _detection(i) if isinstance(i, SigmaDetection) else _item(i)
        for i in detection.detection_items
    ]
    if detection.item_linking is ConditionOR:
        return _any(children)
    return _all(children)


def _condition(
    node: object, selections: Mapping[str, Requirement | None], detections: SigmaDetections
) -> Requirement | None:
    if isinstance(node, ConditionIdentifier):
        return selections.get(node.identifier)
    if isinstance(node, ConditionSelector):
        names = [i.identifier for i in node.resolve_referenced_detections(detections)]
        reqs = [selections.get(n) for n in names]
        return _all(reqs) if node.cond_class is ConditionAND else _any(reqs)
    if isinstance(node, ConditionAND):
        return _all(_condition(a, selections, detections) for a in node.args)
    if isinstance(node, ConditionOR):
        return _any(_condition(a, selections, detections) for a in node.args)
    if isinstance(node, ConditionNOT):
        return None
    return None


def requirement(
    detections: SigmaDetections, trees: Sequence[object] | None = None
) -> Requirement | None:
    """The clauses that must all hold for the rule to match, or None.

    ``trees`` are the conditions' parse trees (``parse(postprocess=False)``),
    parsed here when not given; a rule with several conditions matches when
    one of them does.
    """
    if trees is None:
        trees = [c.parse(postprocess=False) for c in detections.parsed_condition]
    selections = {name: _detection(d) for name, d in detections.detections.items()}
    reqs = [_condition(tree, selections, detections) for tree in trees]
    return reqs[0] if len(reqs) == 1 else _any(reqs)


def holds(req: Requirement, present: Container[tuple[str, str]]) -> bool:
    """Whether every clause of ``req`` has a (column, literal) pair in ``present``."""
    return all(any(pair in present for pair in clause) for clause in req)


@dataclass(frozen=True, slots=True)
class ClauseIndex:
    """Requirements of several rules, indexed by (column, literal) to be checked per event.

    ``postings[pair]`` lists (rule number, clause number) for each clause that
    ``pair`` satisfies; ``clauses[n]`` is the number of rule ``n``'s clauses.
    """

    postings: Mapping[tuple[str, str], tuple[tuple[int, int], ...]] = field(default_factory=dict)
    clauses: tuple[int, ...] = ()

    @classmethod
    def of(cls, requirements: Sequence[Requirement]) -> ClauseIndex:
        """The index of ``requirements`` (rule ``n`` is ``requirements[n]``)."""
        postings: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for n, req in enumerate(requirements):
            for k, clause in enumerate(req):
                for pair in clause:
                    postings.setdefault(pair, []).append((n, k))
        return cls(
            {pair: tuple(p) for pair, p in postings.items()},
            tuple(len(req) for req in requirements),
        )

    def satisfied(self, signatures: Sequence[Iterable[tuple[str, str]]]) -> dict[int, list[int]]:
        """Per rule all of whose clauses hold in one of ``signatures``, those signatures.

        A signature is the set of (column, literal) pairs found in an event.
        Rules and their signatures are numbered as given, in ascending order.
        """
        # Sets of signatures as the bits of an int: one AND or OR per clause.
        where: dict[tuple[str, str], int] = {}
        for number, present in enumerate(signatures):
            bit = 1 << number
            for pair in present:
                where[pair] = where.get(pair, 0) | bit
        per_clause: dict[int, dict[int, int]] = {}
        for pair, bits in where.items():
            for n, k in self.postings.get(pair, ()):
                held = per_clause.setdefault(n, {})
                held[k] = held.get(k, 0) | bits
        out: dict[int, list[int]] = {}
        for n in sorted(per_clause):
            held = per_clause[n]
            if len(held) < self.clauses[n]:
                continue
            both = -1
            for bits in held.values():
                both &= bits
            found = []
            while both:
                low = both & -both
                found.append(low.bit_length() - 1)
                both ^= low
            if found:
                out[n] = found
        return out
