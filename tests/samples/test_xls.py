from __future__ import annotations

import io
import struct

import olefile
import pytest
from oletools.mraptor import MacroRaptor
from oletools.olevba import VBA_Parser

from sekimori.samples import SampleError
from sekimori.samples.xls import (
    build_xls,
    build_xls_with_macros,
    build_xls_with_xlm,
    compile_formula,
)


def _records(data: bytes) -> list[tuple[int, bytes]]:
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    stream = ole.openstream("Workbook").read()
    out, position = [], 0
    while position < len(stream):
        opcode, length = struct.unpack_from("<HH", stream, position)
        out.append((opcode, stream[position + 4 : position + 4 + length]))
        position += 4 + length
    assert position == len(stream)
    return out


def test_xlm_macro_sheet_is_seen_by_olevba() -> None:
    data = build_xls_with_xlm()
    parser = VBA_Parser("invoice.xls", data=data)
    assert not parser.detect_vba_macros()
    assert parser.detect_xlm_macros()
    report = "\n".join(parser.xlm_macros)
    assert "Excel 4.0 macro sheet, hidden" in report
    assert "built-in-name 1 Auto_Open hidden" in report
    assert 'EXEC("cmd.exe /c echo detector-test")' in report
    assert "HALT()" in report


def test_boundsheet_offsets_point_at_bofs() -> None:
    data = build_xls_with_xlm()
    ole = olefile.OleFileIO(io.BytesIO(data))
    stream = ole.openstream("Workbook").read()
    sheets = [payload for opcode, payload in _records(data) if opcode == 0x0085]
    kinds = []
    for payload in sheets:
        offset, state, kind = struct.unpack_from("<IBB", payload)
        assert struct.unpack_from("<HHHH", stream, offset)[0] == 0x0809  # a BOF record
        sheet_type = struct.unpack_from("<H", stream, offset + 6)[0]
        kinds.append((state, kind, sheet_type))
    assert kinds == [(0, 0, 0x0010), (1, 1, 0x0040)]


def test_xls_with_vba() -> None:
    data = build_xls_with_macros()
    ole = olefile.OleFileIO(io.BytesIO(data))
    assert ole.exists("_VBA_PROJECT_CUR/VBA/dir")
    parser = VBA_Parser("invoice.xls", data=data)
    assert parser.detect_vba_macros()
    found = {(kind, keyword) for kind, keyword, _ in parser.analyze_macros()}
    assert ("AutoExec", "Workbook_Open") in found
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    assert raptor.get_flags() == "A-X"


def test_clean_xls() -> None:
    data = build_xls([["品名", 3], ["紙", 2.5]])
    parser = VBA_Parser("clean.xls", data=data)
    assert not parser.detect_vba_macros()
    assert not parser.detect_xlm_macros()
    labels = [payload for opcode, payload in _records(data) if opcode == 0x0204]
    assert labels[0][6:] == struct.pack("<HB", 2, 1) + "品名".encode("utf-16-le")


def test_compile_formula() -> None:
    assert compile_formula("=HALT()") == bytes([0x42, 0, 0x36, 0])
    assert compile_formula('EXEC("a""b")') == b'\x17\x03\x00a"b' + bytes([0x42, 1, 0x6E, 0])
    nested = compile_formula('FORMULA(CHAR(65),"x")')
    assert nested == (
        b"\x1e\x41\x00"
        + bytes([0x42, 1, 0x6F, 0])
        + b"\x17\x01\x00x"
        + bytes([0x42, 2, 0x60, 0x80])
    )


@pytest.mark.parametrize(
    "formula", ["NOPE()", "EXEC(", "EXEC(1))", "EXEC(99999)", "EXEC(1 2)", "=", "EXEC(@)"]
)
def test_bad_formulas(formula: str) -> None:
    with pytest.raises(SampleError):
        compile_formula(formula)
    with pytest.raises(SampleError):
        build_xls([], xlm_formulas=[])
