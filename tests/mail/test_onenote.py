from __future__ import annotations

import struct

from sekimori.mail.context import ScanContext
from sekimori.mail.filetype import ONENOTE_MAGIC
from sekimori.mail.onenote import FILE_DATA_GUID, analyze_onenote
from tests.conftest import shared_path


def embed(content: bytes) -> bytes:
    return FILE_DATA_GUID + struct.pack("<Q", len(content)) + b"\0" * 12 + content + b"\0" * 16


def test_fixture_embedded_files_extracted() -> None:
    data = shared_path("office", "strelka-fixtures", "test.one").read_bytes()
    result = analyze_onenote(data, "t.one", ScanContext())
    assert result.facts["embedded"] == ["zip", "image"]
    assert [h.id for h in result.hits] == ["onenote.document"]
    assert result.children[0].data.startswith(b"PK")


def test_embedded_script_is_flagged() -> None:
    hta = b'<html><hta:application id="x"><script>new ActiveXObject("WScript.Shell")</script>'
    data = ONENOTE_MAGIC + b"\0" * 64 + embed(hta) + embed(b"MZ\x90\x00")
    result = analyze_onenote(data, "x.one", ScanContext())
    assert result.facts["embedded"] == ["script", "executable"]
    assert "onenote.embedded_file" in {h.id for h in result.hits}
