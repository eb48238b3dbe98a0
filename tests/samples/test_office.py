from __future__ import annotations

import io
import struct
import zipfile

import olefile
import pytest
from lxml import etree
from oletools import oleid
from oletools.mraptor import MacroRaptor
from oletools.olevba import VBA_Parser

from sekimori.samples import SampleError
from sekimori.samples.office import (
    build_doc,
    build_doc_with_macros,
    build_docm,
    build_docx,
    build_xlm_slk,
    build_xlsm,
    build_xlsm_with_xlm_sheet,
    build_xlsx,
    column_name,
)
from sekimori.samples.vba import inert_dropper_source, module_text

SOURCE = inert_dropper_source("AutoOpen")


def _verdict(name: str, data: bytes) -> tuple[bool, str, set[tuple[str, str]]]:
    """(has VBA, mraptor flags, olevba keywords) as oletools reports them."""
    parser = VBA_Parser(name, data=data)
    if not parser.detect_vba_macros():
        return False, "", set()
    found = {(kind, keyword) for kind, keyword, _ in parser.analyze_macros()}
    raptor = MacroRaptor(parser.get_vba_code_all_modules())
    raptor.scan()
    return True, raptor.get_flags() if raptor.suspicious else "", found


@pytest.mark.parametrize(
    ("name", "build", "trigger"),
    [
        ("invoice.doc", lambda: build_doc_with_macros(SOURCE), "AutoOpen"),
        ("invoice.doc", lambda: build_doc_with_macros(), "Document_Open"),
        ("invoice.docm", lambda: build_docm(SOURCE), "AutoOpen"),
        ("invoice.docm", lambda: build_docm(), "Document_Open"),
        ("invoice.xlsm", lambda: build_xlsm(), "Workbook_Open"),
    ],
)
def test_macro_documents_are_flagged(name: str, build: object, trigger: str) -> None:
    data = build()  # type: ignore[operator]
    has_vba, flags, found = _verdict(name, data)
    assert has_vba
    assert flags == "A-X"
    assert ("AutoExec", trigger) in found
    assert ("Suspicious", "Shell") in found


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("clean.docx", build_docx("議事録\n次回は12月1日です。")),
        ("clean.xlsx", build_xlsx([["品名", "数量"], ["用紙", 3]])),
        ("clean.doc", build_doc("Minutes of the meeting", with_macros=False)),
    ],
)
def test_clean_documents_have_no_macros(name: str, data: bytes) -> None:
    assert _verdict(name, data) == (False, "", set())


def test_doc_layout() -> None:
    data = build_doc_with_macros({"ThisDocument": SOURCE}, text="請求書\nよろしくお願いします")
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    streams = {"/".join(path) for path in ole.listdir()}
    assert {"WordDocument", "1Table", "\x01CompObj", "Macros/PROJECT", "Macros/VBA/dir"} <= streams
    word = ole.openstream("WordDocument").read()
    ident, nfib = struct.unpack_from("<HH", word, 0)
    assert (ident, nfib) == (0xA5EC, 0x00C1)
    # Follow the piece table (MS-DOC 2.4.1) to the text.
    fc_clx, lcb_clx = struct.unpack_from("<II", word, 154 + 33 * 8)
    clx = ole.openstream("1Table").read()[fc_clx : fc_clx + lcb_clx]
    assert clx[0] == 0x02
    cp_end, fc = struct.unpack_from("<I", clx, 9)[0], struct.unpack_from("<I", clx, 15)[0]
    text = word[fc : fc + 2 * cp_end].decode("utf-16-le")
    assert text == "請求書\rよろしくお願いします\r"
    parser = VBA_Parser("x.doc", data=data)
    codes = {vba_name: code for _, _, vba_name, code in parser.extract_macros()}
    assert codes == {"ThisDocument.cls": module_text("ThisDocument", SOURCE)}


def test_oleid_identifies_word_with_vba() -> None:
    indicators = {ind.id: ind.value for ind in oleid.OleID(data=build_doc_with_macros()).check()}
    assert indicators["ftype"] == "MS Word 97-2003 Document or Template"
    assert indicators["encrypted"] is False
    assert str(indicators["vba"]).startswith("Yes")


def test_docm_package_parts() -> None:
    with zipfile.ZipFile(io.BytesIO(build_docm(text="a < b"))) as package:
        names = package.namelist()
        assert names[0] == "[Content_Types].xml"
        assert "word/vbaProject.bin" in names
        types = package.read("[Content_Types].xml").decode()
        assert "application/vnd.ms-word.document.macroEnabled.main+xml" in types
        rels = etree.fromstring(package.read("word/_rels/document.xml.rels"))
        assert rels[0].get("Target") == "vbaProject.bin"
        body = etree.fromstring(package.read("word/document.xml"))
        assert "".join(body.itertext()) == "a < b"
        vba = olefile.OleFileIO(package.read("word/vbaProject.bin"))
        streams = {"/".join(path) for path in vba.listdir()}
        assert {
            "VBA/dir",
            "VBA/_VBA_PROJECT",
            "VBA/ThisDocument",
            "PROJECT",
            "PROJECTwm",
        } == streams


def test_xlsx_cells() -> None:
    data = build_xlsx([["名前", 1, 2.5], [None, "x & y"]])
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        types = package.read("[Content_Types].xml").decode()
        assert "spreadsheetml.sheet.main+xml" in types
        sheet = etree.fromstring(package.read("xl/worksheets/sheet1.xml"))
    ns = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    refs = [cell.get("r") for cell in sheet.iterfind(".//s:c", ns)]
    assert refs == ["A1", "B1", "C1", "B2"]
    assert "".join(sheet.itertext()) == "名前12.5x & y"


def test_column_names() -> None:
    assert [column_name(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_xlm_slk_is_seen_by_olevba() -> None:
    data = build_xlm_slk()
    parser = VBA_Parser("invoice.slk", data=data)
    assert parser.detect_xlm_macros()
    text = "\n".join(parser.xlm_macros)
    assert "Named cell: Auto_open" in text
    assert 'EXEC("cmd.exe /c echo detector-test")' in text
    assert data.decode("ascii").startswith("ID;P\r\nO;E\r\n")


def test_slk_escapes_semicolons_and_refuses_empty() -> None:
    assert b'EMID("a;;b",1,1)' in build_xlm_slk(['=MID("a;b",1,1)'])
    with pytest.raises(SampleError):
        build_xlm_slk([])


def test_xlsm_with_xlm_sheet() -> None:
    data = build_xlsm_with_xlm_sheet()
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sheet = package.read("xl/macrosheets/sheet1.xml")
        workbook = etree.fromstring(package.read("xl/workbook.xml"))
        types = package.read("[Content_Types].xml").decode()
    assert sheet.endswith(b"</xm:macrosheet>")
    formulas = [f.text for f in etree.fromstring(sheet).iter("{*}f")]
    assert formulas[0] == 'EXEC("cmd.exe /c echo detector-test")'
    assert formulas[-1] == "HALT()"
    assert "application/vnd.ms-excel.macrosheet+xml" in types
    ns = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    defined = workbook.find(".//s:definedName", ns)
    assert defined is not None
    assert (defined.get("name"), defined.text) == ("_xlnm.Auto_Open", "Macro1!$A$1")
    assert not VBA_Parser("x.xlsm", data=data).detect_vba_macros()


def test_remote_template_injection() -> None:
    url = "http://templates.invalid/invoice.dotm"
    data = build_docx("Invoice", remote_template=url)
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        rels = etree.fromstring(package.read("word/_rels/settings.xml.rels"))
        settings = etree.fromstring(package.read("word/settings.xml"))
        doc_rels = etree.fromstring(package.read("word/_rels/document.xml.rels"))
    (relation,) = rels
    assert relation.get("Target") == url
    assert relation.get("TargetMode") == "External"
    assert relation.get("Type").endswith("/attachedTemplate")
    ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    assert settings.find(f"{ns}attachedTemplate") is not None
    assert doc_rels[0].get("Target") == "settings.xml"
    assert _verdict("lure.docx", data) == (False, "", set())
