from __future__ import annotations

import polars as pl
import pytest

from sekimori.sources import windows
from sekimori.sources.base import ReadContext, ReadReport
from sekimori.sources.windows import (
    ECS_FROM_EVENT_DATA,
    SIGMA_TO_ECS,
    add_ecs,
    record_from_event_json,
    record_from_flat,
    text,
)


def test_sigma_to_ecs_reads_the_mapping_back() -> None:
    assert SIGMA_TO_ECS["Image"] == "process.executable"
    assert SIGMA_TO_ECS["CommandLine"] == "process.command_line"
    assert SIGMA_TO_ECS["ParentImage"] == "process.parent.executable"
    assert SIGMA_TO_ECS["TargetFilename"] == "file.path"
    assert SIGMA_TO_ECS["TargetObject"] == "registry.path"
    assert SIGMA_TO_ECS["QueryName"] == "dns.question.name"
    assert SIGMA_TO_ECS["DestinationHostname"] == "destination.domain"
    assert SIGMA_TO_ECS["EventID"] == "event.code"
    for ecs, fields in ECS_FROM_EVENT_DATA.items():
        for name in fields:
            assert name in SIGMA_TO_ECS
        assert SIGMA_TO_ECS[fields[0]] == ecs


def test_text_of_values() -> None:
    assert text(None) is None
    assert text(True) == "true"
    assert text(4104) == "4104"
    assert text({"#text": 800, "#attributes": {"Qualifiers": 0}}) == "800"
    assert text(["a", "b"]) == "a\nb"
    assert text({"x": 1}) == '{"x": 1}'


def test_blank_placeholders_do_not_hide_later_fields() -> None:
    frame = pl.DataFrame(
        {
            "winlog.computer_name": ["WS-1"],
            "winlog.record_id": ["7"],
            "winlog.event_data.TargetUserName": ["-"],
            "winlog.event_data.SubjectUserName": ["alice"],
            "winlog.event_data.NewProcessId": ["0x1a4"],
            "winlog.event_data.NewProcessName": ["C:\\Windows\\System32\\cmd.exe"],
        }
    )
    row = add_ecs(frame).row(0, named=True)
    assert row["user.name"] == "alice"
    assert row["process.pid"] == 0x1A4
    assert row["process.name"] == "cmd.exe"
    assert row["host.name"] == "WS-1" and row["event.id"] == "7"


def test_event_json_without_system_is_rejected() -> None:
    try:
        record_from_event_json({"Event": {"EventData": {}}}, "x:1")
    except ValueError as exc:
        assert "System" in str(exc)
    else:
        raise AssertionError("expected NotWindowsEvent")


def test_flat_keeps_sysmon_event_type_but_not_nxlog_severity() -> None:
    info = record_from_flat({"EventID": 1, "EventType": "INFO", "Image": "a.exe"}, "f:1")
    assert "winlog.event_data.EventType" not in info
    assert info["winlog.event_data.Image"] == "a.exe"
    reg = record_from_flat({"EventID": 13, "EventType": "SetValue"}, "f:2")
    assert reg["winlog.event_data.EventType"] == "SetValue"


def test_batcher_splits_by_channel_and_chunks_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records: list[windows.Record] = [
        {
            windows.WHERE: f"f:{i}",
            windows.TIMESTAMP: None if i == 3 else f"2024-01-01T00:00:0{i}Z",
            windows.CODE: "1",
            windows.CHANNEL: "Security" if i % 2 else "System",
            f"{windows.EVENT_DATA}F{i % 3}": f"v{i}",
        }
        for i in range(9)
    ]
    ctx = ReadContext(batch_size=5)

    def read(chunk: int) -> tuple[list[pl.DataFrame], ReadReport]:
        monkeypatch.setattr(windows, "CHUNK_RECORDS", chunk)
        report = ReadReport(path="f", source="evtx_json")
        batcher = windows.WindowsBatcher(ctx, "f", report)
        batches = [b for r in records for b in batcher.add(r)] + list(batcher.flush())
        return [b.frame for b in batches], report

    whole, whole_report = read(1_000)
    chunked, report = read(2)
    # two windows of at most 5 events, each split into its two channels
    assert [f.get_column(windows.CHANNEL).unique().to_list() for f in whole] == [
        ["System"],
        ["Security"],
        ["Security"],
        ["System"],
    ]
    assert sum(f.height for f in whole) == 8  # the event without a time is skipped
    assert [f.columns for f in chunked] == [f.columns for f in whole]
    assert all(c.equals(w) for c, w in zip(chunked, whole, strict=True))
    assert report.skipped == whole_report.skipped == 1


def _odd_events() -> list[dict[str, object]]:
    """evtx JSON events with every kind of value and EventData shape."""
    values: list[object] = [
        "text", "", None, 7, -1, 2**64 - 1, 2**70, 10**40, 1.5, 1e20, True, False,
        [1, "a", None], {"#text": "t"}, {"x": {"y": 1}}, [], {},
    ]  # fmt: skip
    shapes: list[object] = [
        None,
        "loose text",
        {"Data": ["a", {"#text": "b"}, None]},
        {"Data": {"#attributes": {"Name": "N"}, "#text": "v"}},
        {"#attributes": {"x": "1"}, "A": "1"},
        {"@Name": "n", "B": "2"},
        {},
    ]
    events: list[dict[str, object]] = []
    for i in range(900):
        system: dict[str, object] = {
            "Provider": {"#attributes": {"Name": "P"}} if i % 5 else {"@Name": 3},
            "EventID": i % 4 if i % 7 else {"#text": 4104, "#attributes": {"Qualifiers": 0}},
            "TimeCreated": {"#attributes": {"SystemTime": f"2024-01-01T00:00:{i % 60:02d}Z"}},
            "EventRecordID": i if i % 11 else str(i),
            "Channel": ["Security", "System", None][i % 3],
            "Computer": "WS-1",
            "Execution": {"#attributes": {"ProcessID": i, "ThreadID": "0x1" if i % 2 else 2}},
            "Level": values[i % len(values)],
        }
        event: dict[str, object] = {"System": system}
        if i % 13 == 0:
            event["EventData"] = shapes[i // 13 % len(shapes)]
        elif i % 17 == 0:
            event["UserData"] = {"Wrap": {"A": values[i % len(values)], "B": {"C": 1}}}
        else:
            fields = ["Image", "ProcessId", "CommandLine", "Flag"][: 1 + i % 4]
            event["EventData"] = {
                name: values[(i + n) % len(values)] for n, name in enumerate(fields)
            }
        events.append({"Event": event})
    return events


@pytest.mark.parametrize("batch_size", [50_000, 200])
def test_events_taken_whole_give_the_frames_of_their_records(
    monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    monkeypatch.setattr(windows, "CHUNK_RECORDS", 150)
    ctx = ReadContext(batch_size=batch_size)
    events = _odd_events()

    def frames(whole: bool) -> list[pl.DataFrame]:
        report = ReadReport(path="f", source="evtx_json")
        batcher = windows.WindowsBatcher(ctx, "f", report)
        batches = []
        for i, doc in enumerate(events):
            where = f"f:{i}"
            full = (
                batcher.take_event_json(doc, where)
                if whole
                else batcher.take(record_from_event_json(doc, where))
            )
            if full:
                batches += list(batcher.flush())
        return [b.frame for b in [*batches, *batcher.flush()]]

    whole, records = frames(True), frames(False)
    assert len(whole) == len(records) > 1
    for got, expected in zip(whole, records, strict=True):
        assert got.columns == expected.columns
        assert got.equals(expected)


def _events_with(odd: str, other: str) -> list[dict[str, object]]:
    """Events with ``odd`` in values, in EventData names and nested; ``other`` in a second name."""
    events: list[dict[str, object]] = []
    for i in range(300):  # more than a small frame: the columns are made one by one
        data: dict[str, object] = {"Image": "a.exe", "ProcessId": i, "CommandLine": f"c{i}"}
        if i % 50 == 7:
            data["CommandLine"] = f"abc{odd}def"
        if i % 50 == 8:
            data[f"Name{odd}"] = "first"
            data[f"Name{other}"] = "second"
        if i % 50 == 9:
            data["Nested"] = {"#text": [f"x{odd}", "y"]}
        system = {
            "EventID": 1,
            "EventRecordID": i,
            "TimeCreated": {"#attributes": {"SystemTime": f"2024-01-01T00:00:{i % 60:02d}Z"}},
            "Channel": "Security",
        }
        events.append({"Event": {"System": system, "EventData": data}})
    return events


@pytest.mark.parametrize("whole", [True, False])
@pytest.mark.parametrize("batch_size", [50_000, 40])
def test_lone_surrogates_become_replacement_characters(whole: bool, batch_size: int) -> None:
    def frames(events: list[dict[str, object]]) -> list[pl.DataFrame]:
        report = ReadReport(path="f", source="evtx_json")
        batcher = windows.WindowsBatcher(ReadContext(batch_size=batch_size), "f", report)
        batches = []
        for i, doc in enumerate(events):
            where = f"f:{i}"
            if whole:
                full = batcher.take_event_json(doc, where)
            else:
                full = batcher.take(record_from_event_json(doc, where))
            if full:
                batches += list(batcher.flush())
        assert report.skipped == 0
        return [b.frame for b in [*batches, *batcher.flush()]]

    got, expected = (
        frames(_events_with("\ud800", "\udfff")),
        frames(_events_with("\ufffd", "\ufffd")),
    )
    assert sum(f.height for f in got) == 300
    assert len(got) == len(expected)
    for frame, other in zip(got, expected, strict=True):
        assert frame.columns == other.columns
        assert frame.equals(other)
    commands = pl.concat(got, how="diagonal")["process.command_line"].to_list()
    assert commands.count("abc\ufffddef") == 6
