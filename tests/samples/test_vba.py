from __future__ import annotations

import base64
import io
import random

import olefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oletools.mraptor import MacroRaptor
from oletools.olevba import VBA_Parser, decompress_stream

from sekimori.samples import SampleError
from sekimori.samples.office import vba_project_bin
from sekimori.samples.vba import (
    build_vba_project,
    compress,
    decompress,
    encoded_powershell,
    inert_dropper_source,
    inert_powershell,
    module_text,
    obfuscated_dropper_source,
)


def _bin(modules: dict[str, str], codepage: int | None = None) -> bytes:
    return vba_project_bin(modules, codepage=codepage)


def _extract(data: bytes) -> dict[str, str]:
    parser = VBA_Parser("vbaProject.bin", data=data)
    assert parser.detect_vba_macros()
    return {vba_name.rsplit(".", 1)[0]: code for _, _, vba_name, code in parser.extract_macros()}


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"a",
        b"abc" * 5000,
        bytes(random.Random(7).randrange(256) for _ in range(9000)),
        "\n".join(f"' line {i}" for i in range(3000)).encode(),
    ],
    ids=["empty", "one", "repetitive", "random", "text"],
)
def test_compression_round_trip_with_olevba(data: bytes) -> None:
    container = compress(data)
    assert decompress(container) == data
    assert bytes(decompress_stream(bytearray(container))) == data


def test_compression_uses_copy_tokens() -> None:
    text = ("Dim x As String\r\n" * 500).encode()
    assert len(compress(text)) < len(text) // 10


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=10000))
def test_compression_round_trip_any(data: bytes) -> None:
    assert decompress(compress(data)) == data


def test_decompress_rejects_garbage() -> None:
    with pytest.raises(SampleError):
        decompress(b"\x02abc")
    with pytest.raises(SampleError):
        decompress(b"\x01\x00\x00")


def test_olevba_extracts_exact_source() -> None:
    long_source = "\n".join(f'    s = s & "http://host{i}.invalid/"' for i in range(800))
    modules = {
        "ThisDocument": inert_dropper_source("Document_Open"),
        "Module1": "Sub Helper()\n    Dim s As String\n" + long_source + "\nEnd Sub\n",
    }
    extracted = _extract(_bin(modules))
    assert extracted == {name: module_text(name, source) for name, source in modules.items()}
    assert len(extracted["Module1"]) > 20000


def test_structure_of_project() -> None:
    data = _bin({"ThisDocument": "", "Module1": "Sub X()\nEnd Sub"})
    ole = olefile.OleFileIO(io.BytesIO(data))
    names = {"/".join(path) for path in ole.listdir()}
    assert names == {
        "PROJECT",
        "PROJECTwm",
        "VBA/dir",
        "VBA/_VBA_PROJECT",
        "VBA/ThisDocument",
        "VBA/Module1",
    }
    assert ole.openstream("VBA/_VBA_PROJECT").read() == b"\xcc\x61\xff\xff\x00\x00\x00"
    project = ole.openstream("PROJECT").read().decode("cp1252")
    assert "Document=ThisDocument/&H00000000\r\n" in project
    assert "Module=Module1\r\n" in project
    assert 'DPB="' in project
    assert ole.openstream("PROJECTwm").read().startswith(b"ThisDocument\x00T\x00h\x00")
    dir_data = decompress(ole.openstream("VBA/dir").read())
    assert dir_data.startswith(b"\x01\x00\x04\x00\x00\x00\x01\x00\x00\x00")  # PROJECTSYSKIND


@pytest.mark.parametrize(
    ("trigger", "flags"),
    [("AutoOpen", "A-X"), ("Document_Open", "A-X"), ("Workbook_Open", "A-X")],
)
def test_olevba_and_mraptor_flag_the_dropper(trigger: str, flags: str) -> None:
    module = "ThisWorkbook" if trigger == "Workbook_Open" else "ThisDocument"
    parser = VBA_Parser("vbaProject.bin", data=_bin({module: inert_dropper_source(trigger)}))
    found = {(kind, keyword) for kind, keyword, _ in parser.analyze_macros()}
    assert ("AutoExec", trigger) in found
    for keyword in ("Shell", "CreateObject", "WScript.Shell", "powershell"):
        assert ("Suspicious", keyword) in found
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    assert raptor.suspicious
    assert raptor.get_flags() == flags


def test_clean_macro_is_not_suspicious_for_mraptor() -> None:
    parser = VBA_Parser(
        "vbaProject.bin", data=_bin({"Module1": "Function Add(a, b)\nAdd = a + b\nEnd Function"})
    )
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    assert not raptor.suspicious


def test_japanese_code_page() -> None:
    source = 'Sub AutoOpen()\n    MsgBox "請求書を確認してください"\nEnd Sub\n'
    extracted = _extract(_bin({"Module1": source}, codepage=932))
    assert extracted["Module1"] == module_text("Module1", source)


def test_code_page_is_chosen_from_the_sources() -> None:
    source = 'Sub AutoOpen()\n    MsgBox "請求書"\nEnd Sub\n'
    extracted = _extract(_bin({"Module1": source}))
    assert extracted["Module1"] == module_text("Module1", source)
    project = olefile.OleFileIO(io.BytesIO(_bin({"Module1": source})))
    # PROJECTCODEPAGE record: id 3, size 2, 932 (0x03A4).
    assert b"\x03\x00\x02\x00\x00\x00\xa4\x03" in decompress(project.openstream("VBA/dir").read())


def test_text_outside_code_page_is_refused() -> None:
    with pytest.raises(SampleError):
        build_vba_project({"Module1": 'MsgBox "請求書"'}, codepage=1252)


@pytest.mark.parametrize("modules", [{}, {"bad name": ""}, {"1x": ""}])
def test_bad_modules(modules: dict[str, str]) -> None:
    with pytest.raises(SampleError):
        build_vba_project(modules)


def test_encoded_command_is_inert() -> None:
    script = base64.b64decode(encoded_powershell(inert_powershell())).decode("utf-16-le")
    assert script.endswith("Write-Output 'detector-test'")
    assert "-enc" in inert_dropper_source()
    for url in ("http://203.0.113.10/", ".invalid/"):
        assert url in script


def test_obfuscated_dropper_decodes_with_olevba() -> None:
    source = obfuscated_dropper_source("Document_Open")
    assert "powershell" not in source
    assert encoded_powershell(inert_powershell()) not in source  # split in pieces
    parser = VBA_Parser("vbaProject.bin", data=_bin({"ThisDocument": source}))
    found = {
        (kind, keyword)
        for kind, keyword, _ in parser.analyze_macros(show_decoded_strings=True, deobfuscate=True)
    }
    assert ("AutoExec", "Document_Open") in found
    for keyword in ("StrReverse", "Chr", "GetObject", "VBA obfuscated Strings"):
        assert ("Suspicious", keyword) in found
    assert ("VBA string", "powershell") in found
    assert ("VBA string", "winmgmts:Win32_Process") in found
    assert ("VBA string", encoded_powershell(inert_powershell())) in found
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    assert raptor.get_flags() == "A-X"
