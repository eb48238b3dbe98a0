"""Threat-intel matching: observables of every network batch against the indicator index.

Columns read (whichever a batch has): ``source.ip``/``destination.ip`` and
Sysmon's ``winlog.event_data.SourceIp``/``DestinationIp`` (IPs, CIDRs);
``dns.question.name``, ``url.domain``, ``tls.server.name``,
``destination.domain`` and Sysmon ``QueryName``/``DestinationHostname``
(domains and their subdomains); ``url.full``, or the URL rebuilt from
``url.domain`` + ``url.original`` (URLs, normalized); ``file.hash.*`` and
Sysmon ``Hashes`` (hashes). Matching is vectorized
(:class:`sekimori.intel.matcher.IntelIndex`).

One finding per (tenant, host, indicator) per run: the first batch that shows
the contact reports it with that batch's count and first connection uids;
later sightings only add to the state. Rule ids ``intel.ip``,
``intel.domain``, ``intel.url``, ``intel.hash``. Severity: high for
command-and-control and malware-download indicators, medium otherwise, low
for indicators of confidence below 50.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from sekimori.detect.base import Detector
from sekimori.intel.indicator import Indicator
from sekimori.intel.matcher import IntelIndex
from sekimori.model import (
    DEFAULT_TENANT,
    EVENT_ID,
    HOST_NAME,
    LOG_FILE_PATH,
    TENANT,
    TIMESTAMP,
    EventBatch,
    Finding,
    Observable,
    Severity,
    Stage,
)

EVIDENCE_UIDS = 10
IP_COLUMNS = (
    "destination.ip",
    "source.ip",
    "winlog.event_data.DestinationIp",
    "winlog.event_data.SourceIp",
)
DOMAIN_COLUMNS = (
    "dns.question.name",
    "url.domain",
    "tls.server.name",
    "destination.domain",
    "winlog.event_data.QueryName",
    "winlog.event_data.DestinationHostname",
)
HASH_COLUMNS = ("file.hash.md5", "file.hash.sha1", "file.hash.sha256")
SYSMON_HASHES = "winlog.event_data.Hashes"
_DOWNLOAD_THREATS = {"malware_download", "payload_delivery", "payload"}


@dataclass(slots=True)
class IntelState:
    """Which (tenant, host, indicator) contacts were already reported."""

    reported: set[tuple[str, str, int]] = field(default_factory=set)
    sightings: dict[tuple[str, str, int], int] = field(default_factory=dict)


def _present(frame: pl.DataFrame, names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in frame.columns and frame.schema[n] == pl.String]


def full_urls(frame: pl.DataFrame) -> pl.Series | None:
    """Full URLs of a batch: ``url.full``, else ``http://host[:port]`` + ``url.original``."""
    if "url.full" in frame.columns:
        return frame["url.full"].cast(pl.String)
    if "url.original" not in frame.columns:
        return None
    original = pl.col("url.original").cast(pl.String)
    host = pl.col("url.domain").cast(pl.String) if "url.domain" in frame.columns else None
    if host is None:
        return frame.select(
            pl.when(original.str.contains("://")).then(original).otherwise(None)
        ).to_series()
    port = (
        pl.col("destination.port").cast(pl.String)
        if "destination.port" in frame.columns
        else pl.lit(None, dtype=pl.String)
    )
    with_port = pl.when(host.str.contains(":") | port.is_null() | (port == "80"))
    netloc = with_port.then(host).otherwise(host + ":" + port)
    built = pl.concat_str([pl.lit("http://"), netloc, original])
    return frame.select(
        pl.when(original.str.contains("://"))
        .then(original)
        .when(host.is_not_null() & original.str.starts_with("/"))
        .then(built)
        .otherwise(None)
        .alias("url")
    ).to_series()


def sysmon_hashes(frame: pl.DataFrame) -> pl.DataFrame | None:
    """Rows and digests of Sysmon ``Hashes`` (``SHA256=…,MD5=…``), exploded."""
    if SYSMON_HASHES not in frame.columns:
        return None
    return (
        frame.select(
            pl.int_range(0, pl.len(), dtype=pl.UInt32).alias("row"),
            pl.col(SYSMON_HASHES).cast(pl.String).str.extract_all(r"[0-9A-Fa-f]{32,128}"),
        )
        .explode(SYSMON_HASHES)
        .drop_nulls()
    )


class IntelDetector(Detector):
    """Finds contacts with known-bad IPs, domains, URLs and file hashes (module docstring)."""

    name: ClassVar[str] = "intel"
    datasets: ClassVar[frozenset[str] | None] = None

    def __init__(self, index: IntelIndex) -> None:
        self.index = index

    def new_state(self) -> IntelState:
        """Nothing reported yet."""
        return IntelState()

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Findings for first contacts with indicators in ``batch``."""
        frame = batch.frame
        if len(self.index) == 0 or frame.height == 0:
            return []
        hits: list[pl.DataFrame] = []
        if self.index.has_ips:
            for column in _present(frame, IP_COLUMNS):
                hits.append(self._tag(self.index.match_ips(frame[column]), "ip", column))
        if self.index.has_domains:
            for column in _present(frame, DOMAIN_COLUMNS):
                hits.append(self._tag(self.index.match_domains(frame[column]), "domain", column))
        if self.index.has_urls:
            urls = full_urls(frame)
            if urls is not None:
                hits.append(self._tag(self.index.match_urls(urls), "url", "url.full"))
        if self.index.has_hashes:
            for column in _present(frame, HASH_COLUMNS):
                hits.append(self._tag(self.index.match_hashes(frame[column]), "hash", column))
            exploded = sysmon_hashes(frame)
            if exploded is not None and exploded.height:
                found = self.index.match_hashes(exploded[SYSMON_HASHES])
                rows = exploded["row"].gather(found["row"])
                hits.append(self._tag(found.with_columns(rows.alias("row")), "hash", SYSMON_HASHES))
        hits = [h for h in hits if h.height]
        if not hits:
            return []
        matched = pl.concat(hits).unique(["row", "indicator", "kind"], keep="first")
        return self._findings(batch, matched, state)

    @staticmethod
    def _tag(found: pl.DataFrame, kind: str, column: str) -> pl.DataFrame:
        return found.with_columns(pl.lit(kind).alias("kind"), pl.lit(column).alias("column"))

    def _findings(
        self, batch: EventBatch, matched: pl.DataFrame, state: IntelState
    ) -> list[Finding]:
        frame = batch.frame
        wanted = [
            c
            for c in (
                TIMESTAMP,
                TENANT,
                HOST_NAME,
                EVENT_ID,
                LOG_FILE_PATH,
                "source.ip",
                "destination.ip",
            )
            if c in frame.columns
        ]
        rows = frame.select(wanted).with_row_index("row")
        joined = matched.join(rows, on="row", how="left").sort("row")
        if "source.ip" not in joined.columns:
            joined = joined.with_columns(pl.lit(None, dtype=pl.String).alias("source.ip"))
        if "destination.ip" not in joined.columns:
            joined = joined.with_columns(pl.lit(None, dtype=pl.String).alias("destination.ip"))
        host = pl.col(HOST_NAME) if HOST_NAME in joined.columns else pl.col("source.ip")
        # when the bad address is the host's own column (inbound), the victim is the other side
        victim = (
            pl.when((pl.col("column") == "source.ip") & pl.col("destination.ip").is_not_null())
            .then(pl.col("destination.ip"))
            .otherwise(host)
        )
        tenant = pl.col(TENANT) if TENANT in joined.columns else pl.lit(DEFAULT_TENANT)
        event_id = pl.col(EVENT_ID) if EVENT_ID in joined.columns else pl.lit(None, dtype=pl.String)
        grouped = (
            joined.with_columns(
                victim.cast(pl.String).fill_null("unknown").alias("_host"),
                tenant.cast(pl.String).fill_null(DEFAULT_TENANT).alias("_tenant"),
                event_id.cast(pl.String).alias("_uid"),
            )
            .group_by(["_tenant", "_host", "indicator"], maintain_order=True)
            .agg(
                pl.len().alias("count"),
                pl.col("kind").first(),
                pl.col("column").unique().alias("columns"),
                pl.col(TIMESTAMP).min().alias("first")
                if TIMESTAMP in joined.columns
                else pl.lit(None),
                pl.col("_uid").drop_nulls().head(EVIDENCE_UIDS).alias("uids"),
                pl.col("source.ip").first(),
                pl.col("destination.ip").first(),
                pl.col(LOG_FILE_PATH).first() if LOG_FILE_PATH in joined.columns else pl.lit(None),
            )
        )
        findings = []
        for row in grouped.iter_rows(named=True):
            key = (row["_tenant"], row["_host"], row["indicator"])
            state.sightings[key] = state.sightings.get(key, 0) + row["count"]
            if key in state.reported:
                continue
            state.reported.add(key)
            indicator = self.index.indicators[row["indicator"]]
            findings.append(self._finding(batch, row, indicator))
        return findings

    def _finding(self, batch: EventBatch, row: dict[str, Any], indicator: Indicator) -> Finding:
        kind = indicator.type if indicator.type != "cidr" else "ip"
        severity = Severity.MEDIUM
        if indicator.is_c2 or (indicator.threat or "").lower() in _DOWNLOAD_THREATS:
            severity = Severity.HIGH
        if indicator.confidence is not None and indicator.confidence < 50:
            severity = Severity.LOW
        dataset = batch.dataset
        if kind == "hash" or (indicator.threat or "").lower() in _DOWNLOAD_THREATS:
            techniques: tuple[str, ...] = ("T1105",)
            stage = Stage.INSTALLATION if kind == "hash" else Stage.COMMAND_AND_CONTROL
        elif dataset.endswith(".ssl"):
            techniques, stage = ("T1071.001", "T1573"), Stage.COMMAND_AND_CONTROL
        elif dataset.endswith((".http", ".dns")):
            suffix = "T1071.001" if dataset.endswith(".http") else "T1071.004"
            techniques, stage = ("T1071", suffix), Stage.COMMAND_AND_CONTROL
        else:
            techniques, stage = ("T1071",), Stage.COMMAND_AND_CONTROL
        family = f" ({indicator.malware})" if indicator.malware else ""
        if indicator.type == "cidr":
            columns = row["columns"]
            inside = row["destination.ip"] if "destination.ip" in columns else None
            inside = inside or (row["source.ip"] if "source.ip" in columns else None)
            observables = (Observable("ip", inside),) if inside else ()
        else:
            observables = (Observable(kind, indicator.value),)
        first = row["first"]
        return Finding(
            timestamp=first if first is not None else batch.frame[TIMESTAMP].min(),  # type: ignore[arg-type]
            host_name=row["_host"],
            tenant=row["_tenant"],
            rule_id=f"intel.{kind}",
            rule_name=f"Contact with {indicator.value} from threat feed {indicator.source}{family}",
            ruleset="sekimori-intel",
            severity=severity,
            tactics=("command-and-control",),
            techniques=techniques,
            stage=stage,
            source_ip=row["source.ip"],
            destination_ip=row["destination.ip"],
            observables=observables,
            confidence=(indicator.confidence / 100) if indicator.confidence is not None else None,
            dataset=dataset,
            event_id=row["uids"][0] if row["uids"] else None,
            log_file_path=row[LOG_FILE_PATH] or batch.path,
            description=(
                f"{row['count']} event(s) in {dataset} match {indicator.type} indicator "
                f"{indicator.value} ({indicator.threat or 'unclassified'}) from {indicator.source}"
            ),
            evidence={
                "indicator": indicator.value,
                "indicator_type": indicator.type,
                "feed": indicator.source,
                "family": indicator.malware,
                "threat": indicator.threat,
                "indicator_confidence": indicator.confidence,
                "indicator_first_seen": indicator.first_seen,
                "indicator_last_seen": indicator.last_seen,
                "reference": indicator.reference,
                "matched_fields": sorted(row["columns"]),
                "count": row["count"],
                "uids": list(row["uids"]),
            },
        )


def match_observables(findings: Iterable[Finding], index: IntelIndex) -> list[Finding]:
    """Intel findings for the observables of other findings (a URL decoded from a macro …).

    Mail and endpoint detectors name URLs, domains, IPs and hashes as
    observables; one that is on a feed gives one ``intel.<type>`` finding per
    host and indicator, pointing back at the finding it came from. Pure: the
    findings given are not changed.
    """
    seen: set[tuple[str, str, str]] = set()
    found: list[Finding] = []
    for finding in findings:
        if finding.ruleset == "sekimori-intel":
            continue
        for observable in finding.observables:
            if observable.type not in ("ip", "domain", "url", "hash"):
                continue
            for indicator in index.lookup(observable.value):
                key = (finding.tenant, finding.host_name, indicator.value)
                if key in seen:
                    continue
                seen.add(key)
                kind = "ip" if indicator.type == "cidr" else indicator.type
                severity = (
                    Severity.HIGH
                    if indicator.is_c2 or (indicator.threat or "").lower() in _DOWNLOAD_THREATS
                    else Severity.MEDIUM
                )
                found.append(
                    Finding(
                        timestamp=finding.timestamp,
                        host_name=finding.host_name,
                        tenant=finding.tenant,
                        rule_id=f"intel.{kind}",
                        rule_name=(
                            f"{observable.value}, named by “{finding.rule_name}”, is on "
                            f"threat feed {indicator.source}"
                        ),
                        ruleset="sekimori-intel",
                        severity=severity,
                        tactics=("command-and-control",),
                        techniques=("T1105",) if kind in ("url", "hash") else ("T1071",),
                        # A URL in the lure is part of the delivery; one a macro or
                        # a process fetched is the C&C or the loader's server.
                        stage=Stage.DELIVERY
                        if finding.kill_chain_stage is Stage.DELIVERY
                        else Stage.COMMAND_AND_CONTROL,
                        host_ip=finding.host_ip,
                        observables=(observable,),
                        confidence=(indicator.confidence / 100)
                        if indicator.confidence is not None
                        else None,
                        dataset=finding.dataset,
                        event_id=finding.event_id,
                        log_file_path=finding.log_file_path,
                        description=(
                            f"{observable.type} {observable.value} named by {finding.rule_name} "
                            f"matches {indicator.type} indicator {indicator.value}"
                        ),
                        evidence={
                            "indicator": indicator.value,
                            "indicator_type": indicator.type,
                            "feed": indicator.source,
                            "family": indicator.malware,
                            "threat": indicator.threat,
                            "via_finding": finding.id,
                            "via_rule": finding.rule_id,
                        },
                    )
                )
    return found
