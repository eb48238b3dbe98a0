"""A parsed Sigma rule (pySigma objects) compiled once into polars expressions.

Each named detection (``selection``, ``filter_main_*`` …) becomes one boolean
expression over the canonical field columns; the condition, read from
pySigma's parse tree before post-processing (so that identifiers and
``1 of selection_*`` selectors are still visible), combines those. The rule
expression is what the engine evaluates on every row; the per-selection
expressions are evaluated again only on the matched rows, to say which
selections matched and which fields they read (the finding's evidence).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial

import polars as pl
from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.rule.detection import SigmaDetections
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from sekimori.detect.sigma.fields import LOWER_PREFIX, column_name, lower_name
from sekimori.detect.sigma.logsource import Variant, variants_for
from sekimori.detect.sigma.meta import RuleMeta
from sekimori.detect.sigma.prefilter import MIN_LITERAL, Requirement, requirement, union
from sekimori.detect.sigma.values import Needs, ValueCompiler, merge_parts, shape
from sekimori.errors import RuleError
from sekimori.model import Severity

_TECHNIQUE = re.compile(r"^t\d{4}(\.\d{3})?$")
_OTHER_ATTACK_IDS = re.compile(r"^[gsm]\d{4}$")

# Output name of an evidence test that is a plain comparison (see ``plain_test``).
_PLAIN = "\x1esigma-plain\x1e"

# Output name of a rule expression carrying what the engine may know of the rule
# without evaluating it (see ``keyword_literals`` and ``forced_selections``).
_FACTS = "\x1esigma-rule\x1e"

PlainTest = tuple[tuple[str, str, str], ...]
"""Alternatives (column, op, text), ``op`` one of eq, contains, startswith, endswith, any."""


@dataclass(frozen=True, slots=True)
class Selection:
    """One named detection of a rule: its expression and the Sigma fields it reads."""

    name: str
    expr: pl.Expr
    needs: Needs
    # Builds (field, value as written in the rule, test of that value alone) for the
    # evidence of a match; built only for rules that fire.
    value_tests: Callable[[], tuple[tuple[str, str, pl.Expr], ...]] = field(
        default=tuple, compare=False, repr=False
    )

    @property
    def fields(self) -> tuple[str, ...]:
        """The Sigma fields this selection reads, sorted."""
        return tuple(sorted(self.needs.raw))


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A Sigma detection rule ready for the engine.

    ``expr`` is true on the rows the rule matches (within its log source,
    which ``variants`` describes); ``needs`` lists the canonical columns it
    reads. ``output`` is false for rules only used by a correlation rule
    (``generate: false``).
    """

    key: str
    meta: RuleMeta
    variants: tuple[Variant, ...]
    expr: pl.Expr
    selections: tuple[Selection, ...]
    needs: Needs = field(default_factory=Needs)
    output: bool = True
    requirement: Requirement | None = None
    # ``expr`` read on the rule's own rows only (``engine.restricted_expr``), when
    # kept by the compiled-rule cache; otherwise the engine makes it when first needed.
    restricted: Callable[[], pl.Expr | None] | None = field(default=None, compare=False, repr=False)


def attack_tags(tags: Sequence[object]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """ATT&CK tactics (``execution``) and technique ids (``T1059.001``) from Sigma tags."""
    tactics: list[str] = []
    techniques: list[str] = []
    for tag in tags:
        namespace = getattr(tag, "namespace", "")
        name = str(getattr(tag, "name", "")).lower()
        if namespace != "attack" or not name:
            continue
        if _TECHNIQUE.match(name):
            techniques.append(name.upper())
        elif not _OTHER_ATTACK_IDS.match(name):
            tactics.append(name.replace("_", "-"))
    return tuple(dict.fromkeys(tactics)), tuple(dict.fromkeys(techniques))


def rule_meta(rule: SigmaRule | object, ruleset: str) -> RuleMeta:
    """Identity, level and ATT&CK mapping of a parsed rule (detection or correlation)."""
    rule_id = getattr(rule, "id", None)
    title = str(getattr(rule, "title", "") or "")
    source = getattr(rule, "source", None)
    path = str(source.path) if source is not None and source.path is not None else None
    level = getattr(rule, "level", None)
    tactics, techniques = attack_tags(getattr(rule, "tags", []) or [])
    return RuleMeta(
        rule_id=str(rule_id) if rule_id is not None else (path or title),
        title=title,
        name=getattr(rule, "name", None),
        severity=Severity.parse(str(level) if level is not None else None),
        ruleset=ruleset,
        tactics=tactics,
        techniques=techniques,
        description=getattr(rule, "description", None),
        path=path,
    )


class RuleCompiler:
    """Compiles pySigma ``SigmaRule`` objects; ``RuleError`` says why one cannot be."""

    def __init__(self, placeholders: Mapping[str, Sequence[str]] | None = None) -> None:
        self.values = ValueCompiler(placeholders)

    def compile(self, rule: SigmaRule, key: str, ruleset: str) -> CompiledRule:
        """The compiled form of ``rule``; ``key`` names its result column."""
        meta = rule_meta(rule, ruleset)
        where = meta.rule_id
        try:
            logsource = rule.logsource
            variants = variants_for(logsource.product, logsource.service, logsource.category)
            selections = self._selections(rule.detection)
            trees = [c.parse(postprocess=False) for c in rule.detection.parsed_condition]
            expr = self._conditions(trees, rule.detection, {s.name: s.expr for s in selections})
            required = requirement(rule.detection, trees)
        except RuleError as exc:
            raise RuleError(exc.message, where=where) from exc
        except SigmaError as exc:
            raise RuleError(f"pySigma: {exc}", where=where) from exc
        needs = Needs()
        for sel in selections:
            needs.update(sel.needs)
        for column, _literal in {pair for clause in required or () for pair in clause}:
            if column.startswith(LOWER_PREFIX):
                needs.lower.add(column.removeprefix(LOWER_PREFIX))
                needs.raw.add(column.removeprefix(LOWER_PREFIX))
        facts: dict[str, object] = {}
        if needs.keywords:
            literals = _detections_keywords(rule.detection)
            if literals is not None:
                facts["keywords"] = sorted(literals)
        forced = _forced(trees, rule.detection)
        if forced:
            facts["forced"] = forced
        if required is not None and len(trees) == 1 and _exact(trees[0], rule.detection):
            facts["exact"] = True
        if facts:
            expr = expr.alias(_FACTS + json.dumps(facts, sort_keys=True))
        return CompiledRule(
            key=key,
            meta=meta,
            variants=variants,
            expr=expr,
            selections=selections,
            needs=needs,
            requirement=required,
        )

    def _selections(self, detections: SigmaDetections) -> tuple[Selection, ...]:
        out = []
        for name, detection in detections.detections.items():
            needs = Needs()
            expr = self._detection(detection, needs)
            # Built on first use (explaining a match), then kept.
            tests = cache(partial(_collect, self._values, detection))
            out.append(Selection(name=name, expr=expr, needs=needs, value_tests=tests))
        return tuple(out)

    def _values(self, detection: SigmaDetection) -> Iterator[tuple[str, str, pl.Expr]]:
        """Each field value of a detection alone, labelled as the rule writes it."""
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                yield from self._values(item)
                continue
            if item.field is None or not item.value:
                continue
            original = item.original_value or []
            aligned = len(original) == len(item.value)
            for n, value in enumerate(item.value):
                label = _plain(original[n] if aligned else value)
                test = self.values.field_values(item.field, [value], False, Needs())
                plain = _plain_alternatives(item.field, value)
                if plain is not None:
                    test = test.alias(_PLAIN + json.dumps(plain))
                yield item.field, label, test

    def _detection(self, detection: SigmaDetection, needs: Needs) -> pl.Expr:
        parts: list[pl.Expr] = []
        for item in detection.detection_items:
            if isinstance(item, SigmaDetection):
                parts.append(self._detection(item, needs))
            else:
                parts.append(self._item(item, needs))
        if detection.item_linking is ConditionOR:
            return _fold(parts, "or")
        return _fold(parts, "and")

    def _item(self, item: SigmaDetectionItem, needs: Needs) -> pl.Expr:
        values: list[SigmaType] = list(item.value) or [SigmaNull()]
        all_of = item.value_linking is ConditionAND
        if item.field is None:
            expr = self.values.keyword_values(values, all_of, needs)
        else:
            expr = self.values.field_values(item.field, values, all_of, needs)
        return _not(expr) if item.negated else expr

    def _conditions(
        self,
        trees: Sequence[object],
        detections: SigmaDetections,
        selections: Mapping[str, pl.Expr],
    ) -> pl.Expr:
        exprs = [self._condition(tree, detections, selections) for tree in trees]
        return _fold(exprs, "or")

    def _condition(
        self, node: object, detections: SigmaDetections, selections: Mapping[str, pl.Expr]
    ) -> pl.Expr:
        if isinstance(node, ConditionIdentifier):
            if node.identifier not in selections:
                raise RuleError(f"condition names undefined detection '{node.identifier}'")
            return selections[node.identifier]
        if isinstance(node, ConditionSelector):
            names = [ident.identifier for ident in node.resolve_referenced_detections(detections)]
            if not names:
                raise RuleError(f"selector '{node.args[0]} of {node.pattern}' matches no detection")
            mode = "and" if node.cond_class is ConditionAND else "or"
            return _fold([selections[n] for n in names], mode)
        if isinstance(node, ConditionNOT):
            return _not(self._condition(node.args[0], detections, selections))
        if isinstance(node, ConditionAND | ConditionOR):
            mode = "and" if isinstance(node, ConditionAND) else "or"
            return _fold([self._condition(a, detections, selections) for a in node.args], mode)
        if isinstance(node, ConditionItem):
            raise RuleError(f"condition element {type(node).__name__} is not supported")
        raise RuleError(f"condition element {node!r} is not supported")


def _collect(
    build: Callable[[SigmaDetection], Iterator[tuple[str, str, pl.Expr]]],
    detection: SigmaDetection,
) -> tuple[tuple[str, str, pl.Expr], ...]:
    return tuple(build(detection))


def _plain_alternatives(fieldname: str, value: SigmaType) -> PlainTest | None:
    """``value`` as comparisons of one field's text, or None when it is more than that.

    The same shapes as ``values.ValueCompiler`` tests: strings (lower-cased
    unless cased) without inner wildcards, numbers and booleans, each
    alternative of an expansion (``windash``, ``base64offset``). Subclasses
    (``SigmaTimestampPart`` is a number) are not plain.
    """
    kind = type(value)
    if isinstance(value, SigmaExpansion):
        out: list[tuple[str, str, str]] = []
        for inner in value.values:
            alternatives = _plain_alternatives(fieldname, inner)
            if alternatives is None:
                return None
            out.extend(alternatives)
        return tuple(out)
    if isinstance(value, SigmaString) and kind in (SigmaString, SigmaCasedString):
        if value.contains_placeholder():
            return None
        if kind is SigmaCasedString:
            column, parts = column_name(fieldname), merge_parts(value)
        else:
            column, parts = lower_name(fieldname), merge_parts(value.lower())
        op, text = shape(parts)
        return None if op == "regex" else ((column, op, text),)
    if isinstance(value, SigmaBool) and kind is SigmaBool:
        return ((lower_name(fieldname), "eq", "true" if value.boolean else "false"),)
    if isinstance(value, SigmaNumber) and kind is SigmaNumber:
        return ((lower_name(fieldname), "eq", str(value.number)),)
    return None


def plain_test(test: pl.Expr) -> PlainTest | None:
    """The comparisons an evidence test (``Selection.value_tests``) stands for, if plain.

    Plain tests (a literal compared with one field's text: equal, contains,
    starts or ends with, exists) carry their comparisons in their output
    name, which survives serialization, so they can be decided on a few
    values without polars; None for the others (regular expressions,
    numbers compared, CIDR, field references, null …).
    """
    name = test.meta.output_name(raise_if_undetermined=False)
    if name is None or not name.startswith(_PLAIN):
        return None
    return _decode(name)


@cache
def _decode(name: str) -> PlainTest:
    return tuple((str(c), str(op), str(t)) for c, op, t in json.loads(name.removeprefix(_PLAIN)))


def keyword_literals(rule: CompiledRule) -> tuple[str, ...] | None:
    """Literals one of which a text field of the event holds whenever a keyword value matches.

    A keyword value (a field-less value) of the rule can only match an event
    when one of its text fields contains one of these literals, compared
    ASCII-case-insensitively; each is ASCII, without a line break and at
    least ``prefilter.MIN_LITERAL`` long. None when some keyword value of the
    rule has no such literal (a regular expression, ``*``, a short or
    non-ASCII text). Carried in the rule expression's output name, which
    survives serialization.
    """
    return _facts(rule).keywords


def exact_requirement(rule: CompiledRule) -> bool:
    """Whether the rule matches exactly the events where its literal requirement holds.

    So when its condition is an ``and`` of values each of which is a literal
    contained in a field (or a keyword), each at least
    ``prefilter.MIN_LITERAL`` long: every clause of the requirement is one
    of those values (``contains`` lists, ``|all``), found by the prefilter's
    scan of the same lower-cased column. Carried in the rule expression's
    output name, which survives serialization.
    """
    return _facts(rule).exact


def forced_selections(rule: CompiledRule) -> Mapping[str, bool]:
    """Selections whose value the rule's condition fixes on every event the rule matches.

    ``selection and not 1 of filter_*``: ``selection`` is true and each
    ``filter_*`` false wherever the rule matches, so their flags need not be
    evaluated to explain a match. Carried in the rule expression's output
    name, which survives serialization.
    """
    return _facts(rule).forced


@dataclass(frozen=True, slots=True)
class _Facts:
    keywords: tuple[str, ...] | None = None
    forced: Mapping[str, bool] = field(default_factory=dict)
    exact: bool = False


def _facts(rule: CompiledRule) -> _Facts:
    name = rule.expr.meta.output_name(raise_if_undetermined=False)
    if name is None or not name.startswith(_FACTS):
        return _Facts()
    return _decode_facts(name)


@cache
def _decode_facts(name: str) -> _Facts:
    facts = json.loads(name.removeprefix(_FACTS))
    keywords = facts.get("keywords")
    return _Facts(
        keywords=None if keywords is None else tuple(str(k) for k in keywords),
        forced={str(k): bool(v) for k, v in facts.get("forced", {}).items()},
        exact=bool(facts.get("exact", False)),
    )


def _forced(trees: Sequence[object], detections: SigmaDetections) -> dict[str, bool]:
    """Selections the condition makes true (or false) wherever the rule matches."""
    out: dict[str, bool] = {}

    def walk(node: object, value: bool) -> None:
        if isinstance(node, ConditionIdentifier):
            out.setdefault(node.identifier, value)
        elif isinstance(node, ConditionSelector):
            # 'all of' true, or '1 of' false, fixes every selection it names.
            if (node.cond_class is ConditionAND) == value:
                for ident in node.resolve_referenced_detections(detections):
                    out.setdefault(ident.identifier, value)
        elif isinstance(node, ConditionNOT):
            walk(node.args[0], not value)
        elif isinstance(node, ConditionAND if value else ConditionOR):
            for arg in node.args:
                walk(arg, value)

    if len(trees) == 1:
        walk(trees[0], True)
    return out


def _exact(node: object, detections: SigmaDetections) -> bool:
    """Whether condition ``node`` holds exactly where its requirement (``prefilter``) does.

    ``and`` of identifiers and ``all of`` selectors, over detections that are
    ``and`` of items each true exactly when one of its literals is in the
    field (all of them with ``|all``). An ``or`` keeps one clause of each
    alternative in the requirement, a ``not`` none: neither is exact.
    """
    if isinstance(node, ConditionIdentifier):
        detection = detections.detections.get(node.identifier)
        return detection is not None and _exact_detection(detection)
    if isinstance(node, ConditionSelector):
        if node.cond_class is not ConditionAND:
            return False
        names = [i.identifier for i in node.resolve_referenced_detections(detections)]
        return bool(names) and all(_exact_detection(detections.detections[n]) for n in names)
    if isinstance(node, ConditionAND):
        return all(_exact(arg, detections) for arg in node.args)
    return False


def _exact_detection(detection: SigmaDetection) -> bool:
    items = detection.detection_items
    if not items or (detection.item_linking is not ConditionAND and len(items) > 1):
        return False
    for item in items:
        if isinstance(item, SigmaDetection):
            # An 'or' of one detection keeps only its best clause.
            if detection.item_linking is not ConditionAND or not _exact_detection(item):
                return False
            continue
        if item.negated or not item.value:
            return False
        several = item.value_linking is ConditionAND and len(item.value) > 1
        if several and detection.item_linking is not ConditionAND:
            return False
        if not all(_exact_value(v, keyword=item.field is None) for v in item.value):
            return False
    return True


def _exact_value(value: SigmaType, keyword: bool) -> bool:
    """Whether ``value`` is true exactly where its prefilter literal is in the lower-cased text."""
    if isinstance(value, SigmaExpansion):
        return bool(value.values) and all(_exact_value(v, keyword) for v in value.values)
    # Not a subclass: a cased string is tested on the text as written.
    if type(value) is not SigmaString or value.contains_placeholder():
        return False
    parts = merge_parts(value.lower())
    multi = SpecialChars.WILDCARD_MULTI
    if keyword:
        # Keywords are looked for anywhere in the text (``values._keyword_any``).
        while parts and parts[0] is multi:
            parts = parts[1:]
        while parts and parts[-1] is multi:
            parts = parts[:-1]
    elif len(parts) == 3 and parts[0] is multi and parts[2] is multi:
        parts = parts[1:2]
    else:
        return False
    return len(parts) == 1 and isinstance(parts[0], str) and len(parts[0]) >= MIN_LITERAL


def _detections_keywords(detections: SigmaDetections) -> frozenset[str] | None:
    return union(_detection_keywords(d) for d in detections.detections.values())


def _detection_keywords(detection: SigmaDetection) -> frozenset[str] | None:
    return union(_item_keywords(item) for item in detection.detection_items)


def _item_keywords(item: SigmaDetection | SigmaDetectionItem) -> frozenset[str] | None:
    if isinstance(item, SigmaDetection):
        return _detection_keywords(item)
    if item.field is not None:
        return frozenset()
    return union(_keyword_literal(v) for v in item.value or [SigmaNull()])


def _keyword_literal(value: SigmaType) -> frozenset[str] | None:
    """The literal a keyword value needs in one text field (as ``values`` matches keywords)."""
    if isinstance(value, SigmaExpansion):
        return union(_keyword_literal(inner) for inner in value.values)
    if isinstance(value, SigmaString):
        if value.contains_placeholder():
            return None
        parts = merge_parts(value.lower())
        # Wildcards stand for characters other than a line break: every part of a
        # match is in one field.
        texts = [p for p in parts if isinstance(p, str)]
        text = max(texts, key=len) if texts else ""
    elif isinstance(value, SigmaNumber | SigmaBool) and not isinstance(value, SigmaTimestampPart):
        text = str(value).lower()
    else:
        return None
    if len(text) < MIN_LITERAL or not text.isascii() or "\n" in text:
        return None
    return frozenset({text})


def _plain(value: object) -> str:
    if isinstance(value, SigmaString):
        return value.to_plain()
    if isinstance(value, SigmaRegularExpression):
        return str(value.regexp)
    if isinstance(value, SigmaNull):
        return "null"
    return str(getattr(value, "number", getattr(value, "boolean", value)))


def _not(expr: pl.Expr) -> pl.Expr:
    # A test of a missing field is null (``values``): false, so its negation is true.
    return ~expr.fill_null(False)


def _fold(exprs: Sequence[pl.Expr], mode: str) -> pl.Expr:
    if not exprs:
        return pl.lit(mode == "and")
    out = exprs[0]
    for e in exprs[1:]:
        out = (out & e) if mode == "and" else (out | e)
    return out
