"""Network hunt speed: rows/s of the whole network hunt beside polars reading the same conn.log.

Generates a Zeek TSV conn.log (default 5,000,000 rows: 2,000 internal hosts,
web traffic, NTP, SMB to file servers, one infected host beaconing, sweeping
and spamming), then in the same run:

1. the Zeek source alone reads it (``sekimori.sources.read_file``);
2. the hunt reads it through the Zeek source and runs every network detector
   (threat-intel matching with a Feodo-style feed, beacon, lateral, spam,
   download), ``finish`` included; its peak memory is taken here;
3. polars alone reads the same file (``pl.read_csv``, tab separated,
   comments skipped), the yardstick.

Prints rows/s for each, the hunt/read ratio, the hunt's peak RSS, and what was found.

    .venv/bin/python bench/network.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from sekimori.config import SiteConfig
from sekimori.detect.network import network_detectors
from sekimori.detect.runner import DetectorRun, run_all
from sekimori.sources import ReadContext, read_file

FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
    "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
    "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
    "tunnel_parents",
]  # fmt: skip
TYPES = [
    "time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
    "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count",
    "set[string]",
]  # fmt: skip
START = 1_795_132_800  # 2026-11-20T00:00:00Z
HOSTS = 2000
INFECTED = "10.1.9.66"
C2 = "192.0.2.10"


def generate(rows: int, path: Path) -> None:
    """Write ``rows`` conn.log rows (TSV with Zeek's header) to ``path``."""
    i = pl.int_range(0, rows, eager=True, dtype=pl.Int64).alias("i")
    frame = pl.DataFrame(i)
    h = (pl.col("i") * 2654435761) % 4294967296
    host = (h % HOSTS).alias("host")
    kind = ((h // 7) % 100).alias("kind")
    frame = frame.with_columns(host, kind)
    src = pl.format("10.1.{}.{}", pl.col("host") // 250, 10 + pl.col("host") % 200)
    web = pl.format("100.64.{}.{}", (pl.col("i") // 13) % 200, (pl.col("i") // 3) % 250 + 1)
    dst = (
        pl.when(pl.col("kind") < 70)
        .then(web)
        .when(pl.col("kind") < 85)
        .then(pl.lit("100.64.250.1"))  # NTP pool, every host
        .when(pl.col("kind") < 95)
        .then(pl.format("10.0.0.{}", 10 + pl.col("host") % 3))  # file servers
        .otherwise(pl.lit("10.0.0.2"))  # resolver
    )
    port = (
        pl.when(pl.col("kind") < 70)
        .then(443)
        .when(pl.col("kind") < 85)
        .then(123)
        .when(pl.col("kind") < 95)
        .then(445)
        .otherwise(53)
    )
    proto = pl.when((pl.col("kind") >= 70) & (pl.col("kind") < 85) | (pl.col("kind") >= 95))
    ts = START + pl.col("i") * 86400.0 / rows + (h % 1000) / 1000.0
    frame = frame.select(
        ts.round(6).alias("ts"),
        pl.format("C{}", pl.col("i")).alias("uid"),
        src.alias("id.orig_h"),
        (1024 + h % 60000).alias("id.orig_p"),
        dst.alias("id.resp_h"),
        port.alias("id.resp_p"),
        proto.then(pl.lit("udp")).otherwise(pl.lit("tcp")).alias("proto"),
        pl.lit("-").alias("service"),
        ((h % 5000) / 1000.0).round(6).alias("duration"),
        (100 + h % 3000).alias("orig_bytes"),
        (200 + (h // 3) % 90000).alias("resp_bytes"),
        pl.when(h % 50 == 0).then(pl.lit("S0")).otherwise(pl.lit("SF")).alias("conn_state"),
        pl.lit("T").alias("local_orig"),
        pl.lit("F").alias("local_resp"),
        pl.lit(0).alias("missed_bytes"),
        pl.lit("ShADadFf").alias("history"),
        (3 + h % 20).alias("orig_pkts"),
        (400 + h % 3000).alias("orig_ip_bytes"),
        (3 + h % 40).alias("resp_pkts"),
        (500 + h % 90000).alias("resp_ip_bytes"),
        pl.lit("-").alias("tunnel_parents"),
    )
    frame = pl.concat([frame, infected(frame.schema)]).sort("ts")
    header = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tconn",
        "#open\t2026-11-20-00-00-00",
        "#fields\t" + "\t".join(FIELDS),
        "#types\t" + "\t".join(TYPES),
    ]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("\n".join(header) + "\n")
        frame.write_csv(fh, separator="\t", include_header=False, quote_style="never")
        fh.write("#close\t2026-11-21-00-00-00\n")


def infected(schema: pl.Schema) -> pl.DataFrame:
    """The infected host: a 300 s beacon, an SMB sweep, a spam run."""
    rows = []
    for n, t in enumerate(range(START + 33_000, START + 86_000, 300)):
        rows.append((t + (n % 7), f"CB{n}", INFECTED, 50000, C2, 8080, 420, 140, "SF"))
    for n in range(200):
        rows.append(
            (
                START + 36_000 + 2 * n,
                f"CS{n}",
                INFECTED,
                50001,
                f"10.1.{n // 200}.{10 + n % 200}",
                445,
                0,
                0,
                "S0",
            )
        )
    for n in range(60):
        rows.append(
            (
                START + 50_000 + 10 * n,
                f"CM{n}",
                INFECTED,
                50002,
                f"203.0.113.{n + 1}",
                25,
                900,
                300,
                "SF",
            )
        )
    frame = pl.DataFrame(
        rows,
        schema=[
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "orig_bytes",
            "resp_bytes",
            "conn_state",
        ],
        orient="row",
    )
    defaults = {
        "proto": "tcp", "service": "-", "duration": 0.1, "local_orig": "T", "local_resp": "F",
        "missed_bytes": 0, "history": "S", "orig_pkts": 2, "orig_ip_bytes": 100, "resp_pkts": 1,
        "resp_ip_bytes": 60, "tunnel_parents": "-",
    }  # fmt: skip
    frame = frame.with_columns(
        pl.col("ts").cast(pl.Float64), *[pl.lit(v).alias(k) for k, v in defaults.items()]
    )
    return frame.select(list(schema)).cast(schema)


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--batch", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, default=None, help="write the log here and keep it")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sekimori-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "conn.log"
    feed = folder / "feodo.txt"
    feed.write_text(f"# Feodo-style list\n{C2}\n198.51.100.7\n")
    started = time.perf_counter()
    # generated in a child process, so that the peak memory measured below is the hunt's
    child = multiprocessing.get_context("spawn").Process(target=generate, args=(args.rows, log))
    child.start()
    child.join()
    if child.exitcode != 0:
        print("generation failed")
        return 1
    size = log.stat().st_size
    took = time.perf_counter() - started
    print(f"generated {args.rows:,} rows ({size / 1e6:.0f} MB) in {took:.1f} s")

    started = time.perf_counter()
    events = sum(len(fb.batch) for fb in read_file(log, ReadContext(batch_size=args.batch)))
    source_seconds = time.perf_counter() - started
    print(f"Zeek source alone:   {source_seconds:6.2f} s  {events / source_seconds:12,.0f} rows/s")

    site = SiteConfig()
    runs = [DetectorRun.start(d) for d in network_detectors(site, [feed])]
    started = time.perf_counter()
    events = 0
    findings = []
    for file_batch in read_file(log, ReadContext(batch_size=args.batch)):
        if file_batch.report.error:
            print(f"read error: {file_batch.report.error}")
            return 1
        events += len(file_batch.batch)
        findings.extend(run_all(runs, file_batch.batch))
    for run in runs:
        findings.extend(run.finish())
    hunt_seconds = time.perf_counter() - started
    print(f"network hunt:        {hunt_seconds:6.2f} s  {events / hunt_seconds:12,.0f} rows/s")
    hunt_rss = peak_rss_mb()
    started = time.perf_counter()
    frame = pl.read_csv(
        log, separator="\t", comment_prefix="#", has_header=False, new_columns=FIELDS,
        quote_char=None, infer_schema_length=10_000,
    )  # fmt: skip
    read_seconds = time.perf_counter() - started
    rows = frame.height
    del frame
    print(f"polars read_csv:     {read_seconds:6.2f} s  {rows / read_seconds:12,.0f} rows/s")

    print(f"ratio hunt/read:     {hunt_seconds / read_seconds:6.2f}x   (goal: within 3x)")
    detecting = sum(run.seconds for run in runs)
    print(f"detectors alone:     {detecting:6.2f} s  {events / detecting:12,.0f} rows/s")
    print(f"peak RSS of the hunt:{hunt_rss:6.0f} MB  (before polars loads the whole file)")
    for run in runs:
        print(f"  {run.detector.name:10} {run.seconds:6.2f} s  {run.findings} findings")
    for finding in sorted(findings, key=lambda f: (f.host_name, f.rule_id)):
        if finding.severity.rank >= 2:
            print(f"  {finding.severity.value:8} {finding.rule_id:20} {finding.host_name}")
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
