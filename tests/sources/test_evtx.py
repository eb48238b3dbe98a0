from __future__ import annotations

import gzip
import random
import shutil
from pathlib import Path

from sekimori.sources import sniff
from tests.conftest import shared_path
from tests.sources.conftest import read_all


def _emotet(name: str) -> Path:
    return shared_path("evtx", "EVTX-ATTACK-SAMPLES", "Other", "emotet", name)


def test_sysmon_process_creation() -> None:
    report, frame, datasets = read_all(_emotet("exec_emotet_sysmon_1.evtx"))
    assert report.source == "evtx" and report.error is None and datasets == ["windows"]
    row = frame.row(0, named=True)
    assert row["event.code"] == "1"
    assert row["winlog.channel"] == "Microsoft-Windows-Sysmon/Operational"
    assert row["winlog.provider_name"] == "Microsoft-Windows-Sysmon"
    assert row["winlog.record_id"] == "225" and row["event.id"] == "225"
    assert row["host.name"] == "DESKTOP-RIPCLIP" == row["winlog.computer_name"]
    assert row["winlog.event_data.ParentImage"].endswith("powershell.exe")
    assert row["process.parent.executable"] == row["winlog.event_data.ParentImage"]
    assert row["process.executable"].endswith("Dyxxur4gx.exe")
    assert row["process.name"] == "Dyxxur4gx.exe"
    assert row["process.pid"] == 7448
    assert row["winlog.event_data.ProcessId"] == "7448"  # raw values stay text
    assert row["hash.sha1"] == "ed13af4a0a754b8daee4929134d2ff15ebe053cd"
    assert row["user.name"] == "DESKTOP-RIPCLIP\\Clippy"
    assert row["@timestamp"].isoformat() == "2020-08-26T05:09:33.504647+00:00"


def test_classic_powershell_unnamed_data() -> None:
    _, frame, _ = read_all(_emotet("exec_emotet_ps_800_get-item.evtx"))
    row = frame.row(0, named=True)
    assert row["event.code"] == "800"  # EventID with Qualifiers attribute
    assert "HostApplication=" in row["winlog.event_data.Data"]
    assert row["winlog.event_data.param1"].startswith("$Va5w3n8")


def test_sniffed_without_extension(tmp_path: Path) -> None:
    bare = tmp_path / "security_log"
    shutil.copy(_emotet("exec_emotet_ps_4104.evtx"), bare)
    source = sniff(bare)
    assert source is not None and source.name == "evtx"
    _, frame, _ = read_all(bare)
    assert frame["event.code"].to_list() == ["4104"]
    assert "powershell.file.script_block_text" in frame.columns


def test_gzip_evtx(tmp_path: Path) -> None:
    packed = tmp_path / "sysmon.evtx.gz"
    packed.write_bytes(gzip.compress(_emotet("exec_emotet_sysmon_1.evtx").read_bytes()))
    report, frame, _ = read_all(packed)
    assert report.source == "evtx" and frame.height == 1


def test_corrupt_chunk_is_counted(tmp_path: Path) -> None:
    data = bytearray(_emotet("exec_emotet_ps_4104.evtx").read_bytes())
    rng = random.Random(1)
    for i in range(0x1300, 0x1600):
        data[i] = rng.randrange(256)
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))
    report, frame, _ = read_all(broken)
    assert report.error is None and frame.height == 0
    assert report.skipped == 1
    assert "broken.evtx:records 1-1" in report.problems[0]


def test_truncated_file_is_counted(tmp_path: Path) -> None:
    data = _emotet("exec_emotet_ps_4104.evtx").read_bytes()
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(data[: 0x1000 + 0x800])
    report, _, _ = read_all(cut)
    assert report.error is None and report.skipped >= 1
    assert any("truncated" in p for p in report.problems)


def test_not_evtx_after_magic(tmp_path: Path) -> None:
    fake = tmp_path / "fake.evtx"
    fake.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    report, frame, _ = read_all(fake)
    assert frame.height == 0
    assert report.error is not None or report.skipped >= 1


def test_attack_samples_folder() -> None:
    folder = shared_path("evtx", "EVTX-ATTACK-SAMPLES", "Lateral Movement")
    files = sorted(folder.glob("*.evtx"))[:10]
    assert files
    for path in files:
        report, frame, _ = read_all(path)
        assert report.error is None, (path, report.error)
        assert frame.height == report.events


def test_evtx_inside_a_zip(tmp_path: Path) -> None:
    import zipfile

    packed = tmp_path / "logs.zip"
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(_emotet("exec_emotet_sysmon_1.evtx"), "sysmon.evtx")
        archive.write(_emotet("exec_emotet_ps_4104.evtx"), "ps.evtx")
        archive.writestr("notes.txt", "not an event log")
    report, frame, _ = read_all(packed)
    assert report.source == "evtx" and frame.height == 2
    assert sorted(frame["event.code"].to_list()) == ["1", "4104"]
    assert report.skipped == 1 and "notes.txt: not an EVTX file" in report.problems[0]
