"""Compiled Sigma correlation rules and their evaluation, without pySigma.

``correlation.compile_correlation`` turns a pySigma correlation rule into a
``CompiledCorrelation``; this module holds that form, the matches kept for
it (``Occurrence``, ``CorrelationState``) and the windows in which it holds
(``evaluate_correlation``, ``compact``). The hunt's process builds the
findings of a Sigma worker's matches and evaluates the correlations: it
imports this module, and neither pySigma nor the rule compiler (about 0.2 s
of its CPU).

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
from enum import Enum

from sekimori.detect.sigma.meta import RuleMeta


class CorrelationKind(Enum):
    """The correlation types of the Sigma specification (pySigma's ``SigmaCorrelationType``)."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    VALUE_PERCENTILE = "value_percentile"
    VALUE_MEDIAN = "value_median"

    def __str__(self) -> str:
        return self.value


class ConditionOp(Enum):
    """A condition's comparison (pySigma's ``SigmaCorrelationConditionOperator``)."""

    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    EQ = "eq"
    NEQ = "neq"


_OPS: Mapping[ConditionOp, Callable[[float, float], bool]] = {
    ConditionOp.LT: lambda a, b: a < b,
    ConditionOp.LTE: lambda a, b: a <= b,
    ConditionOp.GT: lambda a, b: a > b,
    ConditionOp.GTE: lambda a, b: a >= b,
    ConditionOp.EQ: lambda a, b: a == b,
    ConditionOp.NEQ: lambda a, b: a != b,
}
# Conditions checked on a sliding window (true as soon as enough has arrived).
GROWING = frozenset({ConditionOp.GT, ConditionOp.GTE})

_COUNTING = frozenset({CorrelationKind.EVENT_COUNT, CorrelationKind.VALUE_COUNT})
# Types measured on a numeric field of the events.
NUMERIC = frozenset(
    {
        CorrelationKind.VALUE_SUM,
        CorrelationKind.VALUE_AVG,
        CorrelationKind.VALUE_MEDIAN,
        CorrelationKind.VALUE_PERCENTILE,
    }
)

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
    kind: CorrelationKind
    refs: Mapping[str, str]
    order: tuple[str, ...]
    timespan: timedelta
    timespan_spec: str
    group_by: tuple[str, ...]
    group_fields: Mapping[str, tuple[str, ...]]
    value_fields: Mapping[str, str]
    op: ConditionOp = ConditionOp.GTE
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
        if corr.kind is CorrelationKind.VALUE_PERCENTILE:
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


def _holds(tree: BoolTree, seen: set[str]) -> bool:
    if isinstance(tree, str):
        return tree in seen
    op, args = tree
    if op == "and":
        return all(_holds(a, seen) for a in args)
    if op == "or":
        return any(_holds(a, seen) for a in args)
    return not _holds(args[0], seen)


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
        if corr.kind is CorrelationKind.TEMPORAL:
            hits.extend(_temporal(corr, items))
        elif corr.kind is CorrelationKind.TEMPORAL_ORDERED:
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
        if self.kind is CorrelationKind.EVENT_COUNT:
            return len(self.items)
        if self.kind is CorrelationKind.VALUE_COUNT:
            return len(self.values)
        if not self.ordered:
            return None
        if self.kind is CorrelationKind.VALUE_SUM:
            return math.fsum(self.ordered)
        if self.kind is CorrelationKind.VALUE_AVG:
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
    if corr.op in GROWING:
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
