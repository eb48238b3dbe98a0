"""Sigma correlation rules: counts, numeric aggregates, temporal proximity, and chains of them.

A correlation rule (Sigma specification, "Correlation rules") joins the
matches of other rules, for the same ``group-by`` values within a time span:
enough events (``event_count``), enough distinct values of a field
(``value_count``), the sum, average, median or a percentile of a numeric
field (``value_sum``, ``value_avg``, ``value_median``, ``value_percentile``),
or the named rules (``temporal``: all, or at least N of them), all in order
(``temporal_ordered``).
Field aliases give one group-by name to fields called differently in each
rule.

A correlation may name other correlations in ``rules:`` (a chain): the hits
of the referenced correlation are the events of the outer one, each at the
time of its last event and carrying its group-by values. The outer rule's
group-by and value fields must be among the inner one's group-by fields.
A chained correlation is given to the detector flattened: it asks for the
matches of every detection rule under it, carrying every field any level
needs, and evaluates the levels from the inside out.

Matches of the referenced rules arrive batch by batch and are kept in an
explicit ``CorrelationState`` (only the matches, never the batch); the
windows are evaluated when the run finishes, so that events of different
files (a Security log and a System log) meet whatever order they are read in.
The compiled form, the kept matches and the windows are in
``correlating.py``, which does not import pySigma: the hunt's process
evaluates the correlations of a Sigma worker's matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionNOT,
    CorrelationConditionOR,
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from sekimori.detect.sigma.compiler import CompiledRule, rule_meta
from sekimori.detect.sigma.correlating import (
    GROWING,
    BoolTree,
    CompiledCorrelation,
    ConditionOp,
    CorrelationKind,
    compact,
    evaluate_correlation,
)
from sekimori.errors import RuleError

_NUMERIC = frozenset(
    {
        SigmaCorrelationType.VALUE_SUM,
        SigmaCorrelationType.VALUE_AVG,
        SigmaCorrelationType.VALUE_MEDIAN,
        SigmaCorrelationType.VALUE_PERCENTILE,
    }
)
_TEMPORAL = frozenset({SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED})
# Types whose condition names a field (``field:``).
_WITH_FIELD = _NUMERIC | {SigmaCorrelationType.VALUE_COUNT}


def _ref_name(ref: SigmaRuleReference) -> str:
    return ref.reference


def _extended(node: object) -> BoolTree:
    if isinstance(node, SigmaRuleReference):
        return node.reference
    if isinstance(node, CorrelationConditionAND):
        return ("and", tuple(_extended(a) for a in node.args))
    if isinstance(node, CorrelationConditionOR):
        return ("or", tuple(_extended(a) for a in node.args))
    if isinstance(node, CorrelationConditionNOT):
        return ("not", tuple(_extended(a) for a in node.args))
    raise RuleError(f"correlation condition element {node!r} is not supported")


def _value_field(rule: SigmaCorrelationRule) -> str | None:
    condition = rule.condition
    if rule.type not in _WITH_FIELD or not isinstance(condition, SigmaCorrelationCondition):
        return None
    fieldref = condition.fieldref
    if isinstance(fieldref, list):
        if len(fieldref) != 1:
            raise RuleError(f"{rule.type} over several fields is not supported")
        fieldref = fieldref[0]
    if fieldref is None:
        raise RuleError(f"{rule.type} without a field")
    return str(fieldref)


def _percentile(rule: SigmaCorrelationRule) -> float | None:
    if rule.type is SigmaCorrelationType.VALUE_MEDIAN:
        return 50.0
    if rule.type is not SigmaCorrelationType.VALUE_PERCENTILE:
        return None
    condition = rule.condition
    value = condition.percentile if isinstance(condition, SigmaCorrelationCondition) else None
    if value is None:
        raise RuleError("value_percentile needs a 'percentile' (0 to 100) in its condition")
    if not 0 <= value <= 100:
        raise RuleError(f"value_percentile percentile {value} is not between 0 and 100")
    return float(value)


def compile_correlation(
    rule: SigmaCorrelationRule,
    compiled: Mapping[int, CompiledRule],
    ruleset: str,
    correlations: Mapping[int, CompiledCorrelation] | None = None,
) -> CompiledCorrelation:
    """Bind a pySigma correlation rule to the compiled rules it references.

    ``correlations`` holds the native forms (``chain`` or the rule itself)
    of the correlations already compiled, by ``id`` of their pySigma rule,
    for rules that reference correlations. The group-by and value fields
    are added to the referenced rules' needs so that their matches carry
    those values.
    """
    kind = rule.type
    correlations = correlations or {}
    refs: dict[str, str] = {}
    order: list[str] = []
    inner: dict[str, CompiledCorrelation] = {}
    for ref in rule.referenced_rules:
        if isinstance(ref.rule, SigmaCorrelationRule):
            node = correlations.get(id(ref.rule))
            if node is None:
                raise RuleError(f"referenced correlation '{ref.reference}' was not loaded")
            inner[_ref_name(ref)] = node
        else:
            target = compiled.get(id(ref.rule))
            if target is None:
                raise RuleError(f"referenced rule '{ref.reference}' was not loaded")
            refs[target.key] = _ref_name(ref)
        order.append(_ref_name(ref))
    group_by = tuple(rule.group_by or ())
    aliases = {alias.alias: alias for alias in rule.aliases}

    def resolved(name: str, reference: str) -> str:
        alias = aliases.get(name)
        if alias is None:
            return name
        mapped = {r.reference: f for r, f in alias.mapping.items()}
        return mapped.get(reference, name)

    condition = rule.condition
    op = SigmaCorrelationConditionOperator.GTE
    count: float = 1
    extended: BoolTree | None = None
    if isinstance(condition, SigmaCorrelationCondition):
        op, count = condition.op, condition.count
    elif isinstance(condition, SigmaExtendedCorrelationCondition):
        extended = _extended(condition.parsed)
    if kind in _TEMPORAL and extended is None:
        _check_temporal(kind, op, count, len(order))
    value_field = _value_field(rule)
    percentile = _percentile(rule)
    group_fields: dict[str, tuple[str, ...]] = {}
    value_fields: dict[str, str] = {}
    for ref in rule.referenced_rules:
        if isinstance(ref.rule, SigmaCorrelationRule):
            continue
        target = compiled[id(ref.rule)]
        names = tuple(resolved(g, ref.reference) for g in group_by)
        group_fields[target.key] = names
        target.needs.raw.update(names)
        if value_field is not None:
            value_fields[target.key] = resolved(value_field, ref.reference)
            target.needs.raw.add(value_fields[target.key])
    inner_group: dict[str, tuple[int, ...]] = {}
    inner_value: dict[str, int] = {}
    for name, node in inner.items():
        inner_group[name] = tuple(
            _inner_position(node, name, resolved(g, name), g) for g in group_by
        )
        if value_field is not None:
            inner_value[name] = _inner_position(
                node, name, resolved(value_field, name), value_field
            )
    native = CompiledCorrelation(
        meta=rule_meta(rule, ruleset),
        kind=CorrelationKind[kind.name],
        refs=refs,
        order=tuple(order),
        timespan=timedelta(seconds=rule.timespan.seconds),
        timespan_spec=rule.timespan.spec,
        group_by=group_by,
        group_fields=group_fields,
        value_fields=value_fields,
        op=ConditionOp[op.name],
        count=count,
        extended=extended,
        percentile=percentile,
        value_field=value_field,
        inner=inner,
        inner_group=inner_group,
        inner_value=inner_value,
    )
    if not inner:
        return native
    carry: dict[str, dict[str, None]] = {}
    _carried(native, carry)
    return replace(
        native,
        refs={key: key for key in carry},
        group_fields={key: tuple(fields) for key, fields in carry.items()},
        value_fields={},
        inner={},
        inner_group={},
        inner_value={},
        chain=native,
    )


def _check_temporal(
    kind: SigmaCorrelationType, op: SigmaCorrelationConditionOperator, count: float, rules: int
) -> None:
    """Reject the temporal conditions the windows cannot judge, rather than judge them wrong.

    ``temporal`` counts the different rules seen in the window, so "at least
    N of them" (``gte``/``gt``) is judged; ``temporal_ordered`` needs every
    rule, in order (the default condition, ``gte`` the number of rules).
    """
    if kind is SigmaCorrelationType.TEMPORAL and ConditionOp[op.name] not in GROWING:
        raise RuleError(
            f"temporal condition '{op.name.lower()} {count}' is not supported"
            " (only gte/gt: at least so many of the rules)"
        )
    if kind is SigmaCorrelationType.TEMPORAL_ORDERED and not (
        op is SigmaCorrelationConditionOperator.GTE and count == rules
    ):
        raise RuleError(
            f"temporal_ordered condition '{op.name.lower()} {count}' is not supported"
            f" (only every rule in order: gte {rules})"
        )


def _inner_position(node: CompiledCorrelation, name: str, wanted: str, own: str) -> int:
    """Where ``wanted`` is among the group-by fields of the referenced correlation ``name``."""
    if wanted not in node.group_by:
        raise RuleError(
            f"correlation of correlation: '{own}' must be a group-by field of '{name}'"
            f" (it groups by {', '.join(node.group_by) or 'nothing'})"
        )
    return node.group_by.index(wanted)


def _carried(node: CompiledCorrelation, carry: dict[str, dict[str, None]]) -> None:
    """Every field each detection rule under ``node`` must carry, at any level of the chain."""
    for key in node.refs:
        fields = carry.setdefault(key, {})
        for name in node.group_fields.get(key, ()):
            fields.setdefault(name)
        if key in node.value_fields:
            fields.setdefault(node.value_fields[key])
    for child in node.inner.values():
        _carried(child, carry)


__all__ = ["CompiledCorrelation", "compact", "compile_correlation", "evaluate_correlation"]
