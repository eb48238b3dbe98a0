"""Sigma field names → batch columns: raw first, loose names, ECS fallback, special fields."""

from __future__ import annotations

import polars as pl

from sekimori.detect.sigma.fields import FieldResolver, candidates


def _resolve(frame: pl.DataFrame, field: str, fieldmap: dict[str, str] | None = None) -> list:
    resolver = FieldResolver(frame.schema)
    return frame.select(resolver.expr(field, fieldmap or {})).to_series().to_list()


def test_raw_event_data_wins_over_ecs() -> None:
    frame = pl.DataFrame(
        {"winlog.event_data.User": ["CORP\\a", None], "user.name": ["x", "SYSTEM"]}
    )
    assert _resolve(frame, "User") == ["CORP\\a", None]


def test_ecs_only_input_falls_back() -> None:
    frame = pl.DataFrame({"process.executable": ["C:\\a.exe"], "process.pid": [42]})
    assert _resolve(frame, "Image") == ["C:\\a.exe"]
    assert _resolve(frame, "ProcessId") == ["42"]


def test_an_ecs_column_made_from_other_raw_fields_is_not_the_field() -> None:
    # A Security 4688 batch: no LogonId in its events, the reader filled
    # winlog.logon.id from SubjectLogonId.
    frame = pl.DataFrame(
        {
            "winlog.event_data.SubjectLogonId": ["0x3e7"],
            "winlog.event_data.SubjectUserName": ["WS$"],
            "winlog.logon.id": ["0x3e7"],
            "user.name": ["WS$"],
        }
    )
    assert _resolve(frame, "LogonId") == [None]
    assert _resolve(frame, "User") == [None]
    assert _resolve(frame, "winlog.logon.id") == ["0x3e7"]
    assert _resolve(frame.drop("winlog.event_data.SubjectLogonId"), "LogonId") == ["0x3e7"]


def test_loose_names_and_missing_fields() -> None:
    frame = pl.DataFrame({"winlog.event_data.Threat Name": ["EICAR"]})
    assert _resolve(frame, "ThreatName") == ["EICAR"]
    assert _resolve(frame, "Nope") == [None]


def test_special_fields_and_fieldmap() -> None:
    assert candidates("EventID", {}) == ("event.code",)
    assert candidates("Image", {"Image": "NewProcessName"})[0] == "winlog.event_data.NewProcessName"
    frame = pl.DataFrame({"winlog.user_data.Operation": ["op"]})
    assert _resolve(frame, "Operation") == ["op"]


def test_odd_column_types_become_text() -> None:
    frame = pl.DataFrame(
        {
            "winlog.event_data.Tags": [["a", "b"]],
            "winlog.event_data.Obj": [{"k": 1}],
            "winlog.event_data.Flag": [True],
        }
    )
    assert _resolve(frame, "Tags") == ["a\nb"]
    assert _resolve(frame, "Obj") == ['{"k":1}']
    assert _resolve(frame, "Flag") == ["true"]
