"""Small Windows batches are joined before detection; nothing is lost or mixed up."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from sekimori.batchjoin import ALONE_SHARE, BatchJoiner
from sekimori.model import EventBatch
from sekimori.pipeline import HuntOptions, run_hunt

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def windows(path: str, rows: int, **columns: list[object]) -> EventBatch:
    frame = pl.DataFrame(
        {
            "@timestamp": [T0] * rows,
            "log.file.path": [path] * rows,
            "event.code": ["1"] * rows,
            **columns,
        }
    )
    return EventBatch(dataset="windows", frame=frame, path=path)


def same(got: list[EventBatch], expected: list[EventBatch]) -> bool:
    return [id(b) for b in got] == [id(b) for b in expected]


def test_small_batches_are_joined_and_rows_keep_their_file() -> None:
    joiner = BatchJoiner(rows=100)
    a = windows("a.evtx", 3, **{"winlog.event_data.Image": ["x"] * 3})
    b = windows("b.evtx", 2, **{"winlog.event_data.User": ["u"] * 2})
    assert joiner.add(a, "evtx") == []
    assert joiner.add(b, "evtx") == []
    (joined,) = joiner.flush()
    assert joined.frame.height == 5
    assert joined.frame["log.file.path"].to_list() == ["a.evtx"] * 3 + ["b.evtx"] * 2
    assert joined.frame["winlog.event_data.User"].to_list() == [None] * 3 + ["u"] * 2
    assert joiner.flush() == []


def test_batches_of_other_data_and_other_sources_are_not_joined() -> None:
    joiner = BatchJoiner(rows=100)
    conn = EventBatch(dataset="zeek.conn", frame=pl.DataFrame({"x": [1]}), path="conn.log")
    assert same(joiner.add(conn, "zeek"), [conn])
    evtx = windows("a.evtx", 2)
    beat = windows("b.ndjson", 2)
    assert joiner.add(evtx, "evtx") == []
    assert same(joiner.add(beat, "winlogbeat"), [evtx])
    assert same(joiner.flush(), [beat])


def test_only_batches_of_one_channel_are_joined() -> None:
    joiner = BatchJoiner(rows=100)
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    s1 = windows("a.evtx", 2, **{"winlog.channel": [sysmon] * 2})
    sec = windows("a.evtx", 3, **{"winlog.channel": ["Security"] * 3})
    s2 = windows("b.evtx", 2, **{"winlog.channel": [sysmon] * 2})
    for batch in (s1, sec, s2):
        assert joiner.add(batch, "evtx") == []
    sysmon_batch, security = joiner.flush()
    assert sysmon_batch.frame["log.file.path"].to_list() == ["a.evtx"] * 2 + ["b.evtx"] * 2
    assert security is sec


def test_a_big_batch_runs_alone_and_in_order() -> None:
    rows = 80
    alone = rows // ALONE_SHARE
    joiner = BatchJoiner(rows=rows)
    small = windows("a.evtx", 2)
    big = windows("b.evtx", alone)
    assert joiner.add(small, "evtx") == []
    assert same(joiner.add(big, "evtx"), [small, big])


def test_a_big_batch_leaves_other_channels_to_be_joined() -> None:
    """One window's big Sysmon batch does not cut the small Security batches apart."""
    rows = 80
    joiner = BatchJoiner(rows=rows)
    sysmon = "Microsoft-Windows-Sysmon/Operational"
    sec1 = windows("a.json", 3, **{"winlog.channel": ["Security"] * 3})
    big = windows("a.json", rows // ALONE_SHARE, **{"winlog.channel": [sysmon] * 10})
    sec2 = windows("a.json", 4, **{"winlog.channel": ["Security"] * 4})
    assert joiner.add(sec1, "evtx_json") == []
    assert same(joiner.add(big, "evtx_json"), [big])
    assert joiner.add(sec2, "evtx_json") == []
    (security,) = joiner.flush()
    assert security.frame.height == 7


def test_held_batches_of_all_channels_stay_under_the_rows() -> None:
    joiner = BatchJoiner(rows=80)
    for n in range(8):
        channel = ["Security" if n % 2 else "System"] * 9
        assert joiner.add(windows(f"{n}.evtx", 9, **{"winlog.channel": channel}), "evtx") == []
    system, security = joiner.add(windows("8.evtx", 9), "evtx")
    assert (system.frame.height, security.frame.height) == (36, 36)
    assert [b.frame.height for b in joiner.flush()] == [9]


def test_batches_whose_columns_cannot_be_joined_run_apart() -> None:
    joiner = BatchJoiner(rows=100)
    listed = windows("a.json", 1, **{"winlog.event_data.Data": [["1", "2"]]})
    text = windows("b.json", 1, **{"winlog.event_data.Data": ["3"]})
    joiner.add(listed, "evtx")
    joiner.add(text, "evtx")
    assert same(joiner.flush(), [listed, text])


def test_a_folder_of_small_files_finds_what_each_file_finds(tmp_path: Path) -> None:
    lure = (
        '{"Event": {"System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",'
        ' "Computer": "WS-07", "EventRecordID": %d, "TimeCreated": {"#attributes":'
        ' {"SystemTime": "2026-11-25T09:00:0%dZ"}}}, "EventData": {"ParentImage":'
        ' "C:\\\\Program Files\\\\Microsoft Office\\\\root\\\\Office16\\\\WINWORD.EXE",'
        ' "Image": "C:\\\\Windows\\\\System32\\\\cmd.exe", "CommandLine": "cmd /c echo %d"}}}\n'
    )
    for n in range(3):
        (tmp_path / f"part{n}.jsonl").write_text(lure % (n + 1, n, n), encoding="utf-8")
    together = run_hunt([tmp_path], HuntOptions())
    apart = [run_hunt([tmp_path / f"part{n}.jsonl"], HuntOptions()) for n in range(3)]
    assert sorted(f.id for f in together.findings) == sorted(
        f.id for result in apart for f in result.findings
    )
    assert {f.log_file_path for f in together.findings} == {
        str(tmp_path / f"part{n}.jsonl") for n in range(3)
    }
