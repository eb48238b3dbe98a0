"""Windows batches pinned whole: every column, dtype, value and row order.

``tests/data/sources/windows_golden`` holds the batches the Windows readers
gave for each case below (``<case>.parquet``: the batches one under the other
with their number in ``__batch``; ``<case>.json``: the columns of each batch
and the read report). A change to the readers must give exactly these
events: speed work may change how a batch is built, never what is in it.

The pinned batches hold every channel of a batch window in one frame; the
readers now give one frame per channel of the window (``WindowsBatcher``).
So each pinned batch is split by channel, in the order the channels first
appear, and each part must equal the batch read: the same rows in the same
order, the same values and dtypes, and no column the part has a value in
left out (the part's other columns are the other channels' fields).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from evtx import PyEvtxParser

from sekimori.sources import ReadContext, read_file, windows
from tests.conftest import shared_path

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "sources" / "windows_golden"
FIXTURES = Path(__file__).resolve().parent.parent / "data" / "sources"

# EVTX samples with the shapes the readers must get right: UserData and no
# EventData (1102/104), EventID with Qualifiers and unnamed Data (PowerShell
# 800, MSSQL), EventData with attributes, ProcessingErrorData, booleans
# (Sysmon 3), events without a Channel (ETW), Security and System logs.
SAMPLES = (
    "Defense Evasion/DE_104_system_log_cleared.evtx",
    "Lateral Movement/MSSQL_15281_xp_cmdshell_exec_failed_attempt.evtx",
    "Other/emotet/exec_emotet_ps_800_get-item.evtx",
    "Credential Access/LsassSilentProcessExit_process_exit_monitor_3001_lsass.evtx",
    "Lateral Movement/LM_winrm_target_wrmlogs_91_wsmanShellStarted_poorLog.evtx",
    "Credential Access/sysmon_3_10_Invoke-Mimikatz_hosted_Github.evtx",
    "Other/emotet/exec_emotet_sysmon_1.evtx",
    "Credential Access/Zerologon_CVE-2020-1472_DFIR_System_NetLogon_Error_EventID_5805.evtx",
    "Credential Access/etw_rpc_zerologon.evtx",
)

# case → (input, batch size)
CASES: dict[str, tuple[str, int]] = {
    "evtx_json_pretty": ("fixture:evtx_json/sysmon_pretty.json", 50_000),
    "evtx_json_mixed": ("fixture:evtx_json/mixed.jsonl", 50_000),
    "evtx_json_array_bs1": ("fixture:evtx_json/array.json", 1),
    "winlogbeat": ("fixture:winlogbeat/winlogbeat.ndjson", 50_000),
    "winlogbeat6": ("fixture:winlogbeat/winlogbeat6.json", 50_000),
    "otrf": ("fixture:winlogbeat/otrf.json", 50_000),
    "samples_jsonl": ("samples:jsonl", 50_000),
    "samples_jsonl_bs97": ("samples:jsonl", 97),
    **{f"evtx_{i}": (f"evtx:{name}", 50_000) for i, name in enumerate(SAMPLES)},
    "evtx_zerologon_bs50": (f"evtx:{SAMPLES[-1]}", 50),
}


def build_input(kind: str, tmp: Path) -> Path:
    """The file a case reads: a fixture, a shared EVTX sample, or JSON lines made from them."""
    how, _, what = kind.partition(":")
    if how == "fixture":
        return FIXTURES / what
    root = shared_path("evtx", "EVTX-ATTACK-SAMPLES")
    if how == "evtx":
        return root / what
    # The evtx_dump JSON lines shape, twice over with fresh record ids (as bench/bench_sources.py).
    docs = [
        json.loads(record["data"])
        for name in SAMPLES
        for record in PyEvtxParser(str(root / name)).records_json()
    ]
    path = tmp / "samples.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for copy in range(2):
            for n, doc in enumerate(docs):
                doc["Event"]["System"]["EventRecordID"] = copy * len(docs) + n + 1
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
    return path


def _golden(name: str) -> tuple[list[pl.DataFrame], dict[str, object]]:
    meta = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    stacked = pl.read_parquet(GOLDEN / f"{name}.parquet")
    frames = [
        stacked.filter(pl.col("__batch") == i).select(columns)
        for i, columns in enumerate(meta["columns"])
    ]
    return frames, meta


def normalized(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """``frame`` with the file's path written ``<file>`` (in ``log.file.path``, ``event.id``)."""
    return frame.with_columns(pl.col(pl.String).str.replace_all(str(path), "<file>", literal=True))


def _read(path: Path, batch_size: int) -> tuple[list[pl.DataFrame], dict[str, object]]:
    frames = []
    report = None
    for item in read_file(path, ReadContext(tenant="acme", batch_size=batch_size)):
        report = item.report
        if len(item.batch):
            frames.append(normalized(item.batch.frame, path))
    assert report is not None and report.error is None, report
    meta = {
        "columns": [f.columns for f in frames],
        "events": report.events,
        "skipped": report.skipped,
        "problems": [p.replace(str(path), "<file>") for p in report.problems],
        "source": report.source,
    }
    return frames, meta


@pytest.mark.parametrize("chunk", [windows.CHUNK_RECORDS, 5])
@pytest.mark.parametrize("name", sorted(CASES))
def test_batches_are_the_pinned_frames(
    name: str, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(windows, "CHUNK_RECORDS", chunk)
    kind, batch_size = CASES[name]
    path = build_input(kind, tmp_path)
    got, got_meta = _read(path, batch_size)
    want, want_meta = _golden(name)
    del got_meta["columns"], want_meta["columns"]
    assert got_meta == want_meta
    parts = [part for frame in want for part in _by_channel(frame)]
    assert len(got) == len(parts)
    for i, (g, w) in enumerate(zip(got, parts, strict=True)):
        assert set(g.columns) <= set(w.columns), (name, i)
        left_out = [c for c in w.columns if c not in g.columns]
        assert w.select(left_out).null_count().row(0) == (w.height,) * len(left_out), (name, i)
        assert g.schema == w.select(g.columns).schema, (name, i)
        assert g.equals(w.select(g.columns)), (name, i)


def _by_channel(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """A pinned batch as the reader now gives it: one part per channel, first seen first."""
    channel = frame.get_column(windows.CHANNEL)
    keys = list(dict.fromkeys(channel.to_list()))
    return [frame.filter(channel.is_null() if k is None else channel == k) for k in keys]
