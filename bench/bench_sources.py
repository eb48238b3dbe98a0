"""Reading speed of the Zeek TSV/JSON and Winlogbeat sources on synthetic logs.

Usage: .venv/bin/python bench/bench_sources.py [ROWS]   (default 5,000,000 conn rows)
Writes the synthetic logs to a temporary folder (ROWS conn rows, ROWS/25
Winlogbeat events), reads them with read_file and prints rows, seconds and
rows per second.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import polars as pl

from sekimori.sources import ReadContext, read_file

HEADER = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2024-01-01-00-00-00
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
"""


def conn_frame(rows: int) -> pl.DataFrame:
    i = pl.int_range(rows)
    return pl.select(
        **{
            "ts": (1_704_067_200 + i * 0.01).round(6),
            "uid": pl.format("C{}x", i),
            "id.orig_h": pl.format("10.0.{}.{}", (i // 250) % 250, i % 250),
            "id.orig_p": 1024 + i % 60000,
            "id.resp_h": pl.format("203.0.113.{}", i % 250),
            "id.resp_p": pl.lit(443),
            "proto": pl.lit("tcp"),
            "service": pl.lit("ssl"),
            "duration": (i % 1000) / 7.0,
            "orig_bytes": i % 5000,
            "resp_bytes": i % 9000,
            "conn_state": pl.lit("SF"),
            "local_orig": pl.lit("T"),
            "local_resp": pl.lit("F"),
            "missed_bytes": pl.lit(0),
            "history": pl.lit("ShADadFf"),
            "orig_pkts": i % 50,
            "orig_ip_bytes": i % 7000,
            "resp_pkts": i % 40,
            "resp_ip_bytes": i % 9900,
            "tunnel_parents": pl.lit("-"),
        }
    )


def winlogbeat_frame(rows: int) -> pl.DataFrame:
    i = pl.int_range(rows)
    return pl.select(
        **{
            "@timestamp": pl.lit("2024-05-13T09:00:00.512Z"),
            "host": pl.struct(name=pl.lit("ws-021")),
            "winlog": pl.struct(
                channel=pl.lit("Microsoft-Windows-Sysmon/Operational"),
                event_id=pl.lit(1),
                provider_name=pl.lit("Microsoft-Windows-Sysmon"),
                computer_name=pl.format("WS-{}.corp.example", i % 30),
                record_id=i,
                event_data=pl.struct(
                    ProcessId=(i % 9000).cast(pl.String),
                    Image=pl.lit("C:\\Windows\\System32\\cmd.exe"),
                    CommandLine=pl.format("cmd.exe /c echo {}", i),
                    User=pl.lit("CORP\\tanaka"),
                    ParentImage=pl.lit("C:\\Windows\\explorer.exe"),
                    Hashes=pl.lit(
                        "SHA256=0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
                    ),
                ),
            ),
        }
    )


def timed(path: Path) -> None:
    start = time.perf_counter()
    rows = 0
    for item in read_file(path, ReadContext(batch_size=50_000)):
        rows += len(item.batch)
    elapsed = time.perf_counter() - start
    report = item.report
    print(
        f"{path.name}: {rows:,} rows in {elapsed:.1f} s ({rows / elapsed:,.0f}/s), "
        f"skipped {report.skipped}, error {report.error}"
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    frame = conn_frame(rows)
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "conn.log"
        with tsv.open("w") as fh:
            fh.write(HEADER)
        with tsv.open("a") as fh:
            frame.write_csv(fh, separator="\t", include_header=False, quote_style="never")
        timed(tsv)
        ndjson = Path(tmp) / "conn.json"
        frame.with_columns(pl.lit("conn").alias("_path")).write_ndjson(ndjson)
        timed(ndjson)
        events = Path(tmp) / "winlogbeat.ndjson"
        winlogbeat_frame(max(1, rows // 25)).write_ndjson(events)
        timed(events)


if __name__ == "__main__":
    main()
