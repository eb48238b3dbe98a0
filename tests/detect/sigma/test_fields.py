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
