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
Windows slide: when a "more than" condition holds, the burst goes on as long
as events keep coming within the time span, and makes one finding (with all
its events); then the window starts again, so that a burst gives one
finding, not one per event. Other conditions are judged on fixed windows
from the first event of each.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
# Conditions checked on a sliding window (true as soon as enough has arrived).
_GROWING = frozenset({SigmaCorrelationConditionOperator.GT, SigmaCorrelationConditionOperator.GTE})

_COUNTING = frozenset({SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT})
# Types measured on a numeric field of the events.
NUMERIC = frozenset(
    {
        SigmaCorrelationType.VALUE_SUM,
        SigmaCorrelationType.VALUE_AVG,
        SigmaCorrelationType.VALUE_MEDIAN,
        SigmaCorrelationType.VALUE_PERCENTILE,
    }
)
_TEMPORAL = frozenset({SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED})
# Types whose condition names a field (``field:``).
_WITH_FIELD = NUMERIC | {SigmaCorrelationType.VALUE_COUNT}

BoolTree = tuple[str, tuple["BoolTree", ...]] | str


@dataclass(frozen=True, slots=True)
class CompiledCorrelation:
    """A correlation rule bound to the compiled rules it joins.

    ``refs`` maps each referenced rule's key to the name the rule is known
    by in the correlation (its ``name`` or id); ``group_fields`` maps each
    referenced rule's key to the Sigma fields its group-by values come from
    (aliases resolved); ``value_fields`` does the same for the field of
    ``value_count`` and the numeric types. ``percentile`` is the percentile
    of ``value_percentile`` (50 for ``value_median``).

    ``inner`` maps the name of each referenced correlation to its compiled
    form; ``inner_group`` gives, per referenced correlation, the positions in
    its group-by values of this rule's group-by fields, and ``inner_value``
    the position of this rule's value field. A correlation given to the
    detector with a chain under it has ``chain`` set to that native form,
    and its own ``refs`` and ``group_fields`` say which rules' matches to
    keep and which fields they carry.
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
    percentile: float | None = None
    value_field: str | None = None
    inner: Mapping[str, CompiledCorrelation] = field(default_factory=dict)
    inner_group: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    inner_value: Mapping[str, int] = field(default_factory=dict)
    chain: CompiledCorrelation | None = None

    @property
    def horizon(self) -> timedelta:
        """How far back in time a window of this rule may reach (inner time spans added)."""
        node = self.chain or self
        deepest = max((c.horizon for c in node.inner.values()), default=timedelta(0))
        return node.timespan + deepest


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
    """A correlation that fired: its rule and the occurrences of its window.

    For a chained correlation, ``occurrences`` are the matches of the
    detection rules under the chain, ``group`` its group-by values and
    ``rules`` the names of the rules and correlations it joined.
    """

    correlation: CompiledCorrelation
    occurrences: tuple[Occurrence, ...]
    measure: float
    group: tuple[str | None, ...] | None = None
    rules: tuple[str, ...] | None = None

    def evidence(self) -> dict[str, object]:
        """What made the case: the type, group values, measure, rules and event ids."""
        corr = self.correlation
        first = self.occurrences[0]
        group = self.group if self.group is not None else first.group
        rules = self.rules or tuple(dict.fromkeys(o.ref for o in self.occurrences))
        out: dict[str, object] = {
            "correlation": str(corr.kind),
            "group_by": dict(zip(corr.group_by, group, strict=True)),
            "count": self.measure,
            "condition": f"{corr.op.name.lower()} {corr.count}",
            "timespan": corr.timespan_spec,
            "rules": list(rules),
            "events": [o.event_id for o in self.occurrences if o.event_id is not None],
            "first_seen": first.timestamp,
            "last_seen": self.occurrences[-1].timestamp,
        }
        if corr.value_field is not None:
            out["field"] = corr.value_field
        if corr.kind is SigmaCorrelationType.VALUE_PERCENTILE:
            out["percentile"] = corr.percentile
        return out


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

    A window is over when it ended more than one horizon (the time span,
    plus those of the correlations under a chain) before the newest match;
    the matches it used are dropped (its window has restarted), and so are
    matches too old to be in any later window. This bounds the state of a
    long run; matches that arrive much later than their time are judged only
    with what is kept.
    """
    if not occurrences:
        return [], []
    newest = max(o.timestamp for o in occurrences)
    horizon = corr.horizon
    cutoff = newest - horizon
    hits = [
        h for h in evaluate_correlation(corr, occurrences) if h.occurrences[-1].timestamp < cutoff
    ]
    used = {id(o) for h in hits for o in h.occurrences}
    keep = [o for o in occurrences if o.timestamp >= cutoff - horizon and id(o) not in used]
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
    if kind is SigmaCorrelationType.TEMPORAL and op not in _GROWING:
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


def evaluate_correlation(
    corr: CompiledCorrelation, occurrences: Sequence[Occurrence]
) -> list[CorrelationHit]:
    """The windows in which ``corr`` holds, per tenant and group-by values."""
    if corr.chain is None:
        return _evaluate(corr, occurrences)
    layout = {
        key: {f: i for i, f in enumerate(fields)} for key, fields in corr.group_fields.items()
    }
    return [
        CorrelationHit(
            corr,
            used,
            hit.measure,
            group=hit.occurrences[0].group,
            rules=tuple(dict.fromkeys(o.ref for o in hit.occurrences)),
        )
        for hit, used in _chain_hits(corr.chain, occurrences, layout)
    ]


def _chain_hits(
    node: CompiledCorrelation,
    carried: Sequence[Occurrence],
    layout: Mapping[str, Mapping[str, int]],
) -> list[tuple[CorrelationHit, tuple[Occurrence, ...]]]:
    """Hits of ``node`` on the carried matches, each with the carried matches it used.

    A carried match has its rule key as ``ref`` and the fields of
    ``layout[key]`` as ``group``; each level takes the fields it needs.
    """
    native: list[Occurrence] = []
    origin: dict[int, tuple[Occurrence, ...]] = {}
    for occ in carried:
        name = node.refs.get(occ.ref)
        if name is None:
            continue
        where = layout[occ.ref]
        value_name = node.value_fields.get(occ.ref)
        projected = replace(
            occ,
            ref=name,
            group=tuple(occ.group[where[f]] for f in node.group_fields[occ.ref]),
            value=occ.group[where[value_name]] if value_name is not None else None,
        )
        native.append(projected)
        origin[id(projected)] = (occ,)
    for name, child in node.inner.items():
        positions = node.inner_group[name]
        value_at = node.inner_value.get(name)
        for hit, used in _chain_hits(child, carried, layout):
            group = hit.occurrences[0].group
            last = hit.occurrences[-1]
            event = Occurrence(
                timestamp=last.timestamp,
                ref=name,
                group=tuple(group[i] for i in positions),
                value=group[value_at] if value_at is not None else None,
                tenant=last.tenant,
                host=last.host,
                event_id=last.event_id,
                log_file_path=last.log_file_path,
            )
            native.append(event)
            origin[id(event)] = used
    out = []
    for hit in _evaluate(node, native):
        joined = {id(o): o for occ in hit.occurrences for o in origin[id(occ)]}
        out.append((hit, tuple(sorted(joined.values(), key=lambda o: o.timestamp))))
    return out


def _evaluate(corr: CompiledCorrelation, occurrences: Sequence[Occurrence]) -> list[CorrelationHit]:
    groups: dict[tuple[str, tuple[str | None, ...]], list[Occurrence]] = {}
    for occ in sorted(occurrences, key=lambda o: o.timestamp):
        groups.setdefault((occ.tenant, occ.group), []).append(occ)
    hits: list[CorrelationHit] = []
    for items in groups.values():
        if corr.kind is SigmaCorrelationType.TEMPORAL:
            hits.extend(_temporal(corr, items))
        elif corr.kind is SigmaCorrelationType.TEMPORAL_ORDERED:
            hits.extend(_temporal_ordered(corr, items))
        else:
            hits.extend(_measured(corr, items))
    return hits


def number(text: str | None) -> float | None:
    """A field value as a number (decimal, or ``0x`` hexadecimal as Windows writes it), or None."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = float(int(text, 16)) if text[:2].lower() == "0x" else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def quantile(ordered: Sequence[float], percent: float) -> float:
    """The ``percent`` percentile of sorted values, interpolated linearly between ranks."""
    position = (len(ordered) - 1) * percent / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Window:
    """Occurrences in a window, with what the measure of the correlation type needs."""

    def __init__(self, corr: CompiledCorrelation) -> None:
        self.kind = corr.kind
        self.percentile = corr.percentile if corr.percentile is not None else 50.0
        self.items: deque[tuple[Occurrence, float | None]] = deque()
        self.values: Counter[str] = Counter()
        self.total = 0.0
        self.ordered: list[float] = []

    def add(self, occ: Occurrence, num: float | None) -> None:
        self.items.append((occ, num))
        if occ.value is not None:
            self.values[occ.value] += 1
        if num is not None:
            self.total += num
            insort(self.ordered, num)

    def expire(self, before: datetime) -> None:
        """Drop the occurrences older than ``before``."""
        while self.items and self.items[0][0].timestamp < before:
            occ, num = self.items.popleft()
            if occ.value is not None:
                self.values[occ.value] -= 1
                if not self.values[occ.value]:
                    del self.values[occ.value]
            if num is not None:
                self.total -= num
                del self.ordered[bisect_left(self.ordered, num)]

    def occurrences(self) -> list[Occurrence]:
        return [occ for occ, _num in self.items]

    def measure(self) -> float | None:
        """The count, distinct values, sum, average or percentile; None without numbers.

        Counts are ints, so that the evidence says 108 events, not 108.0.
        """
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            return len(self.items)
        if self.kind is SigmaCorrelationType.VALUE_COUNT:
            return len(self.values)
        if not self.ordered:
            return None
        if self.kind is SigmaCorrelationType.VALUE_SUM:
            return math.fsum(self.ordered)
        if self.kind is SigmaCorrelationType.VALUE_AVG:
            return math.fsum(self.ordered) / len(self.ordered)
        return quantile(self.ordered, self.percentile)


def _measure(corr: CompiledCorrelation, items: Sequence[Occurrence]) -> float | None:
    window = _Window(corr)
    for occ in items:
        window.add(occ, number(occ.value) if corr.kind in NUMERIC else None)
    return window.measure()


def _measured(corr: CompiledCorrelation, items: Sequence[Occurrence]) -> list[CorrelationHit]:
    """Counting and numeric types: sliding windows for "more than", fixed ones otherwise."""
    test = _OPS[corr.op]
    numeric = corr.kind in NUMERIC
    hits: list[CorrelationHit] = []
    if corr.op in _GROWING:
        window = _Window(corr)
        burst: list[Occurrence] | None = None
        trigger = 0.0
        for occ in items:
            if burst is not None:
                # The burst goes on while events keep coming within the time span.
                if occ.timestamp - burst[-1].timestamp <= corr.timespan:
                    burst.append(occ)
                    continue
                hits.append(_burst_hit(corr, burst, trigger))
                burst = None
            window.add(occ, number(occ.value) if numeric else None)
            window.expire(occ.timestamp - corr.timespan)
            measure = window.measure()
            if measure is not None and test(measure, corr.count):
                burst = window.occurrences()
                trigger = measure
                window = _Window(corr)
        if burst is not None:
            hits.append(_burst_hit(corr, burst, trigger))
        return hits
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and items[end].timestamp - items[start].timestamp <= corr.timespan:
            end += 1
        window_items = items[start:end]
        fixed = _measure(corr, window_items)
        if fixed is not None and test(fixed, corr.count):
            hits.append(CorrelationHit(corr, tuple(window_items), fixed))
        start = end
    return hits


def _burst_hit(
    corr: CompiledCorrelation, burst: Sequence[Occurrence], trigger: float
) -> CorrelationHit:
    """A burst's hit: counts over the whole burst; numeric measures as of the window that held."""
    measure = _measure(corr, burst) if corr.kind in _COUNTING else trigger
    return CorrelationHit(corr, tuple(burst), trigger if measure is None else measure)


def _temporal(corr: CompiledCorrelation, items: Sequence[Occurrence]) -> list[CorrelationHit]:
    hits: list[CorrelationHit] = []
    window: deque[Occurrence] = deque()
    wanted = set(corr.order)
    for occ in items:
        window.append(occ)
        while occ.timestamp - window[0].timestamp > corr.timespan:
            window.popleft()
        seen = {o.ref for o in window}
        if corr.extended is not None:
            done = _holds(corr.extended, seen)
        else:
            done = _OPS[corr.op](len(seen & wanted), corr.count)
        if done:
            hits.append(CorrelationHit(corr, tuple(window), len(seen)))
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
            hits.append(CorrelationHit(corr, tuple(chain), len(chain)))
            chain = []
    return hits
