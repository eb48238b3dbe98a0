"""Beacon scoring: which (source, destination) pairs call home on a schedule.

Follows the beacon model of RITA (Active Countermeasures, v5): every pair of
(internal source IP, outside destination IP) from ``zeek.conn`` (and Suricata
flows), and of (internal source IP, server name) from ``zeek.http`` Host
headers and ``zeek.ssl`` SNI, is scored from its connection times and data
sizes over the whole run. An HTTP request without a Host name counts for its
destination address.

Sub-scores, each in [0, 1] (``docs/network.md`` shows them worked through):

- **timestamp** ``TS = ((1 - |Bowley skew(Δt)|) + MADscore(Δt)) / 2`` over the
  non-zero intervals Δt between sorted connection times. Bowley skew is
  ``(Q1 + Q3 - 2·Q2) / (Q3 - Q1)`` (taken as 0 when ``Q3 - Q1 < 10`` s or the
  median equals a quartile); ``MADscore = (median - MAD) / median`` (1 when
  the median is below 1 s), MAD being the median absolute deviation about the
  median. Needs at least 3 non-zero intervals.
- **data size** ``DS``: the same formula over the bytes of each connection
  (``orig_bytes + resp_bytes``; HTTP request + response body), with
  MADscore 0 when the median size is below 1 byte. Name-keyed pairs whose
  sizes are unknown or all zero (TLS SNI, proxy tunnels) have no DS; its
  weight is spread over the others.
- **histogram** ``HIST`` (the connection count over the window): the window
  is the run, widened to at least 24 hours ending at its last event, cut into
  one-hour bins; the score is the larger of ``1 - CV`` (coefficient of
  variation of the per-hour counts, 0 when CV > 1) and the bimodal fit (share
  of non-empty hours whose heights, bucketed to 5 % of the highest bar, fall
  into the two most common buckets, one outlier forgiven; only with at least
  11 non-empty hours).
- **duration** ``DUR``: with at least 6 non-empty hours, the larger of the
  coverage ``(last - first) / window length`` and the consistency
  ``longest run of consecutive non-empty hours (wrapping) / 12``; else 0.

``score = 0.25·TS + 0.25·DS + 0.05·HIST + 0.45·DUR`` (RITA's default
weights), then multiplied by the **prevalence** weight: when at least
``MIN_HOSTS_FOR_PREVALENCE`` internal sources are seen and a destination is
contacted by a share ``p`` of them above ``prevalence_threshold`` ``t``, the
score is scaled by ``max(0, 1 - (p - t) / (1 - t))``: the update server or NTP
pool that every workstation polls fades out, the destination one host talks
to keeps its full score. Internal destinations are out of scope unless
``include_internal``; multicast, broadcast, link-local and loopback are never
destinations; allow-listed addresses and names are never scored. State
accumulates over all batches; findings come from ``finish``.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import polars as pl

from sekimori.config import SiteConfig
from sekimori.detect.base import Detector
from sekimori.intel.ipaddr import IpRanges
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    HOST_NAME,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
    Observable,
    Severity,
    Stage,
)

TS_WEIGHT = 0.25
DS_WEIGHT = 0.25
HIST_WEIGHT = 0.05
DUR_WEIGHT = 0.45
HIST_BINS = 24
BIN_SECONDS = 3600
HIST_MODE_SENSITIVITY = 0.05
HIST_OUTLIER_REMOVAL = 1
HIST_BIMODAL_MIN_BINS = 11
DUR_MIN_BINS = 6
DUR_IDEAL_RUN = 12
SKEW_MIN_SPREAD = 10.0
MIN_HOSTS_FOR_PREVALENCE = 10
EVIDENCE_UIDS = 5
DNS_PORTS = (53, 853)
PAIR_SEED = 7
SOURCE_SEED = 11
DESTINATION_SEED = 13


# Destinations that cannot be a remote server: multicast, broadcast, link-local, loopback.
NOT_ROUTED = IpRanges.of(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::1/128",
        "fe80::/10",
        "ff00::/8",
    )
)
_PART_SCHEMA = pl.Schema(
    {
        "key": pl.UInt64(),
        "src_key": pl.UInt64(),
        "dst_key": pl.UInt64(),
        "tenant": pl.String(),
        "kind": pl.String(),
        "src": pl.String(),
        "dst": pl.String(),
        "proto": pl.String(),
        "host": pl.String(),
        "ts": pl.List(pl.Int64()),
        "bytes": pl.List(pl.Int64()),
        "uids": pl.List(pl.String()),
    }
)


@dataclass(frozen=True, slots=True)
class BeaconScore:
    """The score of one pair and the figures behind it."""

    score: float
    ts_score: float
    ds_score: float | None
    hist_score: float
    dur_score: float
    connections: int
    interval: float
    interval_mad: float
    ts_skew: float
    bytes_median: float | None
    first: int
    last: int


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """Q1, median and Q3 of sorted ``values`` (medians of the lower and upper halves)."""
    n = len(values)
    half = n // 2
    lower = values[:half]
    upper = values[half + 1 :] if n % 2 else values[half:]
    q2 = statistics.median(values)
    q1 = statistics.median(lower) if lower else q2
    q3 = statistics.median(upper) if upper else q2
    return q1, q2, q3


def bowley(values: Sequence[float]) -> tuple[float, float]:
    """Bowley skewness of sorted ``values`` and its score ``1 - |skew|``."""
    q1, q2, q3 = quartiles(values)
    spread = q3 - q1
    skew = 0.0
    if spread >= SKEW_MIN_SPREAD and q2 not in (q1, q3):
        skew = (q1 + q3 - 2 * q2) / spread
    return skew, 1.0 - abs(skew)


def mad_score(values: Sequence[float], default: float) -> tuple[float, float]:
    """Median absolute deviation of ``values`` and its score ``(median - MAD) / median``."""
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    score = default if median < 1 else (median - mad) / median
    return mad, max(0.0, score) if not math.isnan(score) else 0.0


def statistical_score(values: Sequence[float], default: float) -> tuple[float, float, float]:
    """``((1 - |Bowley skew|) + MADscore) / 2`` of sorted ``values``, with skew and MAD."""
    skew, skew_score = bowley(values)
    mad, madness = mad_score(values, default)
    return round((skew_score + madness) / 2, 3), skew, mad


def window(start: int, end: int) -> tuple[int, int]:
    """The scoring window: the run, widened to at least ``HIST_BINS`` hours ending at its end."""
    return min(start, end - HIST_BINS * BIN_SECONDS), end


def histogram(times: Sequence[int], start: int, end: int) -> tuple[dict[int, int], int]:
    """Connection counts per hour of the window [start, end], sparse, and the number of hours.

    Sparse, so that a run spanning months (or a stray 1970 timestamp) costs no
    more than the connections themselves.
    """
    bins = max(1, math.ceil((end - start) / BIN_SECONDS))
    counts: dict[int, int] = {}
    for t in times:
        index = min(max(int((t - start) // BIN_SECONDS), 0), bins - 1)
        counts[index] = counts.get(index, 0) + 1
    return counts, bins


def longest_run(hours: Sequence[int], bins: int) -> int:
    """Longest run of consecutive non-empty hours (sorted indices), wrapping from end to start."""
    if not hours:
        return 0
    runs = [1]
    for previous, current in itertools.pairwise(hours):
        if current == previous + 1:
            runs[-1] += 1
        else:
            runs.append(1)
    longest = max(runs)
    if len(runs) > 1 and hours[0] == 0 and hours[-1] == bins - 1:
        longest = max(longest, runs[0] + runs[-1])
    return min(longest, bins)


def histogram_score(
    counts: dict[int, int] | Sequence[int], bins: int | None = None
) -> tuple[float, int, int]:
    """HIST sub-score of per-hour counts, the non-empty hours, and the longest wrapped run.

    ``counts`` is sparse (hour → count, with ``bins`` hours in all) or a dense list.
    """
    if not isinstance(counts, dict):
        bins = len(counts)
        counts = {i: c for i, c in enumerate(counts) if c > 0}
    bins = bins or 1
    filled = {i: c for i, c in counts.items() if c > 0}
    total = sum(filled.values())
    bars = len(filled)
    if total == 0:
        return 0.0, 0, 0
    mean = total / bins
    # the empty hours count in the variance too: (bins - bars) of them, each mean² away
    squares = sum((c - mean) ** 2 for c in filled.values()) + (bins - bars) * mean**2
    cv = math.sqrt(squares / bins) / mean
    cv_score = 0.0 if cv > 1 else round(1 - cv, 3)
    longest = longest_run(sorted(filled), bins)
    bimodal = 0.0
    if bars >= HIST_BIMODAL_MIN_BINS:
        size = math.ceil(max(filled.values()) * HIST_MODE_SENSITIVITY)
        buckets: dict[int, int] = {}
        for c in filled.values():
            key = (c // size) * size
            buckets[key] = buckets.get(key, 0) + 1
        top = sorted(buckets.values(), reverse=True)[:2]
        bimodal = min(1.0, round(sum(top) / max(bars - HIST_OUTLIER_REMOVAL, 1), 3))
    return max(cv_score, bimodal), bars, longest


def duration_score(start: int, end: int, first: int, last: int, bars: int, longest: int) -> float:
    """DUR sub-score: coverage of the run or consistency of hours, with enough bins."""
    if bars < DUR_MIN_BINS or end <= start or last <= first:
        return 0.0
    coverage = min(1.0, math.ceil((last - first) / (end - start) * 1000) / 1000)
    consistency = min(1.0, math.ceil(longest / DUR_IDEAL_RUN * 1000) / 1000)
    return max(coverage, consistency)


def score_pair(
    times: Sequence[int], sizes: Sequence[int] | None, start: int, end: int
) -> BeaconScore | None:
    """The beacon score of one pair; None when it has too few distinct intervals."""
    # the same connection seen twice (http.log and ssl.log) must count once
    ordered = sorted(set(times))
    intervals = sorted(b - a for a, b in itertools.pairwise(ordered) if b > a)
    if len(ordered) < 4 or len(intervals) < 3:
        return None
    ts_score, ts_skew, ts_mad = statistical_score([float(i) for i in intervals], 1.0)
    ds_score: float | None = None
    bytes_median: float | None = None
    if sizes is not None and len(sizes) >= 3:
        ordered_sizes = sorted(float(s) for s in sizes)
        ds_score, _, _ = statistical_score(ordered_sizes, 0.0)
        bytes_median = statistics.median(ordered_sizes)
    start, end = window(start, end)
    counts, bins = histogram(ordered, start, end)
    hist, bars, longest = histogram_score(counts, bins)
    dur = duration_score(start, end, ordered[0], ordered[-1], bars, longest)
    if ds_score is None:
        weight = TS_WEIGHT + HIST_WEIGHT + DUR_WEIGHT
        total = (TS_WEIGHT * ts_score + HIST_WEIGHT * hist + DUR_WEIGHT * dur) / weight
    else:
        total = TS_WEIGHT * ts_score + DS_WEIGHT * ds_score + HIST_WEIGHT * hist + DUR_WEIGHT * dur
    return BeaconScore(
        score=round(total, 3),
        ts_score=ts_score,
        ds_score=ds_score,
        hist_score=hist,
        dur_score=dur,
        connections=len(ordered),
        interval=float(statistics.median(intervals)),
        interval_mad=ts_mad,
        ts_skew=round(ts_skew, 3),
        bytes_median=bytes_median,
        first=ordered[0],
        last=ordered[-1],
    )


def prevalence_weight(share: float, threshold: float) -> float:
    """Score multiplier for a destination contacted by ``share`` of all sources."""
    if share <= threshold or threshold >= 1:
        return 1.0
    return max(0.0, 1.0 - (share - threshold) / (1.0 - threshold))


@dataclass(slots=True)
class BeaconState:
    """Per-pair timestamps, sizes and a few uids, gathered over the run."""

    parts: list[pl.DataFrame] = field(default_factory=list)
    start: int | None = None
    end: int | None = None

    def extend_range(self, low: int | None, high: int | None) -> None:
        """Widen the run's time range."""
        if low is not None:
            self.start = low if self.start is None else min(self.start, low)
        if high is not None:
            self.end = high if self.end is None else max(self.end, high)

    def add(self, part: pl.DataFrame) -> None:
        """Add one batch's per-pair aggregate (they are merged, busy pairs only, at the end)."""
        if part.height:
            self.parts.append(part)


def merge_parts(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Per-pair aggregates of several batches folded into one (grouped on the pair's hash)."""
    if not parts:
        return pl.DataFrame(schema=_PART_SCHEMA)
    explode: dict[str, bool] = {"keep_nulls": False, "empty_as_null": False}
    firsts = [c for c in _PART_SCHEMA if c not in ("key", "ts", "bytes", "uids")]
    return (
        pl.concat(parts)
        .group_by("key")
        .agg(
            *[pl.col(c).first() for c in firsts],
            pl.col("ts").list.explode(**explode),
            pl.col("bytes").list.explode(**explode),
            pl.col("uids").list.explode(**explode).head(EVIDENCE_UIDS),
        )
        .select(list(_PART_SCHEMA))
    )


def _known_sizes(sizes: list[int]) -> list[int] | None:
    """Sizes of name-keyed pairs, or None when they say nothing (all zero: tunnels, SNI)."""
    return sizes if sizes and statistics.median(sizes) >= 1 else None


def _column(frame: pl.DataFrame, *names: str) -> pl.Expr:
    for name in names:
        if name in frame.columns:
            return pl.col(name)
    return pl.lit(None)


class BeaconDetector(Detector):
    """Scores (source, destination) pairs for periodic call-home traffic (module docstring)."""

    name: ClassVar[str] = "beacon"
    datasets: ClassVar[frozenset[str] | None] = frozenset(
        {"zeek.conn", "zeek.http", "zeek.ssl", "suricata.eve"}
    )

    def __init__(self, site: SiteConfig) -> None:
        self.site = site
        self.settings = site.beacon
        self._internal = site.internal_ranges
        self._allow = site.allow_ranges
        self._resolvers = IpRanges.of(site.dns_servers)
        excluded = site.allow_networks + NOT_ROUTED.networks
        if not self.settings.include_internal:
            excluded += site.internal
        self._excluded = IpRanges.of(excluded)

    def new_state(self) -> BeaconState:
        """An empty collection of pairs."""
        return BeaconState()

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Collect the batch's pairs; scoring waits for ``finish``."""
        frame = batch.frame
        if TIMESTAMP not in frame.columns or "source.ip" not in frame.columns:
            return []
        epoch = pl.col(TIMESTAMP).dt.epoch("s")
        bounds = frame.select(epoch.min().alias("lo"), epoch.max().alias("hi")).row(0)
        state.extend_range(bounds[0], bounds[1])
        dataset = batch.dataset
        if dataset == "zeek.conn":
            prefix = "zeek.conn."
            sizes = _column(frame, prefix + "orig_bytes").fill_null(0) + _column(
                frame, prefix + "resp_bytes"
            ).fill_null(0)
            part = self._pairs(frame, "ip", _column(frame, "destination.ip"), sizes, "conn")
        elif dataset == "suricata.eve":
            if "suricata.eve.event_type" not in frame.columns:
                return []
            flows = frame.filter(pl.col("suricata.eve.event_type") == "flow")
            sizes = _column(flows, "suricata.eve.flow.bytes_toserver").fill_null(0) + _column(
                flows, "suricata.eve.flow.bytes_toclient"
            ).fill_null(0)
            part = self._pairs(flows, "ip", _column(flows, "destination.ip"), sizes, "flow")
        elif dataset == "zeek.http":
            sizes = _column(frame, "zeek.http.request_body_len").fill_null(0) + _column(
                frame, "zeek.http.response_body_len"
            ).fill_null(0)
            host = (
                _column(frame, "url.domain", "zeek.http.host")
                .cast(pl.String)
                .str.replace(r":\d+$", "")
                .str.strip_chars("[]")
            )
            literal = host.str.contains(r"^[0-9.]+$|:")
            named = host.is_not_null() & ~host.is_in(["", "-", "(empty)"]) & ~literal
            with_name = frame.filter(named)
            # a request without a Host name still names its server by address
            without_name = frame.filter(~named)
            part = pl.concat(
                [
                    self._pairs(with_name, "fqdn", host, sizes, "http"),
                    self._pairs(
                        without_name, "ip", _column(without_name, "destination.ip"), sizes, "http"
                    ),
                ]
            )
        elif dataset == "zeek.ssl":
            host = _column(frame, "tls.server.name", "zeek.ssl.server_name")
            part = self._pairs(frame, "fqdn", host, None, "ssl")
        else:
            return []
        state.add(part)
        return []

    def _pairs(
        self,
        frame: pl.DataFrame,
        kind: str,
        destination: pl.Expr,
        sizes: pl.Expr | None,
        proto: str,
    ) -> pl.DataFrame:
        if frame.height == 0:
            return pl.DataFrame(schema=_PART_SCHEMA)
        rows = frame.select(
            _column(frame, TENANT).fill_null(DEFAULT_TENANT).cast(pl.String).alias("tenant"),
            pl.col("source.ip").cast(pl.String).alias("src"),
            (
                destination.cast(pl.String).str.to_lowercase().str.strip_chars_end(".")
                if kind == "fqdn"
                else destination.cast(pl.String)
            ).alias("dst"),
            _column(frame, "destination.ip").cast(pl.String).alias("dst_ip"),
            _column(frame, HOST_NAME).cast(pl.String).alias("host"),
            pl.col(TIMESTAMP).dt.epoch("s").alias("ts"),
            (sizes if sizes is not None else pl.lit(None)).cast(pl.Int64).alias("bytes"),
            _column(frame, EVENT_ID).cast(pl.String).alias("uid"),
            _column(frame, "destination.port").cast(pl.Int64, strict=False).alias("port"),
        ).filter(
            pl.col("src").is_not_null()
            & pl.col("dst").is_not_null()
            & (pl.col("dst") != "")
            & (pl.col("dst") != "-")
            & pl.col("ts").is_not_null()
        )
        if rows.height == 0:
            return pl.DataFrame(schema=_PART_SCHEMA)
        rows = rows.filter(self._internal.mask(rows["src"]))
        if rows.height == 0:
            return pl.DataFrame(schema=_PART_SCHEMA)
        if kind == "ip":
            # allow-listed, unroutable and (by default) internal destinations, in one test
            keep = ~self._excluded.mask(rows["dst"]) & (rows["src"] != rows["dst"])
            if self._resolvers and "port" in rows.columns:
                # resolvers asking upstream servers is their job, not a beacon
                keep = keep & ~(self._resolvers.mask(rows["src"]) & rows["port"].is_in(DNS_PORTS))
        else:
            names = rows["dst"].unique().to_list()
            is_ip = rows["dst"].str.contains(r"^[0-9.]+$|:")
            allowed = [n for n in names if self.site.is_allowed_domain(n)]
            keep = ~is_ip & ~rows["dst"].is_in(allowed)
        rows = rows.filter(keep)
        # one 64-bit hash per pair: grouping on it is much cheaper than on three strings
        pair = pl.struct(pl.col("tenant"), pl.lit(kind).alias("kind"), pl.col("src"), pl.col("dst"))
        return (
            rows.with_columns(pair.hash(seed=PAIR_SEED).alias("key"))
            .group_by("key")
            .agg(
                pl.col("tenant").first(),
                pl.col("src").first(),
                pl.col("dst").first(),
                pl.col("host").first(),
                pl.col("ts"),
                pl.col("bytes").drop_nulls(),
                pl.col("uid").drop_nulls().head(EVIDENCE_UIDS).alias("uids"),
            )
            .with_columns(
                pl.lit(kind).alias("kind"),
                pl.lit(proto).alias("proto"),
                pl.struct("tenant", "src").hash(seed=SOURCE_SEED).alias("src_key"),
                pl.struct(pl.col("tenant"), pl.lit(kind).alias("kind"), pl.col("dst"))
                .hash(seed=DESTINATION_SEED)
                .alias("dst_key"),
            )
            .select(list(_PART_SCHEMA))
        )

    def finish(self, state: Any) -> list[Finding]:
        """Score every pair with enough connections; report those above the threshold."""
        if not state.parts or state.start is None or state.end is None:
            return []
        parts, state.parts = state.parts, []
        columns = ["key", "src_key", "dst_key", "tenant", pl.col("ts").list.len().alias("n")]
        seen = pl.concat([p.select(columns) for p in parts]).lazy()
        # only pairs that can reach min_connections get their lists merged
        busy, sources = pl.collect_all(
            [
                seen.group_by("key")
                .agg(pl.col("n").sum())
                .filter(pl.col("n") >= self.settings.min_connections)
                .select("key"),
                seen.group_by("tenant").agg(pl.col("src_key").n_unique().alias("sources")),
            ]
        )
        pairs = merge_parts([p.join(busy, on="key", how="semi") for p in parts])
        # prevalence: how many sources reach each destination of the busy pairs
        spread = (
            seen.join(pairs.lazy().select("dst_key").unique(), on="dst_key", how="semi")
            .group_by("dst_key")
            .agg(pl.col("src_key").n_unique().alias("contacts"))
            .collect()
        )
        threshold = self.settings.prevalence_threshold
        share = pl.col("contacts") / pl.col("sources")
        weight = (
            pl.when((pl.col("sources") < MIN_HOSTS_FOR_PREVALENCE) | (share <= threshold))
            .then(1.0)
            .otherwise((1.0 - (share - threshold) / max(1e-9, 1.0 - threshold)).clip(0.0, 1.0))
        )
        candidates = (
            pairs.filter(pl.col("ts").list.n_unique() >= self.settings.min_connections)
            .join(spread, on="dst_key", how="left")
            .join(sources, on="tenant", how="left")
            .with_columns(share.alias("share"), weight.alias("weight"))
            # a pair whose weight keeps even a perfect score under the threshold is not scored
            .filter(pl.col("weight") >= self.settings.score_threshold)
        )
        findings = []
        for row in candidates.iter_rows(named=True):
            sizes = row["bytes"] if row["kind"] == "ip" else _known_sizes(row["bytes"])
            result = score_pair(row["ts"], sizes or None, state.start, state.end)
            if result is None:
                continue
            share_value, weight_value = float(row["share"]), float(row["weight"])
            final = round(result.score * weight_value, 3)
            if final < self.settings.score_threshold:
                continue
            findings.append(self._finding(row, result, final, share_value, weight_value))
        return findings

    def _finding(
        self,
        row: dict[str, Any],
        result: BeaconScore,
        final: float,
        share: float,
        weight: float,
    ) -> Finding:
        kind, proto, dst = row["kind"], row["proto"], row["dst"]
        high = self.settings.high_score
        severity = Severity.LOW
        if final >= high:
            severity = Severity.HIGH
        elif final >= (high + self.settings.score_threshold) / 2:
            severity = Severity.MEDIUM
        techniques = ("T1071", "T1071.001") if proto == "http" else ("T1071",)
        if proto == "ssl":
            techniques = ("T1071.001", "T1573")
        observable = Observable("ip", dst) if kind == "ip" else Observable("domain", dst)
        interval = int(result.interval)
        return Finding(
            timestamp=datetime.fromtimestamp(result.first, tz=UTC),
            host_name=row["host"] or row["src"],
            tenant=row["tenant"],
            rule_id=f"beacon.{kind}",
            rule_name=f"Periodic connections to {dst} (beacon)",
            ruleset="sekimori-network",
            severity=severity,
            tactics=("command-and-control",),
            techniques=techniques,
            stage=Stage.COMMAND_AND_CONTROL,
            host_ip=row["src"],
            source_ip=row["src"],
            destination_ip=dst if kind == "ip" else None,
            observables=(observable,),
            confidence=final,
            dataset=f"zeek.{proto}" if proto != "flow" else "suricata.eve",
            event_id=row["uids"][0] if row["uids"] else None,
            description=(
                f"{result.connections} connections from {row['src']} to {dst}, about every "
                f"{interval} s (MAD {result.interval_mad:g} s), beacon score {final}"
            ),
            evidence={
                "score": final,
                "ts_score": result.ts_score,
                "ds_score": result.ds_score,
                "hist_score": result.hist_score,
                "dur_score": result.dur_score,
                "connections": result.connections,
                "interval_seconds": result.interval,
                "interval_mad_seconds": result.interval_mad,
                "interval_skew": result.ts_skew,
                "bytes_median": result.bytes_median,
                "first_seen": datetime.fromtimestamp(result.first, tz=UTC),
                "last_seen": datetime.fromtimestamp(result.last, tz=UTC),
                "prevalence": round(share, 3),
                "prevalence_weight": round(weight, 3),
                "uids": list(row["uids"]),
                "pair": f"{row['src']} -> {dst}",
            },
        )
