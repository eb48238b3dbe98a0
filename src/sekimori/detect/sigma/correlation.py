"""Sigma correlation rules: event_count, value_count, temporal, temporal_ordered.

A correlation rule (Sigma specification, "Correlation rules") joins the
matches of other rules: enough events (``event_count``) or enough distinct
values of a field (``value_count``) in a time span, or all the named rules
(``temporal``), in order (``temporal_ordered``), for the same ``group-by``
values. Field aliases give one group-by name to fields called differently
in each rule.

Matches of the referenced rules arrive batch by batch and are kept in an
explicit ``CorrelationState`` (only the matches, never the batch); the
windows are evaluated when the run finishes, so that events of different
files (a Security log and a System log) meet whatever order they are read in.
Windows slide: when the condition holds, the burst goes on as long as events
keep coming within the time span, and makes one finding (with all its events
counted); then the window starts again, so that a burst gives one finding,
not one per event.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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

from sekimori.detect.sigma.compiler import CompiledRule, RuleMeta, rule_meta
from sekimori.errors import RuleError

_OPS: Mapping[SigmaCorrelationConditionOperator, Callable[[float, float], bool]] = {
    SigmaCorrelationConditionOperator.LT: lambda a, b: a < b,
    SigmaCorrelationConditionOperator.LTE: lambda a, b: a <= b,
    SigmaCorrelationConditionOperator.GT: lambda a, b: a > b,
    SigmaCorrelationConditionOperator.GTE: lambda a, b: a >= b,
    SigmaCorrelationConditionOperator.EQ: lambda a, b: a == b,
    SigmaCorrelationConditionOperator.NEQ: lambda a, b: a != b,
}
# Conditions that can only grow true as events arrive: checked on a sliding window.
_GROWING = frozenset({SigmaCorrelationConditionOperator.GT, SigmaCorrelationConditionOperator.GTE})

BoolTree = tuple[str, tuple["BoolTree", ...]] | str


@dataclass(frozen=True, slots=True)
class CompiledCorrelation:
    """A correlation rule bound to the compiled rules it joins.

    ``refs`` maps each referenced rule's key to the name the rule is known
    by in the correlation (its ``name`` or id); ``group_fields`` maps each
    referenced rule's key to the Sigma fields its group-by values come from
    (aliases resolved); ``value_fields`` does the same for ``value_count``.
    """

    meta: RuleMeta
    kind: SigmaCorrelationType
    refs: Mapping[str, str]
    order: tuple[str, ...]
    timespan: timedelta
    timespan_spec: str
    group_by: tuple[str, ...]
    group_fields: Mapping[str, tuple[str, ...]]
    value_fields: Mapping[str, str]
    op: SigmaCorrelationConditionOperator = SigmaCorrelationConditionOperator.GTE
    count: float = 1
    extended: BoolTree | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One match of a referenced rule, as much of it as a correlation needs."""

    timestamp: datetime
    ref: str
    group: tuple[str | None, ...]
    value: str | None
    tenant: str
    host: str
    event_id: str | None
    log_file_path: str | None


@dataclass(frozen=True, slots=True)
class CorrelationHit:
    """A correlation that fired: its rule and the occurrences of its window."""

    correlation: CompiledCorrelation
    occurrences: tuple[Occurrence, ...]
    measure: float

    def evidence(self) -> dict[str, object]:
        """What made the case: the type, group values, count, rules and event ids."""
        corr = self.correlation
        first = self.occurrences[0]
        return {
            "correlation": str(corr.kind),
            "group_by": dict(zip(corr.group_by, first.group, strict=True)),
            "count": self.measure,
            "condition": f"{corr.op.name.lower()} {corr.count}",
            "timespan": corr.timespan_spec,
            "rules": list(dict.fromkeys(o.ref for o in self.occurrences)),
            "events": [o.event_id for o in self.occurrences if o.event_id is not None],
            "first_seen": first.timestamp,
            "last_seen": self.occurrences[-1].timestamp,
        }


@dataclass(slots=True)
class CorrelationState:
    """Matches of referenced rules seen so far, per correlation (index in the rule set)."""

    occurrences: dict[int, list[Occurrence]] = field(default_factory=dict)

    def add(self, index: int, items: Sequence[Occurrence]) -> None:
        """Keep ``items`` for correlation ``index``."""
        self.occurrences.setdefault(index, []).extend(items)


# Above this many kept matches a correlation is evaluated early and its old matches dropped.
COMPACT_AT = 10_000


def compact(
    corr: CompiledCorrelation, occurrences: Sequence[Occurrence]
) -> tuple[list[CorrelationHit], list[Occurrence]]:
    """Windows that are over, and the matches still needed for windows to come.

    A window is over when it ended more than one timespan before the newest
    match; the matches it used are dropped (its window has restarted), and so
    are matches too old to be in any later window. This bounds the state of a
    long run; matches that arrive much later than their time are judged only
    with what is kept.
    """
    if not occurrences:
        return [], []
    newest = max(o.timestamp for o in occurrences)
    cutoff = newest - corr.timespan
    hits = [
        h for h in evaluate_correlation(corr, occurrences) if h.occurrences[-1].timestamp < cutoff
    ]
    used = {id(o) for h in hits for o in h.occurrences}
    keep = [o for o in occurrences if o.timestamp >= cutoff - corr.timespan and id(o) not in used]
    return hits, keep


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


def _holds(tree: BoolTree, seen: set[str]) -> bool:
    if isinstance(tree, str):
        return tree in seen
    op, args = tree
    if op == "and":
        return all(_holds(a, seen) for a in args)
    if op == "or":
        return any(_holds(a, seen) for a in args)
    return not _holds(args[0], seen)


def compile_correlation(
    rule: SigmaCorrelationRule, compiled: Mapping[int, CompiledRule], ruleset: str
) -> CompiledCorrelation:
    """Bind a pySigma correlation rule to the compiled rules it references.

    The group-by and value fields are added to the referenced rules' needs so
    that their matches carry those values.
    """
    kind = rule.type
    supported = {
        SigmaCorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED,
    }
    if kind not in supported:
        raise RuleError(f"correlation type {kind} is not supported")
    refs: dict[str, str] = {}
    order: list[str] = []
    for ref in rule.referenced_rules:
        target = compiled.get(id(ref.rule))
        if target is None:
            if isinstance(ref.rule, SigmaCorrelationRule):
                raise RuleError(f"correlation of correlation '{ref.reference}' is not supported")
            raise RuleError(f"referenced rule '{ref.reference}' was not loaded")
        refs[target.key] = _ref_name(ref)
        order.append(_ref_name(ref))
    group_by = tuple(rule.group_by or ())
    aliases = {alias.alias: alias for alias in rule.aliases}
    group_fields: dict[str, tuple[str, ...]] = {}
    value_fields: dict[str, str] = {}
    condition = rule.condition
    op = SigmaCorrelationConditionOperator.GTE
    count: float = 1
    extended: BoolTree | None = None
    if isinstance(condition, SigmaCorrelationCondition):
        op, count = condition.op, condition.count
    elif isinstance(condition, SigmaExtendedCorrelationCondition):
        extended = _extended(condition.parsed)
    for ref in rule.referenced_rules:
        target = compiled[id(ref.rule)]
        names = []
        for g in group_by:
            alias = aliases.get(g)
            if alias is not None:
                mapped = {r.reference: f for r, f in alias.mapping.items()}
                names.append(mapped.get(ref.reference, g))
            else:
                names.append(g)
        group_fields[target.key] = tuple(names)
        target.needs.raw.update(names)
        if kind is SigmaCorrelationType.VALUE_COUNT and isinstance(
            condition, SigmaCorrelationCondition
        ):
            fieldref = condition.fieldref
            if isinstance(fieldref, list):
                if len(fieldref) != 1:
                    raise RuleError("value_count over several fields is not supported")
                fieldref = fieldref[0]
            if fieldref is None:
                raise RuleError("value_count without a field")
            value_fields[target.key] = fieldref
            target.needs.raw.add(fieldref)
    return CompiledCorrelation(
        meta=rule_meta(rule, ruleset),
        kind=kind,
        refs=refs,
        order=tuple(order),
        timespan=timedelta(seconds=rule.timespan.seconds),
        timespan_spec=rule.timespan.spec,
        group_by=group_by,
        group_fields=group_fields,
        value_fields=value_fields,
        op=op,
        count=count,
        extended=extended,
    )


def evaluate_correlation(
    corr: CompiledCorrelation, occurrences: Sequence[Occurrence]
) -> list[CorrelationHit]:
    """The windows in which ``corr`` holds, per tenant and group-by values."""
    groups: dict[tuple[str, tuple[str | None, ...]], list[Occurrence]] = {}
    for occ in sorted(occurrences, key=lambda o: o.timestamp):
        groups.setdefault((occ.tenant, occ.group), []).append(occ)
    hits: list[CorrelationHit] = []
    for items in groups.values():
        if corr.kind in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
            hits.extend(_counting(corr, items))
        elif corr.kind is SigmaCorrelationType.TEMPORAL:
            hits.extend(_temporal(corr, items))
        else:
            hits.extend(_temporal_ordered(corr, items))
    return hits


def _measure(corr: CompiledCorrelation, window: Sequence[Occurrence]) -> float:
    if corr.kind is SigmaCorrelationType.VALUE_COUNT:
        return float(len({o.value for o in window if o.value is not None}))
    return float(len(window))


def _counting(corr: CompiledCorrelation, items: Sequence[Occurrence]) -> list[CorrelationHit]:
    test = _OPS[corr.op]
    hits: list[CorrelationHit] = []
    if corr.op in _GROWING:
        window: deque[Occurrence] = deque()
        values: Counter[str | None] = Counter()
        burst: list[Occurrence] | None = None
        for occ in items:
            if burst is not None:
                # The burst goes on while events keep coming within the time span.
                if occ.timestamp - burst[-1].timestamp <= corr.timespan:
                    burst.append(occ)
                    continue
                hits.append(CorrelationHit(corr, tuple(burst), _measure(corr, burst)))
                burst = None
            window.append(occ)
            values[occ.value] += 1
            while occ.timestamp - window[0].timestamp > corr.timespan:
                old = window.popleft()
                values[old.value] -= 1
                if not values[old.value]:
                    del values[old.value]
            measure = (
                float(len([v for v in values if v is not None]))
                if corr.kind is SigmaCorrelationType.VALUE_COUNT
                else float(len(window))
            )
            if test(measure, corr.count):
                burst = list(window)
                window.clear()
                values.clear()
        if burst is not None:
            hits.append(CorrelationHit(corr, tuple(burst), _measure(corr, burst)))
        return hits
    # "fewer than" conditions: fixed windows from the first event of each.
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and items[end].timestamp - items[start].timestamp <= corr.timespan:
            end += 1
        window_items = items[start:end]
        measure = _measure(corr, window_items)
        if test(measure, corr.count):
            hits.append(CorrelationHit(corr, tuple(window_items), measure))
        start = end
    return hits


def _temporal(corr: CompiledCorrelation, items: Sequence[Occurrence]) -> list[CorrelationHit]:
    hits: list[CorrelationHit] = []
    window: deque[Occurrence] = deque()
    wanted = set(corr.order)
    for occ in items:
        window.append(occ)
        while occ.timestamp - window[0].timestamp > corr.timespan:
            window.popleft()
        seen = {o.ref for o in window}
        done = _holds(corr.extended, seen) if corr.extended is not None else wanted <= seen
        if done:
            hits.append(CorrelationHit(corr, tuple(window), float(len(seen))))
            window.clear()
    return hits


def _temporal_ordered(
    corr: CompiledCorrelation, items: Sequence[Occurrence]
) -> list[CorrelationHit]:
    hits: list[CorrelationHit] = []
    chain: list[Occurrence] = []
    for occ in items:
        if chain and occ.timestamp - chain[0].timestamp > corr.timespan:
            chain = []
        step = len(chain)
        if step < len(corr.order) and occ.ref == corr.order[step]:
            chain.append(occ)
        elif occ.ref == corr.order[0]:
            chain = [occ]
        if len(chain) == len(corr.order):
            hits.append(CorrelationHit(corr, tuple(chain), float(len(chain))))
            chain = []
    return hits
