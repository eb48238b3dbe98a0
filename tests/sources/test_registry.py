"""The registry and the per-file reading contract of ``sekimori.sources``."""

from __future__ import annotations

import inspect
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekimori.errors import SourceError
from sekimori.sources import SOURCES, ReadContext, ReadReport, iter_files, read_file, sniff

TESTS = Path(__file__).resolve().parent


def test_every_source_is_documented_and_tested() -> None:
    assert {"evtx", "zeek", "evtx_json", "winlogbeat", "suricata", "eml"} <= set(SOURCES)
    for name, source_type in SOURCES.items():
        assert source_type.name == name
        assert inspect.getdoc(source_type), name
        assert inspect.getdoc(source_type.sniff) and inspect.getdoc(source_type.read)
        module = source_type.__module__.rsplit(".", 1)[-1]
        assert (TESTS / f"test_{module}.py").exists(), module


def test_one_report_per_file_and_bad_files_do_not_stop_the_run(tmp_path: Path, data: Path) -> None:
    shutil.copy(data / "zeek" / "conn.log", tmp_path / "conn.log")
    shutil.copy(data / "suricata" / "eve.json", tmp_path / "eve.json")
    shutil.copy(data / "eml" / "iso2022jp_invoice.eml", tmp_path / "mail.eml")
    (tmp_path / "garbage.bin").write_bytes(b"\x00\x01\x02 not a log")
    (tmp_path / "broken.evtx").write_bytes(b"ElfFile\x00" + b"\xff" * 64)
    (tmp_path / "bad.zip").write_bytes(
        b"PK\x03\x04" + b'{"EventID": 1, "Channel": "x"}' + b"\x00" * 10
    )
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / ".hidden").write_bytes(b"#separator \\x09\n")
    files = list(iter_files([tmp_path]))
    assert [f.name for f in files] == [
        "bad.zip",
        "broken.evtx",
        "conn.log",
        "empty.log",
        "eve.json",
        "garbage.bin",
        "mail.eml",
    ]
    reports = {}
    events = {}
    for path in files:
        seen = set()
        for item in read_file(path, ReadContext()):
            seen.add(id(item.report))
            events[path.name] = events.get(path.name, 0) + len(item.batch)
            reports[path.name] = item.report
        assert len(seen) == 1, path
    assert events["conn.log"] == 3 and reports["conn.log"].skipped == 1
    assert events["eve.json"] == 6
    assert events["mail.eml"] == 1
    assert reports["garbage.bin"].error == "not a recognized log, event or mail format"
    assert reports["empty.log"].error is None and events["empty.log"] == 0
    assert reports["empty.log"].source == "empty"
    for name in ("broken.evtx", "bad.zip"):
        report = reports[name]
        assert events[name] == 0
        assert report.error is not None or report.skipped, name
        if report.error:
            assert "\n" not in report.error and "Traceback" not in report.error


def test_sniff_order_prefers_content(tmp_path: Path, data: Path) -> None:
    mislabeled = tmp_path / "looks_like.eml"
    shutil.copy(data / "zeek" / "conn.log", mislabeled)
    source = sniff(mislabeled)
    assert source is not None and source.name == "zeek"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SOURCES)),
    prefix=st.sampled_from(
        [
            b"",
            b"ElfFile\x00",
            b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 8 + b"\xff\xff\x00\x00\x01\x00\x00\x00",
            b'{"Event": {"System": {"EventID": 1}}}\n',
            b'{"winlog": {"event_id": 1}}\n',
            b'{"timestamp": "2024-01-01T00:00:00Z", "event_type": "alert"}\n',
            b"From: a@example.com\nTo: b@example.com\nSubject: x\n\n",
            b"From a@example.com Mon May 13 09:01:40 2024\n",
        ]
    ),
    body=st.binary(max_size=400),
)
def test_sources_raise_only_source_errors(name: str, prefix: bytes, body: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input"
        path.write_bytes(prefix + body)
        report = ReadReport(path=str(path), source=name)
        try:
            for batch in SOURCES[name]().read(path, ReadContext(batch_size=5), report):
                assert batch.frame.height <= 5
        except SourceError as exc:
            assert "\n" not in str(exc)


def test_each_sample_is_claimed_by_exactly_its_source(data: Path) -> None:
    from sekimori.sources import read_head

    expected = {
        "zeek": "zeek",
        "suricata": "suricata",
        "evtx_json": "evtx_json",
        "winlogbeat": "winlogbeat",
        "eml": "eml",
    }
    for folder, name in expected.items():
        for path in sorted((data / folder).iterdir()):
            head = read_head(path)
            claimed = [n for n, t in SOURCES.items() if t().sniff(head, path.name)]
            assert claimed[:1] == [name], (path.name, claimed)
            others = [n for n in claimed if n != name]
            assert not others, (path.name, others)


def test_archive_with_nothing_readable_is_not_called_empty(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "folders.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a/", b"")
    [item] = list(read_file(path, ReadContext()))
    assert item.report.source == "?" and item.report.error is not None
