from __future__ import annotations

from sekimori.mail.context import ScanContext
from sekimori.mail.rtf import analyze_rtf
from tests.conftest import shared_path


def package_rtf() -> bytes:
    # OLE1 Package object: class "Package", native data = Ole10Native with a .bat file.
    payload = b"@echo off\r\necho detector-test\r\n"
    native = (
        b"\x02\x00"
        + b"run.bat\x00"
        + b"C:\\tmp\\run.bat\x00"
        + b"\x00\x00\x03\x00"
        + (len(b"C:\\tmp\\run.bat\x00")).to_bytes(4, "little")
        + b"C:\\tmp\\run.bat\x00"
        + len(payload).to_bytes(4, "little")
        + payload
    )
    native = len(native).to_bytes(4, "little") + native
    ole1 = (
        b"\x01\x05\x00\x00\x02\x00\x00\x00"
        + (8).to_bytes(4, "little")
        + b"Package\x00"
        + b"\x00" * 8
        + len(native).to_bytes(4, "little")
        + native
    )
    return b"{\\rtf1{\\object\\objemb{\\*\\objdata " + ole1.hex().encode() + b"}}}"


def test_embedded_objects_in_oletools_samples() -> None:
    data = shared_path("office", "oletools-test-data", "rtfobj", "issue_251.rtf").read_bytes()
    result = analyze_rtf(data, "x.rtf", ScanContext())
    assert "office.rtf_object" in {h.id for h in result.hits}


def test_package_with_script_is_an_exploit_carrier() -> None:
    result = analyze_rtf(package_rtf(), "x.rtf", ScanContext())
    assert {"office.rtf_object", "office.rtf_exploit"} <= {h.id for h in result.hits}
    assert result.children and b"detector-test" in result.children[0].data


def test_plain_rtf_is_clean() -> None:
    data = shared_path("office", "oletools-test-data", "msodde", "RTF-Spec-1.7.rtf").read_bytes()
    assert analyze_rtf(data, "spec.rtf", ScanContext()).hits == []
