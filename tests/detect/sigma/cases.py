"""Data-driven engine cases: a rule (or several), events, and the expected matches.

Event keys without a dot are Sigma (EventData) field names and become
``winlog.event_data.<key>``; dotted keys are batch columns as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from sekimori.model import EventBatch

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def event_row(
    index: int, fields: dict[str, Any], defaults: dict[str, Any], path: str
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "@timestamp": BASE_TIME + timedelta(seconds=index),
        "tenant": "default",
        "host.name": "ws01",
        "event.id": str(index),
        "event.dataset": "windows",
        "log.file.path": path,
    }
    for key, value in {**defaults, **fields}.items():
        if key == "@timestamp":
            row[key] = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        elif "." in key:
            row[key] = None if value is None else str(value)
        else:
            row[f"winlog.event_data.{key}"] = None if value is None else str(value)
    if "winlog.computer_name" in row:
        row["host.name"] = row["winlog.computer_name"]
    return row


def batch_of(rows: list[dict[str, Any]], path: str = "case") -> EventBatch:
    columns = sorted({k for r in rows for k in r})
    schema = {c: (pl.Datetime("us", "UTC") if c == "@timestamp" else pl.String) for c in columns}
    frame = pl.DataFrame({c: [r.get(c) for r in rows] for c in columns}, schema=schema)
    return EventBatch(dataset="windows", frame=frame, path=path)


def load_case(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return case


def write_rules(case: dict[str, Any], folder: Path) -> None:
    rules = case.get("rules") or [case["rule"]]
    for i, rule in enumerate(rules):
        (folder / f"rule_{i}.yml").write_text(
            yaml.safe_dump(rule, sort_keys=False), encoding="utf-8"
        )


def case_batch(case: dict[str, Any], name: str) -> EventBatch:
    defaults = case.get("defaults") or {}
    rows = [event_row(i, e, defaults, name) for i, e in enumerate(case["events"])]
    return batch_of(rows, name)
