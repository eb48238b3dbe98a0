"""A small private EVTX reader for the Sigma tests: events flattened to the batch columns.

It follows the column layout of ``sekimori.sources`` (``winlog.event_data.<Field>`` raw
text, ``winlog.user_data.<Field>``, ``event.code``, ``winlog.channel`` …) so that the engine
tests do not depend on the source readers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from evtx import PyEvtxParser

from sekimori.model import EventBatch


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict) and "#text" in value:
        return _text(value["#text"])
    if isinstance(value, list):
        return "\n".join(t for t in (_text(v) for v in value) if t is not None)
    return json.dumps(value)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        attrs = node.get("#attributes")
        if isinstance(attrs, dict) and name in attrs:
            return attrs[name]
        return node.get(name)
    return None


def flatten_event(doc: dict[str, Any], path: str, record_id: int | None = None) -> dict[str, Any]:
    event = doc.get("Event", doc)
    system = event.get("System", {})
    row: dict[str, Any] = {}
    when = _attr(system.get("TimeCreated"), "SystemTime")
    row["@timestamp"] = (
        datetime.fromisoformat(str(when).replace("Z", "+00:00")).astimezone(UTC)
        if when
        else datetime.fromtimestamp(0, UTC)
    )
    computer = _text(system.get("Computer"))
    rid = system.get("EventRecordID", record_id)
    row.update(
        {
            "tenant": "default",
            "host.name": computer,
            "event.id": _text(rid),
            "event.dataset": "windows",
            "log.file.path": path,
            "event.code": _text(system.get("EventID")),
            "winlog.channel": _text(system.get("Channel")),
            "winlog.provider_name": _text(_attr(system.get("Provider"), "Name")),
            "winlog.computer_name": computer,
            "winlog.record_id": _text(rid),
        }
    )
    data = event.get("EventData")
    if isinstance(data, dict):
        unnamed: list[str] = []
        for key, value in data.items():
            if key.startswith("#"):
                continue
            if key == "Data":
                items = value.get("#text") if isinstance(value, dict) else value
                for item in items if isinstance(items, list) else [items]:
                    unnamed.append(_text(item) or "")
            else:
                row[f"winlog.event_data.{key}"] = _text(value)
        if unnamed:
            row["winlog.event_data.Data"] = "\n".join(unnamed)
            for i, item in enumerate(unnamed, start=1):
                row[f"winlog.event_data.param{i}"] = item
    user = event.get("UserData")
    if isinstance(user, dict):
        for inner in user.values():
            if isinstance(inner, dict):
                for key, value in inner.items():
                    if not key.startswith("#"):
                        row[f"winlog.user_data.{key}"] = _text(value)
    return row


def frame_of(rows: list[dict[str, Any]]) -> pl.DataFrame:
    columns = sorted({k for r in rows for k in r})
    data = {c: [r.get(c) for r in rows] for c in columns}
    schema = {c: (pl.Datetime("us", "UTC") if c == "@timestamp" else pl.String) for c in columns}
    return pl.DataFrame(data, schema=schema)


def read_evtx(path: Path) -> EventBatch:
    rows = []
    for record in PyEvtxParser(str(path)).records_json():
        rows.append(flatten_event(json.loads(record["data"]), str(path), record["event_record_id"]))
    return EventBatch(dataset="windows", frame=frame_of(rows), path=str(path))
