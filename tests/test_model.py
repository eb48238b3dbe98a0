"""The output contract: findings and incidents validate against the shipped schemas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from sekimori.correlate import correlate
from sekimori.model import Finding, Observable, Severity, Stage, iso, parse_iso
from sekimori.schemas import load

T0 = datetime(2026, 11, 24, 0, 14, 3, 123456, tzinfo=UTC)


def finding(**changes: object) -> Finding:
    base: dict[str, object] = {
        "timestamp": T0,
        "host_name": "WS-07.corp.sekimori-demo.example",
        "host_ip": "10.1.10.57",
        "rule_id": "3f0b8b5a-0000-4000-8000-000000000001",
        "rule_name": "Office application spawns a shell",
        "ruleset": "sekimori",
        "severity": Severity.HIGH,
        "tactics": ("execution",),
        "techniques": ("T1204.002", "T1059.001"),
        "user_name": "CORP\\tanaka",
        "observables": (Observable("url", "http://loader.invalid/a"),),
        "evidence": {"ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE"},
        "log_file_path": "/logs/ws-07.json",
        "event_id": "4711",
        "dataset": "windows",
    }
    base.update(changes)
    return Finding(**base)  # type: ignore[arg-type]


def test_finding_validates_against_schema() -> None:
    doc = finding().to_json()
    jsonschema.validate(doc, load("finding"))
    assert doc["host"] == {"name": "WS-07.corp.sekimori-demo.example", "ip": "10.1.10.57"}
    assert doc["rule"]["ruleset"] == "sekimori"
    assert doc["threat"]["technique"]["id"] == ["T1204.002", "T1059.001"]
    assert doc["finding"]["stage"] == "execution"
    assert doc["log"]["file"]["path"] == "/logs/ws-07.json"
    assert doc["event"]["id"] == "4711"
    assert doc["@timestamp"] == "2026-11-24T00:14:03.123456Z"


def test_minimal_finding_validates() -> None:
    f = Finding(
        timestamp=T0,
        host_name="10.1.10.57",
        rule_id="beacon",
        rule_name="Beacon",
        ruleset="network",
        severity=Severity.MEDIUM,
    )
    doc = f.to_json()
    jsonschema.validate(doc, load("finding"))
    assert "log" not in doc and "user" not in doc


def test_finding_round_trips_through_json() -> None:
    original = finding(stage=Stage.DELIVERY, confidence=0.75)
    assert Finding.from_json(original.to_json()) == original


def test_finding_document_keys_keep_their_order() -> None:
    # The hunt's JSON lines are compared byte for byte between runs and
    # versions: the key order is part of the output. Empty observables and
    # evidence come last, as the compacted document always had them.
    full = finding(source_ip="10.0.0.1", destination_ip="192.0.2.1", description="d")
    assert list(full.to_json()) == [
        "@timestamp", "tenant", "host", "source", "destination", "user", "rule", "severity",
        "threat", "finding", "observables", "evidence", "log", "event",
    ]  # fmt: skip
    assert list(finding(observables=(), evidence={}).to_json())[-4:] == [
        "log", "event", "observables", "evidence",
    ]  # fmt: skip
    assert list(finding(observables=()).to_json())[-4:] == [
        "evidence", "log", "event", "observables",
    ]  # fmt: skip
    assert list(finding(evidence={}, log_file_path=None, event_id=None, dataset=None).to_json())[
        -3:
    ] == ["finding", "observables", "evidence"]
    assert full.to_json()["rule"] == {
        "id": "3f0b8b5a-0000-4000-8000-000000000001",
        "name": "Office application spawns a shell",
        "ruleset": "sekimori",
        "description": "d",
    }


def test_iso_of_any_aware_or_naive_time() -> None:
    from zoneinfo import ZoneInfo

    assert iso(T0.replace(tzinfo=ZoneInfo("UTC"))) == "2026-11-24T00:14:03.123456Z"
    assert iso(T0.replace(tzinfo=None, microsecond=0)) == "2026-11-24T00:14:03Z"
    tokyo = T0.astimezone(ZoneInfo("Asia/Tokyo"))
    assert iso(tokyo) == "2026-11-24T00:14:03.123456Z"


def test_finding_id_is_stable_and_distinguishes_events() -> None:
    assert finding().id == finding().id
    assert finding().id != finding(event_id="4712").id


def test_hostile_strings_stay_data() -> None:
    hostile = "<script>alert(1)</script>\u202e\x00"
    doc = finding(evidence={"CommandLine": hostile}, host_name=hostile).to_json()
    jsonschema.validate(doc, load("finding"))
    assert doc["evidence"]["CommandLine"] == hostile


def test_schema_rejects_a_broken_finding() -> None:
    doc = finding().to_json()
    doc["severity"] = "severe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load("finding"))


def test_incident_validates_against_schema() -> None:
    later = finding(
        timestamp=T0 + timedelta(minutes=5),
        rule_id="c2",
        rule_name="C&C contact",
        tactics=("command-and-control",),
        techniques=("T1071.001",),
        event_id="Cx1",
    )
    incident = correlate([finding(), later]).incidents[0]
    doc = incident.to_json()
    jsonschema.validate(doc, load("incident"))
    assert doc["finding_count"] == 2
    assert doc["first_seen"] == iso(T0)
    assert parse_iso(doc["last_seen"]) == T0 + timedelta(minutes=5)
    assert doc["kill_chain"]["stages"] == ["execution", "command_and_control"]


def test_severity_parse_accepts_sigma_levels() -> None:
    assert Severity.parse("critical") is Severity.CRITICAL
    assert Severity.parse("info") is Severity.INFORMATIONAL
    assert Severity.parse(None) is Severity.INFORMATIONAL
    assert Severity.HIGH.rank > Severity.MEDIUM.rank


def test_findings_pickle_as_they_were() -> None:
    # Findings cross from the Sigma worker pickled, id and all.
    import pickle
    from zoneinfo import ZoneInfo

    originals = [
        finding(stage=Stage.DELIVERY, confidence=0.5, description="d", source_ip="10.0.0.1"),
        finding(timestamp=T0.astimezone(ZoneInfo("Asia/Tokyo")), evidence={"when": T0}),
        finding(observables=(), evidence={}),
    ]
    back = pickle.loads(pickle.dumps(originals, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == originals
    assert [f.id for f in back] == [f.id for f in originals]
    assert [f.to_json() for f in back] == [f.to_json() for f in originals]
    assert back[1].timestamp.tzinfo is originals[1].timestamp.tzinfo
    assert all(type(o) is Observable for f in back for o in f.observables)


def test_shown_path_writes_non_utf8_bytes_as_escapes_and_path_of_shown_undoes_it(
    tmp_path: Path,
) -> None:
    import os

    from sekimori.model import path_of_shown, shown_path

    raw = os.fsencode(tmp_path) + b"/ev\xff\xe9.jsonl"
    real = os.fsdecode(raw)  # what os.listdir gives: lone surrogates for the bytes
    shown = shown_path(real)
    assert shown.endswith("/ev\\xff\\xe9.jsonl")
    shown.encode("utf-8")  # Arrow, JSON and the store take it
    assert shown_path("/logs/請求書.json") == "/logs/請求書.json"
    assert shown_path("a\ud800b") == "a\\ud800b"  # no file system byte gives this one
    assert path_of_shown(shown) == real
    # A name that really holds "\x" is itself when the file exists.
    literal = tmp_path / "a\\xff.txt"
    literal.write_text("x")
    assert path_of_shown(str(literal)) == str(literal)
