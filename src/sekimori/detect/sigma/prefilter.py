r"""Literal prefilter: which rules can possibly match a batch, found with one scan per field.

Most Sigma rules cannot match unless some field contains one of a few
literals: ``Image|endswith: '\\powershell.exe'`` needs ``\\powershell.exe``
in ``Image``, a wildcard pattern needs its longest literal part, ``EventID:
4625`` needs ``4625``. This module derives, from a rule's parsed detection and
condition, one such *requirement*: a set of (column, literal) pairs of which
at least one must occur (``None`` when the rule has none, e.g. it only uses
regular expressions or ``not``).

The engine then scans each lower-cased field column once with Aho-Corasick
(``str.extract_many``) for all the literals of a rule group, and evaluates
only the rules whose literals occurred, on the rows where some literal
occurred (the same idea as the literal prefilters of Hyperscan-based
engines). A requirement is only ever a necessary condition: the rule's own
expression still decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

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

Requirement = frozenset[tuple[str, str]]


def _value_literal(value: SigmaType) -> Requirement | None:
    if isinstance(value, SigmaExpansion):
        return _union(_value_literal(v) for v in value.values)
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


def _union(reqs: Iterable[Requirement | None]) -> Requirement | None:
    out: set[tuple[str, str]] = set()
    for req in reqs:
        if req is None:
            return None
        out |= req
    return frozenset(out)


def _score(req: Requirement) -> tuple[int, int]:
    """Prefer requirements whose shortest literal is longest, then fewer literals."""
    return (min(len(lit) for _c, lit in req), -len(req))


def _best(reqs: Iterable[Requirement | None]) -> Requirement | None:
    found = [r for r in reqs if r]
    return max(found, key=_score) if found else None


def _item(item: SigmaDetectionItem) -> Requirement | None:
    if item.negated or not item.value:
        return None
    column = KEYWORD_LOWER_COLUMN if item.field is None else lower_name(item.field)
    per_value = [_value_literal(v) for v in item.value]
    combined = _best(per_value) if item.value_linking is ConditionAND else _union(per_value)
    if combined is None:
        return None
    return frozenset((column, lit) for _c, lit in combined)


def _detection(detection: SigmaDetection) -> Requirement | None:
    children = [
        _detection(i) if isinstance(i, SigmaDetection) else _item(i)
        for i in detection.detection_items
    ]
    if detection.item_linking is ConditionOR:
        return _union(children)
    return _best(children)


def _condition(
    node: object, selections: Mapping[str, Requirement | None], detections: SigmaDetections
) -> Requirement | None:
    if isinstance(node, ConditionIdentifier):
        return selections.get(node.identifier)
    if isinstance(node, ConditionSelector):
        names = [i.identifier for i in node.resolve_referenced_detections(detections)]
        reqs = [selections.get(n) for n in names]
        return _best(reqs) if node.cond_class is ConditionAND else _union(reqs)
    if isinstance(node, ConditionAND):
        return _best(_condition(a, selections, detections) for a in node.args)
    if isinstance(node, ConditionOR):
        return _union(_condition(a, selections, detections) for a in node.args)
    if isinstance(node, ConditionNOT):
        return None
    return None


def requirement(
    detections: SigmaDetections, trees: Sequence[object] | None = None
) -> Requirement | None:
    """(column, literal) pairs of which one must occur for the rule to match, or None.

    ``trees`` are the conditions' parse trees (``parse(postprocess=False)``),
    parsed here when not given.
    """
    if trees is None:
        trees = [c.parse(postprocess=False) for c in detections.parsed_condition]
    selections = {name: _detection(d) for name, d in detections.detections.items()}
    return _union(_condition(tree, selections, detections) for tree in trees)
