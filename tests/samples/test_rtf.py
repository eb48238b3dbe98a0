from __future__ import annotations

import pytest
from oletools import rtfobj

from sekimori.samples import SampleError
from sekimori.samples.rtf import build_rtf

PAYLOAD = b'WScript.Echo("detector-test");'


def test_rtfobj_finds_the_package() -> None:
    data = build_rtf("請求書をご確認ください", ("invoice.js", PAYLOAD))
    parser = rtfobj.RtfObjParser(data)
    parser.parse()
    (obj,) = parser.objects
    assert obj.is_ole
    assert obj.class_name == b"Package"
    assert obj.is_package
    assert obj.filename == "invoice.js"
    assert obj.temp_path.endswith("\\Temp\\invoice.js")
    assert obj.olepkgdata == PAYLOAD


def test_plain_rtf_has_no_object_and_escapes_text() -> None:
    data = build_rtf("a {b} \\ c\n請")
    assert data.startswith(b"{\\rtf1")
    assert b"a \\{b\\} \\\\ c\\par" in data
    assert b"\\u-30005?" in data  # U+8ACB as a signed 16-bit value
    parser = rtfobj.RtfObjParser(data)
    parser.parse()
    assert parser.objects == []


@pytest.mark.parametrize("name", ["", "C:\\x.exe", "a/b", "請求.js"])
def test_bad_names(name: str) -> None:
    with pytest.raises(SampleError):
        build_rtf("x", (name, b""))
