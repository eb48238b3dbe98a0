"""Loader downloads: Windows executables and DLLs fetched over plain HTTP.

After the macro runs, the loader (an .exe or, for Emotet, a .dll started with
regsvr32/rundll32) is fetched from one of several URLs, often a bare IP
address on an odd port. Reads ``zeek.http`` (``resp_mime_types``,
``resp_filenames``, the URI), ``zeek.files`` (transfers not already in
http.log: FTP, SMB) and Suricata ``fileinfo``/``http`` events.

A download is an executable when its MIME type is a PE
(``application/x-dosexec``, ``x-msdownload``, ``vnd.microsoft.portable-executable``
…) or its file name or URI path ends in ``.exe``, ``.dll``, ``.scr``,
``.cpl``, ``.ocx``. Each download gets suspicion points, and the severity
follows them (one finding per host and URL or file):

- raw IP address instead of a host name, non-standard port, a file name or
  path that claims a document or image while the content is a PE, a
  downloader user agent (PowerShell, certutil, WinHTTP, curl/wget; not BITS,
  which every updater uses),
  a URL, server or hash on a threat-intel list (when an index is given):
  +1 each;
- the host already had a medium or high download finding earlier in the
  run (the second stage after the first): +1.

0 points: low (updates download executables too); 1: medium; 2 or more: high.
Downloads from internal or allow-listed servers are not reported.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from sekimori.config import SiteConfig
from sekimori.detect.base import Detector
from sekimori.intel.matcher import IntelIndex
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

PE_MIME = (
    r"(?i)application/(x-dosexec|x-msdownload|x-msdos-program"
    r"|vnd\.microsoft\.portable-executable|x-ms-installer|x-executable)|PE32"
)
PE_NAME = r"(?i)\.(exe|dll|scr|cpl|ocx|msi)$"
DECOY_NAME = r"(?i)\.(doc|docx|docm|xls|xlsx|xlsm|pdf|jpg|jpeg|png|gif|txt|zip|rar|bin|dat|tmp)$"
# BITS is left out: Windows and browser updaters download with it every day
DOWNLOADER_AGENT = r"(?i)powershell|certutil|winhttp|curl/|wget/|python-|mshta"
STANDARD_PORTS = (80, 443)
EVIDENCE_ITEMS = 5


@dataclass(slots=True)
class DownloadState:
    """Downloads already reported, and hosts that already have a finding."""

    reported: set[tuple[str, str, str]] = field(default_factory=set)
    flagged_hosts: set[tuple[str, str]] = field(default_factory=set)


def _col(frame: pl.DataFrame, *names: str) -> pl.Expr:
    for name in names:
        if name in frame.columns:
            dtype = frame.schema[name]
            if isinstance(dtype, pl.List):
                return pl.col(name).list.join(",")
            return pl.col(name).cast(pl.String)
    return pl.lit(None, dtype=pl.String)


def _is_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class LoaderDownloadDetector(Detector):
    """Executables and DLLs downloaded over HTTP, scored by how suspicious (module docstring)."""

    name: ClassVar[str] = "download"
    datasets: ClassVar[frozenset[str] | None] = frozenset(
        {"zeek.http", "zeek.files", "suricata.eve"}
    )

    def __init__(self, site: SiteConfig, index: IntelIndex | None = None) -> None:
        self.site = site
        self.index = index
        self._internal = site.internal_ranges
        self._allow = site.allow_ranges

    def new_state(self) -> DownloadState:
        """Nothing reported yet."""
        return DownloadState()

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        """Findings for executable downloads in ``batch``."""
        frame = batch.frame
        if TIMESTAMP not in frame.columns or frame.height == 0:
            return []
        if batch.dataset == "zeek.files":
            source = _col(frame, "zeek.files.source")
            frame = frame.filter(~source.fill_null("").str.to_uppercase().is_in(["HTTP"]))
            client = _col(frame, HOST_NAME, "zeek.files.rx_hosts")
            server = _col(frame, "zeek.files.tx_hosts")
            host_expr = server
            uri = pl.lit(None, dtype=pl.String)
        elif batch.dataset == "suricata.eve":
            if "suricata.eve.event_type" not in frame.columns:
                return []
            frame = frame.filter(pl.col("suricata.eve.event_type").is_in(["fileinfo", "http"]))
            client = _col(frame, "source.ip")
            server = _col(frame, "destination.ip")
            host_expr = _col(frame, "url.domain")
            uri = _col(frame, "url.original")
        else:
            client = _col(frame, "source.ip")
            server = _col(frame, "destination.ip")
            host_expr = _col(frame, "url.domain", "zeek.http.host")
            uri = _col(frame, "url.original", "zeek.http.uri")
        if frame.height == 0:
            return []
        mime = _col(frame, "zeek.http.resp_mime_types", "file.mime_type")
        names = _col(frame, "zeek.http.resp_filenames", "file.name")
        path = uri.str.replace(r"[?#].*$", "")
        rows = frame.select(
            _col(frame, TENANT).fill_null(DEFAULT_TENANT).alias("tenant"),
            client.str.replace(r",.*$", "").alias("client"),
            server.str.replace(r",.*$", "").alias("server"),
            host_expr.str.replace(r":\d+$", "").alias("host"),
            _col(frame, "destination.port").alias("port"),
            uri.alias("uri"),
            mime.alias("mime"),
            names.alias("name"),
            _col(frame, "user_agent.original").alias("agent"),
            _col(frame, "file.hash.sha256", "zeek.files.sha256").alias("sha256"),
            _col(frame, "file.hash.md5", "zeek.files.md5").alias("md5"),
            _col(frame, EVENT_ID).alias("uid"),
            pl.col(TIMESTAMP).alias("ts"),
            mime.str.contains(PE_MIME).fill_null(False).alias("pe_mime"),
            (names.str.contains(PE_NAME) | path.str.contains(PE_NAME))
            .fill_null(False)
            .alias("pe_name"),
            (names.str.contains(DECOY_NAME) | path.str.contains(DECOY_NAME))
            .fill_null(False)
            .alias("decoy"),
        ).filter((pl.col("pe_mime") | pl.col("pe_name")) & pl.col("client").is_not_null())
        if rows.height == 0:
            return []
        outside = ~self._internal.mask(rows["server"].fill_null("")) | rows["server"].is_null()
        allowed = self._allow.mask(rows["server"].fill_null(""))
        hosts = rows["host"].unique().drop_nulls().to_list()
        allowed_names = [h for h in hosts if self.site.is_allowed_domain(h)]
        rows = rows.filter(outside & ~allowed & ~rows["host"].is_in(allowed_names).fill_null(False))
        findings = []
        for row in rows.iter_rows(named=True):
            target = row["uri"] or row["name"] or row["sha256"] or row["uid"] or ""
            key = (row["tenant"], row["client"], f"{row['host'] or row['server']}{target}")
            if key in state.reported:
                continue
            state.reported.add(key)
            findings.append(self._finding(batch, row, state))
        return findings

    def _finding(self, batch: EventBatch, row: dict[str, Any], state: DownloadState) -> Finding:
        host = row["host"] or row["server"]
        reasons: list[str] = []
        if _is_ip(host):
            reasons.append("server named by a bare IP address")
        port = row["port"]
        if port and port.isdigit() and int(port) not in STANDARD_PORTS:
            reasons.append(f"non-standard port {port}")
        if row["pe_mime"] and row["decoy"]:
            reasons.append("executable content behind a document/image name")
        if row["agent"] and re.search(DOWNLOADER_AGENT, row["agent"]):
            reasons.append(f"downloader user agent {row['agent']!r}")
        url = None
        if row["uri"]:
            url = row["uri"] if "://" in row["uri"] else f"http://{host}{row['uri']}"
        if self.index is not None:
            known = [v for v in (url, host, row["server"], row["sha256"], row["md5"]) if v]
            hits = [i for v in known for i in self.index.lookup(v)]
            if hits:
                reasons.append(f"on threat list {hits[0].source} ({hits[0].value})")
        client_key = (row["tenant"], row["client"])
        if client_key in state.flagged_hosts:
            reasons.append("host already flagged in this run")
        severity = (
            Severity.LOW if not reasons else Severity.MEDIUM if len(reasons) == 1 else Severity.HIGH
        )
        if severity is not Severity.LOW:
            state.flagged_hosts.add(client_key)
        what = (
            "DLL"
            if (row["name"] or row["uri"] or "").lower().rstrip("/").endswith(".dll")
            else "executable"
        )
        observables = [Observable("url", url)] if url else []
        if row["sha256"]:
            observables.append(Observable("hash", row["sha256"]))
        if row["server"]:
            observables.append(Observable("ip", row["server"]))
        return Finding(
            timestamp=row["ts"],
            host_name=row["client"],
            tenant=row["tenant"],
            rule_id="download.executable",
            rule_name=f"Windows {what} downloaded from {host}",
            ruleset="sekimori-network",
            severity=severity,
            tactics=("command-and-control",),
            techniques=("T1105",),
            stage=Stage.INSTALLATION,
            host_ip=row["client"],
            source_ip=row["client"],
            destination_ip=row["server"],
            observables=tuple(observables),
            dataset=batch.dataset,
            event_id=row["uid"],
            log_file_path=batch.path,
            description=(
                f"{row['client']} downloaded a Windows {what} from {host}"
                + (f": {'; '.join(reasons)}" if reasons else "")
            ),
            evidence={
                "url": url,
                "server": row["server"],
                "host": host,
                "port": port,
                "mime_types": row["mime"],
                "file_names": row["name"],
                "user_agent": row["agent"],
                "sha256": row["sha256"],
                "md5": row["md5"],
                "reasons": reasons,
                "uid": row["uid"],
            },
        )
