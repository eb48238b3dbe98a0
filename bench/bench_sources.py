"""Reading speed of the sources: Zeek TSV/JSON, Winlogbeat, evtx JSON lines and EVTX.

Usage: .venv/bin/python bench/bench_sources.py [ROWS] [--windows]
(default 5,000,000 conn rows; ``--windows`` runs only the Windows part)

Writes synthetic logs to a temporary folder (ROWS conn rows, ROWS/25
Winlogbeat events), reads them with read_file and prints rows, seconds and
rows per second. When ../shared/data is there, it also reads every EVTX of
EVTX-ATTACK-SAMPLES, and those events ten times over as evtx_dump JSON lines
(fresh EventRecordIDs, 82,550 events): the input of ``sekimori hunt`` runs.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from evtx import PyEvtxParser

from sekimori.sources import ReadContext, iter_files, read_file

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "evtx" / "EVTX-ATTACK-SAMPLES"

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


def timed(path: Path, label: str | None = None) -> None:
    """Read ``path`` (a file or a folder) and print rows, wall and CPU seconds, rows/s."""
    start = time.perf_counter()
    cpu = time.process_time()
    rows = skipped = errors = 0
    for file in iter_files([path]):
        for item in read_file(file, ReadContext(batch_size=50_000)):
            rows += len(item.batch)
        skipped += item.report.skipped
        errors += item.report.error is not None
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    print(
        f"{label or path.name}: {rows:,} rows in {elapsed:.2f} s, cpu {cpu:.2f} s "
        f"({rows / elapsed:,.0f}/s), skipped {skipped}, errors {errors}"
    )


def evtx_json_lines(target: Path, copies: int = 10) -> None:
    """The EVTX samples as ``evtx_dump -o jsonl`` lines, ``copies`` times with fresh record ids."""
    docs = [
        json.loads(record["data"])
        for path in sorted(SAMPLES.rglob("*.evtx"))
        for record in PyEvtxParser(str(path)).records_json()
    ]
    with target.open("w", encoding="utf-8") as fh:
        for copy in range(copies):
            for n, doc in enumerate(docs):
                doc["Event"]["System"]["EventRecordID"] = copy * len(docs) + n + 1
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")


def windows(tmp: Path) -> None:
    """EVTX files and evtx JSON lines, when the public samples are there."""
    if not SAMPLES.is_dir():
        print(f"no EVTX samples at {SAMPLES}: Windows part left out")
        return
    timed(SAMPLES, "EVTX-ATTACK-SAMPLES (evtx files)")
    lines = tmp / "events.jsonl"
    evtx_json_lines(lines)
    timed(lines, "events.jsonl (evtx JSON lines)")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(args[0]) if args else 5_000_000
    with tempfile.TemporaryDirectory() as tmp:
        if "--windows" not in sys.argv:
            frame = conn_frame(rows)
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
        windows(Path(tmp))


if __name__ == "__main__":
    main()
